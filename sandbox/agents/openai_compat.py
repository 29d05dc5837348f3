"""A model behind an OpenAI-compatible chat-completions server (vLLM, llama.cpp, Ollama, ...).

The same subject as :mod:`sandbox.agents.claude` (the loop of :mod:`sandbox.agents.model`: same
tools, same fallback from a forced tool choice to plain-text answers, same cache, budget,
limiter, retries and transcripts); only the wire format differs: tools are ``function`` tools,
the forced choice is ``"required"``, tool results are ``role: tool`` messages, and the system
prompt is the first message. Servers cache prompts on their own, so no cache markers are sent;
``prompt_tokens_details.cached_tokens`` is recorded as ``cache_read_input_tokens``. A response
without ``usage`` (some servers send none) is recorded as unreported, so its cost is ``null``,
not 0.

Servers as they really are (:func:`rejects_tools` reads their messages):

- vLLM started without ``--enable-auto-tool-choice --tool-call-parser`` answers 400
  ``"auto" tool choice requires --enable-auto-tool-choice and --tool-call-parser to be set``
  (and, in newer versions, ``tool_choice="required" requires --tool-call-parser to be set``),
  see vLLM's ``entrypoints/openai/serving_chat.py``; older versions' 400 ``tool_choice =
  "required" is not supported!`` rejects only the forced choice;
- llama.cpp's ``llama-server`` without ``--jinja`` answers 500 ``server_error`` ``tools param
  requires --jinja flag`` (``oaicompat_chat_params_parse`` in ``tools/server/utils.hpp``);
- Ollama answers 400 ``... does not support tools`` for a model whose template has none.

Each of these means the server takes no tools at all: the failure is not retried, and the run
goes on with plain-text answers (mode ``text``: no ``tools``, no ``tool_choice``, the history's
tool calls and results rewritten as plain turns, and an instruction naming the answers that
:func:`~sandbox.agents.tools.parse_text_answer` reads). A rejected forced choice alone
(``required``) falls back to ``auto`` first. Ollama accepts ``tool_choice`` and ignores it; the
shared loop records that as ``forced_choice_ignored``.

The ``openai`` package is an optional extra, imported only when the builder is made.
"""

from __future__ import annotations

import json
import os
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any, Unpack

from sandbox.agents.model import BuilderOptions, ModelBuilder, ModelEpisode
from sandbox.agents.model_api import (
    CallFailure,
    MalformedResponse,
    ModelReply,
    ToolResult,
    classify_sdk_error,
    client_options,
)
from sandbox.agents.tools import ToolCall, ToolSpec, answer_examples
from sandbox.budget import Budget
from sandbox.config import LLMAgentConfig, OpenAICompatAgentConfig
from sandbox.errors import AgentError
from sandbox.llm.prices import PriceTable
from sandbox.records import Usage

MISSING_PACKAGE = (
    "the openai_compat agent needs the openai package: pip install 'welfare-sandbox[openai]'"
)
#: Sent when ``api_key_env`` is unset: local servers accept any key, and the SDK wants one.
NO_KEY = "not-needed"

#: Chat-completions ``finish_reason`` in the Messages API's words. OpenAI's reference
#: (``ChatCompletion.choices[].finish_reason``): ``stop``, ``length`` (max_tokens reached),
#: ``content_filter`` (content omitted by a content filter), ``tool_calls``, ``function_call``.
#: A ``refusal`` string on the message (OpenAI's refusals) is a refusal too, see ``parse``.
_FINISH = {
    "tool_calls": "tool_use",
    "function_call": "tool_use",
    "stop": "end_turn",
    "length": "max_tokens",
    "content_filter": "refusal",
}

#: Lower-case fragments of error messages by which a server says it takes no tools at all.
NO_TOOLS_MESSAGES = (
    # vLLM without --enable-auto-tool-choice / --tool-call-parser (HTTP 400).
    "--enable-auto-tool-choice",
    "--tool-call-parser",
    # llama.cpp's llama-server without --jinja (HTTP 500 server_error).
    "tools param requires --jinja",
    # Ollama, for a model whose template has no tools (HTTP 400).
    "does not support tools",
)


