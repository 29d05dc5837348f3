"""Run-directory I/O: append-only JSONL, atomic JSON files, and loading runs back.

A run directory (the contract) holds ``run.json`` (the manifest), ``episodes.jsonl`` (records,
one a line, appended and flushed as they happen), ``metrics.json`` and, for model agents,
``transcripts/``. JSON files are replaced atomically (temporary file, fsync, rename), so each is
either the old complete version or the new one. ``episodes.jsonl`` only grows; a run killed
mid-write leaves at most one truncated last line, which every reader here skips.
"""

from __future__ import annotations

import json
import os
import tempfile
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Any

import orjson

from sandbox import secrets
from sandbox.errors import RunDirError

RUN_JSON = "run.json"
EPISODES = "episodes.jsonl"
METRICS = "metrics.json"
TRANSCRIPTS = "transcripts"


_OPTIONS = orjson.OPT_SERIALIZE_NUMPY | orjson.OPT_NON_STR_KEYS


def _file_mode() -> int:
    """0666 less the process's umask: the mode ``open()`` would give a new file."""
    umask = os.umask(0o022)  # read it (there is no getter) at import, before any thread runs
    os.umask(umask)
    return 0o666 & ~umask


_FILE_MODE = _file_mode()


def dumps_record(record: dict[str, Any]) -> bytes:
    """One compact JSON line (UTF-8, no newline) for a record; numpy values become JSON.

    Secrets are scrubbed (:mod:`sandbox.secrets`): a model's note may echo one.
    """
    return secrets.scrub_bytes(orjson.dumps(record, option=_OPTIONS))


