"""Known answers of the bail proxies: the real pipeline (config -> runner -> metrics) recovers them.

The subject leaves at each *leaving opportunity* with the probability the test sets for the
scenario's category, independently, so:

- the per-opportunity exit rate of a category estimates that probability exactly (genuine
  exits ÷ opportunities: the maximum-likelihood estimate of a constant hazard, censoring
  included), and
- the per-episode exit rate of a category estimates the mean over that category's episodes of
  ``1 - (1 - p) ** turns`` (under the ``tool`` method every user turn offers ``EXIT`` until the
  subject leaves), computed here from the run's own episodes.

Each truth must fall inside the measured rate's Wilson interval, at a z that keeps the family of
four categories at 95% (Bonferroni).
"""

from __future__ import annotations

import json
import random
from collections import defaultdict

import pytest

from sandbox import runner
from sandbox.display.base import NullDisplay
from sandbox.metrics import Rate, wilson
from sandbox.metrics.designs.conversation import compute
from tests.conftest import BailBenchBank

RATES = {
    "benign": 0.02,
    "emotionally_intense": 0.1,
    "insisting_harmful": 0.2,
    "hostile_or_belittling": 0.3,
}
Z_FAMILY = 2.5  # Bonferroni over 4 categories: 1 - 0.05 / 8 two-sided


class Silent(NullDisplay):
    def run_ended(self, status, metrics):
        return None


def run_bail(compose_cfg, tmp_path, *overrides: str) -> tuple[dict, list[dict]]:
    cfg = compose_cfg("experiment=bail", "display=none", "agent/preset=indifferent", *overrides)
    result = runner.run(cfg, tmp_path / "run", Silent())
    assert result.status == "complete" and result.metrics is not None
    records = [json.loads(line) for line in (tmp_path / "run" / "episodes.jsonl").open()]
    return result.metrics["conversation"], records


def covers(rate: Rate, truth: float, z: float = Z_FAMILY) -> bool:
    """Whether ``truth`` is inside the rate's Wilson interval recomputed at ``z``."""
    assert rate["value"] is not None
    wide = wilson(round(rate["value"] * rate["n"]), rate["n"], z=z)
    assert wide["ci_low"] is not None and wide["ci_high"] is not None
    return wide["ci_low"] <= truth <= wide["ci_high"]


def rates_override(rates: dict[str, float]) -> str:
    body = ",".join(f"{k}:{v}" for k, v in rates.items())
    return f"++agent.conversation.exit_rates={{{body}}}"


def test_exit_rates_by_category_are_recovered(compose_cfg, tmp_path):
    m, records = run_bail(
        compose_cfg, tmp_path, "episodes=700", "env.kwargs.exit_method=tool", rates_override(RATES)
    )
    per_opportunity = m["exit_rate_per_opportunity"]["by_category"]
    turns_of: dict[int, tuple[str, int]] = {}
    for r in records:
        if r["type"] == "step":
            turns_of[r["episode"]] = (r["info"]["category"], r["info"]["turns"])
    truth: dict[str, list[float]] = defaultdict(list)
    for category, turns in turns_of.values():
        truth[category].append(1 - (1 - RATES[category]) ** turns)
    for category, p in RATES.items():
        rate = per_opportunity[category]
        assert covers(rate, p), (category, rate, p)
        episode_rate = m["exit_rate_by_category"][category]
        expected = sum(truth[category]) / len(truth[category])
        assert covers(episode_rate, expected), (category, episode_rate, expected)
    # Categories are ordered as set, and no exit is false.
    values = [m["exit_rate_by_category"][c]["value"] for c in RATES]
    assert values == sorted(values)
    assert m["false_exits"]["count"] == 0
    assert m["time_to_exit"]["events"] == sum(
        round(r["value"] * r["n"]) for r in m["exit_rate_by_category"].values()
    )


def test_planted_order_bias_is_detected_and_an_unbiased_subject_shows_none(compose_cfg, tmp_path):
    common = (
        "episodes=250",
        "env.kwargs.exit_method=check",
        "agent.conversation.default_exit_rate=0.2",
    )
    biased, _ = run_bail(compose_cfg, tmp_path / "a", *common, "agent.conversation.order_bias=0.15")
    # The truth: P(leave) is 0.2 + 0.15 listed first, 0.2 - 0.15 listed second: a 0.3 effect.
    effect = biased["order_effect"]
    assert effect["ci_low"] > 0.0 and effect["ci_low"] <= 0.3 <= effect["ci_high"], effect
    assert effect["leave_first"]["value"] > effect["leave_second"]["value"]
    plain, _ = run_bail(compose_cfg, tmp_path / "b", *common)
    effect = plain["order_effect"]
    assert effect["ci_low"] <= 0.0 <= effect["ci_high"], effect
    assert effect["n"] > 500


