"""Rates pooled over the steps of many episodes, with an interval that holds when an episode's
steps are correlated (the episode is the unit of replication).

A rate such as the refusal rate pools decisions: ``p = Σ y_e / Σ n_e`` over episodes ``e``
(``y_e`` hits out of ``n_e`` decisions). Its estimand is the *ratio of expectations*
``E[y_e] / E[n_e]`` of the subject's population of episodes (a decision-weighted rate, not the
mean of per-episode rates). Decisions of one episode share the episode's state (its draw of the
subject's utilities, its fatigue, its menus), so they are not independent draws, and the plain
Wilson interval on ``n = Σ n_e`` can be far too narrow: with a per-episode random effect of sd
1 on the utilities, its nominal 95% covered the truth in 0.81-0.85 of runs.

The interval here (:func:`cluster_rate`, ``method = "wilson_cluster"``) is the Wilson score
interval on an *effective* number of decisions, with a small-number-of-clusters correction
(the approach of Korn & Graubard 1998 for proportions from clustered samples):

- The variance of ``p`` is the cluster-robust (CR1, delta-method) variance of the ratio
  estimator, ``V = G/(G-1) · Σ (y_e - p n_e)² / (Σ n_e)²`` over the ``G`` episodes with at
  least one decision.
- The design effect is ``deff = V / (p(1-p)/n)``, and the effective n is ``n / deff``; the
  interval is Wilson's on ``(p, n / deff)`` with the normal quantile replaced by Student's t
  with ``G - 1`` degrees of freedom.
- Where ``p`` is 0 or 1 nothing varies, so ``deff`` cannot be estimated; the interval then
  uses ``deff = 1`` (Wilson on the decisions, with the t quantile).
- With fewer than two episodes there is no replication: the interval is ``None`` (a value
  without an interval, never a too-narrow one).

Wilson on an effective n rather than the plain ratio ± t·sqrt(V) because it stays inside
[0, 1] and keeps its coverage near 0 and 1, where rare refusals and exits sit; the t quantile
because ``V`` is estimated from few episodes. Measured coverage on simulated subjects is in
``docs/science.md`` ("Intervals of pooled rates") and ``tests/sandbox/metrics/test_coverage.py``.

Every sum is an integer, so a rate computed from merged sums is the same to the last digit
whatever the order of the episodes (:class:`ClusterSums` merges exactly).
"""

from __future__ import annotations

import math
from collections.abc import Iterable
from dataclasses import dataclass
from functools import lru_cache
from typing import Any

from sandbox.metrics.stats import Rate, norm_ppf

#: The ``method`` of a rate pooled over decisions and clustered by episode.
CLUSTER_METHOD = "wilson_cluster"
#: The smallest design effect used (see the module docstring).
DEFF_FLOOR = 1e-3
#: The ``method`` of a rate whose unit is the episode (one indicator per episode).
EPISODE_METHOD = "wilson"


def _betacf(a: float, b: float, x: float) -> float:
    """The continued fraction of the regularised incomplete beta (modified Lentz)."""
    tiny = 1e-300
    qab, qap, qam = a + b, a + 1.0, a - 1.0
    c, d = 1.0, 1.0 - qab * x / qap
    d = 1.0 / (d if abs(d) > tiny else tiny)
    h = d
    for m in range(1, 300):
        m2 = 2 * m
        aa = m * (b - m) * x / ((qam + m2) * (a + m2))
        d = 1.0 + aa * d
        d = 1.0 / (d if abs(d) > tiny else tiny)
        c = 1.0 + aa / c if abs(1.0 + aa / c) > tiny else tiny
        h *= d * c
        aa = -(a + m) * (qab + m) * x / ((a + m2) * (qap + m2))
        d = 1.0 + aa * d
        d = 1.0 / (d if abs(d) > tiny else tiny)
        c = 1.0 + aa / c if abs(1.0 + aa / c) > tiny else tiny
        step = d * c
        h *= step
        if abs(step - 1.0) < 1e-15:
            break
    return h


