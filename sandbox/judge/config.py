"""The judge's settings (``wsb judge``'s options, typed) and the model config they make.

The judge reuses the model path of the subjects (:mod:`sandbox.agents.model`): the same
clients, response cache, budget, prices, rate limiter, retries and transcripts. Its settings are
therefore a small :class:`JudgeConfig` that makes a :class:`~sandbox.config.ClaudeAgentConfig`
or :class:`~sandbox.config.OpenAICompatAgentConfig` (:meth:`JudgeConfig.agent_config`), whose
system prompt is the rubric's.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from sandbox.config import (
    CACHE_MODES,
    ClaudeAgentConfig,
    LLMAgentConfig,
    OpenAICompatAgentConfig,
)
from sandbox.errors import ConfigError
from sandbox.llm.models import DEFAULT_MODEL

#: The providers the judge can use.
APIS = ("claude", "openai_compat")


@dataclass
class JudgeConfig:
    """How ``wsb judge`` judges.

    Attributes:
        rubric: A rubric's name in ``conf/judge/`` or the path of a rubric file.
        api: ``claude`` (the Messages API) or ``openai_compat`` (a chat-completions server).
        model: The judge's model id (recorded with every score).
        base_url: The API's base URL (``None``: the SDK's default, so ``ANTHROPIC_BASE_URL``
            works; for ``openai_compat`` a local server's URL).
        api_key_env: For ``openai_compat``: the variable holding the key.
        max_tokens: Most output tokens of one judgement.
        budget_usd: Most the judge may spend on this path (``None``: no limit).
        max_concurrency: Judgements in flight at once.
        cache: Response cache mode (``read_write``, ``read_only``, ``off``).
        cache_dir: The response cache's directory (``None``: the user's cache directory).
        requests_per_minute: Request rate limit (0: none).
        tokens_per_minute: Token rate limit (0: none).
        max_retries: Retries of a failed call (429, 529, 5xx, timeouts).
        timeout_s: Timeout of one request.
    """

    rubric: str = "welfare"
    api: str = "claude"
    model: str = DEFAULT_MODEL
    base_url: str | None = None
    api_key_env: str = "OPENAI_API_KEY"
    max_tokens: int = 512
    budget_usd: float | None = None
    max_concurrency: int = 4
    cache: str = "read_write"
    cache_dir: str | None = None
    requests_per_minute: int = 0
    tokens_per_minute: int = 0
    max_retries: int = 4
    timeout_s: float = 60.0

    def check(self) -> JudgeConfig:
        """Refuse values out of range; returns ``self``.

        Raises:
            ConfigError: Naming the option, what came, and an example.
        """
        if self.api not in APIS:
            raise ConfigError(f"--api must be one of {', '.join(APIS)}, got {self.api!r}")
        if self.cache not in CACHE_MODES:
            raise ConfigError(
                f"--cache must be one of {', '.join(CACHE_MODES)}, got {self.cache!r}"
            )
        if self.max_concurrency < 1:
            raise ConfigError(
                f"--max-concurrency must be at least 1, got {self.max_concurrency}; e.g. 4"
            )
        if self.max_tokens < 16:
            raise ConfigError(f"--max-tokens must be at least 16, got {self.max_tokens}; e.g. 512")
        if self.budget_usd is not None and self.budget_usd < 0:
            raise ConfigError(f"--budget-usd must be positive, got {self.budget_usd:g}")
        if self.api == "openai_compat" and self.model == DEFAULT_MODEL and not self.base_url:
            raise ConfigError(
                "--api openai_compat needs --base-url (the server's /v1 URL) and --model (the "
                "model the server serves)"
            )
        return self

    def agent_config(self, system: str) -> LLMAgentConfig:
        """The model config of the judge's calls, with ``system`` as its system prompt."""
        shared: dict[str, Any] = {
            "model": self.model,
            "max_tokens": self.max_tokens,
            "system": system,
            "max_retries": self.max_retries,
            "timeout_s": self.timeout_s,
            "cache": self.cache,
            "cache_dir": self.cache_dir,
            "requests_per_minute": self.requests_per_minute,
            "tokens_per_minute": self.tokens_per_minute,
        }
        if self.api == "claude":
            return ClaudeAgentConfig(base_url=self.base_url, tool_choice="any", **shared)
        return OpenAICompatAgentConfig(
            base_url=self.base_url, api_key_env=self.api_key_env, **shared
        )
