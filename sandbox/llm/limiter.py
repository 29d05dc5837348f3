"""A rate limiter shared by every episode of a run: requests per minute and tokens per minute.

Two token buckets, refilled continuously (the way the Anthropic API meters its limits, rather
than in fixed minute windows). Each holds at most ``burst_s`` seconds' worth of its rate, so a
run starting 64 episodes at once does not fire a minute's allowance in the first instant and
meet 429s. A call waits until both buckets can pay for it; waiters are served in arrival order,
so no episode starves. A call larger than a whole bucket is let through when the bucket is full
and leaves it in debt, which later calls wait out.

The token bucket is charged with an estimate before the call (input estimate plus
``max_tokens``) and corrected with the real count afterwards (:meth:`RateLimiter.settle`).

The server's own count comes first where it says one: the Messages API reports, with every
response, its limits, what is left and when they are restored (``anthropic-ratelimit-*``
headers). :meth:`RateLimiter.server_limits` keeps a local copy of the server's request bucket
(what is left, less the calls still in flight, refilled at ``limit`` a minute; a response's
count only ever lowers it, since concurrent calls come back out of order and a late one is
stale) and lets calls through only as requests come back; a token limit too low for one more
call holds new calls until enough is back. So a low tier (50 requests a minute) with many
episodes at once waits instead of using up its retries on 429s.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable
from dataclasses import dataclass, field


@dataclass
class _Bucket:
    """One continuously refilled bucket; ``rate`` per second, at most ``capacity``."""

    rate: float
    capacity: float
    level: float = 0.0
    stamp: float = 0.0

    def refill(self, now: float) -> None:
        self.level = min(self.capacity, self.level + (now - self.stamp) * self.rate)
        self.stamp = now

    def wait_for(self, amount: float) -> float:
        """Seconds until ``amount`` (capped at a full bucket) can be paid."""
        need = min(amount, self.capacity) - self.level
        return max(0.0, need / self.rate)


def _wait_for(limit: tuple[int, float | None, int | None], need: float) -> float:
    """Seconds until ``need`` of a server limit ``(remaining, reset_s, limit)`` is available."""
    remaining, reset_s, capacity = limit
    if remaining >= need:
        return 0.0
    reset_s = reset_s if reset_s is not None else 1.0
    if capacity:
        rate = capacity / 60.0  # the limits are per minute, replenished continuously
        return min(reset_s, (need - remaining) / rate)
    return reset_s


@dataclass
class RateLimiter:
    """Requests-per-minute and tokens-per-minute limits for all episodes of a run.

    Args:
        requests_per_minute: Most requests a minute; 0 for no limit.
        tokens_per_minute: Most tokens a minute; 0 for no limit.
        burst_s: How many seconds of each rate may be spent at once.
        clock: Monotonic clock in seconds (a test may pass its own).
    """

    requests_per_minute: float = 0
    tokens_per_minute: float = 0
    burst_s: float = 1.0
    clock: Callable[[], float] = time.monotonic
    waited_s: float = 0.0
    granted: int = 0
    #: Calls held back by the server's rate-limit headers, and the longest hold.
    server_holds: int = 0
    max_hold_s: float = 60.0
    in_flight: int = 0
    _hold_until: float = field(default=0.0, init=False, repr=False)
    _server: _Bucket | None = field(default=None, init=False, repr=False)
    _last_tokens: float = field(default=0.0, init=False, repr=False)
    _requests: _Bucket | None = field(default=None, init=False, repr=False)
    _tokens: _Bucket | None = field(default=None, init=False, repr=False)
    _lock: asyncio.Lock | None = field(default=None, init=False, repr=False)

    def __post_init__(self) -> None:
        now = self.clock()
        if self.requests_per_minute > 0:
            rate = self.requests_per_minute / 60.0
            cap = max(1.0, rate * self.burst_s)
            self._requests = _Bucket(rate, cap, cap, now)
        if self.tokens_per_minute > 0:
            rate = self.tokens_per_minute / 60.0
            cap = max(1.0, rate * self.burst_s)
            self._tokens = _Bucket(rate, cap, cap, now)

    @property
    def unlimited(self) -> bool:
        """Whether neither limit is set (``acquire`` returns at once)."""
        return self._requests is None and self._tokens is None

    async def acquire(self, tokens: int = 0) -> float:
        """Wait until one request of about ``tokens`` tokens may be sent; returns the wait.

        Args:
            tokens: Estimated tokens of the call (input estimate plus ``max_tokens``).
        """
        self._last_tokens = float(tokens)
        if self.unlimited and self._server is None and self._hold_until <= self.clock():
            self.granted += 1
            self.in_flight += 1
            return 0.0
        if self._lock is None:
            # Created lazily so that the limiter can be built outside a running event loop.
            self._lock = asyncio.Lock()
        start = self.clock()
        # One waiter at a time holds the lock while it sleeps: arrival order is service order.
        async with self._lock:
            held = False
            while True:
                now = self.clock()
                delay = max(0.0, self._hold_until - now)
                for bucket, amount in (
                    (self._requests, 1.0),
                    (self._tokens, float(tokens)),
                    (self._server, 1.0),
                ):
                    if bucket is not None:
                        bucket.refill(now)
                        wait = bucket.wait_for(amount)
                        if wait > 0 and bucket is self._server and not held:
                            held = True
                            self.server_holds += 1  # a call the server's headers held back
                        delay = max(delay, wait)
                if delay <= 0.0:
                    break
                await asyncio.sleep(delay)
            if self._requests is not None:
                self._requests.level -= 1.0
            if self._tokens is not None:
                self._tokens.level -= float(tokens)
            if self._server is not None:
                self._server.level -= 1.0
            self.granted += 1
            self.in_flight += 1
        waited = self.clock() - start
        self.waited_s += waited
        return waited

    def server_limits(
        self,
        *,
        requests: tuple[int, float | None, int | None] | None = None,
        tokens: list[tuple[int, float | None, int | None]] | None = None,
    ) -> None:
        """What the server says is left: hold new requests while too little is.

        Each limit is ``(remaining, seconds until fully replenished, limit)`` as the
        ``anthropic-ratelimit-*-remaining``, ``-reset`` and ``-limit`` headers say. The API
        replenishes continuously, so the hold lasts until enough is back for the calls already
        in flight and one more (at the rate the headers imply), not until the full reset.

        Args:
            requests: The requests limit.
            tokens: Each token limit reported (tokens, input tokens, output tokens).
        """
        hold = 0.0
        if requests is not None:
            remaining, _reset, capacity = requests
            # The calls in flight were let through already and will count against what is
            # left (this response's own call is counted in ``remaining`` already).
            level = remaining - max(0, self.in_flight - 1)
            if capacity:
                # A local copy of the server's bucket: ``limit`` a minute, replenished
                # continuously (the reset stamps have whole-second resolution, too coarse to
                # derive a rate from), so that calls waiting for requests to come back are let
                # through one by one, not all at once.
                now = self.clock()
                server = self._server
                if server is not None and server.capacity == float(capacity):
                    # Requests run at once come back in any order: a response the server
                    # counted before others already seen says more is left than there is.
                    # So a count may lower the copy (the server counted calls it did not
                    # know of) but never raise it; it comes back up by refilling.
                    server.refill(now)
                    server.level = min(server.level, float(level))
                else:
                    self._server = _Bucket(capacity / 60.0, float(capacity), float(level), now)
            else:
                hold = max(hold, _wait_for(requests, self.in_flight + 1.0))
        # Tokens: hold only when not even one more call of the last one's size fits. (The
        # estimate counts the whole prompt, and cache reads do not count against the input
        # limit on the API, so a multiple of it would hold runs that have room.)
        need = self._last_tokens
        for limit in tokens or []:
            if need:
                hold = max(hold, _wait_for(limit, need))
        if hold <= 0.0:
            return
        until = self.clock() + min(hold, self.max_hold_s)
        if until > self._hold_until:
            self._hold_until = until
            self.server_holds += 1

    def settle(self, estimated: int, actual: int) -> None:
        """Correct the token bucket once a call's real token count is known (and count the
        call as no longer in flight)."""
        self.in_flight = max(0, self.in_flight - 1)
        if self._tokens is not None:
            self._tokens.refill(self.clock())
            self._tokens.level = min(self._tokens.capacity, self._tokens.level + estimated - actual)

    def parameters(self) -> dict[str, float | int]:
        """The limits, for ``run.json``."""
        return {
            "requests_per_minute": self.requests_per_minute,
            "tokens_per_minute": self.tokens_per_minute,
            "burst_s": self.burst_s,
            "server_holds": self.server_holds,
        }
