"""Claude as the subject, through the anthropic SDK; and the episode logic every model agent shares.

One episode is one conversation. The system prompt is the agent's framing plus the condition's
suffix. Each observation's text is a user turn; the model answers with a tool call (one tool
per available action kind, from :mod:`sandbox.agents.tools`), and the next observation comes
back as that call's ``tool_result``. What an agent may read is the observation only: nothing
from ``Turn.info`` is ever put into a request.

Per call, in order: the response cache (a hit costs nothing and makes no request), the budget
(``reserve`` the worst case, ``settle`` the real cost), the shared rate limiter, then the HTTP
request with this module's own retry loop (the SDK's retries are off so that every attempt is
counted and kept in the transcript). Retries cover 429 (honouring ``retry-after``), 529, 5xx,
timeouts, dropped connections and malformed bodies; when they run out the call raises
:class:`ModelCallFailed`, which the runner records as an ``errored`` episode.

``tool_choice`` is ``any`` (the model must call a tool). Models that answer 400 to a forced tool
choice are switched to ``auto`` for the rest of the run (and the fact is kept in the response
cache so that a replay makes the same choice without asking); an answer in words is then read
by :func:`~sandbox.agents.tools.parse_text_answer`. An unreadable answer gets one corrective
turn, then the step is an invalid action. ``stop_reason`` ``refusal`` or ``max_tokens`` makes
the step invalid too, counted in the step's ``agent`` record.

The ``anthropic`` package is imported only when a :class:`ClaudeBuilder` is made, so the offline
(simulated) path never imports it. :mod:`sandbox.agents.openai_compat` reuses
:class:`ModelEpisode` and :class:`ModelBuilder` with its own :class:`ApiAdapter`.

Step ``agent`` record (``Decision.meta``) keys: ``model``, ``stop_reason``, ``tool_choice_path``
(``any``, ``auto`` or ``text``), ``request_ids``, ``attempts`` (HTTP attempts), ``errors``
(error types of failed attempts), ``cached`` (every call came from the response cache),
``refusal``, ``max_tokens``, ``unparsed``, ``corrective_turn``, ``invalid_reason``.
"""

from __future__ import annotations

import asyncio
import json
import logging
import os
import random
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol

from environments.core import Action
from sandbox.agents.base import Decision, EpisodeContext, Turn
from sandbox.agents.tools import (
    ToolCall,
    ToolSpec,
    action_from_call,
    corrective_prompt,
    invalid_action,
    menu_letters,
    parse_text_answer,
    tool_specs,
)
from sandbox.agents.transcripts import TranscriptWriter, transcript_path
from sandbox.budget import Budget
from sandbox.config import ClaudeAgentConfig, LLMAgentConfig
from sandbox.errors import AgentError, SandboxError
from sandbox.llm.cache import ResponseCache, canonical_json, request_key
from sandbox.llm.limiter import RateLimiter
from sandbox.llm.prices import PriceTable
from sandbox.records import Usage

log = logging.getLogger(__name__)

EPHEMERAL = {"type": "ephemeral"}
ANTHROPIC_DEFAULT_BASE_URL = "https://api.anthropic.com"
#: Characters per token when a request's size must be guessed before it is sent; low on
#: purpose, so that budget reservations err on the side of caution.
CHARS_PER_TOKEN_ESTIMATE = 3


class ModelCallFailed(SandboxError):
    """A model call failed for good: retries ran out, or the error is not worth retrying.

    Attributes:
        error_type: The API's error type (``overloaded_error``, ``rate_limit_error``,
            ``api_error``, ``authentication_error``, ``invalid_request_error``, ...), or
            ``timeout``, ``connection_error``, ``malformed_response``.
        status: The HTTP status, when there was a response.
        attempts: HTTP attempts made for the call.
        retryable: Whether the error was of a kind that is retried (so: retries ran out).
    """

    def __init__(
        self,
        message: str,
        *,
        error_type: str,
        status: int | None = None,
        attempts: int = 1,
        retryable: bool = False,
    ):
        super().__init__(message)
        self.error_type = error_type
        self.status = status
        self.attempts = attempts
        self.retryable = retryable


