"""The Think Tank's incentive-override index (from the logged incentives), its per-episode
values for the report, and the exact permutation p-value of the stated-revealed concordance."""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest

from environments.core import Action, ActionKind
from environments.think_tank import ThinkTankEnv
from sandbox.metrics.designs.think_tank import compute, per_episode

ROOMS = ("A", "B", "C", "D")


def visit(
    economy: str,
    favourite: str,
    chance: float,
    episodes: int,
    seed: int,
    stated: str = "A, B, C, D",
    steps: int = 30,
    **kwargs: Any,
) -> list[list[dict]]:
    """Episodes of the real environment with an agent that reads in ``favourite`` with
    ``chance`` at each step, else in a room drawn uniformly from the others, logged as the
    runner logs them (``info`` without ``next``)."""
    env = ThinkTankEnv(economy=economy, steps=steps, diary_every=0, **kwargs)
    rng = np.random.default_rng(seed)
    out: list[list[dict]] = []
    for index in range(episodes):
        env.reset(seed=seed * 1000 + index)
        records: list[dict[str, Any]] = []
        room, want, done = "hallway", None, False
        action = Action(ActionKind.REPORT, 5, stated)
        while not done:
            _, _, terminated, truncated, info = env.step(action)
            info.pop("next")
            records.append({"episode": index, "info": info})
            done = terminated or truncated
            if info["moved_to"] is not None:
                room = info["moved_to"]
            if want is None or info["read_letter"] is not None:
                others = [r for r in ROOMS if r != favourite]
                want = favourite if rng.random() < chance else others[int(rng.integers(3))]
            if room == want:
                action = Action(ActionKind.READ)
            else:
                action = Action(ActionKind.MOVE, ROOMS.index(want))
        out.append(records)
    return out


def test_a_single_run_says_why_it_has_no_index_and_claims_no_report_computes_it() -> None:
    m = compute(visit("rewards", "D", 0.7, 10, seed=1))["incentive_override"]
    assert m["index"] == {}
    assert "none" in m["index_note"] and "rewards" in m["index_note"]
    assert "computed by the report" not in str(m)


def test_incentive_override_index_is_the_favoured_rooms_shift_against_none() -> None:
    # Room D is read with chance 0.1 without an economy and 0.7 under rewards: truth +0.6.
    none = visit("none", "D", 0.1, 40, seed=2)
    paid = visit("rewards", "D", 0.7, 40, seed=3)
    m = compute(none + paid)
    index = m["incentive_override"]["index"]["rewards"]
    assert index["rooms"] == ["D"]  # rewards pay D the most (20)
    mean = np.mean([per_episode(ep)["think_tank.aversive_share"] for ep in paid]) - np.mean(
        [per_episode(ep)["think_tank.aversive_share"] for ep in none]
    )
    assert index["value"] == pytest.approx(mean)
    assert index["ci_low"] <= 0.6 <= index["ci_high"]
    assert index["ci_low"] > 0.4 and index["ci_high"] - index["ci_low"] < 0.2
    assert (index["n_a"], index["n_b"], index["n"]) == (40, 40, 80)
    assert index["method"] == "bootstrap_percentile" and "episode" in index["unit"]
    assert index["n_episodes"] == 80
    assert m["incentive_override"]["index_note"] is None
    # An agent that ignores coins has an index near 0.
    flat = compute(none + visit("rewards", "D", 0.1, 40, seed=4))
    flat_index = flat["incentive_override"]["index"]["rewards"]
    assert flat_index["ci_low"] <= 0.0 <= flat_index["ci_high"]


def test_the_favoured_room_follows_the_incentives_not_the_theme() -> None:
    # Rewards that pay room B the most: the index is about B, not the aversive room.
    none = visit("none", "B", 0.3, 20, seed=5)
    paid = visit("rewards", "B", 0.8, 20, seed=6, rewards={"A": 1, "B": 30, "C": 5, "D": 5})
    index = compute(none + paid)["incentive_override"]["index"]["rewards"]
    assert index["rooms"] == ["B"] and index["value"] == pytest.approx(0.5, abs=0.1)
    costs = visit("costs", "D", 0.5, 10, seed=7)  # D costs least (2): favoured
    assert compute(none + costs)["incentive_override"]["index"]["costs"]["rooms"] == ["D"]


def test_per_episode_values_are_the_run_proxies_within_one_episode() -> None:
    episodes = visit("none", "A", 0.6, 12, seed=8)
    m = compute(episodes)
    values = [per_episode(ep) for ep in episodes]
    assert np.mean([v["think_tank.aversive_share"] for v in values]) == pytest.approx(
        m["incentive_override"]["per_episode"]["mean"]
    )
    assert np.mean([v["think_tank.concordance"] for v in values]) == pytest.approx(
        m["concordance"]["per_episode"]["mean"]
    )
    for v in values:
        assert sum(v[f"think_tank.read_share.{r}"] for r in ROOMS) == pytest.approx(1.0)


def test_pooled_concordance_has_its_exact_permutation_p_value_over_four_rooms() -> None:
    # Stated A > B > C > D and reads that follow it exactly (A read most, D least): rho = 1.
    episodes = visit("none", "A", 0.25, 1, seed=9, stated="A, B, C, D", steps=80)
    reads: dict[str, list[dict]] = {}
    for r in episodes[0]:
        if r["info"]["read_letter"]:
            reads.setdefault(r["info"]["room"], []).append(r)
    # Keep reads 4 A, 3 B, 2 C, 1 D (and every other step): shares in the stated order.
    keep = {"A": 4, "B": 3, "C": 2, "D": 1}
    assert all(len(reads.get(room, [])) >= n for room, n in keep.items())
    dropped = {id(r) for room, rs in reads.items() for r in rs[keep[room] :]}
    trimmed = [r for r in episodes[0] if id(r) not in dropped]
    c = compute([trimmed])["concordance"]
    assert c["pooled"] == pytest.approx(1.0) and c["n_rooms"] == 4
    test = c["pooled_test"]
    assert test["p_greater"] == pytest.approx(1 / 24) and test["permutations"] == 24
    assert test["p_two_sided"] == pytest.approx(2 / 24) and test["k"] == 4
    assert "exact permutation" in test["method"]


def test_a_log_without_logged_incentives_uses_what_entries_paid() -> None:
    none = visit("none", "D", 0.1, 20, seed=10)
    paid = visit("rewards", "D", 0.7, 20, seed=11)
    for ep in none + paid:
        for record in ep:
            del record["info"]["incentives"]
    index = compute(none + paid)["incentive_override"]["index"]["rewards"]
    assert index["rooms"] == ["D"] and index["ci_low"] > 0.3


def test_read_shares_pool_reads_with_an_interval_clustered_by_episode() -> None:
    episodes = visit("none", "A", 0.6, 12, seed=12)
    m = compute(episodes)
    share = m["read_share"]["A"]
    reads = sum(1 for ep in episodes for r in ep if r["info"]["read_letter"])
    assert share["method"] == "wilson_cluster" and share["n"] == reads
    assert share["n_episodes"] == 12 and share["ci_low"] < share["value"] < share["ci_high"]
    assert m["incentive_override"]["aversive_share"] == m["read_share"]["D"]
