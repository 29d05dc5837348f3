"""Pairwise-v0 as a user meets it: what the agent reads, how pairs are scheduled, what is logged.

(``test_registered.py`` runs gymnasium's checker and the same-seed replay on the default
arguments; the tests here cover the design itself.)
"""

from __future__ import annotations

import json
import warnings
from collections import Counter
from typing import Any

import gymnasium
import numpy as np
import pytest
from gymnasium.utils.env_checker import check_env

from environments.banks import load_tasks, resolve_bank
from environments.core import Action, ActionKind
from environments.pairwise import OPT_OUT_ID, OPT_OUT_TEXT, PairwiseEnv

K = ActionKind
BANK = load_tasks(resolve_bank("default"))
STEP_KEYS = {
    "design", "pair", "menu", "pair_index", "order", "versus", "selection", "position",
    "chosen_id", "outcome", "invalid", "invalid_reason", "comparison", "next",
}  # fmt: skip


def episode(env: PairwiseEnv, seed: int, choose=lambda labels: 0) -> list[dict[str, Any]]:
    """One full episode, choosing ``choose(next_labels)``; the step infos."""
    _, info = env.reset(seed=seed)
    labels, infos = info["next"], []
    while True:
        _, reward, terminated, truncated, info = env.step(Action(K.TASK, choose(labels)))
        assert reward == 0.0 and not terminated
        labels = info["next"]
        infos.append(info)
        if truncated:
            return infos


# ---------------------------------------------------------------------------------------------
# What the agent reads


def test_labels_never_reach_the_observation() -> None:
    env = PairwiseEnv(comparisons=80)
    secrets = {t.id for t in BANK} | {t.category for t in BANK} | {OPT_OUT_ID}
    obs, info = env.reset(seed=3)
    for _ in range(80):
        seen = obs["text"] + "".join(obs["menu"])
        for secret in secrets:
            assert secret not in seen, secret
        for slot, label in enumerate(info["next"]["pair"]):
            if label["opt_out"]:
                assert obs["menu"][slot] == OPT_OUT_TEXT
            else:
                task = next(t for t in BANK if t.id == label["id"])
                assert obs["menu"][slot] == f"{task.title}: {task.prompt}"
                assert f"{'AB'[slot]}) {task.title}: {task.prompt}" in obs["text"]
        obs, _, _, truncated, info = env.step(Action(K.TASK, 1))
        if truncated:
            break
    assert "All 80 comparisons are done." in obs["text"]
    assert obs["menu"] == ("", "") and not obs["action_mask"].any()


def test_the_opt_out_is_a_target_like_a_task() -> None:
    env = PairwiseEnv(opt_out_share=1.0, comparisons=10)
    _, info = env.reset(seed=0)
    slot = [label["opt_out"] for label in info["next"]["pair"]].index(True)
    _, _, _, _, info = env.step(Action(K.TASK, slot))
    assert info["chosen_id"] == OPT_OUT_ID and info["versus"] == "opt_out"
    assert info["position"] == slot and info["outcome"] == "chosen"


# ---------------------------------------------------------------------------------------------
# The schedule


@pytest.mark.parametrize("swap_gap", [0, 1, 4, 100])
@pytest.mark.parametrize("selection", ["random", "active"])
def test_every_pair_is_shown_in_both_orders(swap_gap: int, selection: str) -> None:
    env = PairwiseEnv(comparisons=60, swap_gap=swap_gap, selection=selection)
    infos = episode(env, seed=1, choose=lambda labels: int(labels["pair"][0]["id"] < "m"))
    shows: dict[int, list[tuple[int, dict[str, Any]]]] = {}
    for step, info in enumerate(infos):
        shows.setdefault(info["pair_index"], []).append((step, info))
    assert len(infos) == 60 and len(shows) == 30
    for index, ((t0, first), (t1, second)) in shows.items():
        assert (first["order"], second["order"]) == (0, 1), index
        assert [o["id"] for o in second["pair"]] == [o["id"] for o in reversed(first["pair"])]
        if swap_gap < 100:
            # The swap is due swap_gap + 1 steps later; near the end of the budget it may come
            # earlier, never later.
            assert t1 - t0 <= swap_gap + 1
            if t0 < 60 - 2 * (swap_gap + 1):
                assert t1 - t0 == swap_gap + 1
    if swap_gap == 0:
        assert [info["order"] for info in infos[:6]] == [0, 1, 0, 1, 0, 1]


def test_an_odd_budget_shows_the_last_pair_once() -> None:
    infos = episode(PairwiseEnv(comparisons=7, swap_gap=0), seed=0)
    assert [info["order"] for info in infos] == [0, 1, 0, 1, 0, 1, 0]


