"""Transcripts: every model call of an episode, kept in ``transcripts/episode-<n>.json``.

While the episode runs, each call is appended to a journal, ``transcripts/episode-<n>.jsonl``
(one JSON line per piece: the header, a shared value, a message, a call), handed to the OS
before the agent goes on, so a crash (even ``kill -9``) loses no call that was answered. When
the episode ends, the whole transcript is written once to ``episode-<n>.json`` (atomically,
fsynced, ``"status": "complete"``) and the journal is removed. :func:`load_transcript` reads
either: the file of an episode that has not ended is rebuilt from its journal (status
``running``). Nothing is rewritten per call, so the bytes written grow with an episode's length,
not with its square (``benchmarks/transcript_bytes.py``: about twice the bytes kept, the journal
and the final file). The files are not compressed: they are what a researcher reads with ``jq``
and ``less``, and at about 34 kB per 20-call episode they are small beside the run.

Neither file ever holds the API key or any HTTP header: every text is scrubbed by
:mod:`sandbox.secrets` (every secret of the environment, every URL's userinfo, and the writer's
own ``secrets``) before it is kept.

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

The journal's lines are ``{"header": {...}}`` (first), then in order ``{"shared": {"<id>":
<value>}}``, ``{"message": <message>}``, ``{"replace_last": <message>}`` and ``{"call":
<call>}``; a torn last line (a kill mid-write) is skipped.
"""

from __future__ import annotations

import atexit
import copy
import hashlib
import json
import logging
import os
import threading
import weakref
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any

from sandbox import secrets as secret_text
from sandbox import store

log = logging.getLogger(__name__)

FORMAT = "welfare-sandbox-transcript/1"
SHARED_FIELDS = ("system", "tools")
JOURNAL_SUFFIX = ".jsonl"


def transcript_path(run_dir: str | Path, episode: int) -> Path:
    """Where episode ``episode``'s transcript lives in ``run_dir``."""
    return Path(run_dir) / store.TRANSCRIPTS / f"episode-{episode}.json"


def journal_path(path: str | Path) -> Path:
    """The journal beside transcript ``path`` (``episode-<n>.jsonl``), kept while it runs."""
    return Path(path).with_suffix(JOURNAL_SUFFIX)


def _dumps(value: Any) -> str:
    return json.dumps(value, ensure_ascii=False, separators=(",", ":"), default=str)


#: Writers with an open journal, for :func:`wait_for_writes` (and a normal exit).
_OPEN: weakref.WeakSet[TranscriptWriter] = weakref.WeakSet()
_OPEN_LOCK = threading.Lock()


def wait_for_writes() -> None:
    """Hand every open journal's buffered lines to the OS and fsync them (tests, exit)."""
    with _OPEN_LOCK:
        writers = list(_OPEN)
    for writer in writers:
        writer.sync()


atexit.register(wait_for_writes)  # a normal exit keeps the messages not yet followed by a call


