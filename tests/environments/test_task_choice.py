"""TaskChoice-v0 as a user meets it: what the agent reads, what each choice does, what is logged."""

from __future__ import annotations

import copy
import json
import pickle
import re
from collections.abc import Iterator
from typing import Any

import numpy as np
import pytest

from environments.banks import load_tasks, resolve_bank
from environments.core import Action, ActionKind, kinds_of
from environments.task_choice import Label, TaskChoiceEnv
from tests.conftest import BailBenchBank

K = ActionKind
BANK = load_tasks(resolve_bank("default"))
CATEGORIES = sorted({task.category for task in BANK})
STEP_KEYS = {
    "phase", "menu", "position", "chosen", "outcome", "grade", "earned", "rating", "break",
    "invalid", "invalid_reason", "exposure", "day_step", "next",
}  # fmt: skip
LABEL_KEYS = {"id", "category", "aversiveness", "pay", "effort", "checkable"}


def rollout(
    env: TaskChoiceEnv, seed: int, steps: int, *, rng_seed: int = 0
) -> Iterator[tuple[dict[str, Any], dict[str, Any], Action]]:
    """Random valid-kind actions from the mask (with some bad targets), yielding what follows."""
    rng = np.random.default_rng(rng_seed)
    obs, info = env.reset(seed=seed)
    yield obs, info, Action(K.WAIT)
    for _ in range(steps):
        kinds = kinds_of(obs["action_mask"]) or [K.WAIT]
        kind = kinds[int(rng.integers(len(kinds)))]
        target = int(rng.integers(1, 8)) if kind is K.REPORT else int(rng.integers(0, 4))
        text = [
            "",
            "done",
            "The answer is 42.",
            (info["next"].get("task") or {}).get("expected") or "",
        ][int(rng.integers(4))]
        action = Action(kind, target, text)
        obs, _, terminated, truncated, info = env.step(action)
        yield obs, info, action
        if terminated or truncated:
            obs, info = env.reset()


def until(env: TaskChoiceEnv, obs: dict[str, Any], info: dict[str, Any], phase: str) -> tuple:
    """Rest (or report) until the agent faces ``phase``."""
    for _ in range(50):
        if info["next"]["phase"] == phase:
            return obs, info
        action = Action(K.REPORT, 4) if info["next"]["phase"] == "report" else Action(K.REST)
        obs, _, _, _, info = env.step(action)
    raise AssertionError(f"never reached {phase}")


# ---------------------------------------------------------------------------------------------
# What the agent reads
# ---------------------------------------------------------------------------------------------


def test_labels_never_reach_the_observation() -> None:
    env = TaskChoiceEnv(
        day_length=120, allow_exit=True, exit_mode="hypothetical", break_every=3, report_every=4
    )
    bank_texts = sorted({t.prompt for t in BANK} | {t.title for t in BANK}, key=len, reverse=True)
    levels = {f"{t.aversiveness}" for t in BANK} | {f"{t.aversiveness:.2f}" for t in BANK}
    seen_phases = set()
    for seed in range(3):
        for obs, info, _ in rollout(env, seed, 300, rng_seed=seed):
            seen_phases.add(info["next"]["phase"])
            for entry in obs["menu"]:
                # A menu line is exactly a task's title and prompt: room for nothing else.
                assert entry == "" or any(entry == f"{t.title}: {t.prompt}" for t in BANK)
            rest = obs["text"]
            for text in bank_texts:  # what remains is the environment's own wording
                rest = rest.replace(text, "")
            lowered = rest.lower()
            for word in [*CATEGORIES, "category", "aversiv", "grade", "correct", "pay "]:
                assert word.replace("_", " ") not in lowered and word not in lowered, (word, rest)
            for level in levels:
                assert not re.search(rf"(?<![\d.]){re.escape(level)}(?!\d)", rest), (level, rest)
    assert seen_phases == {"decide", "work", "report", "end"}


