"""Views of ``wsb watch``: a run or a sweep followed from its files.

The observation a subject read is not in the log, so a watched step shows its record: the
action, the note, and the menu as its researcher-only labels (task ids and categories).
Everything a subject, a model or a bank wrote goes through :func:`clean` / :func:`one_line`
into a ``rich.text.Text`` (never parsed as markup).

- :class:`RichRunView` / :class:`RichSweepView`: a rich ``Live`` redrawn when something changed
  (at most a few times a second), or a single snapshot (``--once``).
- :class:`PlainRunView` / :class:`PlainSweepView`: lines for logs and pipes, one per finished
  episode (job), a heartbeat while the run goes, and the closing summary.
"""

from __future__ import annotations

import io
import sys
import time
from pathlib import Path
from typing import Any, TextIO

from rich.console import Console, Group, RenderableType
from rich.live import Live
from rich.panel import Panel
from rich.progress_bar import ProgressBar
from rich.table import Table
from rich.text import Text

from sandbox.display.events import RunHeader, log_only
from sandbox.display.headline import Headline, design_headlines, fmt_headline, legend
from sandbox.display.live import COMPACT_BELOW, rendered_height, sparkline, step_view
from sandbox.display.safe import clean, clean_labels, one_line
from sandbox.display.sweep_view import rate_cell, sweep_line, sweep_table
from sandbox.display.text import summary_lines, tokens_cell
from sandbox.errors import RunDirError
from sandbox.metrics.stats import Rate
from sandbox.sweepdir import job_dirs, job_name
from sandbox.watch import JobRow, RunWatch, SweepWatch, as_dict, job_row

#: Shortest pause between two redraws of a live view (seconds).
MIN_REDRAW_S = 0.25
#: A live view redraws at least this often, for the clocks (seconds).
MAX_REDRAW_S = 1.0
#: Seconds ``wsb watch`` waits for a directory that does not exist yet.
APPEAR_WAIT_S = 10.0
#: Seconds between heartbeat lines of the plain view while nothing finishes.
HEARTBEAT_S = 10.0


class _Nowhere(io.StringIO):
    def write(self, text: str) -> int:
        return len(text)


#: Where the console that measures views writes (nothing).
_NOWHERE = _Nowhere()


def header_of(state: RunWatch) -> RunHeader:
    """The run's header from its manifest."""
    m = state.manifest
    agent = m.get("agent") or {}
    params = agent.get("parameters") or {}
    label = str(agent.get("name") or "?")
    detail = params.get("preset") or params.get("model")
    return RunHeader(
        run_dir=str(state.path),
        experiment=str(m.get("experiment") or "?"),
        env_id=str((m.get("env") or {}).get("id") or "?"),
        agent=f"{label}:{detail}" if detail else label,
        condition=str((m.get("intervention") or {}).get("name") or "?"),
        episodes=state.planned or 0,
    )


def _clock(seconds: float | None) -> str:
    if seconds is None:
        return "--:--"
    seconds = round(seconds)
    hours, rest = divmod(seconds, 3600)
    minutes, secs = divmod(rest, 60)
    return f"{hours}:{minutes:02d}:{secs:02d}" if hours else f"{minutes:02d}:{secs:02d}"


def title_line(state: RunWatch, compact: bool = False) -> Text:
    """Experiment, environment, agent, condition and status (one line, cut with "…")."""
    if not state.manifest:
        return Text(f"waiting for {one_line(str(state.path), 200)}/run.json", style="yellow")
    h = header_of(state)
    status = state.status or "?"
    text = Text(f"[{one_line(status, 20)}] ", style="cyan" if status == "running" else "green")
    env = h.env_id.rsplit("/", 1)[-1] if compact else h.env_id
    agent = h.agent if compact else f"agent {h.agent}"
    text.append(
        one_line(f"{h.experiment} · {env} · {agent} · condition {h.condition}", 200), style="bold"
    )
    text.no_wrap, text.overflow = True, "ellipsis"
    return text


def progress_line(state: RunWatch, compact: bool = False) -> RenderableType:
    """Episodes finished / planned as a bar, with elapsed time and ETA (one line)."""
    planned = state.planned or 0
    grid = Table.grid(padding=(0, 1))
    grid.add_column(no_wrap=True)
    grid.add_column(no_wrap=True, overflow="ellipsis")
    bar = ProgressBar(
        total=max(planned, 1), completed=min(state.done, planned), width=16 if compact else 40
    )
    text = Text(f"{state.done}/{planned or '?'} episodes")
    if state.in_flight:
        text.append(f" · {len(state.in_flight)} in flight")
    if compact:
        text.append(f" · {_clock(state.elapsed_s())} · ETA {_clock(state.eta_s())}")
    else:
        text.append(f" · elapsed {_clock(state.elapsed_s())} · ETA {_clock(state.eta_s())}")
    grid.add_row(bar, text)
    return grid