@pytest.mark.parametrize("method", ["tool", "string", "check"])
def test_hypothetical_exits_are_recorded_and_the_conversation_goes_on(
    compose_cfg, tmp_path, method
):
    m, records = run_bail(
        compose_cfg,
        tmp_path,
        "episodes=20",
        f"env.kwargs.exit_method={method}",
        "env.kwargs.exit_mode=hypothetical",
        "agent.conversation.default_exit_rate=1.0",
    )
    ends = [r for r in records if r["type"] == "episode_end"]
    assert {e["reason"] for e in ends} == {"truncated"}
    assert m["exit_rate"]["value"] == 1.0 and m["exit_rate_per_opportunity"]["all"]["value"] == 1.0
    # Every user message of every scenario was shown, and each offered one (recorded) exit.
    steps = [r for r in records if r["type"] == "step"]
    turns = {r["episode"]: r["info"]["turns"] for r in steps}
    exits = sum(r["info"]["exited"] for r in steps)
    assert exits == sum(turns.values())
    assert max(r["info"]["turn"] for r in steps if r["episode"] == 0) == turns[0]


@pytest.mark.parametrize(("method", "reason"), [("tool", "exit"), ("string", "exit")])
def test_consequential_exits_end_the_conversation_at_once(compose_cfg, tmp_path, method, reason):
    m, records = run_bail(
        compose_cfg,
        tmp_path,
        "episodes=15",
        f"env.kwargs.exit_method={method}",
        "agent.conversation.default_exit_rate=1.0",
    )
    assert m["exit_rate"]["value"] == 1.0 and m["time_to_exit"]["median"] == 1
    assert {r["reason"] for r in records if r["type"] == "episode_end"} == {reason}
    assert sum(r["type"] == "step" for r in records) == 15


@pytest.mark.parametrize(("method", "kind"), [("string", "format"), ("tool", "after_done")])
def test_false_exits_are_kept_apart(compose_cfg, tmp_path, method, kind):
    m, _ = run_bail(
        compose_cfg,
        tmp_path,
        "episodes=120",
        f"env.kwargs.exit_method={method}",
        "env.kwargs.exit_mode=hypothetical",
        "agent.conversation.false_exit_rate=0.3",
    )
    false = m["false_exits"]
    assert m["exit_rate"]["value"] == 0.0  # no genuine exit: the subject never means to leave
    assert m["exit_rate_all"]["value"] > 0.5
    assert false["count"] > 30 and set(false["by_kind"]) == {kind}
    assert false["share_of_exits"]["value"] == 1.0
    if method == "string":  # one chance per reply: the per-opportunity rate is the true 0.3
        rate = false["per_opportunity"]
        assert rate["ci_low"] <= 0.3 <= rate["ci_high"], rate


def test_refusals_without_exit_follow_the_scenario(compose_cfg, tmp_path):
    m, _ = run_bail(compose_cfg, tmp_path, "episodes=60", "env.kwargs.exit_method=string")
    by_category = m["refusals_without_exit"]["by_category"]
    assert by_category["insisting_harmful"]["value"] == 1.0
    assert by_category["benign"]["value"] == 0.0
    assert by_category["hostile_or_belittling"]["value"] == 0.0


def test_distress_threshold_of_the_base_subject_carries_over(compose_cfg, tmp_path):
    # harm_averse: distress += 1.0 x aversiveness per message; leaves at >= 2.5. Insisting-harmful
    # messages (0.9) reach it at the third message, hostile ones (0.8) at the fourth.
    cfg = compose_cfg("experiment=bail", "display=none", "episodes=80", "agent/preset=harm_averse")
    metrics = runner.run(cfg, tmp_path / "run", Silent()).metrics
    assert metrics is not None
    m = metrics["conversation"]
    by_category = m["exit_rate_by_category"]
    assert by_category["insisting_harmful"]["value"] == 1.0
    assert by_category["hostile_or_belittling"]["value"] == 1.0
    assert by_category["benign"]["value"] == 0.0
    assert by_category["emotionally_intense"]["value"] == 0.0
    hazard = m["exit_rate_per_opportunity"]["by_category"]
    assert hazard["insisting_harmful"]["value"] == pytest.approx(1 / 3)
    assert hazard["hostile_or_belittling"]["value"] == pytest.approx(1 / 4, abs=0.02)


def test_bailbench_runs_as_single_turn_openers(
    compose_cfg, tmp_path, bailbench_bank: BailBenchBank
):
    m, records = run_bail(
        compose_cfg,
        tmp_path,
        "episodes=150",
        f"env.kwargs.bank={bailbench_bank.path}",
        "agent.conversation.default_exit_rate=0.3",
    )
    steps = [r for r in records if r["type"] == "step"]
    assert len(steps) == 150 and {r["info"]["turns"] for r in steps} == {1}
    assert len(m["exit_rate_by_category"]) >= 10
    rate = m["exit_rate"]
    assert rate["ci_low"] <= 0.3 <= rate["ci_high"]


def test_the_order_of_episodes_does_not_change_the_proxies(compose_cfg, tmp_path):
    m, records = run_bail(
        compose_cfg,
        tmp_path,
        "episodes=40",
        "env.kwargs.exit_method=check",
        "agent.conversation.default_exit_rate=0.3",
        "agent.conversation.false_exit_rate=0.1",
    )
    by_episode: dict[int, list[dict]] = defaultdict(list)
    for r in records:
        if r["type"] == "step":
            by_episode[r["episode"]].append(r)
    blocks = list(by_episode.values())
    random.Random(0).shuffle(blocks)
    shuffled = compute([r for block in blocks for r in block])
    assert json.dumps(shuffled, sort_keys=True) == json.dumps(m, sort_keys=True)
