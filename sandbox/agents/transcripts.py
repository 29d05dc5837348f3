"""Transcripts: every model call of an episode, kept in ``transcripts/episode-<n>.json``.

The file is rewritten atomically after every call (so a crash loses at most the call in flight)
and once more when the episode ends, with ``"status": "complete"``. It never holds the API key
or any HTTP header: every text is scrubbed by :mod:`sandbox.secrets` (every secret of the
environment, every URL's userinfo, and the writer's own ``secrets``).

Format (``"format": "welfare-sandbox-transcript/1"``)::

    {
      "format": ..., "status": "running" | "complete", "end_reason": ...,
      "episode": 0, "seed": 0, "env_id": ..., "agent": "claude", "model": ..., "api": ...,
      "shared": {"<id>": <value>, ...},      # tool lists and system prompts, stored once
      "messages": [...],                      # the conversation, in the API's own format
      "calls": [{
          "step": 0, "attempt": 1, "cached": false, "latency_s": 0.21, "t": 1.5,
          "request": {"model": ..., "tools": {"$shared": "<id>"}, ...,
                      "messages": {"count": 3, "cache_markers": [[2, 0]]}},
          "response": {...} | null, "error": {...} | null, "request_id": ...
      }, ...]
    }

A request's messages are the first ``count`` messages of the conversation, with
``cache_control: {"type": "ephemeral"}`` on the content blocks listed in ``cache_markers``
(``[message index, block index]``). :func:`requests_of` rebuilds every request exactly as sent.

Each message and call is serialised once, when it is added; a rewrite only joins the pieces, so
keeping transcripts costs little even for long episodes. The file itself is written by one
background thread (the newest version of each file wins), so the event loop that runs the
episodes never waits on the disk; the final version is awaited at episode end.
"""

from __future__ import annotations

import atexit
import copy
import hashlib
import json
import logging
import os
import threading
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any

from sandbox import secrets as secret_text

log = logging.getLogger(__name__)

FORMAT = "welfare-sandbox-transcript/1"
SHARED_FIELDS = ("system", "tools")


def transcript_path(run_dir: str | Path, episode: int) -> Path:
    """Where episode ``episode``'s transcript lives in ``run_dir``."""
    return Path(run_dir) / "transcripts" / f"episode-{episode}.json"


def _dumps(value: Any) -> str:
    return json.dumps(value, ensure_ascii=False, separators=(",", ":"), default=str)


def write_atomic(path: Path, text: str, *, sync: bool = False) -> None:
    """Replace ``path`` by ``text`` so that a reader sees the old file or the new, never half.

    One writer per file at a time (an episode's transcript has one), so the temporary file
    can have a fixed name beside it.
    """
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.tmp")
    try:
        with open(tmp, "w", encoding="utf-8") as fh:
            fh.write(text)
            if sync:
                fh.flush()
                os.fsync(fh.fileno())
        os.replace(tmp, path)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise


class BackgroundWriter:
    """A daemon thread that writes files atomically; for each file the newest text wins.

    Writing a transcript after every call must not hold up the event loop that runs 64
    episodes: rename and open are slow system calls. Versions of one file queued while the
    thread is busy collapse into the newest, which is all a reader wants.
    """

    def __init__(self) -> None:
        self._cond = threading.Condition()
        self._pending: dict[Path, tuple[str, bool]] = {}
        self._busy: Path | None = None
        self._errors: dict[Path, BaseException] = {}
        self._thread: threading.Thread | None = None

    def submit(self, path: Path, text: str, *, sync: bool = False) -> None:
        """Queue ``text`` as the next content of ``path``."""
        with self._cond:
            previous = self._pending.get(path)
            self._pending[path] = (text, sync or (previous is not None and previous[1]))
            if self._thread is None or not self._thread.is_alive():
                self._thread = threading.Thread(
                    target=self._run, name="transcript-writer", daemon=True
                )
                self._thread.start()
            self._cond.notify_all()

    def _waiting_for(self, path: Path | None) -> bool:
        if path is None:
            return bool(self._pending) or self._busy is not None
        return path in self._pending or self._busy == path

    def wait(self, path: Path | None = None) -> None:
        """Block until ``path`` (or every queued file) is written; re-raise its write error."""
        with self._cond:
            while self._waiting_for(path):
                self._cond.wait(timeout=1.0)
            error = self._errors.pop(path, None) if path is not None else None
        if error is not None:
            raise error

    def _run(self) -> None:
        while True:
            with self._cond:
                while not self._pending:
                    self._cond.wait()
                path = next(iter(self._pending))
                text, sync = self._pending.pop(path)
                self._busy = path
            try:
                write_atomic(path, text, sync=sync)
            except BaseException as exc:  # kept for the episode's final wait to raise
                log.error("cannot write transcript %s: %s", path, exc)
                with self._cond:
                    self._errors[path] = exc
            finally:
                with self._cond:
                    self._busy = None
                    self._cond.notify_all()


_WRITER = BackgroundWriter()
atexit.register(_WRITER.wait)  # a normal exit writes what is queued


def wait_for_writes() -> None:
    """Block until every queued transcript version is on disk (for readers and tests)."""
    _WRITER.wait()


