"""The display protocol: the runner reports events here and never imports rich.

This module imports no view: implementations are :class:`~sandbox.display.null.NullDisplay`
(``display=none``: only the final summary; re-exported here), ``PlainDisplay`` (one line per
episode, for logs and pipes, :mod:`sandbox.display.plain`) and ``LiveDisplay`` (rich, in a
terminal, :mod:`sandbox.display.live`). :func:`sandbox.display.make_display` chooses once.
"""

from __future__ import annotations

import os
from collections import Counter
from dataclasses import dataclass, field
from typing import Any, Protocol, TextIO

from sandbox.display.events import RunHeader, StepEvent
from sandbox.display.null import NullDisplay
from sandbox.display.text import CACHED_TOKENS, stopping_line, token_split, tokens_cell

#: Re-exported for the runner and the views: the protocol's data, the null view, shared text.
__all__ = [
    "CACHED_TOKENS",
    "Display",
    "NullDisplay",
    "RunHeader",
    "RunningProxies",
    "StepEvent",
    "in_background",
    "in_foreground",
    "stopping_line",
    "token_split",
    "tokens_cell",
]


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

    def stopping(self, reason: str) -> None:
        """The run is stopping early (Ctrl-C, a signal): say so at once, before the final files
        are written, and what will be written."""
        ...

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
    uncached_tokens: int = 0
    cached_tokens: int = 0
    cost_usd: float = 0.0
    _episode_usage: dict[Any, tuple[int, int, float]] = field(default_factory=dict)

    @property
    def tokens(self) -> int:
        """Every token ``metrics.json`` counts (uncached and cached)."""
        return self.uncached_tokens + self.cached_tokens

    def add_step(self, record: dict[str, Any]) -> None:
        self.steps += 1
        self._add_usage(record.get("episode"), record.get("usage"))
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
            chosen = info.get("chosen")
            if isinstance(chosen, dict) and chosen.get("category") is not None:
                self.tasks[str(chosen["category"])] += 1
        elif kind == "REPORT" and info.get("rating") is not None:
            self.ratings.append(int(info["rating"]))

    def _add_usage(self, episode: Any, usage: Any) -> None:
        uncached, cached = token_split(usage)
        cost = usage.get("cost_usd") if isinstance(usage, dict) else None
        cost = float(cost) if isinstance(cost, int | float) and not isinstance(cost, bool) else 0.0
        self.uncached_tokens += uncached
        self.cached_tokens += cached
        self.cost_usd += cost
        u, c, d = self._episode_usage.get(episode, (0, 0, 0.0))
        self._episode_usage[episode] = (u + uncached, c + cached, d + cost)

    def end_episode(self, record: dict[str, Any]) -> None:
        """Count an ``episode_end``: its usage covers every call of the episode (also one whose
        step was never written), so it replaces what that episode's steps added."""
        self.episodes_done += 1
        usage = record.get("usage")
        before = self._episode_usage.pop(record.get("episode"), (0, 0, 0.0))
        if isinstance(usage, dict) and usage:
            self.uncached_tokens -= before[0]
            self.cached_tokens -= before[1]
            self.cost_usd -= before[2]
            self._add_usage(None, usage)
            self._episode_usage.pop(None, None)

    @staticmethod
    def rate(k: int, n: int) -> str:
        return f"{k / n:.0%} ({k}/{n})" if n else "n/a"


def in_foreground(stream: TextIO) -> bool:
    """Whether ``stream`` is a terminal whose foreground process group is this process's.

    A run started with ``&`` (or sent to the background) is not: drawing a live view there
    would paint over the user's prompt.
    """
    try:
        if not stream.isatty():
            return False
        return os.tcgetpgrp(stream.fileno()) == os.getpgrp()
    except (OSError, ValueError, AttributeError):  # no fileno, a closed stream, not a tty
        return False


def in_background(stream: Any) -> bool:
    """Whether ``stream`` is a terminal that another process group has in its foreground
    (the run was started with ``&``, or suspended and resumed with ``bg``)."""
    try:
        return bool(stream.isatty()) and os.tcgetpgrp(stream.fileno()) != os.getpgrp()
    except (OSError, ValueError, AttributeError):
        return False
