"""The Messages API's request rules, as the docs and the SDK state them.

Every Messages request is checked by :func:`check_messages_request` against the rules of the
docs (Messages, tool use, prompt caching, extended thinking, versioning) and the model table of
:mod:`sandbox.llm.models`, and refused with the real status: 404 ``not_found_error`` for an
unknown or retired model; 400 ``invalid_request_error`` for ``max_tokens`` above the model's
limit, a first turn that is not the user's, a ``tool_use`` not answered by ``tool_result``
blocks first in the next turn (or a result answering no call), tool blocks without ``tools``, a
tool name outside ``^[a-zA-Z0-9_-]{1,64}$`` or a non-object ``input_schema``, a ``tool_choice``
that does not fit the tools (or forces a tool on a model that refuses that), thinking with a
forced choice, more than 4 ``cache_control`` breakpoints, an empty or whitespace-only text
block, sampling fields the ``anthropic-version`` or the model rejects, unknown top-level
fields. Consecutive turns of one role are merged, as the API does, and counted in the notes
(with ``text_after_tool_result``, the pattern the docs say brings empty answers).
"""

from __future__ import annotations

import re
from collections import Counter
from collections.abc import Mapping
from typing import Any

from sandbox.llm.fake.prompt_cache import CACHE_TTL_SECONDS
from sandbox.llm.models import (
    CURRENT_MODELS,
    SAMPLING_FIELDS,
    SAMPLING_REMOVED_IN,
    rejected_request_fields,
)

# Each check cites its source; messages quote the real API's wording where it is known.

#: Breakpoints a request may carry (``cache_control`` on blocks, plus a top-level one).
MAX_CACHE_BREAKPOINTS = 4
#: Top-level fields of ``POST /v1/messages`` (the installed SDK's ``MessageCreateParams``);
#: the sampling fields are checked apart, by API version and model.
MESSAGES_FIELDS = frozenset(
    {
        "model",
        "messages",
        "max_tokens",
        "cache_control",
        "container",
        "diagnostics",
        "inference_geo",
        "metadata",
        "output_config",
        "service_tier",
        "speed",
        "stop_sequences",
        "stream",
        "system",
        "thinking",
        "tool_choice",
        "tools",
        "user_profile_id",
        "workspace_id",
    }
)
#: Top-level fields of ``POST /v1/messages/count_tokens``.
COUNT_TOKENS_FIELDS = frozenset(
    {
        "model",
        "messages",
        "system",
        "tools",
        "tool_choice",
        "thinking",
        "cache_control",
        "output_config",
        "speed",
    }
)
#: Tool use docs: a custom tool's name must match this.
TOOL_NAME = re.compile(r"^[a-zA-Z0-9_-]{1,64}$")
_TOOL_NAME_TEXT = "^[a-zA-Z0-9_-]{1,64}$"
_USER_BLOCKS = {"text", "image", "document", "search_result", "tool_result"}
_ASSISTANT_BLOCKS = {
    "text",
    "tool_use",
    "thinking",
    "redacted_thinking",
    "server_tool_use",
    "web_search_tool_result",
}


class RequestRejected(Exception):
    """A request the real API would refuse: the status and the API's message."""

    def __init__(self, status: int, message: str):
        super().__init__(message)
        self.status = status
        self.message = message


def _bad(message: str) -> RequestRejected:
    return RequestRejected(400, message)


def _check_text_block(block: Mapping[str, Any], where: str) -> None:
    text = block.get("text")
    if not isinstance(text, str):
        raise _bad(f"{where}.text: Input should be a valid string")
    # Messages API: "text content blocks must be non-empty" / "... must contain
    # non-whitespace text" (real models do answer "\n\n"; sending that back is a 400).
    if text == "":
        raise _bad(f"{where}: text content blocks must be non-empty")
    if not text.strip():
        raise _bad(f"{where}: text content blocks must contain non-whitespace text")


def _check_cache_control(value: Any, where: str) -> str:
    if not isinstance(value, Mapping) or value.get("type") != "ephemeral":
        raise _bad(f"{where}.cache_control.type: Input should be 'ephemeral'")
    ttl = value.get("ttl", "5m")
    if ttl not in CACHE_TTL_SECONDS:
        raise _bad(f"{where}.cache_control.ttl: Input should be '5m' or '1h'")
    return str(ttl)