class TranscriptWriter:
    """Keeps one episode's transcript on disk.

    Args:
        path: The file to write; ``None`` keeps nothing (an agent used outside a run).
        header: Facts about the episode (episode, seed, env_id, agent, model, api).
        secrets: Strings that must never reach any file (the API key, whatever variable it
            came from); registered with :func:`sandbox.secrets.register`, so that the run's
            other files are scrubbed of them too.
        background: Write on the shared writer thread (default) rather than in the caller.
    """

    def __init__(
        self,
        path: Path | None,
        header: Mapping[str, Any],
        secrets: Iterable[str] = (),
        *,
        background: bool = True,
    ):
        self.path = path
        self.background = background
        self.header: dict[str, Any] = {"format": FORMAT, "status": "running", **header}
        secret_text.register(*secrets)
        self._messages: list[str] = []
        self._calls: list[str] = []
        self._shared: dict[str, str] = {}
        self.closed = False

    def _clean(self, text: str) -> str:
        return secret_text.scrub(text)

    def add_message(self, message: Mapping[str, Any]) -> int:
        """Append one conversation message (as the API receives it, without cache markers).

        Returns:
            The length of its JSON text (callers use it to size requests cheaply).
        """
        text = self._clean(_dumps(message))
        self._messages.append(text)
        return len(text)

    def replace_last_message(self, message: Mapping[str, Any]) -> None:
        """Replace the last message: a user turn that an observation or a corrective prompt
        joined after an empty answer (the API would merge two user turns anyway). A call
        made before that is rebuilt by :func:`requests_of` with the longer turn; its own
        ``n_messages`` and its empty response show what happened."""
        if self._messages:
            self._messages[-1] = self._clean(_dumps(message))
        else:
            self._messages.append(self._clean(_dumps(message)))

    def add_call(
        self,
        request: Mapping[str, Any],
        *,
        n_messages: int,
        cache_markers: list[list[int]],
        **fields: Any,
    ) -> None:
        """Record one call: its request (without the messages), response or error, and facts.

        Args:
            request: The request body; its ``messages`` are replaced by a reference to the
                first ``n_messages`` of the conversation.
            n_messages: How many conversation messages the request carried.
            cache_markers: ``[message, block]`` positions that carried ``cache_control``.
            **fields: ``step``, ``attempt``, ``cached``, ``response``, ``error``, ... .
        """
        body: dict[str, Any] = {}
        for key, value in request.items():
            if key == "messages":
                continue
            if key in SHARED_FIELDS and value:
                text = self._clean(_dumps(value))
                ref = hashlib.sha256(text.encode("utf-8")).hexdigest()[:12]
                self._shared.setdefault(ref, text)
                body[key] = {"$shared": ref}
            else:
                body[key] = value
        body["messages"] = {"count": n_messages, "cache_markers": cache_markers}
        self._calls.append(self._clean(_dumps({**fields, "request": body})))
        self.flush()

    def close(self, end_reason: str) -> None:
        """Write the final file, marked complete (idempotent)."""
        if self.closed:
            return
        self.header["status"] = "complete"
        self.header["end_reason"] = end_reason
        self.flush(sync=True)
        self.closed = True

    def render(self) -> str:
        """The whole transcript as JSON text."""
        head = self._clean(_dumps(self.header))[:-1]
        shared = ",".join(f"{json.dumps(k)}:{v}" for k, v in self._shared.items())
        return (
            f'{head},"shared":{{{shared}}},"messages":[{",".join(self._messages)}],'
            f'"calls":[{",".join(self._calls)}]}}\n'
        )

    def flush(self, *, sync: bool = False) -> None:
        """Rewrite the file atomically (temporary file, then rename).

        With ``background`` the write happens on the writer thread, but the final version
        (``sync``) is waited for until it is on disk.
        """
        if self.path is None:
            return
        if not self.background:
            write_atomic(self.path, self.render(), sync=sync)
            return
        _WRITER.submit(self.path, self.render(), sync=sync)
        if sync:
            _WRITER.wait(self.path)


def load_transcript(path: str | Path) -> dict[str, Any]:
    """Read a transcript file."""
    with Path(path).open(encoding="utf-8") as fh:
        data = json.load(fh)
    if not isinstance(data, dict) or data.get("format") != FORMAT:
        raise ValueError(f"{path} is not a welfare-sandbox transcript (format {FORMAT})")
    return data


def requests_of(transcript: Mapping[str, Any]) -> list[dict[str, Any]]:
    """Every call's request body, rebuilt exactly as it was sent (cache markers included)."""
    shared = transcript.get("shared", {})
    messages = transcript.get("messages", [])
    out: list[dict[str, Any]] = []
    for call in transcript.get("calls", []):
        request: dict[str, Any] = {}
        for key, value in call["request"].items():
            if isinstance(value, dict) and set(value) == {"$shared"}:
                value = copy.deepcopy(shared[value["$shared"]])
            request[key] = value
        ref = request.pop("messages")
        rebuilt = copy.deepcopy(messages[: ref["count"]])
        for mi, bi in ref.get("cache_markers", []):
            rebuilt[mi]["content"][bi]["cache_control"] = {"type": "ephemeral"}
        request["messages"] = rebuilt
        # Keep the order of the original body: messages where the API expects them.
        out.append(request)
    return out
