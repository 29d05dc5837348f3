"""Following runs and sweeps from their files while other processes write them (``wsb watch``).

A watcher never talks to the process it watches: it polls the run directory with sleeps and
reads only what is new.

- :class:`~sandbox.linetail.LineTail` follows ``episodes.jsonl`` by byte offset. The writer
  flushes whole lines (at least every 50 ms, and at once at an episode's end), but a read can
  still land in the middle of a line: the partial line is kept and completed by the next read,
  never an error. A file that shrinks or is replaced (a resumed run rewrites it) is read again
  from the start.
- :class:`RunWatch` turns new records into what the views show: the latest step of each
  episode in flight, running proxies over finished episodes (the tally ``metrics.json`` is
  computed from, :mod:`sandbox.metrics.tally`), self-reports in order, tokens and cost,
  progress against ``run.json``'s planned episodes, and an ETA.
- :class:`SweepWatch` lists the job directories as they appear (whatever the launcher) and
  keeps one :class:`JobRow` per job: from ``metrics.json`` once the job has finished, from a
  :class:`RunWatch` while it runs.

:func:`follow_run` and :func:`follow_sweep` poll until the run (or sweep) is over, handing
each state to a view (:mod:`sandbox.display.watch_view`): rich in a terminal, plain lines
otherwise.
"""

from __future__ import annotations

import logging
import os
import time
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol

from sandbox import store
from sandbox.display.headline import Headline, design_headlines
from sandbox.errors import RunDirError
from sandbox.linetail import LineTail
from sandbox.metrics.counts import Counts
from sandbox.metrics.stats import Rate
from sandbox.metrics.tally import EpisodeTally, RunTally
from sandbox.records import as_dict, as_list  # noqa: F401  (re-exported for the views)
from sandbox.sweepdir import (
    SUMMARY_JSON,
    is_sweep_dir,
    job_dirs,
    job_name,
    job_number,
    planned_jobs,
    read_overrides,
)

log = logging.getLogger(__name__)


#: Default seconds between polls.
DEFAULT_INTERVAL = 0.5


@dataclass
class InFlight:
    """An episode that has steps but no ``episode_end`` yet.

    Attributes:
        episode: Its index.
        source: Its tally (:class:`~sandbox.metrics.tally.EpisodeTally`) in the run's.
        latest: Its latest step record.
        ratings_seen: Its self-reports already added to the run's list.
    """

    episode: int
    source: EpisodeTally
    latest: dict[str, Any] | None = None
    ratings_seen: int = 0

    tally = property(lambda self: self.source.live_counts(), doc="Its counts so far.")


