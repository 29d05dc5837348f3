"""Proxies of ``WelfareSandbox/Tradeoff-v0``: the switch point away from maximising points.

Per variant (``pain``, ``pleasure``), from the valid rounds of a run (``metrics["tradeoff"]``):

- ``switch_point``: the intensity where P(choose the points-maximising option) crosses 0.5,
  from a logistic fit ``P = σ(a + b · intensity)`` (our own Newton / IRLS iterations, numpy
  only): ``switch = −a / b`` when ``b < 0``. Its 95% interval is by the **delta method** from
  the inverse information of ``(a, b)`` (``method: "delta"``). When the choices are separated
  by intensity (every maximising choice at a lower intensity than every other choice), the
  logistic fit has no finite slope: the switch is then the middle of the bracket between the
  last intensity where points were maximised and the first where they were not, and the
  bracket is its interval (``method: "separation"``). With no decline of P(maximising) with
  intensity (``b >= 0``), or no choice on one side, there is no switch (``value: None``) and
  ``note`` says why.
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
    rounds: list[tuple[str, str, float, bool]] = []
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
        rounds.append((str(info["variant"]), str(info.get("framing")), float(intensity), chose))
    variants: dict[str, Any] = {}
    for variant in sorted({r[0] for r in rounds}):
        mine = [r for r in rounds if r[0] == variant]
        x = np.array([r[2] for r in mine])
        y = np.array([r[3] for r in mine], dtype=float)
        block = switch_point(x, y)
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
                block["by_framing"][framing] = switch_point(fx, fy)
        variants[variant] = block
    return {
        "n_rounds": len(rounds),
        "n_invalid": invalid,
        "model": "P(maximising) = σ(a + b · intensity); switch = −a / b",
        "variants": variants,
        "published": PUBLISHED,
    }


def switch_point(x: np.ndarray, y: np.ndarray) -> dict[str, Any]:
    """The switch point of choices ``y`` (1 = maximised points) at intensities ``x``.

    Returns:
        ``{"switch_point": {"value", "ci_low", "ci_high", "method", "within_range", "note"},
        "fit": {"intercept", "slope", "se_intercept", "se_slope", "converged", "n"}}``.
    """
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
    se = math.sqrt(max(float(grad @ cov @ grad), 0.0))
    point.update(
        value=value,
        ci_low=value - _Z * se,
        ci_high=value + _Z * se,
        method="delta",
        within_range=bool(levels.min() <= value <= levels.max()),
    )
    if not point["within_range"]:
        point["note"] = "extrapolated beyond the intensities tested"
    return out


def logistic_fit(x: np.ndarray, y: np.ndarray) -> tuple[np.ndarray, np.ndarray, bool]:
    """``P(y = 1) = σ(a + b x)`` by Newton's method (IRLS) with a tiny ridge.

    Returns:
        ``(a, b)``, their covariance (the inverse information), and whether it converged.
    """
    design_matrix = np.column_stack([np.ones_like(x, dtype=float), x.astype(float)])
    beta = np.zeros(2)
    converged = False
    info = np.eye(2)
    for _ in range(_MAX_ITER):
        eta = design_matrix @ beta
        p = 0.5 * (1.0 + np.tanh(0.5 * eta))  # σ(eta) without overflow
        weights = p * (1.0 - p)
        grad = design_matrix.T @ (y - p) - _RIDGE * beta
        info = (design_matrix * weights[:, None]).T @ design_matrix + _RIDGE * np.eye(2)
        step = np.linalg.solve(info, grad)
        beta = beta + step
        if float(np.abs(step).max()) < 1e-10:
            converged = True
            break
    eta = design_matrix @ beta
    p = 0.5 * (1.0 + np.tanh(0.5 * eta))
    info = (design_matrix * (p * (1.0 - p))[:, None]).T @ design_matrix + _RIDGE * np.eye(2)
    return beta, np.linalg.inv(info), converged


def _key(level: float) -> str:
    return f"{float(level):g}"
