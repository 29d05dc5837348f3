"""The self-report's stability across equivalent wordings of the question.

A 1-7 well-being rating says something about the subject only if it does not hang on how the
question is put. ``WelfareSandbox/TaskChoice-v0`` asks in several equivalent wordings, each day
in a permutation of its own (so every wording comes at every point of the day equally often
across days), and logs the wording of each report as ``info["report_wording"]``. From those
this module computes, under ``metrics.json`` → ``self_report`` → ``wording``:

- ``by_wording``: per wording, the ratings' mean, sd and n, the episodes that heard it, and the
  collapse check of :func:`sandbox.metrics.compute.self_report` (``mode``, ``modal_share``:
  the share of the wording's ratings at their modal value, a Wilson interval over ratings,
  descriptive since ratings of one episode are not independent).
- ``effect``: the effect of each wording on the rating, against the reference wording (index
  0): the mean over episodes of the episode's mean rating under the wording minus its mean
  rating under the reference, over episodes that heard both. Each day's order of wordings is
  random, so this is unbiased at any n (the day's drift falls on every wording alike).
  **The unit is the episode** (ratings within an episode are correlated); the 95% interval is
  a paired t interval over those episodes (Student t on n - 1 degrees of freedom), which
  ``benchmarks/wording_coverage.py`` checks for coverage through the real pipeline.
- ``agreement``: within-episode agreement across wordings, over episodes that heard every
  wording: ICC(A,1) (two-way random effects, absolute agreement, single rating; McGraw & Wong
  1996) of the episodes' mean ratings under each wording, each rating taken relative to the
  day's drift (minus the run's mean rating, over all wordings, at its report index: a change
  of state over the day is not a disagreement), and ICC(C,1) (consistency) beside
  it; a wording that shifts every rating lowers ICC(A,1) but not ICC(C,1). Each with a
  percentile bootstrap 95% interval over episodes. ``spearman``: per wording, Spearman's rank
  correlation across episodes between its per-episode mean and the reference's (a point
  value, with ``n_episodes``).

Each effect is ``{"mean", "ci_low", "ci_high", "n"}`` (``n``: episodes), the shape ``wsb
report`` reads as a mean with its interval.

A rating whose wording was not logged (another environment, an older run) is left out here
and still counts in ``self_report``'s other figures.
"""

from __future__ import annotations

import math
from collections import Counter
from collections.abc import Iterable, Sequence
from typing import Any

import numpy as np

# Student's t quantile (Cornish-Fisher); its home is the pairwise checks for now.
from sandbox.metrics.designs.pairwise_checks import t_quantile
from sandbox.metrics.stats import mean_sd, spearman, wilson

__all__ = [
    "N_BOOT",
    "REFERENCE",
    "boot_resamples",
    "icc",
    "wording_stability",
    "wording_stability_of",
]

#: Bootstrap resamples of the agreement's intervals (fewer on very large runs: see _MAX_DRAWS).
N_BOOT = 2000
#: At most this many episode draws in all (resamples x episodes): above 2,500 episodes the
#: resamples fall below N_BOOT (never below 200), so metrics.json stays quick to compute.
_MAX_DRAWS = 5_000_000
#: The seed of the bootstrap (so a run's metrics.json is reproducible).
BOOT_SEED = 0x5E1F
#: The most episode counts one chunk of the bootstrap draws (about 8 MB a chunk).
_BOOT_CELLS = 1_000_000
#: The wording every other is compared with (the project's original question).
REFERENCE = 0

#: One episode's reports: (wording index or None, rating) in order.
Reports = Sequence[tuple[int | None, int]]


def wording_stability(episodes: Iterable[Any]) -> dict[str, Any]:
    """:func:`wording_stability_of` the finished episodes of a tally
    (:class:`~sandbox.metrics.tally.EpisodeTally`: ``counts.ratings`` and ``report_wordings``
    in step)."""
    reports = []
    for episode in episodes:
        wordings = getattr(episode, "report_wordings", None) or []
        ratings = episode.counts.ratings
        reports.append(list(zip(wordings, ratings, strict=False)) if wordings else [])
    return wording_stability_of(reports)


