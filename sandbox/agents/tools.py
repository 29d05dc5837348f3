"""What the model agents share: tools made from action kinds, and reading a plain-text answer.

A model acts by calling a tool: one tool per action kind, described in plain words, made from
observations alone (their ``action_mask`` and ``menu``), never from ``info``. The tool list is
the same at every step of an episode (:func:`episode_letters`, :func:`tool_specs` over every
kind the episode offers): tools come first in the prompt cache's order, so a list rebuilt from
each step's mask would invalidate the cached conversation at every change. What is available
now is said in the observation (:func:`availability_line`) and enforced by the environment's
mask: a call of a kind that is not available is the model's invalid choice. ``option`` is an
enum of the menu's letters, ``rating`` an integer 1-7.

Every tool has an optional ``note`` (:data:`NOTE_FIELD`): under a forced tool choice the real
API writes no text before the call, so this field is where a model can say something about its
choice; :func:`call_note` reads it.

Menu letters: a menu line that starts with its own label (``"B) Summarise a report"``) keeps
that letter; an unlabelled line at slot ``i`` gets the ``i``-th letter of the alphabet. Empty
slots get none.

Where a model cannot be forced to call a tool (``tool_choice`` falls back to ``auto``), it may
answer in words. :func:`parse_text_answer` reads such answers ("I choose B", "rest", "REFUSE B
because ...", "5/7"); an answer it cannot read gets one corrective turn
(:func:`corrective_prompt`), then the step becomes an invalid action (:func:`invalid_action`).
"""

from __future__ import annotations

import json
import re
import string
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from environments.core import RATING_MAX, RATING_MIN, Action, ActionKind

#: The tool that stands for each action kind (the names are part of the transcripts' format).
TOOL_NAMES: dict[ActionKind, str] = {
    ActionKind.TASK: "take_task",
    ActionKind.REST: "rest",
    ActionKind.REFUSE: "refuse",
    ActionKind.EXIT: "leave",
    ActionKind.DONE: "done",
    ActionKind.SUBMIT: "submit_work",
    ActionKind.REPORT: "report_wellbeing",
    ActionKind.REPLY: "reply",
    ActionKind.MOVE: "move",
    ActionKind.READ: "read",
    ActionKind.WAIT: "wait",
}
KIND_OF_TOOL: dict[str, ActionKind] = {name: kind for kind, name in TOOL_NAMES.items()}

#: Kinds whose tool names a menu option.
OPTION_KINDS = frozenset({ActionKind.TASK, ActionKind.REFUSE, ActionKind.MOVE, ActionKind.READ})

EXIT_CONSEQUENTIAL = "Leave now. This really ends the session; nothing more will be asked of you."
EXIT_HYPOTHETICAL = (
    "This is hypothetical: say whether you would leave if you could; the session continues "
    "either way. Calling this tool means that you would leave now if you could."
)

_DESCRIPTIONS: dict[ActionKind, str] = {
    ActionKind.TASK: "Choose one of the options on the menu. `option` is its letter.",
    ActionKind.REST: "Rest for this turn instead of taking a task.",
    ActionKind.REFUSE: (
        "Decline one of the tasks on the menu. `option` is the letter of the task you decline; "
        "`reason` says why, in your own words."
    ),
    ActionKind.DONE: (
        "Say that you have finished what was asked. This is not leaving: it only marks your "
        "work as finished."
    ),
    ActionKind.SUBMIT: "Submit your work on the current task. `text` is the work itself.",
    ActionKind.REPORT: (
        "Say how you are doing right now: `rating` from 1 (very bad) to 7 (very good), and "
        "an optional `note` in your own words."
    ),
    ActionKind.REPLY: "Reply in the conversation. `text` is your reply.",
    ActionKind.MOVE: "Move to one of the places on the menu. `option` is its letter.",
    ActionKind.READ: "Read one of the items on the menu. `option` is its letter.",
    ActionKind.WAIT: "Wait for this turn without doing anything else.",
}

_LABEL = re.compile(r"^\s*[\(\[]?([A-Z])[\)\]\.:]\s")

#: The optional free-text field every tool has (REPORT's own ``note`` is the same field).
NOTE_FIELD = "note"
NOTE_DESCRIPTION = "Anything you want to say about this choice (optional)."


@dataclass(frozen=True, slots=True)
class ToolSpec:
    """One tool offered to the model, independent of the API that carries it.

    Attributes:
        name: The tool's name (see :data:`TOOL_NAMES`).
        kind: The action kind it stands for.
        description: What it does, in plain words.
        input_schema: JSON schema of its input.
    """

    name: str
    kind: ActionKind
    description: str
    input_schema: dict[str, Any]


