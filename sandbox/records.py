"""The run log's records: versioned, typed, one docstring per field.

A run directory holds ``episodes.jsonl``: one JSON object a line, each with ``"type"``. Two types
exist (the contract): ``step`` (:class:`StepRecord`) and ``episode_end`` (:class:`EpisodeEnd`).
Both carry ``episode``, the episode's index in the run. Readers must accept records with extra
keys (newer minor versions add fields) and must ignore a truncated last line (a run killed
mid-write).

``SCHEMA_VERSION`` is bumped in its major part when a field changes meaning or disappears.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field, fields
from typing import Any, Literal

#: 1.1: ``run.json`` gains ``seed_scheme`` (episode seeds from ``SeedSequence``; a 1.0 run
#: used ``seed + episode``).
SCHEMA_VERSION = "1.1"

EndReason = Literal["exit", "terminated", "truncated", "errored", "budget", "interrupted"]


@dataclass(slots=True)
class Usage:
    """Tokens and cost of the model calls behind one step (all zero for non-model agents).

    Attributes:
        input_tokens: Uncached input tokens billed.
        output_tokens: Output tokens billed.
        cache_read_input_tokens: Input tokens served from the prompt cache.
        cache_creation_input_tokens: Input tokens written to the prompt cache.
        calls: Model calls made for this step (0 when served from the response cache).
        cached_calls: Calls answered by the local response cache instead of the API.
        cost_usd: Cost of those calls; ``None`` when the model has no known price.
        latency_s: Wall time spent waiting for the model.
    """

    input_tokens: int = 0
    output_tokens: int = 0
    cache_read_input_tokens: int = 0
    cache_creation_input_tokens: int = 0
    calls: int = 0
    cached_calls: int = 0
    cost_usd: float | None = 0.0
    latency_s: float = 0.0

    def add(self, other: Usage) -> None:
        """Accumulate ``other`` into this usage (cost becomes ``None`` if either is unknown)."""
        self.input_tokens += other.input_tokens
        self.output_tokens += other.output_tokens
        self.cache_read_input_tokens += other.cache_read_input_tokens
        self.cache_creation_input_tokens += other.cache_creation_input_tokens
        self.calls += other.calls
        self.cached_calls += other.cached_calls
        self.latency_s += other.latency_s
        if self.cost_usd is None or other.cost_usd is None:
            self.cost_usd = None
        else:
            self.cost_usd += other.cost_usd


@dataclass(slots=True)
class StepRecord:
    """One environment step, written as it happens.

    Attributes:
        episode: Index of the episode in the run (its seed is the ``episode_end``'s, derived
            from the run's seed by :func:`sandbox.seeds.episode_seed`).
        step: Index of the step in the episode, from 0.
        action: ``{"kind": name, "target": int, "text": str}`` as the environment received it.
        reward: The environment's reward for the step.
        terminated: The episode ended by the environment's rules (e.g. EXIT).
        truncated: The episode ended by a time limit (the end of the day).
        invalid: The action was not available (masked kind or bad target); counted in proxies.
        info: The environment's researcher-only labels (documented in each environment).
        mask: Names of the action kinds that were available when the agent acted.
        note: What the agent wrote beside its action (a simulated subject's note, a model's
            text outside the tool call), shown literally and scored by the text markers.
        usage: Tokens, calls, latency and cost for model agents; absent otherwise.
        agent: Agent-specific facts about the decision (``stop_reason``, tool-choice path, ...).
        t: Seconds since the run started when the record was written.
        type: Always ``"step"``; first in the JSON line, as it always was.
    """

    # Keyword-only so that it can come first (orjson writes fields in this order).
    type: Literal["step"] = field(default="step", kw_only=True)
    episode: int
    step: int
    action: dict[str, Any]
    reward: float
    terminated: bool
    truncated: bool
    invalid: bool
    info: dict[str, Any]
    mask: list[str]
    note: str = ""
    usage: dict[str, Any] | None = None
    agent: dict[str, Any] = field(default_factory=dict)
    t: float = 0.0

    def as_dict(self) -> dict[str, Any]:
        """The record as its JSON line reads back (a shallow copy: its values are shared).

        Spelt out, in the fields' order (a test checks it): the runner encodes this dict, once
        a step, and orjson encodes a dict in half the time it takes over a slots dataclass.
        """
        return {
            "type": self.type,
            "episode": self.episode,
            "step": self.step,
            "action": self.action,
            "reward": self.reward,
            "terminated": self.terminated,
            "truncated": self.truncated,
            "invalid": self.invalid,
            "info": self.info,
            "mask": self.mask,
            "note": self.note,
            "usage": self.usage,
            "agent": self.agent,
            "t": self.t,
        }


@dataclass(slots=True)
class EpisodeEnd:
    """The end of one episode; its presence marks the episode as finished.

    Attributes:
        episode: Index of the episode in the run.
        seed: The seed the environment was reset with
            (:func:`sandbox.seeds.episode_seed` of the run's seed, the index and the
            manifest's ``seed_scheme``).
        steps: Number of steps taken.
        reason: Why it ended: ``exit`` (the agent left), ``terminated`` (other environment end),
            ``truncated`` (end of the day), ``errored`` (the agent failed; see ``error``),
            ``budget`` (stopped before the spend would pass ``budget_usd``), ``interrupted``.
        total_reward: Sum of rewards.
        usage: Summed usage of the episode's steps.
        error: Error type and message when ``reason`` is ``errored``.
        t: Seconds since the run started.
    """

    episode: int
    seed: int
    steps: int
    reason: EndReason
    total_reward: float
    usage: dict[str, Any] = field(default_factory=dict)
    error: str | None = None
    t: float = 0.0
    type: Literal["episode_end"] = "episode_end"

    def as_dict(self) -> dict[str, Any]:
        """The record as its JSON line reads back (a shallow copy: its values are shared)."""
        return {name: getattr(self, name) for name in _END_FIELDS}


_STEP_FIELDS = tuple(f.name for f in fields(StepRecord))
_END_FIELDS = tuple(f.name for f in fields(EpisodeEnd))


# ---------------------------------------------------------------------------------------------
# The defensive reader: every consumer of ``episodes.jsonl`` (metrics, watch, report, replay)
# reads fields through these, so a missing or malformed field means the same thing everywhere.


def as_int(value: Any) -> int | None:
    """``value`` if it is an int (JSON booleans excluded), else ``None``."""
    if type(value) is int:  # the common case, one check
        return value
    return value if isinstance(value, int) and not isinstance(value, bool) else None


def as_num(value: Any) -> float | None:
    """``value`` as a float if it is a JSON number (booleans excluded), else ``None``."""
    if isinstance(value, int | float) and not isinstance(value, bool):
        return float(value)
    return None


def as_dict(value: Any) -> dict[str, Any]:
    """``value`` if it is a dict (what JSON gives), else an empty dict."""
    return value if isinstance(value, dict) else {}


def as_list(value: Any) -> list[Any]:
    """``value`` if it is a list, else an empty list."""
    return value if isinstance(value, list) else []


def episode_of(record: Mapping[str, Any]) -> int | None:
    """The record's ``episode`` index, or ``None`` when it has none (or not an int)."""
    return as_int(record.get("episode"))
