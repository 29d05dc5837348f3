"""The fake API's options and the names of its faults, policies and chat modes."""

from __future__ import annotations

from dataclasses import dataclass

HOST = "127.0.0.1"
RANDOM_FAULTS = (
    "429",
    "529",
    "500",
    "timeout",
    "text_only",
    "refusal",
    "max_tokens",
    "blank_text",
    "empty_turn",
    "malformed",
)
#: Faults that are not drawn at random but follow from the request.
RULE_FAULTS = ("reject_forced_tool_choice", "text_after_tool_result")
FAULTS = (*RANDOM_FAULTS, *RULE_FAULTS)
#: Faults that shape a 200 answer rather than replace it.
ANSWER_FAULTS = ("text_only", "refusal", "max_tokens", "blank_text", "empty_turn")
POLICIES = ("random", "first", "scripted:FILE")
CHAT_MODES = ("openai", "vllm_no_parser", "llamacpp_no_jinja", "ollama")


@dataclass
class FakeOptions:
    """How the fake behaves.

    Attributes:
        latency_ms: Delay before every answer.
        fault_rate: Chance that a request meets one of ``faults`` (drawn at random).
        faults: Fault kinds (see :mod:`sandbox.llm.fake`).
        policy: ``random``, ``first`` or ``scripted:FILE``.
        seed: Seed of the random policy and of fault draws.
        retry_after_s: The ``retry-after`` a 429 carries.
        retry_after_date: Send ``retry-after`` as an HTTP date rather than seconds (HTTP allows
            both; clients must read either).
        rate_limit_rpm: Requests per minute the Messages endpoint allows (None: no limit). Like
            the real API (rate-limits docs: a token bucket, replenished continuously), every
            answer then carries ``anthropic-ratelimit-requests-*`` headers and a request past
            the limit gets a 429 ``rate_limit_error`` with ``retry-after``.
        rate_limit_itpm: Input tokens per minute likewise (uncached input and cache writes
            count; cache reads do not), with ``anthropic-ratelimit-input-tokens-*`` headers.
        hang_s: How long a ``timeout`` fault holds the request before dropping it.
        min_cache_tokens: Shortest prefix that is cached. None (the default): the model's
            minimum cacheable length from :mod:`sandbox.llm.models`, as the real API does; an
            integer overrides it for every model (0: cache any length, kinder than the API).
        chat_mode: How ``/v1/chat/completions`` behaves: ``openai`` (strict, like OpenAI's
            API), ``vllm_no_parser``, ``llamacpp_no_jinja`` or ``ollama`` (see
            :mod:`sandbox.llm.fake`).
        chat_usage: False to leave ``usage`` out of chat-completions answers, as some servers do.
        keep_bodies: How many request bodies ``GET /_requests`` keeps.
        prefix_cache_size: How many cached prefixes the LRU keeps.
    """

    latency_ms: float = 0.0
    fault_rate: float = 0.0
    faults: tuple[str, ...] = ()
    policy: str = "random"
    seed: int = 0
    retry_after_s: float = 1.0
    retry_after_date: bool = False
    rate_limit_rpm: int | None = None
    rate_limit_itpm: int | None = None
    hang_s: float = 30.0
    min_cache_tokens: int | None = None
    keep_bodies: int = 20000
    prefix_cache_size: int = 8192
    chat_mode: str = "openai"
    chat_usage: bool = True

    def __post_init__(self) -> None:
        if isinstance(self.faults, str):
            self.faults = tuple(f for f in self.faults.split(",") if f)
        self.faults = tuple(str(f).strip() for f in self.faults if str(f).strip())
        unknown = [f for f in self.faults if f not in FAULTS]
        if unknown:
            raise ValueError(
                f"unknown fault(s) {', '.join(unknown)}; expected some of {', '.join(FAULTS)}"
            )
        if not 0.0 <= self.fault_rate <= 1.0:
            raise ValueError(f"fault_rate must be in [0, 1], got {self.fault_rate}")
        if self.policy not in ("random", "first") and not self.policy.startswith("scripted:"):
            raise ValueError(f"policy must be random, first or scripted:FILE, got {self.policy!r}")
        if self.chat_mode not in CHAT_MODES:
            raise ValueError(
                f"chat_mode must be one of {', '.join(CHAT_MODES)}, got {self.chat_mode!r}"
            )
        for name in ("rate_limit_rpm", "rate_limit_itpm"):
            value = getattr(self, name)
            if value is not None and value <= 0:
                raise ValueError(f"{name} must be a positive integer or None, got {value}")
        if self.min_cache_tokens is not None and self.min_cache_tokens < 0:
            raise ValueError(f"min_cache_tokens must be >= 0 or None, got {self.min_cache_tokens}")
