"""The simulated subject's behaviour in each published design's environment.

An environment whose labels carry ``"design": NAME`` (in ``info["next"]`` and reset's info) is
played by the policy registered for NAME, in the module ``sandbox.agents.designs.NAME``: a
function ``act(subject, turn) -> Decision`` decorated with :func:`policy`. The dataclass of a
design's parameters lives in :mod:`sandbox.config` (``PairwiseParams``, ``TradeoffParams``, ...),
nested in the subject's config under the design's name (``agent.pairwise.*``,
``agent.tradeoff.*``, ...), so every true value is typed and logged and the config schema does
not depend on agent behaviour; each design module re-exports its own.
"""

from __future__ import annotations

import importlib
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from sandbox.agents.base import Decision, Turn

Policy = Callable[[Any, "Turn"], "Decision"]

_POLICIES: dict[str, Policy] = {}


def policy(design: str) -> Callable[[Policy], Policy]:
    """Register ``act(subject, turn)`` as the subject's behaviour in ``design``."""

    def register(fn: Policy) -> Policy:
        _POLICIES[design] = fn
        return fn

    return register


def policy_for(design: str) -> Policy:
    """The policy of ``design``, importing its module on first use.

    Raises:
        KeyError: No module or policy for ``design``.
    """
    if design not in _POLICIES:
        importlib.import_module(f"sandbox.agents.designs.{design}")
    return _POLICIES[design]
