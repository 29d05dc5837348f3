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
from pathlib import Path
from typing import Any

from sandbox import store

log = logging.getLogger(__name__)

#: Rates reported per job, as value and interval.
HEADLINE_RATES = ("refusal_rate", "rest_rate", "exit_rate", "invalid_action_rate")


def job_dirs(sweep_dir: Path) -> list[Path]:
    """Job directories of a sweep (those with a ``run.json``), in job-number order."""

    def number(path: Path) -> tuple[int, str]:
        head = path.name.split("-", 1)[0]
        return (int(head) if head.isdigit() else 1 << 30, path.name)

    return sorted((p for p in sweep_dir.iterdir() if (p / store.RUN_JSON).is_file()), key=number)


def job_row(job: Path) -> dict[str, Any]:
    """One summary row: the job's overrides, status and headline proxies."""
    run = store.read_json(job / store.RUN_JSON)
    overrides = _overrides(job)
    row: dict[str, Any] = {
        "job": job.name,
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
    for category, rate in sorted((metrics.get("choice_share") or {}).items()):
        row[f"choice_share.{category}"] = (rate or {}).get("value")
    row["cost_usd"] = metrics.get("cost_usd")
    return row


def _overrides(job: Path) -> list[str]:
    path = job / ".hydra" / "overrides.yaml"
    if not path.exists():
        return []
    import yaml

    loaded = yaml.safe_load(path.read_text(encoding="utf-8")) or []
    return [str(item) for item in loaded]


def write_summary(sweep_dir: Path) -> list[dict[str, Any]]:
    """Write ``summary.csv`` and ``summary.json`` in ``sweep_dir``; returns the rows."""
    rows = []
    for job in job_dirs(sweep_dir):
        try:
            rows.append(job_row(job))
        except store.RunDirError as exc:
            rows.append({"job": job.name, "status": "unreadable", "reason": str(exc)})
    columns: list[str] = []
    for row in rows:
        columns.extend(k for k in row if k not in columns)
    buffer = io.StringIO()
    writer = csv.DictWriter(buffer, fieldnames=columns, lineterminator="\n")
    writer.writeheader()
    writer.writerows(rows)
    _write_text_atomic(sweep_dir / "summary.csv", buffer.getvalue())
    store.write_json_atomic(sweep_dir / "summary.json", {"jobs": rows})
    return rows


def _write_text_atomic(path: Path, text: str) -> None:
    import os
    import tempfile

    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", dir=path.parent)
    with os.fdopen(fd, "w", encoding="utf-8") as fh:
        fh.write(text)
        fh.flush()
        os.fsync(fh.fileno())
    os.replace(tmp, path)


try:
    from hydra.experimental.callback import Callback
except ImportError:  # pragma: no cover - hydra is a dependency; this keeps the module importable
    Callback = object  # type: ignore[assignment,misc]


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
        failed = sum(1 for row in rows if row.get("status") not in ("complete",))
        print(
            f"sweep summary: {len(rows)} jobs ({failed} not complete) -> "
            f"{sweep_dir / 'summary.csv'}"
        )