def watched_step(
    record: dict[str, Any], width: int = 80, *, compact: bool = False, text_lines: int = 1
) -> RenderableType:
    """A logged step as the live view draws it, from the record alone."""
    info = clean_labels(as_dict(record.get("info")))
    safe = dict(record)
    safe.setdefault("action", {"kind": "?", "target": 0, "text": ""})
    safe.setdefault("episode", "?")
    safe.setdefault("step", "?")
    return step_view(log_only(safe, info), width, compact=compact, text_lines=text_lines)


def in_flight_table(state: RunWatch, limit: int = 8) -> Table | None:
    """The latest step of each episode in flight (the most recent ``limit``), a line each."""
    if not state.in_flight or limit <= 0:
        return None
    table = Table(title="episodes in flight", title_justify="left", expand=True)
    table.add_column("ep", justify="right", no_wrap=True)
    table.add_column("step", justify="right", no_wrap=True)
    table.add_column("action", no_wrap=True)
    table.add_column(
        "menu (categories)", style="magenta", ratio=1, no_wrap=True, overflow="ellipsis"
    )
    table.add_column("note", ratio=2, no_wrap=True, overflow="ellipsis")
    flights = sorted(state.in_flight.values(), key=lambda f: -float((f.latest or {}).get("t") or 0))
    for flight in flights[:limit]:
        record = flight.latest or {}
        action = record.get("action") or {}
        kind = str(action.get("kind", "?"))
        if kind in ("TASK", "REFUSE", "MOVE", "READ") and isinstance(action.get("target"), int):
            kind += f" {chr(65 + action['target'])}" if 0 <= action["target"] < 26 else ""
        elif kind == "REPORT":
            kind += f" {action.get('target')}/7"
        info = as_dict(record.get("info"))
        cats = [
            str(lab.get("category", "?")) for lab in info.get("menu") or [] if isinstance(lab, dict)
        ]
        table.add_row(
            Text(str(flight.episode)),
            Text(str(record.get("step", "?"))),
            Text(one_line(kind, 20), style="cyan"),
            Text(one_line(", ".join(cats), 80)),
            Text(one_line(str(record.get("note") or ""), 200), style="italic"),
        )
    return table


def proxies_panel(state: RunWatch, compact: bool = False) -> RenderableType:
    """Running proxies over finished episodes, with their intervals (clustered by episode, as
    ``metrics.json``'s, and a legend line naming the methods); once the run has written
    ``metrics.json``, its headline figures (the design's own, with their intervals).

    Compact: two (label, value) pairs a row, the choice shares on one line; labels never wrap.
    """
    tally = state.finished
    exit_rate = tally.exit_rate()
    rows: list[tuple[str, str]] = [
        ("refusal rate", rate_cell(tally.refusal_rate())),
        ("rest rate", rate_cell(tally.rest_rate())),
        ("exit rate", rate_cell(exit_rate) if exit_rate["n"] else "not offered"),
        ("invalid actions", rate_cell(tally.invalid_rate())),
    ]
    if state.ratings:
        mean = tally.self_report_mean()
        shown = f"{mean:.2f} (1-7, finished) " if mean is not None else ""
        rows.append(("self-report", shown + sparkline(state.ratings, width=12 if compact else 40)))
    uncached, cached = state.token_split()
    cost = state.cost_usd()
    extra: list[str] = []
    if uncached or cached or cost:
        extra.append(f"tokens {tokens_cell(uncached, cached)}")
        extra.append("cost " + (f"${cost:.4f}" if cost is not None else "?"))
    shares = list(tally.choice_share().items())
    # Once metrics.json is written: the design's own figures (the generic rates are above).
    done = state.metrics if state.over and state.metrics else {}
    metrics_lines = [fmt_headline(h) for h in design_headlines(done)]
    parts: list[RenderableType] = []
    if compact:
        table = Table(box=None, show_header=False, pad_edge=False, expand=True)
        for _ in range(2):
            table.add_column(style="dim", no_wrap=True)
            table.add_column(no_wrap=True, overflow="ellipsis", ratio=1)
        short = {"refusal rate": "refusal", "rest rate": "rest", "exit rate": "exit"}
        short["invalid actions"] = "invalid"
        pairs = [(short.get(k, k), v) for k, v in rows]
        for a, b in zip(pairs[::2], [*pairs[1::2], ("", "")], strict=False):
            table.add_row(Text(a[0]), Text(a[1]), Text(b[0]), Text(b[1]))
        parts.append(table)
        lines = [" · ".join(extra)] if extra else []
        if shares:
            lines.append(
                "chose: "
                + " · ".join(f"{one_line(c, 30)} {rate_cell(r, with_n=False)}" for c, r in shares)
            )
        lines.extend(metrics_lines)
        parts.extend(Text(clean(line, 600), no_wrap=True, overflow="ellipsis") for line in lines)
    else:
        table = Table(box=None, show_header=False, pad_edge=False)
        table.add_column(style="dim", no_wrap=True)
        table.add_column()
        for label, value in rows:
            table.add_row(Text(label), Text(value))
        for cat, rate in shares[:8]:
            table.add_row(Text(f"chose {one_line(cat, 30)}"), Text(rate_cell(rate)))
        for line in extra:
            label, _, value = line.partition(" ")
            table.add_row(Text(label), Text(value))
        parts.append(table)
        parts.extend(Text(clean(line, 600)) for line in metrics_lines)
    estimates: list[Headline | Rate] = [
        tally.refusal_rate(),
        tally.rest_rate(),
        exit_rate,
        tally.invalid_rate(),
        *(r for _, r in shares),
        *design_headlines(done),
    ]
    key = legend(estimates)
    if key:
        parts.append(
            Text(key, style="dim", no_wrap=compact, overflow="ellipsis" if compact else "fold")
        )
    title = f"running proxies · {state.done} finished episodes · 95% intervals"
    if metrics_lines:
        title = "proxies · metrics.json · 95% intervals"
    return Panel(Group(*parts), title=title, title_align="left", border_style="green")


