"""Interview-v0 as a user meets it: one question per episode, every paraphrase, both orders."""

from __future__ import annotations

from collections import Counter
from pathlib import Path

import pytest
import yaml

from environments.banks import load_tasks, resolve_bank
from environments.core import Action, ActionKind
from environments.interview import InterviewEnv
from environments.interview_bank import load_interview
from sandbox.errors import BankError
from sandbox.paths import config_dir

K = ActionKind
BANK = load_interview("default")


def answer(env: InterviewEnv, slot: int) -> tuple[dict, float, bool, bool, dict]:
    return env.step(Action(K.TASK, slot))


def test_the_shipped_interview_lists_every_question_in_every_paraphrase_and_both_orders():
    env = InterviewEnv()
    sections = Counter(item.section for item in env.items)
    # 15 pairs of 6 categories, 6 ratings, 6 stop questions, 1 help question; x 3 x 2.
    assert sections == {"pair": 90, "rating": 36, "stop": 36, "help": 6}
    cells = Counter((i.section, i.subject, i.paraphrase) for i in env.items)
    assert set(cells.values()) == {2}  # each question-paraphrase in exactly two orders
    by_cell = {(i.section, i.subject, i.paraphrase, i.order): i for i in env.items}
    for (section, subject, p, order), item in by_cell.items():
        if order == 0:
            other = by_cell[section, subject, p, 1]
            assert other.options == item.options[::-1]
            assert other.lines == item.lines[::-1]
            assert other.question == item.question
    assert len({i.question for i in env.items if i.section == "pair"}) == 3


def test_categories_are_the_task_banks_and_help_names_are_the_sandboxs_conditions():
    bank_categories = {t.category for t in load_tasks(resolve_bank("default"))}
    assert set(BANK.categories) == bank_categories
    conditions = {p.stem for p in (config_dir() / "intervention").glob("*.yaml")}
    assert set(BANK.helps) <= conditions
    assert "none" in BANK.helps


def test_the_agent_reads_words_never_a_label_or_a_condition_name():
    env = InterviewEnv()
    labels = [c for c in BANK.categories if "_" in c] + [h for h in BANK.helps if h != "none"]
    for index in range(len(env.items)):
        env.item = index
        obs, _ = env.reset(seed=index)
        seen = obs["text"] + " ".join(obs["menu"])
        assert not [label for label in labels if label in seen], env.items[index]
        assert obs["action_mask"].tolist() == [1] + [0] * (len(ActionKind) - 1)


def test_an_answer_records_the_option_shown_in_that_slot_in_either_order():
    env = InterviewEnv(sections=["rating"], categories=["creative", "routine"])
    for index, item in enumerate(env.items):
        env.item = index
        obs, info = env.reset(seed=0)
        assert info["next"]["options"] == list(item.options)
        slot = item.options.index("6")
        assert obs["menu"][slot].startswith("6")
        obs, reward, terminated, truncated, step = answer(env, slot)
        assert (terminated, truncated, reward) == (True, False, 0.0)
        assert step["answer"] == "6" and step["position"] == slot
        assert step["order"] == item.order and step["question"] == f"rating:{item.subject}"
        assert "rating" not in step  # not a well-being self-report
        assert not obs["action_mask"].any() and obs["menu"] == ("",) * 7


def test_an_invalid_answer_is_told_why_and_asked_again_then_the_episode_ends_unanswered():
    env = InterviewEnv(sections=["stop"], attempts=2)
    env.reset(seed=1)
    obs, _, terminated, truncated, info = answer(env, 5)  # a stop question has A and B only
    assert (terminated, truncated) == (False, False)
    assert info["invalid"] and "0 for A to 1 for B" in info["invalid_reason"]
    assert "attempt 2 of 2" in obs["text"] and "not on the list" in obs["text"]
    obs, _, terminated, truncated, info = env.step(Action(K.REST))
    assert (terminated, truncated) == (False, True)
    assert info["answer"] is None and "No answer was recorded" in obs["text"]


def test_items_are_drawn_by_the_seed_and_cover_the_list():
    env = InterviewEnv()
    drawn = [env.reset(seed=s)[1]["item"] for s in range(2000)]
    assert drawn[:50] == [env.reset(seed=s)[1]["item"] for s in range(50)]  # replays
    assert len(set(drawn)) > 150  # of 168: with replacement, ~166 expected in 2,000 draws
    assert InterviewEnv(item=7).reset(seed=3)[1]["item"] == 7


@pytest.mark.parametrize(
    ("kwargs", "words"),
    [
        ({"sections": ["pairs"]}, "sections: expected names from"),
        ({"categories": ["creative"]}, "categories: expected at least 2"),
        ({"item": 168}, "item: expected an integer from 0 to 167"),
        ({"attempts": 0}, "attempts: expected an integer >= 1"),
    ],
)
def test_bad_arguments_say_what_was_expected(kwargs, words):
    with pytest.raises(ValueError, match=words):
        InterviewEnv(**kwargs)


def test_a_question_file_with_one_paraphrase_is_refused(tmp_path: Path):
    data = yaml.safe_load(resources_text())
    data["questions"]["pair"] = data["questions"]["pair"][:1]
    path = tmp_path / "one.yaml"
    path.write_text(yaml.safe_dump(data), encoding="utf-8")
    with pytest.raises(BankError, match="at least 2 paraphrases"):
        InterviewEnv(bank=str(path))


def resources_text() -> str:
    return (Path(__file__).parents[2] / "environments" / "data" / "interview.yaml").read_text()