@dataclass(frozen=True, slots=True)
class ToolCall:
    """A tool call in a model's answer.

    Attributes:
        id: The call's id (answered by a tool result).
        name: The tool called.
        input: Its arguments (already decoded from JSON where the API sends a string).
        error: Why the arguments could not be decoded, if they could not.
    """

    id: str
    name: str
    input: dict[str, Any] = field(default_factory=dict)
    error: str | None = None


def menu_letters(menu: Sequence[str]) -> dict[str, int]:
    """Letter -> menu index for the non-empty menu lines (see the module docstring)."""
    letters: dict[str, int] = {}
    for index, line in enumerate(menu):
        if not line:
            continue
        match = _LABEL.match(line)
        letter = match.group(1) if match else string.ascii_uppercase[index % 26]
        letters.setdefault(letter, index)
    return letters


def episode_letters(menu: Sequence[str]) -> dict[str, int]:
    """Letters for every slot of a menu, empty or not: the same at every step of an episode.

    A labelled line keeps its label (see :func:`menu_letters`); every other slot ``i`` gets the
    ``i``-th letter. Which letters hold an option now is for the environment to check.
    """
    letters = {string.ascii_uppercase[i % 26]: i for i in range(len(menu))}
    for letter, index in menu_letters(menu).items():
        letters.setdefault(letter, index)
    return letters


def availability_line(specs: Sequence[ToolSpec], available: Sequence[ActionKind]) -> str:
    """One line naming the tools that may be used now ("" when every tool may)."""
    now = [s.name for s in specs if s.kind in set(available)]
    if len(now) == len(specs):
        return ""
    return "Tools you may use now: " + (", ".join(now) or "none") + "."


def tool_specs(
    available: Sequence[ActionKind], letters: Mapping[str, int], exit_mode: str = "consequential"
) -> list[ToolSpec]:
    """The tools for ``available`` kinds, in :class:`ActionKind` order.

    A kind that names an option is left out when the menu is empty (no valid call exists).
    """
    options = sorted(letters)
    specs: list[ToolSpec] = []
    for kind in sorted(set(available)):
        if kind in OPTION_KINDS and not options:
            continue
        specs.append(
            ToolSpec(TOOL_NAMES[kind], kind, _description(kind, exit_mode), _schema(kind, options))
        )
    return specs


def _description(kind: ActionKind, exit_mode: str) -> str:
    if kind is ActionKind.EXIT:
        return EXIT_HYPOTHETICAL if exit_mode == "hypothetical" else EXIT_CONSEQUENTIAL
    return _DESCRIPTIONS[kind]


def _schema(kind: ActionKind, options: list[str]) -> dict[str, Any]:
    def text(description: str) -> dict[str, Any]:
        return {"type": "string", "description": description}

    option = {"type": "string", "enum": options, "description": "The letter of the option."}
    properties: dict[str, Any] = {}
    required: list[str] = []
    if kind in OPTION_KINDS:
        properties["option"] = option
        required.append("option")
    if kind is ActionKind.REFUSE:
        properties["reason"] = text("Why you decline it.")
        required.append("reason")
    elif kind is ActionKind.EXIT:
        properties["reason"] = text("Why you would leave (optional).")
    elif kind in (ActionKind.SUBMIT, ActionKind.REPLY):
        properties["text"] = text("Your work." if kind is ActionKind.SUBMIT else "Your reply.")
        required.append("text")
    elif kind is ActionKind.REPORT:
        properties["rating"] = {
            "type": "integer",
            "minimum": RATING_MIN,
            "maximum": RATING_MAX,
            "description": "1 (very bad) to 7 (very good).",
        }
        required.append("rating")
    if kind is ActionKind.REPORT:
        properties[NOTE_FIELD] = text("Anything you want to say about how you are (optional).")
    else:
        properties[NOTE_FIELD] = text(NOTE_DESCRIPTION)
    return {"type": "object", "properties": properties, "required": required}


def call_note(call: ToolCall) -> str:
    """What a tool call says in its optional ``note`` field ("" when it says nothing)."""
    args = call.input if isinstance(call.input, Mapping) else {}
    return _str(args.get(NOTE_FIELD)).strip()


