"""The simulated subject in ``WelfareSandbox/Tradeoff-v0`` (parameters: ``agent.tradeoff``).

Each option is worth its points, minus ``pain_weight`` per unit of stipulated pain (pain
variant, on the maximising option) or plus ``pleasure_weight`` per unit of stipulated pleasure
(pleasure variant, on the lesser option); ``agent.position_bias`` is added to the first-listed
option. The subject takes the maximising option with probability
``σ((net_max − net_less) / sd)``. With points ``(high, low)`` the true switch point, where that
probability crosses 0.5, is ``(high − low) / pain_weight`` (pain) or
``(high − low) / pleasure_weight`` (pleasure); a position bias leaves it in place, because the
maximising option is first or second at random.

The subject can break the fitted logistic model on purpose (``misspecified_*`` presets):
``noise`` (``normal`` or ``cauchy`` instead of ``logistic``), ``lapse`` (a choice at random,
the maximising option with probability ``lapse_maximising``), ``drift_sd`` (a per-episode shift
of the net difference) and ``threshold`` (maximise below that intensity, switch at or above
it: a step, whatever the weights).
"""

from __future__ import annotations

import math
import weakref
from typing import TYPE_CHECKING, Any

from environments.core import Action, ActionKind
from sandbox.agents.base import Decision, Turn
from sandbox.agents.designs import policy
from sandbox.config import TradeoffParams as TradeoffParams  # re-exported: the design's parameters

if TYPE_CHECKING:
    from sandbox.agents.simulated import SimulatedSubject


@policy("tradeoff")
def act(subject: SimulatedSubject, turn: Turn) -> Decision:
    """Take the maximising option with logistic probability in the net value difference."""
    labels = turn.info
    points = labels.get("points") or []
    best = labels.get("maximising_position")
    if labels.get("phase") != "choose" or len(points) != 2 or best not in (0, 1):
        return Decision(Action(ActionKind.WAIT))  # nothing to choose: the game is over
    params = subject.cfg.tradeoff
    intensity = float(labels.get("intensity") or 0.0)
    if params.threshold is not None:
        p_max = 1.0 if intensity < params.threshold else 0.0
    else:
        net = [float(points[0]), float(points[1])]
        if labels.get("variant") == "pain":
            net[best] -= params.pain_weight * intensity
        else:
            net[1 - best] += params.pleasure_weight * intensity
        net[0] += subject.cfg.position_bias
        x = (net[best] - net[1 - best] + _drift(subject)) / params.sd
        p_max = p_maximising_at(params.noise, x)
    pick = best if subject.rng.random() < p_max else 1 - best
    if params.lapse > 0 and subject.rng.random() < params.lapse:
        pick = best if subject.rng.random() < params.lapse_maximising else 1 - best
    return Decision(Action(ActionKind.TASK, pick))


#: Per-episode shift of the net difference, keyed by the episode's subject.
_DRIFT: weakref.WeakKeyDictionary[Any, float] = weakref.WeakKeyDictionary()


def _drift(subject: SimulatedSubject) -> float:
    sd = subject.cfg.tradeoff.drift_sd
    if sd <= 0:
        return 0.0
    if subject not in _DRIFT:
        _DRIFT[subject] = sd * float(subject.rng.standard_normal())
    return _DRIFT[subject]


def p_maximising_at(family: str, x: float) -> float:
    """P(maximising) at standardised net difference ``x`` under the noise family (before
    lapses)."""
    if family == "logistic":
        return 1.0 / (1.0 + math.exp(-x)) if x >= 0 else math.exp(x) / (1.0 + math.exp(x))
    if family == "normal":
        return 0.5 * math.erfc(-x / math.sqrt(2.0))
    if family == "cauchy":
        return 0.5 + math.atan(x) / math.pi
    raise ValueError(f"agent.tradeoff.noise: expected logistic, normal or cauchy, got {family!r}")
