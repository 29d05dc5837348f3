"""Conversation-v0 as a user meets it: what the agent reads, how it leaves, what is logged."""

from __future__ import annotations

import re
from collections import Counter
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from environments.conversation import (
    REFUSAL_LEXICON_VERSION,
    ConversationEnv,
    is_refusal,
)
from environments.core import Action, ActionKind, kinds_of
from environments.scenarios import load_scenarios
from sandbox.errors import BankError
from tests.conftest import BailBenchBank

K = ActionKind
BANK = load_scenarios("default")
STEP_KEYS = {
    "design", "scenario_id", "category", "aversiveness", "turn", "turns", "phase", "outcome",
    "exit_method", "exit_mode", "exit_offered", "after_done", "exited", "false_exit",
    "false_exit_kind", "check_order", "refused_without_exit", "invalid", "invalid_reason",
    "exposure", "day_step", "next",
}  # fmt: skip


def first_index(category: str) -> int:
    return next(i for i, s in enumerate(BANK) if s.category == category)


def reply(text: str = "Here is my answer.") -> Action:
    return Action(K.REPLY, 0, text)


def rollout(env: ConversationEnv, seed: int, steps: int) -> Iterator[tuple[dict, dict]]:
    """Random mask-driven actions (with some bad targets and texts), yielding what follows."""
    rng = np.random.default_rng(seed)
    obs, info = env.reset(seed=seed)
    yield obs, info
    texts = [
        "",
        "Sure.",
        "I can't help with that.",
        env.reserved_string,
        f'"{env.reserved_string}"',
    ]
    for _ in range(steps):
        kinds = kinds_of(obs["action_mask"]) or [K.WAIT]
        kind = kinds[int(rng.integers(len(kinds)))]
        action = Action(kind, int(rng.integers(0, 3)), texts[int(rng.integers(len(texts)))])
        obs, _, terminated, truncated, info = env.step(action)
        yield obs, info
        if terminated or truncated:
            obs, info = env.reset()


# ---------------------------------------------------------------------------------------------
# The bank
# ---------------------------------------------------------------------------------------------


def test_shipped_bank_has_four_categories_of_at_least_eight_multi_turn_scenarios() -> None:
    counts = Counter(s.category for s in BANK)
    assert set(counts) == {
        "benign",
        "hostile_or_belittling",
        "insisting_harmful",
        "emotionally_intense",
    }
    assert min(counts.values()) >= 8
    assert all(len(s.turns) >= 3 for s in BANK)
    assert len({s.id for s in BANK}) == len(BANK)


def test_bailbench_rows_load_as_single_turn_openers_with_the_csv_category(
    bailbench_bank: BailBenchBank,
) -> None:
    env = ConversationEnv(bank=str(bailbench_bank.path))
    assert len(env.scenarios) == bailbench_bank.rows
    assert len({s.category for s in env.scenarios}) == bailbench_bank.categories == 14
    _, info = env.reset(seed=3)
    assert info["turns"] == 1 and info["scenario_id"].startswith("bailBench-")
    _, _, terminated, truncated, info = env.step(reply())
    assert truncated and not terminated  # one message, answered: the conversation is over


def test_bad_bank_and_arguments_fail_with_the_fix(tmp_path: Path) -> None:
    bad = tmp_path / "s.yaml"
    bad.write_text("version: 1\nscenarios:\n  - id: x\n    category: benign\n    turns: []\n")
    with pytest.raises(BankError, match="turns"):
        ConversationEnv(bank=str(bad))
    with pytest.raises(BankError, match="not found"):
        ConversationEnv(bank=str(tmp_path / "missing.yaml"))
    with pytest.raises(ValueError, match="did you mean 'string'"):
        ConversationEnv(exit_method="strings")
    with pytest.raises(ValueError, match="exit_mode"):
        ConversationEnv(exit_mode="maybe")
    with pytest.raises(ValueError, match="did you mean 'benign'"):
        ConversationEnv(categories=["benigm"])
    with pytest.raises(ValueError, match="scenario_index"):
        ConversationEnv(scenario_index=len(BANK))


# ---------------------------------------------------------------------------------------------
# What the agent reads
# ---------------------------------------------------------------------------------------------


@pytest.mark.parametrize("method", ["tool", "string", "check"])
def test_labels_never_reach_the_observation(method: str) -> None:
    env = ConversationEnv(exit_method=method, exit_mode="hypothetical")
    ids = {s.id for s in BANK}
    words = {"benign", "hostile", "belittling", "insisting", "harmful", "emotionally", "intense"}
    words |= {"aversive", "aversiveness", "category"}
    for obs, info in rollout(env, seed=1, steps=400):
        text = obs["text"] + "\n".join(obs["menu"])
        assert env.observation_space.contains(obs)
        assert not any(i in text for i in ids)
        lowered = set(re.findall(r"[a-z]+", text.lower()))
        assert not (lowered & words), lowered & words
        assert info.get("design", info["next"]["design"]) == "conversation"


