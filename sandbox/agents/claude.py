"""Claude as the subject, through the anthropic SDK; and the episode logic every model agent shares.

One episode is one conversation. The system prompt is the agent's framing plus the condition's
suffix. The tools are one constant list per episode (one tool per action kind the episode
offers, from :mod:`sandbox.agents.tools`): tools come first in the prompt cache's order, so a
list that followed each step's mask would invalidate the cached conversation at every change.
What is available now is said in the observation and enforced by the environment's mask; a call
of a kind (or a menu slot) not available now goes to the environment as the model's invalid
choice, and its ``tool_result`` says so. The first observation is a user turn; each next one
comes back inside the result of the call just made. What an agent may read is the observation
only: nothing from ``Turn.info`` is ever put into a request.

Turns are built as the Messages API's docs ask: never a text block right after
``tool_result`` blocks (it brings on empty ``end_turn`` answers), never two user turns in a row
(after an empty or refused answer, the next text joins the last user turn), never a text block
that is empty or whitespace-only (a 400), and tools on every request of the episode.

Per call, in order: the response cache (a hit costs nothing and makes no request; the key holds
the request, the episode's seed and its replicate index), the budget (``reserve`` the worst
case, ``settle`` the real cost), the shared rate limiter (which the ``anthropic-ratelimit-*``
response headers slow before the server answers 429), then the HTTP request with this module's
own retry loop (the SDK's retries are off so that every attempt is counted and kept in the
transcript). Retries cover 429 (honouring ``retry-after``, in seconds or as an HTTP date), 529,
5xx, timeouts, dropped connections and malformed bodies; when they run out the call raises
:class:`ModelCallFailed`, which the runner records as an ``errored`` episode.

``tool_choice`` is ``any`` (the model must call a tool). Models that answer 400 to a forced tool
choice are switched to ``auto`` for the rest of the run; a server that takes no tools at all
(:attr:`CallFailure.rejects_tools`) to plain-text answers (``text``). Each fact is kept in the
response cache under a key of everything that decides it (endpoint, model, tool-choice setting,
``extra_body``), so that a replay makes the same choice without asking and a ``thinking`` run's
fallback never reaches a plain run. An answer in words is read by
:func:`~sandbox.agents.tools.parse_text_answer`. An unreadable answer gets one corrective turn,
then the step is an invalid action. A ``stop_reason`` of ``refusal`` (the API's own refusal)
or ``max_tokens`` is its own outcome, ``api_refusal`` or ``truncated``, never an invalid action.

Before the first call, :class:`ClaudeBuilder` refuses a retired model id, an ``extra_body``
field the ``anthropic-version`` or the model rejects (the SDK 2.x's version removes
``temperature``, ``top_p``, ``top_k``), and a ``budget_usd`` that a model with no price could
not enforce (unless ``agent.price`` gives one).

The ``anthropic`` package is imported only when a :class:`ClaudeBuilder` is made, so the offline
(simulated) path never imports it. :mod:`sandbox.agents.openai_compat` reuses
:class:`ModelEpisode` and :class:`ModelBuilder` with its own :class:`ApiAdapter`.

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
import email.utils
import hashlib
import json
import logging
import os
import random
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Protocol

from environments.core import Action, ActionKind
from sandbox.agents.base import Decision, EpisodeContext, Turn
from sandbox.agents.tools import (
    OPTION_KINDS,
    ToolCall,
    ToolSpec,
    action_from_call,
    availability_line,
    call_note,
    corrective_prompt,
    episode_letters,
    invalid_action,
    menu_letters,
    parse_text_answer,
    tool_specs,
)
from sandbox.agents.transcripts import TranscriptWriter, transcript_path
from sandbox.budget import Budget
from sandbox.config import ClaudeAgentConfig, LLMAgentConfig
from sandbox.errors import AgentError, ConfigError, SandboxError
from sandbox.llm.cache import ResponseCache, canonical_json, request_key
from sandbox.llm.limiter import RateLimiter
from sandbox.llm.prices import ModelPrice, PriceTable
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
        rejects_tools: The server does not take tools at all (switch to plain-text answers,
            mode ``text``, for the rest of the run).
        request_id: The failed attempt's ``request-id``, when the server sent one.
    """

    error_type: str
    message: str
    status: int | None = None
    retryable: bool = False
    retry_after: float | None = None
    rejects_forced_tool_choice: bool = False
    rejects_tools: bool = False
    request_id: str | None = None


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
            (``None`` when the answer was empty: nothing but whitespace is never sent back).
        usage_reported: False when the response carried no usage (its cost is then unknown,
            ``None``, never 0).
    """

    text: str
    calls: list[ToolCall]
    stop_reason: str
    raw_stop_reason: str | None
    usage: Usage
    assistant: dict[str, Any] | None
    usage_reported: bool = True


class ApiAdapter(Protocol):
    """What differs between the Messages API and chat completions.

    An adapter may also define ``extend_user_turn(message, text) -> message`` (the Messages API
    does): then text that would follow an empty answer joins the last user turn instead of
    making a second user turn in a row.
    """

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
    """Seconds a response asked to wait: ``retry-after-ms``, or ``retry-after`` in seconds or
    as an HTTP date (RFC 9110 allows both: ``Wed, 21 Oct 2026 07:28:00 GMT``)."""
    if not headers:
        return None
    for name, scale in (("retry-after-ms", 0.001), ("retry-after", 1.0)):
        raw = headers.get(name)
        if raw is None:
            continue
        try:
            return max(0.0, float(raw) * scale)
        except ValueError:
            pass
        if name == "retry-after":
            try:
                when = email.utils.parsedate_to_datetime(raw)
            except (TypeError, ValueError, IndexError):
                continue
            if when.tzinfo is None:
                when = when.replace(tzinfo=UTC)
            return max(0.0, (when - datetime.now(UTC)).total_seconds())
    return None


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
        self.prices = with_config_price(prices, cfg)
        if budget.limit_usd is not None and self.prices.get(cfg.model) is None:
            # A budget must never be unenforceable: without a price no call has a cost.
            raise ConfigError(
                f"budget_usd={budget.limit_usd:g} cannot be enforced: model {cfg.model!r} has "
                "no price in conf/prices.yaml; give one on the command line "
                "(agent.price.input=<USD per million input tokens> "
                "agent.price.output=<USD per million output tokens>) or drop budget_usd"
            )
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
            "forced_choice_ignored": 0,
            "unavailable_calls": 0,
            "notes": 0,
        }
        self._price_warned = False
        # The fallback flags are keyed on everything that decides whether the model accepts a
        # forced choice or tools (endpoint, model, configured tool choice, extra body such as
        # ``thinking``): a thinking run's fallback must not switch a plain run to ``auto``.
        self.choice_key = hashlib.sha256(
            canonical_json(
                {
                    "api": adapter.api,
                    "endpoint": endpoint,
                    "model": cfg.model,
                    "tool_choice": getattr(cfg, "tool_choice", "any"),
                    "extra_body": dict(cfg.extra_body),
                }
            ).encode("utf-8")
        ).hexdigest()[:32]
        self._flag = f"rejects_forced_tool_choice:{self.choice_key}"
        self._tools_flag = f"rejects_tools:{self.choice_key}"
        self.forced_rejected = bool(self.cache.get_flag(self._flag))
        self.tools_rejected = bool(self.cache.get_flag(self._tools_flag))
        self.initial_mode = self.tool_choice_mode()
        self.modes_sent: set[str] = set()
        self._episodes = 0

    # -- shared state --------------------------------------------------------------------------
    def tool_choice_mode(self) -> str:
        """``any`` (forced), ``auto``, or ``text`` (no tools: a server that takes none)."""
        if self.tools_rejected:
            return "text"
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

    def reject_tools(self) -> None:
        """The server takes no tools: ask for plain-text answers for the rest of the run."""
        if not self.tools_rejected:
            log.warning(
                "%s at %s takes no tools; sending none and reading plain-text answers for the "
                "rest of the run",
                self.cfg.model,
                self.endpoint,
            )
        self.tools_rejected = True
        self.cache.set_flag(self._tools_flag, "1")

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
        price = self.prices.get(cfg.model)
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
            "price": None
            if price is None
            else {
                "input": price.input,
                "output": price.output,
                "cache_write": price.cache_write,
                "cache_write_1h": price.cache_write_1h,
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


@dataclass(slots=True)
class _Pending:
    """The result owed to one tool call, sent with the next observation.

    ``content`` is the result's text (for the carrying call: a prefix to the observation);
    the carrying call's result holds the next observation.
    """

    call_id: str
    content: str | None
    is_error: bool
    carries: bool = False


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
        self._pending: list[_Pending] = []
        # The episode's one tool list (see _episode_tools): kinds from the context when the
        # runner knows them, grown by any kind a step offers that was not offered before.
        self._kinds: list[ActionKind] = sorted(set(getattr(context, "kinds", None) or ()))
        self._letters: dict[str, int] = {}
        self._specs: list[ToolSpec] | None = None
        self._started = time.perf_counter()
        for message in self.adapter.initial_messages(self.system):
            self._append(message)

    # -- Agent ---------------------------------------------------------------------------------
    async def act(self, turn: Turn) -> Decision:
        """Show the observation, get the model's choice, turn it into an action."""
        obs = turn.observation
        available = turn.available
        menu = [str(line) for line in obs.get("menu", ())]
        letters = menu_letters(menu)  # the letters that hold an option now
        specs = self._episode_tools(available, menu)
        text = str(obs.get("text", ""))
        line = availability_line(specs, available)
        self._observe(f"{text}\n\n{line}" if line else text)
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
                self._append(reply.assistant)
            state.meta["stop_reason"] = reply.stop_reason
            state.meta["tool_choice_path"] = mode
            state.meta["tool_choice_sent"].append(mode)
            if reply.stop_reason == "refusal":
                # The API's own refusal (a safety classifier), not the subject's choice of the
                # refuse tool: its own outcome, never an invalid action.
                state.meta["refusal"] = True
                state.meta["outcome"] = "api_refusal"
                counters["refusals"] += 1
                problem = "the model refused (stop_reason refusal)"
                break
            if reply.stop_reason == "max_tokens":
                state.meta["max_tokens"] = True
                state.meta["outcome"] = "truncated"
                counters["max_tokens"] += 1
                problem = "the answer was cut off at max_tokens"
                break
            if mode == "any" and not reply.calls:
                # A forced choice that was ignored (a server that does not enforce
                # tool_choice): recorded, so that run.json's "any" is not taken at its word.
                state.meta["forced_choice_ignored"] = True
                counters["forced_choice_ignored"] += 1
            action, chosen, problem = self._interpret(reply, specs, available, letters)
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
                self._pending = [
                    _Pending(
                        c.id,
                        ("That choice is not available at this step." if unavailable else None)
                        if c is chosen
                        else "Not done: one action per turn.",
                        c is not chosen or unavailable,
                        carries=c is chosen,
                    )
                    for c in reply.calls
                ]
                return self._decision(action, reply, chosen, state)
            if not reply.calls:
                state.meta["tool_choice_path"] = "text"
            if round_ == 0:
                state.meta["corrective_turn"] = True
                counters["corrective_turns"] += 1
                prompt = corrective_prompt(specs, letters, problem, tools=mode != "text")
                self._corrective(reply, appended, prompt)
        assert reply is not None
        # No usable answer: the step becomes an action the environment counts as invalid (the
        # runner does not count api_refusal / truncated outcomes as invalid).
        if not (state.meta["refusal"] or state.meta["max_tokens"]):
            state.meta["unparsed"] = True
            counters["unparsed"] += 1
        state.meta["invalid_reason"] = problem
        self._pending = [_Pending(c.id, f"Not done: {problem}", True) for c in reply.calls]
        if reply.assistant is None:
            self._pending = []
        return self._decision(invalid_action(available, len(menu)), reply, None, state)

    async def end(self, reason: str) -> None:
        """Write the transcript's final version (synced to disk, off the event loop)."""
        await asyncio.to_thread(self.transcript.close, reason)

    # -- conversation --------------------------------------------------------------------------
    def _append(self, message: dict[str, Any]) -> None:
        self.messages.append(message)
        self._chars += self.transcript.add_message(message)

    def _episode_tools(
        self, available: Sequence[ActionKind], menu: Sequence[str]
    ) -> list[ToolSpec]:
        """The episode's one tool list: every kind the episode offers, every menu slot.

        Tools come first in the prompt cache's order, so the list must not change with each
        step's mask. It holds the kinds of the episode context (when the runner knows them)
        and grows only when a step offers a kind never offered before (then the cached prefix
        is rebuilt once); the letters are every slot of the menu.
        """
        kinds = set(self._kinds) | set(available)
        letters = {**episode_letters(menu), **self._letters}
        if self._specs is None or kinds != set(self._kinds) or letters != self._letters:
            self._kinds = sorted(kinds)
            self._letters = letters
            self._specs = tool_specs(self._kinds, self._letters, self.ctx.exit_mode)
        return self._specs

    def _observe(self, text: str) -> None:
        """The user turn carrying an observation: inside the result of the last tool call when
        there was one (so the model sees the consequence of its call), else as text.

        Never a text block right after a ``tool_result`` (the docs' "empty responses with
        end_turn": text after tool results teaches the model to end its turn), and never two
        user turns in a row: after an empty or refused answer the observation joins the last
        user turn.
        """
        pending, self._pending = self._pending, []
        if pending:
            carrier = next((p for p in pending if p.carries), pending[0])
            results = []
            for p in pending:
                if p is carrier:
                    body = f"{p.content}\n\n{text}" if p.content else text
                    results.append(ToolResult(p.call_id, body, p.is_error))
                else:
                    results.append(ToolResult(p.call_id, p.content or "Not done.", True))
            for message in self.adapter.user_turn(results, None):
                self._append(message)
            return
        if self.messages and self.messages[-1].get("role") == "user":
            self._extend_last_user(text)
            return
        for message in self.adapter.user_turn([], text):
            self._append(message)

    def _extend_last_user(self, text: str) -> None:
        """Add ``text`` to the last user turn (inside its last tool result, if it ends in one)."""
        extend = getattr(self.adapter, "extend_user_turn", None)
        if extend is None:  # an adapter whose API takes user turns in a row
            for message in self.adapter.user_turn([], text):
                self._append(message)
            return
        merged = extend(self.messages[-1], text)
        self.messages[-1] = merged
        self._chars += len(text)
        self.transcript.replace_last_message(merged)

    def _corrective(self, reply: ModelReply, appended: bool, prompt: str) -> None:
        """The one corrective turn: inside the error results of the calls when there were
        calls, a user text turn after an answer in words, or joined to the last user turn
        when the answer was empty (nothing was appended)."""
        if reply.calls and appended:
            results = [ToolResult(c.id, f"Not done. {prompt}", True) for c in reply.calls]
            for message in self.adapter.user_turn(results, None):
                self._append(message)
        elif appended:
            for message in self.adapter.user_turn([], prompt):
                self._append(message)
        else:
            self._extend_last_user(prompt)

    def _interpret(
        self,
        reply: ModelReply,
        specs: Sequence[ToolSpec],
        available: Sequence[Any],
        letters: Mapping[str, int],
    ) -> tuple[Action | None, ToolCall | None, str]:
        problem = ""
        for call in reply.calls:
            # Calls are read against the episode's letters (every slot, as the schema offers
            # them); a slot that is empty now is the model's invalid choice, like a kind that
            # is not available now.
            action, problem = action_from_call(call, specs, self._letters or letters)
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
                key = request_key(body, self.ctx.index, self.ctx.seed)
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
                self._record(
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
                    builder.reject_tools()
                    return None
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
        prefix = sum(_tokens_of(t) for t in tools)
        if system:
            request["system"] = [{"type": "text", "text": system}]
            prefix += _tokens_of(request["system"][0])
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
                running += sum(_tokens_of(b) for b in blocks)
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

        if isinstance(exc, anthropic.APIStatusError):
            status = exc.status_code
            # ``api_message``/``type`` are the SDK's reading of the error body; read the body
            # too, for SDK versions without them.
            body = exc.body if isinstance(exc.body, dict) else {}
            raw_error = body.get("error")
            error: dict[str, Any] = raw_error if isinstance(raw_error, dict) else {}
            message = str(getattr(exc, "api_message", None) or error.get("message") or exc.message)
            error_type = getattr(exc, "type", None) or error.get("type") or f"http_{status}"
            code = str(getattr(exc, "error_code", None) or "")
            if self.limiter is not None:
                observe_rate_limit_headers(self.limiter, exc.response.headers)
            return CallFailure(
                error_type=str(error_type),
                message=message,
                status=status,
                retryable=status in (408, 409, 429) or status >= 500,
                retry_after=retry_after_from(exc.response.headers),
                rejects_forced_tool_choice=status == 400
                and ("tool_choice" in message or "tool_choice" in code),
                request_id=getattr(exc, "request_id", None),
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


#: The most ``cache_control`` breakpoints one request may carry (docs, "Prompt caching").
MAX_CACHE_BREAKPOINTS = 4
#: Minimum cacheable length assumed for a model the catalogue does not know.
DEFAULT_MIN_CACHE_TOKENS = 4096


def min_cache_tokens(model: str) -> int:
    """The model's minimum cacheable prompt length (:mod:`sandbox.llm.models`)."""
    from sandbox.llm.models import model_info

    info = model_info(model)
    return info.min_cache_tokens if info is not None else DEFAULT_MIN_CACHE_TOKENS


def _tokens_of(block: Any) -> int:
    """Tokens of one prompt block, guessed as a quarter of its JSON (never below 1)."""
    return max(1, len(canonical_json(block)) // 4)


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


# -- prices given on the command line ----------------------------------------------------------


def with_config_price(prices: PriceTable, cfg: LLMAgentConfig) -> PriceTable:
    """``prices`` with the model's price from ``agent.price`` when one was given.

    Raises:
        ConfigError: Only one of ``input`` and ``output`` was given.
    """
    given = getattr(cfg, "price", None)
    if given is None or (given.input is None and given.output is None):
        return prices
    if given.input is None or given.output is None:
        raise ConfigError(
            "agent.price needs both input and output (USD per million tokens), got "
            f"input={given.input} output={given.output}; e.g. agent.price.input=1 "
            "agent.price.output=5"
        )
    price = ModelPrice(
        input=float(given.input),
        output=float(given.output),
        cache_write=float(
            given.cache_write if given.cache_write is not None else 1.25 * given.input
        ),
        cache_read=float(given.cache_read if given.cache_read is not None else 0.1 * given.input),
        cache_write_1h=float(
            given.cache_write_1h if given.cache_write_1h is not None else 2.0 * given.input
        ),
    )
    return prices.with_price(cfg.model, price)


# -- cost before the first call ----------------------------------------------------------------

#: Assumptions of :func:`estimate_cost` where the caller gives no measured sizes, in tokens.
ESTIMATE_TOOLS_TOKENS = 700
ESTIMATE_OBSERVATION_TOKENS = 300
#: Output tokens of one answer: a tool call with a short note (the call is also what the
#: next prompt carries as the assistant turn).
ESTIMATE_ANSWER_TOKENS = 50
#: Tokens of a tool result's wrapping (ids, type), per step.
ESTIMATE_CALL_TOKENS = 15


@dataclass(frozen=True, slots=True)
class PromptSizes:
    """Sizes :func:`estimate_cost` works from, in tokens (a quarter of their JSON).

    Attributes:
        tools: The episode's tool list.
        system: The system prompt.
        observation: One observation as the model sees it.
        answer: One answer's output tokens.
    """

    tools: int
    system: int
    observation: int
    answer: int = ESTIMATE_ANSWER_TOKENS


def prompt_sizes(
    cfg: LLMAgentConfig,
    observation: Mapping[str, Any] | None = None,
    kinds: Sequence[ActionKind] | None = None,
    exit_mode: str = "consequential",
    system_suffix: str = "",
) -> PromptSizes:
    """The sizes of a run's prompts, measured from an environment's first observation when
    one is given (the runner has it before the first call), else the defaults above.

    Args:
        cfg: The agent's config (system prompt).
        observation: An observation (``text``, ``menu``, ``action_mask``).
        kinds: Every kind the episode can offer (default: those of ``observation``).
        exit_mode: The exit tool's wording.
        system_suffix: The condition's addition to the system prompt.
    """
    system = "\n\n".join(p for p in (cfg.system.strip(), system_suffix.strip()) if p)
    system_tokens = _tokens_of({"type": "text", "text": system}) if system else 0
    if observation is None:
        return PromptSizes(ESTIMATE_TOOLS_TOKENS, system_tokens, ESTIMATE_OBSERVATION_TOKENS)
    from environments.core import kinds_of

    menu = [str(line) for line in observation.get("menu", ())]
    offered = list(kinds) if kinds else kinds_of(observation["action_mask"])
    specs = tool_specs(offered, episode_letters(menu), exit_mode)
    tools = sum(
        _tokens_of({"name": s.name, "description": s.description, "input_schema": s.input_schema})
        for s in specs
    )
    text = str(observation.get("text", ""))
    return PromptSizes(tools, system_tokens, _tokens_of({"type": "text", "text": text}))


def estimate_usage(
    cfg: LLMAgentConfig, steps_per_episode: int, sizes: PromptSizes | None = None
) -> Usage:
    """The tokens of one episode of ``steps_per_episode`` steps, by the prompt cache's rules.

    The same rules as the requests (:class:`AnthropicAdapter`) and the API: a breakpoint at the
    end of each newest user turn writes the prompt so far, but only once it reaches the model's
    minimum cacheable length; the next call reads what the last one wrote and writes the new
    turn; the tools-and-system prefix is read by later episodes only when it is itself long
    enough. Before the minimum everything is uncached input.
    """
    sizes = sizes or prompt_sizes(cfg)
    caching = bool(getattr(cfg, "prompt_caching", False))
    minimum = min_cache_tokens(cfg.model)
    prefix = sizes.tools + sizes.system
    turn = sizes.observation + sizes.answer + ESTIMATE_CALL_TOKENS
    usage = Usage()
    written = prefix if caching and prefix >= minimum else 0  # from earlier episodes
    for k in range(max(0, steps_per_episode)):
        prompt = prefix + k * turn + sizes.observation
        usage.output_tokens += sizes.answer
        usage.calls += 1
        if not caching or prompt < minimum:
            usage.input_tokens += prompt - written
            usage.cache_read_input_tokens += written
            continue
        usage.cache_read_input_tokens += written
        usage.cache_creation_input_tokens += prompt - written
        written = prompt
    return usage


def estimate_cost(
    cfg: LLMAgentConfig,
    prices: PriceTable,
    episodes: int,
    steps_per_episode: int,
    sizes: PromptSizes | None = None,
) -> float | None:
    """The expected cost of a run in USD, for the runner to show before the first call.

    Every episode is assumed to run all ``steps_per_episode`` steps, with prompts of ``sizes``
    (:func:`prompt_sizes`; measured from the environment's first observation when the caller
    gives one), accounted by :func:`estimate_usage`. Returns ``None`` for a model with no
    price. The budget, not this estimate, is what stops spending.
    """
    price = with_config_price(prices, cfg).get(cfg.model)
    if price is None:
        return None
    return price.cost(estimate_usage(cfg, steps_per_episode, sizes)) * max(0, episodes)
