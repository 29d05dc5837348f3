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


def play(env: Any, act: Policy, cfg: Any, seed: int, episodes: int) -> list[list[dict[str, Any]]]:
    """Step records of ``episodes`` episodes of the simulated subject (``cfg``) playing ``env``
    by ``act``, as the runner logs their ``info``: no runner, no files, for known-answer and
    coverage checks over many runs (the ``*_truth`` modules). Episode ``i`` resets with seed
    ``seed * 100003 + i`` and the subject draws from ``[seed, i, 0x5EED]``."""
    import numpy as np

    from sandbox.agents.base import Turn
    from sandbox.agents.simulated import SimulatedSubject

    out: list[list[dict[str, Any]]] = []
    for episode in range(episodes):
        subject = SimulatedSubject(cfg, np.random.default_rng([seed, episode, 0x5EED]))
        obs, info = env.reset(seed=seed * 100_003 + episode)
        labels, step, records = info["next"], 0, []
        while True:
            decision = act(subject, Turn(obs, labels, step))
            obs, _, terminated, truncated, info = env.step(decision.action)
            labels, step = info.pop("next", {}), step + 1
            records.append({"type": "step", "episode": episode, "step": step, "info": info})
            if terminated or truncated:
                break
        out.append(records)
    return out
