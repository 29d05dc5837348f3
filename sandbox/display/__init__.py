"""Views of a run: the protocol (:mod:`.base`), its null, plain and live implementations, and
the chooser :func:`make_display`.

Importing this package imports no view and no rich: :func:`make_display` imports the one it
builds. ``auto`` is rich only for a terminal the run has in the foreground (``wsb run ... &``
prints plain lines instead of drawing over the prompt).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, TextIO

if TYPE_CHECKING:
    from sandbox.config import DisplayConfig
    from sandbox.display.base import Display


def make_display(cfg: DisplayConfig, *, stream: TextIO | None = None) -> Display:
    """The view ``cfg.mode`` asks for.

    ``auto`` is rich when ``stream`` is a terminal and the run is in its foreground, plain
    otherwise (a pipe, a log file, a run in the background).
    """
    import sys

    from sandbox.display.base import in_foreground
    from sandbox.display.null import NullDisplay
    from sandbox.errors import ConfigError

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
