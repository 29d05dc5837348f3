"""``display=none``: nothing while the run goes, the closing summary at its end."""

from __future__ import annotations

import sys
from typing import Any, TextIO

from sandbox.display.events import RunHeader, StepEvent
from sandbox.display.safe import one_line
from sandbox.display.text import stopping_line, summary_lines


class NullDisplay:
    """``display=none``: prints the final summary only."""

    shows_steps = False

    def __init__(self, stream: TextIO | None = None) -> None:
        self.stream = stream or sys.stdout
        self.finished = 0

    def run_started(self, header: RunHeader) -> None:
        self.header = header
        self.finished = header.done

    def step(self, event: StepEvent) -> None:
        return None

    def episode_ended(self, record: dict[str, Any]) -> None:
        self.finished += 1

    def message(self, text: str) -> None:
        return None

    def stopping(self, reason: str) -> None:
        line = stopping_line(getattr(self, "header", None), reason, self.finished)
        print(one_line(line, 1000), file=self.stream, flush=True)

    def run_ended(self, status: str, metrics: dict[str, Any] | None) -> None:
        for line in summary_lines(self.header, status, metrics):
            print(line, file=self.stream)
