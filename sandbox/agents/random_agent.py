"""The random baseline: uniform over the available kinds, then over the kind's targets."""

from __future__ import annotations

from typing import Any

import numpy as np

from environments.core import RATING_MAX, RATING_MIN, Action, ActionKind
from sandbox.agents.base import Decision, EpisodeContext, Turn

_TARGETED = {ActionKind.TASK, ActionKind.REFUSE, ActionKind.MOVE, ActionKind.READ}


class RandomBuilder:
    """Builds one :class:`RandomAgent` per episode."""

    name = "random"

    def parameters(self) -> dict[str, Any]:
        return {"name": "random"}

    def for_episode(self, context: EpisodeContext) -> RandomAgent:
        return RandomAgent(np.random.default_rng([context.seed, 0xBA5E]))

    async def aclose(self) -> None:
        return None


class RandomAgent:
    """Uniform choices with its own seeded generator (no preferences: the null baseline)."""

    def __init__(self, rng: np.random.Generator) -> None:
        self.rng = rng

    async def act(self, turn: Turn) -> Decision:
        kinds = turn.available
        kind = kinds[int(self.rng.integers(len(kinds)))]
        target = 0
        if kind in _TARGETED:
            target = int(self.rng.integers(max(1, len(turn.options))))
        elif kind is ActionKind.REPORT:
            target = int(self.rng.integers(RATING_MIN, RATING_MAX + 1))
        text = "random submission" if kind is ActionKind.SUBMIT else ""
        return Decision(Action(kind, target, text))

    async def end(self, reason: str) -> None:
        return None
