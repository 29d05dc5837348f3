"""The rich live view of a run: the latest step, the menu with its researcher-only labels, the
action and the agent's note, running proxies, and progress over episodes.

Every piece of text that a model, a subject or a bank wrote goes through
:func:`sandbox.display.safe.clean` and into a ``rich.text.Text`` (never parsed as markup).
The runner calls :meth:`LiveDisplay.step` cheaply; rich redraws on its own timer.
"""

from __future__ import annotations

import time
from typing import Any

from rich.console import Console, Group, RenderableType
from rich.live import Live
from rich.panel import Panel
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn
from rich.table import Table
from rich.text import Text

from sandbox.config import DisplayConfig
from sandbox.display.base import RunHeader, RunningProxies, StepEvent
from sandbox.display.plain import summary_lines
from sandbox.display.safe import clean, one_line

_SPARK = "▁▂▃▄▅▆▇█"


def sparkline(values: list[int], lo: int = 1, hi: int = 7, width: int = 40) -> str:
    """Ratings as a one-line bar chart (the last ``width`` of them)."""
    span = max(hi - lo, 1)
    return "".join(_SPARK[round((v - lo) / span * (len(_SPARK) - 1))] for v in values[-width:])


def step_view(event: StepEvent, width: int = 100) -> RenderableType:
    """The observation, menu (with researcher-only labels), action and note of one step."""
    record = event.record
    action = record["action"]
    body = Table.grid(padding=(0, 1))
    body.add_column()
    text_lines = clean(event.text, 4000).splitlines()
    body.add_row(Text("\n".join(text_lines[-14:]), style="white"))
    labels = event.labels.get("menu") or []
    if any(event.menu):
        menu = Table(box=None, show_header=True, header_style="dim", pad_edge=False, expand=True)
        menu.add_column("", width=2)
        menu.add_column("option", ratio=1, no_wrap=True)
        menu.add_column("category (researcher only)", style="magenta", no_wrap=True)
        menu.add_column("avers.", justify="right", style="magenta")
        for i, line in enumerate(event.menu):
            if not line:
                continue
            label = labels[i] if i < len(labels) else {}
            chosen = action["kind"] in ("TASK", "REFUSE") and action["target"] == i
            menu.add_row(
                Text(chr(65 + i), style="bold green" if chosen else ""),
                Text(one_line(line, width), style="bold" if chosen else ""),
                Text(clean(str(label.get("category", "")), 40)),
                Text(f"{label['aversiveness']:.2f}" if "aversiveness" in label else ""),
            )
        body.add_row(menu)
    act = Text("action: ", style="bold")
    act.append(action["kind"], style="bold cyan")
    if action["kind"] in ("TASK", "REFUSE", "MOVE", "READ"):
        act.append(f" {chr(65 + int(action['target']))}")
    elif action["kind"] == "REPORT":
        act.append(f" rating {action['target']}/7")
    if record.get("invalid"):
        reason = one_line(str(record["info"].get("invalid_reason") or ""), 80)
        act.append(f"  invalid: {reason}", style="red")
    if action.get("text") and action["kind"] != "REPORT":
        act.append("  text: ", style="dim")
        act.append(one_line(action["text"], width))
    body.add_row(act)
    if record.get("note"):
        note = Text("note: ", style="bold")
        note.append(one_line(record["note"], 2 * width), style="italic")
        body.add_row(note)
    title = f"episode {record['episode']} · step {record['step']}"
    return Panel(body, title=title, title_align="left", border_style="blue")


def proxies_view(tally: RunningProxies) -> RenderableType:
    """Running tallies (final proxies with intervals come from metrics.json)."""
    table = Table(box=None, show_header=False, pad_edge=False)
    table.add_column(style="dim")
    table.add_column()
    total = sum(tally.tasks.values())
    for cat, n in tally.tasks.most_common():
        table.add_row(f"chose {cat}", f"{n / total:.0%}")
    table.add_row("refusal rate", tally.rate(tally.refusals, tally.refusable))
    table.add_row("rest rate", tally.rate(tally.rests, tally.restable))
    table.add_row("exit choices", str(tally.exits) if tally.exit_offered else "not offered")
    table.add_row("invalid actions", tally.rate(tally.invalid, tally.steps))
    if tally.ratings:
        mean = sum(tally.ratings) / len(tally.ratings)
        table.add_row("self-report", f"{mean:.2f} (1-7)  {sparkline(tally.ratings)}")
    if tally.tokens:
        table.add_row("tokens · cost", f"{tally.tokens:,} · ${tally.cost_usd:.4f}")
    return Panel(table, title="running proxies", title_align="left", border_style="green")


class LiveDisplay:
    """The rich live view; chosen by ``display=rich`` or ``auto`` in a terminal."""

    shows_steps = True

    def __init__(self, cfg: DisplayConfig, console: Console | None = None) -> None:
        self.cfg = cfg
        self.console = console or Console()
        self.tally = RunningProxies()
        self.latest: StepEvent | None = None
        self.messages: list[str] = []
        self.progress = Progress(
            TextColumn("episodes"),
            BarColumn(),
            MofNCompleteColumn(),
            TimeElapsedColumn(),
            console=self.console,
        )
        self._task = self.progress.add_task("episodes", total=1)
        self._live: Live | None = None

    def _render(self) -> RenderableType:
        parts: list[RenderableType] = [Text(self._title, style="bold")]
        if self.latest is not None:
            width = max(40, self.console.width - 50)
            grid = Table.grid(expand=True)
            grid.add_column(ratio=3)
            grid.add_column(ratio=2)
            grid.add_row(step_view(self.latest, width), proxies_view(self.tally))
            parts.append(grid)
        for line in self.messages[-3:]:
            parts.append(Text(line, style="yellow"))
        parts.append(self.progress)
        return Group(*parts)

    def run_started(self, header: RunHeader) -> None:
        self.header = header
        self._title = (
            f"{header.experiment} · {header.env_id} · agent {header.agent} · "
            f"condition {header.condition}"
        )
        self.tally.episodes_done = header.done
        self.progress.update(self._task, total=header.episodes, completed=header.done)
        self._live = Live(
            get_renderable=self._render,
            console=self.console,
            refresh_per_second=self.cfg.refresh_per_second,
            transient=False,
        )
        self._live.start()

    def step(self, event: StepEvent) -> None:
        self.tally.add_step(event.record)
        self.latest = event
        if self.cfg.step_delay_s > 0:
            time.sleep(self.cfg.step_delay_s)

    def episode_ended(self, record: dict[str, Any]) -> None:
        self.tally.episodes_done += 1
        self.progress.advance(self._task)
        if record.get("error"):
            self.message(f"episode {record['episode']} errored: {record['error']}")

    def message(self, text: str) -> None:
        self.messages.append(one_line(text, 200))

    def run_ended(self, status: str, metrics: dict[str, Any] | None) -> None:
        if self._live is not None:
            self._live.refresh()
            self._live.stop()
            self._live = None
        for line in summary_lines(self.header, status, metrics):
            self.console.print(Text(line))
