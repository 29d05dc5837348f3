"""Building agents from their typed configs.

:func:`build_agent` turns a typed agent config into its builder. Model agents import their SDKs
only here, when built, so the offline path never imports ``anthropic``.
"""

from __future__ import annotations

from pathlib import Path

from sandbox.agents.base import AgentBuilder
from sandbox.budget import Budget
from sandbox.config import (
    AgentConfig,
    ClaudeAgentConfig,
    HumanAgentConfig,
    OpenAICompatAgentConfig,
    RandomAgentConfig,
    SimulatedAgentConfig,
)
from sandbox.errors import ConfigError


def build_agent(cfg: AgentConfig, *, budget: Budget, run_dir: Path | None) -> AgentBuilder:
    """The builder for ``cfg``'s agent kind.

    Raises:
        ConfigError: The agent kind is unknown.
        AgentError: A model agent cannot be built (missing key or package).
    """
    if isinstance(cfg, SimulatedAgentConfig):
        from sandbox.agents.simulated import SimulatedBuilder

        return SimulatedBuilder(cfg)
    if isinstance(cfg, RandomAgentConfig):
        from sandbox.agents.random_agent import RandomBuilder

        return RandomBuilder()
    if isinstance(cfg, ClaudeAgentConfig):
        from sandbox.agents.claude import ClaudeBuilder
        from sandbox.llm.prices import load_prices

        return ClaudeBuilder(cfg, budget=budget, prices=load_prices(), run_dir=run_dir)
    if isinstance(cfg, OpenAICompatAgentConfig):
        from sandbox.agents.openai_compat import OpenAICompatBuilder
        from sandbox.llm.prices import load_prices

        return OpenAICompatBuilder(cfg, budget=budget, prices=load_prices(), run_dir=run_dir)
    if isinstance(cfg, HumanAgentConfig):
        from sandbox.agents.human import HumanBuilder

        return HumanBuilder()
    raise ConfigError(
        f"unknown agent {getattr(cfg, 'name', cfg)!r}; expected simulated, random, claude, "
        "openai_compat or human"
    )