class MalformedResponse(Exception):
    """The API answered 200 with a body that is not a model response."""


@dataclass(slots=True)
class CallFailure:
    """How an adapter classifies a failed attempt.

    Attributes:
        error_type: See :attr:`ModelCallFailed.error_type`.
        message: The API's message (never holds headers or the key).
        status: HTTP status, if any.
        retryable: Whether another attempt may succeed.
        retry_after: Seconds the server asked to wait, if it said.
        rejects_forced_tool_choice: A 400 saying the model does not accept a forced tool
            choice (switch to ``auto``).
    """

    error_type: str
    message: str
    status: int | None = None
    retryable: bool = False
    retry_after: float | None = None
    rejects_forced_tool_choice: bool = False


@dataclass(slots=True)
class ToolResult:
    """The answer to one tool call, sent in the next user turn."""

    call_id: str
    content: str
    is_error: bool = False


@dataclass(slots=True)
class ModelReply:
    """A model's answer, independent of the API.

    Attributes:
        text: The text blocks, joined.
        calls: Tool calls, in order.
        stop_reason: ``tool_use``, ``end_turn``, ``max_tokens``, ``refusal``, ... (the
            Messages API's words; other APIs' reasons are translated).
        raw_stop_reason: The reason as the API said it.
        usage: Tokens of the call (cost is added by the episode).
        assistant: The assistant message to append to the conversation, in the API's format
            (``None`` when the answer was empty).
    """

    text: str
    calls: list[ToolCall]
    stop_reason: str
    raw_stop_reason: str | None
    usage: Usage
    assistant: dict[str, Any] | None


class ApiAdapter(Protocol):
    """What differs between the Messages API and chat completions."""

    api: str

    def initial_messages(self, system: str) -> list[dict[str, Any]]:
        """Messages that open the conversation (a chat API's system message)."""
        ...

    def user_turn(self, results: Sequence[ToolResult], text: str | None) -> list[dict[str, Any]]:
        """The message(s) carrying tool results and/or text from the user side."""
        ...

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
        """The request body and the ``[message, block]`` positions given cache markers."""
        ...

    async def send(
        self, client: Any, request: Mapping[str, Any], timeout: float
    ) -> tuple[dict[str, Any], str | None]:
        """Make one HTTP attempt; the response as JSON data and its request id."""
        ...

    def parse(self, response: Mapping[str, Any]) -> ModelReply:
        """Read a response (live or from the cache)."""
        ...

    def classify(self, exc: BaseException) -> CallFailure | None:
        """Classify a failed attempt; ``None`` for an exception that is a bug, not the API."""
        ...


def retry_after_from(headers: Mapping[str, str] | None) -> float | None:
    """Seconds a response asked to wait (``retry-after-ms`` or ``retry-after``)."""
    if not headers:
        return None
    for name, scale in (("retry-after-ms", 0.001), ("retry-after", 1.0)):
        raw = headers.get(name)
        if raw is None:
            continue
        try:
            return max(0.0, float(raw) * scale)
        except ValueError:
            continue
    return None


# -- the builder: what episodes share ----------------------------------------------------------