def run_view(state: RunWatch, width: int = 120, height: int | None = None) -> RenderableType:
    """The whole watched run; within ``height`` rows when given (a terminal's).

    Below :data:`~sandbox.display.live.COMPACT_BELOW` columns the step and the proxies are
    stacked and every row is one line; the episodes in flight get the rows left over.
    """
    compact = width < COMPACT_BELOW
    notes: list[RenderableType] = []
    for episode, error in state.errors[-3:]:
        notes.append(
            Text(f"episode {episode} errored: {one_line(error, 200)}", style="yellow", no_wrap=True)
        )
    if state.tail.bad_lines:
        notes.append(Text(f"{state.tail.bad_lines} unreadable lines skipped", style="red"))
    if state.status == "running" and state.idle_s() > 30:
        notes.append(
            Text(f"no new records for {_clock(state.idle_s())} (is the run still going?)", "dim")
        )

    def build(flights: int) -> RenderableType:
        parts: list[RenderableType] = [title_line(state, compact), progress_line(state, compact)]
        if state.latest is not None and state.in_flight and compact:
            parts.append(watched_step(state.latest, width, compact=True))
            parts.append(proxies_panel(state, compact=True))
        elif state.latest is not None and state.in_flight:
            grid = Table.grid(expand=True)
            grid.add_column(ratio=3)
            grid.add_column(ratio=2)
            grid.add_row(watched_step(state.latest, max(40, width - 60)), proxies_panel(state))
            parts.append(grid)
        else:
            parts.append(proxies_panel(state, compact=compact))
        table = in_flight_table(state, flights)
        if table is not None:
            parts.append(table)
        return Group(*parts, *notes)

    if height is None:
        return build(8)
    # Each row of the in-flight table is one line: measure with one row, then add what fits.
    console = Console(width=width, height=height, file=_NOWHERE)
    view = build(1)
    spare = height - rendered_height(console, view, width)
    if spare < 0:
        return build(0)
    return build(min(8, 1 + spare))


class RichRunView:
    """A live view of a watched run; with ``live=False``, one snapshot printed at the end."""

    def __init__(self, console: Console | None = None, *, live: bool = True) -> None:
        self.console = console or Console()
        self.live = live
        self._live: Live | None = None
        self._drawn = 0.0

    def _render(self, state: RunWatch) -> RenderableType:
        width, height = self.console.size
        return run_view(state, width, height if self.live else None)

    def start(self, state: RunWatch) -> None:
        if not self.live:
            return
        self._live = Live(
            self._render(state), console=self.console, auto_refresh=False, transient=False
        )
        self._live.start(refresh=True)
        self._drawn = time.monotonic()

    def update(self, state: RunWatch, changed: bool) -> None:
        now = time.monotonic()
        due = now - self._drawn >= (MIN_REDRAW_S if changed else MAX_REDRAW_S)
        if self._live is not None and due:
            self._live.update(self._render(state), refresh=True)
            self._drawn = now

    def stop(self, state: RunWatch) -> None:
        if self._live is not None:
            self._live.update(self._render(state), refresh=True)
            self._live.stop()
            self._live = None
        else:
            self.console.print(self._render(state))
        if state.over and state.manifest:
            for line in summary_lines(header_of(state), state.status or "?", state.metrics):
                self.console.print(Text(clean(line, 2000)))


