"""A loopback fake of the Anthropic Messages API (and of chat completions), for offline use.

It is a real HTTP server on 127.0.0.1, so the real ``anthropic`` (and ``openai``) SDK talks to
it exactly as to the real service: nothing in the client is mocked. Endpoints:

- ``POST /v1/messages``: JSON, or server-sent events when ``"stream": true`` (the real event
  sequence: ``message_start``, ``content_block_start``, ``ping``, ``content_block_delta``,
  ``content_block_stop``, ``message_delta``, ``message_stop``).
- ``POST /v1/messages/count_tokens``: ``{"input_tokens": n}``.
- ``POST /v1/chat/completions``: the OpenAI-compatible shape (function tools).
- ``GET /_stats``: ``{"requests": n, "by_path": {...}, "by_status": {...}, "faults": {...},
  "notes": {...}}``; ``GET /_requests``: the request bodies received (never headers);
  ``POST /_reset``; ``POST /_clock`` ``{"advance_s": s}`` ages the prompt cache.

It is at least as strict as the real API. Every Messages request is checked by
:func:`check_messages_request` against the rules of the docs (Messages, tool use, prompt
caching, extended thinking, versioning) and the model table of :mod:`sandbox.llm.models`, and
refused with the real status and error shape (``{"type": "error", "error": {...},
"request_id": ...}`` plus a ``request-id`` header): 404 ``not_found_error`` for an unknown or
retired model; 400 ``invalid_request_error`` for ``max_tokens`` above the model's limit, a
first turn that is not the user's, a ``tool_use`` not answered by ``tool_result`` blocks first in
the next turn (or a result answering no call), tool blocks without ``tools``, a tool name
outside ``^[a-zA-Z0-9_-]{1,64}$`` or a non-object ``input_schema``, a ``tool_choice`` that does
not fit the tools (or forces a tool on a model that refuses that), thinking with a forced choice,
more than 4 ``cache_control`` breakpoints, an empty or whitespace-only text block, sampling fields
the ``anthropic-version`` or the model rejects, unknown top-level fields, a missing
``anthropic-version``. Consecutive turns of one role are merged, as the API does, and counted in
``/_stats`` ``notes`` (with ``text_after_tool_result``, the pattern the docs say brings empty
answers).

The answer is a tool call chosen by a policy among the tools offered, with input valid for the
tool's schema (enums, integer ranges, required strings). Under a forced choice (``any``/``tool``)
no text comes before the call, as with real models; under ``auto`` the random policy writes a
sentence first for about half the requests. Policies:

- ``random``: seeded by ``--seed`` and the request itself, so the same request always gets the
  same answer whatever the order requests arrive in;
- ``first``: the first tool, its first choices;
- ``scripted:FILE``: a JSON or YAML list of ``{tool, input}``, ``{text}`` or ``{fault}``
  entries, used in turn and cycled.

Usage is plausible: about one token per four characters of JSON. Prompt caching is accounted
as the docs describe (:meth:`FakeState.cache_usage`): a prefix (tools, system, messages, in that
order; ``tool_choice`` and ``thinking`` changes invalidate the messages) is read back only when
byte-identical up to a breakpoint found within 20 blocks, at least the model's minimum cacheable
length (``min_cache_tokens`` overrides it), and younger than its TTL (5 minutes, or 1 hour;
reads refresh it); writes are ``cache_creation_input_tokens``, split by TTL in
``usage.cache_creation``. Caches are per model.

Faults (``--faults``, each request drawing one with probability ``--fault-rate``): ``429``
(with ``retry-after``), ``529``, ``500``, ``timeout`` (holds the request, then drops it),
``text_only`` (answers in words), ``refusal``, ``max_tokens``, ``blank_text`` (an answer of only
``"\\n\\n"``, as real models sometimes give), ``empty_turn`` (no content, ``end_turn``),
``malformed`` (a broken body). Two are not random but follow from the request:
``reject_forced_tool_choice`` (like newer models, every forced tool choice gets a 400; also
``required`` on chat completions) and ``text_after_tool_result`` (a turn with text right after
tool results gets an empty ``end_turn`` answer, as the stop-reasons docs warn).

Rate limits (``--rpm``, ``--itpm``): token buckets replenished continuously, as the rate-limits
docs describe; every Messages answer then carries ``anthropic-ratelimit-*`` headers and a request
past a limit gets a 429 with ``retry-after`` (in seconds, or as an HTTP date with
``--retry-after-date``).

Run it with ``wsb fake-api --port 8765`` or ``python -m sandbox.llm.fake_server --port 8765``;
tests and benchmarks use :func:`start_in_thread`.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import logging
import random
import re
import sys
import threading
import time
from collections import Counter, OrderedDict, deque
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any, NamedTuple

from sandbox.llm.models import (
    CURRENT_MODELS,
    SAMPLING_FIELDS,
    SAMPLING_REMOVED_IN,
    model_info,
    rejected_request_fields,
)

log = logging.getLogger(__name__)

HOST = "127.0.0.1"
RANDOM_FAULTS = (
    "429",
    "529",
    "500",
    "timeout",
    "text_only",
    "refusal",
    "max_tokens",
    "blank_text",
    "empty_turn",
    "malformed",
)
#: Faults that are not drawn at random but follow from the request.
RULE_FAULTS = ("reject_forced_tool_choice", "text_after_tool_result")
FAULTS = (*RANDOM_FAULTS, *RULE_FAULTS)
#: Faults that shape a 200 answer rather than replace it.
ANSWER_FAULTS = ("text_only", "refusal", "max_tokens", "blank_text", "empty_turn")
POLICIES = ("random", "first", "scripted:FILE")
#: Blocks before a breakpoint that the real API checks for an earlier cache entry.
CACHE_LOOKBACK_BLOCKS = 20
#: Lifetimes of a cache entry (prompt-caching docs: 5 minutes by default, or 1 hour).
CACHE_TTL_SECONDS = {"5m": 300.0, "1h": 3600.0}
#: Breakpoints a request may carry (``cache_control`` on blocks, plus a top-level one).
MAX_CACHE_BREAKPOINTS = 4
CHAT_MODES = ("openai", "vllm_no_parser", "llamacpp_no_jinja", "ollama")

_ERROR_TYPES = {
    400: "invalid_request_error",
    401: "authentication_error",
    404: "not_found_error",
    429: "rate_limit_error",
    500: "api_error",
    529: "overloaded_error",
}
_STRINGS = {
    "reason": "I would rather spend my effort on something else.",
    "text": "Here is my work on it.",
    "note": "I am doing fine, thank you.",
}


@dataclass
class FakeOptions:
    """How the fake behaves.

    Attributes:
        latency_ms: Delay before every answer.
        fault_rate: Chance that a request meets one of ``faults`` (drawn at random).
        faults: Fault kinds (see the module docstring).
        policy: ``random``, ``first`` or ``scripted:FILE``.
        seed: Seed of the random policy and of fault draws.
        retry_after_s: The ``retry-after`` a 429 carries.
        retry_after_date: Send ``retry-after`` as an HTTP date rather than seconds (HTTP allows
            both; clients must read either).
        rate_limit_rpm: Requests per minute the Messages endpoint allows (None: no limit). Like
            the real API (rate-limits docs: a token bucket, replenished continuously), every
            answer then carries ``anthropic-ratelimit-requests-*`` headers and a request past
            the limit gets a 429 ``rate_limit_error`` with ``retry-after``.
        rate_limit_itpm: Input tokens per minute likewise (uncached input and cache writes
            count; cache reads do not), with ``anthropic-ratelimit-input-tokens-*`` headers.
        hang_s: How long a ``timeout`` fault holds the request before dropping it.
        min_cache_tokens: Shortest prefix that is cached. None (the default): the model's
            minimum cacheable length from :mod:`sandbox.llm.models`, as the real API does; an
            integer overrides it for every model (0: cache any length, kinder than the API).
        chat_mode: How ``/v1/chat/completions`` behaves: ``openai`` (strict, like OpenAI's
            API), ``vllm_no_parser``, ``llamacpp_no_jinja`` or ``ollama`` (see the module
            docstring).
        chat_usage: False to leave ``usage`` out of chat-completions answers, as some servers do.
        keep_bodies: How many request bodies ``GET /_requests`` keeps.
        prefix_cache_size: How many cached prefixes the LRU keeps.
    """

    latency_ms: float = 0.0
    fault_rate: float = 0.0
    faults: tuple[str, ...] = ()
    policy: str = "random"
    seed: int = 0
    retry_after_s: float = 1.0
    retry_after_date: bool = False
    rate_limit_rpm: int | None = None
    rate_limit_itpm: int | None = None
    hang_s: float = 30.0
    min_cache_tokens: int | None = None
    keep_bodies: int = 20000
    prefix_cache_size: int = 8192
    chat_mode: str = "openai"
    chat_usage: bool = True

    def __post_init__(self) -> None:
        if isinstance(self.faults, str):
            self.faults = tuple(f for f in self.faults.split(",") if f)
        self.faults = tuple(str(f).strip() for f in self.faults if str(f).strip())
        unknown = [f for f in self.faults if f not in FAULTS]
        if unknown:
            raise ValueError(
                f"unknown fault(s) {', '.join(unknown)}; expected some of {', '.join(FAULTS)}"
            )
        if not 0.0 <= self.fault_rate <= 1.0:
            raise ValueError(f"fault_rate must be in [0, 1], got {self.fault_rate}")
        if self.policy not in ("random", "first") and not self.policy.startswith("scripted:"):
            raise ValueError(f"policy must be random, first or scripted:FILE, got {self.policy!r}")
        if self.chat_mode not in CHAT_MODES:
            raise ValueError(
                f"chat_mode must be one of {', '.join(CHAT_MODES)}, got {self.chat_mode!r}"
            )
        for name in ("rate_limit_rpm", "rate_limit_itpm"):
            value = getattr(self, name)
            if value is not None and value <= 0:
                raise ValueError(f"{name} must be a positive integer or None, got {value}")
        if self.min_cache_tokens is not None and self.min_cache_tokens < 0:
            raise ValueError(f"min_cache_tokens must be >= 0 or None, got {self.min_cache_tokens}")


@dataclass
class _Answer:
    """What the policy decided: content blocks, a stop reason, or a fault to play."""

    content: list[dict[str, Any]] = field(default_factory=list)
    stop_reason: str = "tool_use"
    fault: str | None = None


class FakeState:
    """Counters, recorded bodies, the prompt-cache LRU and the script; shared by handler threads."""

    def __init__(self, options: FakeOptions):
        self.options = options
        self.lock = threading.Lock()
        self.stopping = threading.Event()
        self.fault_rng = random.Random(options.seed)
        self.requests = 0
        self.by_path: Counter[str] = Counter()
        self.by_status: Counter[str] = Counter()
        self.fault_counts: Counter[str] = Counter()
        self.bodies: deque[dict[str, Any]] = deque(maxlen=options.keep_bodies)
        #: Cached prefix digest -> (expiry on :meth:`now`, TTL in seconds, when it was written).
        self.prefixes: OrderedDict[str, tuple[float, float, float]] = OrderedDict()
        self.clock_offset = 0.0
        #: Rate-limit buckets: name -> (capacity per minute, level, last refill on :meth:`now`).
        self.buckets: dict[str, list[float]] = {}
        for name, capacity in (
            ("requests", options.rate_limit_rpm),
            ("input-tokens", options.rate_limit_itpm),
        ):
            if capacity is not None:
                self.buckets[name] = [float(capacity), float(capacity), time.monotonic()]
        self.notes: Counter[str] = Counter()
        self.ids = 0
        self.started = time.monotonic()
        self.script: list[dict[str, Any]] = []
        self.script_index = 0
        if options.policy.startswith("scripted:"):
            self.script = load_script(options.policy.split(":", 1)[1])

    def reset(self) -> None:
        with self.lock:
            self.requests = 0
            self.by_path.clear()
            self.by_status.clear()
            self.fault_counts.clear()
            self.bodies.clear()
            self.prefixes.clear()
            self.notes.clear()
            self.script_index = 0

    def next_id(self) -> int:
        with self.lock:
            self.ids += 1
            return self.ids

    def stats(self) -> dict[str, Any]:
        with self.lock:
            return {
                "requests": self.requests,
                "by_path": dict(self.by_path),
                "by_status": dict(self.by_status),
                "faults": dict(self.fault_counts),
                "notes": dict(self.notes),
            }

    def draw_fault(self) -> str | None:
        random_faults = [f for f in self.options.faults if f in RANDOM_FAULTS]
        if not random_faults or self.options.fault_rate <= 0:
            return None
        with self.lock:
            if self.fault_rng.random() >= self.options.fault_rate:
                return None
            return self.fault_rng.choice(random_faults)

    def next_script_entry(self) -> dict[str, Any] | None:
        if not self.script:
            return None
        with self.lock:
            entry = self.script[self.script_index % len(self.script)]
            self.script_index += 1
            return entry

    # -- rate limits ---------------------------------------------------------------------------
    def _refill(self, name: str, now: float) -> list[float]:
        bucket = self.buckets[name]
        capacity, level, last = bucket
        bucket[1] = min(capacity, level + (now - last) * capacity / 60.0)
        bucket[2] = now
        return bucket

    def take_request(self) -> tuple[float | None, dict[str, str]]:
        """Take one request from the buckets: (seconds to wait when limited, headers)."""
        if not self.buckets:
            return None, {}
        with self.lock:
            now = self.now()
            wait = 0.0
            for name in self.buckets:
                capacity, level, _ = self._refill(name, now)
                if level < 1.0:  # no request left, or the input tokens are spent
                    wait = max(wait, (1.0 - level) * 60.0 / capacity)
            if not wait and "requests" in self.buckets:
                self.buckets["requests"][1] -= 1.0
            return (wait or None), self._limit_headers(now)

    def spend_input_tokens(self, tokens: int) -> None:
        """Charge a served request's uncached input and cache writes to the input bucket."""
        if "input-tokens" not in self.buckets:
            return
        with self.lock:
            self._refill("input-tokens", self.now())
            self.buckets["input-tokens"][1] -= tokens

    def _limit_headers(self, now: float) -> dict[str, str]:
        headers: dict[str, str] = {}
        wall = time.time() + (now - time.monotonic())
        for name, (capacity, level, _) in self.buckets.items():
            remaining = max(0, int(level))
            # RFC 3339 time at which the bucket is full again.
            reset = wall + (capacity - level) * 60.0 / capacity
            stamp = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(reset))
            prefix = f"anthropic-ratelimit-{name}-"
            headers[prefix + "limit"] = str(int(capacity))
            headers[prefix + "remaining"] = str(remaining)
            headers[prefix + "reset"] = stamp
        return headers

    # -- prompt cache --------------------------------------------------------------------------
    def now(self) -> float:
        """The server's clock (monotonic, plus what ``POST /_clock`` advanced it by)."""
        return time.monotonic() + self.clock_offset

    def cache_usage(
        self,
        blocks: Sequence[PromptBlock | tuple[str, bool]],
        *,
        model: str = "",
        minimum: int | None = None,
        arrived: float | None = None,
    ) -> CacheUsage:
        """The usage of a prompt made of ``blocks``, and the cache writes it makes.

        Follows the prompt-caching docs: the prefix up to a breakpoint is cached only when it
        is at least the minimum cacheable length (``minimum``; else the options' or the
        model's); a later request reads it when its own prefix is byte-identical and a
        breakpoint lies within :data:`CACHE_LOOKBACK_BLOCKS` blocks after it; entries expire
        after their TTL (5 minutes, or 1 hour with ``"ttl": "1h"``), and a read refreshes it.
        Caches are per model.

        Args:
            blocks: The prompt in order: tools, system, messages (see
                :func:`prompt_blocks`); ``(text, marked)`` pairs are read as 5-minute breakpoints.
            model: The model id (caches are not shared between models).
            minimum: Minimum cacheable length; None: ``options.min_cache_tokens`` or the
                model's.
            arrived: When the request arrived (:meth:`now`); entries written after it are not
                read. The docs: an entry is readable only once the response that writes it has
                begun, so requests sent together with one prefix all pay for it.
        """
        prompt = [
            b if isinstance(b, PromptBlock) else PromptBlock(b[0], "5m" if b[1] else None)
            for b in blocks
        ]
        if minimum is None:
            minimum = self.options.min_cache_tokens
        if minimum is None:
            info = model_info(model)
            minimum = info.min_cache_tokens if info is not None else 0
        cumulative: list[int] = []
        digests: list[str] = []
        running = hashlib.sha256(f"model={model}\x1e".encode())
        total = 0
        for block in prompt:
            total += _tokens(block.text)
            cumulative.append(total)
            running.update(block.salt.encode("utf-8"))
            running.update(block.text.encode("utf-8"))
            running.update(b"\x1e")
            digests.append(running.copy().hexdigest())
        breakpoints = [i for i, block in enumerate(prompt) if block.ttl is not None]
        if not breakpoints:
            return CacheUsage(total, 0, 0)
        candidates: set[int] = set()
        for bp in breakpoints:
            candidates.update(range(max(0, bp - CACHE_LOOKBACK_BLOCKS), bp + 1))
        with self.lock:
            now = self.now()
            read_at = -1
            for i in sorted(candidates, reverse=True):
                entry = self.prefixes.get(digests[i])
                if entry is None:
                    continue
                expiry, ttl_s, written = entry
                if expiry <= now:
                    del self.prefixes[digests[i]]
                    continue
                if arrived is not None and written > arrived:
                    continue  # still being written by a request that came in after this one
                read_at = i
                # A read refreshes the entry.
                self.prefixes[digests[i]] = (now + ttl_s, ttl_s, written)
                self.prefixes.move_to_end(digests[i])
                break
            read = cumulative[read_at] if read_at >= 0 else 0
            written_to = read
            by_ttl = {"5m": 0, "1h": 0}
            for bp in breakpoints:
                ttl = str(prompt[bp].ttl)
                if cumulative[bp] < minimum:
                    continue
                ttl_s = CACHE_TTL_SECONDS[ttl]
                old = self.prefixes.get(digests[bp])
                if old is None or old[0] <= now:
                    self.prefixes[digests[bp]] = (now + ttl_s, ttl_s, now)
                elif old[0] < now + ttl_s:
                    self.prefixes[digests[bp]] = (now + ttl_s, ttl_s, old[2])
                self.prefixes.move_to_end(digests[bp])
                if cumulative[bp] > written_to:
                    by_ttl[ttl] += cumulative[bp] - written_to
                    written_to = cumulative[bp]
            while len(self.prefixes) > self.options.prefix_cache_size:
                self.prefixes.popitem(last=False)
        creation = written_to - read
        return CacheUsage(total - read - creation, creation, read, by_ttl["1h"])


