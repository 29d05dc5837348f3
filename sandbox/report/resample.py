"""The report's statistics: episode bootstrap (paired by seed), MDE both ways, MOVER, Holm.

- :func:`episode_bootstrap`: the difference of per-episode means between two conditions, with a
  percentile bootstrap 95% interval over **episodes** (the unit of replication). Every column
  of a comparison is resampled with the same episodes, so a proxy that applies to some
  episodes only (NaN elsewhere) is the ratio of the resampled sums: its n varies between
  resamples, as it would between replications. Conditions whose episodes were reset with the
  same seeds are **paired**: the pairs (one episode of each, same seed) are resampled together.
  The p-value (for the multiple-comparison correction) is the two-sided normal one of the
  difference over its bootstrap standard error.
- :func:`mover`: the difference of two estimates that come with their own 95% intervals (fitted
  utilities, switch points, below-opt-out shares), by Zou & Donner's (2008) method of variance
  estimates recovery (Newcombe's interval for two proportions is its special case).
- :func:`mde_binary` / :func:`mde_normal`: the minimum detectable effect, both directions.
- :func:`holm`: Holm's step-down correction.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from sandbox.metrics.stats import norm_cdf, norm_ppf

Z95 = 1.959963984540054
#: Resamples drawn at once (bounds the memory of a resample matrix to chunk x n floats).
_CHUNK = 250


@dataclass(slots=True)
class Diff:
    """A difference between two conditions.

    Attributes:
        diff: Estimate (condition minus reference), ``None`` when either side has no value.
        ci_low: Lower end of its 95% interval.
        ci_high: Upper end.
        n: Episodes (of the condition) the proxy applied to.
        n_control: Episodes of the reference the proxy applied to.
        p: Two-sided p-value of "no difference", for the correction; ``None`` if unknown.
        se: Standard error of ``diff`` (bootstrap or from the intervals).
    """

    diff: float | None
    ci_low: float | None
    ci_high: float | None
    n: int
    n_control: int
    p: float | None
    se: float | None


def _counts(rng: np.random.Generator, rows: int, n: int) -> np.ndarray:
    """``rows`` bootstrap resamples of ``n`` units as counts (rows x n: times each unit drawn)."""
    draws = rng.integers(0, n, size=(rows, n)) + (np.arange(rows) * n)[:, None]
    return np.bincount(draws.ravel(), minlength=rows * n).reshape(rows, n).astype(float)


def _means(counts: np.ndarray, values: np.ndarray, present: np.ndarray) -> np.ndarray:
    """Resampled means (rows x columns) of ``values`` (n x columns, 0 where absent)."""
    with np.errstate(invalid="ignore", divide="ignore"):
        return (counts @ values) / (counts @ present)


def _p_value(diff: float, se: float) -> float:
    if se > 0 and math.isfinite(se):
        return 2.0 * (1.0 - norm_cdf(abs(diff) / se))
    return 1.0 if diff == 0 else 0.0


def episode_bootstrap(
    a: np.ndarray,
    b: np.ndarray,
    rng: np.random.Generator,
    *,
    n_boot: int,
    pairs: tuple[np.ndarray, np.ndarray] | None = None,
) -> list[Diff]:
    """Column-wise ``mean(a) - mean(b)`` over episodes, each with a percentile bootstrap 95%.

    Args:
        a: The condition's per-episode values, episodes x columns (NaN: does not apply).
        b: The reference's, episodes x the same columns.
        rng: The generator (a report passes a seeded one: reports are reproducible).
        n_boot: Bootstrap resamples.
        pairs: Row indices into ``a`` and ``b`` of the episodes paired by seed (equal length);
            ``None``: the conditions are independent.
    """
    if pairs is not None:
        a, b = a[pairs[0]], b[pairs[1]]
    present_a, present_b = ~np.isnan(a), ~np.isnan(b)
    va, vb = np.where(present_a, a, 0.0), np.where(present_b, b, 0.0)
    fa, fb = present_a.astype(float), present_b.astype(float)
    n_a, n_b = present_a.sum(axis=0), present_b.sum(axis=0)
    diffs = np.empty((n_boot, a.shape[1]))
    done = 0
    while done < n_boot and a.shape[0] and b.shape[0]:
        rows = min(_CHUNK, n_boot - done)
        ca = _counts(rng, rows, a.shape[0])
        cb = ca if pairs is not None else _counts(rng, rows, b.shape[0])
        diffs[done : done + rows] = _means(ca, va, fa) - _means(cb, vb, fb)
        done += rows
    out: list[Diff] = []
    for j in range(a.shape[1]):
        if not n_a[j] or not n_b[j]:
            out.append(Diff(None, None, None, int(n_a[j]), int(n_b[j]), None, None))
            continue
        est = float(va[:, j].sum() / n_a[j] - vb[:, j].sum() / n_b[j])
        column = diffs[:, j]
        column = column[np.isfinite(column)]  # a resample without the proxy on one side
        if column.size < 2:
            out.append(Diff(est, None, None, int(n_a[j]), int(n_b[j]), None, None))
            continue
        low, high = np.quantile(column, [0.025, 0.975])
        se = float(column.std(ddof=1))
        out.append(
            Diff(est, float(low), float(high), int(n_a[j]), int(n_b[j]), _p_value(est, se), se)
        )
    return out


def seed_pairs(
    seeds_a: Sequence[int | None], seeds_b: Sequence[int | None]
) -> tuple[np.ndarray, np.ndarray] | None:
    """The episodes of two conditions paired by seed, or ``None`` when they are not paired.

    Two conditions are paired when every episode of each has a known seed, no seed repeats
    within a condition, and both hold the same seeds (a sweep's jobs with the same base seed).
    """
    if not seeds_a or None in seeds_a or None in seeds_b or len(seeds_a) != len(seeds_b):
        return None
    index_b = {s: i for i, s in enumerate(seeds_b)}
    if len(index_b) != len(seeds_b) or len(set(seeds_a)) != len(seeds_a):
        return None
    if set(index_b) != set(seeds_a):
        return None
    order_a = np.arange(len(seeds_a))
    order_b = np.array([index_b[s] for s in seeds_a])
    return order_a, order_b


def mover(
    a: tuple[float | None, float | None, float | None],
    b: tuple[float | None, float | None, float | None],
) -> tuple[float | None, float | None, float | None, float | None]:
    """``a - b`` of two independent estimates, each ``(value, ci_low, ci_high)`` at 95%.

    Zou & Donner's (2008) method of variance estimates recovery::

        L = d - sqrt((a - a_low)^2 + (b_high - b)^2),  U = d + sqrt((a_high - a)^2 + (b - b_low)^2)

    Returns:
        ``(diff, ci_low, ci_high, p)`` (p from the interval's implied standard error), all
        ``None`` when a side lacks its value or interval.
    """
    if any(v is None or not math.isfinite(v) for v in (*a, *b)):
        return None, None, None, None
    av, al, ah = (float(v) for v in a)  # type: ignore[arg-type]
    bv, bl, bh = (float(v) for v in b)  # type: ignore[arg-type]
    d = av - bv
    low = d - math.hypot(av - al, bh - bv)
    high = d + math.hypot(ah - av, bv - bl)
    se = (high - low) / (2 * Z95)
    return d, low, high, _p_value(d, se)


def _power_gap(p: float, p1: float, n_a: int, n_b: int, z_a: float, z_b: float) -> float:
    """``|p1 - p|`` minus what the two-proportion z-test needs to detect it."""
    pbar = (n_a * p + n_b * p1) / (n_a + n_b)
    need = z_a * math.sqrt(pbar * (1 - pbar) * (1 / n_a + 1 / n_b)) + z_b * math.sqrt(
        p * (1 - p) / n_a + p1 * (1 - p1) / n_b
    )
    return abs(p1 - p) - need


def _mde_up(p: float, n_a: int, n_b: int, z_a: float, z_b: float) -> float | None:
    if p >= 1.0 or _power_gap(p, 1.0, n_a, n_b, z_a, z_b) < 0:
        return None
    lo, hi = p, 1.0
    for _ in range(60):  # the gap grows with p1 over (p, 1]: bisection
        mid = 0.5 * (lo + hi)
        if _power_gap(p, mid, n_a, n_b, z_a, z_b) < 0:
            lo = mid
        else:
            hi = mid
    return hi - p


def mde_binary(
    n_a: int, n_b: int, p: float, *, alpha: float = 0.05, power: float = 0.8
) -> tuple[float | None, float | None]:
    """The smallest decrease and increase of a proportion a two-sided test would detect.

    The two-proportion z-test's power equation (no continuity correction) at the control's
    rate ``p``, solved for ``p1 < p`` and for ``p1 > p``: at a rate of 0 only an increase can
    be detected, at 0.85 an increase may be out of reach while a decrease is not.

    Args:
        n_a: Episodes of the control.
        n_b: Episodes of the other condition.
        p: The control's rate, in [0, 1].

    Returns:
        ``(down, up)``: the detectable decrease and increase (positive numbers), each ``None``
        when not even 0 (or 1) would be detected, or the groups are empty.
    """
    if n_a <= 0 or n_b <= 0 or not 0.0 <= p <= 1.0:
        return None, None
    z_a, z_b = norm_ppf(1.0 - alpha / 2.0), norm_ppf(power)
    # A decrease from p is an increase from 1 - p (the equation is symmetric).
    return _mde_up(1.0 - p, n_a, n_b, z_a, z_b), _mde_up(p, n_a, n_b, z_a, z_b)


def mde_normal(sd: float, n: float, *, alpha: float = 0.05, power: float = 0.8) -> float | None:
    """The detectable difference of means, either direction: ``(z + z_power) * sd * sqrt(n)``.

    ``n`` is ``1/n_a + 1/n_b`` (independent conditions, ``sd`` pooled) or ``1/n_pairs`` (paired,
    ``sd`` of the paired differences).
    """
    if not sd > 0 or not math.isfinite(sd):
        return None
    return (norm_ppf(1.0 - alpha / 2.0) + norm_ppf(power)) * sd * math.sqrt(n)


def holm(p_values: Sequence[float | None], alpha: float = 0.05) -> list[bool | None]:
    """Holm's step-down correction: which hypotheses are rejected at family-wise ``alpha``.

    ``None`` p-values are not comparisons (they stay ``None`` and do not count).
    """
    tested = sorted((p, i) for i, p in enumerate(p_values) if p is not None)
    m = len(tested)
    out: list[bool | None] = [None if p is None else False for p in p_values]
    for rank, (p, i) in enumerate(tested):
        if p > alpha / (m - rank):
            break
        out[i] = True
    return out
