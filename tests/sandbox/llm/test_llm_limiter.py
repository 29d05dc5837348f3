"""The shared rate limiter: a continuously refilled token bucket for requests and tokens."""

from __future__ import annotations

import asyncio
import time

from sandbox.llm.limiter import RateLimiter


def test_unlimited_never_waits():
    limiter = RateLimiter()
    assert limiter.unlimited
    assert asyncio.run(limiter.acquire(10**9)) == 0.0


def test_requests_per_minute_bound_any_window():
    limiter = RateLimiter(requests_per_minute=600)  # 10/s, bursts of 10
    grants: list[float] = []

    async def worker() -> None:
        for _ in range(5):
            await limiter.acquire()
            grants.append(time.monotonic())

    async def main() -> None:
        await asyncio.gather(*(worker() for _ in range(6)))

    start = time.monotonic()
    asyncio.run(main())
    elapsed = time.monotonic() - start
    assert len(grants) == 30
    assert elapsed >= (30 - 10) / 10 * 0.95
    grants.sort()
    for i, t in enumerate(grants):
        in_window = sum(1 for g in grants[i:] if g < t + 0.5)
        assert in_window <= 10 + 5 + 1


def test_tokens_per_minute_and_settle():
    limiter = RateLimiter(tokens_per_minute=60_000)  # 1000 tokens/s, bucket of 1000

    async def main() -> float:
        await limiter.acquire(1000)  # empties the bucket
        limiter.settle(1000, 200)  # the call used 200: 800 come back
        start = time.monotonic()
        await limiter.acquire(800)
        return time.monotonic() - start

    assert asyncio.run(main()) < 0.1


def test_oversized_call_waits_for_a_full_bucket_then_leaves_debt():
    limiter = RateLimiter(tokens_per_minute=6_000)  # 100 tokens/s, bucket of 100

    async def main() -> tuple[float, float]:
        first = await limiter.acquire(300)  # bucket full: goes, leaves -200
        second = await limiter.acquire(10)
        return first, second

    first, second = asyncio.run(main())
    assert first < 0.05 and 1.9 < second < 3.0


def test_fake_clock():
    now = [0.0]
    limiter = RateLimiter(requests_per_minute=60, clock=lambda: now[0])
    assert limiter.parameters() == {
        "requests_per_minute": 60,
        "tokens_per_minute": 0,
        "burst_s": 1.0,
        "server_holds": 0,  # no anthropic-ratelimit-* header has slowed it
    }
    assert asyncio.run(limiter.acquire()) == 0.0
    assert limiter.granted == 1


def test_a_late_response_never_raises_the_servers_count():
    # Calls sent at once come back in any order. CI met a 429 when the last response to come
    # back (counted by the server before the others) said 4 requests were left when none were,
    # and the limiter believed it.
    now = [0.0]
    limiter = RateLimiter(clock=lambda: now[0])
    for _ in range(3):
        asyncio.run(limiter.acquire())
    limiter.server_limits(requests=(1, None, 60))  # fresh: 1 left, 2 others still in flight
    assert limiter._server is not None and limiter._server.level == -1.0
    limiter.settle(0, 0)
    limiter.server_limits(requests=(5, None, 60))  # stale: counted before the first
    limiter.settle(0, 0)
    assert limiter._server.level == -1.0
    now[0] = 1.0  # a second at 60 a minute brings one back
    limiter.server_limits(requests=(0, None, 60))
    assert limiter._server.level == 0.0
    # Lower than the copy, refilled to 2 by now (another client of the organisation used
    # them): believed.
    now[0] = 3.0
    limiter.server_limits(requests=(0, None, 60))
    assert limiter._server.level == 0.0
    # A new limit (a tier change) starts a new copy.
    limiter.server_limits(requests=(40, None, 100))
    assert limiter._server.capacity == 100.0 and limiter._server.level == 40.0
