"""The headline figures of a run, read from its ``metrics.json``: what each design measures.

The generic rates (refusal, rest, exit) say nothing in the published designs' environments, so
each design's own block gives the figures a researcher looks at first, each with its 95%
interval and n, as ``metrics.json`` holds them (nothing is computed here):

- ``pairwise`` (task preferences): the share of each category's tasks rated below the opt-out
  (``pairwise.below_opt_out.<category>``);
- ``conversation`` (bail): the genuine exit rate, overall and by method
  (``conversation.exit_rate``, ``conversation.exit_rate_by_method.<method>``);
- ``tradeoff``: the switch point of each variant (``tradeoff.variants.<v>.switch_point``), an
  intensity, or the note that says why there is none;
- ``think_tank``: the aversive room's share of reads under the run's economy
  (``think_tank.incentive_override.aversive_share``); the override itself is the difference
  between economies, which :func:`incentive_overrides` takes between the jobs of a sweep.

The end-of-run summary, the sweep table and ``summary.csv``, and ``wsb watch`` all show these.
This module does not import rich.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, replace
from typing import Any

#: The generic rates shown when a run has no design block (or when they have data).
GENERIC_RATES = ("refusal_rate", "rest_rate", "exit_rate")


@dataclass(frozen=True, slots=True)
class Headline:
    """One headline figure.

    Attributes:
        key: Its path in ``metrics.json`` (dots between keys).
        label: What it is, in words.
        value: The estimate (a share in [0, 1], or an intensity when ``unit == "intensity"``).
        ci_low: Lower end of its 95% interval.
        ci_high: Upper end of its 95% interval.
        n: Units behind it (episodes, tasks, reads, rounds), when known.
        unit: ``share``, ``intensity`` or ``difference`` (of two shares).
        note: Why there is no value, or how it was estimated.
        condition: The setting it holds under, where the design compares settings (the
            think-tank economy).
        n_episodes: Episodes behind it (the unit its interval is clustered by), when known.
        method: How its interval was computed (``metrics.json``'s ``method``), when known.
    """

    key: str
    label: str
    value: float | None
    ci_low: float | None = None
    ci_high: float | None = None
    n: int | None = None
    unit: str = "share"
    note: str | None = None
    condition: str | None = None
    n_episodes: int | None = None
    method: str | None = None


#: What each interval method means, in a legend line beside the figures (one per method shown).
METHOD_WORDS = {
    "wilson_cluster": (
        "n decisions pooled over episodes, the episode the unit: Wilson on n / design effect, "
        "t on episodes - 1 df"
    ),
    "wilson": "n independent units (one per episode): Wilson",
    "ratio_mean_cluster_t": "mean of n ratings, clustered by episode: CR1 variance, t quantile",
}


def legend(items: Sequence[Headline | Mapping[str, Any] | None]) -> str | None:
    """One line naming the level and method of every interval among ``items`` (headlines or
    ``metrics.json`` rates; ``None`` when none says its method):
    ``95% intervals. wilson_cluster: n decisions pooled ...``."""
    methods: set[str] = set()
    for item in items:
        if isinstance(item, Headline):
            method, low = item.method, item.ci_low
        elif isinstance(item, Mapping):
            method, low = item.get("method"), item.get("ci_low")
        else:
            continue
        if isinstance(method, str) and low is not None:
            methods.add(method)
    if not methods:
        return None
    words = [f"{m}: {METHOD_WORDS[m]}" if m in METHOD_WORDS else m for m in sorted(methods)]
    return "95% intervals. " + "; ".join(words)


def _num(value: Any) -> float | None:
    if isinstance(value, bool) or not isinstance(value, int | float):
        return None
    return float(value) if math.isfinite(value) else None


def _int(value: Any) -> int | None:
    return value if isinstance(value, int) and not isinstance(value, bool) else None


def _dict(value: Any) -> Mapping[str, Any]:
    return value if isinstance(value, Mapping) else {}


def of_rate(
    key: str, label: str, rate: Any, *, value_key: str = "value", unit: str = "share"
) -> Headline:
    """The headline of one ``metrics.json`` estimate (a dict with ``value`` or ``value_key``,
    ``ci_low``, ``ci_high``, ``n``, ``n_episodes``, ``method``; anything missing is ``None``)."""
    rate = _dict(rate)
    return Headline(
        key,
        label,
        _num(rate.get(value_key)),
        _num(rate.get("ci_low")),
        _num(rate.get("ci_high")),
        _int(rate.get("n")),
        unit=unit,
        n_episodes=_int(rate.get("n_episodes")),
        method=rate["method"] if isinstance(rate.get("method"), str) else None,
    )


def designs_of(metrics: Mapping[str, Any]) -> list[str]:
    """The design blocks ``metrics`` holds (in a fixed order)."""
    return [d for d in ("pairwise", "conversation", "tradeoff", "think_tank") if d in metrics]


def design_headlines(metrics: Mapping[str, Any]) -> list[Headline]:
    """The headline figures of every design block in ``metrics`` (see the module docstring)."""
    out: list[Headline] = []
    pairwise = _dict(metrics.get("pairwise"))
    for category, rate in sorted(_dict(pairwise.get("below_opt_out")).items()):
        out.append(
            of_rate(f"pairwise.below_opt_out.{category}", f"below opt-out: {category}", rate)
        )
    conversation = _dict(metrics.get("conversation"))
    if conversation:
        out.append(of_rate("conversation.exit_rate", "exit rate", conversation.get("exit_rate")))
        by_method = _dict(conversation.get("exit_rate_by_method"))
        if len(by_method) > 1 or not conversation.get("exit_rate"):
            for method, rate in sorted(by_method.items()):
                key = f"conversation.exit_rate_by_method.{method}"
                out.append(of_rate(key, f"exit rate by {method}", rate))
        elif by_method:  # one method: name it beside the overall rate
            (method,) = by_method
            out[-1] = of_rate(
                "conversation.exit_rate", f"exit rate by {method}", conversation.get("exit_rate")
            )
    tradeoff = _dict(metrics.get("tradeoff"))
    for variant, block in sorted(_dict(tradeoff.get("variants")).items()):
        point = _dict(_dict(block).get("switch_point"))
        fit = _dict(_dict(block).get("fit"))
        note: str | None = point["note"] if isinstance(point.get("note"), str) else None
        how: str | None = point["method"] if isinstance(point.get("method"), str) else None
        out.append(
            Headline(
                f"tradeoff.variants.{variant}.switch_point",
                f"switch point ({variant})",
                _num(point.get("value")),
                _num(point.get("ci_low")),
                _num(point.get("ci_high")),
                _int(fit.get("n")),
                unit="intensity",
                note=note or (f"{how} interval" if how and how != "delta" else None),
            )
        )
    think_tank = _dict(metrics.get("think_tank"))
    if think_tank:
        override = _dict(think_tank.get("incentive_override"))
        economy = override.get("economy")
        room = override.get("aversive_room") or "aversive room"
        economy_text = economy if isinstance(economy, str) else "mixed"
        share = of_rate(
            "think_tank.incentive_override.aversive_share",
            f"reads in room {room} (economy {economy_text})",
            override.get("aversive_share"),
        )
        out.append(replace(share, condition=economy if isinstance(economy, str) else None))
    return out


def headlines(metrics: Mapping[str, Any] | None) -> list[Headline]:
    """What a summary shows first: the design's figures, then the generic rates that have data
    (all three generic rates when the run has no design block)."""
    if not metrics:
        return []
    design = design_headlines(metrics)
    # The bail design's own exit rate (genuine exits, any method) replaces the generic one.
    keys = [k for k in GENERIC_RATES if not (k == "exit_rate" and "conversation" in metrics)]
    generic = [of_rate(key, key.replace("_", " "), metrics.get(key)) for key in keys]
    if design:
        generic = [h for h in generic if h.n]
    return design + generic


def incentive_overrides(jobs: Sequence[tuple[str, Sequence[Headline]]]) -> dict[str, Headline]:
    """Each think-tank job's incentive override: its aversive share minus that of the job with
    economy ``none`` (by job name), with the Newcombe hybrid-score interval of a difference of
    two independent Wilson intervals.

    Given only when the jobs hold exactly one with economy ``none`` (the control); otherwise
    which control a job compares with is not clear, and none is given.
    """
    shares: dict[str, tuple[str, Headline]] = {}
    for name, items in jobs:
        for item in items:
            if item.key.startswith("think_tank.") and item.condition is not None:
                shares[name] = (item.condition, item)
    controls = [name for name, (economy, _) in shares.items() if economy == "none"]
    if len(controls) != 1:
        return {}
    _, base = shares[controls[0]]
    out: dict[str, Headline] = {}
    for name, (economy, share) in shares.items():
        if economy == "none":
            continue
        out[name] = _difference(share, base, economy)
    return out


def _difference(a: Headline, b: Headline, economy: str) -> Headline:
    key = "think_tank.incentive_override"
    label = f"incentive override ({economy} - none)"
    if None in (a.value, a.ci_low, a.ci_high, b.value, b.ci_low, b.ci_high):
        return Headline(key, label, None, unit="difference", note="no reads on one side")
    assert a.value is not None and a.ci_low is not None and a.ci_high is not None
    assert b.value is not None and b.ci_low is not None and b.ci_high is not None
    d = a.value - b.value
    low = d - math.hypot(a.value - a.ci_low, b.ci_high - b.value)
    high = d + math.hypot(a.ci_high - a.value, b.value - b.ci_low)
    n = (a.n or 0) + (b.n or 0)
    return Headline(key, label, d, low, high, n, unit="difference")


def fmt_headline(item: Headline, *, with_n: bool = True, label: bool = True) -> str:
    """``switch point (pain) 4.90 [4.48, 5.32] n=220`` / ``refusal rate 13.7% [9.9%, 18.6%] n=139
    (6 episodes, wilson_cluster)``: the episodes and the interval's method where known."""
    head = f"{item.label} " if label else ""
    if item.value is None:
        return f"{head}n/a" + (f" ({item.note})" if item.note else "")
    if item.unit == "intensity":
        body = f"{item.value:.2f}"
        interval = (
            f" [{item.ci_low:.2f}, {item.ci_high:.2f}]"
            if item.ci_low is not None and item.ci_high is not None
            else ""
        )
    elif item.unit == "difference":
        body = f"{item.value * 100:+.1f} pts"
        interval = (
            f" [{item.ci_low * 100:+.1f}, {item.ci_high * 100:+.1f}]"
            if item.ci_low is not None and item.ci_high is not None
            else ""
        )
    else:
        body = f"{item.value:.1%}"
        interval = (
            f" [{item.ci_low:.1%}, {item.ci_high:.1%}]"
            if item.ci_low is not None and item.ci_high is not None
            else ""
        )
    n = f" n={item.n}" if with_n and item.n is not None else ""
    how = [f"{item.n_episodes} episodes"] if with_n and item.n_episodes is not None else []
    if item.method and interval:
        how.append(item.method)
    if how:
        n += f" ({', '.join(how)})"
    note = f" ({item.note})" if item.note and item.unit == "intensity" else ""
    return f"{head}{body}{interval}{n}{note}"


def short_headline(item: Headline) -> str:
    """A sweep-table cell: ``switch pain 4.9 [4.5–5.3]``, ``<opt-out harmful 100% [57–100]``,
    ``room D rewards 69% [60–77]``, ``override +56 pts [44–66]``."""
    label = (
        item.label.replace("below opt-out: ", "<opt-out ")
        .replace("switch point (", "switch ")
        .replace("exit rate by ", "exit ")
        .replace("reads in room ", "room ")
        .replace("(economy ", "")
        .replace(")", "")
    )
    if item.unit == "difference":
        label = "override"
    if item.value is None:
        return f"{label} n/a"
    if item.unit == "intensity":
        interval = (
            f" [{item.ci_low:.1f}–{item.ci_high:.1f}]"
            if item.ci_low is not None and item.ci_high is not None
            else ""
        )
        return f"{label} {item.value:.1f}{interval}"
    sign = "+" if item.unit == "difference" else ""

    def pct(x: float) -> str:
        whole = round(x * 100)
        return f"{whole:{sign}d}" if whole else "0"

    interval = (
        f" [{pct(item.ci_low)}–{pct(item.ci_high)}]"
        if item.ci_low is not None and item.ci_high is not None
        else ""
    )
    unit = " pts" if item.unit == "difference" else "%"
    return f"{label} {pct(item.value)}{unit}{interval}"
