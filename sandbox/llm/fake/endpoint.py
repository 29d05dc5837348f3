"""The HTTP plumbing every endpoint of the fake shares: replies, errors, counting, faults."""

from __future__ import annotations

import json
import logging
import time
from collections.abc import Mapping
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

from sandbox.llm.fake.messages_rules import RequestRejected
from sandbox.llm.fake.state import FakeState

log = logging.getLogger(__name__)

_ERROR_TYPES = {
    400: "invalid_request_error",
    401: "authentication_error",
    404: "not_found_error",
    429: "rate_limit_error",
    500: "api_error",
    529: "overloaded_error",
}


class StateServer(ThreadingHTTPServer):
    """An HTTP server that carries the fake's :class:`FakeState`."""

    state: FakeState


class Endpoint(BaseHTTPRequestHandler):
    """The plumbing of one connection: replies, errors, counters and the faults that replace an
    answer. The endpoints (``MessagesEndpoint``, ``ChatEndpoint``) build on it."""

    server: StateServer
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

    def _fault_counted(self, fault: str) -> None:
        with self.state.lock:
            self.state.fault_counts[fault] += 1

    def _rejected_forced_choice(self, forced: bool, message: str, *, openai: bool) -> bool:
        """The ``reject_forced_tool_choice`` fault: a 400 for a forced tool choice, as newer
        models give; True when the request was refused."""
        if not forced or "reject_forced_tool_choice" not in self.state.options.faults:
            return False
        self._fault_counted("reject_forced_tool_choice")
        self._error(400, message, openai=openai)
        return True

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
