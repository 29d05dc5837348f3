"""The fake's HTTP server, its routes, and the command line (``wsb fake-api``).

Run it with ``wsb fake-api --port 8765`` or ``python -m sandbox.llm.fake_server --port 8765``;
tests and benchmarks use :func:`start_in_thread`.
"""

from __future__ import annotations

import argparse
import json
import logging
import sys
import threading
import time
from collections.abc import Callable, Mapping, Sequence
from typing import Any

from sandbox.llm.fake.chat import ChatEndpoint
from sandbox.llm.fake.endpoint import StateServer
from sandbox.llm.fake.messages import MessagesEndpoint
from sandbox.llm.fake.messages_rules import RequestRejected, check_messages_request
from sandbox.llm.fake.options import CHAT_MODES, FAULTS, HOST, FakeOptions
from sandbox.llm.fake.prompt_cache import prompt_blocks, tokens
from sandbox.llm.fake.state import FakeState


class FakeServer(StateServer):
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


class FakeHandler(MessagesEndpoint, ChatEndpoint):
    """One connection; requests on it are served in turn."""

    protocol_version = "HTTP/1.1"
    server_version = "welfare-sandbox-fake-api/1"
    timeout = 120  # an idle keep-alive connection is closed after this
    server: FakeServer

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
            total = sum(tokens(b.text) for b in prompt_blocks(body))
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
