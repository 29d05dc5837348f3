"""The fake's rate limits behave like the API's: headers on every answer, 429 past the limit.

Rate-limits docs: a token bucket per limit, replenished continuously; every response carries
``anthropic-ratelimit-{requests,input-tokens}-{limit,remaining,reset}`` (reset in RFC 3339);
a 429 ``rate_limit_error`` carries ``retry-after``.
"""

from __future__ import annotations

import time
from datetime import UTC, datetime
from email.utils import parsedate_to_datetime
from typing import Any

import anthropic
import pytest

from sandbox.llm.fake_server import FakeOptions, fetch_json

REQUEST: dict[str, Any] = {
    "model": "claude-haiku-4-5",
    "max_tokens": 50,
    "messages": [{"role": "user", "content": "Pick one."}],
}


def sdk(url: str) -> anthropic.Anthropic:
    return anthropic.Anthropic(api_key="k", base_url=url, max_retries=0)


def test_requests_per_minute_headers_then_a_429_then_recovery(make_fake_api: Any):
    url = make_fake_api(rate_limit_rpm=3)
    client = sdk(url)
    remaining = []
    for _ in range(3):
        raw = client.messages.with_raw_response.create(**REQUEST)
        assert raw.headers["anthropic-ratelimit-requests-limit"] == "3"
        remaining.append(int(raw.headers["anthropic-ratelimit-requests-remaining"]))
        reset = datetime.strptime(
            raw.headers["anthropic-ratelimit-requests-reset"], "%Y-%m-%dT%H:%M:%SZ"
        ).replace(tzinfo=UTC)
        assert 0 <= (reset - datetime.now(UTC)).total_seconds() <= 61
    assert remaining == [2, 1, 0]
    with pytest.raises(anthropic.RateLimitError) as info:
        client.messages.create(**REQUEST)
    error = info.value
    assert error.status_code == 429
    assert isinstance(error.body, dict) and error.body["error"]["type"] == "rate_limit_error"
    assert 1 <= int(error.response.headers["retry-after"]) <= 20
    assert error.response.headers["anthropic-ratelimit-requests-remaining"] == "0"
    fetch_json(url, "/_clock", method="POST", payload={"advance_s": 60})
    assert client.messages.create(**REQUEST).content
    assert fetch_json(url, "/_stats")["notes"]["rate_limited"] == 1


def test_input_tokens_per_minute_count_uncached_input(make_fake_api: Any):
    url = make_fake_api(rate_limit_itpm=1000)
    client = sdk(url)
    long = {**REQUEST, "messages": [{"role": "user", "content": "word " * 1200}]}
    raw = client.messages.with_raw_response.create(**long)
    assert raw.headers["anthropic-ratelimit-input-tokens-limit"] == "1000"
    with pytest.raises(anthropic.RateLimitError):
        client.messages.create(**REQUEST)


def test_retry_after_as_an_http_date(make_fake_api: Any):
    url = make_fake_api(faults="429", fault_rate=1.0, retry_after_s=30, retry_after_date=True)
    with pytest.raises(anthropic.RateLimitError) as info:
        sdk(url).messages.create(**REQUEST)
    when = parsedate_to_datetime(info.value.response.headers["retry-after"])
    assert 25 <= when.timestamp() - time.time() <= 35


def test_no_limit_no_headers_and_bad_limits_refused(make_fake_api: Any):
    raw = sdk(make_fake_api()).messages.with_raw_response.create(**REQUEST)
    assert not [h for h in raw.headers if h.startswith("anthropic-ratelimit-")]
    with pytest.raises(ValueError, match="rate_limit_rpm"):
        FakeOptions(rate_limit_rpm=0)
