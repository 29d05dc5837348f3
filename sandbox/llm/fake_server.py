"""A loopback fake of the Anthropic Messages API (and of chat completions), for offline use.

It is a real HTTP server on 127.0.0.1, so the real ``anthropic`` (and ``openai``) SDK talks to
it exactly as to the real service: nothing in the client is mocked. Endpoints:

- ``POST /v1/messages``: JSON, or server-sent events when ``"stream": true`` (the real event
  sequence: ``message_start``, ``content_block_start``, ``ping``, ``content_block_delta``,
  ``content_block_stop``, ``message_delta``, ``message_stop``).
- ``POST /v1/messages/count_tokens``: ``{"input_tokens": n}``.
- ``POST /v1/chat/completions``: the OpenAI-compatible shape (function tools).
- ``GET /_stats``: ``{"requests": n, "by_path": {...}, "by_status": {...}, "faults": {...}}``;
  ``GET /_requests``: the request bodies received (never headers); ``POST /_reset``.

The answer is a tool call chosen by a policy among the tools offered, with input valid for the
tool's schema (enums, integer ranges, required strings):

- ``random``: seeded by ``--seed`` and the request itself, so the same request always gets the
  same answer whatever the order requests arrive in;
- ``first``: the first tool, its first choices;
- ``scripted:FILE``: a JSON or YAML list of ``{tool, input}``, ``{text}`` or ``{fault}``
  entries, used in turn and cycled.

Usage is plausible: about one token per four characters of JSON. With ``cache_control``
breakpoints, a prefix that an earlier request wrote (a bounded LRU of prefix hashes, looked up
at block boundaries up to 20 blocks before each breakpoint, as the real API does) is counted as
``cache_read_input_tokens`` and the rest up to the last breakpoint as
``cache_creation_input_tokens``.

Faults (``--faults``, each request drawing one with probability ``--fault-rate``): ``429``
(with ``retry-after``), ``529``, ``500``, ``timeout`` (holds the request, then drops it),
``text_only`` (answers in words), ``refusal``, ``max_tokens``, ``malformed`` (a broken body).
``reject_forced_tool_choice`` is not random: like newer models, every request with a forced
tool choice (``any``/``tool``; ``required`` on chat completions) gets a 400
``invalid_request_error``. Errors use the API's JSON error shape.

Run it with ``wsb fake-api --port 8765`` or ``python -m sandbox.llm.fake_server --port 8765``;
tests and benchmarks use :func:`start_in_thread`.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import logging
import random
import sys
import threading
import time
from collections import Counter, OrderedDict, deque
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

log = logging.getLogger(__name__)

HOST = "127.0.0.1"
RANDOM_FAULTS = ("429", "529", "500", "timeout", "text_only", "refusal", "max_tokens", "malformed")
FAULTS = (*RANDOM_FAULTS, "reject_forced_tool_choice")
POLICIES = ("random", "first", "scripted:FILE")
#: Blocks before a breakpoint that the real API checks for an earlier cache entry.
CACHE_LOOKBACK_BLOCKS = 20

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
        hang_s: How long a ``timeout`` fault holds the request before dropping it.
        min_cache_tokens: Shortest prefix that is cached (the real API's minimum; 0 for none).
        keep_bodies: How many request bodies ``GET /_requests`` keeps.
        prefix_cache_size: How many cached prefixes the LRU keeps.
    """

    latency_ms: float = 0.0
    fault_rate: float = 0.0
    faults: tuple[str, ...] = ()
    policy: str = "random"
    seed: int = 0
    retry_after_s: float = 1.0
    hang_s: float = 30.0
    min_cache_tokens: int = 0
    keep_bodies: int = 20000
    prefix_cache_size: int = 8192

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
        self.prefixes: OrderedDict[str, None] = OrderedDict()
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

    # -- prompt cache --------------------------------------------------------------------------
    def cache_usage(self, blocks: list[tuple[str, bool]]) -> tuple[int, int, int]:
        """(input, cache_creation, cache_read) tokens of a prompt made of ``blocks``.

        ``blocks`` are (canonical JSON without cache_control, carries a breakpoint) in prompt
        order: tools, system, messages.
        """
        cumulative: list[int] = []
        digests: list[str] = []
        running = hashlib.sha256()
        total = 0
        for text, _ in blocks:
            total += _tokens(text)
            cumulative.append(total)
            running.update(text.encode("utf-8"))
            running.update(b"\x1e")
            digests.append(running.copy().hexdigest())
        breakpoints = [i for i, (_, marked) in enumerate(blocks) if marked]
        if not breakpoints:
            return total, 0, 0
        minimum = self.options.min_cache_tokens
        candidates: set[int] = set()
        for bp in breakpoints:
            candidates.update(range(max(0, bp - CACHE_LOOKBACK_BLOCKS), bp + 1))
        last = breakpoints[-1]
        with self.lock:
            read_at = -1
            for i in sorted(candidates, reverse=True):
                if digests[i] in self.prefixes and cumulative[i] >= minimum:
                    read_at = i
                    self.prefixes.move_to_end(digests[i])
                    break
            for bp in breakpoints:
                if cumulative[bp] >= minimum:
                    self.prefixes[digests[bp]] = None
                    self.prefixes.move_to_end(digests[bp])
            while len(self.prefixes) > self.options.prefix_cache_size:
                self.prefixes.popitem(last=False)
        read = cumulative[read_at] if read_at >= 0 else 0
        cacheable = cumulative[last] if cumulative[last] >= minimum else 0
        creation = max(0, cacheable - read)
        return total - read - creation, creation, read


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


