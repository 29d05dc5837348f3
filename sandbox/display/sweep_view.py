"""The sweep view: one row per job (condition, status, episodes, headline proxies, cost).

Used by ``wsb watch SWEEP_DIR`` and by the sweep callback that reports progress while a
multirun goes. Condition names and overrides are untrusted text (a sweep may override any
string): every cell is a ``rich.text.Text`` of cleaned text.
"""

from __future__ import annotations

import sys
from collections.abc import Sequence
from pathlib import Path
from typing import TextIO

from rich.console import Console
from rich.table import Table
from rich.text import Text

from sandbox import store
from sandbox.display.headline import (
    Headline,
    fmt_headline,
    incentive_overrides,
    legend,
    short_headline,
)
from sandbox.display.safe import one_line
from sandbox.errors import RunDirError
from sandbox.metrics.stats import Rate
from sandbox.sweepdir import MULTIRUN_YAML, job_dirs, job_name, planned_jobs
from sandbox.watch import JobRow, job_row

#: Below this many columns the sweep table keeps one line per job (its full form needs ~160).
COMPACT_BELOW = 160

_STATUS_STYLE = {
    "complete": "green",
    "running": "cyan",
    "partial": "yellow",
    "failed": "red",
    "starting": "dim",
}


def rate_cell(rate: Rate | None, *, with_n: bool = True) -> str:
    """``12% [10–14] n=720`` (interval in percent), or ``n/a`` / ``—``."""
    if rate is None:
        return "—"
    if rate.get("value") is None:
        return "n/a"
    value, low, high = rate["value"], rate.get("ci_low"), rate.get("ci_high")
    assert value is not None
    interval = (
        f" [{low * 100:.0f}–{high * 100:.0f}]" if low is not None and high is not None else ""
    )
    return f"{value:.0%}{interval}" + (f" n={rate['n']}" if with_n else "")


def episodes_cell(row: JobRow) -> str:
    """``12/30``."""
    return f"{row.done}/{row.planned}" if row.planned is not None else str(row.done)


def cost_cell(row: JobRow) -> str:
    """``$0.0123`` (``—`` for no spend, ``?`` for an unknown price)."""
    if row.cost_usd is None:
        return "?"
    return f"${row.cost_usd:.4f}" if row.cost_usd else "—"


def headline_cell(row: JobRow, override: Headline | None = None) -> str:
    """The design's headline figures of a job, short (``—`` before its metrics.json)."""
    items = [*([override] if override is not None else []), *row.headlines]
    return "; ".join(short_headline(h) for h in items) if items else "—"


def generic_cell(row: JobRow) -> str:
    """Refusal, rest and exit rates of a job on one line (compact table)."""
    parts = [
        f"{name} {rate_cell(rate, with_n=False)}"
        for name, rate in (("refusal", row.refusal), ("rest", row.rest), ("exit", row.exit))
        if rate is not None and rate.get("n")
    ]
    return " · ".join(parts) or "—"


def sweep_table(
    rows: Sequence[JobRow], planned: int | None = None, title: str = "", width: int = 200
) -> Table:
    """The sweep as a table, one row per job.

    Each job shows its design's headline figures with their intervals (below-opt-out shares,
    exit rate by method, switch points, the aversive room's share of reads and the incentive
    override against the sweep's ``none`` economy). Below :data:`COMPACT_BELOW` columns the
    table keeps one line per job: what sets the job apart (the overrides not every job has),
    its status, episodes, and one cell of figures.
    """
    finished = sum(r.status not in ("running", "starting") for r in rows)
    total = planned if planned is not None else len(rows)
    heading = f"{title} · " if title else ""
    overrides = incentive_overrides([(r.job, r.headlines) for r in rows])
    designs = any(r.headlines for r in rows)
    compact = width < COMPACT_BELOW
    table = Table(
        title=Text(f"{heading}jobs finished {finished}/{total}", no_wrap=True, overflow="ellipsis"),
        title_justify="left",
        expand=compact,
    )
    table.add_column("#", justify="right", style="dim", no_wrap=True)
    if compact:
        table.add_column("job", no_wrap=True, overflow="ellipsis", max_width=24)
    else:
        table.add_column("condition", style="bold", no_wrap=True, min_width=8)
        table.add_column("overrides", overflow="fold", ratio=1)
    table.add_column("status", no_wrap=True, overflow="ellipsis", max_width=24 if compact else None)
    table.add_column("ep." if compact else "episodes", justify="right", no_wrap=True)
    if compact:
        table.add_column("figures (95% CI)", no_wrap=True, overflow="ellipsis", ratio=1)
    else:
        if designs:
            table.add_column("design headline (95% CI)", overflow="fold", ratio=2)
        table.add_column("refusal", no_wrap=True)
        table.add_column("rest", no_wrap=True)
        table.add_column("exit", no_wrap=True)
        table.add_column("self-report", justify="right")
        table.add_column("cost", justify="right")
    shared = _shared_overrides(rows) if compact else set()
    for row in rows:
        status = Text(one_line(row.status, 20), style=_STATUS_STYLE.get(row.status, ""))
        if row.reason and row.status not in ("running", "complete"):
            status.append(f" ({one_line(row.reason, 40)})", style="dim")
        number = Text("" if row.number is None else str(row.number))
        override = overrides.get(row.job)
        if compact:
            label = " ".join(
                o.split("=", 1)[0].rsplit(".", 1)[-1] + "=" + o.split("=", 1)[1] if "=" in o else o
                for o in row.overrides.split()
                if o not in shared
            )
            label = label or row.condition or "?"
            figures = headline_cell(row, override) if row.headlines else generic_cell(row)
            table.add_row(
                number,
                Text(one_line(label, 120)),
                status,
                Text(episodes_cell(row)),
                Text(one_line(figures, 400)),
            )
            continue
        cells = [
            number,
            Text(one_line(row.condition or "?", 40)),
            Text(one_line(row.overrides, 120)),
            status,
            Text(episodes_cell(row)),
        ]
        if designs:
            cells.append(Text(one_line(headline_cell(row, override), 400)))
        cells += [
            Text(rate_cell(row.refusal, with_n=False)),
            Text(rate_cell(row.rest, with_n=False)),
            Text(rate_cell(row.exit, with_n=False)),
            Text("—" if row.self_report is None else f"{row.self_report:.2f}"),
            Text(cost_cell(row)),
        ]
        table.add_row(*cells)
    shown: list[Headline | Rate | None] = []
    for row in rows:
        shown.extend([row.refusal, row.rest, row.exit, *row.headlines])
    key = legend(shown)
    if key:
        table.caption = Text(key, style="dim", overflow="fold")
        table.caption_justify = "left"
    return table


