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


#: Design headlines that are shares (0-1), shown in percentage points.
_DESIGN_SHARES = (
    "conversation.exit_rate",
    "think_tank.read_share.",
    "think_tank.aversive_share",
    "think_tank.incentive_override",
    "pairwise.below_opt_out.",
)


def _is_share(proxy: str) -> bool:
    return (
        proxy in PROPORTIONS
        or proxy.startswith("choice_share.")
        or any(proxy.startswith(p) for p in _DESIGN_SHARES)
    )


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
    digits = 1 if scale == 100 or abs(effect.diff) >= 1 else 3
    mark = f" {HOLM_MARK}" if effect.holm else ""
    d = digits
    return f"{effect.diff * scale:+.{d}f}{unit} [{low:+.{d}f}, {high:+.{d}f}]{mark}"


def _fmt_size(value: float, proxy: str) -> str:
    return f"{value * 100:.1f} pp" if _is_share(proxy) else f"{value:.3g}"


def fmt_mde(effect: Effect) -> str:
    """The minimum detectable effect in the proxy's units (``-4.1/+5.0 pp`` when the two
    directions differ, ``+3.2 pp only`` when one is out of reach), or ``n/a``."""
    down, up = effect.mde_down, effect.mde_up
    if effect.mde is None:
        return "n/a"
    if (down is None and up is None) or down == up:
        return _fmt_size(effect.mde, effect.proxy)
    if down is None or up is None:
        sign = "+" if up is not None else "-"
        return f"{sign}{_fmt_size(effect.mde, effect.proxy)} only"
    return f"-{_fmt_size(down, effect.proxy)}/+{_fmt_size(up, effect.proxy)}"


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
    "conversation.exit_rate": "bail exit rate (genuine, per episode)",
    "conversation.exit_rate_all": "bail exit rate (false exits too)",
    "think_tank.aversive_share": "think tank aversive-room share of reads",
    "think_tank.concordance": "think tank stated-revealed Spearman",
}
#: The mark of an effect that survives Holm's correction.
HOLM_MARK = "*"
_PREFIX_LABELS = {
    "think_tank.read_share.": "think tank read share, room ",
    "tradeoff.switch_point.": "trade-off switch point, ",
    "pairwise.utility.": "pairwise utility (opt-out = 0), ",
    "pairwise.below_opt_out.": "pairwise below-opt-out share, ",
    "utilities.": "utility (conditional logit, centred), ",
}


def effect_label(proxy: str) -> str:
    """A readable label of a per-episode proxy."""
    if proxy.startswith("choice_share."):
        return f"choice share {proxy.split('.', 1)[1]}"
    for prefix, label in _PREFIX_LABELS.items():
        if proxy.startswith(prefix):
            return label + proxy[len(prefix) :]
    return EFFECT_LABELS.get(proxy, proxy)


def effects_by_proxy(report: Report) -> dict[str, dict[str, Effect]]:
    """Effects indexed ``[row][condition]``: the row is the proxy, or the label of a design's
    own comparison (:mod:`sandbox.report.headlines`)."""
    table: dict[str, dict[str, Effect]] = {}
    for effect in report.effects:
        table.setdefault(effect.label or effect.proxy, {})[effect.condition] = effect
    return table


def effects_note(report: Report) -> str:
    """How the effects were made, in one paragraph (unit, method, pairing)."""
    paired = sum(e.paired for e in report.effects)
    fitted = any(e.method is not None and e.method.startswith("MOVER") for e in report.effects)
    text = (
        "Difference condition − control. Per-episode proxies: difference of per-episode means, "
        f"percentile bootstrap 95% interval over episodes ({report.n_boot} resamples, seed "
        f"{report.seed})"
    )
    text += (
        f"; paired by seed where two conditions' episodes share their seeds (pairs resampled "
        f"together: {paired} of {len(report.effects)} effects)."
        if paired
        else "."
    )
    if fitted:
        text += (
            " Fitted headlines (switch points, utilities, below-opt-out shares): MOVER interval "
            "from each condition's own 95% interval (conditions taken as independent)."
        )
    text += " MDE: minimum detectable effect at these n (80% power, two-sided 5%), both ways."
    return text


def comparisons_line(report: Report) -> str | None:
    """How many comparisons the report made, and what marks the ones that survive Holm."""
    if not report.comparisons:
        return None
    survive = sum(bool(e.holm) for e in report.effects)
    return (
        f"{report.comparisons} comparisons (every effect with a p-value, from its interval's "
        f"standard error); {HOLM_MARK} marks the {survive} that survive Holm's correction at "
        "family-wise 5%."
    )


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