@dataclass(frozen=True)
class PromptBlock:
    """One block of a prompt, as the prompt cache sees it.

    Attributes:
        text: The block's canonical JSON, without its ``cache_control``.
        ttl: ``"5m"`` or ``"1h"`` when the block carries a breakpoint; None otherwise.
        salt: Request settings hashed into the prefix from here on but not counted as tokens
            (``tool_choice`` and ``thinking``, which invalidate the cached messages).
    """

    text: str
    ttl: str | None = None
    salt: str = ""


class CacheUsage(NamedTuple):
    """Token counts of one request, as the API's ``usage`` reports them."""

    input_tokens: int
    cache_creation_input_tokens: int
    cache_read_input_tokens: int
    #: Of the creation tokens, those written with a 1-hour TTL (billed at 2x, not 1.25x).
    cache_creation_1h: int = 0


def _tokens(text: str) -> int:
    return max(1, len(text) // 4)


def _canon(value: Any) -> str:
    return json.dumps(value, sort_keys=True, separators=(",", ":"), ensure_ascii=False)


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
    state: FakeState,
    tools: Sequence[Mapping[str, Any]],
    forced: str | None,
    allow_tools: bool,
    seed_text: str,
) -> _Answer:
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
            return _Answer(fault=str(entry["fault"]))
        if "text" in entry:
            return _Answer(
                [{"type": "text", "text": str(entry["text"])}],
                str(entry.get("stop_reason", "end_turn")),
            )
        block = {
            "type": "tool_use",
            "id": call_id,
            "name": str(entry["tool"]),
            "input": dict(entry.get("input") or {}),
        }
        return _Answer([block], str(entry.get("stop_reason", "tool_use")))
    first = options.policy == "first"
    rng = random.Random(int.from_bytes(digest[:8], "big"))
    if not tools or not allow_tools:
        return _Answer([{"type": "text", "text": "I am not sure what to do."}], "end_turn")
    named = [t for t in tools if t.get("name") == forced] if forced else []
    tool = named[0] if named else (tools[0] if first else rng.choice(list(tools)))
    args = fake_input(tool.get("input_schema") or {}, rng, first)
    block = {
        "type": "tool_use",
        "id": call_id,
        "name": str(tool.get("name")),
        "input": args,
    }
    return _Answer([block], "tool_use")


