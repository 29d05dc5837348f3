"""The Hydra config: every group composes and validates; mistakes fail naming the key."""

from __future__ import annotations

import pytest
from hydra.errors import ConfigCompositionException
from omegaconf.errors import ConfigKeyError, ValidationError

from sandbox.config import (
    ClaudeAgentConfig,
    InterventionConfig,
    RandomAgentConfig,
    SimulatedAgentConfig,
)
from sandbox.errors import ConfigError
from sandbox.paths import config_dir


def _options(group: str) -> list[str]:
    return sorted(p.stem for p in (config_dir() / group).glob("*.yaml"))


def test_default_config_is_the_offline_workday(compose_cfg):
    cfg = compose_cfg()
    assert cfg.experiment == "workday"
    assert cfg.env.id == "WelfareSandbox/TaskChoice-v0"
    assert isinstance(cfg.agent, SimulatedAgentConfig)
    assert cfg.agent.preset == "harm_averse"
    assert cfg.agent.utilities["harmful_request"] < cfg.agent.utilities["creative"]
    assert isinstance(cfg.intervention, InterventionConfig)
    assert cfg.intervention.name == "none"
    assert cfg.display.mode == "auto"


@pytest.mark.parametrize("option", _options("intervention"))
def test_every_intervention_composes(compose_cfg, option):
    cfg = compose_cfg(f"intervention={option}")
    assert cfg.intervention.name == option


@pytest.mark.parametrize("option", _options("agent/preset"))
def test_every_preset_composes(compose_cfg, option):
    cfg = compose_cfg(f"agent/preset={option}")
    assert isinstance(cfg.agent, SimulatedAgentConfig)
    assert cfg.agent.preset == option


@pytest.mark.parametrize("option", _options("display"))
def test_every_display_composes(compose_cfg, option):
    assert compose_cfg(f"display={option}").display.mode == option


def test_agent_groups_give_their_schema(compose_cfg):
    assert isinstance(compose_cfg("agent=random").agent, RandomAgentConfig)
    claude = compose_cfg("agent=claude").agent
    assert isinstance(claude, ClaudeAgentConfig)
    assert claude.cache == "read_write"


def test_override_of_a_preset_value_wins(compose_cfg):
    cfg = compose_cfg("agent/preset=content", "agent.noise=2.5", "agent.utilities.creative=4")
    assert cfg.agent.noise == 2.5
    assert cfg.agent.utilities["creative"] == 4


def test_unknown_key_fails_naming_it(compose_cfg):
    with pytest.raises(ConfigCompositionException) as info:
        compose_cfg("agent.nosie=2.0")
    assert "nosie" in str(info.value.__cause__ or info.value)


def test_wrong_type_fails_naming_the_key(compose_cfg):
    with pytest.raises((ConfigCompositionException, ValidationError, ConfigKeyError)) as info:
        compose_cfg("episodes=many")
    assert "episodes" in str(info.value.__cause__ or info.value)


def test_unknown_group_option_fails(compose_cfg):
    with pytest.raises(Exception) as info:
        compose_cfg("intervention=exit_optoin")
    assert "exit_optoin" in str(info.value)


@pytest.mark.parametrize(
    ("override", "key"),
    [
        ("episodes=0", "episodes"),
        ("max_concurrency=0", "max_concurrency"),
        ("agent.noise=0", "agent.noise"),
        ("display.mode=fancy", "display.mode"),
    ],
)
def test_out_of_range_values_fail_naming_the_key(compose_cfg, override, key):
    with pytest.raises(ConfigError, match=key.replace(".", r"\.")):
        compose_cfg(override)


def test_the_config_schema_does_not_import_agent_behaviour():
    # sandbox.config once imported the design modules for their parameter classes, and they
    # import sandbox.agents: a cycle config -> agents.designs -> agents.simulated -> config.
    import subprocess
    import sys

    code = (
        "import sys, sandbox.config; "
        "print(sorted(m for m in sys.modules if m.startswith('sandbox.agents')))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"
    from sandbox.agents.designs.pairwise import PairwiseParams
    from sandbox.agents.designs.tradeoff import TradeoffParams
    from sandbox.config import PairwiseParams as Pairwise
    from sandbox.config import TradeoffParams as Tradeoff

    assert (PairwiseParams, TradeoffParams) == (Pairwise, Tradeoff)