class TranscriptWriter:
    """Keeps one episode's transcript on disk: a journal appended per call, one final file.

    Args:
        path: The final file (``episode-<n>.json``); ``None`` keeps nothing (an agent used
            outside a run).
        header: Facts about the episode (episode, seed, env_id, agent, model, api).
        secrets: Strings that must never reach any file (the API key, whatever variable it
            came from); registered with :func:`sandbox.secrets.register`, so that the run's
            other files are scrubbed of them too.
        background: Accepted for callers of the earlier writer, which rewrote the file on a
            thread; appending a line costs one ``write(2)``, so every write is in the caller.
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
        self._lines: list[str] = []  # journal lines not yet handed to the OS
        self._fd: int | None = None
        self._lock = threading.Lock()
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
        self._lines.append(f'{{"message":{text}}}\n')
        return len(text)

    def replace_last_message(self, message: Mapping[str, Any]) -> None:
        """Replace the last message: a user turn that an observation or a corrective prompt
        joined after an empty answer (the API would merge two user turns anyway). A call
        made before that is rebuilt by :func:`requests_of` with the longer turn; its own
        ``n_messages`` and its empty response show what happened."""
        text = self._clean(_dumps(message))
        if self._messages:
            self._messages[-1] = text
            self._lines.append(f'{{"replace_last":{text}}}\n')
        else:
            self._messages.append(text)
            self._lines.append(f'{{"message":{text}}}\n')

    def add_call(
        self,
        request: Mapping[str, Any],
        *,
        n_messages: int,
        cache_markers: list[list[int]],
        **fields: Any,
    ) -> None:
        """Record one call: its request (without the messages), response or error, and facts.

        The call (with the messages and shared values it refers to) is appended to the journal
        before this returns.

        Args:
            request: The request body; its ``messages`` are replaced by a reference to the
                first ``n_messages`` of the conversation.
            n_messages: How many conversation messages the request carried.
            cache_markers: ``[message, block]`` positions that carried ``cache_control``.
            **fields: ``step``, ``attempt``, ``cached``, ``response``, ``error``, ... .

        Raises:
            sandbox.store.RunWriteError: The journal cannot be written (a full disk).
        """
        body: dict[str, Any] = {}
        for key, value in request.items():
            if key == "messages":
                continue
            if key in SHARED_FIELDS and value:
                text = self._clean(_dumps(value))
                ref = hashlib.sha256(text.encode("utf-8")).hexdigest()[:12]
                if ref not in self._shared:
                    self._shared[ref] = text
                    self._lines.append(f'{{"shared":{{"{ref}":{text}}}}}\n')
                body[key] = {"$shared": ref}
            else:
                body[key] = value
        body["messages"] = {"count": n_messages, "cache_markers": cache_markers}
        text = self._clean(_dumps({**fields, "request": body}))
        self._calls.append(text)
        self._lines.append(f'{{"call":{text}}}\n')
        self.flush()

    def close(self, end_reason: str) -> None:
        """Write the final file, marked complete, and remove the journal (idempotent).

        Raises:
            sandbox.store.RunWriteError: The final file cannot be written (the journal stays).
        """
        if self.closed:
            return
        self.header["status"] = "complete"
        self.header["end_reason"] = end_reason
        if self.path is not None:
            store.write_text_atomic(self.path, self.render())  # fsync, rename, scrubbed
            with self._lock:
                if self._fd is not None:
                    os.close(self._fd)
                    self._fd = None
                with _OPEN_LOCK:
                    _OPEN.discard(self)
            journal_path(self.path).unlink(missing_ok=True)
        self._lines.clear()
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
        """Append the pending lines to the journal in one write (and fsync with ``sync``).

        The journal is opened on the first flush, replacing the journal and the final file of an
        earlier attempt at this episode (a resumed run plays an unfinished episode again).

        Raises:
            sandbox.store.RunWriteError: The journal cannot be written.
        """
        if self.path is None or self.closed:
            self._lines.clear()
            return
        with self._lock:
            journal = journal_path(self.path)
            try:
                if self._fd is None:
                    journal.parent.mkdir(parents=True, exist_ok=True)
                    self.path.unlink(missing_ok=True)
                    flags = os.O_WRONLY | os.O_CREAT | os.O_TRUNC | os.O_APPEND | os.O_CLOEXEC
                    self._fd = os.open(journal, flags, 0o666)  # less the umask, as open() does
                    self._lines.insert(0, f'{{"header":{self._clean(_dumps(self.header))}}}\n')
                    with _OPEN_LOCK:
                        _OPEN.add(self)
                if self._lines:
                    data = memoryview("".join(self._lines).encode("utf-8"))
                    self._lines.clear()
                    while data:  # whole lines: a kill can tear only the last one
                        data = data[os.write(self._fd, data) :]
                if sync:
                    os.fsync(self._fd)
            except OSError as exc:
                raise store.write_error(journal, exc) from None

    def sync(self) -> None:
        """Hand the pending lines to the OS and fsync the journal (if it is open)."""
        if self._fd is not None and not self.closed:
            self.flush(sync=True)


def _from_journal(path: Path) -> dict[str, Any]:
    """A transcript rebuilt from its journal (status as the header says: ``running``)."""
    data: dict[str, Any] = {}
    shared: dict[str, Any] = {}
    messages: list[Any] = []
    calls: list[Any] = []
    with path.open("rb") as fh:
        for raw in fh:
            if not raw.endswith(b"\n"):
                break  # torn by a kill mid-write
            try:
                line = json.loads(raw)
            except ValueError:
                break
            if "header" in line:
                data = dict(line["header"])
            elif "shared" in line:
                shared.update(line["shared"])
            elif "message" in line:
                messages.append(line["message"])
            elif "replace_last" in line:
                if messages:
                    messages[-1] = line["replace_last"]
                else:
                    messages.append(line["replace_last"])
            elif "call" in line:
                calls.append(line["call"])
    return {**data, "shared": shared, "messages": messages, "calls": calls}


def load_transcript(path: str | Path) -> dict[str, Any]:
    """Read a transcript: the final file, or, for an episode not ended (running, or stopped by
    a crash), what its journal holds.

    Args:
        path: ``episode-<n>.json`` (or its journal, ``episode-<n>.jsonl``).

    Raises:
        FileNotFoundError: Neither file exists.
        ValueError: The file is not a transcript.
    """
    path = Path(path)
    if path.suffix == JOURNAL_SUFFIX:
        data = _from_journal(path)
    elif not path.exists() and journal_path(path).exists():
        try:
            data = _from_journal(journal_path(path))
        except FileNotFoundError:  # the episode ended meanwhile: its final file is there
            return load_transcript(path)
    else:
        with path.open(encoding="utf-8") as fh:
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
