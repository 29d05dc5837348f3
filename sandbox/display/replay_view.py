"""Showing a logged episode step by step, as the live view showed it (``wsb replay``).

:mod:`sandbox.replay` reads the episode back and rebuilds its observations; this module draws
it. In a terminal, with ``--speed X > 0``, steps are redrawn in place every ``1/X`` seconds; with
``--speed 0`` or without a terminal, every step is printed one after the other (plain text when
not a terminal).
"""

from __future__ import annotations

import time
from collections.abc import Callable
from pathlib import Path

from rich.console import Console, Group, RenderableType
from rich.live import Live
from rich.table import Table
from rich.text import Text

from sandbox.display.base import RunningProxies
from sandbox.display.live import COMPACT_BELOW, TEXT_LINES, fit_height, proxies_view, step_view
from sandbox.display.safe import one_line
from sandbox.errors import ConfigError
from sandbox.replay import LoggedEpisode, load_episode


def title(episode: LoggedEpisode) -> Text:
    """The run and the episode being replayed."""
    m = episode.manifest
    agent = (m.get("agent") or {}).get("name") or "?"
    condition = (m.get("intervention") or {}).get("name") or "?"
    env_id = (m.get("env") or {}).get("id") or "?"
    seed = (episode.end or {}).get("seed", "?")
    return Text(
        one_line(
            f"replay · {m.get('experiment', '?')} · {env_id} · agent {agent} · condition "
            f"{condition} · episode {episode.index} (seed {seed})",
            300,
        ),
        style="bold",
    )


def end_line(episode: LoggedEpisode) -> Text:
    """How the episode ended."""
    end = episode.end
    if end is None:
        return Text(f"episode {episode.index} did not finish in this log", style="yellow")
    text = Text(
        f"episode {episode.index} ended: {one_line(str(end.get('reason', '?')), 20)} after "
        f"{end.get('steps', '?')} steps, total reward {end.get('total_reward', '?')}"
    )
    if end.get("error"):
        text.append(f" · error: {one_line(str(end['error']), 200)}", style="red")
    return text


def frame(
    episode: LoggedEpisode,
    i: int,
    tally: RunningProxies,
    width: int,
    height: int | None = None,
    console: Console | None = None,
) -> RenderableType:
    """The live view at step ``i``: the step beside the episode's running proxies (stacked
    below :data:`~sandbox.display.live.COMPACT_BELOW` columns), within ``height`` rows."""
    compact = width < COMPACT_BELOW
    event = episode.events[i]
    progress = Text(f"step {i + 1}/{len(episode.events)}", style="dim")
    head = title(episode)
    head.no_wrap, head.overflow = True, "ellipsis"

    def build(lines: int) -> RenderableType:
        if compact:
            return Group(
                step_view(event, width, compact=True, text_lines=lines),
                proxies_view(tally, compact=True, width=width - 4),
            )
        grid = Table.grid(expand=True)
        grid.add_column(ratio=3)
        grid.add_column(ratio=2)
        grid.add_row(step_view(event, max(40, width - 50), text_lines=lines), proxies_view(tally))
        return grid

    if height is None or console is None:
        return Group(head, build(TEXT_LINES), progress)
    body = fit_height(console, build, width, max(4, height - 2), one_row_per_line=compact)
    return Group(head, body, progress)


def replay(
    run_dir: Path,
    *,
    episode: int | None = None,
    speed: float = 4.0,
    console: Console | None = None,
    sleep: Callable[[float], None] = time.sleep,
) -> int:
    """``wsb replay``: show a logged episode step by step; returns the exit status (0).

    Raises:
        RunDirError: Not a run directory, or the episode is not logged.
        ConfigError: ``speed`` is negative.
    """
    if speed < 0:
        raise ConfigError(f"--speed must be 0 (all at once) or a positive steps/s, got {speed}")
    console = console or Console()
    logged = load_episode(run_dir, episode)
    if logged.note:
        console.print(Text(logged.note, style="yellow"))
    tally = RunningProxies()
    pause = 1.0 / speed if speed > 0 else 0.0
    if console.is_terminal and speed > 0 and logged.events:
        with Live(console=console, auto_refresh=False, transient=False) as live:
            for i, event in enumerate(logged.events):
                tally.add_step(event.record)
                width, height = console.size
                live.update(frame(logged, i, tally, width, height, console), refresh=True)
                if i + 1 < len(logged.events):
                    sleep(pause)
    else:
        console.print(title(logged))
        for i, event in enumerate(logged.events):
            tally.add_step(event.record)
            compact = console.width < COMPACT_BELOW
            console.print(step_view(event, max(40, console.width - 10), compact=compact))
            if pause and i + 1 < len(logged.events):
                sleep(pause)
        console.print(proxies_view(tally, compact=console.width < COMPACT_BELOW))
    console.print(end_line(logged))
    return 0
