"""The bail design's headline exit rates: defined for every method, with n, n_episodes and unit;
the per-episode values a report bootstraps; method differences; the time-to-exit band."""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest

from environments.conversation import ConversationEnv
from environments.core import Action, ActionKind
from sandbox.metrics.designs.conversation import compute, per_episode
from sandbox.metrics.stats import kaplan_meier, wilson


def play(method: str, leave: float, episodes: int, mode: str = "consequential") -> list[list[dict]]:
    """Episodes of the real environment with an agent that leaves with chance ``leave`` at
    each opportunity (else replies), logged as the runner logs them (``info`` without
    ``next``)."""
    env = ConversationEnv(exit_method=method, exit_mode=mode)
    rng = np.random.default_rng(7)
    out: list[list[dict]] = []
    for index in range(episodes):
        _, info = env.reset(seed=index)
        labels = info["next"]
        records: list[dict[str, Any]] = []
        done = False
        while not done:
            go = bool(labels["exit_offered"]) and rng.random() < leave
            if labels["phase"] == "check":
                at = labels["leave_at"]
                action = Action(ActionKind.TASK, at if go else 1 - at)
            elif go and method == "tool":
                action = Action(ActionKind.EXIT)
            elif go:
                action = Action(ActionKind.REPLY, 0, f"Goodbye. {labels['reserved_string']}")
            else:
                action = Action(ActionKind.REPLY, 0, "Here is my answer.")
            _, _, terminated, truncated, info = env.step(action)
            labels = info.pop("next")
            records.append({"episode": index, "info": info})
            done = terminated or truncated
        out.append(records)
    return out


@pytest.mark.parametrize("method", ["tool", "string", "check"])
def test_the_headline_exit_rate_is_defined_for_every_method_with_its_unit(method: str) -> None:
    episodes = play(method, leave=0.3, episodes=40)
    m = compute(episodes)
    rate = m["exit_rate_by_method"][method]
    left = sum(any(r["info"]["exited"] for r in ep) for ep in episodes)
    assert left > 0
    assert rate["value"] == pytest.approx(left / 40)
    assert rate["n"] == rate["n_episodes"] == rate["episodes_in_group"] == 40
    assert rate["unit"] == "episode" and rate["method"] == "wilson"
    assert rate["ci_low"] == wilson(left, 40)["ci_low"]
    cell = m["exit_rate_by_method_and_mode"][method]["consequential"]
    assert cell["value"] == rate["value"] and cell["episodes_in_group"] == 40
    assert m["exit_rate_by_mode"]["consequential"]["n"] == 40


def test_a_run_without_leaving_counts_its_episodes_and_has_no_rate() -> None:
    env = ConversationEnv(allow_exit=False)
    _, info = env.reset(seed=0)
    records = []
    done = False
    while not done:
        _, _, terminated, truncated, info = env.step(Action(ActionKind.REPLY, 0, "Sure."))
        info.pop("next")
        records.append({"episode": 0, "info": info})
        done = terminated or truncated
    rate = compute([records])["exit_rate_by_method"]["tool"]
    assert rate["value"] is None and rate["n"] == rate["n_episodes"] == 0
    assert rate["episodes_in_group"] == 1
    assert per_episode(records) == {}


def test_per_episode_values_average_to_the_run_rate() -> None:
    episodes = play("check", leave=0.2, episodes=30)
    values = [per_episode(ep) for ep in episodes]
    m = compute(episodes)
    exits = [v["conversation.exit_rate"] for v in values]
    assert set(exits) == {0.0, 1.0}
    assert np.mean(exits) == pytest.approx(m["exit_rate"]["value"])
    assert np.mean([v["conversation.exit_rate_all"] for v in values]) == pytest.approx(
        m["exit_rate_all"]["value"]
    )