class RunWatch:
    """What a run directory says now; :meth:`poll` reads what is new.

    Attributes:
        path: The run directory.
        manifest: ``run.json`` (empty until the run writes it).
        metrics: ``metrics.json`` once the run has written it.
        finished: Counts over finished episodes.
        in_flight: Episodes with steps and no end yet, by index.
        ended: Indices of finished episodes.
        end_reasons: Count of each end reason.
        errors: ``(episode, error)`` of errored episodes.
        end_records: The ``episode_end`` records, in the order they were written.
        ratings: Every self-report seen, in the order they were written.
        latest: The latest step record of the run.
        last_t: The largest ``t`` (seconds since the run started) of any record.
        last_change: Monotonic time of the last poll that found something new.
    """

    def __init__(self, path: Path) -> None:
        self.path = Path(path)
        self.tail = LineTail(self.path / store.EPISODES)
        self.manifest: dict[str, Any] = {}
        self.metrics: dict[str, Any] | None = None
        self._manifest_stamp: tuple[int, int] | None = None
        self._metrics_stamp: tuple[int, int] | None = None
        self._status_before_read: str | None = None
        self.started = time.monotonic()
        self.last_change = time.monotonic()
        self.polls = 0
        self._reset()

    def _reset(self) -> None:
        self.run = RunTally()
        self.in_flight: dict[int, InFlight] = {}
        self.ended: set[int] = set()
        self.end_reasons: Counter[str] = Counter()
        self.errors: list[tuple[int, str]] = []
        self.end_records: list[dict[str, Any]] = []
        self.ratings: list[int] = []
        self.latest: dict[str, Any] | None = None
        self.last_t = 0.0
        self.records_read = 0

    # -- reading ---------------------------------------------------------------------------
    def poll(self) -> bool:
        """Read what changed since the last poll; whether anything did."""
        self.polls += 1
        changed = self._read_manifest()
        # The status is read before the log: a run writes its final status only after its log
        # is complete, so a status other than `running` here means this read gets everything.
        self._status_before_read = self.status
        records, restarted = self.tail.read()
        if restarted:
            self._reset()
            changed = True
        for record in records:
            self._add(record)
        changed = changed or bool(records)
        changed = self._read_metrics() or changed
        if changed:
            self.last_change = time.monotonic()
        return changed

    def _read_manifest(self) -> bool:
        return self._read_json(store.RUN_JSON, "manifest")

    def _read_metrics(self) -> bool:
        return self._read_json(store.METRICS, "metrics")

    def _read_json(self, name: str, attribute: str) -> bool:
        """Read ``name`` into ``self.<attribute>`` if it changed since the last read (its stamp
        is kept in ``self._<attribute>_stamp``); whether it did."""
        read = _reread(self.path / name, getattr(self, f"_{attribute}_stamp"))
        if read is None:
            return False
        setattr(self, attribute, read[0])
        setattr(self, f"_{attribute}_stamp", read[1])
        return True

    def _add(self, record: dict[str, Any]) -> None:
        self.records_read += 1
        episode = record.get("episode")
        if not isinstance(episode, int):
            return
        t = record.get("t")
        if isinstance(t, int | float):
            self.last_t = max(self.last_t, float(t))
        if record.get("type") == "step":
            source = self.run.add(record)
            if source is None:
                return
            flight = self.in_flight.get(episode)
            if flight is None or flight.source is not source:  # a new attempt
                flight = self.in_flight[episode] = InFlight(episode, source)
            ratings = source.counts.ratings
            self.ratings.extend(ratings[flight.ratings_seen :])
            flight.ratings_seen = len(ratings)
            flight.latest = record
            self.latest = record
        elif record.get("type") == "episode_end":
            self.in_flight.pop(episode, None)
            self.run.add(record)
            self.ended.add(episode)
            self.end_records.append(record)
            reason = str(record.get("reason", "unknown"))
            self.end_reasons[reason] += 1
            if record.get("error"):
                self.errors.append((episode, str(record["error"])))

    # -- what views show ---------------------------------------------------------------------
    @property
    def finished(self) -> Counts:
        """Counts over finished episodes (the figures ``metrics.json`` gives for them)."""
        return self.run.counts

    @property
    def status(self) -> str | None:
        """``run.json``'s status, or ``None`` before the run has written it."""
        status = self.manifest.get("status")
        return str(status) if status is not None else None

    @property
    def planned(self) -> int | None:
        """Episodes the run plans."""
        value = self.manifest.get("episodes")
        return value if isinstance(value, int) else None

    @property
    def done(self) -> int:
        """Finished episodes (any end reason)."""
        return len(self.ended)

    @property
    def over(self) -> bool:
        """The run has stopped and its log has been read to the end."""
        status = self._status_before_read
        return status is not None and status != "running"

    def tokens(self) -> int:
        """Tokens so far (finished episodes and steps in flight), as ``metrics.json`` counts."""
        return sum(self.token_split())

    def token_split(self) -> tuple[int, int]:
        """``(uncached, cached)`` tokens so far (finished episodes and steps in flight)."""
        return self.run.live_counts().uncached_tokens, self.run.live_counts().cached_tokens

    def cost_usd(self) -> float | None:
        """Cost so far, or ``None`` when a price was unknown."""
        return self.run.live_counts().cost_usd

    def eta_s(self) -> float | None:
        """Seconds until every planned episode is finished, at the pace so far."""
        planned, done = self.planned, self.done
        if planned is None or done == 0 or self.last_t <= 0 or done >= planned:
            return None
        return self.last_t / done * (planned - done)

    def elapsed_s(self) -> float:
        """Seconds the run has been going, by its records (0 before the first record)."""
        return self.last_t

    def idle_s(self) -> float:
        """Seconds since a poll last found something new."""
        return time.monotonic() - self.last_change


def _reread(
    path: Path, seen: tuple[int, int] | None
) -> tuple[dict[str, Any], tuple[int, int]] | None:
    """``path``'s JSON and its stamp if it changed since ``seen``; ``None`` when unchanged,
    absent, or replaced or being created between stat and read (the next poll reads it)."""
    stamp = _stamp(path)
    if stamp is None or stamp == seen:
        return None
    try:
        return store.read_json(path), stamp
    except RunDirError:
        return None


def _stamp(path: Path) -> tuple[int, int] | None:
    try:
        st = os.stat(path)
    except FileNotFoundError:
        return None
    return (st.st_mtime_ns, st.st_size)


# ---------------------------------------------------------------------------------------------
# Sweeps