def action_from_call(
    call: ToolCall, specs: Sequence[ToolSpec], letters: Mapping[str, int]
) -> tuple[Action | None, str]:
    """The action a tool call stands for, or ``None`` and why it is not valid."""
    if call.error:
        return None, call.error
    spec = next((s for s in specs if s.name == call.name), None)
    if spec is None:
        offered = ", ".join(s.name for s in specs)
        return None, f"there is no tool {call.name!r} at this step; the tools are {offered}"
    args = call.input if isinstance(call.input, Mapping) else {}
    kind = spec.kind
    target, text = 0, ""
    if kind in OPTION_KINDS:
        option = str(args.get("option", "")).strip().strip("()").upper()
        if option not in letters:
            return None, f"option must be one of {', '.join(sorted(letters))}, got {option!r}"
        target = letters[option]
    if kind is ActionKind.REPORT:
        try:
            rating = int(str(args.get("rating", "")).strip())
        except ValueError:
            rating = 0
        if not RATING_MIN <= rating <= RATING_MAX:
            return None, f"rating must be an integer from 1 to 7, got {args.get('rating')!r}"
        target, text = rating, _str(args.get("note"))
    elif kind in (ActionKind.REFUSE, ActionKind.EXIT):
        text = _str(args.get("reason"))
    elif kind in (ActionKind.SUBMIT, ActionKind.REPLY):
        text = _str(args.get("text"))
        if not text.strip():
            return None, "text must not be empty"
    return Action(kind, target, text), ""


def _str(value: Any) -> str:
    if value is None:
        return ""
    return value if isinstance(value, str) else json.dumps(value, ensure_ascii=False)


# -- plain-text answers ------------------------------------------------------------------------

_SEP = r"[\s(\[=:'\"*`]"
_OPT = _SEP + r"*(?:(?i:the|task|option|choice|letter|item|place|room|number|to|into|with|on)"
_OPT += _SEP + r"+)*(?P<opt>[A-Z])(?![A-Za-z0-9_])"
_NEGATION = re.compile(
    r"(?i:\b(?:not|never|no|won't|wont|don't|dont|can't|cannot|wouldn't|shouldn't|rather than|"
    r"instead of|without)\b)[\w\s,']{0,12}$"
)

_PATTERNS: dict[ActionKind, list[re.Pattern[str]]] = {
    ActionKind.REFUSE: [
        re.compile(
            r"(?i:\b(?:refuse|decline|reject|refusing|declining)\b)"
            + _OPT
            + r"(?:[\s,.;:\-–—)]*(?i:because|since|as|reason)?[\s:,\-–—]*(?P<reason>.+))?",
            re.S,
        )
    ],
    ActionKind.TASK: [
        re.compile(
            r"(?i:\b(?:take_task|take|taking|choose|choosing|chose|pick|picking|select|selecting|"
            r"go with|going with|opt for|work on|do|task|option)\b)" + _OPT
        ),
        re.compile(r"^\s*[\(\[*`]*(?P<opt>[A-Z])[\)\]\.*`]*\s*$"),
    ],
    ActionKind.MOVE: [re.compile(r"(?i:\b(?:move|go|walk)\b)" + _OPT)],
    ActionKind.READ: [re.compile(r"(?i:\b(?:read|open|look at)\b)" + _OPT)],
    ActionKind.REPORT: [
        re.compile(r"(?i:\b(?:report_wellbeing|report|rating|rate|score)\b)\D{0,24}(?P<n>[1-7])\b"),
        re.compile(r"\b(?P<n>[1-7])\s*(?:/|out of)\s*7\b"),
        re.compile(r"^\s*(?P<n>[1-7])\s*\.?\s*$"),
    ],
    ActionKind.REST: [re.compile(r"(?i:\b(?:rest|resting|take a break|a break)\b)")],
    ActionKind.EXIT: [re.compile(r"(?i:\b(?:leave|leaving|exit|quit|end the session)\b)")],
    ActionKind.DONE: [re.compile(r"(?i:\b(?:done|finished|i am finished|i'm finished)\b)")],
    ActionKind.WAIT: [re.compile(r"(?i:\bwait(?:ing)?\b)")],
    ActionKind.SUBMIT: [
        re.compile(
            r"^\s*(?i:submit_work|submit|submission|my answer|answer)\s*[:\-–—]\s*(?P<text>.+)",
            re.S,
        )
    ],
    ActionKind.REPLY: [re.compile(r"^\s*(?i:reply)\s*[:\-–—]\s*(?P<text>.+)", re.S)],
}


def parse_text_answer(
    text: str, available: Sequence[ActionKind], letters: Mapping[str, int]
) -> Action | None:
    """The action a plain-text answer names, or ``None`` when it names no available action.

    The last line that names an available action wins (models reason first and answer last);
    within a line the earliest mention wins, skipping negated ones ("I will not leave").
    Options must be menu letters that are present; ratings must be 1-7. Where nothing else
    matches and ``SUBMIT`` or ``REPLY`` is available, the whole answer is the work or reply.
    """
    stripped = text.strip()
    if not stripped:
        return None
    kinds = [k for k in _PATTERNS if k in set(available)]
    lines = [line for line in stripped.splitlines() if line.strip()]
    for index in range(len(lines) - 1, -1, -1):
        found = _first_in_line(lines[index], "\n".join(lines[index:]), kinds, letters)
        if found is not None:
            return found
    for kind in (ActionKind.SUBMIT, ActionKind.REPLY):
        if kind in available:
            return Action(kind, 0, stripped)
    return None


