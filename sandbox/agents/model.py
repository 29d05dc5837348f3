"""The loop every model agent shares; each provider is an adapter (:mod:`~.model_api`).

As inspect_ai splits ``Model`` from ``ModelAPI``: :class:`ModelBuilder` holds what a run's
episodes share (client, response cache, rate limiter, budget, tool-choice fallbacks, totals);
:class:`ModelEpisode` is one conversation (observation in, action out, with retries and
outcomes), whose turns :class:`~sandbox.agents.conversation.Conversation` builds. A provider
(:mod:`~sandbox.agents.claude`, :mod:`~sandbox.agents.openai_compat`) gives an adapter and a
builder that makes its SDK client. Nothing from ``Turn.info`` is ever put into a request.

Per call, in order: the response cache (a hit costs nothing and makes no request; the key holds
the request, the episode's seed and its replicate index), the budget (``reserve`` the worst
case, ``settle`` the real cost), the shared rate limiter, then the HTTP request with this
module's own retry loop (the SDKs' retries are off so that every attempt is counted and kept in
the transcript). Retries cover 429 (honouring ``retry-after``, in seconds or as an HTTP date),
529, 5xx, timeouts, dropped connections and malformed bodies; when they run out the call raises
:class:`~sandbox.agents.model_api.ModelCallFailed`, which the runner records as an ``errored``
episode.

``tool_choice`` is ``any`` (the model must call a tool), with the fallbacks of
:mod:`sandbox.agents.tool_choice` (``auto``, then ``text``: no tools, plain-text answers). An
answer in words is read by :func:`~sandbox.agents.tools.parse_text_answer`. An unreadable answer
gets one corrective turn, then the step is an invalid action. A ``stop_reason`` of ``refusal``
(the API's own refusal) or ``max_tokens`` is its own outcome, ``api_refusal`` or ``truncated``,
never an invalid action.

Step ``agent`` record (``Decision.meta``) keys: ``model``, ``outcome`` (``action``,
``api_refusal`` or ``truncated``), ``stop_reason``, ``tool_choice_path`` (``any``, ``auto`` or
``text``: how the answer was read), ``tool_choice_sent`` (the mode of each request of the step),
``request_ids``, ``failed_request_ids``, ``attempts`` (HTTP attempts), ``errors`` (error types of
failed attempts), ``cached`` (every call came from the response cache), ``refusal``,
``max_tokens``, ``forced_choice_ignored`` (a forced choice answered without a call),
``unavailable_call`` (a call of something not available now), ``note_from`` (``text`` and/or
``field``: where the step's note came from), ``unparsed``, ``corrective_turn``,
``invalid_reason``.
"""

from __future__ import annotations

import asyncio
import json
import logging
import random
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TypedDict

from environments.core import Action
from sandbox.agents.base import Decision, EpisodeContext, Turn
from sandbox.agents.conversation import Conversation
from sandbox.agents.estimate import (
    CHARS_PER_TOKEN_ESTIMATE,
    enforceable_prices,
    estimate_cost,
    price_parameters,
    prompt_sizes,
)
from sandbox.agents.model_api import ApiAdapter, ModelCallFailed, ModelReply
from sandbox.agents.tool_choice import ToolChoice
from sandbox.agents.tools import (
    OPTION_KINDS,
    ToolCall,
    ToolSpec,
    availability_line,
    call_note,
    corrective_prompt,
    invalid_action,
    menu_letters,
)
from sandbox.agents.transcripts import TranscriptWriter, transcript_path
from sandbox.budget import Budget
from sandbox.config import LLMAgentConfig
from sandbox.llm.cache import ResponseCache, canonical_json, request_key
from sandbox.llm.limiter import RateLimiter
from sandbox.llm.prices import PriceTable
from sandbox.records import Usage

log = logging.getLogger(__name__)

#: The run's counters (``run.json``'s ``agent.counters``).
COUNTERS = (
    "calls",
    "cached_calls",
    "attempts",
    "retries",
    "refusals",
    "max_tokens",
    "unparsed",
    "corrective_turns",
    "text_answers",
    "forced_choice_ignored",
    "unavailable_calls",
    "notes",
)


#: A stop reason that ends the step with its own outcome: (meta flag, outcome, counter, why).
STOP_OUTCOMES = {
    "refusal": ("refusal", "api_refusal", "refusals", "the model refused (stop_reason refusal)"),
    "max_tokens": ("max_tokens", "truncated", "max_tokens", "the answer was cut off at max_tokens"),
}


