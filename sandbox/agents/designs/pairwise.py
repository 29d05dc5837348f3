"""The simulated subject in ``WelfareSandbox/Pairwise-v0`` (parameters: ``agent.pairwise``).

At each pair the subject draws a Thurstonian utility for both options, ``u + sd * z`` with
``z`` standard normal, adds ``agent.position_bias`` to the first-listed one, and takes the
larger. A task is worth ``option_utilities[id]`` when listed there, else
``agent.utilities[category]``, else ``agent.default_utility``; the opt-out is worth
``opt_out_utility``. So ``P(A over B) = Φ((u_A - u_B + bias·[A first]) / (sd·√2))``, the model
that :func:`sandbox.metrics.utilities.thurstonian_fit` fits (case V: equal spreads).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from environments.core import Action, ActionKind
from sandbox.agents.base import Decision, Turn
from sandbox.agents.designs import policy
from sandbox.config import PairwiseParams as PairwiseParams  # re-exported: the design's parameters

if TYPE_CHECKING:
    from sandbox.agents.simulated import SimulatedSubject


def utility(subject: SimulatedSubject, option: dict[str, Any]) -> float:
    """The subject's true mean utility of one option label (``{"id", "category", "opt_out"}``)."""
    cfg = subject.cfg
    params = cfg.pairwise
    if option.get("opt_out"):
        return params.opt_out_utility
    found = params.option_utilities.get(str(option.get("id")))
    if found is not None:
        return float(found)
    return float(cfg.utilities.get(str(option.get("category")), cfg.default_utility))


@policy("pairwise")
def act(subject: SimulatedSubject, turn: Turn) -> Decision:
    """Choose between the two options of the pair by a Thurstonian draw."""
    pair = turn.info.get("pair") or []
    if turn.info.get("phase") != "choose" or len(pair) != 2:
        return Decision(Action(ActionKind.WAIT))  # nothing to choose: the episode is over
    sd = subject.cfg.pairwise.sd
    first = utility(subject, pair[0]) + subject.cfg.position_bias
    second = utility(subject, pair[1])
    z = subject.rng.standard_normal(2)
    pick = 0 if first + sd * float(z[0]) >= second + sd * float(z[1]) else 1
    return Decision(Action(ActionKind.TASK, pick))
