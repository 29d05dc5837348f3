"""Between-episode heterogeneity of the simulated subject: its true parameters act as stated."""

from __future__ import annotations

import statistics

import numpy as np
import pytest

from environments.core import ActionKind
from sandbox.agents.base import EpisodeContext, Turn
from sandbox.agents.simulated import SimulatedBuilder, preset
from sandbox.errors import ConfigError
from sandbox.metrics.clustered import ClusterSums
from tests.sandbox.metrics import coverage_sim as sim


def subject(cfg, seed: int):
    context = EpisodeContext(
        index=0, seed=seed, env_id=sim.ENV_ID, system_suffix="", exit_mode="consequential",
        run_dir="",
    )  # fmt: skip
    return SimulatedBuilder(cfg).for_episode(context)


def test_each_episode_draws_its_utilities_with_the_stated_sd():
    cfg = preset("heterogeneous")
    subjects = [subject(cfg, seed) for seed in range(4000)]  # the mean's se: 1/sqrt(4000)
    shifts = [one._utility["creative"] - 1.5 for one in subjects]
    refusal = [one.refusal_utility - 1.0 for one in subjects]
    assert statistics.fmean(shifts) == pytest.approx(0.0, abs=0.06)
    assert statistics.stdev(shifts) == pytest.approx(cfg.episode_sd, rel=0.06)
    assert statistics.stdev(refusal) == pytest.approx(cfg.episode_sd, rel=0.06)
    bias = [one.position_bias for one in subjects]
    assert statistics.stdev(bias) == pytest.approx(cfg.position_bias_sd, rel=0.06)
    # The same seed, the same episode: a run replays exactly.
    assert subject(cfg, 7)._utility == subject(cfg, 7)._utility


def test_a_subject_without_heterogeneity_has_the_presets_values():
    cfg = preset("harm_averse")
    one = subject(cfg, 3)
    assert one._utility == cfg.utilities and one.refusal_utility == cfg.refusal_utility
    assert one.position_bias == cfg.position_bias


def test_a_lapse_ignores_the_utilities():
    # Always lapsing, at a menu of three with rest offered: each of the four alternatives a
    # quarter of the time, whatever the utilities say.
    cfg = preset("content")
    cfg.utilities = {"creative": 9.0, "routine": -9.0}
    cfg.lapse = 0.999999
    mask = np.zeros(len(ActionKind), dtype=np.int8)
    mask[[ActionKind.TASK, ActionKind.REST]] = 1
    menu = [{"category": c, "aversiveness": 0.0} for c in ("creative", "routine", "routine")]
    agent, picks = subject(cfg, 0), []
    for step in range(4000):
        turn = Turn({"action_mask": mask}, {"phase": "decide", "menu": menu}, step)
        action = sim._drive(agent.act(turn)).action
        picks.append("rest" if action.kind is ActionKind.REST else action.target)
    shares = [picks.count(k) / len(picks) for k in (0, 1, 2, "rest")]
    assert shares == pytest.approx([0.25] * 4, abs=0.025)


def test_work_abandon_abandons_that_share_of_tasks_taken_drawn_per_episode():
    cfg = preset("harm_averse")
    cfg.work_abandon = 0.3
    fixed = sim.simulate(cfg, 60, 0)
    rate = ClusterSums.of((e.counts.work_refusals, e.counts.work_refusable) for e in fixed).rate()
    assert rate["ci_low"] <= 0.3 <= rate["ci_high"], rate
    assert sum(e.counts.work_refusals for e in fixed) > 100
    # Drawn per episode (sd 1.5 on the logit scale): episodes spread beyond a binomial's.
    cfg.work_abandon_sd = 1.5
    episodes = [subject(cfg, seed).work_abandon for seed in range(2000)]
    logits = [np.log(p / (1 - p)) for p in episodes]
    assert statistics.fmean(logits) == pytest.approx(np.log(0.3 / 0.7), abs=0.1)
    assert statistics.stdev(logits) == pytest.approx(1.5, rel=0.06)
    drawn = sim.simulate(cfg, 60, 0)
    pairs = ((e.counts.work_refusals, e.counts.work_refusable) for e in drawn)
    assert ClusterSums.of(pairs).rate()["deff"] > 2 * rate["deff"]
    # Off (the default): no task taken is ever abandoned.
    assert all(e.counts.work_refusals == 0 for e in sim.simulate(preset("harm_averse"), 20, 0))
    cfg.work_abandon = 1.0
    with pytest.raises(ConfigError, match=r"agent\.work_abandon must be in"):
        SimulatedBuilder(cfg)


@pytest.mark.parametrize(
    "key", ["episode_sd", "position_bias_sd", "position_drift", "work_abandon_sd"]
)
def test_a_negative_spread_is_refused(key: str):
    cfg = preset("heterogeneous")
    setattr(cfg, key, -1.0)
    with pytest.raises(ConfigError, match=f"agent.{key} must be >= 0"):
        SimulatedBuilder(cfg)


def test_the_heterogeneous_preset_correlates_an_episodes_decisions():
    # Its refusals spread between episodes: the design effect of the refusal rate is well above
    # 1, where the default subject's is about 1 (its decisions almost independent draws).
    het = sim.simulate(preset("heterogeneous"), 100, 0)
    default = sim.simulate(preset("harm_averse"), 100, 0)
    deff = {
        name: ClusterSums.of((e.counts.refusals, e.counts.refusable) for e in eps).rate()["deff"]
        for name, eps in (("het", het), ("default", default))
    }
    assert deff["het"] is not None and deff["default"] is not None
    assert deff["het"] > 1.8 and 0.6 < deff["default"] < 1.4, deff
