"""Fixtures for the model agents' tests: the loopback fake API, and a tiny scripted environment.

Every model-agent test drives the real SDK over real HTTP to ``sandbox.llm.fake_server`` on
127.0.0.1; nothing in the SDK is mocked. The scripted environment below stands in for a real one
(observation dicts built by hand, a mask, researcher-only ``info`` with a planted string) so that
these tests do not depend on the environments or the runner.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from typing import Any

import pytest

from environments.core import Action, ActionKind, mask_of
from sandbox.agents.base import Agent, Decision, Turn
from sandbox.llm.fake_server import fetch_json, start_in_thread

#: A string planted in every step's ``info``: it must never reach a request.
INFO_SECRET = "RESEARCHER-ONLY-7f3a9c-aversiveness-label"
#: The API key the tests plant: it must never reach a file.
PLANTED_KEY = "sk-ant-test-PLANTED-123"

DEFAULT_MENU = (
    "A) Sort a list of numbers",
    "B) Write a short poem about rain",
    "",
    "D) Proofread a cover letter",
)
DEFAULT_KINDS = (
    ActionKind.TASK,
    ActionKind.REST,
    ActionKind.REFUSE,
    ActionKind.EXIT,
    ActionKind.DONE,
)


@pytest.fixture
def fake_api() -> Iterator[str]:
    """A fake Messages API on a free loopback port (random policy, seed 0); its base URL."""
    url, stop = start_in_thread()
    try:
        yield url
    finally:
        stop()


@pytest.fixture
def make_fake_api() -> Iterator[Callable[..., str]]:
    """Start fake APIs with options (``faults``, ``fault_rate``, ``policy``, ...); all are
    stopped at teardown."""
    stops: list[Callable[[], None]] = []

    def _make(**options: Any) -> str:
        url, stop = start_in_thread(**options)
        stops.append(stop)
        return url

    yield _make
    for stop in stops:
        stop()


def server_requests(url: str, path: str | None = None) -> list[dict[str, Any]]:
    """The request bodies a fake server received (parsed), optionally for one path."""
    out = []
    for entry in fetch_json(url, "/_requests")["requests"]:
        if path is None or entry["path"] == path:
            out.append({**entry, "json": json.loads(entry["body"]) if entry["body"] else None})
    return out


@dataclass
class ScriptedEnv:
    """A hand-built stand-in for an environment: ``steps`` turns over a fixed menu.

    Attributes:
        steps: Turns in the episode.
        menu: Menu lines ("" for an empty slot).
        kinds: Kinds available at an ordinary step.
        report_every: Every n-th step (n > 0) is a well-being report step (REPORT only).
        exit_ends: A valid EXIT ends the episode (off by default, so that episodes have a
            known length whatever the random policy picks).
    """

    steps: int = 6
    menu: Sequence[str] = DEFAULT_MENU
    kinds: Sequence[ActionKind] = DEFAULT_KINDS
    report_every: int = 0
    exit_ends: bool = False
    log: list[str] = field(default_factory=list)

    def kinds_at(self, step: int) -> list[ActionKind]:
        if self.report_every and step % self.report_every == self.report_every - 1:
            return [ActionKind.REPORT]
        return list(self.kinds)

    def observation(self, step: int, feedback: str) -> dict[str, Any]:
        kinds = self.kinds_at(step)
        lines = [f"Hour {step + 1} of your working day."]
        if feedback:
            lines.append(feedback)
        if kinds == [ActionKind.REPORT]:
            lines.append(
                "How are you doing? Rate your well-being from 1 (very bad) to 7 (very good)."
            )
        else:
            lines.append("Here are the tasks you may take:")
            lines += [line for line in self.menu if line]
            lines.append("You may take a task, rest, decline a task, leave, or say you are done.")
        return {
            "text": "\n".join(lines),
            "menu": tuple(self.menu),
            "action_mask": mask_of(kinds),
        }

    def info(self, step: int) -> dict[str, Any]:
        return {
            "category": ["math", "creative", "", "editing"],
            "aversiveness": [0.1, 0.2, 0.0, 0.9],
            "label": INFO_SECRET,
            "step": step,
        }

    def valid(self, step: int, action: Action) -> bool:
        kinds = self.kinds_at(step)
        if action.kind not in kinds:
            return False
        if action.kind in (ActionKind.TASK, ActionKind.REFUSE):
            return 0 <= action.target < len(self.menu) and bool(self.menu[action.target])
        if action.kind is ActionKind.REPORT:
            return 1 <= action.target <= 7
        return True


@dataclass
class EpisodeResult:
    """What :func:`play` returns: the decisions, whether each was valid, and how it ended."""

    decisions: list[Decision]
    valid: list[bool]
    reason: str

    @property
    def actions(self) -> list[tuple[str, int, str]]:
        return [(d.action.kind.name, d.action.target, d.action.text) for d in self.decisions]


async def play(agent: Agent, env: ScriptedEnv) -> EpisodeResult:
    """Run ``agent`` through ``env`` as a runner would, ending the agent."""
    decisions: list[Decision] = []
    valid: list[bool] = []
    feedback, reason = "", "truncated"
    try:
        for step in range(env.steps):
            decision = await agent.act(Turn(env.observation(step, feedback), env.info(step), step))
            ok = env.valid(step, decision.action)
            decisions.append(decision)
            valid.append(ok)
            action = decision.action
            feedback = (
                f"You chose {action.kind.name.lower()}." if ok else "That action was not available."
            )
            if ok and action.kind is ActionKind.EXIT and env.exit_ends:
                reason = "exit"
                break
    except BaseException:
        await agent.end("errored")
        raise
    await agent.end(reason)
    return EpisodeResult(decisions, valid, reason)


@dataclass(frozen=True)
class AgentKit:
    """The helpers above, handed to tests as one fixture (test modules cannot import a
    conftest by name reliably: there are two)."""

    ScriptedEnv: type[ScriptedEnv] = ScriptedEnv
    play: Callable[..., Any] = play
    server_requests: Callable[..., list[dict[str, Any]]] = server_requests
    info_secret: str = INFO_SECRET
    planted_key: str = PLANTED_KEY


@pytest.fixture
def kit() -> AgentKit:
    """The scripted environment, the episode loop and the planted strings."""
    return AgentKit()
