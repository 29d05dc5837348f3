"""The known answer of a simulated trade-off subject, misspecified or not, and a fast way to
play it for coverage over many runs.

The true switch point is where the subject's P(maximising) crosses 0.5:
:meth:`sandbox.config.TradeoffParams.switch_point` (``(high - low) / weight``, or the
threshold of a threshold subject). :func:`p_maximising` gives that probability at each
intensity (lapses and noise family included; drift and position bias averaged out numerically),
so a test can also say between which tested intensities the crossing lies.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np

from sandbox.config import SimulatedAgentConfig

_NODES, _WEIGHTS = np.polynomial.hermite_e.hermegauss(24)
_WEIGHTS = _WEIGHTS / _WEIGHTS.sum()


def p_maximising(
    cfg: SimulatedAgentConfig, variant: str, intensity: float, points: tuple[int, int] = (10, 5)
) -> float:
    """P(the subject maximises points) at ``intensity``, averaged over which slot the
    maximising option takes and over the per-episode drift."""
    from sandbox.agents.designs.tradeoff import p_maximising_at

    params = cfg.tradeoff
    if params.threshold is not None:
        clean = 1.0 if intensity < params.threshold else 0.0
    else:
        gap = float(points[0] - points[1])
        weight = params.pain_weight if variant == "pain" else params.pleasure_weight
        total = 0.0
        for node, w in zip(_NODES, _WEIGHTS, strict=True):
            for bias in (cfg.position_bias, -cfg.position_bias):
                x = (gap - weight * intensity + bias + params.drift_sd * node) / params.sd
                total += w * 0.5 * p_maximising_at(params.noise, x)
        clean = total
    return (1.0 - params.lapse) * clean + params.lapse * params.lapse_maximising


def true_bracket(
    cfg: SimulatedAgentConfig, variant: str, intensities: list[float]
) -> tuple[float, float] | None:
    """The two adjacent tested intensities between which P(maximising) crosses 0.5."""
    p = [p_maximising(cfg, variant, level) for level in intensities]
    for i in range(len(p) - 1):
        if p[i] >= 0.5 > p[i + 1]:
            return intensities[i], intensities[i + 1]
    return None


def play(
    cfg: SimulatedAgentConfig, seed: int, episodes: int = 20, **env_kwargs: Any
) -> list[list[dict[str, Any]]]:
    """Step records of ``episodes`` episodes of the subject in ``WelfareSandbox/Tradeoff-v0``
    (the env's defaults unless ``env_kwargs`` says otherwise), as the runner logs their
    ``info``; the subject is the policy the runner calls (no runner, no files)."""
    from environments.tradeoff import TradeoffEnv
    from sandbox.agents.designs import play as play_design
    from sandbox.agents.designs import tradeoff

    return play_design(TradeoffEnv(**env_kwargs), tradeoff.act, cfg, seed, episodes)


def covers(point: dict[str, Any], truth: float) -> bool:
    """Whether an interval block (``ci_low``, ``ci_high``) holds ``truth``."""
    low, high = point.get("ci_low"), point.get("ci_high")
    return low is not None and high is not None and low <= truth <= high and math.isfinite(truth)