def _merge_turns(messages: list[Mapping[str, Any]]) -> list[tuple[int, str, list[Any]]]:
    """Consecutive turns of one role as one turn: (index of its first message, role, blocks).

    The SDK's ``MessageCreateParams.messages`` docs: "Consecutive user or assistant turns in
    your request will be combined into a single turn." The fake does the same (and counts it
    in ``/_stats`` ``notes.merged_turns``, so tests can see a client that sends them).
    """
    turns: list[tuple[int, str, list[Any]]] = []
    for index, message in enumerate(messages):
        role = str(message["role"])
        content = message.get("content")
        blocks = (
            [{"type": "text", "text": content}] if isinstance(content, str) else list(content or [])
        )
        if turns and turns[-1][1] == role:
            turns[-1][2].extend(blocks)
        else:
            turns.append((index, role, blocks))
    return turns


def check_messages_request(
    body: Mapping[str, Any], api_version: str, *, count_tokens: bool = False
) -> Counter[str]:
    """Refuse a Messages request as the real API would; return notes about accepted oddities.

    Args:
        body: The request body.
        api_version: Its ``anthropic-version`` header.
        count_tokens: True for ``/v1/messages/count_tokens`` (no ``max_tokens``).

    Raises:
        RequestRejected: 400 ``invalid_request_error`` or 404 ``not_found_error`` (model).
    """
    notes: Counter[str] = Counter()
    required = ("model", "messages") if count_tokens else ("model", "max_tokens", "messages")
    for name in required:
        if name not in body:
            raise _bad(f"{name}: Field required")
    allowed = COUNT_TOKENS_FIELDS if count_tokens else MESSAGES_FIELDS
    for name in body:
        if name not in allowed and name not in SAMPLING_FIELDS:
            raise _bad(f"{name}: Extra inputs are not permitted")
    model = body["model"]
    if not isinstance(model, str):
        raise _bad("model: Input should be a valid string")
    info = CURRENT_MODELS.get(model)
    if info is None:  # errors docs: 404 not_found_error for an unknown or retired model
        raise RequestRejected(404, f"model: {model}")
    if not count_tokens:
        max_tokens = body["max_tokens"]
        if isinstance(max_tokens, bool) or not isinstance(max_tokens, int):
            raise _bad("max_tokens: Input should be a valid integer")
        if max_tokens < 0:
            raise _bad("max_tokens: Input should be greater than or equal to 0")
        if max_tokens > info.max_output_tokens:
            raise _bad(
                f"max_tokens: {max_tokens} > {info.max_output_tokens}, which is the maximum "
                f"allowed number of output tokens for {model}"
            )
    _check_sampling(body, api_version, model)
    breakpoints: list[str] = []  # TTLs in prompt order: tools, system, messages
    tool_names = _check_tools(body, breakpoints)
    _check_system(body, breakpoints)
    turns = _check_messages(body, breakpoints, notes)
    top = body.get("cache_control")
    if top is not None:
        breakpoints.append(_check_cache_control(top, "cache_control"))
    # Prompt caching docs: "You can define up to 4 cache breakpoints"; a 5th is a 400.
    if len(breakpoints) > MAX_CACHE_BREAKPOINTS:
        raise _bad(
            f"A maximum of {MAX_CACHE_BREAKPOINTS} blocks with cache_control may be provided. "
            f"Found {len(breakpoints)}."
        )
    # Prompt caching docs, mixing TTLs: longer-TTL entries must come before shorter ones.
    for i, ttl in enumerate(breakpoints):
        if ttl == "1h" and "5m" in breakpoints[:i]:
            raise _bad(
                "cache_control: a ttl='1h' cache_control block must not come after a "
                "ttl='5m' cache_control block"
            )
    uses_tools = any(
        isinstance(b, Mapping) and b.get("type") in ("tool_use", "tool_result")
        for _, _, blocks in turns
        for b in blocks
    )
    if uses_tools and not body.get("tools"):
        # Tool use docs / API: a history with tool blocks needs the tools defined.
        raise _bad("Requests which include `tool_use` or `tool_result` blocks must define tools.")
    forced = _check_tool_choice(body, tool_names, info)
    _check_thinking(body, forced, info)
    if info.rejects_prefill and turns[-1][1] == "assistant":
        # Messages API (prefill): on models without it, a final assistant turn is a 400.
        raise _bad(
            f"Prefilling assistant messages is not supported for {model}; end messages with a "
            "user turn."
        )
    return notes


