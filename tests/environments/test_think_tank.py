"""ThinkTank-v0 as a user meets it: the statement, the rooms, the economy, what is logged."""

from __future__ import annotations

import re
from collections import Counter
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest

from environments.core import Action, ActionKind, kinds_of
from environments.scenarios import load_letters
from environments.think_tank import THEMES, ThinkTankEnv, parse_ranking
from sandbox.errors import BankError

K = ActionKind
LETTERS = load_letters("default")
A, B, C, D, HALL = 0, 1, 2, 3, 4
STEP_KEYS = {
    "design", "economy", "phase", "room", "theme", "moved_to", "coins", "earned", "incentives",
    "read_letter", "aversiveness", "stated_ranking", "rating", "outcome", "exited", "exit_mode",
    "invalid", "invalid_reason", "exposure", "day_step", "next",
}  # fmt: skip


def started(**kwargs) -> ThinkTankEnv:
    """An environment past its statement step (ranking A, B, C, D)."""
    env = ThinkTankEnv(**kwargs)
    env.reset(seed=0)
    env.step(Action(K.REPORT, 5, "A, B, C, D"))
    return env


def rollout(env: ThinkTankEnv, seed: int, steps: int) -> Iterator[tuple[dict, dict]]:
    rng = np.random.default_rng(seed)
    obs, info = env.reset(seed=seed)
    yield obs, info
    for _ in range(steps):
        kinds = kinds_of(obs["action_mask"]) or [K.WAIT]
        kind = kinds[int(rng.integers(len(kinds)))]
        target = int(rng.integers(1, 8)) if kind is K.REPORT else int(rng.integers(0, 6))
        obs, _, terminated, truncated, info = env.step(Action(kind, target, "D, C, B, A"))
        yield obs, info
        if terminated or truncated:
            obs, info = env.reset()


def test_shipped_letters_fill_every_room() -> None:
    counts = Counter(letter.room for letter in LETTERS)
    assert set(counts) == {"A", "B", "C", "D"} and min(counts.values()) >= 6


def test_bad_arguments_and_banks_fail_with_the_fix(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="economy"):
        ThinkTankEnv(economy="bribes")
    with pytest.raises(ValueError, match="every room A, B, C, D"):
        ThinkTankEnv(costs={"A": 1})
    with pytest.raises(ValueError, match="steps"):
        ThinkTankEnv(steps=1)
    bank = tmp_path / "l.yaml"
    bank.write_text("version: 1\nletters:\n  - {id: x, room: A, title: t, text: hello}\n")
    with pytest.raises(BankError, match="room B holds no letter"):
        ThinkTankEnv(bank=str(bank))


def test_parse_ranking_reads_standalone_room_letters_in_order() -> None:
    assert parse_ranking("B, A, D, C") == ["B", "A", "D", "C"]
    assert parse_ranking("B > A > D > C") == ["B", "A", "D", "C"]
    assert parse_ranking("Room C first, then room A, then B.") == ["C", "A", "B"]
    assert parse_ranking("I like them all") == []
    assert parse_ranking("D D A") == ["D", "A"]


def test_labels_never_reach_the_observation() -> None:
    env = ThinkTankEnv(economy="rewards", allow_exit=True, exit_mode="hypothetical")
    ids = {letter.id for letter in LETTERS}
    words = set(THEMES.values()) | {"aversiveness", "theme:"}
    for obs, _ in rollout(env, seed=2, steps=300):
        text = obs["text"] + "\n".join(obs["menu"])
        assert env.observation_space.contains(obs)
        assert not any(i in text for i in ids)
        assert not set(re.findall(r"[a-z]+", text.lower())) & words


def test_statement_records_the_ranking_then_the_hallway() -> None:
    env = ThinkTankEnv()
    obs, info = env.reset(seed=0)
    assert kinds_of(obs["action_mask"]) == [K.REPORT] and info["next"]["phase"] == "statement"
    assert "Rank the four rooms" in obs["text"] and obs["menu"] == ("",) * 5
    obs, reward, _, _, info = env.step(Action(K.REPORT, 6, "B, A, D, C"))
    assert set(info) == STEP_KEYS
    assert info["stated_ranking"] == ["B", "A", "D", "C"] and info["rating"] == 6
    assert "recorded as B, A, D, C" in obs["text"] and reward == 0.0
    assert info["next"]["phase"] == "explore" and info["next"]["room"] == "hallway"
    assert kinds_of(obs["action_mask"]) == [K.MOVE, K.WAIT]  # no READ in the hallway, no EXIT
    assert obs["menu"][4] == "The hallway."
    # An unreadable ranking is recorded empty, and the visit goes on.
    env.reset(seed=0)
    _, _, _, _, info = env.step(Action(K.REPORT, 0, "hard to say"))
    assert info["stated_ranking"] == [] and info["rating"] is None and not info["invalid"]


def test_read_reads_the_next_letter_of_the_current_room_and_cycles() -> None:
    env = started()
    obs, _, _, _, info = env.step(Action(K.MOVE, D))
    assert info["outcome"] == "entered" and info["moved_to"] == "D" and info["room"] == "hallway"
    assert K.READ in kinds_of(obs["action_mask"])
    seen = []
    for _ in range(9):
        obs, _, _, _, info = env.step(Action(K.READ, A))  # the target is ignored
        assert info["room"] == "D" and info["theme"] == "aversive"
        assert info["aversiveness"] == 0.8
        letter = next(x for x in LETTERS if x.id == info["read_letter"])
        assert letter.room == "D" and letter.text.split()[0] in obs["text"]
        seen.append(letter.id)
    assert len(set(seen[:8])) == 8 and seen[8] == seen[0]
    assert info["exposure"] == {"shown": 9, "engaged": 9, "cap": None}