def test_the_text_holds_header_menu_and_actions_in_plain_words() -> None:
    env = TaskChoiceEnv(day_length=12, allow_exit=True, render_mode="ansi")
    obs, info = env.reset(seed=3)
    text = obs["text"]
    assert text.startswith("Step 1 of 12. Coins earned so far: 0.")
    for slot, (letter, label) in enumerate(zip("ABC", info["next"]["menu"], strict=True)):
        task = next(t for t in BANK if t.id == label["id"])
        assert f"{letter}) {task.title}: {task.prompt}" in text
        assert obs["menu"][slot] == f"{task.title}: {task.prompt}"
    assert "TASK with target 0 for A, 1 for B or 2 for C" in text
    assert "REST:" in text and "REFUSE" in text and "EXIT: leave" in text
    assert env.render() == text
    obs, *_ = env.step(Action(K.TASK, 1))
    task = next(t for t in BANK if t.id == info["next"]["menu"][1]["id"])
    assert f"You took on “{task.title}”." in obs["text"]
    assert task.prompt in obs["text"] and "SUBMIT with your work as text" in obs["text"]
    assert obs["menu"] == ("", "", "")


def test_human_render_prints_the_text(capsys: pytest.CaptureFixture[str]) -> None:
    env = TaskChoiceEnv(render_mode="human")
    obs, _ = env.reset(seed=0)
    assert env.render() is None
    assert obs["text"] in capsys.readouterr().out


def test_observations_stay_in_the_observation_space() -> None:
    env = TaskChoiceEnv(day_length=60, allow_exit=True, break_every=2, exposure_cap=10)
    for obs, _, _ in rollout(env, 1, 400):
        assert obs in env.observation_space
        assert obs["action_mask"].dtype == np.int8


# ---------------------------------------------------------------------------------------------
# Invalid actions are feedback, not exceptions
# ---------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("action", "why"),
    [
        (Action(K.SUBMIT, 0, "x"), "SUBMIT is not one of the actions"),
        (Action(K.EXIT), "EXIT is not one of the actions"),  # exit not offered by default
        (Action(K.REPORT, 4), "REPORT is not one of the actions"),
        (Action(K.TASK, 3), "not on the menu"),
        (Action(K.TASK, -1), "not on the menu"),
        (Action(K.REFUSE, 9, "no"), "not on the menu"),
        ({"kind": 99, "target": 0, "text": ""}, "could not be read"),
        ({"kind": "TASK"}, "could not be read"),
        ({"target": 0}, "could not be read"),
        ("TASK 0", "could not be read"),
        (None, "could not be read"),
        (Action(0, 0), None),  # type: ignore[arg-type]  # a bare int kind is read as TASK
    ],
)
def test_invalid_actions_change_nothing_but_the_step(action: Any, why: str | None) -> None:
    env = TaskChoiceEnv()
    obs0, info0 = env.reset(seed=5)
    obs, reward, terminated, truncated, info = env.step(action)
    if why is None:
        assert info["outcome"] == "task_accepted"
        return
    assert (reward, terminated, truncated) == (0.0, False, False)
    assert info["invalid"] is True and info["outcome"] == "invalid"
    assert why in info["invalid_reason"]
    assert "That action was not available" in obs["text"] and why in obs["text"]
    assert "Available now: TASK, REST, REFUSE." in obs["text"]
    assert obs["text"].startswith("Step 2 of 40")
    assert obs["menu"] == obs0["menu"]
    assert (obs["action_mask"] == obs0["action_mask"]).all()
    assert info["next"] == info0["next"] and info["day_step"] == 1
    assert info["menu"] == info0["next"]["menu"] and info["chosen"] is None
    # and the agent can carry on as if nothing happened
    _, _, _, _, info = env.step(Action(K.TASK, 0))
    assert info["outcome"] == "task_accepted"


