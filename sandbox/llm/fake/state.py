"""The fake server's shared state: counters, recorded bodies, the script, cache and limits."""

from __future__ import annotations

import random
import threading
import time
from collections import Counter, deque
from collections.abc import Sequence
from typing import Any

from sandbox.llm.fake.answers import load_script
from sandbox.llm.fake.options import RANDOM_FAULTS, FakeOptions
from sandbox.llm.fake.prompt_cache import CacheUsage, PromptBlock, PromptCache
from sandbox.llm.fake.rate_limits import RateLimits
from sandbox.llm.models import model_info


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
        self.cache = PromptCache(options.prefix_cache_size, self.lock, self.now)
        self.clock_offset = 0.0
        self.limits = RateLimits(
            options.rate_limit_rpm, options.rate_limit_itpm, self.lock, self.now
        )
        self.notes: Counter[str] = Counter()
        self.ids = 0
        self.started = time.monotonic()
        self.script: list[dict[str, Any]] = []
        self.script_index = 0
        if options.policy.startswith("scripted:"):
            self.script = load_script(options.policy.split(":", 1)[1])

    def reset(self) -> None:
        """Forget the counters, the bodies, the prompt cache and the script's position."""
        with self.lock:
            self.requests = 0
            self.by_path.clear()
            self.by_status.clear()
            self.fault_counts.clear()
            self.bodies.clear()
            self.cache.clear()
            self.notes.clear()
            self.script_index = 0

    def next_id(self) -> int:
        """A new number for a message or request id."""
        with self.lock:
            self.ids += 1
            return self.ids

    def stats(self) -> dict[str, Any]:
        """What ``GET /_stats`` answers."""
        with self.lock:
            return {
                "requests": self.requests,
                "by_path": dict(self.by_path),
                "by_status": dict(self.by_status),
                "faults": dict(self.fault_counts),
                "notes": dict(self.notes),
            }

    def draw_fault(self) -> str | None:
        """A random fault for this request (``fault_rate``), or None."""
        random_faults = [f for f in self.options.faults if f in RANDOM_FAULTS]
        if not random_faults or self.options.fault_rate <= 0:
            return None
        with self.lock:
            if self.fault_rng.random() >= self.options.fault_rate:
                return None
            return self.fault_rng.choice(random_faults)

    def next_script_entry(self) -> dict[str, Any] | None:
        """The scripted policy's next entry (cycled), or None without a script."""
        if not self.script:
            return None
        with self.lock:
            entry = self.script[self.script_index % len(self.script)]
            self.script_index += 1
            return entry

    def take_request(self) -> tuple[float | None, dict[str, str]]:
        """Take one request from the rate-limit buckets: (seconds to wait when limited, headers)."""
        return self.limits.take_request()

    def spend_input_tokens(self, tokens: int) -> None:
        """Charge a served request's uncached input and cache writes to the input bucket."""
        self.limits.spend_input_tokens(tokens)

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
        return self.cache.usage(prompt, model=model, minimum=minimum, arrived=arrived)