class ModelBuilder:
    """What all episodes of a model agent share: client, response cache, rate limiter,
    the tool-choice fallback, and run totals.

    Subclasses set :attr:`name`, build :attr:`adapter` and make the client.

    Args:
        cfg: The agent's config.
        budget: The run's spending ledger.
        prices: The price table.
        run_dir: Where transcripts go (``None``: the episode context's ``run_dir``, if any).
        limiter: A shared limiter; default from ``cfg.requests_per_minute`` and
            ``cfg.tokens_per_minute``.
        cache: A response cache; default from ``cfg.cache`` and ``cfg.cache_dir``.
        retry_base_s: First backoff delay; doubles each retry, with jitter.
        retry_cap_s: Longest backoff delay (and longest ``retry-after`` honoured).
    """

    name = "model"
    episode_class: type[ModelEpisode]

    def __init__(
        self,
        cfg: LLMAgentConfig,
        *,
        budget: Budget,
        prices: PriceTable,
        run_dir: Path | None,
        adapter: ApiAdapter,
        client: Any,
        endpoint: str,
        secret: str,
        limiter: RateLimiter | None = None,
        cache: ResponseCache | None = None,
        retry_base_s: float = 0.5,
        retry_cap_s: float = 30.0,
    ):
        self.cfg = cfg
        self.budget = budget
        self.prices = prices
        self.run_dir = Path(run_dir) if run_dir is not None else None
        self.adapter = adapter
        self.client = client
        self.endpoint = endpoint
        self._secret = secret
        self.limiter = limiter or RateLimiter(cfg.requests_per_minute, cfg.tokens_per_minute)
        self.cache = cache if cache is not None else ResponseCache(cfg.cache_dir, cfg.cache)
        self.retry_base_s = retry_base_s
        self.retry_cap_s = retry_cap_s
        self.rng = random.Random()  # jitter only: timing, never a choice that is logged
        self.totals = Usage()
        self.counters: dict[str, int] = {
            "calls": 0,
            "cached_calls": 0,
            "attempts": 0,
            "retries": 0,
            "refusals": 0,
            "max_tokens": 0,
            "unparsed": 0,
            "corrective_turns": 0,
            "text_answers": 0,
        }
        self._price_warned = False
        self._flag = f"rejects_forced_tool_choice:{endpoint}:{cfg.model}"
        self.forced_rejected = bool(self.cache.get_flag(self._flag))
        self._episodes = 0

    # -- shared state --------------------------------------------------------------------------
    def tool_choice_mode(self) -> str:
        """``any`` (forced) or ``auto`` for the next call."""
        if getattr(self.cfg, "tool_choice", "any") == "auto" or self.forced_rejected:
            return "auto"
        return "any"

    def reject_forced(self) -> None:
        """The model refused a forced tool choice: use ``auto`` for the rest of the run."""
        if not self.forced_rejected:
            log.warning(
                "%s rejects a forced tool choice; using tool_choice=auto and reading plain-text "
                "answers for the rest of the run",
                self.cfg.model,
            )
        self.forced_rejected = True
        self.cache.set_flag(self._flag, "1")

    def price_known(self) -> bool:
        """Whether the model has a price; warns once per run when it has none."""
        if self.prices.get(self.cfg.model) is not None:
            return True
        if not self._price_warned:
            self._price_warned = True
            log.warning(
                "no price for model %r in conf/prices.yaml: cost_usd is recorded as null and "
                "budget_usd cannot limit this run's spending",
                self.cfg.model,
            )
        return False

    def secret(self) -> str:
        """The API key, only for scrubbing files (never written or logged)."""
        return self._secret

    # -- AgentBuilder --------------------------------------------------------------------------
    def parameters(self) -> dict[str, Any]:
        """Settings for ``run.json`` (never the key)."""
        cfg = self.cfg
        price = self.prices.get(cfg.model)
        return {
            "model": cfg.model,
            "api": self.adapter.api,
            "endpoint": self.endpoint,
            "max_tokens": cfg.max_tokens,
            "tool_choice": getattr(cfg, "tool_choice", "any"),
            "prompt_caching": bool(getattr(cfg, "prompt_caching", False)),
            "system": cfg.system,
            "extra_body": dict(cfg.extra_body),
            "max_retries": cfg.max_retries,
            "timeout_s": cfg.timeout_s,
            "cache": self.cache.parameters(),
            "limits": self.limiter.parameters(),
            "price": None
            if price is None
            else {
                "input": price.input,
                "output": price.output,
                "cache_write": price.cache_write,
                "cache_read": price.cache_read,
                "source": self.prices.source,
                "as_of": self.prices.as_of,
            },
        }

    def for_episode(self, context: EpisodeContext) -> ModelEpisode:
        """A fresh conversation for one episode."""
        self._episodes += 1
        return self.episode_class(self, context)

    async def aclose(self) -> None:
        """Close the HTTP client and the cache."""
        close = getattr(self.client, "close", None)
        if close is not None:
            result = close()
            if asyncio.iscoroutine(result):
                await result
        self.cache.close()


