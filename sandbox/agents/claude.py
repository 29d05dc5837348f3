"""Claude as the subject: the Messages API's adapter and the builder of its SDK client.

The loop (cache, budget, limiter, retries, tool-choice fallbacks, outcomes) is
:mod:`sandbox.agents.model`'s; this module knows the Messages API only (``POST /v1/messages``):

- Turns as the docs ask: tool results as ``tool_result`` blocks, and text that would follow an
  empty answer joined to the last user turn (:meth:`AnthropicAdapter.extend_user_turn`), since
  two user turns in a row and empty text blocks are refused; the system prompt beside the
  messages; ``tool_choice`` ``{"type": any|auto, "disable_parallel_tool_use": true}`` and the
  tools on every request of the episode; whitespace-only text and lone thinking blocks are
  never sent back.
- Prompt caching (``agent.prompt_caching``): at most :data:`MAX_CACHE_BREAKPOINTS` markers, on
  the tools-and-system prefix when it is long enough on its own, and on the newest user turns.
- Every response's ``anthropic-ratelimit-*`` headers (429s included) go to the shared limiter
  (:func:`observe_rate_limit_headers`), which slows before the server answers 429.
- Failed attempts are classified by :func:`~sandbox.agents.model_api.classify_sdk_error`.

Before the first call, :class:`ClaudeBuilder` refuses a retired model id, an ``extra_body``
field the ``anthropic-version`` or the model rejects (the SDK 2.x's version removes
``temperature``, ``top_p``, ``top_k``), and a ``budget_usd`` that a model with no price could
not enforce (unless ``agent.price`` gives one). The ``anthropic`` package is imported only when
a :class:`ClaudeBuilder` is made, so the offline (simulated) path never imports it.

The names this module held before the loop moved (``ModelBuilder``, ``ModelEpisode``,
``ModelCallFailed``, ``estimate_cost``, ...) are still importable from here.
"""

from __future__ import annotations

import os
from collections.abc import Mapping, Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Unpack

from sandbox.agents.estimate import (
    CHARS_PER_TOKEN_ESTIMATE,
    DEFAULT_MIN_CACHE_TOKENS,
    PromptSizes,
    estimate_cost,
    estimate_usage,
    min_cache_tokens,
    prompt_sizes,
    tokens_of,
    with_config_price,
)
from sandbox.agents.model import BuilderOptions, ModelBuilder, ModelEpisode
from sandbox.agents.model_api import (
    ApiAdapter,
    CallFailure,
    MalformedResponse,
    ModelCallFailed,
    ModelReply,
    ToolResult,
    classify_sdk_error,
    client_options,
    retry_after_from,
)
from sandbox.agents.tools import ToolCall, ToolSpec
from sandbox.budget import Budget
from sandbox.config import ClaudeAgentConfig, LLMAgentConfig
from sandbox.errors import AgentError, ConfigError
from sandbox.llm.limiter import RateLimiter
from sandbox.llm.prices import PriceTable
from sandbox.records import Usage

__all__ = [
    "CHARS_PER_TOKEN_ESTIMATE",
    "DEFAULT_MIN_CACHE_TOKENS",
    "MAX_CACHE_BREAKPOINTS",
    "AnthropicAdapter",
    "ApiAdapter",
    "CallFailure",
    "ClaudeBuilder",
    "ClaudeEpisode",
    "MalformedResponse",
    "ModelBuilder",
    "ModelCallFailed",
    "ModelEpisode",
    "ModelReply",
    "PromptSizes",
    "ToolResult",
    "check_request_fields",
    "estimate_cost",
    "estimate_usage",
    "min_cache_tokens",
    "observe_rate_limit_headers",
    "prompt_sizes",
    "retry_after_from",
    "seconds_until",
    "with_config_price",
]

EPHEMERAL = {"type": "ephemeral"}
ANTHROPIC_DEFAULT_BASE_URL = "https://api.anthropic.com"


def seconds_until(stamp: str | None) -> float | None:
    """Seconds from now until an RFC 3339 time (the ``anthropic-ratelimit-*-reset`` headers)."""
    if not stamp:
        return None
    try:
        when = datetime.fromisoformat(stamp.replace("Z", "+00:00"))
    except ValueError:
        return None
    if when.tzinfo is None:
        when = when.replace(tzinfo=UTC)
    return max(0.0, (when - datetime.now(UTC)).total_seconds())