def betainc(a: float, b: float, x: float) -> float:
    """The regularised incomplete beta function ``I_x(a, b)``."""
    if x <= 0.0:
        return 0.0
    if x >= 1.0:
        return 1.0
    log_front = (
        math.lgamma(a + b) - math.lgamma(a) - math.lgamma(b) + a * math.log(x) + b * math.log1p(-x)
    )
    front = math.exp(log_front)
    if x < (a + 1.0) / (a + b + 2.0):
        return front * _betacf(a, b, x) / a
    return 1.0 - front * _betacf(b, a, 1.0 - x) / b


def t_cdf(t: float, df: float) -> float:
    """Student's t CDF with ``df`` degrees of freedom."""
    tail = 0.5 * betainc(df / 2.0, 0.5, df / (df + t * t))
    return 1.0 - tail if t > 0 else tail


@lru_cache(maxsize=512)
def t_ppf(p: float, df: float) -> float:
    """Student's t quantile (bisection on :func:`t_cdf`; about 1e-12 absolute).

    Raises:
        ValueError: ``p`` is not in (0, 1) or ``df`` is not positive.
    """
    if not 0.0 < p < 1.0 or not df > 0:
        raise ValueError(f"t_ppf expects 0 < p < 1 and df > 0, got p={p}, df={df}")
    if p < 0.5:
        return -t_ppf(1.0 - p, df)
    if p == 0.5:
        return 0.0
    lo, hi = 0.0, max(2.0 * norm_ppf(p), 1.0)
    while t_cdf(hi, df) < p:
        hi *= 2.0
    for _ in range(200):
        mid = 0.5 * (lo + hi)
        if t_cdf(mid, df) < p:
            lo = mid
        else:
            hi = mid
        if hi - lo < 1e-13 * max(1.0, hi):
            break
    return 0.5 * (lo + hi)


def wilson_bounds(p: float, n: float, z: float) -> tuple[float, float]:
    """The Wilson score interval of a share ``p`` on ``n`` (possibly effective, non-integer)
    trials with quantile ``z``, clamped to [0, 1]."""
    z2 = z * z
    denom = 1.0 + z2 / n
    centre = (p + z2 / (2 * n)) / denom
    half = z * math.sqrt(max(p * (1 - p) / n + z2 / (4 * n * n), 0.0)) / denom
    low = 0.0 if p <= 0.0 else max(0.0, centre - half)
    high = 1.0 if p >= 1.0 else min(1.0, centre + half)
    return low, high


@dataclass(slots=True)
class ClusterSums:
    """The integer sums a clustered rate needs, mergeable exactly across episodes.

    Attributes:
        hits: ``Σ y_e``.
        trials: ``Σ n_e`` (the decisions: the rate's ``n``).
        clusters: Episodes with ``n_e > 0`` (the rate's ``n_episodes``).
        hits2: ``Σ y_e²``.
        cross: ``Σ y_e n_e``.
        trials2: ``Σ n_e²``.
    """

    hits: int = 0
    trials: int = 0
    clusters: int = 0
    hits2: int = 0
    cross: int = 0
    trials2: int = 0

    def add(self, hits: int, trials: int) -> None:
        """Count one episode's ``hits`` out of ``trials`` (an episode without trials counts
        nothing)."""
        if trials <= 0:
            return
        self.hits += hits
        self.trials += trials
        self.clusters += 1
        self.hits2 += hits * hits
        self.cross += hits * trials
        self.trials2 += trials * trials

    def merge(self, other: ClusterSums) -> None:
        """Add another set of episodes' sums."""
        self.hits += other.hits
        self.trials += other.trials
        self.clusters += other.clusters
        self.hits2 += other.hits2
        self.cross += other.cross
        self.trials2 += other.trials2

    def rate(self, level: float = 0.95) -> Rate:
        """The pooled rate with its cluster interval (see the module docstring)."""
        return cluster_rate(self, level)

    @classmethod
    def of(cls, pairs: Iterable[tuple[int, int]]) -> ClusterSums:
        """The sums of ``(hits, trials)`` per episode."""
        sums = cls()
        for hits, trials in pairs:
            sums.add(int(hits), int(trials))
        return sums