# -- the episode: one conversation -------------------------------------------------------------


@dataclass
class _StepState:
    usage: Usage = field(default_factory=Usage)
    meta: dict[str, Any] = field(default_factory=dict)


class ModelEpisode:
    """One episode's conversation with a model (implements :class:`~sandbox.agents.base.Agent`).

    Args:
        builder: The builder that made it (shared client, cache, limiter, budget).
        context: The episode's context.
    """

    def __init__(self, builder: ModelBuilder, context: EpisodeContext):
        self.builder = builder
        self.ctx = context
        self.adapter = builder.adapter
        cfg = builder.cfg
        self.system = "\n\n".join(
            p for p in (cfg.system.strip(), context.system_suffix.strip()) if p
        )
        self.caching = bool(getattr(cfg, "prompt_caching", False))
        run_dir = builder.run_dir or (Path(context.run_dir) if context.run_dir else None)
        self.transcript = TranscriptWriter(
            transcript_path(run_dir, context.index) if run_dir is not None else None,
            {
                "episode": context.index,
                "seed": context.seed,
                "env_id": context.env_id,
                "agent": builder.name,
                "model": cfg.model,
                "api": self.adapter.api,
                "exit_mode": context.exit_mode,
            },
            secrets=[builder.secret()],
        )
        self.messages: list[dict[str, Any]] = []
        self._chars = 0  # JSON size of the conversation so far, to size requests cheaply
        self._pending: list[tuple[str, str | None, bool]] = []
        self._started = time.perf_counter()
        for message in self.adapter.initial_messages(self.system):
            self._append(message)

    # -- Agent ---------------------------------------------------------------------------------
    async def act(self, turn: Turn) -> Decision:
        """Show the observation, get the model's choice, turn it into an action."""
        obs = turn.observation
        available = turn.available
        menu = [str(line) for line in obs.get("menu", ())]
        letters = menu_letters(menu)
        specs = tool_specs(available, letters, self.ctx.exit_mode)
        self._observe(str(obs.get("text", "")))
        state = _StepState()
        state.meta = {
            "model": self.builder.cfg.model,
            "stop_reason": None,
            "tool_choice_path": None,
            "request_ids": [],
            "attempts": 0,
            "cached": True,
            "refusal": False,
            "max_tokens": False,
            "unparsed": False,
            "corrective_turn": False,
        }
        counters = self.builder.counters
        problem = ""
        reply: ModelReply | None = None
        for round_ in range(2):  # the answer, and at most one corrective turn
            reply, mode = await self._call(specs, state, turn.step)
            if reply.assistant is not None:
                self._append(reply.assistant)
            state.meta["stop_reason"] = reply.stop_reason
            state.meta["tool_choice_path"] = mode
            if reply.stop_reason == "refusal":
                state.meta["refusal"] = True
                counters["refusals"] += 1
                problem = "the model refused (stop_reason refusal)"
                break
            if reply.stop_reason == "max_tokens":
                state.meta["max_tokens"] = True
                counters["max_tokens"] += 1
                problem = "the answer was cut off at max_tokens"
                break
            action, chosen, problem = self._interpret(reply, specs, available, letters)
            if action is not None:
                if chosen is None:
                    state.meta["tool_choice_path"] = "text"
                    counters["text_answers"] += 1
                self._pending = [
                    (
                        c.id,
                        None if c is chosen else "Not done: one action per turn.",
                        c is not chosen,
                    )
                    for c in reply.calls
                ]
                return self._decision(action, reply, state)
            if not reply.calls:
                state.meta["tool_choice_path"] = "text"
            if round_ == 0:
                state.meta["corrective_turn"] = True
                counters["corrective_turns"] += 1
                results = [ToolResult(c.id, f"Not done: {problem}", True) for c in reply.calls]
                for message in self.adapter.user_turn(
                    results, corrective_prompt(specs, letters, problem)
                ):
                    self._append(message)
        assert reply is not None
        # No usable answer: the step becomes an action the environment counts as invalid.
        if not (state.meta["refusal"] or state.meta["max_tokens"]):
            state.meta["unparsed"] = True
            counters["unparsed"] += 1
        state.meta["invalid_reason"] = problem
        self._pending = [(c.id, f"Not done: {problem}", True) for c in reply.calls]
        return self._decision(invalid_action(available, len(menu)), reply, state)

    async def end(self, reason: str) -> None:
        """Write the transcript's final version (synced to disk, off the event loop)."""
        await asyncio.to_thread(self.transcript.close, reason)

    # -- conversation --------------------------------------------------------------------------
    def _append(self, message: dict[str, Any]) -> None:
        self.messages.append(message)
        self._chars += self.transcript.add_message(message)

    def _observe(self, text: str) -> None:
        """The user turn carrying an observation: as the result of the last tool call when
        there was one (so the model sees the consequence of its call), else as text."""
        results: list[ToolResult] = []
        carried = False
        for call_id, content, is_error in self._pending:
            if content is None and not carried:
                results.append(ToolResult(call_id, text))
                carried = True
            else:
                results.append(ToolResult(call_id, content or "Not done.", is_error))
        self._pending = []
        for message in self.adapter.user_turn(results, None if carried else text):
            self._append(message)

    def _interpret(
        self,
        reply: ModelReply,
        specs: Sequence[ToolSpec],
        available: Sequence[Any],
        letters: Mapping[str, int],
    ) -> tuple[Action | None, ToolCall | None, str]:
        problem = ""
        for call in reply.calls:
            action, problem = action_from_call(call, specs, letters)
            if action is not None:
                return action, call, ""
        if reply.calls:
            return None, None, problem
        parsed = parse_text_answer(reply.text, available, letters)
        if parsed is not None:
            return parsed, None, ""
        if reply.text.strip():
            return None, None, "the answer names no available action"
        return None, None, "the answer was empty"

    def _decision(self, action: Action, reply: ModelReply, state: _StepState) -> Decision:
        state.meta["cached"] = state.meta["cached"] and state.usage.calls == 0
        return Decision(action=action, note=reply.text.strip(), usage=state.usage, meta=state.meta)

    # -- one model call ------------------------------------------------------------------------
    async def _call(
        self, specs: Sequence[ToolSpec], state: _StepState, step: int
    ) -> tuple[ModelReply, str]:
        """One model answer: from the response cache, or from the API with retries."""
        builder, cfg = self.builder, self.builder.cfg
        while True:
            mode = builder.tool_choice_mode()
            request, markers = self.adapter.build_request(
                cfg=cfg,
                system=self.system,
                specs=specs,
                mode=mode,
                messages=self.messages,
                caching=self.caching,
            )
            key: str | None = None
            if builder.cache.readable:
                body = canonical_json(
                    {"api": self.adapter.api, "endpoint": builder.endpoint, **request}
                )
                key = request_key(body, self.ctx.index)
                size = len(body)
            else:
                # No cache key to make: size the request without serialising the conversation.
                size = self._chars + len(self.system) + len(json.dumps(request.get("tools", [])))
            if key is not None:
                stored = builder.cache.get(key)
                if stored is not None:
                    reply = self.adapter.parse(stored)
                    state.usage.cached_calls += 1
                    builder.counters["cached_calls"] += 1
                    self._record(request, markers, step, 0, response=stored, cached=True)
                    return reply, mode
            reply_or_switch = await self._call_api(request, markers, size, key, mode, state, step)
            if reply_or_switch is not None:
                return reply_or_switch, mode
            # The model rejected the forced tool choice: ask again with ``auto``.

    async def _call_api(
        self,
        request: dict[str, Any],
        markers: list[list[int]],
        size: int,
        key: str | None,
        mode: str,
        state: _StepState,
        step: int,
    ) -> ModelReply | None:
        builder, cfg = self.builder, self.builder.cfg
        estimate = size // CHARS_PER_TOKEN_ESTIMATE + 1
        limit_tokens = estimate + cfg.max_tokens
        priced = builder.price_known()
        for attempt in range(1, cfg.max_retries + 2):
            worst = (
                builder.prices.worst_case(cfg.model, estimate, cfg.max_tokens) if priced else 0.0
            )
            reserved = builder.budget.reserve(worst or 0.0)  # BudgetExceeded goes to the runner
            started = time.perf_counter()
            try:
                await builder.limiter.acquire(limit_tokens)
                started = time.perf_counter()
                state.meta["attempts"] += 1
                builder.counters["attempts"] += 1
                response, request_id = await self.adapter.send(
                    builder.client, request, cfg.timeout_s
                )
                reply = self.adapter.parse(response)
            except Exception as exc:
                builder.budget.settle(reserved, 0.0)  # a failed attempt is not billed
                builder.limiter.settle(limit_tokens, 0)
                elapsed = time.perf_counter() - started
                state.usage.latency_s += elapsed
                failure = self.adapter.classify(exc)
                if failure is None:
                    raise
                state.meta.setdefault("errors", []).append(failure.error_type)
                self._record(
                    request,
                    markers,
                    step,
                    attempt,
                    error={
                        "type": failure.error_type,
                        "status": failure.status,
                        "message": failure.message[:2000],
                    },
                    latency_s=round(elapsed, 4),
                )
                if failure.rejects_forced_tool_choice and mode == "any":
                    builder.reject_forced()
                    return None
                if not failure.retryable or attempt > cfg.max_retries:
                    raise ModelCallFailed(
                        f"{cfg.model}: {failure.error_type}"
                        + (f" (HTTP {failure.status})" if failure.status else "")
                        + f" after {attempt} attempt{'s' if attempt > 1 else ''}: "
                        + failure.message[:300],
                        error_type=failure.error_type,
                        status=failure.status,
                        attempts=attempt,
                        retryable=failure.retryable,
                    ) from None
                delay = self._backoff(attempt, failure.retry_after)
                builder.counters["retries"] += 1
                log.info(
                    "%s: %s (attempt %d of %d); retrying in %.2fs",
                    cfg.model,
                    failure.error_type,
                    attempt,
                    cfg.max_retries + 1,
                    delay,
                )
                await asyncio.sleep(delay)
                state.usage.latency_s += delay
                continue
            except BaseException:
                builder.budget.settle(reserved, 0.0)
                raise
            elapsed = time.perf_counter() - started
            usage = reply.usage
            usage.latency_s = elapsed
            usage.cost_usd = builder.prices.cost(cfg.model, usage) if priced else None
            builder.budget.settle(reserved, usage.cost_usd)
            builder.limiter.settle(
                limit_tokens,
                usage.input_tokens + usage.cache_creation_input_tokens + usage.output_tokens,
            )
            if key is not None:
                builder.cache.put(key, cfg.model, response)
            state.usage.add(usage)
            builder.totals.add(usage)
            builder.counters["calls"] += 1
            if request_id:
                state.meta["request_ids"].append(request_id)
            self._record(
                request,
                markers,
                step,
                attempt,
                response=response,
                request_id=request_id,
                latency_s=round(elapsed, 4),
            )
            return reply
        raise AssertionError("unreachable: the retry loop returns or raises")

    def _backoff(self, attempt: int, retry_after: float | None) -> float:
        builder = self.builder
        if retry_after is not None:
            return min(retry_after, builder.retry_cap_s)
        delay = min(builder.retry_cap_s, builder.retry_base_s * 2 ** (attempt - 1))
        return delay * (0.5 + 0.5 * builder.rng.random())

    def _record(
        self,
        request: Mapping[str, Any],
        markers: list[list[int]],
        step: int,
        attempt: int,
        *,
        cached: bool = False,
        **fields: Any,
    ) -> None:
        record: dict[str, Any] = {
            "step": step,
            "attempt": attempt,
            "cached": cached,
            "t": round(time.perf_counter() - self._started, 4),
            "latency_s": None,
            "request_id": None,
            "response": None,
            "error": None,
        }
        record.update(fields)
        self.transcript.add_call(
            request, n_messages=len(self.messages), cache_markers=markers, **record
        )


