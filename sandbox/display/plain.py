"""Plain output: one line per finished episode and a closing summary (logs, pipes, CI)."""

from __future__ import annotations

import logging
import os
import sys
from typing import Any, TextIO

from sandbox.display.base import (
    RunHeader,
    RunningProxies,
    StepEvent,
    stopping_line,
    token_split,
    tokens_cell,
)
from sandbox.display.headline import fmt_headline, headlines
from sandbox.display.safe import clean, one_line

log = logging.getLogger(__name__)


def header_lines(header: RunHeader) -> list[str]:
    """The run's header, printed as soon as the run starts: what runs, and where it writes
    (so that a second terminal can follow it with ``wsb watch`` at once)."""
    resumed = f", resuming after {header.done} finished" if header.done else ""
    lines = [
        f"{header.experiment}: {header.episodes} episodes of {header.env_id}, agent "
        f"{header.agent}, condition {header.condition}{resumed}",
        f"run directory: {header.run_dir} (to follow it: wsb watch {header.run_dir})",
    ]
    return [one_line(line, 1000) for line in lines]


def summary_lines(header: RunHeader, status: str, metrics: dict[str, Any] | None) -> list[str]:
    """The closing summary: status, headline figures with intervals, where the run is.

    The headline figures are the design's own (below-opt-out shares, exit rate by method,
    switch points, the aversive room's share of reads) and the generic rates that have data;
    see :mod:`sandbox.display.headline`.
    """
    lines = [f"run {status}: {header.experiment} · {header.agent} · condition {header.condition}"]
    if metrics:
        invalid = (metrics.get("invalid_action_rate") or {}).get("value") or 0
        lines.append(
            f"  episodes {metrics.get('episodes', 0)}, steps {metrics.get('steps', 0)}, "
            f"invalid actions {invalid:.1%}"
        )
        for item in headlines(metrics):
            lines.append("  " + fmt_headline(item))
        shares = metrics.get("choice_share") or {}
        if shares:
            parts = [
                f"{cat} {rate['value']:.0%}"
                for cat, rate in sorted(shares.items(), key=lambda kv: -(kv[1]["value"] or 0))
                if rate.get("value") is not None
            ]
            if parts:
                lines.append("  choice share: " + ", ".join(parts))
        report = metrics.get("self_report") or {}
        if report.get("n"):
            lines.append(f"  self-report mean {report['mean']:.2f} (1-7), n={report['n']}")
        uncached, cached = token_split(metrics.get("tokens"))
        if uncached or cached:
            lines.append(f"  tokens {tokens_cell(uncached, cached)}")
        cost = metrics.get("cost_usd")
        if cost:
            lines.append(f"  cost ${cost:.4f}")
    lines.append(f"  run directory: {header.run_dir}")
    # Category names come from banks (untrusted): nothing here may reach a terminal raw.
    return [clean(line) for line in lines]


class PlainDisplay:
    """One line per episode; nothing per step (cheap and grep-able)."""

    shows_steps = True

    def __init__(self, stream: TextIO | None = None) -> None:
        self.stream = stream or sys.stdout
        self.tally = RunningProxies()
        self._per_episode: dict[int, RunningProxies] = {}

    def _print(self, line: str) -> None:
        """One line, flushed. A closed pipe (``wsb run | head -1``) does not stop the run: its
        output goes to /dev/null from then on (as Python's docs on SIGPIPE advise), and the run
        finishes writing its own files."""
        try:
            print(line, file=self.stream, flush=True)
        except BrokenPipeError:
            devnull = os.open(os.devnull, os.O_WRONLY)
            try:
                os.dup2(devnull, self.stream.fileno())
            except (OSError, ValueError):
                self.stream = open(os.devnull, "w")  # noqa: SIM115 (lives as long as the view)
            finally:
                os.close(devnull)
            log.info("standard output was closed; the run goes on and writes only its files")

    def run_started(self, header: RunHeader) -> None:
        self.header = header
        self.tally.episodes_done = header.done
        for line in header_lines(header):
            self._print(line)

    def step(self, event: StepEvent) -> None:
        record = event.record
        self.tally.add_step(record)
        self._per_episode.setdefault(record["episode"], RunningProxies()).add_step(record)

    def episode_ended(self, record: dict[str, Any]) -> None:
        self.tally.end_episode(record)
        ep = self._per_episode.pop(record["episode"], RunningProxies())
        tasks = sum(ep.tasks.values())
        error = f" error={one_line(record['error'], 80)}" if record.get("error") else ""
        self._print(
            f"episode {record['episode']:>3} [{self.tally.episodes_done}/{self.header.episodes}] "
            f"end={record['reason']} steps={record['steps']} tasks={tasks} "
            f"refusals={ep.refusals} rests={ep.rests} exits={ep.exits} "
            f"reward={record['total_reward']:g}{error}"
        )

    def message(self, text: str) -> None:
        self._print(one_line(text, 400))

    def stopping(self, reason: str) -> None:
        line = stopping_line(getattr(self, "header", None), reason, self.tally.episodes_done)
        self._print(one_line(line, 1000))

    def run_ended(self, status: str, metrics: dict[str, Any] | None) -> None:
        for line in summary_lines(self.header, status, metrics):
            self._print(line)
