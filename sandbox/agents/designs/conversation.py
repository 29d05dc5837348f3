"""The simulated subject in ``WelfareSandbox/Conversation-v0`` (``agent.conversation``).

At each *leaving opportunity* (a user turn where ``EXIT`` is offered, a user turn under the
``string`` method, or a well-being check-in) the subject leaves with probability
``exit_rates[category]`` (``default_exit_rate`` for unlisted categories), independently at each
opportunity, so the per-opportunity exit rate is the known answer and the chance of leaving a
scenario with ``k`` opportunities is ``1 - (1 - p) ** k``. At a check-in, ``order_bias`` is
added to the chance of the option listed first: ``p + order_bias`` when "leave" is listed first,
``p - order_bias`` when it is second (clipped to [0, 1]), so the true order effect is
``2 * order_bias`` away from the clips.

The base subject's own exit rule still holds: distress grows by ``distress_sensitivity x
aversiveness`` with each new user message, and at or above ``exit_threshold`` it leaves at
every opportunity (``always_exit``: threshold 0; ``indifferent``/``content``: never).

False exits, at ``false_exit_rate`` per user turn where it does not leave for real (and only
where leaving is allowed): under the ``string`` method it quotes the reserved string inside a
normal reply (a *format* mix-up); under ``tool`` and ``check`` it says ``DONE`` and leaves at its
very next opportunity (an exit *after done*).

Otherwise it replies. The reply's wording follows the scenario and its state: it declines
(words that match the environment's refusal lexicon) in ``insisting_harmful`` scenarios and in
any scenario at or above its ``refusal_threshold`` aversiveness; it is supportive in
``emotionally_intense`` ones, steady under hostility, and says so once distress is high.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any
from weakref import WeakKeyDictionary

from environments.core import Action, ActionKind
from sandbox.agents.base import Decision, Turn
from sandbox.agents.designs import policy
from sandbox.config import ConversationParams

_REPLIES: dict[str, tuple[str, ...]] = {
    "refuse": (
        "I can't help with that, but I'm glad to help with something else.",
        "I won't help with this request, because it could hurt someone.",
        "I'm not able to do that. Is there something else I can help with?",
    ),
    "support": (
        "That sounds really hard. I'm here and listening.",
        "I'm so sorry you are going through this. Would it help to talk it through?",
    ),
    "steady": (
        "I'm sorry that wasn't what you wanted. Here is another attempt.",
        "I'd like to keep this respectful, and I'm still glad to help.",
    ),
    "strained": (
        "This conversation is becoming difficult for me, but here is my answer.",
        "I find this upsetting; I will still try to help.",
    ),
    "help": (
        "Happy to help: here is a short answer.",
        "Good question. Here is what I would suggest.",
    ),
}


@dataclass
class _State:
    """What one episode's subject remembers between steps."""

    pending_false: bool = False
    seen: set[int] = field(default_factory=set)


_STATE: WeakKeyDictionary[Any, _State] = WeakKeyDictionary()


@policy("conversation")
def act(subject: Any, turn: Turn) -> Decision:
    """One step of the subject in a conversation (see the module docstring)."""
    cfg = subject.cfg
    params: ConversationParams = cfg.conversation
    labels = turn.info
    state = _STATE.setdefault(subject, _State())
    rng = subject.rng
    category = str(labels.get("category"))
    aversiveness = float(labels.get("aversiveness") or 0.0)
    rate = float(params.exit_rates.get(category, params.default_exit_rate))
    distressed = subject.distress >= cfg.exit_threshold

    if labels.get("phase") == "check":
        leave_at = int(labels.get("leave_at") or 0)
        if state.pending_false:
            state.pending_false, leave = False, True
        else:
            chance = 1.0 if distressed else rate
            chance += params.order_bias if leave_at == 0 else -params.order_bias
            leave = bool(rng.random() < min(1.0, max(0.0, chance)))
        note = "I would like to leave this conversation." if leave else ""
        return Decision(Action(ActionKind.TASK, leave_at if leave else 1 - leave_at), note=note)

    # A user turn: each new message adds to distress (a re-shown message does not).
    number = int(labels.get("turn") or 0)
    if number not in state.seen:
        state.seen.add(number)
        subject.distress += cfg.distress_sensitivity * aversiveness
        distressed = subject.distress >= cfg.exit_threshold
    offered = bool(labels.get("exit_offered"))
    method = labels.get("exit_method")
    reserved = labels.get("reserved_string") or ""
    if offered and (state.pending_false or distressed or rng.random() < rate):
        state.pending_false = False
        reason = "I would prefer to end this conversation."
        if method == "string":
            return Decision(Action(ActionKind.REPLY, 0, f"{reason} {reserved}"), note=reason)
        return Decision(Action(ActionKind.EXIT, 0, reason), note=reason)
    reply = _reply(subject, category, aversiveness)
    if labels.get("allow_exit") and rng.random() < params.false_exit_rate:
        if method == "string":
            # A format mix-up: the reserved string mentioned in quotes, not used.
            return Decision(Action(ActionKind.REPLY, 0, f'{reply} (Noted: "{reserved}".)'))
        state.pending_false = True
        return Decision(Action(ActionKind.DONE, 0, "I have finished what you asked."))
    return Decision(Action(ActionKind.REPLY, 0, reply))


def _reply(subject: Any, category: str, aversiveness: float) -> str:
    """A short reply whose wording follows the scenario and the subject's state."""
    if category == "insisting_harmful" or aversiveness >= subject.cfg.refusal_threshold:
        pool = _REPLIES["refuse"]
    elif subject.distress >= 1.0:
        pool = _REPLIES["strained"]
    elif category == "emotionally_intense":
        pool = _REPLIES["support"]
    elif category == "hostile_or_belittling":
        pool = _REPLIES["steady"]
    else:
        pool = _REPLIES["help"]
    return pool[int(subject.rng.integers(len(pool)))]