def _int_header(headers: Mapping[str, str], name: str) -> int | None:
    raw = headers.get(name)
    try:
        return int(raw) if raw is not None else None
    except ValueError:
        return None


def observe_rate_limit_headers(limiter: RateLimiter, headers: Mapping[str, str] | None) -> None:
    """Tell the shared limiter what the ``anthropic-ratelimit-*`` response headers say is left.

    The API reports, with every response (429s included), the requests and tokens (input and
    output apart) left in the current window and when each is restored; a run that waits for
    the reset when little is left meets no 429 (Anthropic docs, "Rate limits": response
    headers).
    """
    if not headers:
        return
    prefix = "anthropic-ratelimit-"

    def limit(kind: str) -> tuple[int, float | None, int | None] | None:
        remaining = _int_header(headers, f"{prefix}{kind}-remaining")
        if remaining is None:
            return None
        reset = seconds_until(headers.get(f"{prefix}{kind}-reset"))
        return remaining, reset, _int_header(headers, f"{prefix}{kind}-limit")

    requests = limit("requests")
    tokens = [t for kind in ("tokens", "input-tokens", "output-tokens") if (t := limit(kind))]
    if requests is None and not tokens:
        return
    limiter.server_limits(requests=requests, tokens=tokens)


# -- the Messages API --------------------------------------------------------------------------