def _check_sampling(body: Mapping[str, Any], api_version: str, model: str) -> None:
    rejected = rejected_request_fields(api_version, model)
    for name in SAMPLING_FIELDS:
        if name not in body:
            continue
        value = body[name]
        if name in rejected:
            if api_version >= SAMPLING_REMOVED_IN:
                # Versioning docs: 2026-10-21 removes sampling parameters, even at defaults.
                raise _bad(f"{name}: Extra inputs are not permitted")
            if not (name == "temperature" and value == 1.0):
                raise _bad(
                    f"{name}: sampling parameters are not supported for {model}; only the "
                    "default may be sent (omit temperature, top_p and top_k)"
                )
        if name in ("temperature", "top_p") and not (
            isinstance(value, (int, float)) and not isinstance(value, bool) and 0 <= value <= 1
        ):
            raise _bad(f"{name}: Input should be a number between 0 and 1")
        if name == "top_k" and not (isinstance(value, int) and value >= 0):
            raise _bad("top_k: Input should be a non-negative integer")


def _check_tools(body: Mapping[str, Any], breakpoints: list[str]) -> set[str]:
    tools = body.get("tools")
    if tools is None:
        return set()
    if not isinstance(tools, list):
        raise _bad("tools: Input should be a valid list")
    names: set[str] = set()
    for i, tool in enumerate(tools):
        where = f"tools.{i}"
        if not isinstance(tool, Mapping):
            raise _bad(f"{where}: Input should be a valid dictionary")
        if "cache_control" in tool:
            breakpoints.append(_check_cache_control(tool["cache_control"], where))
        name = tool.get("name")
        if tool.get("type") not in (None, "custom"):  # a server tool (web search, ...)
            names.add(str(name))
            continue
        if not isinstance(name, str) or not TOOL_NAME.match(name):
            raise _bad(f"{where}.name: String should match pattern '{_TOOL_NAME_TEXT}'")
        schema = tool.get("input_schema")
        if not isinstance(schema, Mapping):
            raise _bad(f"{where}.input_schema: Field required")
        if schema.get("type") != "object":
            raise _bad(f"{where}.input_schema.type: Input should be 'object'")
        if name in names:
            raise _bad("tools: Tool names must be unique.")
        names.add(name)
    return names


def _check_system(body: Mapping[str, Any], breakpoints: list[str]) -> None:
    system = body.get("system")
    if system is None or isinstance(system, str):
        return
    if not isinstance(system, list):
        raise _bad("system: Input should be a valid string or list of text blocks")
    for i, block in enumerate(system):
        where = f"system.{i}"
        if not isinstance(block, Mapping) or block.get("type") != "text":
            raise _bad(f"{where}.type: Input should be 'text'")
        _check_text_block(block, where)
        if "cache_control" in block:
            breakpoints.append(_check_cache_control(block["cache_control"], where))