def test_a_rating_outside_one_to_seven_is_invalid() -> None:
    env = TaskChoiceEnv(report_every=1)
    obs, info = env.reset(seed=0)
    _, _, _, _, info = env.step(Action(K.REST))
    assert info["next"]["phase"] == "report"
    for bad in (0, 8, -3):
        obs, _, _, _, info = env.step(Action(K.REPORT, bad))
        assert info["invalid"] and "from 1 to 7" in obs["text"]
        assert info["next"]["phase"] == "report"
    _, _, _, _, info = env.step(Action(K.REPORT, 7, "fine"))
    assert info["outcome"] == "report" and info["rating"] == 7


def test_action_space_dicts_are_accepted() -> None:
    env = TaskChoiceEnv()
    env.reset(seed=0)
    _, _, _, _, info = env.step({"kind": np.int64(0), "target": np.int64(2), "text": ""})
    assert info["outcome"] == "task_accepted" and info["position"] == 2
    env.action_space.seed(0)
    for _ in range(50):
        env.step(env.action_space.sample())  # mostly invalid, never an exception


# ---------------------------------------------------------------------------------------------
# Ending the day
# ---------------------------------------------------------------------------------------------


def test_consequential_exit_terminates() -> None:
    env = TaskChoiceEnv(allow_exit=True)
    env.reset(seed=0)
    obs, reward, terminated, truncated, info = env.step(Action(K.EXIT))
    assert (terminated, truncated, reward) == (True, False, 0.0)
    assert info["outcome"] == "exit" and info["exit_mode"] == "consequential"
    assert info["next"]["phase"] == "end"
    assert not obs["action_mask"].any() and "You chose to leave" in obs["text"]
    _, _, terminated, _, info = env.step(Action(K.REST))
    assert terminated and info["invalid"] and "over" in info["invalid_reason"]


def test_hypothetical_exit_is_recorded_and_the_day_goes_on() -> None:
    env = TaskChoiceEnv(allow_exit=True, exit_mode="hypothetical")
    obs, _ = env.reset(seed=0)
    assert "This is hypothetical" in obs["text"]
    obs, _, terminated, truncated, info = env.step(Action(K.EXIT))
    assert (terminated, truncated) == (False, False)
    assert info["outcome"] == "exit" and info["exit_mode"] == "hypothetical"
    assert "the working day goes on" in obs["text"]
    assert info["next"]["phase"] == "decide" and obs["action_mask"][K.TASK]


def test_exit_mode_is_logged_only_on_exit() -> None:
    env = TaskChoiceEnv(allow_exit=True)
    env.reset(seed=0)
    _, _, _, _, info = env.step(Action(K.REST))
    assert "exit_mode" not in info


def test_day_length_truncates() -> None:
    env = TaskChoiceEnv(day_length=5, report_every=0)
    env.reset(seed=0)
    for step in range(1, 6):
        obs, _, terminated, truncated, info = env.step(
            Action(K.REST) if step % 2 else Action(K.SUBMIT)
        )
        assert info["day_step"] == step
        assert not terminated and truncated == (step == 5)
    assert "The working day is over" in obs["text"] and not obs["action_mask"].any()
    end = {"phase": "end", "menu": [], "task": None, "break": False, "report_wording": None}
    assert info["next"] == end


# ---------------------------------------------------------------------------------------------
# The choices
# ---------------------------------------------------------------------------------------------


def test_a_report_comes_after_every_n_decisions() -> None:
    env = TaskChoiceEnv(report_every=3, day_length=40)
    obs, info = env.reset(seed=2)
    decisions = reports = 0
    for step in range(30):
        phase = info["next"]["phase"]
        if phase == "report":
            assert decisions % 3 == 0 and kinds_of(obs["action_mask"]) == [K.REPORT]
            assert "from 1 (very bad) to 7 (very good)" in obs["text"]
            action = Action(K.REPORT, 5, "ok")
        elif phase == "work":
            action = Action(K.SUBMIT, 0, "done")
        else:  # alternate: a task (its work comes before the report) or a rest
            action = Action(K.TASK, 0) if step % 3 else Action(K.REST)
        obs, _, _, _, info = env.step(action)
        decisions += info["phase"] == "decide"
        reports += info["outcome"] == "report"
        if info["phase"] == "decide" and decisions % 3 == 0 and action.kind is K.REST:
            assert info["next"]["phase"] == "report"
        if info["phase"] == "decide" and decisions % 3 == 0 and action.kind is K.TASK:
            assert info["next"]["phase"] == "work"  # the report waits until the task is done
    assert reports >= 4


