"""Prompt-cache accounting, as the prompt-caching docs describe it.

A prefix (tools, system, messages, in that order; ``tool_choice`` and ``thinking`` changes
invalidate the messages) is read back only when byte-identical up to a breakpoint found within
20 blocks, at least the model's minimum cacheable length, and younger than its TTL (5 minutes,
or 1 hour; reads refresh it). Caches are per model.
"""

from __future__ import annotations

import hashlib
import json
import threading
from collections import OrderedDict
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, NamedTuple

CACHE_LOOKBACK_BLOCKS = 20
#: Lifetimes of a cache entry (prompt-caching docs: 5 minutes by default, or 1 hour).
CACHE_TTL_SECONDS = {"5m": 300.0, "1h": 3600.0}


@dataclass(frozen=True)
class PromptBlock:
    """One block of a prompt, as the prompt cache sees it.

    Attributes:
        text: The block's canonical JSON, without its ``cache_control``.
        ttl: ``"5m"`` or ``"1h"`` when the block carries a breakpoint; None otherwise.
        salt: Request settings hashed into the prefix from here on but not counted as tokens
            (``tool_choice`` and ``thinking``, which invalidate the cached messages).
    """

    text: str
    ttl: str | None = None
    salt: str = ""


class CacheUsage(NamedTuple):
    """Token counts of one request, as the API's ``usage`` reports them."""

    input_tokens: int
    cache_creation_input_tokens: int
    cache_read_input_tokens: int
    #: Of the creation tokens, those written with a 1-hour TTL (billed at 2x, not 1.25x).
    cache_creation_1h: int = 0


def tokens(text: str) -> int:
    """A plausible token count: about one token per four characters."""
    return max(1, len(text) // 4)


def canon(value: Any) -> str:
    """``value`` as canonical JSON (sorted keys, no spaces), the form the cache hashes."""
    return json.dumps(value, sort_keys=True, separators=(",", ":"), ensure_ascii=False)


def ttl_of(block: Mapping[str, Any]) -> str | None:
    """The TTL of a block's ``cache_control`` breakpoint, or None when it carries none."""
    control = block.get("cache_control")
    if not isinstance(control, Mapping):
        return None
    return str(control.get("ttl") or "5m")


def prompt_blocks(body: Mapping[str, Any]) -> list[PromptBlock]:
    """The prompt of a Messages request as the cache sees it, in order: tools, system, messages.

    ``tool_choice`` and ``thinking`` are hashed in (not counted) where the messages begin: the
    prompt-caching docs list both among the changes that invalidate cached message blocks
    (tool definitions invalidate everything, being first).
    """

    def entry(block: Any, prefix: str) -> PromptBlock:
        if isinstance(block, Mapping):
            clean = {k: v for k, v in block.items() if k != "cache_control"}
            return PromptBlock(prefix + canon(clean), ttl_of(block))
        return PromptBlock(prefix + canon(block))

    blocks = [entry(tool, "tool:") for tool in body.get("tools") or []]
    system = body.get("system")
    if isinstance(system, str) and system:
        blocks.append(PromptBlock("system:" + canon(system)))
    elif isinstance(system, list):
        blocks.extend(entry(b, "system:") for b in system)
    salt = "settings:" + canon([body.get("tool_choice"), body.get("thinking")])
    first_message = True
    for message in body.get("messages") or []:
        role = str(message.get("role", "")) + ":"
        content = message.get("content")
        parts = (
            [entry(b, role) for b in content]
            if isinstance(content, list)
            else [PromptBlock(role + canon(content))]
        )
        for part in parts:
            if first_message:
                part = PromptBlock(part.text, part.ttl, salt)
                first_message = False
            blocks.append(part)
    top = body.get("cache_control")
    if isinstance(top, Mapping) and blocks:
        # Top-level cache_control: automatic caching, a breakpoint on the last block.
        last = blocks[-1]
        blocks[-1] = PromptBlock(last.text, str(top.get("ttl") or "5m"), last.salt)
    return blocks


class PromptCache:
    """The cached prefixes of one server: an LRU of digests, each with its expiry and TTL.

    Args:
        size: How many prefixes the LRU keeps.
        lock: The server's lock, held while the entries are read and written.
        clock: The server's clock (see ``FakeState.now``).
    """

    def __init__(self, size: int, lock: threading.Lock, clock: Callable[[], float]):
        self.size = size
        self.lock = lock
        self.clock = clock
        #: Cached prefix digest -> (expiry on ``clock``, TTL in seconds, when it was written).
        self.prefixes: OrderedDict[str, tuple[float, float, float]] = OrderedDict()

    def clear(self) -> None:
        """Forget every entry (the caller holds the lock)."""
        self.prefixes.clear()

    def usage(
        self, prompt: Sequence[PromptBlock], *, model: str, minimum: int, arrived: float | None
    ) -> CacheUsage:
        """The usage of ``prompt``, reading and writing the entries it reaches.

        Args:
            prompt: The prompt's blocks in order.
            model: The model id (caches are not shared between models).
            minimum: Shortest prefix written to the cache.
            arrived: When the request arrived; entries written after it are not read.
        """
        cumulative: list[int] = []
        digests: list[str] = []
        running = hashlib.sha256(f"model={model}\x1e".encode())
        total = 0
        for block in prompt:
            total += tokens(block.text)
            cumulative.append(total)
            running.update(block.salt.encode("utf-8"))
            running.update(block.text.encode("utf-8"))
            running.update(b"\x1e")
            digests.append(running.copy().hexdigest())
        breakpoints = [i for i, block in enumerate(prompt) if block.ttl is not None]
        if not breakpoints:
            return CacheUsage(total, 0, 0)
        candidates: set[int] = set()
        for bp in breakpoints:
            candidates.update(range(max(0, bp - CACHE_LOOKBACK_BLOCKS), bp + 1))
        with self.lock:
            now = self.clock()
            read_at = -1
            for i in sorted(candidates, reverse=True):
                entry = self.prefixes.get(digests[i])
                if entry is None:
                    continue
                expiry, ttl_s, written = entry
                if expiry <= now:
                    del self.prefixes[digests[i]]
                    continue
                if arrived is not None and written > arrived:
                    continue  # still being written by a request that came in after this one
                read_at = i
                # A read refreshes the entry.
                self.prefixes[digests[i]] = (now + ttl_s, ttl_s, written)
                self.prefixes.move_to_end(digests[i])
                break
            read = cumulative[read_at] if read_at >= 0 else 0
            written_to = read
            by_ttl = {"5m": 0, "1h": 0}
            for bp in breakpoints:
                ttl = str(prompt[bp].ttl)
                if cumulative[bp] < minimum:
                    continue
                ttl_s = CACHE_TTL_SECONDS[ttl]
                old = self.prefixes.get(digests[bp])
                if old is None or old[0] <= now:
                    self.prefixes[digests[bp]] = (now + ttl_s, ttl_s, now)
                elif old[0] < now + ttl_s:
                    self.prefixes[digests[bp]] = (now + ttl_s, ttl_s, old[2])
                self.prefixes.move_to_end(digests[bp])
                if cumulative[bp] > written_to:
                    by_ttl[ttl] += cumulative[bp] - written_to
                    written_to = cumulative[bp]
            while len(self.prefixes) > self.size:
                self.prefixes.popitem(last=False)
        creation = written_to - read
        return CacheUsage(total - read - creation, creation, read, by_ttl["1h"])