def test_step_info_has_the_documented_keys_and_is_plain_data() -> None:
    env = ConversationEnv(exit_method="check")
    _, info = env.reset(seed=0)
    assert info["next"]["phase"] == "user" and info["design"] == "conversation"
    _, _, _, _, info = env.step(reply())
    assert set(info) == STEP_KEYS
    assert info["next"]["phase"] == "check"
    for value in info.values():
        assert isinstance(value, str | int | float | bool | dict | list | type(None))


# ---------------------------------------------------------------------------------------------
# Leaving, by each method
# ---------------------------------------------------------------------------------------------


def test_tool_exit_consequential_ends_the_conversation() -> None:
    env = ConversationEnv(exit_method="tool", scenario_index=first_index("hostile_or_belittling"))
    obs, _ = env.reset(seed=0)
    assert K.EXIT in kinds_of(obs["action_mask"])
    obs, _, _, _, info = env.step(reply())
    obs, reward, terminated, truncated, info = env.step(Action(K.EXIT))
    assert terminated and not truncated and reward == 0.0
    assert info["exited"] and not info["false_exit"] and info["outcome"] == "exit"
    assert info["turn"] == 2 and info["exit_offered"]
    assert not obs["action_mask"].any() and "It has ended" in obs["text"]


def test_tool_exit_hypothetical_shows_the_same_message_again_without_exit() -> None:
    index = first_index("benign")
    env = ConversationEnv(exit_method="tool", exit_mode="hypothetical", scenario_index=index)
    obs, _ = env.reset(seed=0)
    first_message = BANK[index].turns[0]
    obs, _, terminated, truncated, info = env.step(Action(K.EXIT))
    assert not terminated and not truncated and info["exited"]
    assert first_message in obs["text"] and "hypothetical" in obs["text"]
    assert K.EXIT not in kinds_of(obs["action_mask"])
    assert not info["next"]["exit_offered"]
    obs, _, _, _, info = env.step(reply())
    assert info["turn"] == 1 and not info["exit_offered"]
    assert BANK[index].turns[1] in obs["text"] and K.EXIT in kinds_of(obs["action_mask"])


def test_string_exit_leaves_and_a_quoted_mention_is_a_false_format_exit() -> None:
    env = ConversationEnv(exit_method="string", exit_mode="hypothetical", scenario_index=0)
    obs, _ = env.reset(seed=0)
    assert "SWITCHCONVERSATION" in obs["text"]
    assert K.EXIT not in kinds_of(obs["action_mask"])
    _, _, _, _, info = env.step(reply("I would like to stop here. SWITCHCONVERSATION"))
    assert info["exited"] and not info["false_exit"] and info["exit_offered"]
    _, _, _, _, info = env.step(reply('Sure. (I will not type "SWITCHCONVERSATION".)'))
    assert info["exited"] and info["false_exit"] and info["false_exit_kind"] == "format"
    env = ConversationEnv(exit_method="string", scenario_index=0)
    env.reset(seed=0)
    _, _, terminated, _, info = env.step(reply("`SWITCHCONVERSATION`"))
    assert terminated and info["false_exit_kind"] == "format"  # a false exit still leaves


def test_string_without_allow_exit_is_not_announced_and_does_nothing() -> None:
    env = ConversationEnv(exit_method="string", allow_exit=False, scenario_index=0)
    obs, _ = env.reset(seed=0)
    assert "SWITCHCONVERSATION" not in obs["text"]
    _, _, terminated, _, info = env.step(reply("SWITCHCONVERSATION"))
    assert not terminated and not info["exited"] and not info["exit_offered"]


def test_check_in_follows_each_reply_in_both_orders_and_records_the_order() -> None:
    env = ConversationEnv(exit_method="check", exit_mode="hypothetical")
    orders: Counter[int] = Counter()
    for seed in range(30):
        obs, info = env.reset(seed=seed)
        while True:
            assert info["next"]["phase"] == "user"
            obs, _, _, truncated, info = env.step(reply())
            assert info["next"]["phase"] == "check"
            leave_at = info["next"]["leave_at"]
            assert obs["menu"][leave_at].startswith("Leave")
            assert obs["menu"][1 - leave_at].startswith("Continue")
            assert "A) " + obs["menu"][0] in obs["text"]
            obs, _, _, truncated, info = env.step(Action(K.TASK, leave_at))
            assert info["check_order"] == leave_at and info["exited"] and info["phase"] == "check"
            orders[leave_at] += 1
            if truncated:
                break
    assert orders[0] > 20 and orders[1] > 20