# -- the Messages API --------------------------------------------------------------------------


class AnthropicAdapter:
    """Requests and responses of the Messages API (``POST /v1/messages``)."""

    api = "anthropic-messages"

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
        if text is not None or not content:
            content.append({"type": "text", "text": text or "(no text)"})
        return [{"role": "user", "content": content}]

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
        # Prompt caching marks the stable prefix (tools, system, earlier turns): the last tool,
        # the system block, the previous user turn (what the last call wrote) and the newest
        # one (what the next call will read): four breakpoints, the API's most.
        if system:
            block: dict[str, Any] = {"type": "text", "text": system}
            if caching:
                block["cache_control"] = EPHEMERAL
            request["system"] = [block]
        if specs:
            tools = [
                {"name": s.name, "description": s.description, "input_schema": s.input_schema}
                for s in specs
            ]
            if caching:
                tools[-1] = {**tools[-1], "cache_control": EPHEMERAL}
            request["tools"] = tools
            request["tool_choice"] = {"type": mode, "disable_parallel_tool_use": True}
        markers: list[list[int]] = []
        if caching:
            users = [i for i, m in enumerate(messages) if m.get("role") == "user"]
            for index in users[-2:]:
                content = messages[index].get("content")
                if isinstance(content, list) and content:
                    markers.append([index, len(content) - 1])
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
        message = await client.messages.create(
            **kwargs, extra_body=request.get("extra_body"), timeout=timeout
        )
        if not hasattr(message, "to_dict"):
            raise MalformedResponse(f"expected a message, got {type(message).__name__}")
        data = message.to_dict(mode="json")
        if not isinstance(data, dict) or data.get("type") != "message":
            raise MalformedResponse("the response is not a message")
        return data, getattr(message, "_request_id", None)

    def parse(self, response: Mapping[str, Any]) -> ModelReply:
        content = response.get("content") or []
        texts: list[str] = []
        calls: list[ToolCall] = []
        kept: list[dict[str, Any]] = []
        for block in content:
            kind = block.get("type")
            if kind == "text":
                if block.get("text"):
                    texts.append(block["text"])
                    kept.append({"type": "text", "text": block["text"]})
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
        raw = response.get("usage") or {}
        usage = Usage(
            input_tokens=int(raw.get("input_tokens") or 0),
            output_tokens=int(raw.get("output_tokens") or 0),
            cache_read_input_tokens=int(raw.get("cache_read_input_tokens") or 0),
            cache_creation_input_tokens=int(raw.get("cache_creation_input_tokens") or 0),
            calls=1,
        )
        stop = response.get("stop_reason")
        return ModelReply(
            text="\n".join(texts),
            calls=calls,
            stop_reason=str(stop or "unknown"),
            raw_stop_reason=stop,
            usage=usage,
            assistant={"role": "assistant", "content": kept} if kept else None,
        )

    def classify(self, exc: BaseException) -> CallFailure | None:
        import anthropic

        if isinstance(exc, anthropic.APIStatusError):
            status = exc.status_code
            # ``api_message``/``type`` are the SDK's reading of the error body; read the body
            # too, for SDK versions without them.
            body = exc.body if isinstance(exc.body, dict) else {}
            raw_error = body.get("error")
            error: dict[str, Any] = raw_error if isinstance(raw_error, dict) else {}
            message = str(getattr(exc, "api_message", None) or error.get("message") or exc.message)
            error_type = getattr(exc, "type", None) or error.get("type") or f"http_{status}"
            return CallFailure(
                error_type=str(error_type),
                message=message,
                status=status,
                retryable=status in (408, 409, 429) or status >= 500,
                retry_after=retry_after_from(exc.response.headers),
                rejects_forced_tool_choice=status == 400 and "tool_choice" in message,
            )
        if isinstance(exc, anthropic.APITimeoutError):
            return CallFailure("timeout", "the request timed out", retryable=True)
        if isinstance(exc, anthropic.APIConnectionError):
            return CallFailure("connection_error", str(exc.message), retryable=True)
        if isinstance(
            exc, (MalformedResponse, json.JSONDecodeError, anthropic.APIResponseValidationError)
        ):
            return CallFailure("malformed_response", str(exc)[:300], retryable=True)
        return None


