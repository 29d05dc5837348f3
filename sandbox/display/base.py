"""The display protocol: the runner reports events here and never imports rich.

Implementations: :class:`NullDisplay` (``display=none``: only the final summary),
``PlainDisplay`` (one line per episode, for logs and pipes) and ``LiveDisplay`` (rich, in a
terminal). :func:`make_display` chooses once: ``auto`` is rich only for a terminal the run has
in the foreground (``wsb run ... &`` prints plain lines instead of drawing over the prompt).
"""

from __future__ import annotations

import os
import sys
from collections import Counter
from dataclasses import dataclass, field
from typing import Any, Protocol, TextIO

from sandbox.config import DisplayConfig
from sandbox.display.safe import one_line
from sandbox.errors import ConfigError
from sandbox.metrics.rates import TOKEN_FIELDS

#: The usage field of tokens served from the prompt cache (the rest were processed anew).
CACHED_TOKENS = "cache_read_input_tokens"


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

    def stopping(self, reason: str) -> None:
        """The run is stopping early (Ctrl-C, a signal): say so at once, before the final files
        are written, and what will be written."""
        ...

    def run_ended(self, status: str, metrics: dict[str, Any] | None) -> None: ...


def token_split(usage: Any) -> tuple[int, int]:
    """``(uncached, cached)`` tokens of one usage dict, as ``metrics.json`` counts them.

    ``metrics.json``'s ``tokens.total`` sums every field of
    :data:`sandbox.metrics.rates.TOKEN_FIELDS`; of those, ``cache_read_input_tokens`` were read
    from the prompt cache (cached) and the others (input, output, cache writes) were not.
    """
    if not isinstance(usage, dict):
        return 0, 0
    uncached = cached = 0
    for key in TOKEN_FIELDS:
        value = usage.get(key)
        if isinstance(value, int) and not isinstance(value, bool) and value > 0:
            if key == CACHED_TOKENS:
                cached += value
            else:
                uncached += value
    return uncached, cached


def tokens_cell(uncached: int, cached: int) -> str:
    """``823,284 (3,980 uncached, 819,304 cached)``: the total ``metrics.json`` reports."""
    return f"{uncached + cached:,} ({uncached:,} uncached, {cached:,} cached)"


def stopping_line(header: RunHeader | None, reason: str, finished: int) -> str:
    """What a view says at once when the run is stopping early."""
    where = f" in {header.run_dir}" if header is not None else ""
    return (
        f"{reason}: stopping now. Keeping the {finished} finished episodes; writing "
        f"metrics.json and run.json (status partial){where} ..."
    )


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
        from sandbox.display.plain import summary_lines

        for line in summary_lines(self.header, status, metrics):
            print(line, file=self.stream)


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


def make_display(cfg: DisplayConfig, *, stream: TextIO | None = None) -> Display:
    """The view ``cfg.mode`` asks for.

    ``auto`` is rich when ``stream`` is a terminal and the run is in its foreground, plain
    otherwise (a pipe, a log file, a run in the background).
    """
    stream = stream or sys.stdout
    mode = cfg.mode
    if mode == "auto":
        mode = "rich" if in_foreground(stream) else "plain"
    if mode == "none":
        return NullDisplay(stream)
    if mode == "plain":
        from sandbox.display.plain import PlainDisplay

        return PlainDisplay(stream)
    if mode == "rich":
        from sandbox.display.live import LiveDisplay

        return LiveDisplay(cfg)
    raise ConfigError(f"display.mode must be auto, rich, plain or none, got {mode!r}")