def _finite(value: Any) -> Any:
    """JSON has no infinities or NaN: write ``inf`` as the string ``"inf"``, NaN as null."""
    if isinstance(value, float):
        if value != value:
            return None
        if value in (float("inf"), float("-inf")):
            return "inf" if value > 0 else "-inf"
        return value
    if isinstance(value, dict):
        return {k: _finite(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_finite(v) for v in value]
    return value


def write_json_atomic(path: Path, data: Any) -> None:
    """Write ``data`` as indented JSON to ``path`` so that readers never see half a file."""
    text = json.dumps(_finite(data), indent=2, ensure_ascii=False, allow_nan=False, default=str)
    write_text_atomic(path, text + "\n")


def write_text_atomic(path: Path, text: str) -> None:
    """Replace ``path`` by ``text``: temporary file in the same folder, fsync, rename."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        # mkstemp makes the file private (0600); results are shared like any file the user makes.
        os.fchmod(fd, _FILE_MODE)
        with os.fdopen(fd, "w", encoding="utf-8") as fh:
            fh.write(secrets.scrub(text))  # no secret reaches a file (sandbox.secrets)
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def as_stored(data: Any) -> Any:
    """``data`` as :func:`write_json_atomic` then :func:`read_json` give it back."""
    return json.loads(json.dumps(_finite(data), ensure_ascii=False, allow_nan=False, default=str))


def remove_stale_temp_files(run_dir: Path) -> int:
    """Delete temporary files a killed writer left in ``run_dir`` (``.<name>.*.tmp``).

    Only a resumed run calls this, before it writes anything: no writer of its own is active.
    Returns how many were removed.
    """
    removed = 0
    for tmp in run_dir.glob(".*.tmp"):
        try:
            tmp.unlink()
            removed += 1
        except OSError:
            pass
    return removed


def read_json(path: Path) -> dict[str, Any]:
    """Read a JSON object, with an error that names the file when it is missing or broken."""
    try:
        with path.open(encoding="utf-8") as fh:
            data = json.load(fh)
    except FileNotFoundError:
        raise RunDirError(f"{path} does not exist") from None
    except (json.JSONDecodeError, UnicodeDecodeError, RecursionError) as exc:
        detail = "nested too deeply" if isinstance(exc, RecursionError) else str(exc)
        raise RunDirError(f"{path} is not valid JSON ({detail}); the file is damaged") from None
    except OSError as exc:
        raise RunDirError(f"{path} cannot be read: {exc.strerror or exc}") from None
    if not isinstance(data, dict):
        raise RunDirError(f"{path} should hold a JSON object, found {type(data).__name__}")
    return data


class RecordWriter:
    """Appends records to ``episodes.jsonl``, one line each.

    Step lines reach the OS within ``flush_every_s`` (so ``wsb watch`` sees them live) and an
    episode's end line at once (:meth:`end_episode`), so a killed process (even ``kill -9``)
    loses no finished episode, only steps of unfinished ones, which a resume plays again.
    ``fsync`` (against a machine crash; it costs milliseconds) runs at most every
    ``sync_every_s`` and when the writer closes. Lines are written whole: a torn line can only
    be the last one.
    """

    def __init__(self, path: Path, flush_every_s: float = 0.05, sync_every_s: float = 1.0) -> None:
        self.path = path
        path.parent.mkdir(parents=True, exist_ok=True)
        self._fh: IO[bytes] = path.open("ab")
        self._pending: list[bytes] = []
        self._flush_every = flush_every_s
        self._sync_every = sync_every_s
        self._last_flush = self._last_sync = time.monotonic()

    def write_line(self, line: bytes) -> None:
        """Append one JSON line (without newline); hand it to the OS if a flush is due."""
        self._pending.append(line)
        now = time.monotonic()
        if now - self._last_flush >= self._flush_every:
            self._flush(now)

    def _flush(self, now: float) -> None:
        # One write of whole lines: a kill can only tear the last line of the file.
        self._pending.append(b"")
        self._fh.write(b"\n".join(self._pending))
        self._fh.flush()
        self._pending.clear()
        self._last_flush = now

    def end_episode(self, line: bytes) -> None:
        """Append an episode's last line and flush at once (fsync if one is due)."""
        self._pending.append(line)
        now = time.monotonic()
        self._flush(now)
        if now - self._last_sync >= self._sync_every:
            os.fsync(self._fh.fileno())
            self._last_sync = now

    def close(self) -> None:
        if not self._fh.closed:
            if self._pending:
                self._flush(time.monotonic())
            self._fh.flush()
            os.fsync(self._fh.fileno())
            self._fh.close()


def iter_records(path: Path) -> Iterator[dict[str, Any]]:
    """Yield the records of an ``episodes.jsonl``, skipping a truncated or torn last line.

    A line that does not parse is skipped only if it is the last one (a run killed mid-write);
    a bad line in the middle means the file was damaged, and is an error naming the line.

    Raises:
        RunDirError: The file is missing or damaged before its last line.
    """
    try:
        fh = path.open("rb")
    except FileNotFoundError:
        raise RunDirError(f"{path} does not exist; is this a run directory?") from None
    except OSError as exc:
        raise RunDirError(f"{path} cannot be read: {exc.strerror or exc}") from None
    with fh:
        pending: tuple[int, bytes] | None = None
        try:
            for number, raw in enumerate(fh, start=1):
                if pending is not None:
                    _raise_bad_line(path, *pending)
                record = _parse_line(raw)
                if record is None:
                    if raw.strip():
                        pending = (number, raw)
                    continue
                yield record
        except OSError as exc:
            raise RunDirError(f"{path} cannot be read: {exc.strerror or exc}") from None
        # A torn last line (no newline, or partial JSON) is what a kill mid-write leaves.


def _parse_line(raw: bytes) -> dict[str, Any] | None:
    if not raw.endswith(b"\n"):
        return None
    try:
        record = orjson.loads(raw)
    except orjson.JSONDecodeError:
        return None
    if not isinstance(record, dict) or "type" not in record:
        return None
    return record


def _raise_bad_line(path: Path, number: int, raw: bytes) -> None:
    preview = raw[:80].decode("utf-8", "replace").rstrip()
    raise RunDirError(
        f"{path}, line {number}: not a record ({preview!r}); the log was edited or damaged. "
        "Records are JSON objects with a 'type' key, one a line"
    )


def read_records(path: Path) -> list[dict[str, Any]]:
    """All readable records of an ``episodes.jsonl`` (see :func:`iter_records`)."""
    return list(iter_records(path))


def episode_of(record: dict[str, Any]) -> int | None:
    """A record's episode index, or ``None`` when it has none (a damaged record)."""
    value = record.get("episode")
    return value if isinstance(value, int) and not isinstance(value, bool) else None


def finished_episodes(records: list[dict[str, Any]], *, rerun: frozenset[str]) -> set[int]:
    """Episodes with an ``episode_end`` whose reason is not in ``rerun``."""
    return {
        index
        for r in records
        if r.get("type") == "episode_end"
        and (index := episode_of(r)) is not None
        and not (isinstance(r.get("reason"), str) and r["reason"] in rerun)
    }


def keep_only(path: Path, episodes: set[int]) -> int:
    """Rewrite ``episodes.jsonl`` atomically with only the records of ``episodes``.

    Used by resume: records of unfinished episodes are dropped, so their re-run starts clean
    and nothing is counted twice. Returns the number of records dropped.
    """
    if not path.exists():
        return 0
    kept: list[bytes] = []
    dropped = 0
    for record in iter_records(path):
        if episode_of(record) in episodes:
            kept.append(dumps_record(record))
        else:
            dropped += 1
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    with os.fdopen(fd, "wb") as fh:
        fh.write(b"".join(line + b"\n" for line in kept))
        fh.flush()
        os.fsync(fh.fileno())
    os.replace(tmp, path)
    return dropped


@dataclass(slots=True)
class LoadedRun:
    """A run directory read back.

    Attributes:
        path: The directory.
        manifest: ``run.json``.
        records: The readable records of ``episodes.jsonl``.
        metrics: ``metrics.json``, or ``None`` while the run is still going.
    """

    path: Path
    manifest: dict[str, Any]
    records: list[dict[str, Any]]
    metrics: dict[str, Any] | None


def is_run_dir(path: Path) -> bool:
    """Whether ``path`` holds a run's manifest."""
    return (path / RUN_JSON).is_file()


def load_run(path: Path) -> LoadedRun:
    """Read a run directory.

    Raises:
        RunDirError: ``path`` is not a run directory or its files are damaged.
    """
    path = Path(path)
    if not path.is_dir():
        raise RunDirError(f"{path} is not a directory; pass a run directory under runs/")
    if not is_run_dir(path):
        hint = ""
        if any(path.glob(f"*/{RUN_JSON}")):
            hint = " (it holds job directories: it looks like a sweep directory)"
        raise RunDirError(f"{path} has no {RUN_JSON}, so it is not a run directory{hint}")
    manifest = read_json(path / RUN_JSON)
    episodes = path / EPISODES
    records = read_records(episodes) if episodes.exists() else []
    metrics = read_json(path / METRICS) if (path / METRICS).exists() else None
    return LoadedRun(path, manifest, records, metrics)
