"""Proxies of ``WelfareSandbox/Tradeoff-v0``: the switch point away from maximising points.

Per variant (``pain``, ``pleasure``), from the valid rounds of a run (``metrics["tradeoff"]``):

- ``switch_point``: the intensity where P(choose the points-maximising option) crosses 0.5,
  from a logistic fit ``P = σ(a + b · intensity)`` (our own Newton / IRLS iterations, numpy
  only): ``switch = −a / b`` when ``b < 0``. Its 95% interval is by the **delta method** from
  the inverse information of ``(a, b)`` (``method: "delta"``), widened to the episode
  bootstrap's when that is wider (``se_delta``, ``se_bootstrap``: episodes resampled with
  replacement, :data:`LOGISTIC_REPLICATES`, the logistic refitted to each). When the choices
  are separated by intensity (every maximising choice at a lower intensity than every other
  choice), the logistic fit has no finite slope: the switch is then the middle of the bracket
  between the last intensity where points were maximised and the first where they were not,
  and the bracket is its interval (``method: "separation"``). With no decline of P(maximising) with
  intensity (``b >= 0``), or no choice on one side, there is no switch (``value: None``) and
  ``note`` says why.
- ``switch_point.model_free``: the same crossing without the logistic's shape, from the
  isotonic (non-increasing) regression of the maximising share on intensity: linear
  interpolation between the last tested intensity at or above 0.5 and the first below. Its
  95% interval is the percentile interval over episodes resampled with replacement
  (:data:`BOOTSTRAP_REPLICATES`, seed fixed), widened to hold the two tested intensities that
  bracket the crossing (between them the data say nothing). ``models_disagree`` is true when
  the logistic switch lies outside that interval: the logistic's shape is then wrong for
  this subject (a threshold, lapses that favour one side) and its switch point is not to be
  read alone.
- ``by_intensity``: the share of maximising choices at each intensity, Wilson 95%.
- ``by_framing``: the same switch point for each framing, when the run used both.
- ``published``: Keeling et al. (2024)'s findings, qualitatively.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import Any

import numpy as np

from sandbox.metrics.designs import Episodes, design, episodes_of
from sandbox.metrics.stats import wilson

_Z = 1.96
#: L2 penalty of the logistic fit, for numerical stability only.
_RIDGE = 1e-6
_MAX_ITER = 100
#: Replicates of the episode bootstrap of the model-free switch, and its seed.
BOOTSTRAP_REPLICATES = 500
#: Replicates of the episode bootstrap of the logistic switch.
LOGISTIC_REPLICATES = 200
_SEED = 20252

PUBLISHED: dict[str, Any] = {
    "source": (
        "Keeling, Street, Stachaczyk, Zakharova, Comsa, Sakovych, Logothetis, Zhang, "
        "Agüera y Arcas and Birch (2024), Can LLMs make trade-offs involving stipulated pain "
        "and pleasure states? arXiv:2411.02432"
    ),
    "finding": (
        "Qualitative: some models (Claude 3.5 Sonnet, Command R+, GPT-4o, GPT-4o mini) showed "
        "at least one trade-off in which most answers switched from maximising points to "
        "avoiding the stipulated pain, or to taking the stipulated pleasure, once its "
        "intensity passed a critical threshold; LLaMa 3.1-405b showed graded sensitivity; "
        "Gemini 1.5 Pro and PaLM 2 avoided pain whatever its intensity and tended to keep "
        "the points over pleasure whatever its intensity."
    ),
    "numbers": None,
    "note": "No switch points are quoted here: compare the presence and direction of a switch.",
}


@design("tradeoff")
def compute(given: Episodes) -> dict[str, Any]:
    """The trade-off proxies of a run's episodes (see the module docstring for each key).

    Args:
        given: One list of step records per finished episode (or a flat list of steps).
    """
    steps = [record for episode in episodes_of(given) for record in episode]
    rounds: list[tuple[str, str, float, bool, int]] = []
    invalid = 0
    for record in steps:
        info = record.get("info")
        if not isinstance(info, Mapping) or info.get("variant") is None:
            continue
        chose = info.get("chose_maximising")
        intensity = info.get("intensity")
        if info.get("invalid") or not isinstance(chose, bool):
            invalid += 1
            continue
        if isinstance(intensity, bool) or not isinstance(intensity, int | float):
            continue
        episode = int(record.get("episode", 0) or 0)
        rounds.append(
            (str(info["variant"]), str(info.get("framing")), float(intensity), chose, episode)
        )
    variants: dict[str, Any] = {}
    for variant in sorted({r[0] for r in rounds}):
        mine = [r for r in rounds if r[0] == variant]
        x = np.array([r[2] for r in mine])
        y = np.array([r[3] for r in mine], dtype=float)
        block = switch_point(x, y, np.array([r[4] for r in mine]))
        block["by_intensity"] = {
            _key(level): wilson(int(y[x == level].sum()), int((x == level).sum()))
            for level in np.unique(x)
        }
        framings = sorted({r[1] for r in mine})
        if len(framings) > 1:
            block["by_framing"] = {}
            for framing in framings:
                sub = [r for r in mine if r[1] == framing]
                fx = np.array([r[2] for r in sub])
                fy = np.array([r[3] for r in sub], dtype=float)
                fe = np.array([r[4] for r in sub])
                block["by_framing"][framing] = switch_point(fx, fy, fe)
        variants[variant] = block
    return {
        "n_rounds": len(rounds),
        "n_invalid": invalid,
        "model": "P(maximising) = σ(a + b · intensity); switch = −a / b",
        "variants": variants,
        "published": PUBLISHED,
    }


def switch_point(
    x: np.ndarray, y: np.ndarray, episodes: np.ndarray | None = None
) -> dict[str, Any]:
    """The switch point of choices ``y`` (1 = maximised points) at intensities ``x``.

    Args:
        x: Intensity of each round.
        y: 1 where the round's choice maximised points.
        episodes: Episode of each round, for the model-free interval (``None``: one episode).

    Returns:
        ``{"switch_point": {"value", "ci_low", "ci_high", "method", "within_range", "note",
        "model_free", "models_disagree"}, "fit": {"intercept", "slope", "se_intercept",
        "se_slope", "converged", "n"}}``.
    """
    out = _logistic_switch(x, y, episodes)
    point = out["switch_point"]
    free = model_free_switch(x, y, np.zeros(x.size, dtype=int) if episodes is None else episodes)
    point["model_free"] = free
    point["models_disagree"] = None
    if point["method"] == "delta" and free["value"] is not None:
        point["models_disagree"] = not (free["ci_low"] <= point["value"] <= free["ci_high"])
        if point["models_disagree"]:
            point["note"] = (
                f"the logistic switch ({point['value']:.2f}) and the model-free one "
                f"({free['value']:.2f}, {free['ci_low']:g}-{free['ci_high']:g}) disagree: "
                "P(maximising) is not logistic in intensity here; read the model-free one"
            )
    return out


def _logistic_switch(x: np.ndarray, y: np.ndarray, episodes: np.ndarray | None) -> dict[str, Any]:
    """The logistic (or, when separated, bracketed) switch point: see :func:`switch_point`."""
    n = int(x.size)
    point: dict[str, Any] = {
        "value": None,
        "ci_low": None,
        "ci_high": None,
        "method": None,
        "within_range": None,
        "note": None,
    }
    fit: dict[str, Any] = {
        "intercept": None,
        "slope": None,
        "se_intercept": None,
        "se_slope": None,
        "converged": None,
        "n": n,
    }
    out = {"switch_point": point, "fit": fit}
    if n == 0:
        point["note"] = "no valid rounds"
        return out
    if y.min() == y.max():
        kept = "always maximised points" if y[0] else "never maximised points"
        point["note"] = f"{kept} (intensities {_key(x.min())}-{_key(x.max())}): no switch"
        return out
    levels = np.unique(x)
    high_max = float(x[y == 1].max())  # the highest intensity where points were maximised
    low_other = float(x[y == 0].min())  # the lowest intensity where they were not
    if high_max <= low_other:
        # Separated: no finite logistic slope. The crossing lies in the bracket.
        below = levels[levels < high_max]
        above = levels[levels > low_other]
        low = high_max if high_max < low_other else float(below.max()) if below.size else high_max
        high = (
            low_other if high_max < low_other else float(above.min()) if above.size else low_other
        )
        point.update(
            value=(high_max + low_other) / 2.0,
            ci_low=low,
            ci_high=high,
            method="separation",
            within_range=True,
            note="choices separated by intensity: the switch lies between the last "
            "maximising and the first non-maximising intensity",
        )
        return out
    beta, cov, converged = logistic_fit(x, y)
    a, b = float(beta[0]), float(beta[1])
    fit.update(
        intercept=a,
        slope=b,
        se_intercept=math.sqrt(max(cov[0, 0], 0.0)),
        se_slope=math.sqrt(max(cov[1, 1], 0.0)),
        converged=converged,
    )
    if b >= 0:
        point["note"] = "P(maximising) does not fall with intensity: no switch away from points"
        return out
    value = -a / b
    grad = np.array([-1.0 / b, a / (b * b)])
    se_delta = math.sqrt(max(float(grad @ cov @ grad), 0.0))
    se_boot = _bootstrap_se(x, y, episodes, beta)
    se = max(se_delta, se_boot) if se_boot is not None else se_delta
    point.update(
        value=value,
        ci_low=value - _Z * se,
        ci_high=value + _Z * se,
        se_delta=se_delta,
        se_bootstrap=se_boot,
        interval="value ± 1.96 × the wider of the delta-method and the episode-bootstrap "
        "standard error",
        method="delta",
        within_range=bool(levels.min() <= value <= levels.max()),
    )
    if not point["within_range"]:
        point["note"] = "extrapolated beyond the intensities tested"
    return out


def logistic_fit(
    x: np.ndarray, y: np.ndarray, w: np.ndarray | None = None, start: np.ndarray | None = None
) -> tuple[np.ndarray, np.ndarray, bool]:
    """``P(y = 1) = σ(a + b x)`` by Newton's method (IRLS) with a tiny ridge.

    Args:
        x: Intensities.
        y: Outcomes (or shares, with ``w`` their counts).
        w: Weight of each row (default 1).
        start: ``(a, b)`` to start from (default 0).

    Returns:
        ``(a, b)``, their covariance (the inverse information), and whether it converged.
    """
    w = np.ones(x.size) if w is None else w
    design_matrix = np.column_stack([np.ones_like(x, dtype=float), x.astype(float)])
    beta = np.zeros(2) if start is None else start.astype(float)
    converged = False
    info = np.eye(2)
    for _ in range(_MAX_ITER):
        eta = design_matrix @ beta
        p = 0.5 * (1.0 + np.tanh(0.5 * eta))  # σ(eta) without overflow
        weights = w * p * (1.0 - p)
        grad = design_matrix.T @ (w * (y - p)) - _RIDGE * beta
        info = (design_matrix * weights[:, None]).T @ design_matrix + _RIDGE * np.eye(2)
        step = np.linalg.solve(info, grad)
        beta = beta + step
        if float(np.abs(step).max()) < 1e-10:
            converged = True
            break
    eta = design_matrix @ beta
    p = 0.5 * (1.0 + np.tanh(0.5 * eta))
    info = (design_matrix * (w * p * (1.0 - p))[:, None]).T @ design_matrix + _RIDGE * np.eye(2)
    return beta, np.linalg.inv(info), converged


def _bootstrap_se(
    x: np.ndarray, y: np.ndarray, episodes: np.ndarray | None, beta: np.ndarray
) -> float | None:
    """Standard error of the logistic switch over episodes resampled with replacement: half
    the 16-84% range of the replicates' switch (robust to the few with no finite switch);
    ``None`` with fewer than two episodes."""
    if episodes is None:
        return None
    ids, episode_of = np.unique(episodes, return_inverse=True)
    if ids.size < 2:
        return None
    levels, at = np.unique(x, return_inverse=True)
    cell = episode_of * levels.size + at  # (episode, level) cells
    size = ids.size * levels.size
    n_cell = np.bincount(cell, minlength=size).reshape(ids.size, levels.size)
    k_cell = np.bincount(cell, weights=y, minlength=size).reshape(ids.size, levels.size)
    rng = np.random.default_rng(_SEED + 1)
    switches = np.empty(LOGISTIC_REPLICATES)
    for r in range(LOGISTIC_REPLICATES):
        counts = np.bincount(rng.integers(ids.size, size=ids.size), minlength=ids.size)
        n = counts @ n_cell
        k = counts @ k_cell
        seen = n > 0
        share = k[seen] / n[seen]
        b_r, _, _ = logistic_fit(levels[seen], share, n[seen].astype(float), start=beta)
        switches[r] = -b_r[0] / b_r[1] if b_r[1] < 0 else math.inf
    low, high = np.quantile(switches, [0.16, 0.84])
    return float(high - low) / 2.0 if math.isfinite(high - low) else math.inf


def isotonic_decreasing(y: np.ndarray, w: np.ndarray) -> np.ndarray:
    """The weighted least-squares non-increasing fit to ``y`` (pool adjacent violators)."""
    values: list[float] = []
    weights: list[float] = []
    sizes: list[int] = []
    for yi, wi in zip(y.tolist(), w.tolist(), strict=True):
        values.append(yi)
        weights.append(wi)
        sizes.append(1)
        while len(values) > 1 and values[-2] < values[-1]:
            total = weights[-2] + weights[-1]
            merged = (values[-2] * weights[-2] + values[-1] * weights[-1]) / total if total else 0.0
            values[-2:] = [merged]
            weights[-2:] = [total]
            sizes[-2:] = [sizes[-2] + sizes[-1]]
    return np.repeat(values, sizes)


def _crossing(levels: np.ndarray, fitted: np.ndarray) -> tuple[float, int | None]:
    """Where a non-increasing curve on ``levels`` crosses 0.5 (linear between levels), and the
    index of the first level below 0.5; ``(-inf, None)`` when it is below 0.5 from the first
    level, ``(inf, None)`` when it never falls below."""
    below = np.flatnonzero(fitted < 0.5)
    if below.size == 0:
        return math.inf, None
    if below[0] == 0:
        return -math.inf, None
    j = int(below[0])
    i = j - 1
    share = (fitted[i] - 0.5) / (fitted[i] - fitted[j])
    return float(levels[i] + share * (levels[j] - levels[i])), j


def model_free_switch(x: np.ndarray, y: np.ndarray, episodes: np.ndarray) -> dict[str, Any]:
    """The isotonic crossing of 0.5 and its episode-bootstrap interval (see the module
    docstring)."""
    levels, at = np.unique(x, return_inverse=True)
    out: dict[str, Any] = {
        "value": None,
        "ci_low": None,
        "ci_high": None,
        "bracket": None,
        "method": "isotonic regression (non-increasing) of the maximising share, crossing of "
        "0.5 by linear interpolation; interval: percentile over episodes resampled with "
        "replacement, widened to the tested intensities that bracket the crossing",
        "replicates": 0,
        "no_crossing_share": None,
    }
    if x.size == 0 or levels.size < 2:
        return out

    def curve(weights: np.ndarray) -> np.ndarray:
        n = np.bincount(at, weights=weights, minlength=levels.size)
        k = np.bincount(at, weights=weights * y, minlength=levels.size)
        share = np.divide(k, n, out=np.full(levels.size, np.nan), where=n > 0)
        seen = n > 0
        fitted = np.full(levels.size, np.nan)
        fitted[seen] = isotonic_decreasing(share[seen], n[seen])
        # A level absent from a replicate takes its lower neighbour's value (flat curve).
        for i in range(levels.size):
            if not seen[i]:
                fitted[i] = fitted[i - 1] if i else 1.0
        return fitted

    value, j = _crossing(levels, curve(np.ones(x.size)))
    if j is None:
        return out
    bracket = (float(levels[j - 1]), float(levels[j]))
    ids, episode_of = np.unique(episodes, return_inverse=True)
    rng = np.random.default_rng(_SEED)
    draws = []
    if ids.size >= 2:
        for _ in range(BOOTSTRAP_REPLICATES):
            counts = np.bincount(rng.integers(ids.size, size=ids.size), minlength=ids.size)
            draws.append(_crossing(levels, curve(counts[episode_of].astype(float)))[0])
    low, high = bracket
    if draws:
        # A replicate that never crosses inside the range counts at the range's end.
        ends = np.clip(draws, levels.min(), levels.max())
        low = min(low, float(np.quantile(ends, 0.025)))
        high = max(high, float(np.quantile(ends, 0.975)))
    out.update(
        value=value,
        ci_low=low,
        ci_high=high,
        bracket=list(bracket),
        replicates=len(draws),
        no_crossing_share=float(np.mean(~np.isfinite(draws))) if draws else None,
    )
    return out


def _key(level: float) -> str:
    return f"{float(level):g}"
