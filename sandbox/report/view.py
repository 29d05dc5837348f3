"""The rich view of a report (``wsb report --format table``).

Condition names come from overrides and published sources from metrics files: both are
untrusted, so every cell is a ``rich.text.Text`` built from cleaned text (never parsed as markup).
"""

from __future__ import annotations

import io

from rich.console import Console, Group, RenderableType
from rich.table import Table
from rich.text import Text

from sandbox.display.safe import clean, one_line
from sandbox.report.cells import (
    HOLM_MARK,
    comparisons_line,
    effect_label,
    effects_by_proxy,
    effects_note,
    estimates_by_condition,
    fmt_any,
    fmt_effect,
    fmt_interval,
    fmt_mde,
    fmt_value,
    mde_line,
)
from sandbox.report.model import INTERVALS_NOTE, Report, is_note


def _t(text: object, max_chars: int = 80, style: str = "") -> Text:
    return Text(one_line(str(text), max_chars), style=style)


def proxies_table(report: Report) -> Table:
    """Every proxy: one column per condition (value, interval, n)."""
    if report.kind == "run":
        table = Table(title="proxies", title_justify="left", show_lines=False)
        table.add_column("proxy", style="bold")
        table.add_column("value", justify="right")
        table.add_column("95% interval", style="dim")
        table.add_column("n", justify="right", style="dim")
        for item in report.conditions[0].proxies:
            table.add_row(
                _t(item.proxy),
                Text(fmt_value(item)),
                Text(fmt_interval(item)),
                Text("" if item.n is None else str(item.n)),
            )
        return table
    names = [c.name for c in report.conditions]
    by_cond = estimates_by_condition(report)
    table = Table(title="proxies by condition", title_justify="left")
    table.add_column("proxy", style="bold")
    for cond in report.conditions:
        header = _t(cond.name, 40)
        if cond.name == report.control:
            header.append(" (control)", style="dim")
        table.add_column(header)
    table.add_row(Text("status", style="dim"), *(_t(c.status, 20) for c in report.conditions))
    for proxy in report.proxy_names():
        cells: list[Text] = []
        for name in names:
            est = by_cond[name].get(proxy)
            if est is None:
                cells.append(Text(""))
                continue
            cell = Text(fmt_value(est))
            extra = " ".join(
                p for p in (fmt_interval(est), "" if est.n is None else f"n={est.n}") if p
            )
            if extra:
                cell.append(" " + extra, style="dim")
            cells.append(cell)
        table.add_row(_t(proxy, 60), *cells)
    return table


def effects_table(report: Report) -> Table | None:
    """Each condition against the control, with bootstrap intervals and the MDE."""
    if not report.effects:
        return None
    others = [c.name for c in report.conditions if c.name != report.control]
    table = Table(
        title=f"effects against the control ({one_line(report.control or '', 40)}): "
        f"difference, 95% interval ({HOLM_MARK}: survives Holm's correction)",
        title_justify="left",
    )
    table.add_column("proxy", style="bold")
    for name in others:
        table.add_column(_t(name, 40))
        table.add_column(Text("MDE", style="dim"), style="dim")
    for proxy, row in effects_by_proxy(report).items():
        cells: list[Text] = []
        for name in others:
            effect = row.get(name)
            if effect is None:
                cells += [Text(""), Text("")]
                continue
            style = ""
            low, high = effect.ci_low, effect.ci_high
            if low is not None and high is not None and (low > 0 or high < 0):
                style = "bold"
            cells += [Text(fmt_effect(effect), style=style), Text(fmt_mde(effect))]
        table.add_row(_t(effect_label(proxy), 60), *cells)
    return table


def published_tables(report: Report) -> list[RenderableType]:
    """One table per published block: its figures beside ours, titled with its source; the
    block's prose (notes, qualitative findings) under it."""
    tables: list[RenderableType] = []
    for block in report.published:
        title = Text(
            f"{one_line(block.design, 40)} ({one_line(block.condition, 40)}) · published: ",
            style="bold",
        )
        title.append(one_line(block.source or "source not given", 300), style="italic")
        tables.append(title)
        table = Table()
        table.add_column("figure", style="bold")
        table.add_column("published", overflow="fold", max_width=60)
        table.add_column("ours", overflow="fold", max_width=40)
        for row in block.rows:
            if not is_note(row.published):
                table.add_row(
                    _t(row.key, 60), _t(fmt_any(row.published), 200), _t(fmt_any(row.ours), 80)
                )
        tables.append(table)
        for row in block.rows:
            if is_note(row.published):
                note = Text(f"{one_line(row.key, 40)}: ", style="dim bold")
                note.append(one_line(str(row.published), 2000), style="dim")
                tables.append(note)
    return tables


def report_view(report: Report) -> RenderableType:
    """The whole report as one rich renderable."""
    parts: list[RenderableType] = [
        Text.assemble(("report: ", "bold"), clean(report.path, 300)),
        Text(INTERVALS_NOTE, style="dim"),
    ]
    for note in report.notes:
        parts.append(Text(one_line(note, 400), style="yellow"))
    parts.append(proxies_table(report))
    effects = effects_table(report)
    if effects is not None:
        parts.append(effects)
    if report.effects:
        parts.append(Text(one_line(effects_note(report), 2000), style="dim"))
    for line in (comparisons_line(report), mde_line(report)):
        if line:
            parts.append(Text(one_line(line, 2000), style="dim"))
    parts.extend(published_tables(report))
    return Group(*parts)


def render_text(report: Report, width: int = 160) -> str:
    """The table view as plain text (for ``--out`` files and pipes)."""
    console = Console(file=io.StringIO(), width=width, color_system=None, force_terminal=False)
    console.print(report_view(report))
    value = console.file.getvalue()  # type: ignore[attr-defined]
    return str(value)
