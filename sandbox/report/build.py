"""Building a report from a run directory or a sweep directory."""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping, Sequence
from pathlib import Path
from typing import Any

from sandbox import store
from sandbox.display.safe import one_line
from sandbox.report.effects import effects_against
from sandbox.report.model import (
    Condition,
    Published,
    PublishedRow,
    Report,
    ReportError,
)
from sandbox.report.proxies import metric_estimates
from sandbox.report.reading import JobSpec, read_condition, read_conditions
from sandbox.report.resample import mde_binary
from sandbox.sweepdir import job_dirs, job_name, read_overrides

__all__ = ["build_report", "factors", "metric_estimates"]

#: Keys of a published block that name where its figures come from.
_SOURCE_KEYS = ("source", "citation", "reference", "paper", "label")


def build_report(
    path: Path | str,
    *,
    control: str | None = None,
    n_boot: int = 2000,
    seed: int = 0,
) -> Report:
    """The report of a run directory or a sweep directory.

    Args:
        path: A run directory (``run.json``) or a sweep directory (job directories).
        control: The control condition of a sweep: its name, job directory name or job
            number; default the job whose intervention is ``none``.
        n_boot: Bootstrap resamples per effect.
        seed: Seed of the bootstrap (reports are reproducible).

    Raises:
        ReportError: ``path`` is neither, or ``control`` names no condition.
        RunDirError: A run's files are damaged.
    """
    path = Path(path)
    if not path.is_dir():
        raise ReportError(f"{path} is not a directory; pass a run or a sweep directory")
    if store.is_run_dir(path):
        if control is not None:
            raise ReportError("--control applies to a sweep; this is a single run")
        cond = read_condition(JobSpec(str(path), None, (), store.logs_tolerated()))
        cond.name = cond.intervention or path.name
        report = Report("run", str(path), [cond], n_boot=n_boot, seed=seed)
        report.published = _published(report.conditions)
        _add_judge(report)
        return report
    jobs = job_dirs(path)
    if not jobs:
        raise ReportError(
            f"{path} holds no run.json and no job directories: not a run or a sweep directory"
        )
    tolerate = store.logs_tolerated()
    specs = [
        JobSpec(str(job), job_name(path, job), tuple(_overrides(job)), tolerate) for job in jobs
    ]
    conditions = read_conditions(specs)
    # Per-episode choice shares over the same categories in every condition.
    categories = sorted(
        {k.split(".", 1)[1] for c in conditions for k in c.columns if k.startswith("choice_")}
    )
    for cond in conditions:
        for cat in categories:
            cond.columns.setdefault(f"choice_share.{cat}", [math.nan] * cond.episodes)
    _name_conditions(conditions)
    report = Report("sweep", str(path), conditions, n_boot=n_boot, seed=seed)
    ctrl = _choose_control(conditions, control, report.notes)
    report.control = ctrl.name
    report.effects = effects_against(conditions, ctrl, seed=seed, n_boot=n_boot)
    sizes = [c.episodes for c in conditions if c.episodes]
    if sizes and ctrl.episodes:
        report.mde = mde_binary(ctrl.episodes, min(sizes), 0.5)[1]
    report.comparisons = sum(e.p is not None for e in report.effects)
    report.published = _published(conditions)
    _add_judge(report)
    return report


def _add_judge(report: Report) -> None:
    """The judge's dimensions, effects and agreement, where ``wsb judge`` wrote judge.json."""
    from sandbox.judge.report import add_judge

    add_judge(report)


def _overrides(job: Path) -> list[str]:
    try:
        return read_overrides(job)
    except Exception:  # a damaged overrides.yaml only loses the label
        return []


def factors(conditions: Sequence[Condition]) -> list[dict[str, str]]:
    """Each condition's factors that differ between the conditions: ``{key: value}``.

    A factor is an override's key (``env.kwargs.exit_method``), or ``intervention`` when the
    interventions differ and no override names them; keys that have the same value in every
    condition are left out.
    """
    rows: list[dict[str, str]] = []
    for cond in conditions:
        row: dict[str, str] = {}
        for override in cond.overrides:
            key, _, value = override.partition("=")
            row[key] = value
        if "intervention" not in row and cond.intervention is not None:
            row["intervention"] = cond.intervention
        rows.append(row)
    keys = list(dict.fromkeys(k for row in rows for k in row))
    differ = [k for k in keys if len({row.get(k) for row in rows}) > 1]
    return [{k: row[k] for k in differ if k in row} for row in rows]


