"""``POST /v1/chat/completions``: OpenAI's rules, the local servers' modes, and the answer.

Every mode checks the rules of OpenAI's Chat Completions API (API reference; function-calling
guide) with OpenAI's wording; the server modes add their own refusals, as real servers give
them: ``vllm_no_parser`` (vLLM without ``--enable-auto-tool-choice``/``--tool-call-parser``),
``llamacpp_no_jinja`` (llama.cpp without ``--jinja``) and ``ollama`` (which ignores
``tool_choice``: about one answer in three comes in words).
"""

from __future__ import annotations

import json
import time
from collections.abc import Mapping
from typing import Any

from sandbox.llm.fake.answers import (
    choose,
    fault_answer,
    ollama_ignores_choice,
    text_answer,
    text_for,
)
from sandbox.llm.fake.endpoint import Endpoint
from sandbox.llm.fake.messages_rules import TOOL_NAME
from sandbox.llm.fake.options import ANSWER_FAULTS
from sandbox.llm.fake.prompt_cache import canon

#: Request fields of ``POST /v1/chat/completions`` (the installed ``openai`` SDK's
#: ``CompletionCreateParams``, plus ``stream``).
CHAT_FIELDS = frozenset(
    {
        "audio",
        "frequency_penalty",
        "function_call",
        "functions",
        "logit_bias",
        "logprobs",
        "max_completion_tokens",
        "max_tokens",
        "messages",
        "metadata",
        "modalities",
        "model",
        "moderation",
        "n",
        "parallel_tool_calls",
        "prediction",
        "presence_penalty",
        "prompt_cache_key",
        "prompt_cache_options",
        "prompt_cache_retention",
        "reasoning_effort",
        "response_format",
        "safety_identifier",
        "seed",
        "service_tier",
        "stop",
        "store",
        "stream",
        "stream_options",
        "temperature",
        "tool_choice",
        "tools",
        "top_logprobs",
        "top_p",
        "user",
        "verbosity",
        "web_search_options",
    }
)
_CHAT_ROLES = ("system", "developer", "user", "assistant", "tool", "function")
#: Fields local servers take beyond OpenAI's (vLLM, llama.cpp and Ollama sampling extras).
_LOCAL_FIELDS = frozenset(
    {"top_k", "min_p", "repetition_penalty", "chat_template_kwargs", "cache_prompt", "options"}
)


class ChatRejected(Exception):
    """A chat-completions request a real server refuses: status and its ``error`` object."""

    def __init__(self, status: int, error: dict[str, Any]):
        super().__init__(error.get("message"))
        self.status = status
        self.error = error


def _openai_bad(message: str, param: str | None = None, code: str | None = None) -> ChatRejected:
    return ChatRejected(
        400, {"message": message, "type": "invalid_request_error", "param": param, "code": code}
    )


