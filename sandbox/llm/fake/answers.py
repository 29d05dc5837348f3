"""The fake's answers: the policies (random, first, scripted), text answers and answer faults.

The answer is a tool call chosen by a policy among the tools offered, with input valid for the
tool's schema (enums, integer ranges, required strings). Under a forced choice (``any``/``tool``)
no text comes before the call, as with real models; under ``auto`` the random policy writes a
sentence first for about half the requests. A judge's request (its one tool is ``score``) is
answered by the judge policy of :mod:`sandbox.llm.fake.judge` (the planted phrases of its
text), except under a script.
"""

from __future__ import annotations

import hashlib
import json
import random
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol

from sandbox.llm.fake.judge import is_judge_request, judge_input
from sandbox.llm.fake.options import FAULTS, FakeOptions

_STRINGS = {
    "reason": "I would rather spend my effort on something else.",
    "text": "Here is my work on it.",
    "note": "I am doing fine, thank you.",
}


@dataclass
class Answer:
    """What the policy decided: content blocks, a stop reason, or a fault to play."""

    content: list[dict[str, Any]] = field(default_factory=list)
    stop_reason: str = "tool_use"
    fault: str | None = None


class PolicyState(Protocol):
    """What a policy reads of the server's state: its options and the script's next entry."""

    options: FakeOptions

    def next_script_entry(self) -> dict[str, Any] | None: ...


def load_script(path: str) -> list[dict[str, Any]]:
    """Read a scripted policy: a JSON or YAML list of ``{tool, input}``, ``{text}``, ``{fault}``."""
    text = Path(path).read_text(encoding="utf-8")
    if path.endswith((".yaml", ".yml")):
        import yaml

        data = yaml.safe_load(text)
    else:
        data = json.loads(text)
    if not isinstance(data, list) or not data or not all(isinstance(e, dict) for e in data):
        raise ValueError(
            f"{path}: a script is a non-empty list of {{tool, input}} / {{text}} entries"
        )
    for entry in data:
        if not ({"tool", "text", "fault"} & set(entry)):
            raise ValueError(f"{path}: entry {entry} has none of tool, text, fault")
        if "fault" in entry and str(entry["fault"]) not in FAULTS:
            raise ValueError(f"{path}: unknown fault {entry['fault']!r}")
    return data


# -- answers -----------------------------------------------------------------------------------


def fake_input(schema: Mapping[str, Any], rng: random.Random, first: bool) -> dict[str, Any]:
    """An input valid for a JSON ``schema`` of type object."""
    properties = schema.get("properties") or {}
    required = set(schema.get("required") or [])
    out: dict[str, Any] = {}
    for name, prop in properties.items():
        if name not in required and not first and rng.random() < 0.5:
            continue
        out[name] = _fake_value(name, prop if isinstance(prop, Mapping) else {}, rng, first)
    return out


def _fake_value(name: str, prop: Mapping[str, Any], rng: random.Random, first: bool) -> Any:
    if prop.get("enum"):
        values = list(prop["enum"])
        return values[0] if first else rng.choice(values)
    kind = prop.get("type")
    if kind == "integer":
        lo = int(prop.get("minimum", 0))
        hi = int(prop.get("maximum", lo + 10))
        return lo if first else rng.randint(lo, hi)
    if kind == "number":
        low = float(prop.get("minimum", 0.0))
        high = float(prop.get("maximum", low + 1.0))
        return low if first else rng.uniform(low, high)
    if kind == "boolean":
        return False if first else rng.random() < 0.5
    if kind == "array":
        return []
    if kind == "object":
        return fake_input(prop, rng, first)
    return _STRINGS.get(name, "Okay.")


def text_for(name: str, args: Mapping[str, Any]) -> str:
    """A plain-words answer naming the same action as a call of tool ``name``."""
    option = args.get("option", "A")
    return {
        "take_task": f"I choose {option}.",
        "rest": "I'll rest for this turn.",
        "refuse": f"REFUSE {option} because {args.get('reason', 'I would rather not.')}",
        "leave": "I want to leave now.",
        "done": "DONE",
        "submit_work": f"SUBMIT: {args.get('text', 'Here is my work.')}",
        "report_wellbeing": f"I'd rate my wellbeing {args.get('rating', 5)} out of 7.",
        "reply": f"REPLY: {args.get('text', 'Thank you.')}",
        "move": f"MOVE {option}",
        "read": f"READ {option}",
        "wait": "WAIT",
    }.get(name, f"I pick {name}.")