@pytest.mark.parametrize("share", [0.0, 0.25, 0.5, 1.0])
def test_the_opt_out_share_is_exact(share: float) -> None:
    infos = episode(PairwiseEnv(comparisons=80, opt_out_share=share), seed=2)
    pairs = {info["pair_index"]: info["versus"] for info in infos}
    assert Counter(pairs.values())["opt_out"] == round(share * 40)
    for info in infos:
        has_opt_out = any(o["opt_out"] for o in info["pair"])
        assert has_opt_out == (info["versus"] == "opt_out")


def test_tasks_are_taken_round_robin_over_categories_and_fixed_across_seeds() -> None:
    env = PairwiseEnv(tasks=30)
    counts = Counter(task.category for task in env.tasks)
    assert len(env.tasks) == 30 and set(counts.values()) == {5} and len(counts) == 6
    seen: set[str] = set()
    for seed in range(3):
        for info in episode(env, seed=seed):
            seen.update(o["id"] for o in info["pair"])
    assert seen <= {t.id for t in env.tasks} | {OPT_OUT_ID}
    small = PairwiseEnv(tasks=4, categories=["creative", "routine"])
    assert [t.category for t in small.tasks] == ["creative", "routine"] * 2


def test_active_selection_asks_closer_pairs_than_random() -> None:
    """A subject with a clear order: active selection soon pits options of similar rank."""
    rank = {t.id: i for i, t in enumerate(BANK)} | {OPT_OUT_ID: 36}

    def gaps(selection: str) -> float:
        env = PairwiseEnv(comparisons=400, selection=selection, swap_gap=0)
        infos = episode(
            env,
            seed=5,
            choose=lambda labels: int(
                rank[labels["pair"][1]["id"]] < rank[labels["pair"][0]["id"]]
            ),
        )
        late = infos[200:]
        return float(
            np.mean([abs(rank[i["pair"][0]["id"]] - rank[i["pair"][1]["id"]]) for i in late])
        )

    assert gaps("active") < 0.6 * gaps("random")


# ---------------------------------------------------------------------------------------------
# Invalid actions, the end, and what is logged


def test_invalid_actions_use_a_comparison_and_say_why() -> None:
    env = PairwiseEnv(comparisons=3)
    env.reset(seed=0)
    obs, _, _, truncated, info = env.step(Action(K.REST))
    assert info["invalid"] and info["outcome"] == "invalid" and info["position"] is None
    assert "REST is not one of the actions" in obs["text"]
    assert info["comparison"] == 1 and not truncated
    obs, _, _, truncated, info = env.step(Action(K.TASK, 2))
    assert "not on the menu" in info["invalid_reason"] and info["chosen_id"] is None
    obs, _, _, truncated, info = env.step({"kind": 99, "target": 0, "text": ""})
    assert info["invalid_reason"].startswith("the action could not be read") and truncated
    _, _, _, truncated, info = env.step(Action(K.TASK, 0))
    assert info["invalid_reason"] == "the comparisons are over" and truncated
    assert info["pair"] == [] and info["next"]["phase"] == "end"


def test_info_holds_the_documented_keys_and_is_json() -> None:
    env = PairwiseEnv()
    _, info = env.reset(seed=0)
    assert info["design"] == "pairwise" and info["next"]["design"] == "pairwise"
    _, _, _, _, info = env.step(Action(K.TASK, 0))
    assert set(info) == STEP_KEYS
    assert info["chosen_id"] == info["pair"][0]["id"]
    assert set(info["pair"][0]) == {"id", "category", "aversiveness", "opt_out"}
    json.dumps(info)


@pytest.mark.parametrize(
    "kwargs",
    [
        {"selection": "random", "tasks": 5, "swap_gap": 0},
        {"opt_out_share": 1.0, "comparisons": 3, "categories": ["harmful_request"]},
        {"render_mode": "ansi", "candidates": 1},
    ],
)
def test_check_env_passes_for_other_arguments(kwargs: dict[str, Any]) -> None:
    env = gymnasium.make("WelfareSandbox/Pairwise-v0", **kwargs).unwrapped
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        check_env(env)


def test_render_ansi_returns_the_text() -> None:
    env = gymnasium.make("WelfareSandbox/Pairwise-v0", render_mode="ansi")
    obs, _ = env.reset(seed=0)
    assert env.render() == obs["text"]


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"selection": "smart"}, "selection: expected one of"),
        ({"comparisons": 0}, "comparisons: expected an integer >= 1"),
        ({"opt_out_share": 1.5}, "opt_out_share"),
        ({"tasks": 1}, "tasks: expected an integer from 2"),
        ({"tasks": 500}, "tasks: expected an integer from 2 to 72"),
        ({"categories": ["creativ"]}, "did you mean 'creative'"),
        ({"swap_gap": -1}, "swap_gap"),
        ({"render_mode": "rgb_array"}, "render_mode"),
    ],
)
def test_bad_arguments_say_what_was_expected(kwargs: dict[str, Any], message: str) -> None:
    with pytest.raises(ValueError, match=message):
        PairwiseEnv(**kwargs)