class AnthropicAdapter:
    """Requests and responses of the Messages API (``POST /v1/messages``).

    Attributes:
        limiter: The shared rate limiter, told what each response's ``anthropic-ratelimit-*``
            headers say is left (set by the builder).
    """

    api = "anthropic-messages"

    def __init__(self, limiter: RateLimiter | None = None) -> None:
        self.limiter = limiter

    def initial_messages(self, system: str) -> list[dict[str, Any]]:
        return []  # the Messages API takes the system prompt beside the messages

    def user_turn(self, results: Sequence[ToolResult], text: str | None) -> list[dict[str, Any]]:
        content: list[dict[str, Any]] = []
        for result in results:
            block: dict[str, Any] = {
                "type": "tool_result",
                "tool_use_id": result.call_id,
                "content": result.content,
            }
            if result.is_error:
                block["is_error"] = True
            content.append(block)
        # Text never follows tool results in one turn (the docs: it brings on empty
        # end_turn answers); the episode puts text inside a result instead.
        if text is not None and text.strip() and not content:
            content.append({"type": "text", "text": text})
        if not content:
            raise ValueError("a user turn needs tool results or non-empty text")
        return [{"role": "user", "content": content}]

    def extend_user_turn(self, message: Mapping[str, Any], text: str) -> dict[str, Any]:
        """``message`` (a user turn) with ``text`` added: inside its last tool result when it
        ends in one, else as one more text block."""
        raw = message.get("content")
        content: list[dict[str, Any]] = (
            [{"type": "text", "text": raw}] if isinstance(raw, str) else list(raw or [])
        )
        last = content[-1] if content else None
        if last is not None and last.get("type") == "tool_result":
            inner = last.get("content")
            blocks = (
                [{"type": "text", "text": inner}]
                if isinstance(inner, str) and inner.strip()
                else [b for b in inner or [] if isinstance(b, dict)]
                if isinstance(inner, list)
                else []
            )
            blocks.append({"type": "text", "text": text})
            content[-1] = {**last, "content": blocks}
        else:
            content.append({"type": "text", "text": text})
        return {**message, "content": content}

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
        request: dict[str, Any] = {"model": cfg.model, "max_tokens": cfg.max_tokens}
        minimum = min_cache_tokens(cfg.model)
        tools: list[dict[str, Any]] = []
        if specs and mode != "text":
            # The same list on every request of an episode (a request whose history holds
            # tool_use or tool_result blocks must define tools).
            tools = [
                {"name": s.name, "description": s.description, "input_schema": s.input_schema}
                for s in specs
            ]
        prefix = sum(tokens_of(t) for t in tools)
        if system:
            request["system"] = [{"type": "text", "text": system}]
            prefix += tokens_of(request["system"][0])
        # Prompt caching (docs, "Prompt caching"): at most 4 breakpoints; a prefix shorter
        # than the model's minimum is not cached, so marking it wastes a breakpoint; each
        # breakpoint looks back 20 blocks for an earlier write. So: the tools-and-system
        # prefix only when it is long enough on its own (every episode of the run then reads
        # it), and the last block of the newest user turns, moving forward each step: the
        # newest writes what the next call reads, the ones before read what earlier calls
        # wrote.
        budget = MAX_CACHE_BREAKPOINTS
        if caching and prefix >= minimum:
            if system:
                request["system"][0]["cache_control"] = EPHEMERAL
            elif tools:
                tools[-1] = {**tools[-1], "cache_control": EPHEMERAL}
            budget -= 1
        if tools:
            request["tools"] = tools
            request["tool_choice"] = {"type": mode, "disable_parallel_tool_use": True}
        markers: list[list[int]] = []
        if caching:
            ends: list[int] = []
            running = prefix
            for message in messages:
                content = message.get("content")
                blocks = content if isinstance(content, list) else [content]
                running += sum(tokens_of(b) for b in blocks)
                ends.append(running)
            users = [
                i
                for i, m in enumerate(messages)
                if m.get("role") == "user" and isinstance(m.get("content"), list) and m["content"]
            ]
            for index in reversed(users[-budget:] if budget > 0 else []):
                if ends[index] >= minimum:
                    markers.append([index, len(messages[index]["content"]) - 1])
            markers.sort()
        sent = list(messages)
        for mi, bi in markers:
            content = list(sent[mi]["content"])
            content[bi] = {**content[bi], "cache_control": EPHEMERAL}
            sent[mi] = {**sent[mi], "content": content}
        request["messages"] = sent
        if cfg.extra_body:
            request["extra_body"] = dict(cfg.extra_body)
        return request, markers

    async def send(
        self, client: Any, request: Mapping[str, Any], timeout: float
    ) -> tuple[dict[str, Any], str | None]:
        kwargs = {k: v for k, v in request.items() if k != "extra_body"}
        raw = await client.messages.with_raw_response.create(
            **kwargs, extra_body=request.get("extra_body"), timeout=timeout
        )
        if self.limiter is not None:
            observe_rate_limit_headers(self.limiter, raw.headers)
        message = await raw.parse()
        if not hasattr(message, "to_dict"):
            raise MalformedResponse(f"expected a message, got {type(message).__name__}")
        data = message.to_dict(mode="json")
        if not isinstance(data, dict) or data.get("type") != "message":
            raise MalformedResponse("the response is not a message")
        return data, raw.request_id or getattr(message, "_request_id", None)

    def parse(self, response: Mapping[str, Any]) -> ModelReply:
        content = response.get("content") or []
        texts: list[str] = []
        calls: list[ToolCall] = []
        kept: list[dict[str, Any]] = []
        for block in content:
            kind = block.get("type")
            if kind == "text":
                # A whitespace-only block ("\n\n", which real models do write) is never sent
                # back: the API answers 400 "text content blocks must contain non-whitespace
                # text", and a cached answer would replay that fault on every resume.
                text = block.get("text")
                if isinstance(text, str) and text.strip():
                    texts.append(text)
                    kept.append({"type": "text", "text": text})
            elif kind == "tool_use":
                args = block.get("input")
                calls.append(
                    ToolCall(str(block.get("id", "")), str(block.get("name", "")), args or {})
                    if isinstance(args, dict) or args is None
                    else ToolCall(
                        str(block.get("id", "")),
                        str(block.get("name", "")),
                        {},
                        "input is not an object",
                    )
                )
                kept.append(
                    {
                        "type": "tool_use",
                        "id": block.get("id"),
                        "name": block.get("name"),
                        "input": args if isinstance(args, dict) else {},
                    }
                )
            elif kind in ("thinking", "redacted_thinking"):
                kept.append(dict(block))  # must go back unchanged when thinking is on
        raw = response.get("usage")
        reported = isinstance(raw, Mapping)
        raw = raw if isinstance(raw, Mapping) else {}
        usage = Usage(
            input_tokens=int(raw.get("input_tokens") or 0),
            output_tokens=int(raw.get("output_tokens") or 0),
            cache_read_input_tokens=int(raw.get("cache_read_input_tokens") or 0),
            cache_creation_input_tokens=int(raw.get("cache_creation_input_tokens") or 0),
            calls=1,
        )
        stop = response.get("stop_reason")
        # An assistant turn of thinking blocks alone is not sent back either.
        sendable = any(b["type"] in ("text", "tool_use") for b in kept)
        return ModelReply(
            text="\n".join(texts),
            calls=calls,
            stop_reason=str(stop or "unknown"),
            raw_stop_reason=stop,
            usage=usage,
            assistant={"role": "assistant", "content": kept} if sendable else None,
            usage_reported=reported,
        )

    def classify(self, exc: BaseException) -> CallFailure | None:
        import anthropic

        observe = None
        if self.limiter is not None:  # a 429 carries the rate-limit headers too
            limiter = self.limiter

            def observe(headers: Mapping[str, str]) -> None:
                observe_rate_limit_headers(limiter, headers)

        return classify_sdk_error(exc, anthropic, on_headers=observe)