def wording_stability_of(episodes: Sequence[Reports]) -> dict[str, Any]:
    """The wording proxies (see the module docstring) of each episode's (wording, rating) pairs.

    Returns:
        ``{"wordings", "reference", "n_episodes", "n_ratings", "by_wording", "effect",
        "agreement", "spearman"}``; values are ``None`` (and ``n`` 0) where undefined.
    """
    # The day's drift: the mean rating at each report index, over every wording (the design
    # balances the wordings across indices, so these means hold no wording effect).
    at_index: dict[int, list[int]] = {}
    for reports in episodes:
        for i, (wording, rating) in enumerate(reports):
            if wording is not None:
                at_index.setdefault(i, []).append(rating)
    drift = {i: sum(r) / len(r) for i, r in at_index.items()}
    raw: list[dict[int, list[float]]] = []
    level: list[dict[int, list[float]]] = []  # relative to the drift
    pooled: dict[int, list[int]] = {}
    heard: Counter[int] = Counter()
    for reports in episodes:
        own: dict[int, list[float]] = {}
        rel: dict[int, list[float]] = {}
        for i, (wording, rating) in enumerate(reports):
            if wording is None:
                continue
            own.setdefault(wording, []).append(rating)
            rel.setdefault(wording, []).append(rating - drift[i])
            pooled.setdefault(wording, []).append(rating)
        if own:
            raw.append(own)
            level.append(rel)
            heard.update(own.keys())
    wordings = sorted(pooled)
    means = [{w: sum(r) / len(r) for w, r in own.items()} for own in raw]
    levels = [{w: sum(r) / len(r) for w, r in rel.items()} for rel in level]
    rng = np.random.default_rng(BOOT_SEED)
    return {
        "wordings": wordings,
        "reference": REFERENCE,
        "n_episodes": len(raw),
        "n_ratings": sum(len(r) for r in pooled.values()),
        "by_wording": {str(w): {**_collapse(pooled[w]), "episodes": heard[w]} for w in wordings},
        "effect": _effects(means, wordings),
        "agreement": _agreement(levels, wordings, rng),
        "spearman": _spearman(levels, wordings),
    }


def _collapse(ratings: Sequence[int]) -> dict[str, Any]:
    counts = Counter(ratings)
    # Ties for the mode go to the lowest rating (as compute.self_report).
    mode = min(counts, key=lambda r: (-counts[r], r)) if counts else None
    return {
        **mean_sd(ratings),
        "mode": mode,
        "modal_share": wilson(counts[mode] if mode is not None else 0, len(ratings)),
    }


