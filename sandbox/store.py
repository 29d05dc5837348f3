"""Run-directory I/O: append-only JSONL, atomic JSON files, and loading runs back.

A run directory (the contract) holds ``run.json`` (the manifest), ``episodes.jsonl`` (records,
one a line, appended and flushed as they happen), ``metrics.json`` and, for model agents,
``transcripts/``. JSON files are replaced atomically (temporary file, fsync, rename), so each is
either the old complete version or the new one. ``episodes.jsonl`` only grows; a run killed
mid-write leaves at most one truncated last line, which every reader here skips. ``run.lock``
is held (``flock``) by the one process writing the run; it names that process
(:mod:`sandbox.runlock`, re-exported here).

Readers check that the log agrees with itself (:func:`log_problems`): each episode's steps
numbered 0, 1, 2... once each, at most one ``episode_end``, after its last step, with the step
count and seed it should have. A log that contradicts itself was edited or damaged, and a
report on it would be wrong without a word, so :func:`load_run` refuses it
(:func:`tolerate_inconsistent_logs` reads it anyway, with a warning).
"""

from __future__ import annotations

import contextlib
import contextvars
import errno
import json
import logging
import os
import tempfile
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Any

import orjson

from sandbox import secrets, seeds
from sandbox.errors import RunDirError

# The run's lock was part of this module: its names stay importable from here.
from sandbox.runlock import FILE_MODE
from sandbox.runlock import LOCK as LOCK
from sandbox.runlock import RunLock as RunLock
from sandbox.runlock import lock_run_dir as lock_run_dir
from sandbox.runlock import unlock_run_dir as unlock_run_dir

log = logging.getLogger(__name__)

RUN_JSON = "run.json"
EPISODES = "episodes.jsonl"
METRICS = "metrics.json"
TRANSCRIPTS = "transcripts"


class RunWriteError(RunDirError):
    """The run's own files cannot be written (a full disk, a file-size limit, a lost mount).

    Not an agent failure: the run stops at the first one, keeping what was written.
    """


_OPTIONS = orjson.OPT_SERIALIZE_NUMPY | orjson.OPT_NON_STR_KEYS
# Without OPT_NON_STR_KEYS orjson encodes a record about 30% faster (the same bytes when every
# key is a string, as in nearly every record); a record with another key is encoded again.
_FAST_OPTIONS = orjson.OPT_SERIALIZE_NUMPY


def dumps_record(record: Any) -> bytes:
    """One compact JSON line (UTF-8, no newline) for a record; numpy values become JSON.

    ``record`` is a dict or a record dataclass (:class:`sandbox.records.StepRecord`,
    :class:`~sandbox.records.EpisodeEnd`: orjson writes their fields in order).

    Secrets are scrubbed (:mod:`sandbox.secrets`): a model's note may echo one.
    """
    try:
        line = orjson.dumps(record, option=_FAST_OPTIONS)
    except orjson.JSONEncodeError:
        line = orjson.dumps(record, option=_OPTIONS)
    return secrets.scrub_bytes(line)


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
    write_atomic(path, text + "\n")


def write_text_atomic(path: Path, text: str) -> None:
    """Replace ``path`` by ``text`` (UTF-8), scrubbed of secrets (see :func:`write_atomic`)."""
    write_atomic(path, text)