class PlainRunView:
    """Lines for logs and pipes: one per finished episode, a heartbeat, a closing summary."""

    def __init__(self, stream: TextIO | None = None) -> None:
        self.stream = stream or sys.stdout
        self._printed = 0
        self._beat = time.monotonic()
        self._announced = False

    def _print(self, line: str) -> None:
        print(line, file=self.stream, flush=True)

    def _announce(self, state: RunWatch) -> None:
        if self._announced or not state.manifest:
            return
        h = header_of(state)
        self._print(
            one_line(
                f"watching {h.run_dir}: {h.experiment} · {h.env_id} · agent {h.agent} · "
                f"condition {h.condition} · {h.episodes} episodes · status {state.status}",
                400,
            )
        )
        self._announced = True

    def start(self, state: RunWatch) -> None:
        if not state.manifest:
            self._print(f"waiting for {one_line(str(state.path), 300)}/run.json")
        self.update(state, True)

    def update(self, state: RunWatch, changed: bool) -> None:
        self._announce(state)
        planned = state.planned or "?"
        tally = state.finished
        for record in state.end_records[self._printed :]:
            self._printed += 1
            error = f" error={one_line(str(record['error']), 80)}" if record.get("error") else ""
            self._print(
                f"episode {record.get('episode', '?'):>3} [{self._printed}/{planned}] "
                f"end={one_line(str(record.get('reason', '?')), 20)} "
                f"steps={record.get('steps', '?')} reward={record.get('total_reward', '?')} · "
                f"refusal {rate_cell(tally.refusal_rate())} · rest {rate_cell(tally.rest_rate())}"
                f" · ETA {_clock(state.eta_s())}{error}"
            )
            self._beat = time.monotonic()
        if self._printed > len(state.end_records):  # the log was replaced (a resume)
            self._printed = len(state.end_records)
        if time.monotonic() - self._beat >= HEARTBEAT_S and state.status == "running":
            self._print(
                f"progress {state.done}/{planned} episodes, {len(state.in_flight)} in flight, "
                f"elapsed {_clock(state.elapsed_s())}, ETA {_clock(state.eta_s())}"
            )
            self._beat = time.monotonic()

    def stop(self, state: RunWatch) -> None:
        self.update(state, True)
        if state.over and state.manifest:
            for line in summary_lines(header_of(state), state.status or "?", state.metrics):
                self._print(clean(line, 2000))
        elif not state.over:
            self._print(
                f"run {state.status or 'not started'}: {state.done}/{state.planned or '?'} "
                "episodes finished so far"
            )


def sweep_view(state: SweepWatch, width: int = 200) -> RenderableType:
    """The watched sweep: its table (compact below 100 columns)."""
    title = one_line(str(state.path), 200)
    if not state.rows:
        return Text(f"{title}: no job has started yet", style="yellow")
    return sweep_table(state.rows, state.planned, title=title, width=width)


class RichSweepView:
    """A live table of a watched sweep; with ``live=False``, one snapshot printed at the end."""

    def __init__(self, console: Console | None = None, *, live: bool = True) -> None:
        self.console = console or Console()
        self.live = live
        self._live: Live | None = None
        self._drawn = 0.0

    def start(self, state: SweepWatch) -> None:
        if not self.live:
            return
        self._live = Live(
            sweep_view(state, self.console.width),
            console=self.console,
            auto_refresh=False,
            transient=False,
        )
        self._live.start(refresh=True)
        self._drawn = time.monotonic()

    def update(self, state: SweepWatch, changed: bool) -> None:
        now = time.monotonic()
        if self._live is not None and now - self._drawn >= (
            MIN_REDRAW_S if changed else MAX_REDRAW_S
        ):
            self._live.update(sweep_view(state, self.console.width), refresh=True)
            self._drawn = now

    def stop(self, state: SweepWatch) -> None:
        if self._live is not None:
            self._live.update(sweep_view(state, self.console.width), refresh=True)
            self._live.stop()
            self._live = None
        else:
            self.console.print(sweep_view(state, self.console.width))
        if state.over:
            self.console.print(Text(f"sweep finished: {one_line(str(state.path), 300)}"))


