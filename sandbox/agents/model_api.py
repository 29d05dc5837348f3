"""What a provider adapter is, the data it hands the shared loop, and the one SDK-error classifier.

:mod:`sandbox.agents.model` runs the loop every model agent shares (as inspect_ai's ``Model``
does over a ``ModelAPI``); each provider is an :class:`ApiAdapter` that knows its wire format
only: the request body, one HTTP attempt, reading a response, and classifying a failed
attempt. The ``anthropic`` and ``openai`` SDKs raise parallel exception classes
(``APIStatusError``, ``APIConnectionError`` with its subclass ``APITimeoutError``,
``APIResponseValidationError``), so :func:`classify_sdk_error` maps either SDK's errors to one
:class:`CallFailure`; an adapter passes in its SDK module and what only it knows (a server's
words for "no tools", a hook for the response headers).

No SDK is imported here: an adapter passes its module in when it classifies.
"""

from __future__ import annotations

import email.utils
import json
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from types import ModuleType
from typing import Any, Protocol

from sandbox.agents.tools import ToolCall, ToolSpec
from sandbox.config import LLMAgentConfig
from sandbox.errors import SandboxError
from sandbox.records import Usage


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

    @classmethod
    def after(cls, model: str, failure: CallFailure, attempt: int) -> ModelCallFailed:
        """The error for a call whose last attempt (number ``attempt``) failed as ``failure``."""
        return cls(
            f"{model}: {failure.error_type}"
            + (f" (HTTP {failure.status})" if failure.status else "")
            + f" after {attempt} attempt{'s' if attempt > 1 else ''}: "
            + failure.message[:300],
            error_type=failure.error_type,
            status=failure.status,
            attempts=attempt,
            retryable=failure.retryable,
        )


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


def client_options(api_key: str, cfg: LLMAgentConfig) -> dict[str, Any]:
    """The keyword arguments both SDKs' async clients take: the key, the base URL, the timeout,
    and no retries of their own (the loop retries, so every attempt is counted and logged)."""
    return {
        "api_key": api_key,
        "base_url": cfg.base_url or None,
        "max_retries": 0,
        "timeout": cfg.timeout_s,
    }


def retryable_status(status: int) -> bool:
    """Whether an HTTP status is worth another attempt: timeout (408), conflict (409), rate
    limit (429) and any 5xx (529 overloaded included); the set both SDKs' own retries use."""
    return status in (408, 409, 429) or status >= 500


def classify_sdk_error(
    exc: BaseException,
    sdk: ModuleType,
    *,
    rejects_tools: Callable[[int, str], bool] | None = None,
    on_headers: Callable[[Mapping[str, str]], None] | None = None,
) -> CallFailure | None:
    """Classify a failed attempt raised by the ``anthropic`` or ``openai`` SDK.

    Both SDKs give a status error the response (``status_code``, ``response.headers``), the
    error body (``body``; the ``openai`` SDK passes the inner ``error`` object, the
    ``anthropic`` SDK the whole body, so the ``error`` member is read when there is one), and
    ``request_id`` (``request-id`` resp. ``x-request-id``). The ``anthropic`` SDK also reads the
    body itself (``api_message``, ``type``, ``error_code``); those come first when present.

    Args:
        exc: What the attempt raised.
        sdk: The SDK module (``anthropic`` or ``openai``) whose exception classes to match.
        rejects_tools: ``(status, message) -> bool``: whether an error says the server takes
            no tools at all (then it is not retried, nor read as a rejected forced choice).
        on_headers: Called with a status error's response headers (rate-limit headers).

    Returns:
        The failure, or ``None`` for an exception that is a bug, not the API.
    """
    if isinstance(exc, sdk.APIStatusError):
        status = int(exc.status_code)
        body = exc.body if isinstance(exc.body, dict) else {}
        inner = body.get("error", body)
        error: dict[str, Any] = inner if isinstance(inner, dict) else {}
        message = str(getattr(exc, "api_message", None) or error.get("message") or exc.message)
        error_type = getattr(exc, "type", None) or error.get("type") or f"http_{status}"
        code = str(getattr(exc, "error_code", None) or "")
        headers = exc.response.headers
        if on_headers is not None:
            on_headers(headers)
        no_tools = rejects_tools is not None and rejects_tools(status, message)
        return CallFailure(
            error_type=str(error_type),
            message=message,
            status=status,
            # e.g. llama.cpp's "tools param requires --jinja flag": a 500 no retry cures.
            retryable=not no_tools and retryable_status(status),
            retry_after=retry_after_from(headers),
            rejects_forced_tool_choice=not no_tools
            and status == 400
            and ("tool_choice" in message or "tool_choice" in code),
            rejects_tools=no_tools,
            request_id=getattr(exc, "request_id", None),
        )
    if isinstance(exc, sdk.APITimeoutError):
        return CallFailure("timeout", "the request timed out", retryable=True)
    if isinstance(exc, sdk.APIConnectionError):
        return CallFailure("connection_error", str(exc.message), retryable=True)
    if isinstance(exc, (MalformedResponse, json.JSONDecodeError, sdk.APIResponseValidationError)):
        return CallFailure("malformed_response", str(exc)[:300], retryable=True)
    return None
