"""Plain output: one line per finished episode and a closing summary (logs, pipes, CI)."""

from __future__ import annotations

import logging
import os
import sys
from typing import Any, TextIO

from sandbox.display.base import RunningProxies
from sandbox.display.events import RunHeader, StepEvent
from sandbox.display.safe import one_line
from sandbox.display.text import header_lines, stopping_line, summary_lines

#: ``header_lines`` and ``summary_lines`` live in :mod:`sandbox.display.text`; kept here too.
__all__ = ["PlainDisplay", "header_lines", "summary_lines"]

log = logging.getLogger(__name__)


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
