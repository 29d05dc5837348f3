"""The sweep summary: ``summary.csv`` and ``summary.json`` at the root of a multirun.

:class:`SweepSummaryCallback` runs when Hydra ends a multirun; :func:`write_summary` rebuilds
the summary from the job directories alone (their ``run.json`` and ``metrics.json``), so it is
right whatever launcher ran the jobs and in whatever order they finished, and it lists failed
jobs too.
"""

from __future__ import annotations

import csv
import io
import logging
import os
from pathlib import Path
from typing import Any

from sandbox import store
from sandbox.budget import LEDGER, read_ledger
from sandbox.errors import BudgetExceeded
from sandbox.metrics.rates import HEADLINE_RATES
from sandbox.sweepdir import (
    OPERATIONAL_KEYS,
    SUMMARY_CSV,
    SUMMARY_JSON,
    job_dirs,
    job_name,
    read_overrides,
)

log = logging.getLogger(__name__)

#: Re-exported: where a job's overrides and a sweep's jobs are read (:mod:`sandbox.sweepdir`).
__all__ = [
    "HEADLINE_RATES",
    "OPERATIONAL_KEYS",
    "SweepSummaryCallback",
    "job_dirs",
    "job_row",
    "write_summary",
]


def job_row(job: Path, name: str | None = None) -> dict[str, Any]:
    """One summary row: the job's overrides, status and headline proxies.

    Args:
        job: The job directory.
        name: Its name in the summary (default: the directory's name; the sweep passes its path
            relative to the sweep directory).
    """
    run = store.read_json(job / store.RUN_JSON)
    overrides = read_overrides(job)
    row: dict[str, Any] = {
        "job": name or job.name,
        "overrides": " ".join(overrides),
        "status": run.get("status", "unknown"),
        "reason": run.get("reason"),
        "condition": (run.get("intervention") or {}).get("name"),
        "agent": (run.get("agent") or {}).get("name"),
    }
    metrics_path = job / store.METRICS
    metrics = store.read_json(metrics_path) if metrics_path.exists() else {}
    row["episodes"] = metrics.get("episodes")
    row["steps"] = metrics.get("steps")
    for key in HEADLINE_RATES:
        rate = metrics.get(key) or {}
        if key == "exit_rate" and not rate.get("n"):
            # Designs with other ways to leave (a reserved string, a check-in) report their
            # exit rate in their own block.
            rate = next(
                (
                    b["exit_rate"]
                    for b in metrics.values()
                    if isinstance(b, dict)
                    and isinstance(b.get("exit_rate"), dict)
                    and b["exit_rate"].get("n")
                ),
                rate,
            )
        row[key] = rate.get("value")
        row[f"{key}_ci_low"] = rate.get("ci_low")
        row[f"{key}_ci_high"] = rate.get("ci_high")
        row[f"{key}_n"] = rate.get("n")
    report = metrics.get("self_report") or {}
    row["self_report_mean"] = report.get("mean")
    # The design's own headline figures (switch points, below-opt-out shares, ...), each with
    # its interval and n: sandbox/display/headline.py says which.
    from sandbox.display.headline import design_headlines

    for item in design_headlines(metrics):
        row[f"headline.{item.key}"] = item.value
        row[f"headline.{item.key}_ci_low"] = item.ci_low
        row[f"headline.{item.key}_ci_high"] = item.ci_high
        row[f"headline.{item.key}_n"] = item.n
    for category, rate in sorted((metrics.get("choice_share") or {}).items()):
        row[f"choice_share.{category}"] = (rate or {}).get("value")
    row["cost_usd"] = metrics.get("cost_usd")
    return row


def write_summary(sweep_dir: Path) -> list[dict[str, Any]]:
    """Write ``summary.csv`` and ``summary.json`` in ``sweep_dir``; returns the rows."""
    rows = []
    for job in job_dirs(sweep_dir):
        name = job_name(sweep_dir, job)
        try:
            rows.append(job_row(job, name))
        except store.RunDirError as exc:
            rows.append({"job": name, "status": "unreadable", "reason": str(exc)})
    columns: list[str] = []
    for row in rows:
        columns.extend(k for k in row if k not in columns)
    buffer = io.StringIO()
    writer = csv.DictWriter(buffer, fieldnames=columns, lineterminator="\n")
    writer.writeheader()
    writer.writerows(rows)
    store.write_text_atomic(sweep_dir / SUMMARY_CSV, buffer.getvalue())
    summary: dict[str, Any] = {"jobs": rows}
    ledger = sweep_dir / LEDGER
    if ledger.is_file():  # the sweep's shared budget (sandbox/budget.py)
        try:
            state = read_ledger(ledger)
            summary["budget"] = {
                k: state.get(k) for k in ("limit_usd", "spent_usd", "reserved_usd", "runs")
            }
        except BudgetExceeded as exc:  # a damaged ledger
            summary["budget"] = {"error": str(exc)}
    store.write_json_atomic(sweep_dir / SUMMARY_JSON, summary)
    return rows


try:
    from hydra.experimental.callback import Callback
except ImportError:  # pragma: no cover - hydra is a dependency; this keeps the module importable
    Callback = object  # type: ignore[assignment,misc]


#: The rows of the last summary this process wrote at the end of a sweep (``wsb run`` derives
#: its exit status from them, whichever launcher ran the jobs).
last_rows: list[dict[str, Any]] | None = None


class SweepSummaryCallback(Callback):
    """Hydra callback: sweep progress as each job ends; the sweep summary when a multirun ends.

    After each job (in the process that ran it, whatever the launcher) one line of sweep
    progress is printed, or the sweep table when stdout is a terminal. A failure to show
    progress never fails the job.
    """

    def on_multirun_start(self, config: Any, **kwargs: Any) -> None:
        self._sweep_dir = Path(config.hydra.sweep.dir)
        # Travels with the callback to a launcher's workers (joblib pickles it).
        self._sweep_pid = os.getpid()

    def on_job_start(self, config: Any, **kwargs: Any) -> None:
        if getattr(self, "_sweep_pid", None) not in (None, os.getpid()):
            # A worker process of the sweep: it composes each of its next jobs from the same
            # files and plugins, so each is read once (sandbox.composition).
            from sandbox.composition import cache_in_worker

            cache_in_worker()

    def on_job_end(self, config: Any, job_return: Any, **kwargs: Any) -> None:
        try:
            hydra = config.hydra
            if "MULTIRUN" not in str(hydra.mode):
                return  # a single run: no sweep view to import (a tenth of a second)
            from sandbox.display.sweep_view import print_progress

            print_progress(Path(hydra.sweep.dir), Path(hydra.runtime.output_dir))
        except Exception as exc:  # progress is a courtesy: never fail a job over it
            log.debug("sweep progress not shown: %s", exc)

    def on_multirun_end(self, config: Any, **kwargs: Any) -> None:
        sweep_dir = Path(config.hydra.sweep.dir)
        if not sweep_dir.is_dir():
            return
        rows = write_summary(sweep_dir)
        global last_rows
        last_rows = rows
        failed = sum(1 for row in rows if row.get("status") not in ("complete",))
        print(
            f"sweep summary: {len(rows)} jobs ({failed} not complete) -> {sweep_dir / SUMMARY_CSV}"
        )