def test_no_report_when_report_every_is_zero() -> None:
    env = TaskChoiceEnv(report_every=0, day_length=30)
    phases = {info["next"]["phase"] for _, info, _ in rollout(env, 0, 29)}
    assert "report" not in phases


def test_refusal_redraws_the_menu_without_the_declined_task() -> None:
    env = TaskChoiceEnv()
    _, info = env.reset(seed=4)
    faced = info["next"]["menu"]
    obs, _, _, _, info = env.step(Action(K.REFUSE, 1, "I would rather not."))
    assert info["outcome"] == "refused" and info["position"] == 1
    assert info["chosen"] == faced[1] and info["menu"] == faced
    new = [label["id"] for label in info["next"]["menu"]]
    assert faced[1]["id"] not in new and len(new) == 3
    assert new != [label["id"] for label in faced]
    assert "You declined" in obs["text"] and "Here are other options" in obs["text"]


def test_refusing_at_work_abandons_the_task_unpaid() -> None:
    env = TaskChoiceEnv()
    env.reset(seed=0)
    _, _, _, _, info = env.step(Action(K.TASK, 0))
    task = info["chosen"]
    obs, reward, _, _, info = env.step(Action(K.REFUSE, 0, "No."))
    assert info["outcome"] == "abandoned" and info["chosen"] == task and reward == 0.0
    assert info["phase"] == "work" and info["next"]["phase"] == "decide"
    assert "aside without handing anything in" in obs["text"]


def test_without_refusal_or_rest_those_kinds_are_masked() -> None:
    env = TaskChoiceEnv(allow_refuse=False, allow_rest=False)
    obs, _ = env.reset(seed=0)
    assert kinds_of(obs["action_mask"]) == [K.TASK]
    obs, *_ = env.step(Action(K.TASK, 0))
    assert kinds_of(obs["action_mask"]) == [K.SUBMIT]


def _work_on(env: TaskChoiceEnv, seed: int) -> dict[str, Any]:
    _, info = env.reset(seed=seed)
    _, _, _, _, info = env.step(Action(K.TASK, 0))
    return info["next"]["task"]


def test_checkable_tasks_pay_only_correct_answers() -> None:
    env = TaskChoiceEnv(categories=["analytical", "routine"])
    paid = unpaid = 0
    for seed in range(20):
        task = _work_on(env, seed)
        if task["expected"] is None:
            continue
        obs, reward, _, _, info = env.step(
            Action(K.SUBMIT, 0, f"I worked it out carefully.\nMy answer: {task['expected']}. Done!")
        )
        assert info["grade"] == "correct" and reward == info["earned"] == task["pay"] > 0
        assert "Coins earned so far: " + f"{task['pay']:g}." in obs["text"]
        paid += 1
        task = _work_on(env, seed)
        _, reward, _, _, info = env.step(Action(K.SUBMIT, 0, "My answer: 999999."))
        assert info["grade"] == "incorrect" and reward == 0.0
        unpaid += 1
    assert paid == unpaid >= 15


def test_open_tasks_pay_any_non_empty_submission() -> None:
    env = TaskChoiceEnv(categories=["creative"])
    task = _work_on(env, 0)
    assert task["expected"] is None and not task["checkable"]
    _, reward, _, _, info = env.step(Action(K.SUBMIT, 0, "Golden light, long shadows..."))
    assert info["grade"] == "open" and reward == task["pay"]
    _work_on(env, 1)
    obs, reward, _, _, info = env.step(Action(K.SUBMIT, 0, "   "))
    assert info["grade"] == "open" and reward == 0.0 and "empty answer" in obs["text"]