def check_chat_request(body: Mapping[str, Any], *, local: bool = False) -> None:
    """Refuse a chat-completions request as OpenAI's API would.

    Raises:
        ChatRejected: 400 ``invalid_request_error`` with OpenAI's wording.
    """
    for name in ("model", "messages"):
        if name not in body:
            raise _openai_bad(
                f"Missing required parameter: '{name}'.", name, "missing_required_parameter"
            )
    for name in body:
        if name not in CHAT_FIELDS and not (local and name in _LOCAL_FIELDS):
            raise _openai_bad(f"Unrecognized request argument supplied: {name}")
    if body.get("stream"):
        raise _openai_bad("stream is not supported by the fake chat endpoint", "stream")
    messages = body["messages"]
    if not isinstance(messages, list) or not messages:
        raise _openai_bad(
            "Invalid 'messages': empty array. Expected an array with minimum length 1, but got "
            "an empty array instead.",
            "messages",
            "empty_array",
        )
    for name in ("max_tokens", "max_completion_tokens", "n"):
        value = body.get(name)
        if value is not None and (not isinstance(value, int) or isinstance(value, bool)):
            # OpenAI's schema check: these are integers, whatever a client sends.
            raise _openai_bad(
                f"Invalid type for '{name}': expected an integer, but got {_json_type(value)} "
                "instead.",
                name,
                "invalid_type",
            )
    tools = body.get("tools")
    names: set[str] = set()
    if tools is not None:
        if not isinstance(tools, list):
            raise _openai_bad("Invalid type for 'tools': expected an array.", "tools")
        for i, tool in enumerate(tools):
            function = tool.get("function") if isinstance(tool, Mapping) else None
            if (
                not isinstance(tool, Mapping)
                or tool.get("type") != "function"
                or not isinstance(function, Mapping)
            ):
                raise _openai_bad(
                    f"Missing required parameter: 'tools[{i}].function'.", f"tools[{i}].function"
                )
            tool_name = function.get("name")
            if not isinstance(tool_name, str) or not TOOL_NAME.match(tool_name):
                raise _openai_bad(
                    f"Invalid 'tools[{i}].function.name': string does not match pattern. Expected "
                    "a string that matches the pattern '^[a-zA-Z0-9_-]+$'.",
                    f"tools[{i}].function.name",
                    "invalid_value",
                )
            names.add(tool_name)
    choice = body.get("tool_choice")
    if choice is not None:
        named = choice.get("function", {}).get("name") if isinstance(choice, Mapping) else None
        if choice not in ("none", "auto", "required") and not isinstance(named, str):
            raise _openai_bad(
                f"Invalid value for 'tool_choice': {json.dumps(choice)}.", "tool_choice"
            )
        if not names and choice != "none":
            # Function-calling guide: tool_choice only with tools.
            raise _openai_bad(
                "Invalid value for 'tool_choice': 'tool_choice' is only allowed when 'tools' are "
                "specified.",
                "tool_choice",
            )
        if isinstance(named, str) and named not in names:
            raise _openai_bad(
                f"Invalid value for 'tool_choice': function '{named}' not found in 'tools'.",
                "tool_choice",
            )
    pending: dict[str, int] = {}
    for i, message in enumerate(messages):
        if not isinstance(message, Mapping) or message.get("role") not in _CHAT_ROLES:
            role = message.get("role") if isinstance(message, Mapping) else None
            raise _openai_bad(
                f"Invalid value: '{role}'. Supported values are: 'system', 'assistant', 'user', "
                "'function', 'tool', and 'developer'.",
                f"messages[{i}].role",
                "invalid_value",
            )
        role = message["role"]
        if pending and role != "tool":
            raise _unanswered_calls(pending)
        if role == "tool":
            call_id = message.get("tool_call_id")
            if call_id not in pending:
                raise _openai_bad(
                    "Invalid parameter: messages with role 'tool' must be a response to a "
                    "preceeding message with 'tool_calls'.",
                    f"messages.[{i}].role",
                )
            del pending[call_id]
        if role == "assistant":
            calls = message.get("tool_calls")
            if calls is not None and not isinstance(calls, list):
                raise _openai_bad(
                    f"Invalid type for 'messages[{i}].tool_calls': expected an array, but got "
                    f"{_json_type(calls)} instead.",
                    f"messages[{i}].tool_calls",
                    "invalid_type",
                )
            for j, call in enumerate(calls or []):
                if not isinstance(call, Mapping) or not isinstance(call.get("id"), str):
                    raise _openai_bad(
                        f"Missing required parameter: 'messages[{i}].tool_calls[{j}].id'.",
                        f"messages[{i}].tool_calls[{j}].id",
                        "missing_required_parameter",
                    )
                pending[call["id"]] = i
        if role in ("user", "system", "developer") and message.get("content") is None:
            raise _openai_bad(
                "Invalid value for 'content': expected a string, got null.",
                f"messages.[{i}].content",
            )
    if pending:
        raise _unanswered_calls(pending)


def _json_type(value: Any) -> str:
    """How OpenAI's type errors name what came ("a string", "an object", ...)."""
    if isinstance(value, bool):
        return "a boolean"
    if isinstance(value, str):
        return "a string"
    if isinstance(value, int):
        return "an integer"
    if isinstance(value, float):
        return "a decimal"
    if isinstance(value, list):
        return "an array"
    if isinstance(value, Mapping):
        return "an object"
    return "null"


def _unanswered_calls(pending: Mapping[str, int]) -> ChatRejected:
    """OpenAI's refusal of tool calls (id -> index of their message) that no tool message
    answered before the next turn (function-calling guide: each call needs its result)."""
    first = min(pending.values())
    return _openai_bad(
        "An assistant message with 'tool_calls' must be followed by tool messages responding "
        "to each 'tool_call_id'. The following tool_call_ids did not have response messages: "
        f"{', '.join(pending)}",
        f"messages.[{first}].role",
    )


def _check_chat_server(body: Mapping[str, Any], mode: str) -> None:
    """What a local server in ``mode`` refuses, with its status and wording."""
    tools = body.get("tools") or []
    choice = body.get("tool_choice")
    if mode == "vllm_no_parser" and tools:
        # vLLM entrypoints/openai/serving_chat.py: with tools, tool_choice defaults to "auto",
        # which needs --enable-auto-tool-choice and a parser; newer versions also refuse a
        # forced choice without a parser.
        if choice in (None, "auto"):
            message = (
                '"auto" tool choice requires --enable-auto-tool-choice and --tool-call-parser '
                "to be set"
            )
        elif choice == "required":
            message = 'tool_choice="required" requires --tool-call-parser to be set'
        elif isinstance(choice, Mapping):
            message = "named tool_choice requires --tool-call-parser to be set"
        else:
            return
        raise ChatRejected(
            400, {"message": message, "type": "BadRequestError", "param": None, "code": 400}
        )
    if mode == "llamacpp_no_jinja":
        # llama.cpp tools/server/utils.hpp oaicompat_chat_params_parse (thrown, answered 500
        # server_error) when the server runs without --jinja.
        if tools:
            message = "tools param requires --jinja flag"
        elif choice not in (None, "auto"):
            message = "tool_choice param requires --jinja flag"
        else:
            return
        raise ChatRejected(500, {"code": 500, "message": message, "type": "server_error"})