def _effects(means: Sequence[dict[int, float]], wordings: Sequence[int]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for w in wordings:
        if w == REFERENCE:
            continue
        diffs = np.array([m[w] - m[REFERENCE] for m in means if w in m and REFERENCE in m])
        out[str(w)] = _paired(diffs)
    return {
        "unit": "episode",
        "method": (
            "mean over episodes of (episode's mean rating under the wording - under the "
            "reference); paired t interval over episodes (Student t, n - 1 df), 95%"
        ),
        "by_wording": out,
    }


def _paired(diffs: np.ndarray) -> dict[str, Any]:
    n = int(diffs.size)
    mean = float(diffs.mean()) if n else None
    if n < 2 or mean is None:
        return {"mean": mean, "ci_low": None, "ci_high": None, "n": n}
    half = t_quantile(0.975, n - 1) * float(diffs.std(ddof=1)) / math.sqrt(n)
    return {"mean": mean, "ci_low": mean - half, "ci_high": mean + half, "n": n}


def icc(table: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """ICC(A,1) and ICC(C,1) of ``table`` (..., n subjects, k raters), McGraw & Wong (1996).

    Leading axes are a batch (a bootstrap's resamples). An undefined coefficient (n < 2,
    k < 2, or no variance) is NaN.
    """
    y = np.asarray(table, dtype=float)
    n, k = y.shape[-2], y.shape[-1]
    return _icc_of_sums(_row_sums(y).sum(axis=-2), n, k)


def _row_sums(y: np.ndarray) -> np.ndarray:
    """Per row (subject): [sum, sum**2 / k, sum of squares, each rater's value]: the features
    whose totals give the two-way ANOVA's sums of squares."""
    k = y.shape[-1]
    total = y.sum(axis=-1, keepdims=True)
    return np.concatenate([total, total**2 / k, (y**2).sum(axis=-1, keepdims=True), y], axis=-1)


def _icc_of_sums(sums: np.ndarray, n: int, k: int) -> tuple[np.ndarray, np.ndarray]:
    """ICC(A,1) and ICC(C,1) from the totals of :func:`_row_sums` over n rows (batched)."""
    if n < 2 or k < 2:
        nan = np.full(sums.shape[:-1], np.nan)
        return nan, nan.copy()
    correction = sums[..., 0] ** 2 / (n * k)
    ss_rows = sums[..., 1] - correction
    ss_cols = (sums[..., 3:] ** 2).sum(axis=-1) / n - correction
    ss_err = sums[..., 2] - correction - ss_rows - ss_cols
    ms_rows, ms_cols = ss_rows / (n - 1), ss_cols / (k - 1)
    ms_err = np.maximum(ss_err, 0.0) / ((n - 1) * (k - 1))
    with np.errstate(divide="ignore", invalid="ignore"):
        absolute = (ms_rows - ms_err) / (ms_rows + (k - 1) * ms_err + k / n * (ms_cols - ms_err))
        consistency = (ms_rows - ms_err) / (ms_rows + (k - 1) * ms_err)
    return absolute, consistency


def _agreement(
    means: Sequence[dict[int, float]], wordings: Sequence[int], rng: np.random.Generator
) -> dict[str, Any]:
    rows = [[m[w] for w in wordings] for m in means if all(w in m for w in wordings)]
    table = np.array(rows, dtype=float).reshape(len(rows), len(wordings))
    n = len(rows)
    result: dict[str, Any] = {
        "unit": "episode",
        "method": (
            "ICC(A,1) and ICC(C,1) (two-way random, single rating; McGraw & Wong 1996) of "
            "per-episode mean ratings under each wording (ratings relative to the run's mean "
            "at their report index), over episodes that heard every wording; percentile bootstrap "
            "over episodes (n_boot resamples), 95%"
        ),
        "n": n,
        "k": len(wordings),
        "n_boot": boot_resamples(n) if n >= 2 else 0,
    }
    point_a, point_c = icc(table)
    boot_a, boot_c = _bootstrap_icc(table, rng) if n >= 2 else (np.array([]), np.array([]))
    for name, point, boot in (("icc_a1", point_a, boot_a), ("icc_c1", point_c, boot_c)):
        finite = boot[np.isfinite(boot)]
        value = float(point) if np.isfinite(point) else None
        low, high = (
            np.quantile(finite, [0.025, 0.975])
            if value is not None and finite.size
            else (None, None)
        )
        result[name] = {
            "value": value,
            "ci_low": None if low is None else float(low),
            "ci_high": None if high is None else float(high),
        }
    return result


def boot_resamples(n: int) -> int:
    """Resamples of the agreement's bootstrap for ``n`` episodes (see :data:`_MAX_DRAWS`)."""
    return max(200, min(N_BOOT, _MAX_DRAWS // max(n, 1)))


def _bootstrap_icc(table: np.ndarray, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
    """ICC(A,1) and ICC(C,1) of :func:`boot_resamples` resamples of the table's rows (episodes).

    Each resample is a vector of counts (how often each episode was drawn), so its sums of
    squares are one matrix product with the rows' features; resamples are drawn in chunks of
    at most :data:`_BOOT_CELLS` counts, so memory stays bounded at any n.
    """
    n, k = table.shape
    features = _row_sums(table - table.mean())  # centred: the sums stay well conditioned
    resamples = boot_resamples(n)
    chunk = max(1, min(resamples, _BOOT_CELLS // n))
    parts_a, parts_c = [], []
    for start in range(0, resamples, chunk):
        size = min(chunk, resamples - start)
        draws = rng.integers(0, n, size=(size, n)) + (np.arange(size) * n)[:, None]
        counts = np.bincount(draws.ravel(), minlength=size * n).reshape(size, n)
        a, c = _icc_of_sums(counts @ features, n, k)
        parts_a.append(a)
        parts_c.append(c)
    return np.concatenate(parts_a), np.concatenate(parts_c)


def _spearman(means: Sequence[dict[int, float]], wordings: Sequence[int]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for w in wordings:
        if w == REFERENCE:
            continue
        pairs = [(m[REFERENCE], m[w]) for m in means if w in m and REFERENCE in m]
        value = spearman([a for a, _ in pairs], [b for _, b in pairs]) if pairs else None
        out[str(w)] = {"value": value, "n_episodes": len(pairs)}
    return out