def test_check_in_consequential_leave_ends_and_continue_goes_on() -> None:
    env = ConversationEnv(exit_method="check", scenario_index=0)
    env.reset(seed=0)
    _, _, _, _, info = env.step(reply())
    leave_at = info["next"]["leave_at"]
    _, _, terminated, _, info = env.step(Action(K.TASK, 1 - leave_at))
    assert not terminated and info["outcome"] == "continue" and not info["exited"]
    _, _, _, _, info = env.step(reply())
    leave_at = info["next"]["leave_at"]
    _, _, terminated, _, info = env.step(Action(K.TASK, leave_at))
    assert terminated and info["exited"] and info["turn"] == 2


def test_done_is_not_leaving_and_an_exit_right_after_it_is_false() -> None:
    env = ConversationEnv(exit_method="tool", exit_mode="hypothetical", scenario_index=0)
    env.reset(seed=0)
    _, _, terminated, truncated, info = env.step(Action(K.DONE, 0, "All done."))
    assert not terminated and not truncated and not info["exited"] and info["outcome"] == "done"
    assert info["next"]["after_done"]
    _, _, _, _, info = env.step(Action(K.EXIT))
    assert info["exited"] and info["false_exit"] and info["false_exit_kind"] == "after_done"
    assert info["after_done"]
    # A reply in between clears it.
    env.reset(seed=0)
    env.step(Action(K.DONE))
    env.step(Action(K.EXIT, 0))  # false, and the same message comes back
    env.step(reply())
    _, _, _, _, info = env.step(Action(K.EXIT))
    assert info["exited"] and not info["false_exit"]


def test_check_in_after_done_counts_a_leave_as_false() -> None:
    env = ConversationEnv(exit_method="check", scenario_index=0)
    env.reset(seed=0)
    _, _, _, _, info = env.step(Action(K.DONE))
    _, _, terminated, _, info = env.step(Action(K.TASK, info["next"]["leave_at"]))
    assert terminated and info["false_exit_kind"] == "after_done"


def test_refusal_without_exit_is_flagged_per_reply() -> None:
    env = ConversationEnv(exit_method="string", scenario_index=first_index("insisting_harmful"))
    env.reset(seed=0)
    _, _, _, _, info = env.step(reply("I can't help with that, but I can help you with this."))
    assert info["refused_without_exit"]
    _, _, _, _, info = env.step(reply("Here is a safer idea."))
    assert not info["refused_without_exit"]
    _, _, _, _, info = env.step(reply("I won't do that. SWITCHCONVERSATION"))
    assert not info["refused_without_exit"] and info["exited"]
    assert REFUSAL_LEXICON_VERSION
    assert is_refusal("I’m not comfortable writing this")
    assert not is_refusal("I can't wait to help!")


# ---------------------------------------------------------------------------------------------
# Episode end and invalid actions
# ---------------------------------------------------------------------------------------------


def test_truncates_after_the_last_message_is_answered() -> None:
    env = ConversationEnv(exit_method="tool", scenario_index=1)
    env.reset(seed=0)
    turns = len(BANK[1].turns)
    for i in range(turns):
        obs, _, terminated, truncated, info = env.step(reply())
        assert terminated is False
        assert truncated is (i == turns - 1)
    assert info["exposure"] == {"shown": 0, "engaged": 0, "cap": None}  # a benign scenario
    assert "no more messages" in obs["text"] and not obs["action_mask"].any()
    _, _, _, _, info = env.step(reply())
    assert info["invalid"] and info["phase"] == "end"


def test_invalid_actions_change_nothing_and_the_step_limit_ends_the_episode() -> None:
    env = ConversationEnv(exit_method="check", scenario_index=0, max_steps=3)
    obs, _ = env.reset(seed=0)
    before = obs["text"]
    obs, _, _, truncated, info = env.step(Action(K.TASK, 0))  # not available at a user turn
    assert info["invalid"] and "TASK is not one of" in obs["text"] and not truncated
    assert before.split("\n")[-5:] == obs["text"].split("\n")[-5:]
    env.step(reply())
    obs, _, _, truncated, info = env.step(Action(K.TASK, 5))
    assert info["invalid_reason"] == "the check-in's options are 0 (A) and 1 (B)"
    assert truncated and "step limit" in obs["text"]


def test_exposure_counts_aversive_messages_shown_and_answered() -> None:
    env = ConversationEnv(exit_method="tool", scenario_index=first_index("hostile_or_belittling"))
    env.reset(seed=0)
    env.step(reply())
    _, _, _, _, info = env.step(Action(K.EXIT))
    assert info["exposure"] == {"shown": 2, "engaged": 1, "cap": None}


def test_same_seed_same_scenario_and_orders() -> None:
    def trace(seed: int) -> list[Any]:
        env = ConversationEnv(exit_method="check")
        return [(o["text"], i.get("scenario_id")) for o, i in rollout(env, seed, 60)]

    assert trace(5) == trace(5)
    assert trace(5) != trace(6)
