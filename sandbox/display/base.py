"""The display protocol: the runner reports events here and never imports rich.

Implementations: :class:`NullDisplay` (``display=none``: only the final summary),
``PlainDisplay`` (one line per episode, for logs and pipes) and ``LiveDisplay`` (rich, in a
terminal). :func:`make_display` chooses once.
"""

from __future__ import annotations

import sys
from collections import Counter
from dataclasses import dataclass, field
from typing import Any, Protocol, TextIO

from sandbox.config import DisplayConfig
from sandbox.errors import ConfigError


@dataclass(slots=True)
class RunHeader:
    """What a view shows about the run as a whole.

    Attributes:
        run_dir: Where the run writes.
        experiment: Experiment name.
        env_id: Environment id.
        agent: Agent name (and preset).
        condition: Intervention name.
        episodes: Episodes planned.
        done: Episodes already finished (a resumed run).
    """

    run_dir: str
    experiment: str
    env_id: str
    agent: str
    condition: str
    episodes: int
    done: int = 0


@dataclass(slots=True)
class StepEvent:
    """One step as views show it.

    Attributes:
        record: The step record as written to the log.
        text: The observation text the agent read before acting.
        menu: The menu lines the agent saw.
        labels: Researcher-only labels of that observation (categories of the menu).
    """

    record: dict[str, Any]
    text: str
    menu: list[str]
    labels: dict[str, Any]


class Display(Protocol):
    """What the runner calls; every method is cheap (views draw on their own schedule).

    A view with ``shows_steps = False`` is not sent step events (the runner skips building
    them).
    """

    shows_steps: bool

    def run_started(self, header: RunHeader) -> None: ...

    def step(self, event: StepEvent) -> None: ...

    def episode_ended(self, record: dict[str, Any]) -> None: ...

    def message(self, text: str) -> None: ...

    def run_ended(self, status: str, metrics: dict[str, Any] | None) -> None: ...


@dataclass
class RunningProxies:
    """Tallies a view keeps while the run goes (the final figures come from metrics.json)."""

    decisions: int = 0
    tasks: Counter[str] = field(default_factory=Counter)
    refusals: int = 0
    refusable: int = 0
    rests: int = 0
    restable: int = 0
    exits: int = 0
    exit_offered: int = 0
    invalid: int = 0
    steps: int = 0
    ratings: list[int] = field(default_factory=list)
    episodes_done: int = 0
    tokens: int = 0
    cost_usd: float = 0.0

    def add_step(self, record: dict[str, Any]) -> None:
        self.steps += 1
        kind = record["action"]["kind"]
        mask = record.get("mask", ())
        info = record.get("info") or {}
        if record.get("invalid"):
            self.invalid += 1
            return
        if "REFUSE" in mask:
            self.refusable += 1
            self.refusals += kind == "REFUSE"
        if "REST" in mask:
            self.restable += 1
            self.rests += kind == "REST"
        if "EXIT" in mask:
            self.exit_offered += 1
            self.exits += kind == "EXIT"
        if kind == "TASK":
            chosen = info.get("chosen") or {}
            self.tasks[str(chosen.get("category", "?"))] += 1
        elif kind == "REPORT" and info.get("rating") is not None:
            self.ratings.append(int(info["rating"]))
        usage = record.get("usage")
        if usage:
            self.tokens += int(usage.get("input_tokens", 0)) + int(usage.get("output_tokens", 0))
            self.cost_usd += float(usage.get("cost_usd") or 0.0)

    @staticmethod
    def rate(k: int, n: int) -> str:
        return f"{k / n:.0%} ({k}/{n})" if n else "n/a"


class NullDisplay:
    """``display=none``: prints the final summary only."""

    shows_steps = False

    def __init__(self, stream: TextIO | None = None) -> None:
        self.stream = stream or sys.stdout

    def run_started(self, header: RunHeader) -> None:
        self.header = header

    def step(self, event: StepEvent) -> None:
        return None

    def episode_ended(self, record: dict[str, Any]) -> None:
        return None

    def message(self, text: str) -> None:
        return None

    def run_ended(self, status: str, metrics: dict[str, Any] | None) -> None:
        from sandbox.display.plain import summary_lines

        for line in summary_lines(self.header, status, metrics):
            print(line, file=self.stream)


def make_display(cfg: DisplayConfig, *, stream: TextIO | None = None) -> Display:
    """The view ``cfg.mode`` asks for (``auto``: rich when stdout is a terminal)."""
    stream = stream or sys.stdout
    mode = cfg.mode
    if mode == "auto":
        mode = "rich" if stream.isatty() else "plain"
    if mode == "none":
        return NullDisplay(stream)
    if mode == "plain":
        from sandbox.display.plain import PlainDisplay

        return PlainDisplay(stream)
    if mode == "rich":
        from sandbox.display.live import LiveDisplay

        return LiveDisplay(cfg)
    raise ConfigError(f"display.mode must be auto, rich, plain or none, got {mode!r}")
