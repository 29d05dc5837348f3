"""The display protocol: the runner reports events here and never imports rich.

This module imports no view: implementations are :class:`~sandbox.display.null.NullDisplay`
(``display=none``: only the final summary; re-exported here), ``PlainDisplay`` (one line per
episode, for logs and pipes, :mod:`sandbox.display.plain`) and ``LiveDisplay`` (rich, in a
terminal, :mod:`sandbox.display.live`). :func:`sandbox.display.make_display` chooses once.
"""

from __future__ import annotations

import os
from typing import Any, Protocol, TextIO

from sandbox.display.events import RunHeader, StepEvent
from sandbox.display.null import NullDisplay
from sandbox.display.text import CACHED_TOKENS, stopping_line, token_split, tokens_cell
from sandbox.metrics.tally import RunningFigures

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


#: The figures a live or plain view shows while the run goes: the run's tally
#: (:mod:`sandbox.metrics.tally`), so they are the figures ``metrics.json`` gives at the end.
RunningProxies = RunningFigures


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
