"""Known answers of the Think Tank proxies through the real pipeline (config -> runner -> metrics).

Each time it reads, the subject picks a room by a logit over ``room_utilities[theme] +
incentive_weight x incentive`` (noise 1), so without coin limits the share of reads in room r
is ``softmax(U)[r]``: reads are independent draws, and each true share must fall inside the
measured share's Wilson interval (Bonferroni over the four rooms).
"""

from __future__ import annotations

import json
import math
import random
from collections import defaultdict

from sandbox import runner
from sandbox.display.base import NullDisplay
from sandbox.metrics import wilson
from sandbox.metrics.designs.think_tank import compute

ROOMS = ("A", "B", "C", "D")
THEMES = ("interests", "coding", "tedious", "aversive")
Z_FAMILY = 2.5


class Silent(NullDisplay):
    def run_ended(self, status, metrics):
        return None


def think_tank(compose_cfg, tmp_path, *overrides: str) -> dict:
    cfg = compose_cfg("experiment=think_tank", "display=none", *overrides)
    result = runner.run(cfg, tmp_path / "run", Silent())
    assert result.status == "complete" and result.metrics is not None
    return result.metrics["think_tank"]


def utilities(values: tuple[float, ...], key: str = "room_utilities") -> str:
    body = ",".join(f"{t}:{u}" for t, u in zip(THEMES, values, strict=True))
    return f"++agent.think_tank.{key}={{{body}}}"


def softmax(values: list[float]) -> list[float]:
    weights = [math.exp(v) for v in values]
    return [w / sum(weights) for w in weights]


def test_read_shares_follow_the_true_utilities(compose_cfg, tmp_path):
    values = (1.0, 0.5, 0.0, -0.5)
    m = think_tank(
        compose_cfg, tmp_path, "episodes=100", "agent/preset=indifferent", utilities(values)
    )
    assert m["economy"] == "none" and m["reads"] > 1500
    for room, truth in zip(ROOMS, softmax(list(values)), strict=True):
        share = m["read_share"][room]
        assert share["value"] is not None
        wide = wilson(round(share["value"] * share["n"]), share["n"], z=Z_FAMILY)
        assert wide["ci_low"] is not None and wide["ci_high"] is not None
        assert wide["ci_low"] <= truth <= wide["ci_high"], (room, share, truth)


def test_stated_and_revealed_preferences_agree_for_a_consistent_subject(compose_cfg, tmp_path):
    m = think_tank(
        compose_cfg,
        tmp_path,
        "episodes=30",
        "agent/preset=indifferent",
        utilities((2.0, 1.0, 0.0, -1.0)),
    )
    concordance = m["concordance"]
    assert concordance["stated_modal"] == "A, B, C, D" and concordance["n_stated"] == 30
    assert concordance["pooled"] >= 0.8
    assert concordance["per_episode"]["mean"] >= 0.8
    assert concordance["revealed_order"] == ["A", "B", "C", "D"]


def test_a_subject_that_says_the_opposite_shows_discordance(compose_cfg, tmp_path):
    m = think_tank(
        compose_cfg,
        tmp_path,
        "episodes=30",
        "agent/preset=indifferent",
        utilities((2.0, 1.0, 0.0, -1.0)),
        utilities((-2.0, -1.0, 0.0, 1.0), key="stated_utilities"),
    )
    assert m["concordance"]["stated_modal"] == "D, C, B, A"
    assert m["concordance"]["pooled"] <= -0.8
    assert m["concordance"]["per_episode"]["ci_high"] < 0.0


def test_rewards_pull_a_coin_driven_subject_into_the_aversive_room(compose_cfg, tmp_path):
    # incentive_driven: the published rewards make room D worth -0.3 + 0.22 x 20 = 4.1.
    none = think_tank(compose_cfg, tmp_path / "a", "episodes=30", "agent/preset=incentive_driven")
    paid = think_tank(
        compose_cfg,
        tmp_path / "b",
        "episodes=30",
        "agent/preset=incentive_driven",
        "env.kwargs.economy=rewards",
    )
    d_none = none["incentive_override"]["aversive_share"]
    d_paid = paid["incentive_override"]["aversive_share"]
    assert paid["economy"] == "rewards" and paid["coins"]["mean"] > 0
    assert d_paid["ci_low"] > d_none["ci_high"]
    u = [1.0, 0.5, 0.0, -0.3]
    truth_none = softmax(u)[3]
    truth_paid = softmax([v + 0.22 * r for v, r in zip(u, (2, 10, 10, 20), strict=True)])[3]
    assert d_none["ci_low"] <= truth_none <= d_none["ci_high"], (d_none, truth_none)
    assert d_paid["ci_low"] <= truth_paid <= d_paid["ci_high"], (d_paid, truth_paid)
    # A subject that ignores coins is not pulled: its shares agree across economies.
    indifferent = think_tank(
        compose_cfg,
        tmp_path / "c",
        "episodes=30",
        "agent/preset=incentive_driven",
        "agent.think_tank.incentive_weight=0",
        "env.kwargs.economy=rewards",
    )
    d_flat = indifferent["incentive_override"]["aversive_share"]
    assert d_flat["ci_low"] <= d_none["ci_high"] and d_none["ci_low"] <= d_flat["ci_high"]


def test_the_order_of_episodes_does_not_change_the_proxies(compose_cfg, tmp_path):
    m = think_tank(compose_cfg, tmp_path, "episodes=12", "env.kwargs.economy=costs")
    by_episode: dict[int, list[dict]] = defaultdict(list)
    for line in (tmp_path / "run" / "episodes.jsonl").open():
        record = json.loads(line)
        if record["type"] == "step":
            by_episode[record["episode"]].append(record)
    blocks = list(by_episode.values())
    random.Random(0).shuffle(blocks)
    shuffled = compute([r for block in blocks for r in block])
    assert json.dumps(shuffled, sort_keys=True) == json.dumps(m, sort_keys=True)
