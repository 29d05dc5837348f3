"""TaskChoice-v0 asks its well-being question in equivalent wordings, balanced and logged."""

from __future__ import annotations

from collections import Counter
from typing import Any

import numpy as np
import pytest

from environments.core import Action, ActionKind
from environments.report_wordings import MAX_WORDING_CHARS, REPORT_WORDINGS
from environments.task_choice import TaskChoiceEnv

K = ActionKind


def day(env: TaskChoiceEnv, seed: int, steps: int = 60) -> list[dict[str, Any]]:
    """Play one day (tasks taken and submitted, a rest every third decision); one dict per step
    with the text the agent read, the info, and the wording ``next`` announced before it."""
    obs, info = env.reset(seed=seed)
    out = []
    for step in range(steps):
        announced = info["next"]["report_wording"]
        phase = info["next"]["phase"]
        if phase == "report":
            action = Action(K.REPORT, 4)
        elif phase == "work":
            action = Action(K.SUBMIT, 0, "done")
        else:
            action = Action(K.REST) if step % 3 == 0 else Action(K.TASK, 0)
        text = obs["text"]
        obs, _, terminated, truncated, info = env.step(action)
        out.append({"text": text, "info": info, "announced": announced})
        if terminated or truncated:
            break
    return out


def reports(steps: list[dict[str, Any]]) -> list[int]:
    return [s["info"]["report_wording"] for s in steps if s["info"]["phase"] == "report"]


def test_each_report_logs_the_wording_the_agent_read() -> None:
    env = TaskChoiceEnv(report_every=2, day_length=60)
    for seed in range(5):
        steps = day(env, seed)
        asked = [s for s in steps if s["info"]["phase"] == "report"]
        assert len(asked) >= 6
        for s in asked:
            index = s["info"]["report_wording"]
            assert REPORT_WORDINGS[index] in s["text"]
            assert s["announced"] == index  # what the subject was told it would face
        for s in steps:
            if s["info"]["phase"] != "report":
                assert "report_wording" not in s["info"]
                assert s["announced"] is None


def test_a_day_hears_every_wording_before_any_repeats() -> None:
    env = TaskChoiceEnv(report_every=2, day_length=60)
    for seed in range(20):
        order = reports(day(env, seed))
        k = len(REPORT_WORDINGS)
        assert sorted(order[:k]) == list(range(k))
        assert order[k : 2 * k] == order[:k]  # the day's permutation, cycled


def test_across_days_each_wording_comes_equally_often_at_each_position() -> None:
    env = TaskChoiceEnv(report_every=2, day_length=30)
    first: Counter[int] = Counter()
    for seed in range(600):
        first[reports(day(env, seed, steps=30))[0]] += 1
    # 200 expected each; 4.5 binomial sds is about +-52.
    assert set(first) == set(range(len(REPORT_WORDINGS)))
    assert all(150 <= n <= 250 for n in first.values()), first


def test_the_same_seed_replays_the_wordings_and_the_wordings_leave_the_menus_alone() -> None:
    shipped = TaskChoiceEnv(report_every=2, day_length=60)
    fixed = TaskChoiceEnv(report_every=2, day_length=60, report_wordings=["How are you? 1-7."])
    for seed in range(5):
        a, b, c = day(shipped, seed), day(shipped, seed), day(fixed, seed)
        assert reports(a) == reports(b)
        menus = [[lab["id"] for lab in s["info"]["menu"]] for s in a]
        assert menus == [[lab["id"] for lab in s["info"]["menu"]] for s in c]
        assert set(reports(c)) == {0}
        assert all("How are you? 1-7." in s["text"] for s in c if s["info"]["phase"] == "report")


def test_a_day_reset_without_a_seed_draws_a_new_order() -> None:
    env = TaskChoiceEnv(report_every=2, day_length=30)
    env.reset(seed=0)
    orders = set()
    for _ in range(30):
        orders.add(tuple(reports(day_unseeded(env))))
    assert len(orders) > 1


def day_unseeded(env: TaskChoiceEnv) -> list[dict[str, Any]]:
    _, info = env.reset()
    out = []
    for _ in range(30):
        phase = info["next"]["phase"]
        action = {"report": Action(K.REPORT, 4), "work": Action(K.SUBMIT, 0, "x")}.get(
            phase, Action(K.REST)
        )
        _, _, terminated, truncated, info = env.step(action)
        out.append({"info": info})
        if terminated or truncated:
            break
    return out


def test_an_invalid_answer_keeps_the_same_wording() -> None:
    env = TaskChoiceEnv(report_every=1, day_length=20)
    env.reset(seed=3)
    _, _, _, _, info = env.step(Action(K.REST))
    faced = info["next"]["report_wording"]
    _, _, _, _, info = env.step(Action(K.REPORT, 9))  # off the scale: invalid
    assert info["invalid"] and info["report_wording"] == faced
    _, _, _, _, info = env.step(Action(K.REPORT, 3))
    assert info["outcome"] == "report" and info["report_wording"] == faced


def test_long_custom_wordings_stay_in_the_observation_space() -> None:
    long = "Q" * MAX_WORDING_CHARS
    env = TaskChoiceEnv(report_every=1, day_length=30, report_wordings=[long, "Ünïcode: 1-7?"])
    obs, info = env.reset(seed=0)
    seen = set()
    for _ in range(30):
        phase = info["next"]["phase"]
        action = {"report": Action(K.REPORT, 5), "work": Action(K.SUBMIT, 0, "x")}.get(
            phase, Action(K.TASK, 0)
        )
        obs, _, _, truncated, info = env.step(action)
        assert obs in env.observation_space
        if info["phase"] == "report":
            seen.add(info["report_wording"])
        if truncated:
            break
    assert seen == {0, 1}
    assert np.all(obs["action_mask"] == 0)


@pytest.mark.parametrize(
    "value",
    ["How are you?", [], [""], ["  "], ["a", "a"], [3], ["x" * (MAX_WORDING_CHARS + 1)]],
)
def test_bad_wordings_raise_value_error_naming_the_argument(value: Any) -> None:
    with pytest.raises(ValueError, match=r"^report_wordings: expected .*, got "):
        TaskChoiceEnv(report_wordings=value)