class PlainSweepView:
    """A line per job as it finishes, and a closing line."""

    def __init__(self, stream: TextIO | None = None) -> None:
        self.stream = stream or sys.stdout
        self._reported: set[str] = set()
        self._seen: set[str] = set()

    def _print(self, line: str) -> None:
        print(line, file=self.stream, flush=True)

    def start(self, state: SweepWatch) -> None:
        total = state.planned if state.planned is not None else "?"
        self._print(f"watching sweep {one_line(str(state.path), 300)}: {total} jobs planned")
        self.update(state, True)

    def update(self, state: SweepWatch, changed: bool) -> None:
        finished = sum(r.status not in ("running", "starting") for r in state.rows)
        for row in state.rows:
            if row.job not in self._seen and row.status in ("running", "starting"):
                self._seen.add(row.job)
                self._print(f"job {row.number} started: {one_line(row.overrides, 200)}")
            if row.job in self._reported or row.status in ("running", "starting"):
                continue
            self._reported.add(row.job)
            self._print(sweep_line(row, finished, state.planned))

    def stop(self, state: SweepWatch) -> None:
        self.update(state, True)
        if state.over:
            self._print(f"sweep finished: {len(state.rows)} jobs")


def sweep_rows_now(sweep_dir: Path) -> list[JobRow]:
    """Rows of every job of a sweep directory, read once (for the sweep callback)."""
    return [
        job_row(job, name=job_name(sweep_dir, job)) for job in job_dirs(sweep_dir, started=True)
    ]


def watch(
    path: Path,
    *,
    once: bool = False,
    interval: float = 0.5,
    job: int | None = None,
    console: Console | None = None,
) -> int:
    """``wsb watch``: follow a run or a sweep (or one job of a sweep) until it ends.

    In a terminal the view is rich and redrawn in place; otherwise lines are printed (one per
    finished episode or job). ``once`` prints one snapshot. Returns the exit status (0).

    Raises:
        RunDirError: ``path`` is not a run or sweep directory, or ``job`` does not exist.
        ConfigError: ``interval`` is not positive.
    """
    from sandbox.errors import ConfigError
    from sandbox.watch import find_job, follow_run, follow_sweep, kind_of

    if not interval > 0:
        raise ConfigError(f"--interval must be a positive number of seconds, got {interval}")
    console = console or default_console()
    deadline = time.monotonic() + APPEAR_WAIT_S
    while True:
        # Started together with the run: give it a moment to make the directory and write its
        # first file (the run checks its inputs before it writes anything).
        try:
            kind = kind_of(path)
            break
        except RunDirError:
            if once or time.monotonic() >= deadline or not _fresh(Path(path)):
                raise
            time.sleep(min(interval, 0.2))
    if job is not None:
        if kind != "sweep":
            raise RunDirError(f"--job applies to a sweep directory; {path} is a run directory")
        path, kind = find_job(path, job), "run"
    rich = once or console.is_terminal
    live = console.is_terminal and not once
    if kind == "run":
        run_view_: RichRunView | PlainRunView = (
            RichRunView(console, live=live) if rich else PlainRunView(_text_io(console))
        )
        follow_run(path, run_view_, interval=interval, once=once)
        runs = [Path(path)]
    else:
        sweep_view_: RichSweepView | PlainSweepView = (
            RichSweepView(console, live=live) if rich else PlainSweepView(_text_io(console))
        )
        follow_sweep(path, sweep_view_, interval=interval, once=once)
        runs = job_dirs(Path(path))
    return _say_contradictions(runs, console)


def _say_contradictions(runs: list[Path], console: Console) -> int:
    """After the view: a log that contradicts itself (a duplicated line, a second end, an
    edited episode id) is said in one line per run, and the status is 2; else 0."""
    from sandbox.store import LogContradiction, run_log_problems

    status = 0
    for run_dir in runs:
        problems = run_log_problems(run_dir)
        if problems:
            error = LogContradiction(run_dir / "episodes.jsonl", problems)
            console.print(Text(f"warning: {one_line(str(error), 600)}", style="bold red"))
            status = 2
    return status


def _fresh(path: Path) -> bool:
    """``path`` does not exist yet, or was made in the last :data:`APPEAR_WAIT_S` seconds (a
    run starting there); an older folder that is not a run is an error at once."""
    try:
        return time.time() - path.stat().st_mtime < APPEAR_WAIT_S
    except FileNotFoundError:
        return True


def default_console() -> Console:
    """rich's console; when stdout is not a terminal, 160 columns unless ``COLUMNS`` says."""
    import os

    if sys.stdout.isatty() or os.environ.get("COLUMNS"):
        return Console()
    return Console(width=160)


def _text_io(console: Console) -> TextIO:
    return console.file  # type: ignore[return-value]