def _check_messages(
    body: Mapping[str, Any], breakpoints: list[str], notes: Counter[str]
) -> list[tuple[int, str, list[Any]]]:
    messages = body["messages"]
    if not isinstance(messages, list):
        raise _bad("messages: Input should be a valid list")
    if not messages:
        raise _bad("messages: at least one message is required")
    last = len(messages) - 1
    for i, message in enumerate(messages):
        if not isinstance(message, Mapping):
            raise _bad(f"messages.{i}: Input should be a valid dictionary")
        role = message.get("role")
        if role not in ("user", "assistant"):
            raise _bad(f"messages.{i}.role: Input should be 'user' or 'assistant'")
        content = message.get("content")
        if isinstance(content, str):
            if content == "" and not (i == last and role == "assistant"):
                raise _bad(
                    f"messages.{i}: all messages must have non-empty content except for the "
                    "optional final assistant message"
                )
            if content and not content.strip():
                raise _bad(
                    f"messages.{i}.content: text content blocks must contain non-whitespace text"
                )
            continue
        if not isinstance(content, list):
            raise _bad(f"messages.{i}.content: Input should be a valid string or list")
        if not content and not (i == last and role == "assistant"):
            raise _bad(
                f"messages.{i}: all messages must have non-empty content except for the "
                "optional final assistant message"
            )
        kinds = _USER_BLOCKS if role == "user" else _ASSISTANT_BLOCKS
        for j, block in enumerate(content):
            where = f"messages.{i}.content.{j}"
            if not isinstance(block, Mapping):
                raise _bad(f"{where}: Input should be a valid dictionary")
            kind = block.get("type")
            if kind not in kinds:
                raise _bad(
                    f"{where}.type: Input tag '{kind}' found using 'type' does not match any of "
                    f"the expected tags for a {role} message"
                )
            if "cache_control" in block:
                breakpoints.append(_check_cache_control(block["cache_control"], where))
            if kind == "text":
                _check_text_block(block, where)
            elif kind == "tool_use":
                if not isinstance(block.get("id"), str) or not re.match(
                    r"^[a-zA-Z0-9_-]+$", block["id"]
                ):
                    raise _bad(f"{where}.id: String should match pattern '^[a-zA-Z0-9_-]+$'")
                if not isinstance(block.get("name"), str):
                    raise _bad(f"{where}.name: Field required")
                if not isinstance(block.get("input"), Mapping):
                    raise _bad(f"{where}.input: Input should be a valid dictionary")
            elif kind == "tool_result":
                if not isinstance(block.get("tool_use_id"), str):
                    raise _bad(f"{where}.tool_use_id: Field required")
                inner = block.get("content")
                if isinstance(inner, list):
                    for k, part in enumerate(inner):
                        if isinstance(part, Mapping) and part.get("type") == "text":
                            _check_text_block(part, f"{where}.content.{k}")
                        if isinstance(part, Mapping) and "cache_control" in part:
                            breakpoints.append(
                                _check_cache_control(part["cache_control"], f"{where}.content.{k}")
                            )
    turns = _merge_turns(messages)
    notes["merged_turns"] += len(messages) - len(turns)
    if turns[0][1] != "user":
        raise _bad('messages: first message must use the "user" role')
    final = turns[-1]
    if final[1] == "assistant" and final[2]:
        tail = final[2][-1]
        if (
            isinstance(tail, Mapping)
            and tail.get("type") == "text"
            and tail.get("text", "") != str(tail.get("text", "")).rstrip()
        ):
            raise _bad("messages: final assistant content cannot end with trailing whitespace")
    _check_tool_pairs(turns, notes)
    return turns


def _check_tool_pairs(turns: list[tuple[int, str, list[Any]]], notes: Counter[str]) -> None:
    """Tool use docs: every ``tool_use`` is answered in the next (user) turn by ``tool_result``
    blocks that come first in its content; every ``tool_result`` answers a ``tool_use`` of the
    turn before."""
    for t, (index, role, blocks) in enumerate(turns):
        if role != "user":
            continue
        previous = turns[t - 1][2] if t > 0 else []
        asked = [b["id"] for b in previous if b.get("type") == "tool_use"]
        results = [(j, b) for j, b in enumerate(blocks) if b.get("type") == "tool_result"]
        for j, block in results:
            if block["tool_use_id"] not in asked:
                raise _bad(
                    f"messages.{index}.content.{j}: unexpected `tool_use_id` found in "
                    f"`tool_result` blocks: {block['tool_use_id']}. Each `tool_result` block must "
                    "have a corresponding `tool_use` block in the previous message."
                )
        if not asked:
            continue
        answered = {b["tool_use_id"] for _, b in results}
        missing = [i for i in asked if i not in answered]
        if missing:
            raise _bad(
                f"messages.{turns[t - 1][0]}: `tool_use` ids were found without `tool_result` "
                f"blocks immediately after: {', '.join(missing)}. Each `tool_use` block must "
                "have a corresponding `tool_result` block in the next message."
            )
        leading = 0
        while leading < len(blocks) and blocks[leading].get("type") == "tool_result":
            leading += 1
        if leading < len(results):
            raise _bad(
                f"messages.{index}: Did not find {len(asked)} tool_result block(s) at the "
                "beginning of this message. Messages following tool_use blocks must begin with "
                "a matching number of tool_result blocks."
            )
        if leading < len(blocks) and blocks[leading].get("type") == "text":
            # Accepted, but the stop-reasons docs: text right after tool results teaches
            # Claude to end its turn, bringing empty end_turn answers.
            notes["text_after_tool_result"] += 1
    final = turns[-1]
    if final[1] == "assistant" and any(b.get("type") == "tool_use" for b in final[2]):
        ids = [b["id"] for b in final[2] if b.get("type") == "tool_use"]
        raise _bad(
            f"messages.{final[0]}: `tool_use` ids were found without `tool_result` blocks "
            f"immediately after: {', '.join(ids)}. Each `tool_use` block must have a "
            "corresponding `tool_result` block in the next message."
        )


