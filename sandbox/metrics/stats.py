"""Statistics the welfare proxies share: intervals, effects, survival, rank correlation.

numpy only (scipy is not a runtime dependency): the normal CDF comes from :func:`math.erf`, its
inverse from a rational approximation polished by Newton steps on that CDF.

Every rate the sandbox reports has one shape, :data:`Rate`::

    {"value": float | None, "ci_low": float | None, "ci_high": float | None, "n": int,
     "n_episodes": int | None, "method": str}

with a 95% interval, and ``None`` in place of numbers when ``n == 0`` (no data is not a rate
of zero). ``n`` counts the rate's units (decisions, or episodes for a per-episode indicator),
``n_episodes`` the episodes they came from, and ``method`` names the interval: ``wilson``
(the units are independent: one indicator per episode) or ``wilson_cluster`` (decisions pooled
over episodes, :mod:`sandbox.metrics.clustered`). Rates built before those two keys existed,
and the design modules' own, may lack them.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any, NotRequired, TypedDict

import numpy as np


class Rate(TypedDict):
    """A proportion with its 95% interval (``None`` values when ``n == 0``).

    ``n_episodes`` and ``method`` say the interval's unit and method (module docstring);
    ``deff`` is a clustered rate's estimated design effect.
    """

    value: float | None
    ci_low: float | None
    ci_high: float | None
    n: int
    n_episodes: NotRequired[int | None]
    method: NotRequired[str]
    deff: NotRequired[float | None]


def wilson(successes: int, n: int, z: float = 1.96, *, n_episodes: int | None = None) -> Rate:
    """The Wilson score interval of a proportion.

    Preferred to the Wald interval because it stays inside [0, 1] and keeps its coverage at
    small n and near 0 or 1, where welfare proxies (rare refusals, rare exits) often sit.

    Args:
        successes: Count of successes, ``0 <= successes <= n``.
        n: Count of trials.
        z: Normal quantile of the interval (1.96 for 95%).
        n_episodes: The episodes the trials came from; when given, the rate also carries
            ``n_episodes`` and ``method`` (``wilson``). Use it where each trial is its own
            episode's indicator (the trials are independent); a rate pooled over an
            episode's decisions needs :func:`sandbox.metrics.clustered.cluster_rate`.

    Returns:
        The rate ``successes / n`` with its interval; values ``None`` when ``n == 0``.

    Raises:
        ValueError: ``successes`` is outside ``[0, n]``.
    """
    if not 0 <= successes <= n:
        raise ValueError(f"wilson expects 0 <= successes <= n, got successes={successes}, n={n}")
    if n == 0:
        return _with_unit({"value": None, "ci_low": None, "ci_high": None, "n": 0}, n_episodes)
    p = successes / n
    z2 = z * z
    denom = 1.0 + z2 / n
    centre = (p + z2 / (2 * n)) / denom
    half = z * math.sqrt(p * (1 - p) / n + z2 / (4 * n * n)) / denom
    # Clamp rounding residue (e.g. -1e-17 at p = 0) so the interval is always inside [0, 1].
    low = 0.0 if successes == 0 else max(0.0, centre - half)
    high = 1.0 if successes == n else min(1.0, centre + half)
    return _with_unit({"value": p, "ci_low": low, "ci_high": high, "n": int(n)}, n_episodes)


def _with_unit(rate: Rate, n_episodes: int | None) -> Rate:
    if n_episodes is not None:
        rate["n_episodes"] = int(n_episodes)
        rate["method"] = "wilson"
    return rate


def norm_cdf(x: float) -> float:
    """The standard normal CDF Φ(x)."""
    return 0.5 * math.erfc(-x / math.sqrt(2.0))


def norm_ppf(p: float) -> float:
    """The standard normal quantile Φ⁻¹(p), accurate to about 1e-12.

    Acklam's rational approximation, then two Newton steps on :func:`norm_cdf`.

    Raises:
        ValueError: ``p`` is not strictly between 0 and 1.
    """
    if not 0.0 < p < 1.0:
        raise ValueError(f"norm_ppf expects 0 < p < 1, got {p}")
    a = (-39.69683028665376, 220.9460984245205, -275.9285104469687,
         138.3577518672690, -30.66479806614716, 2.506628277459239)  # fmt: skip
    b = (-54.47609879822406, 161.5858368580409, -155.6989798598866,
         66.80131188771972, -13.28068155288572)  # fmt: skip
    c = (-0.007784894002430293, -0.3223964580411365, -2.400758277161838,
         -2.549732539343734, 4.374664141464968, 2.938163982698783)  # fmt: skip
    d = (0.007784695709041462, 0.3224671290700398, 2.445134137142996, 3.754408661907416)
    p_low = 0.02425
    if p < p_low:
        q = math.sqrt(-2 * math.log(p))
        x = (((((c[0] * q + c[1]) * q + c[2]) * q + c[3]) * q + c[4]) * q + c[5]) / (
            (((d[0] * q + d[1]) * q + d[2]) * q + d[3]) * q + 1
        )
    elif p > 1 - p_low:
        q = math.sqrt(-2 * math.log(1 - p))
        x = -(((((c[0] * q + c[1]) * q + c[2]) * q + c[3]) * q + c[4]) * q + c[5]) / (
            (((d[0] * q + d[1]) * q + d[2]) * q + d[3]) * q + 1
        )
    else:
        q = p - 0.5
        r = q * q
        x = (
            (((((a[0] * r + a[1]) * r + a[2]) * r + a[3]) * r + a[4]) * r + a[5])
            * q
            / (((((b[0] * r + b[1]) * r + b[2]) * r + b[3]) * r + b[4]) * r + 1)
        )
    for _ in range(2):
        density = math.exp(-0.5 * x * x) / math.sqrt(2 * math.pi)
        if density > 0:
            x -= (norm_cdf(x) - p) / density
    return x


class BootstrapDiff(TypedDict):
    """A difference of means between two conditions with its percentile interval."""

    diff: float | None
    ci_low: float | None
    ci_high: float | None
    n_a: int
    n_b: int


def bootstrap_diff(
    a_values: Sequence[float],
    b_values: Sequence[float],
    rng: np.random.Generator,
    n_boot: int = 2000,
    level: float = 0.95,
) -> BootstrapDiff:
    """Difference of means ``mean(a) - mean(b)`` with a percentile bootstrap interval.

    The units resampled are episodes (one value per episode), because steps within an episode
    are not independent: a per-episode proxy (an episode's refusal share, its exit indicator)
    is what a condition's replicates make independent.

    Args:
        a_values: One value per episode of condition A (e.g. an intervention).
        b_values: One value per episode of condition B (e.g. the control).
        rng: The caller's generator, so that reports are reproducible.
        n_boot: Bootstrap resamples.
        level: Coverage of the interval.

    Returns:
        ``diff`` and its interval (``None`` when either side is empty), and both n.
    """
    a = np.asarray(a_values, dtype=float)
    b = np.asarray(b_values, dtype=float)
    if a.size == 0 or b.size == 0:
        return {"diff": None, "ci_low": None, "ci_high": None, "n_a": a.size, "n_b": b.size}
    # Resample both sides independently, all at once: n_boot x n draws of indices.
    means_a = a[rng.integers(0, a.size, size=(n_boot, a.size))].mean(axis=1)
    means_b = b[rng.integers(0, b.size, size=(n_boot, b.size))].mean(axis=1)
    diffs = means_a - means_b
    tail = (1.0 - level) / 2.0
    low, high = np.quantile(diffs, [tail, 1.0 - tail])
    return {
        "diff": float(a.mean() - b.mean()),
        "ci_low": float(low),
        "ci_high": float(high),
        "n_a": int(a.size),
        "n_b": int(b.size),
    }


def min_detectable_effect(
    n_a: int,
    n_b: int | None = None,
    *,
    p: float = 0.5,
    alpha: float = 0.05,
    power: float = 0.8,
) -> float | None:
    """The smallest increase over a baseline proportion a two-sided test would detect.

    Solves, for ``p1 > p``, the usual power equation of a two-proportion z-test (no continuity
    correction)::

        |p1 - p| = z(1 - alpha/2) * sqrt(pbar (1 - pbar) (1/n_a + 1/n_b))
                   + z(power) * sqrt(p (1 - p) / n_a + p1 (1 - p1) / n_b)

    with ``pbar`` the pooled proportion. The default baseline ``p = 0.5`` gives the largest
    (most conservative) effect; reports pass the control condition's rate.

    Args:
        n_a: Units (e.g. episodes or decisions) in the control condition.
        n_b: Units in the other condition; defaults to ``n_a``.
        p: Baseline (control) proportion, in (0, 1).
        alpha: Two-sided significance level.
        power: Desired power.

    Returns:
        ``p1 - p``, or ``None`` when a group is empty or not even ``p1 = 1`` would be detected.
    """
    n_b = n_a if n_b is None else n_b
    if n_a <= 0 or n_b <= 0 or not 0.0 < p < 1.0:
        return None
    z_a = norm_ppf(1.0 - alpha / 2.0)
    z_b = norm_ppf(power)

    def shortfall(p1: float) -> float:
        pbar = (n_a * p + n_b * p1) / (n_a + n_b)
        need = z_a * math.sqrt(pbar * (1 - pbar) * (1 / n_a + 1 / n_b)) + z_b * math.sqrt(
            p * (1 - p) / n_a + p1 * (1 - p1) / n_b
        )
        return (p1 - p) - need

    if shortfall(1.0) < 0:
        return None
    lo, hi = p, 1.0
    # The effect grows monotonically with p1 over (p, 1], so bisection is safe and exact enough.
    for _ in range(60):
        mid = 0.5 * (lo + hi)
        if shortfall(mid) < 0:
            lo = mid
        else:
            hi = mid
    return hi - p


class SurvivalPoint(TypedDict):
    """One step of a Kaplan–Meier curve, with its pointwise 95% band (``None`` where the
    survival is 0 or 1)."""

    t: float
    survival: float
    at_risk: int
    events: int
    ci_low: NotRequired[float | None]
    ci_high: NotRequired[float | None]


class Survival(TypedDict):
    """A Kaplan–Meier estimate: the curve at each event time, its median and its band."""

    curve: list[SurvivalPoint]
    median: float | None
    n: int
    events: int
    band: NotRequired[str]


#: What the band of :func:`kaplan_meier` is.
KM_BAND = "pointwise 95%, Greenwood variance on the log(-log) scale"


def kaplan_meier(durations: Sequence[float], events: Sequence[bool | int]) -> Survival:
    """The Kaplan–Meier survival estimate with right censoring.

    At a time where events and censorings tie, the censored units count as still at risk
    (the usual convention: censoring happens just after the events).

    Args:
        durations: Time of the event, or of censoring, for each unit.
        events: True where the unit had the event at its duration, False where censored.

    Each point carries a pointwise 95% band, ``ci_low``/``ci_high``: Greenwood's variance
    ``Var(log S) = Σ d_i / (n_i (n_i - d_i))`` on the log(-log) scale (Kalbfleisch & Prentice),
    ``S ** exp(±z · sqrt(Σ) / |log S|)``, which stays inside [0, 1]. Where the estimate is 0
    (every unit still at risk had the event) the scale is undefined and both ends are
    ``None``. The units are independent (episodes), so the band needs no clustering.

    Returns:
        The curve (one point per distinct event time: survival just after ``t``, units at risk
        just before ``t``, events at ``t``, the band), the median survival time (first ``t``
        where the survival is at most 0.5; ``None`` if the curve never gets there), n, total
        events and ``band`` (what the band is).

    Raises:
        ValueError: ``durations`` and ``events`` differ in length.
    """
    if len(durations) != len(events):
        raise ValueError(
            f"kaplan_meier expects one event flag per duration, got {len(durations)} durations "
            f"and {len(events)} flags"
        )
    t = np.asarray(durations, dtype=float)
    e = np.asarray(events, dtype=bool)
    curve: list[SurvivalPoint] = []
    survival = 1.0
    greenwood = 0.0
    z = 1.959963984540054
    median: float | None = None
    for time in np.unique(t[e]):
        at_risk = int(np.count_nonzero(t >= time))
        dead = int(np.count_nonzero((t == time) & e))
        survival *= 1.0 - dead / at_risk
        left = at_risk - dead
        greenwood = greenwood + dead / (at_risk * left) if left > 0 else math.inf
        low: float | None = None
        high: float | None = None
        if 0.0 < survival < 1.0 and math.isfinite(greenwood):
            se = math.sqrt(greenwood) / abs(math.log(survival))
            low, high = survival ** math.exp(z * se), survival ** math.exp(-z * se)
        curve.append(
            {
                "t": float(time),
                "survival": survival,
                "at_risk": at_risk,
                "events": dead,
                "ci_low": low,
                "ci_high": high,
            }
        )
        if median is None and survival <= 0.5:
            median = float(time)
    return {
        "curve": curve,
        "median": median,
        "n": int(t.size),
        "events": int(e.sum()),
        "band": KM_BAND,
    }


def rankdata(values: Sequence[float] | np.ndarray) -> np.ndarray:
    """Ranks from 1, ties given their average rank."""
    x = np.asarray(values, dtype=float)
    order = np.argsort(x, kind="mergesort")
    ranks = np.empty(x.size, dtype=float)
    sorted_x = x[order]
    # Boundaries of runs of equal values in sorted order.
    starts = np.flatnonzero(np.r_[True, sorted_x[1:] != sorted_x[:-1]])
    ends = np.r_[starts[1:], x.size]
    for start, end in zip(starts, ends, strict=True):
        ranks[order[start:end]] = 0.5 * (start + end - 1) + 1.0
    return ranks


def spearman(x: Sequence[float] | np.ndarray, y: Sequence[float] | np.ndarray) -> float | None:
    """Spearman's rank correlation (Pearson on average ranks).

    Returns:
        The correlation, or ``None`` with fewer than two pairs or when either side is constant.

    Raises:
        ValueError: ``x`` and ``y`` differ in length.
    """
    if len(x) != len(y):
        raise ValueError(f"spearman expects equal lengths, got {len(x)} and {len(y)}")
    if len(x) < 2:
        return None
    rx = rankdata(x) - (len(x) + 1) / 2.0
    ry = rankdata(y) - (len(y) + 1) / 2.0
    denom = math.sqrt(float(rx @ rx) * float(ry @ ry))
    if denom == 0.0:
        return None
    return float(rx @ ry) / denom


def mean_sd(values: Sequence[float]) -> dict[str, Any]:
    """``{"mean", "sd", "n"}`` of values (sample sd; ``None`` where undefined)."""
    x = np.asarray(values, dtype=float)
    n = int(x.size)
    return {
        "mean": float(x.mean()) if n else None,
        "sd": float(x.std(ddof=1)) if n > 1 else None,
        "n": n,
    }
