"""The fake's rate limits: token buckets replenished continuously, as the rate-limits docs say.

With ``--rpm`` or ``--itpm`` every Messages answer carries ``anthropic-ratelimit-*`` headers,
and a request past a limit gets a 429 with ``retry-after``.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable


class RateLimits:
    """The request and input-token buckets of one server.

    Args:
        rpm: Requests per minute (None: no limit).
        itpm: Input tokens per minute (None: no limit).
        lock: The server's lock, held while the buckets change.
        clock: The server's clock (see ``FakeState.now``).
    """

    def __init__(
        self,
        rpm: int | None,
        itpm: int | None,
        lock: threading.Lock,
        clock: Callable[[], float],
    ):
        self.lock = lock
        self.clock = clock
        #: Rate-limit buckets: name -> (capacity per minute, level, last refill on ``clock``).
        self.buckets: dict[str, list[float]] = {}
        for name, capacity in (("requests", rpm), ("input-tokens", itpm)):
            if capacity is not None:
                self.buckets[name] = [float(capacity), float(capacity), time.monotonic()]

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
            now = self.clock()
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
            self._refill("input-tokens", self.clock())
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