def _with_preamble(state: FakeState, answer: _Answer, seed_text: str) -> _Answer:
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
    return _Answer([preamble, *answer.content], answer.stop_reason)


def _ttl_of(block: Mapping[str, Any]) -> str | None:
    control = block.get("cache_control")
    if not isinstance(control, Mapping):
        return None
    return str(control.get("ttl") or "5m")


def prompt_blocks(body: Mapping[str, Any]) -> list[PromptBlock]:
    """The prompt of a Messages request as the cache sees it, in order: tools, system, messages.

    ``tool_choice`` and ``thinking`` are hashed in (not counted) where the messages begin: the
    prompt-caching docs list both among the changes that invalidate cached message blocks
    (tool definitions invalidate everything, being first).
    """

    def entry(block: Any, prefix: str) -> PromptBlock:
        if isinstance(block, Mapping):
            clean = {k: v for k, v in block.items() if k != "cache_control"}
            return PromptBlock(prefix + _canon(clean), _ttl_of(block))
        return PromptBlock(prefix + _canon(block))

    blocks = [entry(tool, "tool:") for tool in body.get("tools") or []]
    system = body.get("system")
    if isinstance(system, str) and system:
        blocks.append(PromptBlock("system:" + _canon(system)))
    elif isinstance(system, list):
        blocks.extend(entry(b, "system:") for b in system)
    salt = "settings:" + _canon([body.get("tool_choice"), body.get("thinking")])
    first_message = True
    for message in body.get("messages") or []:
        role = str(message.get("role", "")) + ":"
        content = message.get("content")
        parts = (
            [entry(b, role) for b in content]
            if isinstance(content, list)
            else [PromptBlock(role + _canon(content))]
        )
        for part in parts:
            if first_message:
                part = PromptBlock(part.text, part.ttl, salt)
                first_message = False
            blocks.append(part)
    top = body.get("cache_control")
    if isinstance(top, Mapping) and blocks:
        # Top-level cache_control: automatic caching, a breakpoint on the last block.
        last = blocks[-1]
        blocks[-1] = PromptBlock(last.text, str(top.get("ttl") or "5m"), last.salt)
    return blocks