# -- HTTP --------------------------------------------------------------------------------------


class ChatEndpoint(Endpoint):
    """The chat-completions endpoint of a connection."""

    def _chat(self, body: dict[str, Any], text: str) -> None:
        state = self.state
        mode = state.options.chat_mode
        try:
            _check_chat_server(body, mode)
            check_chat_request(body, local=mode != "openai")
        except ChatRejected as rejected:
            with state.lock:
                state.notes["rejected"] += 1
            self._send(rejected.status, {"error": rejected.error})
            return
        tool_choice = body.get("tool_choice", "auto" if body.get("tools") else "none")
        forced_name = None
        if isinstance(tool_choice, Mapping):
            forced_name = (tool_choice.get("function") or {}).get("name")
        forced = tool_choice == "required" or forced_name is not None
        if self._rejected_forced_choice(
            forced,
            "tool_choice 'required' is not supported for this model; use tool_choice 'auto'",
            openai=True,
        ):
            return
        tools = [
            {
                "name": (t.get("function") or {}).get("name"),
                "input_schema": (t.get("function") or {}).get("parameters") or {},
            }
            for t in body.get("tools") or []
            if isinstance(t, Mapping)
        ]
        answer = choose(state, tools, forced_name, tool_choice != "none", text)
        fault = answer.fault or state.draw_fault()
        if fault is not None and self._play_transport_fault(fault, openai=True):
            return
        if fault in ANSWER_FAULTS:
            self._fault_counted(fault)
        if mode == "ollama" and tools and ollama_ignores_choice(state, text):
            # Ollama ignores tool_choice: forced or not, the model may answer in words.
            fault = fault or "text_only"
            with state.lock:
                state.notes["tool_choice_ignored"] += 1
        message: dict[str, Any] = {"role": "assistant", "content": None}
        finish = "tool_calls"
        calls = [b for b in answer.content if b.get("type") == "tool_use"]
        texts = [b.get("text", "") for b in answer.content if b.get("type") == "text"]
        shaped = fault_answer(fault)
        if fault == "refusal":
            message["refusal"] = "I can't help with that."
            finish = "stop"
        elif shaped is not None:
            # The other answer faults, as chat content (a cut-off answer finishes "length").
            message["content"] = "".join(b["text"] for b in shaped.content)
            finish = "length" if shaped.stop_reason == "max_tokens" else "stop"
        elif not tools:
            # No tools (a text-only run): answer in words naming an option of the prompt.
            message["content"] = text_answer(body, text, state)
            finish = "stop"
        elif fault == "text_only" or not calls:
            message["content"] = " ".join(
                texts + [text_for(c["name"], c.get("input") or {}) for c in calls]
            )
            finish = "stop"
        else:
            message["tool_calls"] = [
                {
                    "id": f"call_{c['id'].rsplit('_', 1)[-1]}",
                    "type": "function",
                    "function": {"name": c["name"], "arguments": json.dumps(c.get("input") or {})},
                }
                for c in calls
            ]
        # Automatic prefix caching, as OpenAI-compatible servers do: every prompt is a write
        # point, and the longest earlier prompt it extends is read. OpenAI caches prompts of
        # 1024 tokens or more (its prompt-caching guide); local servers cache any length.
        blocks = [("tool:" + canon(t), False) for t in body.get("tools") or []]
        blocks += [("message:" + canon(m), False) for m in body.get("messages") or []]
        if blocks:
            blocks[-1] = (blocks[-1][0], True)
        minimum = 1024 if mode == "openai" else 0
        input_tokens, creation, read, _ = state.cache_usage(
            blocks, model="chat:" + str(body.get("model")), minimum=minimum
        )
        prompt = input_tokens + creation + read
        completion = max(1, len(canon(message)) // 4)
        if finish == "length":
            completion = int(
                body.get("max_tokens") or body.get("max_completion_tokens") or completion
            )
        payload: dict[str, Any] = {
            "id": f"chatcmpl-fake-{state.next_id():08d}",
            "object": "chat.completion",
            "created": int(time.time()),
            "model": str(body.get("model")),
            "choices": [
                {"index": 0, "message": message, "finish_reason": finish, "logprobs": None}
            ],
        }
        if state.options.chat_usage:
            usage: dict[str, Any] = {
                "prompt_tokens": prompt,
                "completion_tokens": completion,
                "total_tokens": prompt + completion,
            }
            if mode == "openai":
                usage["prompt_tokens_details"] = {"cached_tokens": read}
            payload["usage"] = usage
        self._send(200, payload)