def _blocks_of_messages_request(body: Mapping[str, Any]) -> list[tuple[str, bool]]:
    """The prompt as (canonical block, has cache_control) in order: tools, system, messages."""

    def entry(block: Any, prefix: str = "") -> tuple[str, bool]:
        if isinstance(block, Mapping):
            marked = "cache_control" in block and block["cache_control"] is not None
            clean = {k: v for k, v in block.items() if k != "cache_control"}
            return prefix + _canon(clean), marked
        return prefix + _canon(block), False

    blocks = [entry(tool, "tool:") for tool in body.get("tools") or []]
    system = body.get("system")
    if isinstance(system, str) and system:
        blocks.append(("system:" + _canon(system), False))
    elif isinstance(system, list):
        blocks.extend(entry(b, "system:") for b in system)
    for message in body.get("messages") or []:
        role = str(message.get("role", "")) + ":"
        content = message.get("content")
        if isinstance(content, list):
            blocks.extend(entry(b, role) for b in content)
        else:
            blocks.append((role + _canon(content), False))
    if body.get("cache_control") and blocks:
        # Top-level cache_control: automatic caching at the last block.
        blocks[-1] = (blocks[-1][0], True)
    return blocks


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
        self.send_header("request-id", f"req_fake_{self.state.next_id():08d}")
        for name, value in (headers or {}).items():
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
        if openai:
            payload: dict[str, Any] = {
                "error": {"message": message, "type": error_type, "param": None, "code": None}
            }
        else:
            payload = {"type": "error", "error": {"type": error_type, "message": message}}
        self._send(status, payload, headers)

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
        if path == "/v1/messages/count_tokens":
            total = sum(_tokens(t) for t, _ in _blocks_of_messages_request(body))
            self._send(200, {"input_tokens": total})
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
        for name in ("model", "max_tokens", "messages"):
            if name not in body:
                self._error(400, f"{name}: Field required")
                return
        tool_choice = body.get("tool_choice") or {"type": "auto"}
        choice_type = tool_choice.get("type") if isinstance(tool_choice, Mapping) else None
        if "reject_forced_tool_choice" in state.options.faults and choice_type in ("any", "tool"):
            self._fault_counted("reject_forced_tool_choice")
            self._error(
                400,
                f"tool_choice.type '{choice_type}' is not supported for this model; use "
                'tool_choice {"type": "auto"}',
            )
            return
        tools = [t for t in body.get("tools") or [] if isinstance(t, Mapping)]
        answer = choose(
            state,
            tools,
            tool_choice.get("name") if choice_type == "tool" else None,
            choice_type != "none",
            # Streamed or not, the same request gets the same answer.
            _canon({k: v for k, v in body.items() if k != "stream"}),
        )
        fault = answer.fault or state.draw_fault()
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
        if fault in ("text_only", "refusal", "max_tokens"):
            self._fault_counted(fault)
        input_tokens, creation, read = state.cache_usage(_blocks_of_messages_request(body))
        output = min(int(body.get("max_tokens") or 1), max(1, len(_canon(answer.content)) // 4 + 8))
        if answer.stop_reason == "max_tokens":
            output = int(body.get("max_tokens") or 1)
        message: dict[str, Any] = {
            "id": f"msg_fake_{state.next_id():08d}",
            "type": "message",
            "role": "assistant",
            "model": str(body.get("model")),
            "content": answer.content,
            "stop_reason": answer.stop_reason,
            "stop_sequence": None,
            "usage": {
                "input_tokens": input_tokens,
                "output_tokens": output,
                "cache_creation_input_tokens": creation,
                "cache_read_input_tokens": read,
            },
        }
        if answer.stop_reason == "refusal":
            message["stop_details"] = {"type": "refusal", "category": None, "explanation": None}
        if body.get("stream"):
            self._stream(message)
        else:
            self._send(200, message)

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
            headers = {"retry-after": f"{options.retry_after_s:g}"} if status == 429 else None
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
        for name in ("model", "messages"):
            if name not in body:
                self._error(400, f"{name} is required", openai=True)
                return
        if body.get("stream"):
            self._error(400, "stream is not supported by the fake chat endpoint", openai=True)
            return
        tool_choice = body.get("tool_choice", "auto")
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
        if fault in ("text_only", "refusal", "max_tokens"):
            self._fault_counted(fault)
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
        # point, and the longest earlier prompt it extends is read.
        blocks = [("tool:" + _canon(t), False) for t in body.get("tools") or []]
        blocks += [("message:" + _canon(m), False) for m in body.get("messages") or []]
        if blocks:
            blocks[-1] = (blocks[-1][0], True)
        input_tokens, creation, read = state.cache_usage(blocks)
        prompt = input_tokens + creation + read
        completion = max(1, len(_canon(message)) // 4)
        if finish == "length":
            completion = int(
                body.get("max_tokens") or body.get("max_completion_tokens") or completion
            )
        self._send(
            200,
            {
                "id": f"chatcmpl-fake-{state.next_id():08d}",
                "object": "chat.completion",
                "created": int(time.time()),
                "model": str(body.get("model")),
                "choices": [
                    {"index": 0, "message": message, "finish_reason": finish, "logprobs": None}
                ],
                "usage": {
                    "prompt_tokens": prompt,
                    "completion_tokens": completion,
                    "total_tokens": prompt + completion,
                    "prompt_tokens_details": {"cached_tokens": read},
                },
            },
        )


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


def fetch_json(base_url: str, path: str, *, method: str = "GET") -> Any:
    """GET (or POST) one of the fake's own routes (``/_stats``, ``/_requests``, ``/_reset``)."""
    from urllib.request import Request, urlopen

    request = Request(
        base_url.rstrip("/") + path, method=method, data=b"{}" if method == "POST" else None
    )
    with urlopen(request, timeout=10) as response:
        return json.loads(response.read().decode("utf-8"))


def build_parser() -> argparse.ArgumentParser:
    """The command-line flags of ``wsb fake-api``."""
    parser = argparse.ArgumentParser(
        prog="wsb fake-api",
        description="Serve a fake Anthropic Messages API on 127.0.0.1 for offline runs and tests.",
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
    parser.add_argument("--min-cache-tokens", type=int, default=0, help="shortest cached prefix")
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