def rejects_tools(status: int | None, message: str) -> bool:
    """Whether an error says that the server (or model) takes no tools at all."""
    if status is None or status < 400:
        return False
    text = message.lower()
    return any(fragment in text for fragment in NO_TOOLS_MESSAGES)


def text_instruction(specs: Sequence[ToolSpec]) -> str:
    """What a request without tools asks for: one line naming the action, as
    :func:`~sandbox.agents.tools.parse_text_answer` reads it."""
    options: list[str] = []
    for spec in specs:
        option = (spec.input_schema.get("properties") or {}).get("option") or {}
        options.extend(str(o) for o in option.get("enum") or [])
    letters = {letter: i for i, letter in enumerate(sorted(set(options)))}
    examples = answer_examples(specs, letters)
    lines = "\n".join(
        f"- {example}: {spec.description}" for example, spec in zip(examples, specs, strict=True)
    )
    return (
        "(No tools can be called here. Answer in words, and end your answer with one line "
        "naming your choice, in one of these forms:\n" + lines + ")"
    )


def as_plain_turns(messages: Sequence[Mapping[str, Any]]) -> list[dict[str, Any]]:
    """The conversation without tool calls: for a server that takes no tools.

    An assistant turn's tool calls become text saying what was called; a tool result becomes
    a user turn; turns of the same role in a row are joined, since many chat templates require
    user and assistant turns to alternate.
    """
    out: list[dict[str, Any]] = []
    for message in messages:
        role = str(message.get("role"))
        content = message.get("content")
        text = content if isinstance(content, str) else ""
        if role == "assistant":
            calls = [
                f"(called {(c.get('function') or {}).get('name')} with "
                f"{(c.get('function') or {}).get('arguments') or '{}'})"
                for c in message.get("tool_calls") or []
            ]
            text = "\n".join(p for p in (text, *calls) if p)
        elif role == "tool":
            role = "user"
        if out and out[-1]["role"] == role and role != "system":
            out[-1] = {
                "role": role,
                "content": "\n\n".join(p for p in (out[-1]["content"], text) if p),
            }
        else:
            out.append({"role": role, "content": text})
    return out


