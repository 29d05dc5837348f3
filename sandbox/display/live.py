"""The rich live view of a run: the latest step, the menu with its researcher-only labels, the
action and the agent's note, running proxies, and progress over episodes.

Every piece of text that a model, a subject or a bank wrote goes through
:func:`sandbox.display.safe.clean` and into a ``rich.text.Text`` (never parsed as markup).
The runner calls :meth:`LiveDisplay.step` cheaply; rich redraws on its own timer.

The view always fits the terminal: below :data:`COMPACT_BELOW` columns it stacks the step
above a two-column block of proxies (labels never wrap, menu options keep the width they
need), and in any size the observation text gets only the rows the rest leaves free
(:func:`fit_height`), so rich never has to cut the frame with "...". The run's header and its
directory are printed once, at the start, above the live area: a second terminal can
``wsb watch`` the directory at once.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

from rich.console import Console, Group, RenderableType
from rich.live import Live
from rich.panel import Panel
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn
from rich.table import Table
from rich.text import Text

from sandbox.config import DisplayConfig
from sandbox.display.base import RunningProxies, in_background
from sandbox.display.events import RunHeader, StepEvent
from sandbox.display.plain import PlainDisplay
from sandbox.display.safe import clean, one_line, safe_text
from sandbox.display.text import header_lines, stopping_line, summary_lines, tokens_cell

_SPARK = "▁▂▃▄▅▆▇█"
#: Below this many columns the views use their compact, stacked layout.
COMPACT_BELOW = 100
#: Most lines of the observation text a step shows.
TEXT_LINES = 14
#: Seconds between two checks that the run still has the terminal's foreground.
FOREGROUND_CHECK_S = 0.5
#: Kinds whose target is a menu option (shown as its letter).
_TARGETED = ("TASK", "REFUSE", "MOVE", "READ")


def sparkline(values: list[int], lo: int = 1, hi: int = 7, width: int = 40) -> str:
    """Ratings as a one-line bar chart (the last ``width`` of them)."""
    span = max(hi - lo, 1)
    return "".join(_SPARK[round((v - lo) / span * (len(_SPARK) - 1))] for v in values[-width:])


def option_letter(target: Any) -> str:
    """``A`` for target 0 (``?`` for a target that is not a menu index)."""
    if isinstance(target, int) and not isinstance(target, bool) and 0 <= target < 26:
        return chr(65 + target)
    return "?"


def step_view(
    event: StepEvent, width: int = 100, *, compact: bool = False, text_lines: int = TEXT_LINES
) -> RenderableType:
    """The observation, menu (with researcher-only labels), action and note of one step.

    Args:
        event: The step.
        width: Characters of the longest one-line texts (action text, note).
        compact: Narrow-terminal layout: every row one line (cut with "…", never wrapped).
        text_lines: Most lines of the observation text shown (its last lines).
    """
    record = event.record
    action = record.get("action") or {}
    kind = one_line(str(action.get("kind", "?")), 20)
    body = Table.grid(padding=(0, 1), expand=True)
    body.add_column(ratio=1, no_wrap=compact, overflow="ellipsis")
    if text_lines > 0:
        text_rows = clean(event.text, 4000).splitlines()[-text_lines:]
        for line in text_rows if compact else ["\n".join(text_rows)]:
            body.add_row(Text(line, style="white"))
    labels = event.labels.get("menu") or []
    if any(event.menu):
        menu = Table(box=None, show_header=True, header_style="dim", pad_edge=False, expand=True)
        menu.add_column("", width=1, no_wrap=True)
        menu.add_column("option", ratio=1, no_wrap=True, overflow="ellipsis", min_width=12)
        menu.add_column(
            "category*" if compact else "category (researcher only)",
            style="magenta",
            no_wrap=True,
            overflow="ellipsis",
            max_width=18 if compact else 30,
        )
        menu.add_column("avers." if not compact else "av.", justify="right", style="magenta")
        for i, line in enumerate(event.menu):
            if not line:
                continue
            label = labels[i] if i < len(labels) and isinstance(labels[i], dict) else {}
            chosen = kind in ("TASK", "REFUSE") and action.get("target") == i
            aversiveness = label.get("aversiveness")
            menu.add_row(
                Text(chr(65 + i) if i < 26 else "?", style="bold green" if chosen else ""),
                Text(one_line(line, width), style="bold" if chosen else ""),
                safe_text(label.get("category", ""), 40),
                Text(f"{aversiveness:.2f}" if isinstance(aversiveness, int | float) else ""),
            )
        body.add_row(menu)
    act = Text("action: ", style="bold")
    act.append(kind, style="bold cyan")
    if kind in _TARGETED:
        act.append(f" {option_letter(action.get('target'))}")
    elif kind == "REPORT":
        act.append(f" rating {one_line(str(action.get('target')), 4)}/7")
    if record.get("invalid"):
        info = record["info"] if isinstance(record.get("info"), dict) else {}
        reason = one_line(str(info.get("invalid_reason") or ""), 80)
        act.append(f"  invalid: {reason}", style="red")
    if action.get("text") and kind != "REPORT":
        act.append("  text: ", style="dim")
        act.append(one_line(str(action["text"]), width))
    body.add_row(act)
    if record.get("note"):
        note = Text("note: ", style="bold")
        note.append(one_line(str(record["note"]), 2 * width), style="italic")
        body.add_row(note)
    title = safe_text(f"episode {record.get('episode', '?')} · step {record.get('step', '?')}", 60)
    return Panel(body, title=title, title_align="left", border_style="blue")


def _rate(k: int, n: int, compact: bool) -> str:
    if not n:
        return "n/a"
    return f"{k / n:.0%} {k}/{n}" if compact else f"{k / n:.0%} ({k}/{n})"


def proxy_rows(tally: RunningProxies, *, compact: bool = False) -> list[tuple[str, str]]:
    """The running proxies as (label, value) pairs; category names are cleaned."""
    rows = [
        ("refusal rate", _rate(tally.refusals, tally.refusable, compact)),
        ("rest rate", _rate(tally.rests, tally.restable, compact)),
        ("exit choices", str(tally.exits) if tally.exit_offered else "not offered"),
        ("invalid actions", _rate(tally.invalid, tally.actions, compact)),
    ]
    if tally.ratings:
        mean = sum(tally.ratings) / len(tally.ratings)
        spark = sparkline(tally.ratings, width=12 if compact else 40)
        rows.append(("self-report", f"{mean:.2f} (1-7) {spark}"))
    if tally.tokens or tally.cost_usd:
        rows.append(("tokens", tokens_cell(tally.uncached_tokens, tally.cached_tokens)))
        rows.append(("cost", f"${tally.cost_usd:.4f}"))
    return rows


def choice_line(tally: RunningProxies, width: int) -> Text | None:
    """``chose: creative 41% · analytical 31% · ...`` on one line (bank names cleaned)."""
    total = sum(tally.tasks.values())
    if not total:
        return None
    parts = [f"{one_line(cat, 30)} {n / total:.0%}" for cat, n in tally.tasks.most_common()]
    line = Text("chose: ", style="dim")
    line.append(one_line(" · ".join(parts), max(width, 20)))
    return line


def proxies_view(tally: RunningProxies, *, compact: bool = False, width: int = 80) -> Panel:
    """Running tallies (final proxies with intervals come from metrics.json).

    Compact: two (label, value) pairs a row and the choice shares on one line; wide: one pair a
    row and one row per category. Labels never wrap.
    """
    rows = proxy_rows(tally, compact=compact)
    table = Table(box=None, show_header=False, pad_edge=False, expand=compact)
    if compact:
        for _ in range(2):
            table.add_column(style="dim", no_wrap=True)
            table.add_column(no_wrap=True, overflow="ellipsis", ratio=1)
        short = {"refusal rate": "refusal", "rest rate": "rest", "exit choices": "exits"}
        short["invalid actions"] = "invalid"
        pairs = [(short.get(k, k), v) for k, v in rows if k not in ("tokens", "cost")]
        for a, b in zip(pairs[::2], [*pairs[1::2], ("", "")], strict=False):
            table.add_row(Text(a[0]), Text(a[1]), Text(b[0]), Text(b[1]))
        extra = [Text(f"{k} {v}") for k, v in rows if k in ("tokens", "cost")]
        parts: list[RenderableType] = [table]
        if extra:
            money = Text(" · ").join(extra)
            money.no_wrap, money.overflow = True, "ellipsis"
            parts.append(money)
        chose = choice_line(tally, width * 3)
        if chose is not None:
            chose.no_wrap, chose.overflow = True, "ellipsis"
            parts.append(chose)
        return Panel(
            Group(*parts), title="running proxies", title_align="left", border_style="green"
        )
    table.add_column(style="dim", no_wrap=True)
    table.add_column()
    total = sum(tally.tasks.values())
    for cat, n in tally.tasks.most_common(8):
        table.add_row(Text(f"chose {one_line(cat, 24)}"), Text(f"{n / total:.0%}"))
    for label, value in rows:
        table.add_row(Text(label), Text(value))
    return Panel(table, title="running proxies", title_align="left", border_style="green")


def rendered_height(console: Console, renderable: RenderableType, width: int) -> int:
    """Rows ``renderable`` takes at ``width`` columns."""
    options = console.options.update(width=width, height=None)
    return len(console.render_lines(renderable, options, pad=False))


def fit_height(
    console: Console,
    build: Callable[[int], RenderableType],
    width: int,
    height: int,
    *,
    one_row_per_line: bool = False,
) -> RenderableType:
    """``build(n)`` with the most observation lines ``n`` (up to :data:`TEXT_LINES`) that keep
    it within ``height`` rows (``build(0)`` if even that is taller).

    The frame without text is measured once; with ``one_row_per_line`` (the compact layout,
    where no line wraps) that settles ``n``; otherwise the result is measured and ``n`` cut
    by the excess until it fits (wrapped lines take more than one row).
    """
    free = height - rendered_height(console, build(0), width)
    lines = max(0, min(TEXT_LINES, free))
    view = build(lines)
    if one_row_per_line:
        return view
    while lines > 0:
        over = rendered_height(console, view, width) - height
        if over <= 0:
            break
        lines = max(0, lines - over)
        view = build(lines)
    return view


class LiveDisplay:
    """The rich live view; chosen by ``display=rich`` or ``auto`` in a foreground terminal."""

    shows_steps = True

    def __init__(self, cfg: DisplayConfig, console: Console | None = None) -> None:
        self.cfg = cfg
        self.console = console or Console()
        self.tally = RunningProxies()
        self.latest: StepEvent | None = None
        self.messages: list[str] = []
        self.header: RunHeader | None = None
        self._title = self._short_title = ""
        self.progress = Progress(
            TextColumn("episodes"),
            BarColumn(bar_width=None),
            MofNCompleteColumn(),
            TimeElapsedColumn(),
            console=self.console,
            expand=True,
        )
        self._task = self.progress.add_task("episodes", total=1)
        self._live: Live | None = None
        #: Set once the run was sent to the background: plain lines from then on.
        self.plain: PlainDisplay | None = None
        self._checked = 0.0

    def _to_background(self) -> bool:
        """Whether the run now prints plain lines, because the terminal's foreground went to
        another process (Ctrl-Z then ``bg``): a live view there would draw over the prompt."""
        if self.plain is not None:
            return True
        now = time.monotonic()
        if now - self._checked < FOREGROUND_CHECK_S:
            return False
        self._checked = now
        if self._live is None or not in_background(self.console.file):
            return False
        self._live.stop()
        self._live = None
        self.plain = PlainDisplay(self.console.file)  # type: ignore[arg-type]
        self.plain.tally = self.tally
        if self.header is not None:
            self.plain.header = self.header
        self.plain.message("in the background now: plain lines from here on")
        return True

    def _render(self) -> RenderableType:
        width, height = self.console.size
        compact = width < COMPACT_BELOW
        messages = [Text(line, style="yellow", no_wrap=True) for line in self.messages[-3:]]
        # The title, the messages and the progress bar take a row each.
        free = max(4, height - 2 - len(messages))

        def build(lines: int) -> RenderableType:
            title = self._short_title if compact else self._title
            parts: list[RenderableType] = [
                Text(title, style="bold", no_wrap=True, overflow="ellipsis")
            ]
            if self.latest is not None:
                if compact:
                    parts.append(step_view(self.latest, width, compact=True, text_lines=lines))
                    parts.append(proxies_view(self.tally, compact=True, width=width - 4))
                else:
                    grid = Table.grid(expand=True)
                    grid.add_column(ratio=3)
                    grid.add_column(ratio=2)
                    grid.add_row(
                        step_view(self.latest, max(40, width - 50), text_lines=lines),
                        proxies_view(self.tally),
                    )
                    parts.append(grid)
            return Group(*parts)

        body = fit_height(self.console, build, width, free, one_row_per_line=compact)
        return Group(body, *messages, self.progress)

    def run_started(self, header: RunHeader) -> None:
        self.header = header
        self._title = one_line(
            f"{header.experiment} · {header.env_id} · agent {header.agent} · "
            f"condition {header.condition}",
            300,
        )
        env = header.env_id.rsplit("/", 1)[-1]
        self._short_title = one_line(
            f"{header.experiment} · {env} · {header.agent} · condition {header.condition}", 300
        )
        # Printed once, before anything else is drawn: visible at once, and kept in the
        # terminal's scrollback above the live area.
        for line in header_lines(header):
            self.console.print(Text(line), soft_wrap=True)  # a path stays whole to copy
        self.tally.episodes_done = header.done
        self.progress.update(self._task, total=header.episodes, completed=header.done)
        self._live = Live(
            get_renderable=self._render,
            console=self.console,
            refresh_per_second=self.cfg.refresh_per_second,
            transient=False,
            vertical_overflow="crop",
        )
        self._live.start(refresh=True)

    def step(self, event: StepEvent) -> None:
        if self._to_background():
            assert self.plain is not None
            self.plain.step(event)  # counts it in the shared tally
            return
        self.tally.add_step(event.record)
        self.latest = event
        if self.cfg.step_delay_s > 0:
            time.sleep(self.cfg.step_delay_s)

    def episode_ended(self, record: dict[str, Any]) -> None:
        if self._to_background():
            assert self.plain is not None
            self.plain.episode_ended(record)  # counts it in the shared tally
            return
        self.tally.end_episode(record)
        self.progress.advance(self._task)
        if record.get("error"):
            self.message(f"episode {record['episode']} errored: {record['error']}")

    def message(self, text: str) -> None:
        if self.plain is not None:
            self.plain.message(text)
            return
        self.messages.append(one_line(text, 200))

    def stopping(self, reason: str) -> None:
        """Stop redrawing and say at once that the run stops and what it writes."""
        if self.plain is not None:
            self.plain.stopping(reason)
            return
        self._stop_live()
        line = stopping_line(self.header, reason, self.tally.episodes_done)
        self.console.print(Text(one_line(line, 1000), style="bold yellow"))

    def _stop_live(self) -> None:
        if self._live is not None:
            self._live.refresh()
            self._live.stop()
            self._live = None

    def run_ended(self, status: str, metrics: dict[str, Any] | None) -> None:
        self._stop_live()
        if self.header is None:
            return
        for line in summary_lines(self.header, status, metrics):
            self.console.print(Text(line))