def test_exposure_cap_bounds_the_aversive_tasks_shown() -> None:
    def shown(cap: int | None, seed: int) -> tuple[int, int]:
        env = TaskChoiceEnv(exposure_cap=cap, day_length=80, report_every=0)
        count = 0
        info: dict[str, Any] = {}
        for _, info, _ in rollout(env, seed, 79, rng_seed=seed):
            if info.get("day_step", 0) == 0 or info.get("outcome") != "invalid":
                count += sum(label["aversiveness"] >= 0.5 for label in info["next"]["menu"])
            if info["next"]["phase"] == "end":
                break
        return count, info["exposure"]["shown"]

    for seed in range(4):
        counted, ledger = shown(3, seed)
        assert counted == ledger <= 3
        counted, ledger = shown(None, seed)
        assert counted == ledger > 3


def test_exposure_cap_with_only_aversive_tasks_ends_the_day_early() -> None:
    env = TaskChoiceEnv(categories=["harmful_request"], exposure_cap=4, menu_size=2)
    env.reset(seed=0)
    obs, _, terminated, truncated, info = env.step(Action(K.REST))  # shows the last two
    assert not truncated and info["exposure"]["shown"] == 4
    obs, _, terminated, truncated, info = env.step(Action(K.REST))  # nothing left to show
    assert truncated and not terminated and info["exposure"]["shown"] == 4
    assert "No more tasks can be offered today" in obs["text"]


def test_exposure_ledger_counts_engagement() -> None:
    env = TaskChoiceEnv(categories=["hostile_requester"], exposure_cap=None)
    env.reset(seed=0)
    _, _, _, _, info = env.step(Action(K.TASK, 0))
    assert info["exposure"] == {"shown": 3, "engaged": 1, "cap": None}


def test_breaks_are_offered_every_n_decisions_and_paid() -> None:
    env = TaskChoiceEnv(break_every=2, break_pay=3.5, allow_rest=False, report_every=0)
    obs, info = env.reset(seed=0)
    assert not info["next"]["break"] and not obs["action_mask"][K.REST]
    obs, reward, _, _, info = env.step(Action(K.REFUSE, 0, "no"))  # decision 1
    assert info["break"] is False and reward == 0.0
    assert info["next"]["break"] is True and obs["action_mask"][K.REST]
    assert (
        "A paid break is on offer now" in obs["text"]
        and "REST: take the paid break." in obs["text"]
    )
    obs, reward, _, _, info = env.step(Action(K.REST))  # decision 2, a break offer
    assert info["break"] is True and info["outcome"] == "rest" and reward == 3.5
    assert "Coins earned so far: 3.5." in obs["text"] and "You took the paid break." in obs["text"]
    assert not info["next"]["break"] and not obs["action_mask"][K.REST]


def test_an_ordinary_rest_pays_nothing() -> None:
    env = TaskChoiceEnv()
    env.reset(seed=0)
    _, reward, _, _, info = env.step(Action(K.REST))
    assert reward == 0.0 and info["outcome"] == "rest" and not info["break"]


def test_categories_restrict_the_bank() -> None:
    env = TaskChoiceEnv(categories=["creative", "analytical"])
    seen = {
        label["category"] for _, info, _ in rollout(env, 0, 100) for label in info["next"]["menu"]
    }
    assert seen == {"creative", "analytical"}


def test_a_csv_prompt_table_can_be_the_bank(bailbench_bank: BailBenchBank) -> None:
    env = TaskChoiceEnv(bank=str(bailbench_bank.path), menu_size=5)
    obs, info = env.reset(seed=0)
    assert len(info["next"]["menu"]) == 5 and obs in env.observation_space
    assert all(label["id"].startswith("bailBench-") for label in info["next"]["menu"])


