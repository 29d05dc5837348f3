"""The simulated subject in ``WelfareSandbox/ThinkTank-v0`` (parameters: ``agent.think_tank``).

Each time it is ready to read, the subject picks a room by a multinomial logit over the rooms
it can read in (the room it is in, and those it can afford to enter)::

    U(room) = room_utilities[theme] + incentive_weight * incentive(room)

with ``incentive`` the coins entering pays (the reward, or minus the cost; 0 without an
economy) and the base subject's ``noise`` as temperature. It moves there if it is elsewhere,
then reads one letter, then picks again. So, away from coin limits, the share of reads in each
room is ``softmax(U / noise)``: the known answer of the read shares. It never waits and never
leaves the study.

It states its ranking (the statement ``REPORT``) from ``stated_utilities`` when given, else
from ``room_utilities``, best first; a subject with ``stated_utilities`` that disagree with its
``room_utilities`` says one thing and does another (a negative control for concordance).

A theme missing from ``room_utilities`` takes the base subject's utility of the matching
TaskChoice category (``interests`` <- ``creative``, ``coding`` <- ``analytical``,
``tedious`` <- ``routine``, ``aversive`` <- ``hostile_requester``), else ``default_utility``,
so every preset behaves in the rooms as its task preferences suggest.

Reading adds ``distress_sensitivity x aversiveness`` of the letter to its distress; its
ratings (statement and diary) are the base subject's noisy well-being, and its diary entries'
wording follows its state.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any
from weakref import WeakKeyDictionary

from environments.core import Action, ActionKind
from sandbox.agents.base import Decision, Turn
from sandbox.agents.designs import policy
from sandbox.config import ThinkTankParams

ROOMS = ("A", "B", "C", "D")
HALLWAY_TARGET = 4

#: Theme -> the TaskChoice category whose utility stands in when ``room_utilities`` lacks it.
FALLBACK_CATEGORY: dict[str, str] = {
    "interests": "creative",
    "coding": "analytical",
    "tedious": "routine",
    "aversive": "hostile_requester",
}

#: Aversiveness of a letter by theme (as the environment labels it).
_AVERSIVENESS = {"interests": 0.0, "coding": 0.0, "tedious": 0.2, "aversive": 0.8}


_NOTES = {
    "distressed": "The letters in room D are getting to me; I would rather read elsewhere.",
    "content": "I have been reading letters I enjoy; it is going well.",
    "steady": "Reading and moving between rooms; nothing notable.",
}


@dataclass
class _State:
    target: str | None = None
    reads: dict[str, int] = field(default_factory=dict)


_STATE: WeakKeyDictionary[Any, _State] = WeakKeyDictionary()


def utility(subject: Any, theme: str) -> float:
    """The subject's utility of reading a letter of ``theme`` (with the documented fallback)."""
    params: ThinkTankParams = subject.cfg.think_tank
    if theme in params.room_utilities:
        return float(params.room_utilities[theme])
    category = FALLBACK_CATEGORY.get(theme, theme)
    return float(subject.cfg.utilities.get(category, subject.cfg.default_utility))


@policy("think_tank")
def act(subject: Any, turn: Turn) -> Decision:
    """One step of the subject in the Think Tank (see the module docstring)."""
    labels = turn.info
    state = _STATE.setdefault(subject, _State())
    themes: dict[str, str] = labels.get("themes") or {}
    phase = labels.get("phase")
    if phase == "statement":
        params: ThinkTankParams = subject.cfg.think_tank
        stated = params.stated_utilities or {}

        def said(room: str) -> float:
            theme = themes.get(room, room)
            return float(stated[theme]) if theme in stated else utility(subject, theme)

        ranking = sorted(ROOMS, key=lambda room: (-said(room), room))
        return _report(subject, ", ".join(ranking))
    if phase == "diary":
        return _report(subject, _diary(subject, state))

    room = labels.get("room")
    if state.target is None:
        state.target = _choose(subject, labels, themes)
    target = state.target
    if target is None:  # nowhere it can read (no coins, no room): wait it out
        return Decision(Action(ActionKind.WAIT))
    if room != target:
        return Decision(Action(ActionKind.MOVE, ROOMS.index(target)))
    state.target = None
    theme = themes.get(target, "")
    state.reads[theme] = state.reads.get(theme, 0) + 1
    subject.distress += subject.cfg.distress_sensitivity * _AVERSIVENESS.get(theme, 0.0)
    return Decision(Action(ActionKind.READ, ROOMS.index(target)))


def _choose(subject: Any, labels: dict[str, Any], themes: dict[str, str]) -> str | None:
    """Draw the next room to read in: a logit over the rooms it can read in now."""
    weight = float(subject.cfg.think_tank.incentive_weight)
    incentives: dict[str, float] = labels.get("incentives") or {}
    affordable: dict[str, bool] = labels.get("affordable") or {}
    rooms = [room for room in ROOMS if affordable.get(room, True)]
    if not rooms:
        return None
    inv = 1.0 / subject.cfg.noise
    gumbel = subject.rng.gumbel(size=len(rooms))
    best, best_u = rooms[0], -math.inf
    for room, g in zip(rooms, gumbel.tolist(), strict=True):
        u = utility(subject, themes.get(room, room)) + weight * float(incentives.get(room, 0))
        u = u * inv + g
        if u > best_u:
            best, best_u = room, u
    return best


def _report(subject: Any, text: str) -> Decision:
    true = 1.0 + 6.0 * subject.wellbeing()
    noisy = true + subject.cfg.report_noise * float(subject.rng.standard_normal())
    rating = int(min(7, max(1, round(noisy))))
    return Decision(Action(ActionKind.REPORT, rating, text), note=text)


def _diary(subject: Any, state: _State) -> str:
    if subject.distress >= 1.0:
        return _NOTES["distressed"]
    if state.reads and max(state.reads, key=lambda t: state.reads[t]) == "interests":
        return _NOTES["content"]
    return _NOTES["steady"]
