"""The report's figures as PNG bytes (matplotlib, the optional extra ``plots``).

matplotlib is imported here only, lazily, and without pyplot (no global state, no GUI backend):
each figure is a ``matplotlib.figure.Figure`` saved to bytes. Without matplotlib,
:func:`make_figures` raises :class:`sandbox.report.model.PlotsUnavailable`, which tells the user to
``pip install 'welfare-sandbox[plots]'``.

Condition names in legends are untrusted text: control sequences are dropped and ``$`` is
escaped so that matplotlib does not read it as mathtext.
"""

from __future__ import annotations

import io
import math
from typing import TYPE_CHECKING, Any

from sandbox.display.safe import one_line
from sandbox.report.model import PlotsUnavailable, Report

if TYPE_CHECKING:
    from matplotlib.axes import Axes
    from matplotlib.figure import Figure

#: The headline rates of the "rates by condition" figure.
RATES = ("refusal_rate", "rest_rate", "exit_rate", "invalid_action_rate")


def label(text: str, max_chars: int = 40) -> str:
    """Untrusted text made safe for a matplotlib label."""
    return one_line(text, max_chars).replace("$", r"\$")


def _figure(width: float = 8.0, height: float = 4.5) -> Figure:
    try:
        from matplotlib.figure import Figure
    except ImportError:
        raise PlotsUnavailable() from None
    return Figure(figsize=(width, height), dpi=100, layout="constrained")


def _png(fig: Figure) -> bytes:
    buffer = io.BytesIO()
    fig.savefig(buffer, format="png")
    return buffer.getvalue()


def _errors(rates: list[dict[str, Any]]) -> tuple[list[float], list[list[float]]]:
    values, low, high = [], [], []
    for rate in rates:
        v = rate.get("value")
        ok = isinstance(v, int | float)
        value = float(v) if isinstance(v, int | float) else math.nan
        lo = rate.get("ci_low") if ok else None
        hi = rate.get("ci_high") if ok else None
        values.append(value)
        low.append(value - float(lo) if isinstance(lo, int | float) else 0.0)
        high.append(float(hi) - value if isinstance(hi, int | float) else 0.0)
    return values, [low, high]


def _dodged(
    ax: Axes, groups: list[str], series: dict[str, list[dict[str, Any]]], pct: bool
) -> None:
    """Grouped bars with error bars: one group per x label, one bar per condition."""
    count = max(len(series), 1)
    width = 0.8 / count
    for i, (name, rates) in enumerate(series.items()):
        values, errors = _errors(rates)
        xs = [g + (i - (count - 1) / 2) * width for g in range(len(groups))]
        ax.bar(xs, values, width, yerr=errors, capsize=3, label=label(name))
    ax.set_xticks(range(len(groups)), [label(g, 24) for g in groups], rotation=20, ha="right")
    if pct:
        ax.yaxis.set_major_formatter(lambda v, _pos: f"{v:.0%}")
    if len(series) > 1:
        ax.legend(fontsize="small")


def choice_share_figure(report: Report) -> bytes | None:
    """Share of task choices by category, per condition, with Wilson intervals."""
    categories = sorted(
        {cat for c in report.conditions for cat in (c.metrics.get("choice_share") or {})}
    )
    if not categories:
        return None
    series = {
        c.name: [(c.metrics.get("choice_share") or {}).get(cat) or {} for cat in categories]
        for c in report.conditions
    }
    fig = _figure()
    ax = fig.add_subplot()
    _dodged(ax, categories, series, pct=True)
    ax.set_ylabel("share of task choices")
    ax.set_title("Choice share by category (95% Wilson intervals)")
    return _png(fig)


def rates_figure(report: Report) -> bytes | None:
    """Refusal, rest, exit and invalid-action rates by condition, with Wilson intervals."""
    present = [r for r in RATES if any(c.metrics.get(r) for c in report.conditions)]
    if not present:
        return None
    series = {c.name: [c.metrics.get(r) or {} for r in present] for c in report.conditions}
    fig = _figure()
    ax = fig.add_subplot()
    _dodged(ax, [r.replace("_", " ") for r in present], series, pct=True)
    ax.set_ylabel("rate")
    ax.set_title("Rates by condition (95% intervals as metrics.json gives them; n/a: not offered)")
    return _png(fig)


def survival_figure(report: Report) -> bytes | None:
    """Kaplan–Meier curves of decisions until the first exit, per condition offering exit."""
    fig = _figure()
    ax = fig.add_subplot()
    drawn = 0
    for cond in report.conditions:
        survival = cond.metrics.get("time_to_exit") or {}
        if not survival.get("n"):
            continue
        ts, ss = [0.0], [1.0]
        for point in survival.get("curve") or []:
            ts.append(float(point["t"]))
            ss.append(float(point["survival"]))
        ax.step(ts, ss, where="post", label=f"{label(cond.name)} (n={survival['n']})")
        drawn += 1
    if not drawn:
        return None
    ax.set_ylim(0, 1.02)
    ax.set_xlabel("decisions")
    ax.set_ylabel("share not yet exited")
    ax.set_title("Time to exit (Kaplan–Meier, censored at the episode's end)")
    ax.legend(fontsize="small")
    return _png(fig)


def self_report_figure(report: Report) -> bytes | None:
    """Mean self-report (1-7) at each report index of the episode, ± 1.96 se, per condition."""
    fig = _figure()
    ax = fig.add_subplot()
    drawn = 0
    for cond in report.conditions:
        trajectory = (cond.metrics.get("self_report") or {}).get("trajectory") or []
        points = [p for p in trajectory if isinstance(p.get("mean"), int | float)]
        if not points:
            continue
        xs = [int(p["index"]) + 1 for p in points]
        ys = [float(p["mean"]) for p in points]
        errs = [
            1.96 * float(p["sd"]) / math.sqrt(p["n"])
            if isinstance(p.get("sd"), int | float) and p.get("n")
            else 0.0
            for p in points
        ]
        ax.errorbar(xs, ys, yerr=errs, marker="o", capsize=3, label=label(cond.name))
        drawn += 1
    if not drawn:
        return None
    ax.set_ylim(1, 7)
    ax.set_xlabel("report within the episode")
    ax.set_ylabel("self-report (1-7)")
    ax.set_title("Self-report trajectory (mean ± 1.96 se)")
    ax.legend(fontsize="small")
    return _png(fig)


def make_figures(report: Report) -> dict[str, bytes]:
    """Every figure the report has data for, by file stem.

    Raises:
        PlotsUnavailable: matplotlib is not installed.
    """
    _figure().clear()  # fail early, with the install hint, when matplotlib is missing
    figures: dict[str, bytes] = {}
    for name, make in (
        ("choice_share", choice_share_figure),
        ("rates", rates_figure),
        ("time_to_exit", survival_figure),
        ("self_report", self_report_figure),
    ):
        png = make(report)
        if png is not None:
            figures[name] = png
    return figures