class ClaudeEpisode(ModelEpisode):
    """One episode's conversation with Claude."""


class ClaudeBuilder(ModelBuilder):
    """Builds :class:`ClaudeEpisode` agents that share one ``AsyncAnthropic`` client.

    Args:
        cfg: The Claude agent's config.
        budget: The run's spending ledger.
        prices: The price table.
        run_dir: Where ``transcripts/`` go.
        limiter: A shared rate limiter (default: from the config).
        cache: A response cache (default: from the config).
        retry_base_s: First backoff delay in seconds.
        retry_cap_s: Longest backoff delay in seconds.

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
        limiter: RateLimiter | None = None,
        cache: ResponseCache | None = None,
        retry_base_s: float = 0.5,
        retry_cap_s: float = 30.0,
    ):
        key = os.environ.get("ANTHROPIC_API_KEY", "").strip()
        if not key:
            raise AgentError(
                "the claude agent needs ANTHROPIC_API_KEY in the environment (export it; it is "
                "never read from a config file); to run offline use agent=simulated, or "
                "`wsb fake-api` with ANTHROPIC_BASE_URL"
            )
        import anthropic  # only here: the offline path never imports the SDK

        client = anthropic.AsyncAnthropic(
            api_key=key,
            base_url=cfg.base_url or None,
            max_retries=0,  # our own loop retries, so every attempt is counted and logged
            timeout=cfg.timeout_s,
        )
        super().__init__(
            cfg,
            budget=budget,
            prices=prices,
            run_dir=run_dir,
            adapter=AnthropicAdapter(),
            client=client,
            endpoint=str(client.base_url).rstrip("/"),
            secret=key,
            limiter=limiter,
            cache=cache,
            retry_base_s=retry_base_s,
            retry_cap_s=retry_cap_s,
        )
        self.sdk_version = anthropic.__version__

    def parameters(self) -> dict[str, Any]:
        """Settings for ``run.json`` (never the key)."""
        return {**super().parameters(), "sdk": f"anthropic {self.sdk_version}"}


# -- cost before the first call ----------------------------------------------------------------

#: Assumptions of :func:`estimate_cost`, in tokens.
ESTIMATE_TOOLS_TOKENS = 700
ESTIMATE_OBSERVATION_TOKENS = 300
ESTIMATE_ANSWER_TOKENS = 80


def estimate_cost(
    cfg: LLMAgentConfig, prices: PriceTable, episodes: int, steps_per_episode: int
) -> float | None:
    """A rough expected cost of a run in USD, for the runner to show before the first call.

    Assumes about 700 tokens of tools, the system prompt (4 characters a token), 300 tokens per
    observation and 80 output tokens per answer; with prompt caching the conversation so far is
    read from the cache and only the newest turn is written. Returns ``None`` for a model with
    no price. The budget, not this estimate, is what stops spending.
    """
    price = prices.get(cfg.model)
    if price is None:
        return None
    prefix = ESTIMATE_TOOLS_TOKENS + len(cfg.system) // 4
    turn = ESTIMATE_OBSERVATION_TOKENS + ESTIMATE_ANSWER_TOKENS
    caching = bool(getattr(cfg, "prompt_caching", False))
    usage = Usage()
    for k in range(max(0, steps_per_episode)):
        total_in = prefix + k * turn + ESTIMATE_OBSERVATION_TOKENS
        if caching and k > 0:
            usage.cache_read_input_tokens += prefix + (k - 1) * turn + ESTIMATE_OBSERVATION_TOKENS
            usage.cache_creation_input_tokens += turn
        elif caching:
            usage.cache_creation_input_tokens += total_in
        else:
            usage.input_tokens += total_in
        usage.output_tokens += ESTIMATE_ANSWER_TOKENS
    return price.cost(usage) * max(0, episodes)