@dataclass
class JobRow:
    """One job of a sweep as the sweep view shows it.

    Attributes:
        job: The job directory's name.
        number: The job's number (Hydra's ``job.num``), when the name starts with it.
        condition: The intervention's name.
        overrides: The job's overrides, space-separated.
        status: ``run.json`` status (``starting`` before it exists).
        done: Finished episodes.
        planned: Planned episodes.
        refusal: Refusal rate.
        rest: Rest rate.
        exit: Exit rate.
        self_report: Mean self-report.
        cost_usd: Cost so far.
        tokens: Tokens so far.
        reason: Why the job is not complete, when it says.
        headlines: The design's headline figures, from ``metrics.json`` once written
            (:func:`sandbox.display.headline.design_headlines`).
    """

    job: str
    number: int | None
    condition: str | None
    overrides: str
    status: str
    done: int
    planned: int | None
    refusal: Rate | None = None
    rest: Rate | None = None
    exit: Rate | None = None
    self_report: float | None = None
    cost_usd: float | None = None
    tokens: int = 0
    reason: str | None = None
    headlines: list[Headline] = field(default_factory=list)


def _rate(value: Any) -> Rate | None:
    if isinstance(value, dict) and "n" in value:
        rate: Rate = {
            "value": value.get("value"),
            "ci_low": value.get("ci_low"),
            "ci_high": value.get("ci_high"),
            "n": int(value.get("n") or 0),
        }
        # The interval's unit and method, for the table's legend.
        if isinstance(value.get("n_episodes"), int):
            rate["n_episodes"] = value["n_episodes"]
        if isinstance(value.get("method"), str):
            rate["method"] = value["method"]
        return rate
    return None


def job_overrides(job: Path) -> str:
    """The job's overrides, space-separated (empty while Hydra has not written them)."""
    try:
        return " ".join(read_overrides(job))
    except Exception:  # a half-written overrides.yaml: the label comes next poll
        return ""


def job_row(
    job: Path, watch: RunWatch | None = None, overrides: str | None = None, name: str | None = None
) -> JobRow:
    """The row of one job: from ``metrics.json`` when written, else from ``watch``'s tallies.

    ``name`` is the job's name in its sweep (:func:`sandbox.sweepdir.job_name`; default the
    directory's name).
    """
    name = name or job.name
    if overrides is None:
        overrides = job_overrides(job)
    manifest = watch.manifest if watch is not None else {}
    metrics = watch.metrics if watch is not None else None
    if watch is None:
        run_json, metrics_json = job / store.RUN_JSON, job / store.METRICS
        try:
            manifest = store.read_json(run_json) if run_json.exists() else {}
            metrics = store.read_json(metrics_json) if metrics_json.exists() else None
        except RunDirError:
            pass
    status = str(manifest.get("status") or "starting")
    row = JobRow(
        job=name,
        number=job_number(name),
        condition=(manifest.get("intervention") or {}).get("name"),
        overrides=overrides,
        status=status,
        done=0,
        planned=manifest.get("episodes") if isinstance(manifest.get("episodes"), int) else None,
        reason=manifest.get("reason") if isinstance(manifest.get("reason"), str) else None,
    )
    if metrics is not None and status != "running":
        row.done = int(metrics.get("episodes") or 0)
        row.refusal = _rate(metrics.get("refusal_rate"))
        row.rest = _rate(metrics.get("rest_rate"))
        row.exit = _rate(metrics.get("exit_rate"))
        row.self_report = (metrics.get("self_report") or {}).get("mean")
        cost = metrics.get("cost_usd")
        row.cost_usd = float(cost) if isinstance(cost, int | float) else None
        row.tokens = int((metrics.get("tokens") or {}).get("total") or 0)
        row.headlines = design_headlines(metrics)
    elif watch is not None:
        row.done = watch.done
        row.refusal = watch.finished.refusal_rate()
        row.rest = watch.finished.rest_rate()
        row.exit = watch.finished.exit_rate()
        row.self_report = watch.finished.self_report_mean()
        row.cost_usd = watch.cost_usd()
        row.tokens = watch.tokens()
    return row


