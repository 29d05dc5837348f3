"""The one classifier of SDK errors: both SDKs' parallel exceptions map to the same failures."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import httpx2
import pytest

from sandbox.agents.model_api import MalformedResponse, classify_sdk_error
from sandbox.agents.openai_compat import rejects_tools

anthropic = pytest.importorskip("anthropic")
openai = pytest.importorskip("openai")

URL = "http://127.0.0.1:9/v1/x"


def status_error(sdk: Any, status: int, kind: str, message: str, **headers: str) -> Exception:
    """``sdk``'s own exception for an error response, built as the SDK builds it: the
    ``anthropic`` SDK keeps the whole body, the ``openai`` SDK only its ``error`` member."""
    response = httpx2.Response(status, headers=headers, request=httpx2.Request("POST", URL))
    error = {"type": kind, "message": message}
    body = {"type": "error", "error": error} if sdk is anthropic else error
    cls = {400: sdk.BadRequestError, 429: sdk.RateLimitError}.get(status, sdk.InternalServerError)
    return cls(message, response=response, body=body)


@pytest.mark.parametrize("sdk", [anthropic, openai], ids=["anthropic", "openai"])
def test_a_rate_limit_is_retried_after_the_time_the_server_asked(sdk: Any):
    seen: list[Mapping[str, str]] = []
    exc = status_error(
        sdk,
        429,
        "rate_limit_error",
        "slow down",
        **{"retry-after": "2", "request-id": "req_a", "x-request-id": "req_a"},
    )
    failure = classify_sdk_error(exc, sdk, on_headers=seen.append)
    assert failure is not None
    assert (failure.error_type, failure.message, failure.status) == (
        "rate_limit_error",
        "slow down",
        429,
    )
    assert failure.retryable and failure.retry_after == 2.0
    assert failure.request_id == "req_a"  # what a support request about the failure needs
    assert not failure.rejects_forced_tool_choice and not failure.rejects_tools
    assert len(seen) == 1 and seen[0]["retry-after"] == "2"


@pytest.mark.parametrize("sdk", [anthropic, openai], ids=["anthropic", "openai"])
def test_a_rejected_forced_choice_is_a_fallback_not_a_retry(sdk: Any):
    exc = status_error(
        sdk, 400, "invalid_request_error", "tool_choice any is not supported by this model"
    )
    failure = classify_sdk_error(exc, sdk)
    assert failure is not None
    assert failure.rejects_forced_tool_choice and not failure.retryable


@pytest.mark.parametrize("sdk", [anthropic, openai], ids=["anthropic", "openai"])
def test_a_server_without_tools_is_not_retried(sdk: Any):
    # llama.cpp's llama-server without --jinja: a 500 that no retry cures.
    exc = status_error(sdk, 500, "server_error", "tools param requires --jinja flag")
    assert classify_sdk_error(exc, sdk).retryable  # type: ignore[union-attr]
    failure = classify_sdk_error(exc, sdk, rejects_tools=rejects_tools)
    assert failure is not None
    assert failure.rejects_tools and not failure.retryable
    assert not failure.rejects_forced_tool_choice


@pytest.mark.parametrize("sdk", [anthropic, openai], ids=["anthropic", "openai"])
def test_timeouts_drops_and_bad_bodies_are_retried_and_bugs_are_not_classified(sdk: Any):
    request = httpx2.Request("POST", URL)
    timeout = classify_sdk_error(sdk.APITimeoutError(request=request), sdk)
    dropped = classify_sdk_error(sdk.APIConnectionError(request=request), sdk)
    malformed = classify_sdk_error(MalformedResponse("the response is not a message"), sdk)
    assert timeout is not None and (timeout.error_type, timeout.retryable) == ("timeout", True)
    assert dropped is not None and (dropped.error_type, dropped.retryable) == (
        "connection_error",
        True,
    )
    assert malformed is not None and malformed.error_type == "malformed_response"
    assert classify_sdk_error(KeyError("a bug"), sdk) is None