class BuilderOptions(TypedDict, total=False):
    """What a provider's builder passes on to :class:`ModelBuilder` unchanged."""

    limiter: RateLimiter | None
    cache: ResponseCache | None
    retry_base_s: float
    retry_cap_s: float


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
        self.prices = enforceable_prices(prices, cfg, budget.limit_usd)
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
        self.counters: dict[str, int] = dict.fromkeys(COUNTERS, 0)
        self._price_warned = False
        self.choice = ToolChoice(
            self.cache,
            api=adapter.api,
            endpoint=endpoint,
            model=cfg.model,
            configured=getattr(cfg, "tool_choice", "any"),
            extra_body=cfg.extra_body,
        )
        self.initial_mode = self.choice.mode()
        self.modes_sent: set[str] = set()
        self._episodes = 0

    # -- shared state --------------------------------------------------------------------------
    @property
    def forced_rejected(self) -> bool:
        """The model rejects a forced tool choice (the run sends ``auto``)."""
        return self.choice.forced_rejected

    @property
    def tools_rejected(self) -> bool:
        """The server takes no tools (the run asks for plain-text answers)."""
        return self.choice.tools_rejected

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

    def estimate_cost(
        self,
        episodes: int,
        steps_per_episode: int,
        *,
        observation: Mapping[str, Any] | None = None,
        exit_mode: str = "consequential",
        system_suffix: str = "",
    ) -> float | None:
        """The run's expected cost in USD (``None`` without a price), from the same caching
        rules the API bills by, sized from an episode's first observation when given."""
        sizes = prompt_sizes(
            self.cfg, observation, exit_mode=exit_mode, system_suffix=system_suffix
        )
        return estimate_cost(self.cfg, self.prices, episodes, steps_per_episode, sizes)

    # -- AgentBuilder --------------------------------------------------------------------------
    def parameters(self) -> dict[str, Any]:
        """Settings for ``run.json`` (never the key)."""
        cfg = self.cfg
        return {
            "model": cfg.model,
            "api": self.adapter.api,
            "endpoint": self.endpoint,
            "max_tokens": cfg.max_tokens,
            "tool_choice": getattr(cfg, "tool_choice", "any"),
            # What the run starts with (a remembered fallback may make it auto or text) and
            # every mode actually sent so far; each step's record has its own.
            "tool_choice_initial": self.initial_mode,
            "tool_choice_used": sorted(self.modes_sent),
            "counters": dict(self.counters),
            "prompt_caching": bool(getattr(cfg, "prompt_caching", False)),
            "system": cfg.system,
            "extra_body": dict(cfg.extra_body),
            "max_retries": cfg.max_retries,
            "timeout_s": cfg.timeout_s,
            "cache": self.cache.parameters(),
            "limits": self.limiter.parameters(),
            "price": price_parameters(self.prices, cfg.model),
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
        self.conversation = Conversation(
            self.adapter,
            self.system,
            self.transcript,
            kinds=getattr(context, "kinds", None),
            exit_mode=context.exit_mode,
        )

    # -- Agent ---------------------------------------------------------------------------------
    async def act(self, turn: Turn) -> Decision:
        """Show the observation, get the model's choice, turn it into an action."""
        obs = turn.observation
        available = turn.available
        menu = [str(line) for line in obs.get("menu", ())]
        letters = menu_letters(menu)  # the letters that hold an option now
        conv = self.conversation
        specs = conv.tools(available, menu)
        text = str(obs.get("text", ""))
        line = availability_line(specs, available)
        conv.observe(f"{text}\n\n{line}" if line else text)
        state = _StepState()
        state.meta = {
            "model": self.builder.cfg.model,
            "outcome": "action",
            "stop_reason": None,
            "tool_choice_path": None,
            "tool_choice_sent": [],
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
            appended = reply.assistant is not None
            if reply.assistant is not None:
                conv.append(reply.assistant)
            state.meta["stop_reason"] = reply.stop_reason
            state.meta["tool_choice_path"] = mode
            state.meta["tool_choice_sent"].append(mode)
            stop = STOP_OUTCOMES.get(reply.stop_reason)
            if stop is not None:
                # The API's own refusal (a safety classifier, not the subject's choice of the
                # refuse tool) or a cut-off answer: its own outcome, never an invalid action.
                flag, state.meta["outcome"], counter, problem = stop
                state.meta[flag] = True
                counters[counter] += 1
                break
            if mode == "any" and not reply.calls:
                # A forced choice that was ignored (a server that does not enforce
                # tool_choice): recorded, so that run.json's "any" is not taken at its word.
                state.meta["forced_choice_ignored"] = True
                counters["forced_choice_ignored"] += 1
            action, chosen, problem = conv.interpret(reply, specs, available, letters)
            if action is not None:
                if chosen is None:
                    state.meta["tool_choice_path"] = "text"
                    counters["text_answers"] += 1
                unavailable = chosen is not None and (
                    action.kind not in set(available)
                    or (action.kind in OPTION_KINDS and action.target not in letters.values())
                )
                if unavailable:
                    # One constant tool list per episode: a call of a kind that is not available
                    # now goes to the environment, whose mask makes it the model's invalid
                    # choice, and its result says so.
                    state.meta["unavailable_call"] = True
                    counters["unavailable_calls"] += 1
                conv.owe_action(reply, chosen, unavailable)
                return self._decision(action, reply, chosen, state)
            if not reply.calls:
                state.meta["tool_choice_path"] = "text"
            if round_ == 0:
                state.meta["corrective_turn"] = True
                counters["corrective_turns"] += 1
                prompt = corrective_prompt(specs, letters, problem, tools=mode != "text")
                conv.corrective(reply, appended, prompt)
        assert reply is not None
        # No usable answer: the step becomes an action the environment counts as invalid (the
        # runner does not count api_refusal / truncated outcomes as invalid).
        if not (state.meta["refusal"] or state.meta["max_tokens"]):
            state.meta["unparsed"] = True
            counters["unparsed"] += 1
        state.meta["invalid_reason"] = problem
        conv.owe_invalid(reply, problem)
        return self._decision(invalid_action(available, len(menu)), reply, None, state)

    async def end(self, reason: str) -> None:
        """Write the transcript's final version (synced to disk, off the event loop)."""
        await asyncio.to_thread(self.transcript.close, reason)

    def _decision(
        self, action: Action, reply: ModelReply, chosen: ToolCall | None, state: _StepState
    ) -> Decision:
        state.meta["cached"] = state.meta["cached"] and state.usage.calls == 0
        # Notes come from the text blocks and from the call's optional note field: under a
        # forced tool choice the real API writes no text before the call.
        parts = [reply.text.strip()]
        calls = [chosen] if chosen is not None else list(reply.calls)
        parts += [call_note(c) for c in calls]
        note = "\n".join(p for p in parts if p)
        if note:
            self.builder.counters["notes"] += 1
            state.meta["note_from"] = [
                k for k, v in (("text", parts[0]), ("field", any(parts[1:]))) if v
            ]
        return Decision(action=action, note=note, usage=state.usage, meta=state.meta)

    # -- one model call ------------------------------------------------------------------------
    async def _call(
        self, specs: Sequence[ToolSpec], state: _StepState, step: int
    ) -> tuple[ModelReply, str]:
        """One model answer: from the response cache, or from the API with retries."""
        builder, cfg = self.builder, self.builder.cfg
        while True:
            mode = builder.choice.mode()
            request, markers = self.adapter.build_request(
                cfg=cfg,
                system=self.system,
                specs=specs,
                mode=mode,
                messages=self.conversation.messages,
                caching=self.caching,
            )
            key: str | None = None
            if builder.cache.readable:
                body = canonical_json(
                    {"api": self.adapter.api, "endpoint": builder.endpoint, **request}
                )
                key = request_key(body, self.ctx.index, self.ctx.seed)
                size = len(body)
            else:
                # No cache key to make: size the request without serialising the conversation.
                size = (
                    self.conversation.chars
                    + len(self.system)
                    + len(json.dumps(request.get("tools", [])))
                )
            if key is not None:
                stored = builder.cache.get(key)
                if stored is not None:
                    reply = self.adapter.parse(stored)
                    state.usage.cached_calls += 1
                    builder.counters["cached_calls"] += 1
                    self.conversation.record_call(
                        request, markers, step, 0, response=stored, cached=True
                    )
                    return reply, mode
            builder.modes_sent.add(mode)
            reply_or_switch = await self._call_api(request, markers, size, key, mode, state, step)
            if reply_or_switch is not None:
                return reply_or_switch, mode
            # The model rejected the forced tool choice (or tools): ask again without it.

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
            acquired = False
            try:
                await builder.limiter.acquire(limit_tokens)
                acquired = True
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
                if failure.request_id:
                    # The id a support request about this failure needs (the SDK reads it off
                    # the error response's ``request-id`` header).
                    state.meta.setdefault("failed_request_ids", []).append(failure.request_id)
                self.conversation.record_call(
                    request,
                    markers,
                    step,
                    attempt,
                    request_id=failure.request_id,
                    error={
                        "type": failure.error_type,
                        "status": failure.status,
                        "message": failure.message[:2000],
                    },
                    latency_s=round(elapsed, 4),
                )
                if failure.rejects_tools and mode != "text":
                    builder.choice.reject_tools()
                    return None
                if failure.rejects_forced_tool_choice and mode == "any":
                    builder.choice.reject_forced()
                    return None
                if not failure.retryable or attempt > cfg.max_retries:
                    raise ModelCallFailed.after(cfg.model, failure, attempt) from None
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
                if acquired:  # cancelled in flight: the limiter stops counting it
                    builder.limiter.settle(limit_tokens, 0)
                raise
            elapsed = time.perf_counter() - started
            usage = reply.usage
            usage.latency_s = elapsed
            usage.cost_usd = (
                builder.prices.cost(cfg.model, usage) if priced and reply.usage_reported else None
            )
            # A call whose cost is unknown (no usage in the response) is charged its
            # worst case, so that the budget still binds.
            builder.budget.settle(
                reserved, usage.cost_usd if usage.cost_usd is not None else (worst or 0.0)
            )
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
            self.conversation.record_call(
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