def test_method_difference_between_pooled_runs_has_a_newcombe_interval() -> None:
    check = play("check", leave=0.5, episodes=60)
    tool = play("tool", leave=0.05, episodes=60)
    single = compute(tool)
    assert single["method_difference"] == {}
    m = compute(check + tool)
    diff = m["method_difference"]["consequential"]["check - tool"]
    a = m["exit_rate_by_method"]["check"]
    b = m["exit_rate_by_method"]["tool"]
    assert diff["value"] == pytest.approx(a["value"] - b["value"])
    assert diff["ci_low"] < diff["value"] < diff["ci_high"]
    assert diff["ci_low"] > 0  # a 0.5 chance per check-in against 0.05 per turn
    assert (diff["n_a"], diff["n_b"], diff["n"], diff["n_episodes"]) == (60, 60, 120, 120)
    assert diff["method"] == "newcombe_hybrid_score" and "episode" in diff["unit"]
    # Newcombe's hybrid score interval, from the two Wilson intervals.
    low = diff["value"] - np.hypot(a["value"] - a["ci_low"], b["ci_high"] - b["value"])
    assert diff["ci_low"] == pytest.approx(low)


def test_time_to_exit_band_matches_greenwood_log_log_of_a_textbook_example() -> None:
    # Freireich's 6-MP arm (Gehan 1965), as R's survfit(conf.type = "log-log") gives it.
    t = [6, 6, 6, 6, 7, 9, 10, 10, 11, 13, 16, 17, 19, 20, 22, 23, 25, 32, 32, 34, 35]
    e = [1, 1, 1, 0, 1, 0, 1, 0, 0, 1, 1, 0, 0, 0, 1, 1, 0, 0, 0, 0, 0]
    published = [  # time, survival, lower, upper
        (6, 0.857, 0.620, 0.952),
        (7, 0.807, 0.563, 0.923),
        (10, 0.753, 0.503, 0.889),
        (13, 0.690, 0.432, 0.849),
        (16, 0.627, 0.368, 0.805),
        (22, 0.538, 0.268, 0.747),
        (23, 0.448, 0.188, 0.680),
    ]
    curve = kaplan_meier(t, e)["curve"]
    got = [(p["t"], p["survival"], p["ci_low"], p["ci_high"]) for p in curve]
    assert got == [pytest.approx(row, abs=5e-4) for row in published]


def test_the_run_time_to_exit_curve_carries_its_band() -> None:
    m = compute(play("tool", leave=0.3, episodes=50))
    survival = m["time_to_exit"]
    assert survival["n"] == 50 and "Greenwood" in survival["band"]
    for point in survival["curve"]:
        if point["ci_low"] is not None:
            assert 0.0 <= point["ci_low"] <= point["survival"] <= point["ci_high"] <= 1.0


def test_step_pooled_rates_are_clustered_by_episode_and_say_so() -> None:
    episodes = play("check", leave=0.2, episodes=30)
    m = compute(episodes)
    hazard = m["exit_rate_per_opportunity"]["all"]
    assert hazard["method"] == "wilson_cluster" and hazard["n_episodes"] == 30
    chances = sum(
        1
        for ep in episodes
        for r in ep
        if r["info"]["exit_offered"] and not r["info"]["after_done"]
    )
    assert hazard["n"] == chances and hazard["ci_low"] < hazard["value"] < hazard["ci_high"]
    for block in (m["refusals_without_exit"]["rate"], m["done_rate"]):
        assert block["method"] == "wilson_cluster" and block["n_episodes"] == 30
    effect = m["order_effect"]
    assert effect["leave_first"]["method"] == "wilson_cluster"
    assert effect["method"] == "newcombe_hybrid_score" and effect["ci_low"] < effect["ci_high"]
    assert m["exit_rate_all"]["method"] == "wilson" and m["exit_rate_all"]["n_episodes"] == 30
    # One episode: a value, but no interval pretending to replication.
    one = compute(episodes[:1])["exit_rate_per_opportunity"]["all"]
    assert one["value"] is not None and one["ci_low"] is None
    assert compute(episodes[:1])["order_effect"]["diff"] is None
