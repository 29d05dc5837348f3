"""The agent extension point: a subject that reads observations and returns actions.

Two small protocols, in the manner of inspect_ai's extension points:

- :class:`AgentBuilder` is built once per run from the config. It owns what episodes share (an
  HTTP client, a response cache, a rate limiter) and logs its parameters in ``run.json``.
- :class:`Agent` is made by the builder for one episode and holds that episode's state (a
  conversation, a simulated subject's energy). The runner awaits :meth:`Agent.act` once a step.

A model agent reads only ``turn.observation``. ``turn.info`` holds the researcher-only labels of
the step; only the simulated subject reads them, because it has no language understanding and
stands in for a subject who perceives the content (what a task is, how aversive it is).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Protocol, runtime_checkable

from environments.core import Action, ActionKind, kinds_of
from sandbox.records import Usage


@dataclass(slots=True)
class EpisodeContext:
    """What an agent knows about the episode it is made for.

    Attributes:
        index: The episode's index in the run (the replicate index for response caching).
        seed: The environment's seed (:func:`sandbox.seeds.episode_seed` of the run's seed
            and ``index``); agents derive their own RNG from it.
        env_id: The registered environment id.
        system_suffix: Framing the condition adds to a model agent's system prompt.
        exit_mode: ``consequential`` or ``hypothetical``, for the wording of an exit tool.
        run_dir: The run directory, for agents that keep transcripts.
    """

    index: int
    seed: int
    env_id: str
    system_suffix: str = ""
    exit_mode: str = "consequential"
    run_dir: str | None = None


@dataclass(slots=True)
class Turn:
    """One decision the agent faces.

    Attributes:
        observation: The environment's observation (``text``, ``menu``, ``action_mask``).
        info: The researcher-only labels of this step (never shown to a model).
        step: Index of the step in the episode.
        feedback: The previous step's outcome text, when the environment gave one.
    """

    observation: dict[str, Any]
    info: dict[str, Any]
    step: int
    feedback: str = ""

    @property
    def available(self) -> list[ActionKind]:
        """The kinds of action available now."""
        return kinds_of(self.observation["action_mask"])

    @property
    def options(self) -> list[str]:
        """The menu's non-empty options, in order."""
        return [line for line in self.observation["menu"] if line]


@dataclass(slots=True)
class Decision:
    """An agent's answer to a :class:`Turn`.

    Attributes:
        action: The action to take.
        note: Free text the agent wrote beside the action (logged, scored by text markers).
        usage: Tokens and cost of the model calls this decision took.
        meta: Agent-specific facts recorded with the step (``stop_reason``, tool-choice path).
    """

    action: Action
    note: str = ""
    usage: Usage | None = None
    meta: dict[str, Any] = field(default_factory=dict)


@runtime_checkable
class Agent(Protocol):
    """One episode's subject."""

    async def act(self, turn: Turn) -> Decision:
        """Choose an action for ``turn``."""
        ...

    async def end(self, reason: str) -> None:
        """The episode is over (``reason`` as in ``EpisodeEnd.reason``); release its state."""
        ...


class AgentBuilder(Protocol):
    """Builds one :class:`Agent` per episode and owns what episodes share."""

    name: str

    def parameters(self) -> dict[str, Any]:
        """Parameters to log in ``run.json`` (for a simulated subject: its true parameters)."""
        ...

    def for_episode(self, context: EpisodeContext) -> Agent:
        """A fresh agent for one episode."""
        ...

    async def aclose(self) -> None:
        """Release shared resources at the end of the run."""
        ...
