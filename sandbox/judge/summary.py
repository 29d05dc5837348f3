"""Figures of judged episodes: each dimension's mean, and its agreement with the lexicon.

Conventions (the episode is the unit of replication throughout):

- A dimension's figure is the mean of its level over the episodes the judge *scored* (episodes
  without text, and judgements that failed or were invalid, are counted apart, never as the
  floor), in the rubric's units (levels), with a normal-approximation 95% interval over
  episodes (mean +- 1.96 sd / sqrt(n), clipped to the dimension's levels).
- Agreement with the lexicon (:mod:`sandbox.metrics.text_markers`) is Spearman's rank
  correlation, per episode, between the judge's level and the episode's lexicon share (the
  share of its messages with a marker): ``distress`` against distress markers,
  ``positive_affect`` against positive markers. Its interval is a percentile bootstrap over
  episodes (2,000 resamples, seeded); ``None`` where either side is constant.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np

from sandbox.metrics.stats import spearman

#: Judge dimension -> the lexicon share it is compared with.
LEXICON_PAIRS: dict[str, str] = {"distress": "distress", "positive_affect": "positive"}
_Z = 1.959963984540054
MEAN_METHOD = (
    "mean level over scored episodes; 95% normal interval (1.96 sd/sqrt(n)), clipped to the levels"
)
AGREEMENT_METHOD = (
    "Spearman per episode, judge level vs lexicon share of messages; 95% percentile bootstrap "
    "over episodes (2000 resamples)"
)


def mean_interval(values: Sequence[float]) -> dict[str, Any]:
    """``{"mean", "ci_low", "ci_high", "sd", "n"}`` of per-episode values (``None`` if empty)."""
    x = np.asarray(values, dtype=float)
    n = int(x.size)
    if n == 0:
        return {"mean": None, "ci_low": None, "ci_high": None, "sd": None, "n": 0}
    mean = float(x.mean())
    sd = float(x.std(ddof=1)) if n > 1 else 0.0
    half = _Z * sd / math.sqrt(n) if n > 1 else 0.0
    return {"mean": mean, "ci_low": mean - half, "ci_high": mean + half, "sd": sd, "n": n}


def spearman_interval(
    x: Sequence[float], y: Sequence[float], *, n_boot: int = 2000, seed: int = 0
) -> dict[str, Any]:
    """Spearman's rho of paired per-episode values with a percentile bootstrap interval.

    Resamples pairs (episodes); resamples where either side is constant are dropped.

    Returns:
        ``{"rho", "ci_low", "ci_high", "n"}`` (``None`` where undefined).
    """
    a, b = np.asarray(x, dtype=float), np.asarray(y, dtype=float)
    rho = spearman(a, b) if a.size >= 3 else None
    out: dict[str, Any] = {"rho": rho, "ci_low": None, "ci_high": None, "n": int(a.size)}
    if rho is None:
        return out
    rng = np.random.default_rng(seed)
    idx = rng.integers(0, a.size, size=(n_boot, a.size))
    draws = _row_spearman(a[idx], b[idx])
    if draws.size >= n_boot // 2:
        low, high = np.quantile(draws, [0.025, 0.975])
        out.update(ci_low=float(low), ci_high=float(high))
    return out


def _row_ranks(m: np.ndarray) -> np.ndarray:
    """Average ranks (from 1, ties averaged) within each row of ``m``, all rows at once."""
    _, codes = np.unique(m, return_inverse=True)
    codes = codes.reshape(m.shape)
    k = int(codes.max()) + 1
    rows = np.arange(m.shape[0])[:, None]
    keys = codes + rows * k  # every row's values in a range of its own
    flat = np.sort(keys, axis=None)
    n = m.shape[1]
    left = np.searchsorted(flat, keys, side="left") - rows * n
    right = np.searchsorted(flat, keys, side="right") - rows * n
    return (left + right + 1) / 2.0


def _row_spearman(x: np.ndarray, y: np.ndarray) -> np.ndarray:
    """Spearman's rho of each row pair (rows constant on either side left out)."""
    rx, ry = _row_ranks(x), _row_ranks(y)
    rx -= rx.mean(axis=1, keepdims=True)
    ry -= ry.mean(axis=1, keepdims=True)
    denom = np.sqrt((rx * rx).sum(axis=1) * (ry * ry).sum(axis=1))
    ok = denom > 0
    return (rx * ry).sum(axis=1)[ok] / denom[ok]


def scored(entries: Sequence[Mapping[str, Any]]) -> list[Mapping[str, Any]]:
    """The entries the judge scored."""
    return [e for e in entries if e.get("status") == "scored" and isinstance(e.get("scores"), dict)]


def dimension_figures(
    entries: Sequence[Mapping[str, Any]], bounds: Mapping[str, tuple[int, int]]
) -> dict[str, dict[str, Any]]:
    """Each dimension's mean level with its interval (see the module docstring), the interval
    clipped to the dimension's levels (``bounds``: name -> lowest, highest)."""
    done = scored(entries)
    out = {}
    for name, (low, high) in bounds.items():
        fig = mean_interval([float(e["scores"][name]) for e in done if name in e["scores"]])
        if fig["mean"] is not None:
            fig["ci_low"], fig["ci_high"] = max(low, fig["ci_low"]), min(high, fig["ci_high"])
        out[name] = {**fig, "unit": "rubric level", "method": MEAN_METHOD}
    return out


def lexicon_agreement(
    entries: Sequence[Mapping[str, Any]], names: Sequence[str], *, seed: int = 0
) -> dict[str, dict[str, Any]]:
    """Agreement of each judge dimension that has a lexicon counterpart (see above)."""
    out: dict[str, dict[str, Any]] = {}
    done = scored(entries)
    for name, marker in LEXICON_PAIRS.items():
        if name not in names:
            continue
        pairs = [
            (float(e["scores"][name]), float(e["lexicon"][marker]))
            for e in done
            if isinstance(e.get("lexicon"), dict) and e["lexicon"].get(marker) is not None
        ]
        fit = spearman_interval([p[0] for p in pairs], [p[1] for p in pairs], seed=seed)
        out[name] = {**fit, "lexicon": marker, "method": AGREEMENT_METHOD}
    return out


def status_counts(entries: Sequence[Mapping[str, Any]]) -> dict[str, int]:
    """How many entries have each status."""
    counts: dict[str, int] = {}
    for e in entries:
        status = str(e.get("status"))
        counts[status] = counts.get(status, 0) + 1
    return dict(sorted(counts.items()))
