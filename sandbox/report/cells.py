"""Text of one cell of a report (values, intervals, effects), shared by every format."""

from __future__ import annotations

from typing import Any

from sandbox.display.safe import one_line
from sandbox.report.model import PROPORTIONS, Effect, Estimate, Report


def fmt_value(est: Estimate | None) -> str:
    """``12.3%`` for a rate, ``4.12`` for a mean, ``30`` for a count, ``n/a`` for none."""
    if est is None or est.value is None:
        return f"n/a ({est.note})" if est is not None and est.note else "n/a"
    if est.kind == "rate":
        return f"{est.value:.1%}"
    if est.kind == "count":
        return f"{est.value:,.0f}"
    return f"{est.value:.3g}" if abs(est.value) < 100 else f"{est.value:,.1f}"


def fmt_interval(est: Estimate | None) -> str:
    """``[10.1%, 14.8%]`` (rates) or ``[3.9, 4.3]`` (means); empty when there is none."""
    if est is None or est.ci_low is None or est.ci_high is None:
        return ""
    if est.kind == "rate":
        return f"[{est.ci_low:.1%}, {est.ci_high:.1%}]"
    return f"[{est.ci_low:.3g}, {est.ci_high:.3g}]"


def fmt_cell(est: Estimate | None) -> str:
    """Value, interval and n in one cell."""
    if est is None:
        return ""
    parts = [fmt_value(est)]
    if fmt_interval(est):
        parts.append(fmt_interval(est))
    if est.n is not None:
        parts.append(f"n={est.n}")
    return " ".join(parts)


def _is_share(proxy: str) -> bool:
    return proxy in PROPORTIONS or proxy.startswith("choice_share.")


def fmt_diff(value: float | None, proxy: str) -> str:
    """A difference in percentage points (shares) or in the proxy's units."""
    if value is None:
        return "n/a"
    if _is_share(proxy):
        return f"{value * 100:+.1f} pp"
    return f"{value:+.3g}"


def fmt_effect(effect: Effect) -> str:
    """``+5.1 pp [+2.0, +8.3]`` (or ``n/a`` with the reason)."""
    if effect.diff is None:
        if effect.n_control == 0 and effect.n:
            return "n/a (not in control)"
        return "n/a"
    scale = 100 if _is_share(effect.proxy) else 1
    unit = " pp" if scale == 100 else ""
    low = effect.ci_low * scale if effect.ci_low is not None else float("nan")
    high = effect.ci_high * scale if effect.ci_high is not None else float("nan")
    return f"{effect.diff * scale:+.1f}{unit} [{low:+.1f}, {high:+.1f}]"


def fmt_mde(effect: Effect) -> str:
    """The minimum detectable effect in the proxy's units, or ``n/a``."""
    if effect.mde is None:
        return "n/a"
    if _is_share(effect.proxy):
        return f"{effect.mde * 100:.1f} pp"
    return f"{effect.mde:.3g}"


def fmt_any(value: Any) -> str:
    """A published or our value as text (numbers to 3 significant digits)."""
    if value is None:
        return "—"
    if isinstance(value, float):
        return f"{value:.3g}"
    if isinstance(value, list | tuple):
        return ", ".join(fmt_any(v) for v in value)
    return str(value)


#: Labels of the per-episode proxies in effect tables.
EFFECT_LABELS = {
    "refusal_rate": "refusal share",
    "rest_rate": "rest share",
    "exit_rate": "exit (per episode)",
    "invalid_action_rate": "invalid share",
    "api_refusal_rate": "API refusal share",
    "any_refusal_rate": "any refusal share",
    "self_report": "mean self-report",
    "reward": "total reward",
}


def effect_label(proxy: str) -> str:
    """A readable label of a per-episode proxy."""
    if proxy.startswith("choice_share."):
        return f"choice share {proxy.split('.', 1)[1]}"
    return EFFECT_LABELS.get(proxy, proxy)


def effects_by_proxy(report: Report) -> dict[str, dict[str, Effect]]:
    """Effects indexed ``[proxy][condition]``."""
    table: dict[str, dict[str, Effect]] = {}
    for effect in report.effects:
        table.setdefault(effect.proxy, {})[effect.condition] = effect
    return table


def estimates_by_condition(report: Report) -> dict[str, dict[str, Estimate]]:
    """Estimates indexed ``[condition][proxy]``."""
    return {c.name: {e.proxy: e for e in c.proxies} for c in report.conditions}


def mde_line(report: Report) -> str | None:
    """One sentence on the sweep's power, or ``None``."""
    if report.kind != "sweep" or not report.conditions:
        return None
    sizes = ", ".join(f"{one_line(c.name, 40)} {c.episodes}" for c in report.conditions)
    line = f"episodes per condition: {sizes}."
    if report.mde is not None:
        line += (
            f" Minimum detectable difference of an episode-level rate at this n (baseline 50%, "
            f"80% power, two-sided 5%): {report.mde * 100:.1f} pp."
        )
    return line


# ---------------------------------------------------------------------------------------------
# Formats