def write_atomic(path: Path, data: str | bytes, *, scrub: bool = True, run: bool = False) -> None:
    """The one atomic writer of the project's files: every whole-file write goes through it.

    A temporary file in the same folder, fsynced, then renamed over ``path``, so that a reader
    (or a kill, or a full disk) leaves the old complete version or the new one, never half a
    file. The file gets the mode ``open()`` would give it (0666 less the umask), not
    ``mkstemp``'s private 0600: results are shared like any file the user makes.

    Args:
        path: The file to replace (its folder is made if missing).
        data: Its new content; text is written as UTF-8.
        scrub: Remove every secret first (:mod:`sandbox.secrets`). Off only to put back a
            file's exact earlier bytes (a refused command restoring Hydra's files).
        run: ``path`` is one of a run's files: the error says to resume once it is fixed.

    Raises:
        RunWriteError: The file cannot be written (one line, with the fix); ``path`` is as
            it was.
    """
    raw = data.encode("utf-8") if isinstance(data, str) else data
    if scrub:
        raw = secrets.scrub_bytes(raw)  # no secret reaches a file
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    except OSError as exc:
        raise write_error(path, exc, run=run) from None
    try:
        os.fchmod(fd, FILE_MODE)
        with os.fdopen(fd, "wb") as fh:
            fh.write(raw)
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, path)
    except OSError as exc:
        Path(tmp).unlink(missing_ok=True)
        raise write_error(path, exc, run=run) from None
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
        data = b"\n".join(self._pending)
        self._pending.clear()
        try:
            self._fh.write(data)
            self._fh.flush()
        except OSError as exc:
            raise write_error(self.path, exc) from None
        self._last_flush = now

    def end_episode(self, line: bytes) -> None:
        """Append an episode's last line and flush at once (fsync if one is due)."""
        self._pending.append(line)
        now = time.monotonic()
        self._flush(now)
        if now - self._last_sync >= self._sync_every:
            try:
                os.fsync(self._fh.fileno())
            except OSError as exc:
                raise write_error(self.path, exc) from None
            self._last_sync = now

    def close(self) -> None:
        """Flush, fsync and close; after a write error, close without writing more."""
        if self._fh.closed:
            return
        try:
            if self._pending:
                self._flush(time.monotonic())
            self._fh.flush()
            os.fsync(self._fh.fileno())
        except (OSError, RunWriteError) as exc:
            self._pending.clear()
            # The buffered writer still holds the bytes it could not write: drop them, so that
            # closing does not try (and fail) again.
            with contextlib.suppress(OSError):
                os.close(self._fh.fileno())
            with contextlib.suppress(OSError, ValueError):
                self._fh.close()
            if isinstance(exc, RunWriteError):
                raise
            raise write_error(self.path, exc) from None
        self._fh.close()


def write_error(path: Path, exc: OSError, *, run: bool = True) -> RunWriteError:
    """The one-line error for a failed write of ``path`` (``run``: one of a run's files)."""
    what = exc.strerror or str(exc)
    full = exc.errno in (errno.ENOSPC, errno.EDQUOT, errno.EFBIG)
    if run:
        hint = "free space (or raise the file-size limit), then " if full else ""
        return RunWriteError(
            f"cannot write {path}: {what}; the run stopped there and keeps what was written. "
            f"Fix: {hint}resume with resume=true"
        )
    hint = "free space" if full else "choose a writable path"
    return RunWriteError(f"cannot write {path}: {what}. Fix: {hint}")


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
    for _, record in iter_numbered(path, fh):
        yield record


def iter_numbered(path: Path, fh: IO[bytes] | None = None) -> Iterator[tuple[int, dict[str, Any]]]:
    """:func:`iter_records` with each record's line number."""
    if fh is None:
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
                yield number, record
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


class LogContradiction(RunDirError):
    """``episodes.jsonl`` parses, but its records contradict each other (see :func:`log_problems`).

    Attributes:
        problems: One sentence per contradiction found, each naming its line.
    """

    def __init__(
        self, path: Path, problems: list[str], fix: str = "restore it from a copy"
    ) -> None:
        more = f" (and {len(problems) - 1} more)" if len(problems) > 1 else ""
        super().__init__(
            f"{path} contradicts itself: {problems[0]}{more}; the log was edited or damaged. "
            f"Fix: {fix}"
        )
        self.path = path
        self.problems = problems


def log_problems(
    numbered: list[tuple[int, dict[str, Any]]],
    *,
    seed: int | None = None,
    seed_scheme: str | None = None,
) -> list[str]:
    """Contradictions between the records of one log, each a sentence naming its line.

    An episode's steps must be numbered 0, 1, 2... each once, in order; it has at most one
    ``episode_end``, written after its last step, whose ``steps`` is the number of steps logged
    and (given the run's ``seed``) whose ``seed`` is :func:`sandbox.seeds.episode_seed` of it
    and the episode's index under the run's ``seed_scheme``. Episodes without an end
    (in flight, or stopped by a kill) are not a contradiction. A run writes no other log: a
    resume drops the records of unfinished episodes before it plays them again.

    Args:
        numbered: ``(line, record)`` pairs, as :func:`iter_numbered` yields them.
        seed: The run's seed from ``run.json`` (``None``: seeds are not checked).
        seed_scheme: ``run.json``'s scheme (:func:`sandbox.seeds.scheme_of`); ``None``
            accepts a seed of any scheme this version knows (for callers without a manifest);
            an unknown (newer) scheme leaves seeds unchecked.
    """
    problems: list[str] = []
    next_step: dict[int, int] = {}
    ended: dict[int, int] = {}
    for line, record in numbered:
        kind = record.get("type")
        index = episode_of(record)
        if kind not in ("step", "episode_end"):
            continue  # a newer minor version's record type
        if index is None:
            problems.append(f"line {line}: a {kind} record without an episode index")
            continue
        if kind == "step":
            step = record.get("step")
            expected = next_step.get(index, 0)
            if index in ended:
                problems.append(
                    f"line {line}: episode {index} has a step after its episode_end "
                    f"(line {ended[index]})"
                )
            elif not isinstance(step, int) or isinstance(step, bool) or step != expected:
                what = "again" if isinstance(step, int) and step < expected else "out of order"
                problems.append(
                    f"line {line}: episode {index} step {step!r} {what} (expected step {expected})"
                )
            next_step[index] = max(expected, step + 1) if isinstance(step, int) else expected
            continue
        if index in ended:
            problems.append(
                f"line {line}: episode {index} ends twice (first at line {ended[index]})"
            )
            continue
        ended[index] = line
        logged = next_step.get(index, 0)
        if record.get("steps") != logged:
            problems.append(
                f"line {line}: episode {index}'s episode_end says {record.get('steps')!r} steps, "
                f"the log has {logged}"
            )
        allowed = _episode_seeds(seed, index, seed_scheme)
        if allowed and record.get("seed") not in allowed:
            problems.append(
                f"line {line}: episode {index}'s episode_end has seed {record.get('seed')!r}, "
                f"the run's seed gives {' or '.join(map(str, allowed))}"
            )
    return problems