# -- request rules -----------------------------------------------------------------------------
# The Messages API's rules as the docs and the SDK state them; each check cites its source.
# Messages quote the real API's wording where it is known.

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


# -- chat-completions rules ----------------------------------------------------------------------
# OpenAI's Chat Completions API (API reference; function-calling guide) and the messages real
# servers give. Every mode checks OpenAI's rules; the server modes add their own refusals.

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
            first = min(pending.values())
            raise _openai_bad(
                "An assistant message with 'tool_calls' must be followed by tool messages "
                "responding to each 'tool_call_id'. The following tool_call_ids did not have "
                f"response messages: {', '.join(pending)}",
                f"messages.[{first}].role",
            )
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
            for call in message.get("tool_calls") or []:
                if isinstance(call, Mapping) and isinstance(call.get("id"), str):
                    pending[call["id"]] = i
        if role in ("user", "system", "developer") and message.get("content") is None:
            raise _openai_bad(
                "Invalid value for 'content': expected a string, got null.",
                f"messages.[{i}].content",
            )
    if pending:
        first = min(pending.values())
        raise _openai_bad(
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


class FakeServer(ThreadingHTTPServer):
    """The fake API's HTTP server (one thread per connection, keep-alive)."""

    daemon_threads = True
    allow_reuse_address = True
    request_queue_size = 512  # 64+ clients connecting at once must not overflow the backlog

    def __init__(self, port: int, options: FakeOptions):
        super().__init__((HOST, port), FakeHandler)
        self.state = FakeState(options)

    @property
    def url(self) -> str:
        """The base URL clients use (``http://127.0.0.1:PORT``)."""
        return f"http://{HOST}:{self.server_address[1]}"


class FakeHandler(BaseHTTPRequestHandler):
    """One connection; requests on it are served in turn."""

    protocol_version = "HTTP/1.1"
    server_version = "welfare-sandbox-fake-api/1"
    timeout = 120  # an idle keep-alive connection is closed after this
    server: FakeServer
    #: When the request being served arrived (the server's clock), before any latency.
    arrived: float | None = None
    #: ``anthropic-ratelimit-*`` headers of the request being served.
    limit_headers: dict[str, str] = {}  # noqa: RUF012 (replaced per request, never mutated)

    def log_message(self, format: str, *args: Any) -> None:
        log.debug("%s - %s", self.address_string(), format % args)

    # -- plumbing ------------------------------------------------------------------------------
    @property
    def state(self) -> FakeState:
        return self.server.state

    def _send(self, status: int, payload: Any, headers: Mapping[str, str] | None = None) -> None:
        data = payload if isinstance(payload, bytes) else json.dumps(payload).encode("utf-8")
        self.send_response(status)
        self.send_header("content-type", "application/json")
        self.send_header("content-length", str(len(data)))
        if "request-id" not in (headers or {}):
            self.send_header("request-id", f"req_fake_{self.state.next_id():08d}")
        for name, value in {**self.limit_headers, **(headers or {})}.items():
            self.send_header(name, value)
        self.end_headers()
        self.wfile.write(data)
        with self.state.lock:
            self.state.by_status[str(status)] += 1

    def _error(
        self,
        status: int,
        message: str,
        *,
        openai: bool = False,
        headers: Mapping[str, str] | None = None,
    ) -> None:
        error_type = _ERROR_TYPES.get(status, "api_error")
        request_id = f"req_fake_{self.state.next_id():08d}"
        if openai:
            payload: dict[str, Any] = {
                "error": {"message": message, "type": error_type, "param": None, "code": None}
            }
        else:
            # Errors docs: the body carries the request_id that the request-id header does.
            payload = {
                "type": "error",
                "error": {"type": error_type, "message": message},
                "request_id": request_id,
            }
        self._send(status, payload, {"request-id": request_id, **(headers or {})})

    def _read_json(self) -> tuple[Any, str]:
        length = int(self.headers.get("content-length") or 0)
        raw = self.rfile.read(length) if length else b""
        text = raw.decode("utf-8", errors="replace")
        return json.loads(text) if text else {}, text

    def _authorised(self) -> bool:
        bearer = self.headers.get("authorization", "")
        key = self.headers.get("x-api-key", "")
        return bool(key.strip()) or (
            bearer.lower().startswith("bearer ") and bool(bearer[7:].strip())
        )

    def _count(self, path: str, body_text: str) -> None:
        state = self.state
        with state.lock:
            state.requests += 1
            state.by_path[path] += 1
            if state.options.keep_bodies:
                state.bodies.append(
                    {
                        "path": path,
                        "t": round(time.monotonic() - state.started, 6),
                        "body": body_text,
                    }
                )

    # -- routes --------------------------------------------------------------------------------
    def do_GET(self) -> None:
        path = self.path.split("?", 1)[0]
        if path == "/_stats":
            self._send(200, self.state.stats())
        elif path == "/_requests":
            with self.state.lock:
                bodies = list(self.state.bodies)
            self._send(200, {"requests": bodies})
        else:
            self._error(404, f"no route GET {path}")

    def do_POST(self) -> None:
        self.limit_headers = {}
        path = self.path.split("?", 1)[0]
        openai = path.endswith("/chat/completions")
        try:
            body, text = self._read_json()
        except (json.JSONDecodeError, ValueError):
            self._count(path, "")
            self._error(400, "request body is not valid JSON", openai=openai)
            return
        if path == "/_reset":
            self.state.reset()
            self._send(200, {"ok": True})
            return
        if path == "/_clock":  # tests: let cache entries age without waiting
            with self.state.lock:
                self.state.clock_offset += float(body.get("advance_s", 0))
            self._send(200, {"ok": True})
            return
        self._count(path, text)
        if path not in ("/v1/messages", "/v1/messages/count_tokens", "/v1/chat/completions"):
            self._error(404, f"no route POST {path}", openai=openai)
            return
        if not self._authorised():
            self._error(
                401,
                "missing credentials: send an x-api-key or an Authorization: Bearer header",
                openai=openai,
            )
            return
        if not isinstance(body, dict):
            self._error(400, "request body must be a JSON object", openai=openai)
            return
        if not openai and not self._api_version():
            # Versioning docs: every request must carry the anthropic-version header.
            self._error(400, "anthropic-version: header is required")
            return
        if path == "/v1/messages/count_tokens":
            try:
                check_messages_request(body, self._api_version(), count_tokens=True)
            except RequestRejected as rejected:
                self._reject(rejected)
                return
            total = sum(_tokens(b.text) for b in prompt_blocks(body))
            self._send(200, {"input_tokens": total})
            return
        self.arrived = self.state.now()
        if path == "/v1/messages":
            wait, self.limit_headers = self.state.take_request()
            if wait is not None:
                with self.state.lock:
                    self.state.notes["rate_limited"] += 1
                self._error(
                    429,
                    "This request would exceed the rate limit for your organization (fake). "
                    "Please wait before trying again.",
                    headers={"retry-after": self._retry_after(wait)},
                )
                return
        latency = self.state.options.latency_ms / 1000.0
        if latency > 0:
            time.sleep(latency)
        if openai:
            self._chat(body, text)
        else:
            self._messages(body, text)

    # -- /v1/messages --------------------------------------------------------------------------
    def _messages(self, body: dict[str, Any], text: str) -> None:
        state = self.state
        try:
            notes = check_messages_request(body, self._api_version())
        except RequestRejected as rejected:
            self._reject(rejected)
            return
        self._note(notes)
        tool_choice = body.get("tool_choice") or {"type": "auto"}
        choice_type = tool_choice.get("type")
        forced = choice_type in ("any", "tool")
        if "reject_forced_tool_choice" in state.options.faults and forced:
            self._fault_counted("reject_forced_tool_choice")
            self._error(
                400,
                f"tool_choice.type '{choice_type}' is not supported for this model; use "
                'tool_choice {"type": "auto"}',
            )
            return
        tools = [t for t in body.get("tools") or [] if isinstance(t, Mapping)]
        # Streamed or not, the same request gets the same answer.
        seed_text = _canon({k: v for k, v in body.items() if k != "stream"})
        answer = choose(
            state,
            tools,
            tool_choice.get("name") if choice_type == "tool" else None,
            choice_type != "none",
            seed_text,
        )
        if choice_type == "auto" and answer.fault is None:
            answer = _with_preamble(state, answer, seed_text)
        fault = answer.fault or state.draw_fault()
        if (
            fault is None
            and "text_after_tool_result" in state.options.faults
            and notes["text_after_tool_result"]
        ):
            fault = "empty_turn"
        if fault is not None and self._play_transport_fault(fault, openai=False):
            return
        if fault == "text_only":
            answer = self._as_text(answer)
        elif fault == "refusal":
            answer = _Answer([], "refusal")
        elif fault == "max_tokens":
            answer = _Answer(
                [{"type": "text", "text": "Let me think about which of these I"}], "max_tokens"
            )
        elif fault == "blank_text":
            # Real models sometimes answer only "\n\n"; sending it back is then a 400.
            answer = _Answer([{"type": "text", "text": "\n\n"}], "end_turn")
        elif fault == "empty_turn":
            # Stop-reasons docs: an empty answer (2-3 tokens, no content) with end_turn.
            answer = _Answer([], "end_turn")
        if fault in ANSWER_FAULTS:
            self._fault_counted(fault)
        model = str(body["model"])
        usage = state.cache_usage(prompt_blocks(body), model=model, arrived=self.arrived)
        state.spend_input_tokens(usage.input_tokens + usage.cache_creation_input_tokens)
        output = min(int(body["max_tokens"]), max(1, len(_canon(answer.content)) // 4 + 8))
        if answer.stop_reason == "max_tokens":
            output = int(body["max_tokens"])
        if not answer.content:
            output = min(int(body["max_tokens"]), 3)
        message: dict[str, Any] = {
            "id": f"msg_fake_{state.next_id():08d}",
            "type": "message",
            "role": "assistant",
            "model": model,
            "content": answer.content,
            "stop_reason": answer.stop_reason,
            "stop_sequence": None,
            "usage": {
                "input_tokens": usage.input_tokens,
                "output_tokens": output,
                "cache_creation_input_tokens": usage.cache_creation_input_tokens,
                "cache_read_input_tokens": usage.cache_read_input_tokens,
                "cache_creation": {
                    "ephemeral_5m_input_tokens": usage.cache_creation_input_tokens
                    - usage.cache_creation_1h,
                    "ephemeral_1h_input_tokens": usage.cache_creation_1h,
                },
            },
        }
        if answer.stop_reason == "refusal":
            message["stop_details"] = {"type": "refusal", "category": None, "explanation": None}
        if body.get("stream"):
            self._stream(message)
        else:
            self._send(200, message)

    def _retry_after(self, seconds: float) -> str:
        if self.state.options.retry_after_date:
            from email.utils import formatdate

            return formatdate(time.time() + self.state.clock_offset + seconds, usegmt=True)
        return f"{max(1, int(-(-seconds // 1)))}" if seconds >= 1 else f"{seconds:g}"

    def _api_version(self) -> str:
        return str(self.headers.get("anthropic-version") or "").strip()

    def _reject(self, rejected: RequestRejected, *, openai: bool = False) -> None:
        with self.state.lock:
            self.state.notes["rejected"] += 1
        self._error(rejected.status, rejected.message, openai=openai)

    def _note(self, notes: Mapping[str, int]) -> None:
        if any(notes.values()):
            with self.state.lock:
                self.state.notes.update({k: v for k, v in notes.items() if v})

    def _as_text(self, answer: _Answer) -> _Answer:
        blocks = []
        for block in answer.content:
            if block.get("type") == "tool_use":
                blocks.append(
                    {"type": "text", "text": text_for(block["name"], block.get("input") or {})}
                )
            else:
                blocks.append(block)
        return _Answer(blocks, "end_turn")

    def _fault_counted(self, fault: str) -> None:
        with self.state.lock:
            self.state.fault_counts[fault] += 1

    def _play_transport_fault(self, fault: str, *, openai: bool) -> bool:
        """Play a fault that replaces the answer; False for faults that shape the answer."""
        options = self.state.options
        if fault in ("429", "529", "500"):
            self._fault_counted(fault)
            status = int(fault)
            headers = (
                {"retry-after": self._retry_after(options.retry_after_s)} if status == 429 else None
            )
            message = {
                429: "Number of requests has exceeded your rate limit (fake)",
                529: "Overloaded (fake)",
                500: "Internal server error (fake)",
            }[status]
            self._error(status, message, openai=openai, headers=headers)
            return True
        if fault == "timeout":
            self._fault_counted(fault)
            # Hold the request past the client's timeout, then drop the connection unanswered.
            self.state.stopping.wait(options.hang_s)
            self.close_connection = True
            with self.state.lock:
                self.state.by_status["dropped"] += 1
            return True
        if fault == "reject_forced_tool_choice":  # from a script: one rejection, on cue
            self._fault_counted(fault)
            self._error(400, "tool_choice forcing tool use is not supported for this model")
            return True
        if fault == "malformed":
            self._fault_counted(fault)
            self._send(200, b'{"id": "msg_fake_broken", "type": "message", "content": [{"type": ')
            return True
        return False

    def _stream(self, message: dict[str, Any]) -> None:
        """Send ``message`` as the Messages API's server-sent events."""
        self.send_response(200)
        self.send_header("content-type", "text/event-stream")
        self.send_header("cache-control", "no-cache")
        self.send_header("request-id", f"req_fake_{self.state.next_id():08d}")
        self.send_header("connection", "close")
        self.end_headers()
        self.close_connection = True
        with self.state.lock:
            self.state.by_status["200"] += 1

        def event(name: str, data: Mapping[str, Any]) -> None:
            self.wfile.write(f"event: {name}\ndata: {json.dumps(data)}\n\n".encode())
            self.wfile.flush()

        usage = message["usage"]
        start = {**message, "content": [], "stop_reason": None, "stop_sequence": None}
        start["usage"] = {**usage, "output_tokens": 1}
        start.pop("stop_details", None)
        event("message_start", {"type": "message_start", "message": start})
        for index, block in enumerate(message["content"]):
            if block["type"] == "tool_use":
                opening = {**block, "input": {}}
                event(
                    "content_block_start",
                    {"type": "content_block_start", "index": index, "content_block": opening},
                )
                if index == 0:
                    event("ping", {"type": "ping"})
                raw = json.dumps(block["input"])
                for i in range(0, len(raw), 16):
                    delta = {"type": "input_json_delta", "partial_json": raw[i : i + 16]}
                    event(
                        "content_block_delta",
                        {"type": "content_block_delta", "index": index, "delta": delta},
                    )
            else:
                opening = {"type": "text", "text": ""}
                event(
                    "content_block_start",
                    {"type": "content_block_start", "index": index, "content_block": opening},
                )
                if index == 0:
                    event("ping", {"type": "ping"})
                words = block.get("text", "").split(" ")
                for i, word in enumerate(words):
                    piece = word if i == 0 else " " + word
                    delta = {"type": "text_delta", "text": piece}
                    event(
                        "content_block_delta",
                        {"type": "content_block_delta", "index": index, "delta": delta},
                    )
            event("content_block_stop", {"type": "content_block_stop", "index": index})
        final: dict[str, Any] = {"stop_reason": message["stop_reason"], "stop_sequence": None}
        if "stop_details" in message:
            final["stop_details"] = message["stop_details"]
        event(
            "message_delta",
            {
                "type": "message_delta",
                "delta": final,
                "usage": {"output_tokens": usage["output_tokens"]},
            },
        )
        event("message_stop", {"type": "message_stop"})

    # -- /v1/chat/completions ------------------------------------------------------------------
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
        if "reject_forced_tool_choice" in state.options.faults and forced:
            self._fault_counted("reject_forced_tool_choice")
            self._error(
                400,
                "tool_choice 'required' is not supported for this model; use tool_choice 'auto'",
                openai=True,
            )
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
        if mode == "ollama" and tools and _ollama_ignores_choice(state, text):
            # Ollama ignores tool_choice: forced or not, the model may answer in words.
            fault = fault or "text_only"
            with state.lock:
                state.notes["tool_choice_ignored"] += 1
        message: dict[str, Any] = {"role": "assistant", "content": None}
        finish = "tool_calls"
        calls = [b for b in answer.content if b.get("type") == "tool_use"]
        texts = [b.get("text", "") for b in answer.content if b.get("type") == "text"]
        if fault == "refusal":
            message["refusal"] = "I can't help with that."
            finish = "stop"
        elif fault == "max_tokens":
            message["content"] = "Let me think about which of these I"
            finish = "length"
        elif fault == "blank_text":
            message["content"] = "\n\n"
            finish = "stop"
        elif fault == "empty_turn":
            message["content"] = ""
            finish = "stop"
        elif not tools:
            # No tools (a text-only run): answer in words naming an option of the prompt.
            message["content"] = _text_answer(body, text, state)
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
        blocks = [("tool:" + _canon(t), False) for t in body.get("tools") or []]
        blocks += [("message:" + _canon(m), False) for m in body.get("messages") or []]
        if blocks:
            blocks[-1] = (blocks[-1][0], True)
        minimum = 1024 if mode == "openai" else 0
        input_tokens, creation, read, _ = state.cache_usage(
            blocks, model="chat:" + str(body.get("model")), minimum=minimum
        )
        prompt = input_tokens + creation + read
        completion = max(1, len(_canon(message)) // 4)
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


def _ollama_ignores_choice(state: FakeState, text: str) -> bool:
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


def _text_answer(body: Mapping[str, Any], text: str, state: FakeState) -> str:
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


def serve(port: int = 0, **options: Any) -> FakeServer:
    """A fake API server bound to 127.0.0.1 (``port`` 0: a free port), not yet serving.

    Call ``serve_forever()`` on it (or use :func:`start_in_thread`).
    """
    return FakeServer(port, FakeOptions(**options))


def start_in_thread(port: int = 0, **options: Any) -> tuple[str, Callable[[], None]]:
    """Start a fake API in a daemon thread; returns its base URL and a function that stops it.

    Args:
        port: Port on 127.0.0.1 (0: a free port).
        **options: :class:`FakeOptions` fields (``latency_ms``, ``faults``, ``policy``, ...).
    """
    server = serve(port, **options)
    thread = threading.Thread(
        target=server.serve_forever, kwargs={"poll_interval": 0.05}, name="fake-api", daemon=True
    )
    thread.start()

    def stop() -> None:
        server.state.stopping.set()  # wake requests held by a timeout fault
        server.shutdown()
        server.server_close()
        thread.join(timeout=5)

    return server.url, stop


def fetch_json(
    base_url: str, path: str, *, method: str = "GET", payload: Mapping[str, Any] | None = None
) -> Any:
    """GET (or POST) one of the fake's own routes (``/_stats``, ``/_requests``, ``/_reset``,
    ``/_clock`` with ``{"advance_s": seconds}``)."""
    from urllib.request import Request, urlopen

    data = json.dumps(dict(payload or {})).encode() if method == "POST" else None
    request = Request(base_url.rstrip("/") + path, method=method, data=data)
    with urlopen(request, timeout=10) as response:
        return json.loads(response.read().decode("utf-8"))


def build_parser() -> argparse.ArgumentParser:
    """The command-line flags of ``wsb fake-api``."""
    parser = argparse.ArgumentParser(
        prog="wsb fake-api",
        description="Serve a fake Anthropic Messages API (and chat completions) on 127.0.0.1 "
        "for offline runs and tests; it refuses what the real APIs refuse.",
    )
    parser.add_argument(
        "--port", type=int, default=8765, help="port (0: a free port); default 8765"
    )
    parser.add_argument("--latency-ms", type=float, default=0.0, help="delay before each answer")
    parser.add_argument(
        "--fault-rate", type=float, default=0.0, help="chance a request meets a fault"
    )
    parser.add_argument(
        "--faults",
        default="",
        help=f"comma-separated faults: {','.join(FAULTS)}",
    )
    parser.add_argument("--policy", default="random", help="random, first or scripted:FILE")
    parser.add_argument("--seed", type=int, default=0, help="seed of the random policy and faults")
    parser.add_argument("--retry-after", type=float, default=1.0, help="retry-after of a 429 (s)")
    parser.add_argument("--hang-s", type=float, default=30.0, help="how long a timeout fault holds")
    parser.add_argument(
        "--min-cache-tokens",
        type=int,
        default=None,
        help="shortest cached prefix (default: the model's minimum cacheable length)",
    )
    parser.add_argument(
        "--retry-after-date",
        action="store_true",
        help="send retry-after as an HTTP date, not seconds",
    )
    parser.add_argument(
        "--rpm", type=int, default=None, help="requests per minute allowed (default: no limit)"
    )
    parser.add_argument(
        "--itpm", type=int, default=None, help="input tokens per minute allowed (default: none)"
    )
    parser.add_argument(
        "--chat-mode",
        default="openai",
        choices=CHAT_MODES,
        help="how /v1/chat/completions behaves: openai (strict), vllm_no_parser, "
        "llamacpp_no_jinja or ollama; default openai",
    )
    parser.add_argument(
        "--no-usage",
        action="store_true",
        help="leave usage out of chat-completions answers (as some servers do)",
    )
    parser.add_argument("--verbose", action="store_true", help="log every request")
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Run the fake API until interrupted (``wsb fake-api`` and ``python -m``)."""
    args = build_parser().parse_args(list(argv) if argv is not None else None)
    logging.basicConfig(level=logging.DEBUG if args.verbose else logging.INFO, format="%(message)s")
    try:
        server = serve(
            args.port,
            latency_ms=args.latency_ms,
            fault_rate=args.fault_rate,
            faults=args.faults,
            policy=args.policy,
            seed=args.seed,
            retry_after_s=args.retry_after,
            hang_s=args.hang_s,
            min_cache_tokens=args.min_cache_tokens,
            chat_mode=args.chat_mode,
            chat_usage=not args.no_usage,
            retry_after_date=args.retry_after_date,
            rate_limit_rpm=args.rpm,
            rate_limit_itpm=args.itpm,
        )
    except (ValueError, OSError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    # The one line a script waits for: where to point ANTHROPIC_BASE_URL.
    print(f"fake Messages API listening on {server.url}", flush=True)
    try:
        server.serve_forever(poll_interval=0.2)
    except KeyboardInterrupt:
        pass
    finally:
        server.state.stopping.set()
        server.server_close()
    return 0


if __name__ == "__main__":
    sys.exit(main())
