"""The report's formats: ``md``, ``csv``, ``json``, ``html`` (``table`` is :mod:`.view`)."""

from __future__ import annotations

import csv
import html
import io
import json
import math
import re
from dataclasses import asdict
from pathlib import Path
from typing import Any

from sandbox import store
from sandbox.display.safe import clean, one_line
from sandbox.report.cells import (
    comparisons_line,
    effect_label,
    effects_by_proxy,
    effects_note,
    estimates_by_condition,
    fmt_any,
    fmt_cell,
    fmt_effect,
    fmt_interval,
    fmt_mde,
    fmt_value,
    mde_line,
)
from sandbox.report.model import (
    FORMATS,
    INTERVALS_NOTE,
    REPORT_SCHEMA,
    PlotsUnavailable,
    Report,
    ReportError,
    is_note,
)


def render(report: Report, fmt: str) -> str:
    """The report as ``md``, ``csv``, ``json`` or ``html`` text.

    Raises:
        ReportError: Unknown format (``table`` is rendered by the rich view, not here).
        PlotsUnavailable: ``html`` without matplotlib.
    """
    if fmt == "json":
        return to_json(report)
    if fmt == "csv":
        return to_csv(report)
    if fmt == "md":
        return to_markdown(report)
    if fmt == "html":
        return to_html(report)
    if fmt == "table":
        from sandbox.report.view import render_text

        return render_text(report)
    raise ReportError(f"--format must be one of {', '.join(FORMATS)}, got {fmt!r}")


def to_dict(report: Report) -> dict[str, Any]:
    """The report as JSON-ready data with stable keys (see ``notes/watch_report.md``)."""
    conditions = []
    for cond in report.conditions:
        conditions.append(
            {
                "name": cond.name,
                "job": cond.job,
                "path": cond.path,
                "status": cond.status,
                "intervention": cond.intervention,
                "overrides": cond.overrides,
                "episodes": cond.episodes,
                "proxies": {
                    e.proxy: {
                        "value": e.value,
                        "ci_low": e.ci_low,
                        "ci_high": e.ci_high,
                        "n": e.n,
                        "kind": e.kind,
                        "note": e.note,
                    }
                    for e in cond.proxies
                },
            }
        )
    return {
        "schema": REPORT_SCHEMA,
        "kind": report.kind,
        "path": report.path,
        "control": report.control,
        "conditions": conditions,
        "effects": [asdict(e) for e in report.effects],
        "mde": report.mde,
        "published": [
            {
                "design": p.design,
                "condition": p.condition,
                "source": p.source,
                "rows": [asdict(r) for r in p.rows],
            }
            for p in report.published
        ],
        "bootstrap": {
            "n_boot": report.n_boot,
            "seed": report.seed,
            "level": 0.95,
            "unit": "episode",
        },
        "comparisons": {
            "count": report.comparisons,
            "correction": "holm",
            "alpha": 0.05,
            "surviving": sum(bool(e.holm) for e in report.effects),
        },
        "notes": report.notes,
    }


def to_json(report: Report) -> str:
    """The report as indented JSON (NaN and infinities as ``null``)."""
    return json.dumps(_finite(to_dict(report)), indent=2, ensure_ascii=False, default=str) + "\n"