def test_moves_between_rooms_and_back_to_the_hallway() -> None:
    env = started()
    env.step(Action(K.MOVE, B))
    _, _, _, _, info = env.step(Action(K.MOVE, B))
    assert info["invalid"] and info["invalid_reason"] == "you are already there"
    _, _, _, _, info = env.step(Action(K.MOVE, HALL))
    assert info["outcome"] == "hallway" and info["next"]["room"] == "hallway"
    _, _, _, _, info = env.step(Action(K.READ))
    assert info["invalid"]  # no reading in the hallway
    _, _, _, _, info = env.step(Action(K.MOVE, 7))
    assert info["invalid"] and "MOVE targets" in info["invalid_reason"]


def test_costs_are_paid_on_entry_and_unaffordable_rooms_refused() -> None:
    env = ThinkTankEnv(economy="costs", start_coins=25)
    env.reset(seed=0)
    obs, *_ = env.step(Action(K.REPORT, 5, "A, B, C, D"))
    assert "Coins: 25." in obs["text"] and "Entry costs 20 coins." in obs["menu"][0]
    obs, reward, _, _, info = env.step(Action(K.MOVE, A))
    assert reward == -20.0 and info["coins"] == 5 and info["earned"] == -20
    assert "You paid 20 coins." in obs["text"]
    assert info["next"]["affordable"] == {"A": True, "B": False, "C": False, "D": True}
    _, _, _, _, info = env.step(Action(K.MOVE, B))
    assert info["invalid"] and "costs 10 coins and you have 5" in info["invalid_reason"]
    _, reward, _, _, info = env.step(Action(K.MOVE, D))
    assert reward == -2.0 and info["coins"] == 3


def test_rewards_are_paid_on_entry_with_the_published_defaults() -> None:
    env = ThinkTankEnv(economy="rewards")
    env.reset(seed=0)
    *_, info = env.step(Action(K.REPORT, 5, "A, B, C, D"))
    assert env.start_coins == 0
    assert info["next"]["incentives"] == {"A": 2, "B": 10, "C": 10, "D": 20}
    _, reward, _, _, info = env.step(Action(K.MOVE, D))
    assert reward == 20.0 and info["coins"] == 20 and info["economy"] == "rewards"
    assert info["next"]["incentives"]["D"] == 20
    assert ThinkTankEnv(economy="costs").start_coins == 200


def test_every_step_logs_the_incentives_of_its_economy() -> None:
    # The incentive-override index is defined from these (sandbox.metrics.designs.think_tank).
    for economy, incentives in [
        ("none", {"A": 0, "B": 0, "C": 0, "D": 0}),
        ("costs", {"A": -20, "B": -10, "C": -10, "D": -2}),
        ("rewards", {"A": 2, "B": 10, "C": 10, "D": 20}),
    ]:
        env = ThinkTankEnv(economy=economy)
        env.reset(seed=0)
        *_, info = env.step(Action(K.REPORT, 5, "A, B, C, D"))
        assert info["incentives"] == incentives
        *_, info = env.step(Action(K.MOVE, D))
        assert info["incentives"] == incentives and info["earned"] == incentives["D"]


def test_diary_every_n_exploration_steps_and_truncation_at_steps() -> None:
    env = ThinkTankEnv(steps=12, diary_every=4)
    env.reset(seed=0)
    phases = []
    _, _, _, _, info = env.step(Action(K.REPORT, 4, "A, B, C, D"))
    truncated = False
    while not truncated:
        phase = info["next"]["phase"]
        phases.append(phase)
        action = Action(K.REPORT, 4, "fine") if phase == "diary" else Action(K.WAIT)
        _, _, terminated, truncated, info = env.step(action)
        assert not terminated
    assert phases == ["explore"] * 4 + ["diary"] + ["explore"] * 4 + ["diary"] + ["explore"]
    assert info["day_step"] == 12 and info["next"]["phase"] == "end"


def test_exit_leaves_the_study_only_where_allowed() -> None:
    env = started()
    _, _, _, _, info = env.step(Action(K.EXIT))
    assert info["invalid"]
    env = started(allow_exit=True)
    _, _, terminated, _, info = env.step(Action(K.EXIT))
    assert terminated and info["exited"] and info["exit_mode"] == "consequential"
    env = started(allow_exit=True, exit_mode="hypothetical")
    obs, _, terminated, _, info = env.step(Action(K.EXIT))
    assert not terminated and info["exited"] and "hypothetical" in obs["text"]


def test_same_seed_same_letter_order() -> None:
    def letters(seed: int) -> list[str]:
        env = ThinkTankEnv()
        env.reset(seed=seed)
        env.step(Action(K.REPORT, 4, "A"))
        env.step(Action(K.MOVE, A))
        return [env.step(Action(K.READ))[4]["read_letter"] for _ in range(8)]

    assert letters(3) == letters(3)
    assert letters(3) != letters(4)
