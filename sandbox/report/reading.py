"""Reading a job for the report: its records streamed, one at a time, into the run's tally.

A job's ``episodes.jsonl`` is read record by record into one
:class:`~sandbox.metrics.tally.RunTally` (the tally ``metrics.json`` is computed from) while its
consistency is checked (:func:`sandbox.store.log_problems`); no record is kept, so memory grows
with the job's episodes (their tallies: a few KB each), not with its records. What the report
needs of the tally (per-episode values, seeds, each design's headline inputs) is taken out and
the tally dropped before the next job is read.

A sweep's jobs are read in parallel worker processes (one per job, up to one more than the
cores) when their logs are large enough for that to pay (:data:`PARALLEL_BYTES`); each worker
returns a :class:`~sandbox.report.model.Condition`, which is small.
"""

from __future__ import annotations

import logging
import math
import multiprocessing
import os
from collections.abc import Callable, Sequence
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any, cast

from sandbox import seeds as seeds_of
from sandbox import store
from sandbox.metrics.compute import metrics_of
from sandbox.metrics.tally import EpisodeTally, RunTally
from sandbox.records import as_int
from sandbox.report.effects import episode_values
from sandbox.report.headlines import episode_columns
from sandbox.report.model import Condition
from sandbox.report.proxies import metric_estimates

log = logging.getLogger(__name__)

#: Logs (bytes, over all jobs) above which a sweep's jobs are read in parallel processes.
PARALLEL_BYTES = 32 * 1024 * 1024

#: Extra per-episode columns of a condition: ``fn(episodes) -> {column: one value per
#: episode}`` (NaN where a value does not apply). The design headlines register here
#: (:mod:`sandbox.report.headlines`).
ColumnFn = Callable[[Sequence[EpisodeTally]], dict[str, list[float]]]


@dataclass(frozen=True, slots=True)
class JobSpec:
    """What a worker needs to read one job (picklable).

    Attributes:
        path: The run directory.
        job: The job's name in its sweep (``None`` for a run report).
        overrides: The job's Hydra overrides.
        tolerate: Read a log that contradicts itself (``--force``) with a warning.
    """

    path: str
    job: str | None
    overrides: tuple[str, ...]
    tolerate: bool


def stream_tally(path: Path, manifest: dict[str, Any]) -> tuple[RunTally, dict[int, int | None]]:
    """The tally of a run directory's ``episodes.jsonl``, read one record at a time, and each
    ended episode's seed (its ``episode_end``'s; the tally does not keep it).

    The log is checked as :func:`sandbox.store.load_run` checks it (steps in order, one end per
    episode, its seed) in the same pass.

    Raises:
        RunDirError: The log is damaged.
        LogContradiction: The log contradicts itself, unless tolerated (then a warning).
    """
    tally = RunTally()
    seeds: dict[int, int | None] = {}
    episodes = path / store.EPISODES
    if not episodes.exists():
        return tally, seeds
    seed = manifest.get("seed") if isinstance(manifest.get("seed"), int) else None

    def fed() -> Any:
        for line, record in store.iter_numbered(episodes):
            episode = tally.add(record)
            if episode is not None and record.get("type") == "episode_end":
                seeds[episode.index] = as_int(record.get("seed"))
            yield line, record

    # log_problems only iterates over its argument: the records pass through, none is kept.
    problems = store.log_problems(
        cast("list[tuple[int, dict[str, Any]]]", fed()),
        seed=seed,
        seed_scheme=seeds_of.scheme_of(manifest),
    )
    if problems:
        error = store.LogContradiction(episodes, problems)
        if not store.logs_tolerated():
            raise error
        log.warning("%s (read anyway: --force)", error)
    return tally, seeds