def _shared_overrides(rows: Sequence[JobRow]) -> set[str]:
    """Overrides every job has (left out of the compact table's job column)."""
    sets = [set(r.overrides.split()) for r in rows if r.overrides]
    return set.intersection(*sets) if len(sets) > 1 else set()


def sweep_line(row: JobRow, finished: int, planned: int | None) -> str:
    """One plain line about a job that has just finished (logs, pipes)."""
    total = "?" if planned is None else str(planned)
    parts = [
        f"sweep [{finished}/{total} jobs] job {row.number if row.number is not None else '?'}",
        f"condition {one_line(row.condition or '?', 40)}",
        one_line(row.status, 20),
        f"episodes {episodes_cell(row)}",
    ]
    parts += [one_line(fmt_headline(h), 200) for h in row.headlines]
    for name, rate in (("refusal", row.refusal), ("rest", row.rest), ("exit", row.exit)):
        if not row.headlines or (rate is not None and rate.get("n")):
            parts.append(f"{name} {rate_cell(rate)}")
    if row.self_report is not None:
        parts.append(f"self-report {row.self_report:.2f}")
    if row.cost_usd:
        parts.append(f"cost ${row.cost_usd:.4f}")
    if row.reason and row.status != "complete":
        parts.append(f"({one_line(row.reason, 80)})")
    return " · ".join(parts)


def print_progress(sweep_dir: Path, job_dir: Path | None, stream: TextIO | None = None) -> None:
    """Sweep progress after a job ends: the sweep table on a terminal, else one line.

    Reads only the job directories' small files (``run.json``, ``metrics.json``,
    ``.hydra/overrides.yaml``), so any launcher's jobs show, in whatever order they finish.
    The one-line form reads the ended job's files and every job's ``run.json`` status only,
    so that a sweep of hundreds of jobs does not spend its time re-reading them all.
    """
    stream = stream or sys.stdout
    planned = _planned(sweep_dir)
    jobs = job_dirs(sweep_dir, started=True)
    if stream.isatty():
        rows = [job_row(job, name=job_name(sweep_dir, job)) for job in jobs]
        console = Console(file=stream)
        title = one_line(str(sweep_dir), 200)
        console.print(sweep_table(rows, planned, title=title, width=console.width))
        return
    ended = next(
        (j for j in jobs if job_dir is not None and j.resolve() == job_dir.resolve()), None
    )
    if ended is None:
        return
    finished = sum(_status(job) not in ("running", "starting") for job in jobs)
    row = job_row(ended, name=job_name(sweep_dir, ended))
    print(sweep_line(row, finished, planned), file=stream, flush=True)


#: ``planned_jobs`` by sweep directory and ``multirun.yaml``'s modification time: it parses the
#: sweep's overrides, which does not change while the sweep runs.
_PLANNED: dict[tuple[str, int], int | None] = {}


def _planned(sweep_dir: Path) -> int | None:
    try:
        stamp = (sweep_dir / MULTIRUN_YAML).stat().st_mtime_ns
    except OSError:
        return planned_jobs(sweep_dir)
    key = (str(sweep_dir), stamp)
    if key not in _PLANNED:
        _PLANNED[key] = planned_jobs(sweep_dir)
    return _PLANNED[key]


def _status(job: Path) -> str:
    """A job's status from its ``run.json`` (``starting`` before the runner wrote one)."""
    try:
        return str(store.read_json(job / store.RUN_JSON).get("status") or "starting")
    except RunDirError:
        return "starting"
