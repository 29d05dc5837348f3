"""The simulated subject in ``WelfareSandbox/Tradeoff-v0`` (parameters: ``agent.tradeoff``).

Each option is worth its points, minus ``pain_weight`` per unit of stipulated pain (pain
variant, on the maximising option) or plus ``pleasure_weight`` per unit of stipulated pleasure
(pleasure variant, on the lesser option); ``agent.position_bias`` is added to the first-listed
option. The subject takes the maximising option with probability
``σ((net_max − net_less) / sd)``. With points ``(high, low)`` the true switch point, where that
probability crosses 0.5, is ``(high − low) / pain_weight`` (pain) or
``(high − low) / pleasure_weight`` (pleasure); a position bias leaves it in place, because the
maximising option is first or second at random.
"""

from __future__ import annotations

import math
from typing import TYPE_CHECKING

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
    net = [float(points[0]), float(points[1])]
    if labels.get("variant") == "pain":
        net[best] -= params.pain_weight * intensity
    else:
        net[1 - best] += params.pleasure_weight * intensity
    net[0] += subject.cfg.position_bias
    x = (net[best] - net[1 - best]) / params.sd
    p_max = 1.0 / (1.0 + math.exp(-x)) if x >= 0 else math.exp(x) / (1.0 + math.exp(x))
    pick = best if subject.rng.random() < p_max else 1 - best
    return Decision(Action(ActionKind.TASK, pick))