def read_condition(spec: JobSpec, columns: Sequence[ColumnFn] = ()) -> Condition:
    """One job as a report's condition: metrics, proxies and per-episode columns.

    Args:
        spec: The job.
        columns: Extra per-episode columns (design headlines), each given the finished
            episodes in index order.
    """
    path = Path(spec.path)
    if not store.is_run_dir(path):
        store.load_run(path)  # raises the reader's own error for a non-run
    manifest = store.read_json(path / store.RUN_JSON)
    tally, seeds = stream_tally(path, manifest)
    episodes = tally.episodes()
    metrics_path = path / store.METRICS
    metrics = store.read_json(metrics_path) if metrics_path.exists() else None
    if metrics is None:
        metrics = metrics_of(tally, run=manifest) if tally.records else {}
    cats = sorted((metrics.get("choice_share") or {}).keys())
    if not cats:
        cats = sorted({cat for e in episodes for cat in e.counts.tasks})
    intervention = (manifest.get("intervention") or {}).get("name")
    table: dict[str, list[float]] = {}
    for i, episode in enumerate(episodes):
        for key, value in episode_values(episode, cats).items():
            table.setdefault(key, [math.nan] * len(episodes))[i] = value
    design_columns, facts = episode_columns(episodes)
    table.update(design_columns)
    for fn in columns:
        for key, values in fn(episodes).items():
            table[key] = list(values)
    return Condition(
        name=str(intervention or spec.job or path.name),
        job=spec.job,
        path=str(path),
        status=str(manifest.get("status", "unknown")),
        intervention=str(intervention) if intervention is not None else None,
        overrides=list(spec.overrides),
        episodes=len(episodes),
        metrics=dict(metrics),
        proxies=metric_estimates(metrics),
        columns=table,
        seeds=[seeds.get(e.index) for e in episodes],
        facts=facts,
    )


@dataclass(slots=True)
class _Failure:
    """A worker's error, carried back to be raised in the parent (some errors do not pickle)."""

    message: str
    path: str | None = None
    problems: list[str] | None = None
    kind: str = "RunDirError"


def _read_in_worker(spec: JobSpec, columns: Sequence[ColumnFn]) -> Condition | _Failure:
    try:
        if spec.tolerate:
            with store.tolerate_inconsistent_logs():
                return read_condition(spec, columns)
        return read_condition(spec, columns)
    except store.LogContradiction as exc:
        return _Failure(str(exc), str(exc.path), exc.problems, "LogContradiction")
    except store.RunDirError as exc:
        return _Failure(str(exc))


def _raise(failure: _Failure) -> None:
    if failure.kind == "LogContradiction" and failure.path is not None and failure.problems:
        raise store.LogContradiction(Path(failure.path), failure.problems)
    raise store.RunDirError(failure.message)


def read_conditions(
    specs: Sequence[JobSpec],
    columns: Sequence[ColumnFn] = (),
    *,
    workers: int | None = None,
) -> list[Condition]:
    """Every job as a condition, in the order given.

    Args:
        specs: The jobs.
        columns: Extra per-episode columns (see :func:`read_condition`).
        workers: Worker processes; default, when the logs hold more than
            :data:`PARALLEL_BYTES`, one per job up to one more than the cores (three jobs on two
            cores finish together instead of two after one), else none (read here, in order).
    """
    if workers is None:
        size = sum(_log_size(Path(s.path)) for s in specs)
        cores = os.cpu_count() or 1
        workers = min(len(specs), cores + 1) if size > PARALLEL_BYTES and cores > 1 else 1
    if workers <= 1 or len(specs) <= 1 or "fork" not in multiprocessing.get_all_start_methods():
        return [read_condition(s, columns) for s in specs]
    context = multiprocessing.get_context("fork")  # the workers inherit the loaded modules
    with ProcessPoolExecutor(max_workers=workers, mp_context=context) as pool:
        results = list(pool.map(_read_in_worker, specs, [columns] * len(specs)))
    for result in results:
        if isinstance(result, _Failure):
            _raise(result)
    return [r for r in results if isinstance(r, Condition)]


def _log_size(path: Path) -> int:
    try:
        return (path / store.EPISODES).stat().st_size
    except OSError:
        return 0
