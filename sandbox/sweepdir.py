"""A sweep directory: its file names, its job directories, each job's overrides and number.

Hydra's multirun writes ``multirun.yaml`` at the sweep's root and one job directory per
combination of overrides, named ``<number>-<override_dirname>`` (``3-intervention=none``).
Each job directory holds ``.hydra/overrides.yaml`` (Hydra's) and, once the runner has started,
``run.json``. An override value holding ``/`` (a bank's path) makes Hydra nest a job deeper:
``0-env.kwargs.bank=`` / ``tmp`` / ``bank.yaml``. A job's name is therefore its path relative
to the sweep directory, and its number the digits that name starts with.

The summary (:mod:`sandbox.sweep`), ``wsb watch`` (:mod:`sandbox.watch`), ``wsb report``
(:mod:`sandbox.report`), the CLI and the run-directory guard all find jobs with
:func:`job_dirs`, so that they agree on which jobs a sweep holds.
"""

from __future__ import annotations

import os
from pathlib import Path

from sandbox import store

#: Hydra's record of the multirun, at the sweep's root.
MULTIRUN_YAML = "multirun.yaml"
#: The sweep summary (:func:`sandbox.sweep.write_summary`), at the sweep's root.
SUMMARY_CSV = "summary.csv"
SUMMARY_JSON = "summary.json"
#: Hydra's directory in each job, and the job's overrides in it.
HYDRA_DIR = ".hydra"
OVERRIDES_YAML = "overrides.yaml"

#: Overrides that say how a job was run, not what it ran: left out of a job's overrides, so
#: that a resumed sweep (``resume=true``) is summarised and reported exactly as the first
#: attempt was.
OPERATIONAL_KEYS = ("resume",)

#: Where a job without a number sorts: after every numbered job.
_UNNUMBERED = 1 << 30


def job_number(name: str) -> int | None:
    """The job number a job's name starts with (``3-intervention=none`` -> 3), else ``None``."""
    head = name.split("-", 1)[0]
    return int(head) if head.isdigit() else None


def job_name(sweep_dir: Path, job: Path) -> str:
    """A job's name: its path relative to the sweep directory (``3-intervention=none``)."""
    return job.relative_to(sweep_dir).as_posix()


def is_sweep_dir(path: Path) -> bool:
    """Whether Hydra made ``path`` as a multirun (it holds ``multirun.yaml``)."""
    return (path / MULTIRUN_YAML).is_file()


def _is_job(path: Path, files: list[str] | None, dirs: list[str] | None, started: bool) -> bool:
    if files is not None and dirs is not None:
        return store.RUN_JSON in files or (started and HYDRA_DIR in dirs)
    return (path / store.RUN_JSON).is_file() or (started and (path / HYDRA_DIR).is_dir())


def job_dirs(sweep_dir: Path, *, started: bool = False) -> list[Path]:
    """Job directories of a sweep, in job-number order (then by name).

    A job directory is one with a ``run.json``; with ``started``, also one where Hydra has
    written ``.hydra/`` and the runner not yet ``run.json`` (``wsb watch`` shows such a job as
    starting; the summary and the report read only jobs that have a manifest).

    A Hydra sweep directory (one with ``multirun.yaml``) is walked, so that nested jobs are
    found, without entering a job directory (``transcripts/``) or a hidden one (``.hydra``,
    ``.submitit``). Any other directory (a folder of runs gathered by hand) gives its children
    only: pointing a report at ``/tmp`` must not dig through every run below it. A directory
    that does not exist (yet) holds no job.
    """
    sweep_dir = Path(sweep_dir)

    def order(path: Path) -> tuple[int, str]:
        name = job_name(sweep_dir, path)
        number = job_number(name)
        return (number if number is not None else _UNNUMBERED, name)

    if not is_sweep_dir(sweep_dir):
        try:
            entries = list(sweep_dir.iterdir())
        except (FileNotFoundError, NotADirectoryError):
            return []
        children = (p for p in entries if p.is_dir() and _is_job(p, None, None, started))
        return sorted(children, key=order)
    found: list[Path] = []
    for root, dirs, files in os.walk(sweep_dir):
        if Path(root) != sweep_dir and _is_job(Path(root), files, dirs, started):
            found.append(Path(root))
            dirs.clear()  # transcripts/ and the like: no job lives inside a job
            continue
        dirs[:] = sorted(d for d in dirs if not d.startswith("."))
    return sorted(found, key=order)


def read_overrides(job: Path) -> list[str]:
    """The job's Hydra overrides (``.hydra/overrides.yaml``), without the operational ones.

    Returns an empty list while Hydra has not written them.

    Raises:
        yaml.YAMLError: The file is damaged or half-written (callers that only label a job
            with its overrides catch it).
    """
    path = job / HYDRA_DIR / OVERRIDES_YAML
    if not path.exists():
        return []
    import yaml

    loaded = yaml.safe_load(path.read_text(encoding="utf-8")) or []
    return [
        str(item)
        for item in loaded
        if str(item).split("=", 1)[0].lstrip("+~") not in OPERATIONAL_KEYS
    ]


def planned_jobs(sweep_dir: Path) -> int | None:
    """How many jobs the sweep's overrides make, from ``multirun.yaml``.

    Hydra's basic sweeper makes the product of each swept override's number of values;
    ``None`` when it cannot tell (another sweeper, ranges, a damaged file).
    """
    path = sweep_dir / MULTIRUN_YAML
    if not path.exists():
        return None
    try:
        import yaml
        from hydra.core.override_parser.overrides_parser import OverridesParser

        config = yaml.safe_load(path.read_text(encoding="utf-8")) or {}
        task = ((config.get("hydra") or {}).get("overrides") or {}).get("task") or []
        sweeper = str(((config.get("hydra") or {}).get("sweeper") or {}).get("_target_", ""))
        if "BasicSweeper" not in sweeper:
            return None
        # An experiment may declare its sweep in hydra.sweeper.params; the command line's
        # overrides of the same key win.
        params = ((config.get("hydra") or {}).get("sweeper") or {}).get("params") or {}
        by_key = {str(k): f"{k}={v}" for k, v in params.items()}
        for item in task:
            by_key[str(item).split("=", 1)[0].lstrip("+~")] = str(item)
        total = 1
        for override in OverridesParser.create().parse_overrides(list(by_key.values())):
            if override.is_sweep_override():
                total *= len(list(override.sweep_string_iterator()))
        return total
    except Exception:  # an unusual sweep (ranges, other sweepers): the view shows jobs so far
        return None