def _episode_seeds(seed: Any, index: int, scheme: str | None) -> tuple[int, ...]:
    """The seeds episode ``index`` may have been reset with (none: not checkable)."""
    if not isinstance(seed, int) or isinstance(seed, bool) or seed < 0 or index < 0:
        return ()
    if scheme is None:
        return tuple(seeds.episode_seed(seed, index, known) for known in seeds.KNOWN)
    if scheme not in seeds.KNOWN:
        return ()
    return (seeds.episode_seed(seed, index, scheme),)


#: Whether readers accept a log that contradicts itself (``wsb report --force``).
_TOLERATE = contextvars.ContextVar("tolerate_inconsistent_logs", default=False)


@contextlib.contextmanager
def tolerate_inconsistent_logs() -> Iterator[None]:
    """Within this block, :func:`load_run` warns about a contradicting log instead of refusing."""
    token = _TOLERATE.set(True)
    try:
        yield
    finally:
        _TOLERATE.reset(token)


def run_log_problems(run_dir: Path) -> list[str]:
    """:func:`log_problems` of a run directory's log, with the seed its ``run.json`` gives
    (for readers that show a run and must say when its log contradicts itself)."""
    try:
        manifest = read_json(run_dir / RUN_JSON)
        seed, scheme = manifest.get("seed"), seeds.scheme_of(manifest)
    except (RunDirError, AttributeError):
        seed, scheme = None, None
    path = run_dir / EPISODES
    if not path.is_file():
        return []
    seed = seed if isinstance(seed, int) else None
    return log_problems(list(iter_numbered(path)), seed=seed, seed_scheme=scheme)


def read_checked_records(
    path: Path, *, seed: int | None = None, seed_scheme: str | None = None
) -> list[dict[str, Any]]:
    """The records of ``path``, refused if they contradict each other (seeds checked against
    ``seed`` and ``seed_scheme``, as :func:`log_problems` does).

    Raises:
        RunDirError: The file is missing or damaged.
        LogContradiction: The records contradict each other (unless tolerated, then a warning).
    """
    numbered = list(iter_numbered(path))
    problems = log_problems(numbered, seed=seed, seed_scheme=seed_scheme)
    if problems:
        error = LogContradiction(path, problems)
        if not _TOLERATE.get():
            raise error
        log.warning("%s (read anyway: --force)", error)
    return [record for _, record in numbered]


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
    # Each line was scrubbed as it was dumped.
    write_atomic(path, b"".join(line + b"\n" for line in kept), scrub=False, run=True)
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


def logs_tolerated() -> bool:
    """Whether readers are inside :func:`tolerate_inconsistent_logs` (for a reader that streams
    a log and checks it with :func:`log_problems` itself, as ``wsb report`` does)."""
    return _TOLERATE.get()


def is_run_dir(path: Path) -> bool:
    """Whether ``path`` holds a run's manifest."""
    return (path / RUN_JSON).is_file()


def load_run(path: Path) -> LoadedRun:
    """Read a run directory.

    Raises:
        RunDirError: ``path`` is not a run directory or its files are damaged.
        LogContradiction: Its log contradicts itself (see :func:`read_checked_records`).
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
    seed = manifest.get("seed") if isinstance(manifest.get("seed"), int) else None
    scheme = seeds.scheme_of(manifest)
    records = (
        read_checked_records(episodes, seed=seed, seed_scheme=scheme) if episodes.exists() else []
    )
    metrics = read_json(path / METRICS) if (path / METRICS).exists() else None
    return LoadedRun(path, manifest, records, metrics)