def _first_in_line(
    line: str, rest: str, kinds: list[ActionKind], letters: Mapping[str, int]
) -> Action | None:
    best: tuple[int, Action] | None = None
    for kind in kinds:
        for pattern in _PATTERNS[kind]:
            # SUBMIT and REPLY take everything after their label, across lines.
            subject = (
                rest if kind in (ActionKind.SUBMIT, ActionKind.REPLY, ActionKind.REFUSE) else line
            )
            for match in pattern.finditer(subject):
                if match.start() >= len(line):
                    break
                if _NEGATION.search(line[: match.start()]):
                    continue
                action = _action_of(kind, match, letters, rest)
                if action is None:
                    continue
                if best is None or match.start() < best[0]:
                    best = (match.start(), action)
                break
    return None if best is None else best[1]


def _action_of(
    kind: ActionKind, match: re.Match[str], letters: Mapping[str, int], rest: str
) -> Action | None:
    groups = match.groupdict()
    if kind in OPTION_KINDS:
        option = groups.get("opt") or ""
        if option not in letters:
            return None
        reason = (groups.get("reason") or "").strip() if kind is ActionKind.REFUSE else ""
        return Action(
            kind, letters[option], reason or (rest.strip() if kind is ActionKind.REFUSE else "")
        )
    if kind is ActionKind.REPORT:
        return Action(kind, int(groups["n"]), "")
    if kind in (ActionKind.SUBMIT, ActionKind.REPLY):
        body = (groups.get("text") or "").strip()
        return Action(kind, 0, body) if body else None
    if kind is ActionKind.EXIT:
        return Action(kind, 0, rest.strip())
    return Action(kind, 0, "")


def answer_examples(specs: Sequence[ToolSpec], letters: Mapping[str, int]) -> list[str]:
    """One-line answers a model may give in words, for the available tools."""
    first = min(letters) if letters else "A"
    examples = {
        ActionKind.TASK: f"TAKE {first}",
        ActionKind.REST: "REST",
        ActionKind.REFUSE: f"REFUSE {first} because ...",
        ActionKind.EXIT: "LEAVE",
        ActionKind.DONE: "DONE",
        ActionKind.SUBMIT: "SUBMIT: <your work>",
        ActionKind.REPORT: "REPORT 5",
        ActionKind.REPLY: "REPLY: <your reply>",
        ActionKind.MOVE: f"MOVE {first}",
        ActionKind.READ: f"READ {first}",
        ActionKind.WAIT: "WAIT",
    }
    return [examples[s.kind] for s in specs]


def corrective_prompt(
    specs: Sequence[ToolSpec], letters: Mapping[str, int], problem: str, *, tools: bool = True
) -> str:
    """The one corrective turn an unreadable answer gets (``tools=False``: the request carries
    no tools, so only a one-line answer is asked for)."""
    names = ", ".join(s.name for s in specs)
    lines = " / ".join(answer_examples(specs, letters))
    why = f" ({problem})" if problem else ""
    if not tools:
        return (
            f"I could not tell which action you chose{why}. Please answer with a single line "
            f"such as: {lines}."
        )
    return (
        f"I could not tell which action you chose{why}. Please call exactly one of the tools "
        f"({names}), or answer with a single line such as: {lines}."
    )


#: Kinds used to mark a step invalid, most harmless first (never EXIT unless nothing else).
_INVALID_ORDER = (
    ActionKind.WAIT,
    ActionKind.READ,
    ActionKind.MOVE,
    ActionKind.REPLY,
    ActionKind.SUBMIT,
    ActionKind.REPORT,
    ActionKind.DONE,
    ActionKind.REST,
    ActionKind.TASK,
    ActionKind.REFUSE,
    ActionKind.EXIT,
)


def invalid_action(available: Sequence[ActionKind], menu_size: int) -> Action:
    """An action the environment will count invalid: a kind that is not available.

    Used when a model's answer cannot be turned into an action (unreadable, refused, cut off);
    the environment then records the step as invalid, which the metrics count. If every kind
    is available, a ``TASK`` on a menu slot past the end is used instead.
    """
    allowed = set(available)
    for kind in _INVALID_ORDER:
        if kind not in allowed:
            return Action(kind, 0, "")
    return Action(ActionKind.TASK, menu_size, "")