def _finite(value: Any) -> Any:
    """JSON-safe values: NaN and infinities as ``None``; text with control sequences dropped
    (names and sources come from runs and may hold terminal escapes)."""
    if isinstance(value, float) and not math.isfinite(value):
        return None
    if isinstance(value, str):
        return clean(value)
    if isinstance(value, dict):
        return {clean(str(k)): _finite(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_finite(v) for v in value]
    return value


CSV_COLUMNS = ("condition", "proxy", "value", "ci_low", "ci_high", "n")


def to_csv(report: Report) -> str:
    """One row per condition × proxy; then one row per effect, with proxy ``effect:<proxy>``
    (value = difference from the control, interval = the effect's 95%, n = the condition's
    episodes); a design's own comparison (against another reference) is
    ``effect:<proxy> (<label>)``.
    """
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    writer.writerow(CSV_COLUMNS)
    for cond in report.conditions:
        for est in cond.proxies:
            n = "" if est.n is None else est.n
            writer.writerow(
                [
                    _csv_text(cond.name),
                    _csv_text(est.proxy),
                    _g(est.value),
                    _g(est.ci_low),
                    _g(est.ci_high),
                    n,
                ]
            )
    for effect in report.effects:
        writer.writerow(
            [
                _csv_text(effect.condition),
                _csv_text(
                    f"effect:{effect.proxy}" + (f" ({effect.label})" if effect.label else "")
                ),
                _g(effect.diff),
                _g(effect.ci_low),
                _g(effect.ci_high),
                effect.n,
            ]
        )
    return buffer.getvalue()


def _g(value: float | None) -> str:
    return "" if value is None else repr(float(value))


def _csv_text(text: str) -> str:
    # A cell starting with = + - @ is a formula to a spreadsheet: prefix it (CSV injection).
    text = one_line(text, 500)
    return "'" + text if text[:1] in ("=", "+", "-", "@") else text


_MD_SPECIAL = re.compile(r"([\\`|*_\[\]<>#])")


def md_escape(text: str, max_chars: int = 200) -> str:
    """Untrusted text for a Markdown table cell: one line, control sequences dropped, and
    ``|``, backticks and other Markdown/HTML specials backslash-escaped."""
    return _MD_SPECIAL.sub(r"\\\1", one_line(str(text), max_chars))


def to_markdown(report: Report) -> str:
    """The report as Markdown: a proxies table, an effects table, published figures."""
    lines = [f"# Report: {md_escape(report.path)}", ""]
    lines.append(f"{INTERVALS_NOTE} Proxies describe behaviour; they say nothing about experience.")
    lines.append("")
    for note in report.notes:
        lines.append(f"> {md_escape(note, 400)}")
        lines.append("")
    names = [c.name for c in report.conditions]
    by_cond = estimates_by_condition(report)
    lines.append("## Proxies")
    lines.append("")
    if report.kind == "run":
        lines.append("| proxy | value | 95% interval | n |")
        lines.append("|---|---|---|---|")
        for est in report.conditions[0].proxies:
            n = "" if est.n is None else str(est.n)
            lines.append(
                f"| {md_escape(est.proxy)} | {fmt_value(est)} | {fmt_interval(est)} | {n} |"
            )
    else:
        lines.append("| proxy | " + " | ".join(md_escape(n, 80) for n in names) + " |")
        lines.append("|---" * (len(names) + 1) + "|")
        status = [f"{c.status}" for c in report.conditions]
        lines.append("| status | " + " | ".join(md_escape(s) for s in status) + " |")
        for proxy in report.proxy_names():
            cells = [fmt_cell(by_cond[n].get(proxy)) for n in names]
            lines.append(f"| {md_escape(proxy)} | " + " | ".join(cells) + " |")
    if report.effects:
        others = [n for n in names if n != report.control]
        lines += ["", f"## Effects against the control ({md_escape(report.control or '')})", ""]
        lines.append(md_escape(effects_note(report), 2000))
        if comparisons_line(report):
            lines += ["", md_escape(comparisons_line(report) or "", 2000)]
        lines.append("")
        header = "| proxy | " + " | ".join(f"{md_escape(n, 60)} | MDE" for n in others) + " |"
        lines.append(header)
        lines.append("|---" * (2 * len(others) + 1) + "|")
        for proxy, by_name in effects_by_proxy(report).items():
            cells = []
            for name in others:
                effect = by_name.get(name)
                cells += [fmt_effect(effect), fmt_mde(effect)] if effect else ["", ""]
            lines.append(f"| {md_escape(effect_label(proxy))} | " + " | ".join(cells) + " |")
        if mde_line(report):
            lines += ["", md_escape(mde_line(report) or "", 2000)]
    if report.published:
        lines += ["", "## Published figures beside ours", ""]
        for block in report.published:
            source = md_escape(block.source or "source not given", 300)
            lines.append(f"### {md_escape(block.design)} ({md_escape(block.condition)})")
            lines.append("")
            lines.append(f"Published: {source}")
            lines.append("")
            lines.append("| figure | published | ours |")
            lines.append("|---|---|---|")
            for row in block.rows:
                if is_note(row.published):
                    continue
                lines.append(
                    f"| {md_escape(row.key)} | {md_escape(fmt_any(row.published))} | "
                    f"{md_escape(fmt_any(row.ours))} |"
                )
            lines.append("")
            for row in block.rows:
                if is_note(row.published):
                    lines += [f"{md_escape(row.key)}: {md_escape(row.published, 2000)}", ""]
    return "\n".join(lines).rstrip() + "\n"


def h(text: Any, max_chars: int = 500) -> str:
    """Untrusted text for HTML: control sequences dropped, then :func:`html.escape`."""
    return html.escape(clean(str(text), max_chars), quote=True)


_CSS = """
body{font-family:system-ui,sans-serif;margin:2em;max-width:1200px;color:#222}
table{border-collapse:collapse;margin:1em 0;font-size:.9em}
th,td{border:1px solid #ccc;padding:.25em .5em;text-align:left;vertical-align:top}
th{background:#f3f3f3}.ci{color:#666}.note{color:#555}
figure{margin:1em 0}img{max-width:100%}
"""


def to_html(report: Report, figures: dict[str, bytes] | None = None) -> str:
    """One self-contained HTML file: tables and the figures inline as base64 PNGs.

    Raises:
        PlotsUnavailable: matplotlib is not installed.
    """
    import base64

    if figures is None:
        from sandbox.report.plots import make_figures

        figures = make_figures(report)
    names = [c.name for c in report.conditions]
    by_cond = estimates_by_condition(report)
    out = [
        "<!DOCTYPE html>",
        '<html lang="en"><head><meta charset="utf-8">',
        f"<title>Report: {h(report.path)}</title>",
        f"<style>{_CSS}</style></head><body>",
        f"<h1>Report: {h(report.path)}</h1>",
        f'<p class="note">{h(INTERVALS_NOTE)} Proxies describe behaviour; they say nothing '
        "about experience.</p>",
    ]
    for note in report.notes:
        out.append(f'<p class="note">{h(note)}</p>')
    out.append("<h2>Proxies</h2><table><tr><th>proxy</th>")
    out += [f"<th>{h(n, 100)}</th>" for n in names]
    out.append("</tr>")
    if report.kind == "sweep":
        out.append("<tr><td>status</td>")
        out += [f"<td>{h(c.status)}</td>" for c in report.conditions]
        out.append("</tr>")
    for proxy in report.proxy_names():
        out.append(f"<tr><td>{h(proxy)}</td>")
        for name in names:
            est = by_cond[name].get(proxy)
            if est is None:
                out.append("<td></td>")
                continue
            n = "" if est.n is None else f" n={est.n}"
            out.append(
                f'<td>{h(fmt_value(est))} <span class="ci">{h(fmt_interval(est))}{n}</span></td>'
            )
        out.append("</tr>")
    out.append("</table>")
    if report.effects:
        others = [n for n in names if n != report.control]
        out.append(f"<h2>Effects against the control ({h(report.control or '')})</h2>")
        out.append(f'<p class="note">{h(effects_note(report), 4000)}</p>')
        if comparisons_line(report):
            out.append(f'<p class="note">{h(comparisons_line(report), 4000)}</p>')
        out.append("<table><tr><th>proxy</th>")
        out += [f"<th>{h(n, 100)}</th><th>MDE</th>" for n in others]
        out.append("</tr>")
        for proxy, by_name in effects_by_proxy(report).items():
            out.append(f"<tr><td>{h(effect_label(proxy))}</td>")
            for name in others:
                effect = by_name.get(name)
                if effect is None:
                    out.append("<td></td><td></td>")
                else:
                    out.append(f"<td>{h(fmt_effect(effect))}</td><td>{h(fmt_mde(effect))}</td>")
            out.append("</tr>")
        out.append("</table>")
        if mde_line(report):
            out.append(f'<p class="note">{h(mde_line(report), 4000)}</p>')
    if report.published:
        out.append("<h2>Published figures beside ours</h2>")
        for block in report.published:
            out.append(f"<h3>{h(block.design)} ({h(block.condition)})</h3>")
            out.append(f"<p>Published: {h(block.source or 'source not given')}</p>")
            out.append("<table><tr><th>figure</th><th>published</th><th>ours</th></tr>")
            for r in block.rows:
                if not is_note(r.published):
                    out.append(
                        f"<tr><td>{h(r.key)}</td><td>{h(fmt_any(r.published))}</td>"
                        f"<td>{h(fmt_any(r.ours))}</td></tr>"
                    )
            out.append("</table>")
            for r in block.rows:
                if is_note(r.published):
                    out.append(f'<p class="note">{h(r.key)}: {h(r.published, 2000)}</p>')
    if figures:
        out.append("<h2>Figures</h2>")
        for name, png in figures.items():
            data = base64.b64encode(png).decode("ascii")
            out.append(
                f'<figure><img alt="{h(name)}" src="data:image/png;base64,{data}">'
                f"<figcaption>{h(name)}</figcaption></figure>"
            )
    out.append("</body></html>")
    return "\n".join(out) + "\n"


def require_plots() -> None:
    """Fail early, with the install hint, when matplotlib is not installed.

    Raises:
        PlotsUnavailable: matplotlib cannot be imported.
    """
    import importlib.util

    try:
        found = importlib.util.find_spec("matplotlib") is not None
    except (ImportError, ValueError):
        found = False
    if not found:
        raise PlotsUnavailable()


def emit(report: Report, fmt: str, out: Path | None = None, stream: Any = None) -> None:
    """Write ``report`` in ``fmt`` to ``out``, or show it on ``stream`` (stdout).

    ``table`` on a terminal is drawn by rich (with colour); everywhere else it is plain text.
    """
    import sys

    stream = stream or sys.stdout
    if fmt == "table" and out is None:
        from rich.console import Console

        from sandbox.report.view import report_view

        Console(file=stream).print(report_view(report))
        return
    text = render(report, fmt)
    if out is None:
        stream.write(text)
        return
    # Atomic (temporary file, fsync, rename): a kill or a full disk leaves the old report whole.
    # An unwritable path is a RunWriteError: one line, status 2.
    store.write_text_atomic(out, text)


def write_plots(report: Report, directory: Path) -> list[Path]:
    """Write the report's figures as PNG files in ``directory``; returns their paths.

    Raises:
        PlotsUnavailable: matplotlib is not installed.
    """
    from sandbox.report.plots import make_figures

    figures = make_figures(report)
    directory.mkdir(parents=True, exist_ok=True)
    paths = []
    for name, png in figures.items():
        path = directory / f"{name}.png"
        path.write_bytes(png)
        paths.append(path)
    return paths