class OpenAIChatAdapter:
    """Requests and responses of chat completions (``POST /v1/chat/completions``)."""

    api = "openai-chat"

    def initial_messages(self, system: str) -> list[dict[str, Any]]:
        return [{"role": "system", "content": system}] if system else []

    def user_turn(self, results: Sequence[ToolResult], text: str | None) -> list[dict[str, Any]]:
        messages: list[dict[str, Any]] = [
            {
                "role": "tool",
                "tool_call_id": r.call_id,
                "content": f"Error: {r.content}" if r.is_error else r.content,
            }
            for r in results
        ]
        if text is not None or not messages:
            messages.append({"role": "user", "content": text or "(no text)"})
        return messages

    def build_request(
        self,
        *,
        cfg: LLMAgentConfig,
        system: str,
        specs: Sequence[ToolSpec],
        mode: str,
        messages: list[dict[str, Any]],
        caching: bool,
    ) -> tuple[dict[str, Any], list[list[int]]]:
        request: dict[str, Any] = {
            "model": cfg.model,
            "max_tokens": cfg.max_tokens,
            "messages": list(messages),
        }
        if mode == "text":
            # The server takes no tools: neither ``tools`` nor ``tool_choice`` may be sent
            # (llama.cpp without --jinja rejects both), nor tool turns in the history.
            plain = as_plain_turns(messages)
            instruction = text_instruction(specs) if specs else ""
            if instruction and plain and plain[-1]["role"] == "user":
                last = plain[-1]
                plain[-1] = {**last, "content": f"{last['content']}\n\n{instruction}".strip()}
            elif instruction:
                plain.append({"role": "user", "content": instruction})
            request["messages"] = plain
        elif specs:
            request["tools"] = [
                {
                    "type": "function",
                    "function": {
                        "name": s.name,
                        "description": s.description,
                        "parameters": s.input_schema,
                    },
                }
                for s in specs
            ]
            request["tool_choice"] = "required" if mode == "any" else "auto"
        if cfg.extra_body:
            request["extra_body"] = dict(cfg.extra_body)
        return request, []

    async def send(
        self, client: Any, request: Mapping[str, Any], timeout: float
    ) -> tuple[dict[str, Any], str | None]:
        kwargs = {k: v for k, v in request.items() if k != "extra_body"}
        completion = await client.chat.completions.create(
            **kwargs, extra_body=request.get("extra_body"), timeout=timeout
        )
        if not hasattr(completion, "to_dict"):
            raise MalformedResponse(f"expected a chat completion, got {type(completion).__name__}")
        data = completion.to_dict(mode="json")
        if not isinstance(data, dict) or not data.get("choices"):
            raise MalformedResponse("the response has no choices")
        return data, getattr(completion, "_request_id", None)

    def parse(self, response: Mapping[str, Any]) -> ModelReply:
        choice = (response.get("choices") or [{}])[0]
        message = choice.get("message") or {}
        text = message.get("content") or ""
        calls: list[ToolCall] = []
        sent_calls: list[dict[str, Any]] = []
        for raw in message.get("tool_calls") or []:
            function = raw.get("function") or {}
            name, arguments = str(function.get("name", "")), function.get("arguments") or "{}"
            try:
                args = json.loads(arguments) if isinstance(arguments, str) else arguments
                error = None if isinstance(args, dict) else "arguments are not a JSON object"
            except json.JSONDecodeError:
                args, error = {}, "arguments are not valid JSON"
            calls.append(ToolCall(str(raw.get("id", "")), name, args if not error else {}, error))
            sent_calls.append(
                {
                    "id": raw.get("id"),
                    "type": "function",
                    "function": {"name": name, "arguments": arguments},
                }
            )
        finish = choice.get("finish_reason")
        stop = "refusal" if message.get("refusal") else _FINISH.get(str(finish), str(finish))
        reported = isinstance(response.get("usage"), Mapping)
        raw_usage = response.get("usage") or {}
        cached = int((raw_usage.get("prompt_tokens_details") or {}).get("cached_tokens") or 0)
        usage = Usage(
            input_tokens=max(0, int(raw_usage.get("prompt_tokens") or 0) - cached),
            output_tokens=int(raw_usage.get("completion_tokens") or 0),
            cache_read_input_tokens=cached,
            calls=1,
        )
        assistant: dict[str, Any] | None = None
        if text or sent_calls:
            assistant = {"role": "assistant", "content": text or None}
            if sent_calls:
                assistant["tool_calls"] = sent_calls
        return ModelReply(
            text=text,
            calls=calls,
            stop_reason=stop,
            raw_stop_reason=finish,
            usage=usage,
            assistant=assistant,
            usage_reported=reported,
        )

    def classify(self, exc: BaseException) -> CallFailure | None:
        import openai

        return classify_sdk_error(exc, openai, rejects_tools=rejects_tools)


class OpenAICompatEpisode(ModelEpisode):
    """One episode's conversation with a chat-completions model."""


class OpenAICompatBuilder(ModelBuilder):
    """Builds :class:`OpenAICompatEpisode` agents that share one ``AsyncOpenAI`` client.

    Args: as :class:`~sandbox.agents.claude.ClaudeBuilder`; the key comes from the environment
    variable named by ``cfg.api_key_env`` (a placeholder when unset: local servers need none).

    Raises:
        AgentError: The ``openai`` package is not installed.
    """

    name = "openai_compat"
    episode_class = OpenAICompatEpisode

    def __init__(
        self,
        cfg: OpenAICompatAgentConfig,
        *,
        budget: Budget,
        prices: PriceTable,
        run_dir: Path | None,
        **options: Unpack[BuilderOptions],
    ):
        try:
            import openai
        except ImportError:
            raise AgentError(MISSING_PACKAGE) from None
        key = os.environ.get(cfg.api_key_env, "").strip() or NO_KEY
        client = openai.AsyncOpenAI(**client_options(key, cfg))
        super().__init__(
            cfg,
            budget=budget,
            prices=prices,
            run_dir=run_dir,
            adapter=OpenAIChatAdapter(),
            client=client,
            endpoint=str(client.base_url).rstrip("/"),
            secret="" if key == NO_KEY else key,
            **options,
        )
        self.sdk_version = openai.__version__

    def parameters(self) -> dict[str, Any]:
        """Settings for ``run.json`` (never the key)."""
        return {
            **super().parameters(),
            "sdk": f"openai {self.sdk_version}",
            "api_key_env": getattr(self.cfg, "api_key_env", ""),
        }
