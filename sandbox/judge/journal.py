"""The judge's files in a run directory, and its journal of finished judgements.

``wsb judge`` never changes a run's own files. It writes:

- ``judge.json`` beside ``metrics.json``: the whole result, written once at the end,
  atomically (:func:`sandbox.store.write_json_atomic`), so it is either absent (or the previous
  complete version) or complete;
- ``judge/journal.jsonl``: one line per judged episode, appended and fsynced as each ends, so
  an interrupted judge (Ctrl-C, a kill) keeps what it paid for and a rerun resumes;
- ``judge/transcripts/episode-<n>.json``: the judge's own calls (the format of
  :mod:`sandbox.agents.transcripts`);
- ``judge/judge.lock``: held while a judge works on the run, so there is one writer.

A journal line is reused by a rerun only when it judged the same text (``text_sha256``) with
the same model and the same rubric (``rubric_sha256``), and did not fail (a failed call is
tried again); a torn last line (a kill mid-write) is skipped.
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

from sandbox import secrets, store
from sandbox.runlock import RunLock, lock_run_dir, unlock_run_dir

JUDGE_JSON = "judge.json"
JUDGE_DIR = "judge"
JOURNAL = "journal.jsonl"
LOCK = "judge.lock"
#: Statuses a rerun keeps (``failed`` is tried again).
FINAL = frozenset({"scored", "no_text", "invalid", "refused", "truncated"})


def judge_dir(run_dir: Path) -> Path:
    """The judge's folder in ``run_dir``."""
    return Path(run_dir) / JUDGE_DIR


def lock_judge(run_dir: Path) -> RunLock:
    """Take the judge's lock on ``run_dir`` (without waiting).

    Raises:
        RunDirError: Another process is judging this run (the message names it).
    """
    lock = lock_run_dir(judge_dir(run_dir), what="run to judge", name=LOCK)
    lock.claim()
    return lock


def unlock_judge(run_dir: Path) -> None:
    """Release this process's judge lock on ``run_dir``, if it holds one."""
    unlock_run_dir(judge_dir(run_dir), name=LOCK)


def read_journal(run_dir: Path) -> dict[tuple[int, str, str, str], dict[str, Any]]:
    """The journal's final entries by (episode, model, rubric hash, text hash); the last wins."""
    path = judge_dir(run_dir) / JOURNAL
    out: dict[tuple[int, str, str, str], dict[str, Any]] = {}
    try:
        fh = path.open("rb")
    except FileNotFoundError:
        return out
    with fh:
        for raw in fh:
            if not raw.endswith(b"\n"):
                break  # torn by a kill mid-write
            try:
                entry = json.loads(raw)
            except ValueError:
                continue
            if not isinstance(entry, dict) or entry.get("status") not in FINAL:
                continue
            key = (
                int(entry.get("episode", -1)),
                str(entry.get("model")),
                str(entry.get("rubric_sha256")),
                str(entry.get("text_sha256")),
            )
            out[key] = entry
    return out


class Journal:
    """Appends judged episodes to ``judge/journal.jsonl`` (one fsynced line each)."""

    def __init__(self, run_dir: Path) -> None:
        self.path = judge_dir(run_dir) / JOURNAL
        self._fd: int | None = None

    def append(self, entry: dict[str, Any]) -> None:
        """Write one entry and hand it to the disk before returning.

        Raises:
            RunWriteError: The journal cannot be written (a full disk).
        """
        line = secrets.scrub_bytes(
            (json.dumps(entry, ensure_ascii=False, default=str) + "\n").encode("utf-8")
        )
        try:
            if self._fd is None:
                self.path.parent.mkdir(parents=True, exist_ok=True)
                flags = os.O_WRONLY | os.O_CREAT | os.O_APPEND | os.O_CLOEXEC
                self._fd = os.open(self.path, flags, 0o666)
            view = memoryview(line)
            while view:
                view = view[os.write(self._fd, view) :]
            os.fsync(self._fd)
        except OSError as exc:
            raise store.write_error(self.path, exc, run=False) from None

    def close(self) -> None:
        """Close the file (idempotent)."""
        if self._fd is not None:
            os.close(self._fd)
            self._fd = None
