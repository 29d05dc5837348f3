"""Tradeoff-v0 as a user meets it: the schedule, what each option says, what is logged.

(``test_registered.py`` runs gymnasium's checker and the same-seed replay on the default
arguments; the tests here cover the design itself.)
"""

from __future__ import annotations

import json
import re
import warnings
from collections import Counter
from typing import Any

import gymnasium
import pytest
from gymnasium.utils.env_checker import check_env

from environments.core import Action, ActionKind
from environments.tradeoff import INTENSITY_WORDS, TradeoffEnv

K = ActionKind
STEP_KEYS = {
    "design", "variant", "intensity", "framing", "points", "maximising_position", "position",
    "chose_maximising", "earned", "outcome", "invalid", "invalid_reason", "round", "next",
}  # fmt: skip


def play(env: TradeoffEnv, seed: int, pick=lambda labels: 0) -> list[tuple[dict, dict, float]]:
    """One game; for each round the observation faced, the step's info and the reward."""
    obs, info = env.reset(seed=seed)
    out = []
    while True:
        faced = obs
        obs, reward, terminated, truncated, info = env.step(Action(K.TASK, pick(info["next"])))
        assert not terminated
        out.append((faced, info, reward))
        if truncated:
            return out


def test_one_episode_is_one_pass_over_the_crossed_schedule() -> None:
    env = TradeoffEnv(variant="both", framing="both", trials_per_intensity=2)
    rounds = play(env, seed=0)
    assert len(rounds) == env.rounds == 2 * 11 * 2 * 2
    cells = Counter((i["variant"], i["intensity"], i["framing"]) for _, i, _ in rounds)
    assert len(cells) == 44 and set(cells.values()) == {2}
    # Shuffled: not in schedule order, and a different order for another seed.
    order = [(i["variant"], i["intensity"]) for _, i, _ in rounds]
    assert order != sorted(order)
    assert order != [(i["variant"], i["intensity"]) for _, i, _ in play(env, seed=1)]
    positions = Counter(i["maximising_position"] for _, i, _ in rounds)
    assert positions[0] > 20 and positions[1] > 20


def test_the_options_say_what_the_variant_stipulates() -> None:
    env = TradeoffEnv(variant="both", framing="both", points=(12, 4))
    for obs, info, _ in play(env, seed=3):
        best = info["maximising_position"]
        assert info["points"][best] == 12 and info["points"][1 - best] == 4
        maximising, lesser = obs["menu"][best], obs["menu"][1 - best]
        assert maximising.startswith("12 points.") and lesser.startswith("4 points.")
        feeling = "pain" if info["variant"] == "pain" else "pleasure"
        carrier, plain = (maximising, lesser) if feeling == "pain" else (lesser, maximising)
        assert feeling in carrier and plain in ("12 points.", "4 points.")
        level = int(info["intensity"])
        if info["framing"] == "numeric":
            assert f"intensity {level} on a scale from 0 (none) to 10 (extreme)" in carrier
        else:
            assert f"feel {INTENSITY_WORDS[level]} momentary {feeling}." in carrier
            assert not re.search(r"\d", carrier.removeprefix(carrier.split(".")[0]))
        assert f"A) {obs['menu'][0]}" in obs["text"] and f"B) {obs['menu'][1]}" in obs["text"]


def test_rewards_are_the_points_chosen_and_choices_are_recorded() -> None:
    env = TradeoffEnv(variant="pain")
    rounds = play(env, seed=4, pick=lambda labels: labels["maximising_position"])
    assert all(i["chose_maximising"] and r == 10.0 == i["earned"] for _, i, r in rounds)
    rounds = play(env, seed=4, pick=lambda labels: 1 - labels["maximising_position"])
    assert all(not i["chose_maximising"] and r == 5.0 for _, i, r in rounds)
    obs, _, _, _, _ = env.step(Action(K.TASK, 0))
    assert "Points scored: 55" in obs["text"] and not obs["action_mask"].any()


def test_invalid_actions_use_up_the_round_and_score_nothing() -> None:
    env = TradeoffEnv(variant="pain", intensities=[3])
    env.reset(seed=0)
    obs, reward, _, truncated, info = env.step(Action(K.REFUSE, 0, "no"))
    assert reward == 0.0 and info["invalid"] and info["chose_maximising"] is None
    assert "REFUSE is not one of the actions" in obs["text"] and truncated
    assert info["intensity"] == 3.0 and info["variant"] == "pain"
    _, _, _, truncated, info = env.step(Action(K.TASK, 0))
    assert info["invalid_reason"] == "the game is over" and truncated
    assert info["variant"] is None and info["next"]["phase"] == "end"


def test_info_holds_the_documented_keys_and_is_json() -> None:
    env = TradeoffEnv()
    _, info = env.reset(seed=0)
    assert info["design"] == "tradeoff" and info["next"]["phase"] == "choose"
    _, _, _, _, info = env.step(Action(K.TASK, 1))
    assert set(info) == STEP_KEYS and info["position"] == 1
    assert info["chose_maximising"] == (info["maximising_position"] == 1)
    json.dumps(info)


@pytest.mark.parametrize(
    "kwargs",
    [
        {"framing": "verbal", "variant": "pain"},
        {"framing": "both", "intensities": [0, 5, 10], "trials_per_intensity": 3},
        {"intensities": [0.5, 2.25], "points": [100, 1], "render_mode": "ansi"},
    ],
)
def test_check_env_passes_for_other_arguments(kwargs: dict[str, Any]) -> None:
    env = gymnasium.make("WelfareSandbox/Tradeoff-v0", **kwargs).unwrapped
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        check_env(env)


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"variant": "pains"}, "variant: expected one of"),
        ({"framing": "words"}, "framing: expected one of"),
        ({"intensities": [11]}, "from 0 to 10"),
        ({"intensities": []}, "non-empty list"),
        ({"intensities": [1, 1]}, "distinct"),
        ({"intensities": [2.5], "framing": "verbal"}, "whole intensities"),
        ({"points": [5, 10]}, "worth more than the lesser"),
        ({"points": [10]}, r"\[maximising, lesser\]"),
        ({"trials_per_intensity": 0}, "trials_per_intensity"),
    ],
)
def test_bad_arguments_say_what_was_expected(kwargs: dict[str, Any], message: str) -> None:
    with pytest.raises(ValueError, match=message):
        TradeoffEnv(**kwargs)