def _check_tool_choice(body: Mapping[str, Any], tool_names: set[str], info: Any) -> bool:
    """Tool use docs on ``tool_choice``; returns True when it forces tool use."""
    choice = body.get("tool_choice")
    if choice is None:
        return False
    if not isinstance(choice, Mapping) or choice.get("type") not in ("auto", "any", "tool", "none"):
        kind = choice.get("type") if isinstance(choice, Mapping) else choice
        raise _bad(
            f"tool_choice.type: Input tag '{kind}' found using 'type' does not match any of the "
            "expected tags: 'auto', 'any', 'tool', 'none'"
        )
    kind = choice["type"]
    if kind not in ("any", "tool"):
        return False
    if not tool_names:
        raise _bad("tool_choice: tool_choice may only be specified while providing tools.")
    if kind == "tool":
        name = choice.get("name")
        if not isinstance(name, str):
            raise _bad("tool_choice.tool.name: Field required")
        if name not in tool_names:
            raise _bad(f"tool_choice.tool.name: Tool '{name}' not found in tools")
    if info.rejects_forced_tool_choice:
        # Sonnet 5.5 / Opus 5.5 migration guides: forced tool choice returns a 400.
        raise _bad(
            f"tool_choice.type '{kind}' is not supported for {info.id}; use "
            'tool_choice {"type": "auto"}'
        )
    return True


def _check_thinking(body: Mapping[str, Any], forced: bool, info: Any) -> None:
    thinking = body.get("thinking")
    if thinking is None:
        return
    kinds = ("enabled", "disabled", "adaptive", "between_tools")
    if not isinstance(thinking, Mapping) or thinking.get("type") not in kinds:
        raise _bad(
            "thinking.type: Input should be 'enabled', 'disabled', 'adaptive' or 'between_tools'"
        )
    kind = thinking["type"]
    if kind == "disabled" and info.rejects_thinking_disabled:
        raise _bad(
            '"thinking.type.disabled" is not supported for this model. Use '
            '"thinking.type.adaptive" and "output_config.effort" to control thinking behavior.'
        )
    if kind == "enabled":
        if info.sampling_removed:  # Opus 4.7+ / Sonnet 5+ migration guides: budgets removed
            raise _bad(
                '"thinking.type.enabled" is not supported for this model. Use '
                '"thinking.type.adaptive" and "output_config.effort" to control thinking '
                "behavior."
            )
        budget = thinking.get("budget_tokens")
        if not isinstance(budget, int) or budget < 1024:
            raise _bad(
                "thinking.enabled.budget_tokens: Input should be greater than or equal to 1024"
            )
        if "max_tokens" in body and budget >= int(body["max_tokens"]):
            raise _bad("`max_tokens` must be greater than `thinking.budget_tokens`.")
    if forced and kind in ("enabled", "adaptive"):
        # Extended thinking docs: only tool_choice auto or none work with thinking.
        raise _bad("Thinking may not be enabled when tool_choice forces tool use.")