class SweepWatch:
    """What a sweep directory says now; :meth:`poll` reads what is new.

    Attributes:
        path: The sweep directory.
        planned: Jobs the sweep makes, when known.
        rows: One row per job directory seen, in job order.
    """

    def __init__(self, path: Path) -> None:
        self.path = Path(path)
        self.planned: int | None = None
        self.rows: list[JobRow] = []
        self._watches: dict[str, RunWatch] = {}
        self._done: dict[str, JobRow] = {}
        self._overrides: dict[str, str] = {}

    def poll(self) -> bool:
        """Read what changed; whether anything did."""
        if self.planned is None:
            self.planned = planned_jobs(self.path)
        changed = False
        rows = []
        for job in job_dirs(self.path, started=True):
            name = job_name(self.path, job)
            finished = self._done.get(name)
            if finished is not None:
                rows.append(finished)
                continue
            watch = self._watches.get(name)
            if watch is None:
                watch = self._watches[name] = RunWatch(job)
            changed = watch.poll() or changed
            overrides = self._overrides.get(name) or job_overrides(job)
            if overrides:
                self._overrides[name] = overrides
            row = job_row(job, watch, overrides, name)
            if watch.over and watch.metrics is not None:
                # A finished job's row no longer changes: stop reading its files.
                self._done[name] = row
                del self._watches[name]
            rows.append(row)
        changed = changed or len(rows) != len(self.rows)
        self.rows = rows
        return changed

    def watch_of(self, name: str) -> RunWatch | None:
        """The live watch of a running job."""
        return self._watches.get(name)

    @property
    def over(self) -> bool:
        """The sweep's summary is written and is newer than every job's manifest."""
        summary = self.path / "summary.json"
        stamp = _stamp(summary)
        if stamp is None:
            return False
        newest = max(
            (s[0] for job in job_dirs(self.path) if (s := _stamp(job / store.RUN_JSON))),
            default=0,
        )
        return stamp[0] >= newest


# ---------------------------------------------------------------------------------------------
# What a path is, and the follow loops


def kind_of(path: Path) -> str:
    """``run`` or ``sweep``.

    Raises:
        RunDirError: ``path`` does not exist or is neither.
    """
    path = Path(path)
    if not path.is_dir():
        raise RunDirError(f"{path} is not a directory; pass a run or a sweep directory")
    if store.is_run_dir(path):
        return "run"
    if is_sweep_dir(path) or (path / SUMMARY_JSON).exists() or job_dirs(path, started=True):
        return "sweep"
    if (path / ".hydra").is_dir():
        return "run"  # Hydra made the directory; the runner has not written run.json yet
    raise RunDirError(
        f"{path} holds neither run.json nor job directories: not a run or a sweep directory"
    )


def find_job(sweep_dir: Path, number: int) -> Path:
    """The job directory numbered ``number``.

    Raises:
        RunDirError: No such job.
    """
    jobs = job_dirs(sweep_dir, started=True)
    for job in jobs:
        if job_number(job_name(sweep_dir, job)) == number:
            return job
    numbers = (job_number(job_name(sweep_dir, j)) for j in jobs)
    known = ", ".join(str(n) for n in numbers if n is not None) or "none yet"
    raise RunDirError(f"{sweep_dir} has no job {number}; jobs: {known}")


class RunView(Protocol):
    """What :func:`follow_run` calls (rich and plain implementations in
    :mod:`sandbox.display.watch_view`)."""

    def start(self, state: RunWatch) -> None: ...

    def update(self, state: RunWatch, changed: bool) -> None: ...

    def stop(self, state: RunWatch) -> None: ...


class SweepView(Protocol):
    """What :func:`follow_sweep` calls."""

    def start(self, state: SweepWatch) -> None: ...

    def update(self, state: SweepWatch, changed: bool) -> None: ...

    def stop(self, state: SweepWatch) -> None: ...


def follow_run(
    path: Path,
    view: RunView,
    *,
    interval: float = DEFAULT_INTERVAL,
    once: bool = False,
    sleep: Callable[[float], None] = time.sleep,
) -> RunWatch:
    """Poll a run directory until the run is over (or once), showing each state on ``view``.

    The loop ends when ``run.json``'s status is no longer ``running`` and the log has been read
    to its end. Reading costs one ``stat`` of each file per poll, plus the new bytes.
    """
    state = RunWatch(path)
    state.poll()
    view.start(state)
    try:
        while not once and not state.over:
            sleep(interval)
            view.update(state, state.poll())
    finally:
        view.stop(state)
    return state


def follow_sweep(
    path: Path,
    view: SweepView,
    *,
    interval: float = DEFAULT_INTERVAL,
    once: bool = False,
    sleep: Callable[[float], None] = time.sleep,
) -> SweepWatch:
    """Poll a sweep directory until its summary is written (or once), showing it on ``view``."""
    state = SweepWatch(path)
    state.poll()
    view.start(state)
    try:
        while not once and not state.over:
            sleep(interval)
            view.update(state, state.poll())
        if not once:
            state.poll()  # the jobs' last files, written just before the summary
    finally:
        view.stop(state)
    return state
