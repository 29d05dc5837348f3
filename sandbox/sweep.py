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

log = logging.getLogger(__name__)

#: Rates reported per job, as value and interval.
HEADLINE_RATES = (
    "refusal_rate",
    "rest_rate",
    "exit_rate",
    "invalid_action_rate",
    "api_refusal_rate",
    "any_refusal_rate",
    "truncation_rate",
)


def job_dirs(sweep_dir: Path) -> list[Path]:
    """Job directories of a sweep (those with a ``run.json``), in job-number order.

    Usually the sweep directory's children; an override value holding ``/`` (a bank's path)
    makes Hydra nest a job deeper, so a Hydra sweep directory (one with ``multirun.yaml``) is
    walked, without entering a job directory or a hidden one (``.hydra``, ``.submitit``). Any
    other directory (a folder of runs gathered by hand) gives its children only: pointing a
    report at ``/tmp`` must not dig through every run below it.
    """

    def number(path: Path) -> tuple[int, str]:
        name = path.relative_to(sweep_dir).as_posix()
        head = name.split("-", 1)[0]
        return (int(head) if head.isdigit() else 1 << 30, name)

    if not (sweep_dir / "multirun.yaml").is_file():
        children = (p for p in sweep_dir.iterdir() if p.is_dir() and store.is_run_dir(p))
        return sorted(children, key=number)
    found: list[Path] = []
    for root, dirs, files in os.walk(sweep_dir):
        if Path(root) != sweep_dir and store.RUN_JSON in files:
            found.append(Path(root))
            dirs.clear()  # transcripts/ and the like: no job lives inside a job
            continue
        dirs[:] = sorted(d for d in dirs if not d.startswith("."))
    return sorted(found, key=number)


def job_row(job: Path, name: str | None = None) -> dict[str, Any]:
    """One summary row: the job's overrides, status and headline proxies.

    Args:
        job: The job directory.
        name: Its name in the summary (default: the directory's name; the sweep passes its path
            relative to the sweep directory).
    """
    run = store.read_json(job / store.RUN_JSON)
    overrides = _overrides(job)
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


#: Overrides that say how a job was run, not what it ran: left out of the summary, so that a
#: resumed sweep (``resume=true``) summarises exactly as the first attempt did.
OPERATIONAL_KEYS = ("resume",)


def _overrides(job: Path) -> list[str]:
    path = job / ".hydra" / "overrides.yaml"
    if not path.exists():
        return []
    import yaml

    loaded = yaml.safe_load(path.read_text(encoding="utf-8")) or []
    return [
        str(item)
        for item in loaded
        if str(item).split("=", 1)[0].lstrip("+~") not in OPERATIONAL_KEYS
    ]


def write_summary(sweep_dir: Path) -> list[dict[str, Any]]:
    """Write ``summary.csv`` and ``summary.json`` in ``sweep_dir``; returns the rows."""
    rows = []
    for job in job_dirs(sweep_dir):
        name = job.relative_to(sweep_dir).as_posix()
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
    _write_text_atomic(sweep_dir / "summary.csv", buffer.getvalue())
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
    store.write_json_atomic(sweep_dir / "summary.json", summary)
    return rows


def _write_text_atomic(path: Path, text: str) -> None:
    store.write_text_atomic(path, text)


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

    def on_job_end(self, config: Any, job_return: Any, **kwargs: Any) -> None:
        try:
            from sandbox.display.sweep_view import print_progress

            hydra = config.hydra
            if "MULTIRUN" not in str(hydra.mode):
                return
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
            f"sweep summary: {len(rows)} jobs ({failed} not complete) -> "
            f"{sweep_dir / 'summary.csv'}"
        )