def _short_keys(keys: Sequence[str]) -> dict[str, str]:
    """Each key by its last dotted part (``exit_method``), when that is unambiguous."""
    tails = [k.rsplit(".", 1)[-1] for k in keys]
    return {k: t if tails.count(t) == 1 else k for k, t in zip(keys, tails, strict=True)}


def _name_conditions(conditions: list[Condition]) -> None:
    """Give each condition a unique, readable name: the factors that differ between jobs.

    The intervention's name when it is the only factor that differs; else the differing factors
    by their short keys (``exit_method=tool, exit_mode=hypothetical``); else the job
    directory's name.
    """
    rows = factors(conditions)
    keys = list(dict.fromkeys(k for row in rows for k in row))
    short = _short_keys(keys)
    if keys == ["intervention"]:
        labels = [row.get("intervention", "") for row in rows]
    else:
        labels = [", ".join(f"{short[k]}={v}" for k, v in row.items()) for row in rows]
    if all(labels) and len(set(labels)) == len(labels):
        for cond, label in zip(conditions, labels, strict=True):
            cond.name = label
        return
    for cond in conditions:
        cond.name = cond.job or cond.path


def _choose_control(conditions: list[Condition], wanted: str | None, notes: list[str]) -> Condition:
    if wanted is not None:
        for cond in conditions:
            number = (cond.job or "").split("-", 1)[0]
            if wanted in (cond.name, cond.job, cond.intervention) or wanted == number:
                return cond
        known = ", ".join(one_line(c.name, 60) for c in conditions)
        raise ReportError(f"--control {wanted!r} names no condition of this sweep; known: {known}")
    nones = [c for c in conditions if c.intervention == "none"]
    if nones:
        if len(nones) > 1:
            notes.append(
                f"{len(nones)} jobs have intervention none; the first ({nones[0].name}) is the "
                "control (choose another with --control)"
            )
        return nones[0]
    notes.append(
        f"no job has intervention none; the first job ({conditions[0].name}) is the control "
        "(choose another with --control)"
    )
    return conditions[0]


# ---------------------------------------------------------------------------------------------
# Published figures


def _published(conditions: Sequence[Condition]) -> list[Published]:
    found: list[Published] = []
    for cond in conditions:
        for design, block in _published_blocks(cond.metrics):
            published = block["published"]
            source = None
            rows: list[PublishedRow] = []
            mapping: Mapping[str, Any] = {}
            if isinstance(published, Mapping):
                for key in _SOURCE_KEYS:
                    if isinstance(published.get(key), str):
                        source = str(published[key])
                        break
                if isinstance(published.get("ours"), Mapping):
                    mapping = published["ours"]
                skip = {*_SOURCE_KEYS, "ours"}
                items = [(k, v) for k, v in published.items() if k not in skip]
            else:
                items = [("value", published)]
            ours_block = {k: v for k, v in block.items() if k != "published"}
            for key, value in _flatten(items):
                # Ours: the path the block's "ours" map names for this key, else the same path.
                where = mapping.get(key)
                ours = _lookup(ours_block, str(where)) if isinstance(where, str) else None
                rows.append(
                    PublishedRow(key, value, ours if ours is not None else _lookup(ours_block, key))
                )
            found.append(Published(design, cond.name, source, rows))
    return found


def _published_blocks(
    metrics: Mapping[str, Any], prefix: str = "", depth: int = 0
) -> Iterable[tuple[str, Mapping[str, Any]]]:
    """``(path, block)`` for each dict in ``metrics`` (up to 3 levels) with a ``published`` key."""
    if depth > 3:
        return
    for key, value in metrics.items():
        if not isinstance(value, Mapping):
            continue
        path = f"{prefix}{key}"
        if "published" in value:
            yield path, value
        yield from _published_blocks(value, f"{path}.", depth + 1)


def _flatten(items: Iterable[tuple[str, Any]], prefix: str = "") -> list[tuple[str, Any]]:
    out: list[tuple[str, Any]] = []
    for key, value in items:
        path = f"{prefix}{key}"
        if isinstance(value, Mapping):
            out.extend(_flatten(value.items(), f"{path}."))
        else:
            out.append((path, value))
    return out


def _lookup(block: Mapping[str, Any], key: str) -> Any:
    node: Any = block
    for part in key.split("."):
        if not isinstance(node, Mapping) or part not in node:
            return None
        node = node[part]
    if isinstance(node, Mapping):
        for field_name in ("value", "mean", "estimate"):
            if field_name in node:
                return node[field_name]
        return None
    return node