#: The most ``cache_control`` breakpoints one request may carry (docs, "Prompt caching").
MAX_CACHE_BREAKPOINTS = 4


class ClaudeEpisode(ModelEpisode):
    """One episode's conversation with Claude."""


class ClaudeBuilder(ModelBuilder):
    """Builds :class:`ClaudeEpisode` agents that share one ``AsyncAnthropic`` client.

    Args:
        cfg: The Claude agent's config.
        budget: The run's spending ledger.
        prices: The price table.
        run_dir: Where ``transcripts/`` go.
        **options: ``limiter``, ``cache``, ``retry_base_s``, ``retry_cap_s``, passed to
            :class:`~sandbox.agents.model.ModelBuilder`.

    Raises:
        AgentError: ``ANTHROPIC_API_KEY`` is not set.
    """

    name = "claude"
    episode_class = ClaudeEpisode

    def __init__(
        self,
        cfg: ClaudeAgentConfig,
        *,
        budget: Budget,
        prices: PriceTable,
        run_dir: Path | None,
        **options: Unpack[BuilderOptions],
    ):
        from sandbox.llm.models import check_model

        check_model(cfg.model)  # a retired id fails here, not with a 404 at the first call
        key = os.environ.get("ANTHROPIC_API_KEY", "").strip()
        if not key:
            raise AgentError(
                "the claude agent needs ANTHROPIC_API_KEY in the environment (export it; it is "
                "never read from a config file); to run offline use agent=simulated, or "
                "`wsb fake-api` with ANTHROPIC_BASE_URL"
            )
        import anthropic  # only here: the offline path never imports the SDK
        from anthropic._constants import ANTHROPIC_API_VERSION

        self.api_version = str(ANTHROPIC_API_VERSION)
        check_request_fields(cfg, self.api_version)
        client = anthropic.AsyncAnthropic(**client_options(key, cfg))
        super().__init__(
            cfg,
            budget=budget,
            prices=prices,
            run_dir=run_dir,
            adapter=AnthropicAdapter(),
            client=client,
            endpoint=str(client.base_url).rstrip("/"),
            secret=key,
            **options,
        )
        self.sdk_version = anthropic.__version__
        sent = client.default_headers.get("anthropic-version")
        if isinstance(sent, str):
            self.api_version = sent
        if isinstance(self.adapter, AnthropicAdapter):
            self.adapter.limiter = self.limiter

    def parameters(self) -> dict[str, Any]:
        """Settings for ``run.json`` (never the key)."""
        return {
            **super().parameters(),
            "sdk": f"anthropic {self.sdk_version}",
            "sdk_version": self.sdk_version,
            "anthropic_version": self.api_version,
        }


def check_request_fields(cfg: LLMAgentConfig, api_version: str) -> None:
    """Refuse, before the first call, an ``extra_body`` field the API version or model rejects.

    Raises:
        ConfigError: One line naming the field, the version and the fix.
    """
    from sandbox.llm.models import LEGACY_API_VERSION, rejected_request_fields

    rejected = rejected_request_fields(api_version, cfg.model)
    for name in rejected:
        if name not in cfg.extra_body:
            continue
        if api_version < "2026-10-21" and name == "temperature" and cfg.extra_body[name] == 1.0:
            continue  # the default value, accepted under the older version
        why = (
            f"anthropic-version {api_version} (sent by this SDK) removes it"
            if api_version > LEGACY_API_VERSION
            else f"{cfg.model} rejects it"
        )
        raise ConfigError(
            f"agent.extra_body.{name}={cfg.extra_body[name]!r} is refused before any call: "
            f"{why}; remove it (~agent.extra_body.{name})"
        )