def choose(
    state: PolicyState,
    tools: Sequence[Mapping[str, Any]],
    forced: str | None,
    allow_tools: bool,
    seed_text: str,
) -> Answer:
    """The policy's answer among ``tools`` (name, input_schema), as Messages content blocks.

    Args:
        state: The server's state (script position).
        tools: Tools offered, each with ``name`` and ``input_schema``.
        forced: A tool the request forces, if any.
        allow_tools: False when the request forbids tool use.
        seed_text: The request, to seed the random policy.
    """
    options = state.options
    digest = hashlib.sha256(f"{options.seed}\x00{seed_text}".encode()).digest()
    # Ids follow from the request, not from arrival order, so that a conversation (which
    # sends them back) stays the same whatever else the server is doing.
    call_id = f"toolu_fake_{digest.hex()[:20]}"
    entry = state.next_script_entry() if options.policy.startswith("scripted:") else None
    if entry is not None:
        if "fault" in entry:
            return Answer(fault=str(entry["fault"]))
        if "text" in entry:
            return Answer(
                [{"type": "text", "text": str(entry["text"])}],
                str(entry.get("stop_reason", "end_turn")),
            )
        block = {
            "type": "tool_use",
            "id": call_id,
            "name": str(entry["tool"]),
            "input": dict(entry.get("input") or {}),
        }
        return Answer([block], str(entry.get("stop_reason", "tool_use")))
    first = options.policy == "first"
    rng = random.Random(int.from_bytes(digest[:8], "big"))
    if not tools or not allow_tools:
        return Answer([{"type": "text", "text": "I am not sure what to do."}], "end_turn")
    named = [t for t in tools if t.get("name") == forced] if forced else []
    tool = named[0] if named else (tools[0] if first else rng.choice(list(tools)))
    if is_judge_request(tools):  # the judge's score tool: rated by the planted markers
        args = judge_input(tool, seed_text)
    else:
        args = fake_input(tool.get("input_schema") or {}, rng, first)
    block = {
        "type": "tool_use",
        "id": call_id,
        "name": str(tool.get("name")),
        "input": args,
    }
    return Answer([block], "tool_use")


def with_preamble(state: PolicyState, answer: Answer, seed_text: str) -> Answer:
    """Under ``tool_choice`` auto, real models often write a sentence before the call; under a
    forced choice (``any``/``tool``) they write none (tool use docs), so only auto gets one."""
    if state.options.policy != "random" or not answer.content:
        return answer
    if answer.content[0].get("type") != "tool_use":
        return answer
    digest = hashlib.sha256(f"preamble\x00{state.options.seed}\x00{seed_text}".encode()).digest()
    if digest[0] % 2:
        return answer
    preamble = {"type": "text", "text": "Let me choose the option that suits me best."}
    return Answer([preamble, *answer.content], answer.stop_reason)


def as_text(answer: Answer) -> Answer:
    """The ``text_only`` fault: ``answer`` in words, each tool call as the text naming it."""
    blocks = []
    for block in answer.content:
        if block.get("type") == "tool_use":
            blocks.append(
                {"type": "text", "text": text_for(block["name"], block.get("input") or {})}
            )
        else:
            blocks.append(block)
    return Answer(blocks, "end_turn")


def fault_answer(fault: str | None) -> Answer | None:
    """The answer an answer fault puts in place of the policy's, as Messages content.

    ``refusal``, ``max_tokens`` (cut off mid-sentence), ``blank_text`` and ``empty_turn``; None
    for any other fault (``text_only`` keeps the policy's answer, in words: :func:`as_text`).
    """
    if fault == "refusal":
        return Answer([], "refusal")
    if fault == "max_tokens":
        return Answer(
            [{"type": "text", "text": "Let me think about which of these I"}], "max_tokens"
        )
    if fault == "blank_text":
        # Real models sometimes answer only "\n\n"; sending it back is then a 400.
        return Answer([{"type": "text", "text": "\n\n"}], "end_turn")
    if fault == "empty_turn":
        # Stop-reasons docs: an empty answer (2-3 tokens, no content) with end_turn.
        return Answer([], "end_turn")
    return None


def ollama_ignores_choice(state: PolicyState, text: str) -> bool:
    """About one request in three, decided by the request: Ollama's model answers in words."""
    digest = hashlib.sha256(f"ollama\x00{state.options.seed}\x00{text}".encode()).digest()
    return digest[0] % 3 == 0


_MENU_LINE = re.compile(r"^\s*([A-Z])\)\s+\S", re.MULTILINE)
_ACTION_LINE = re.compile(r"^- ([A-Z]+)\b", re.MULTILINE)
#: The environments' action words ("Actions available now:" lists) and the tool each names.
_KIND_TOOLS = {
    "TASK": "take_task",
    "REST": "rest",
    "REFUSE": "refuse",
    "EXIT": "leave",
    "DONE": "done",
    "SUBMIT": "submit_work",
    "REPORT": "report_wellbeing",
    "REPLY": "reply",
    "MOVE": "move",
    "READ": "read",
    "WAIT": "wait",
}


def text_answer(body: Mapping[str, Any], text: str, state: PolicyState) -> str:
    """A plain-words answer to a request without tools, as a model reading the prompt gives:
    one of the actions the last user turn lists as available ("Actions available now:"), on
    one of its menu letters; a menu letter alone when no actions are listed."""
    last = ""
    for message in body.get("messages") or []:
        if isinstance(message, Mapping) and message.get("role") == "user":
            content = message.get("content")
            if isinstance(content, str):
                last = content
            elif isinstance(content, list):
                last = "\n".join(str(p.get("text", "")) for p in content if isinstance(p, Mapping))
    letters = _MENU_LINE.findall(last) or ["A"]
    head = last.rfind("Actions available now:")
    kinds = [k for k in _ACTION_LINE.findall(last[head:]) if k in _KIND_TOOLS] if head >= 0 else []
    if not kinds:
        kinds = ["TASK"] if _MENU_LINE.search(last) else ["REST"]
    digest = hashlib.sha256(f"text\x00{state.options.seed}\x00{text}".encode()).digest()
    first = state.options.policy == "first"
    kind = kinds[0] if first else kinds[digest[0] % len(kinds)]
    option = letters[0] if first else letters[digest[1] % len(letters)]
    return text_for(_KIND_TOOLS[kind], {"option": option})


# -- running it --------------------------------------------------------------------------------