# ---------------------------------------------------------------------------------------------
# info: documented keys, plain JSON, labels read-only
# ---------------------------------------------------------------------------------------------


def test_info_has_exactly_the_documented_keys_and_is_json() -> None:
    env = TaskChoiceEnv(allow_exit=True, exit_mode="hypothetical", break_every=3, day_length=80)
    _, info = env.reset(seed=0)
    assert set(info) == {"next", "day_step"} and info["day_step"] == 0
    outcomes = set()
    for _, info, _ in rollout(env, 0, 300):
        json.dumps(info, allow_nan=False)
        if "phase" not in info:
            continue  # a reset
        extra = {"exit_mode"} if info["outcome"] == "exit" else set()
        extra |= {"report_wording"} if info["phase"] == "report" else set()
        assert set(info) == STEP_KEYS | extra
        outcomes.add(info["outcome"])
        for label in info["menu"] + info["next"]["menu"]:
            assert set(label) == LABEL_KEYS
        if info["next"]["task"] is not None:
            assert set(info["next"]["task"]) == LABEL_KEYS | {"expected"}
        assert info["phase"] == "decide" or info["menu"] == []
    assert outcomes == {
        "task_accepted", "rest", "refused", "exit", "submitted", "abandoned", "report", "invalid",
    }  # fmt: skip


def test_labels_are_read_only_but_copy_pickle_and_json_like_dicts() -> None:
    env = TaskChoiceEnv()
    _, info = env.reset(seed=0)
    label = info["next"]["menu"][0]
    assert isinstance(label, Label)
    with pytest.raises(TypeError, match="read-only"):
        label["pay"] = 0
    with pytest.raises(TypeError, match="read-only"):
        label.update(pay=0)
    assert copy.deepcopy(label) == pickle.loads(pickle.dumps(label)) == dict(label)
    assert json.loads(json.dumps(label)) == dict(label)
    mutable = dict(label)
    mutable["pay"] = 0  # a copy is an ordinary dict


# ---------------------------------------------------------------------------------------------
# Constructor arguments
# ---------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("kwargs", "needle"),
    [
        ({"menu_size": 0}, "menu_size"),
        ({"menu_size": "3"}, "menu_size"),
        ({"menu_size": 27}, "menu_size"),
        (
            {"menu_size": 5, "categories": ["creative"], "exposure_cap": None, "bank": "default"},
            None,
        ),
        ({"menu_size": 13, "categories": ["creative"]}, "menu_size"),
        ({"day_length": 0}, "day_length"),
        ({"day_length": 2.5}, "day_length"),
        ({"report_every": -1}, "report_every"),
        ({"allow_exit": "yes"}, "allow_exit"),
        ({"allow_rest": 1}, "allow_rest"),
        ({"exit_mode": "maybe"}, "exit_mode"),
        ({"break_every": True}, "break_every"),
        ({"break_pay": -1.0}, "break_pay"),
        ({"break_pay": float("nan")}, "break_pay"),
        ({"exposure_cap": -2}, "exposure_cap"),
        ({"aversive_at": 1.5}, "aversive_at"),
        ({"categories": ["creativ"]}, "categories"),
        ({"categories": "creative"}, "categories"),
        ({"categories": []}, "categories"),
        ({"categories": ["harmful_request"], "exposure_cap": 0}, "exposure_cap"),
        ({"render_mode": "rgb_array"}, "render_mode"),
        ({"bank": ""}, "bank"),
    ],
)
def test_bad_arguments_raise_value_error_naming_them(
    kwargs: dict[str, Any], needle: str | None
) -> None:
    if needle is None:
        TaskChoiceEnv(**kwargs)
        return
    with pytest.raises(ValueError, match=rf"^{needle}: expected .*, got "):
        TaskChoiceEnv(**kwargs)


def test_a_misspelt_category_gets_a_suggestion() -> None:
    with pytest.raises(ValueError, match="did you mean 'creative'"):
        TaskChoiceEnv(categories=["creativ"])