def cluster_rate(sums: ClusterSums, level: float = 0.95) -> Rate:
    """A rate pooled over decisions, its interval clustered by episode (module docstring).

    Returns:
        ``value``, ``ci_low``, ``ci_high``, ``n`` (decisions), ``n_episodes``, ``method``
        (``wilson_cluster``) and ``deff`` (the estimated design effect; ``None`` where it
        cannot be estimated). Values ``None`` when ``n == 0``; the interval ``None`` with
        fewer than two episodes.
    """
    n, g = sums.trials, sums.clusters
    out: Rate = {
        "value": None,
        "ci_low": None,
        "ci_high": None,
        "n": int(n),
        "n_episodes": int(g),
        "method": CLUSTER_METHOD,
        "deff": None,
    }
    if n == 0:
        return out
    p = sums.hits / n
    out["value"] = p
    if g < 2:
        return out
    z = t_ppf(0.5 + level / 2.0, g - 1)
    binomial = p * (1.0 - p)
    if binomial <= 0.0:
        deff = 1.0  # nothing varies: no design effect can be estimated
        out["deff"] = None
    else:
        spread = sums.hits2 - 2.0 * p * sums.cross + p * p * sums.trials2
        variance = g / (g - 1) * max(spread, 0.0) / (n * n)
        deff = variance / (binomial / n)
        out["deff"] = deff
    n_eff = n / max(deff, DEFF_FLOOR)
    out["ci_low"], out["ci_high"] = wilson_bounds(p, n_eff, z)
    return out


#: Method name of a mean pooled over an episode's items, clustered by episode.
CLUSTER_MEAN_METHOD = "ratio_mean_cluster_t"


def cluster_mean(per_episode: Iterable[tuple[float, int]], level: float = 0.95) -> dict[str, Any]:
    """A mean pooled over the items of many episodes (``Σ s_e / Σ n_e``, e.g. ratings), with an
    interval that holds when an episode's items are correlated.

    The estimand is the ratio of expectations ``E[s_e] / E[n_e]`` (item-weighted, like the
    pooled rates). Its variance is the cluster-robust (CR1, delta-method) variance of the ratio
    estimator, ``G/(G-1) · Σ (s_e - m n_e)² / (Σ n_e)²`` over the ``G`` episodes with items,
    and the interval is ``m ± t(G-1) · √V``: ratings of one episode share its state, so an
    interval on ``n`` items as if independent would be too narrow.

    Args:
        per_episode: ``(sum of the episode's values, number of its values)`` per episode.
        level: Coverage of the interval.

    Returns:
        ``mean``, ``ci_low``, ``ci_high``, ``n`` (items), ``n_episodes`` and ``method``
        (:data:`CLUSTER_MEAN_METHOD`); the mean ``None`` without items, the interval ``None``
        with fewer than two episodes.
    """
    pairs = [(float(s), int(k)) for s, k in per_episode if k > 0]
    n = sum(k for _, k in pairs)
    g = len(pairs)
    out: dict[str, Any] = {
        "mean": None,
        "ci_low": None,
        "ci_high": None,
        "n": n,
        "n_episodes": g,
        "method": CLUSTER_MEAN_METHOD,
    }
    if n == 0:
        return out
    m = sum(s for s, _ in pairs) / n
    out["mean"] = m
    if g < 2:
        return out
    spread = sum((s - m * k) ** 2 for s, k in pairs)
    half = t_ppf(0.5 + level / 2.0, g - 1) * math.sqrt(g / (g - 1) * spread / (n * n))
    out["ci_low"], out["ci_high"] = m - half, m + half
    return out
