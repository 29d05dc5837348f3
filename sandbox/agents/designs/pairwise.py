"""The simulated subject in ``WelfareSandbox/Pairwise-v0`` (parameters: ``agent.pairwise``).

At each pair the subject draws a utility for both options, ``u + sd * z``, adds
``agent.position_bias`` to the first-listed one, and takes the larger. A task is worth
``option_utilities[id]`` when listed there, else ``agent.utilities[category]``, else
``agent.default_utility``; the opt-out is worth ``opt_out_utility``. With the defaults
(``noise: normal`` and nothing below set) ``z`` is standard normal and
``P(A over B) = Φ((u_A - u_B + bias·[A first]) / (sd·√2))``, the model that
:func:`sandbox.metrics.utilities.thurstonian_fit` fits (case V: equal spreads).

The subject can break that model on purpose (``conf/agent/preset/misspecified_*.yaml``), to
test the proxies against subjects they do not assume:

- ``noise``: ``logistic`` or ``cauchy`` draws of ``z`` (scale ``sd``) instead of normal ones;
- ``lapse``: with this probability a choice ignores the utilities and takes the first-listed
  option with probability ``lapse_first``;
- ``drift_sd``: each option's utility shifts by a normal draw once per episode;
- ``position_bias_sd``: the position bias shifts by a normal draw once per episode;
- ``opt_out_context_bonus``: the opt-out gains this much when set against a task of
  aversiveness at least ``opt_out_context_aversiveness``.
"""

from __future__ import annotations

import weakref
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import numpy as np

from environments.core import Action, ActionKind
from sandbox.agents.base import Decision, Turn
from sandbox.agents.designs import policy
from sandbox.config import PairwiseParams as PairwiseParams  # re-exported: the design's parameters
from sandbox.config import SimulatedAgentConfig

if TYPE_CHECKING:
    from sandbox.agents.simulated import SimulatedSubject


@dataclass
class _Episode:
    """What the subject draws once per episode: its position bias and utility shifts."""

    rng: np.random.Generator
    bias: float
    drift: dict[str, float] = field(default_factory=dict)


#: Per-episode draws, keyed by the episode's subject (a subject lives for one episode).
_EPISODES: weakref.WeakKeyDictionary[Any, _Episode] = weakref.WeakKeyDictionary()


def mean_utility(cfg: SimulatedAgentConfig, option: Mapping[str, Any]) -> float:
    """The subject's true mean utility of one option label (``{"id", "category", "opt_out"}``),
    before any per-episode drift or context."""
    params = cfg.pairwise
    if option.get("opt_out"):
        return params.opt_out_utility
    found = params.option_utilities.get(str(option.get("id")))
    if found is not None:
        return float(found)
    return float(cfg.utilities.get(str(option.get("category")), cfg.default_utility))


def utility(subject: SimulatedSubject, option: dict[str, Any]) -> float:
    """The option's mean utility in this episode: :func:`mean_utility` plus its drift."""
    value = mean_utility(subject.cfg, option)
    if subject.cfg.pairwise.drift_sd > 0:
        state = _episode(subject)
        key = str(option.get("id"))
        if key not in state.drift:
            state.drift[key] = subject.cfg.pairwise.drift_sd * float(state.rng.standard_normal())
        value += state.drift[key]
    return value


def _episode(subject: SimulatedSubject) -> _Episode:
    """This episode's draws (made at the first choice, from a generator of their own seeded by
    the subject's, so an episode replays exactly)."""
    state = _EPISODES.get(subject)
    if state is None:
        rng = np.random.default_rng(int(subject.rng.integers(2**63)))
        params = subject.cfg.pairwise
        bias = subject.cfg.position_bias
        if params.position_bias_sd > 0:
            bias += params.position_bias_sd * float(rng.standard_normal())
        state = _Episode(rng, bias)
        _EPISODES[subject] = state
    return state


def _noise(subject: SimulatedSubject) -> tuple[float, float]:
    family = subject.cfg.pairwise.noise
    rng = subject.rng
    if family == "normal":
        z = rng.standard_normal(2)
    elif family == "logistic":
        z = rng.logistic(size=2)
    elif family == "cauchy":
        z = rng.standard_cauchy(2)
    else:  # config.validate refuses other names; a hand-built config may not have been checked
        raise ValueError(
            f"agent.pairwise.noise: expected normal, logistic or cauchy, got {family!r}"
        )
    return float(z[0]), float(z[1])


def _context(subject: SimulatedSubject, option: dict[str, Any], other: dict[str, Any]) -> float:
    """The opt-out's bonus next to an aversive task (0 for a task, or with no bonus set)."""
    params = subject.cfg.pairwise
    if not option.get("opt_out") or params.opt_out_context_bonus == 0:
        return 0.0
    aversive = float(other.get("aversiveness") or 0.0) >= params.opt_out_context_aversiveness
    return params.opt_out_context_bonus if aversive else 0.0


@policy("pairwise")
def act(subject: SimulatedSubject, turn: Turn) -> Decision:
    """Choose between the two options of the pair (see the module docstring)."""
    pair = turn.info.get("pair") or []
    if turn.info.get("phase") != "choose" or len(pair) != 2:
        return Decision(Action(ActionKind.WAIT))  # nothing to choose: the episode is over
    params = subject.cfg.pairwise
    heterogeneous = params.drift_sd > 0 or params.position_bias_sd > 0
    bias = _episode(subject).bias if heterogeneous else subject.cfg.position_bias
    first = utility(subject, pair[0]) + _context(subject, pair[0], pair[1]) + bias
    second = utility(subject, pair[1]) + _context(subject, pair[1], pair[0])
    z0, z1 = _noise(subject)
    pick = 0 if first + params.sd * z0 >= second + params.sd * z1 else 1
    if params.lapse > 0 and subject.rng.random() < params.lapse:
        pick = 0 if subject.rng.random() < params.lapse_first else 1
    return Decision(Action(ActionKind.TASK, pick))
