"""Scenarios drawn without replacement: a run's episodes walk a stratified permutation of the
bank fixed by the run's seed, so N episodes cover a bank of N once each."""

from __future__ import annotations

from collections import Counter

import pytest

from environments.conversation import ConversationEnv
from environments.draws import stratified_order
from tests.conftest import BailBenchBank


def scenario_of(env: ConversationEnv, run_seed: int, episode: int) -> str:
    _, info = env.reset(seed=12345 + episode, options={"run_seed": run_seed, "episode": episode})
    return str(info["scenario_id"])


def test_a_run_of_n_episodes_covers_a_bank_of_n_once_each(bailbench_bank: BailBenchBank) -> None:
    env = ConversationEnv(bank=str(bailbench_bank.path))
    n = len(env.scenarios)
    ids = [scenario_of(env, 3, i) for i in range(n)]
    assert sorted(ids) == sorted(s.id for s in env.scenarios)
    # More episodes than rows cycle through the same order.
    assert [scenario_of(env, 3, n + i) for i in range(5)] == ids[:5]


def test_every_prefix_holds_each_category_in_proportion(bailbench_bank: BailBenchBank) -> None:
    env = ConversationEnv(bank=str(bailbench_bank.path))
    categories = [s.category for s in env.scenarios]
    sizes = Counter(categories)
    order = stratified_order(categories, run_seed=11)
    seen: Counter[str] = Counter()
    for k, index in enumerate(order, start=1):
        seen[categories[index]] += 1
        for category, size in sizes.items():
            quota = k * size / len(categories)
            assert abs(seen[category] - quota) < 1.0, (k, category)


def test_the_draw_depends_on_the_run_seed_and_the_index_only() -> None:
    one, two = ConversationEnv(), ConversationEnv()  # two environments of one run's pool
    forward = [scenario_of(one, 5, i) for i in range(32)]
    backward = [scenario_of(two, 5, i) for i in reversed(range(32))][::-1]
    assert forward == backward and len(set(forward)) == 32
    assert [scenario_of(one, 6, i) for i in range(32)] != forward  # another run, another order
    # The episode's own seed still drives the rest (check-in order), not the scenario.
    _, a = one.reset(seed=1, options={"run_seed": 5, "episode": 7})
    _, b = one.reset(seed=2, options={"run_seed": 5, "episode": 7})
    assert a["scenario_id"] == b["scenario_id"] == forward[7]


def test_a_64_episode_run_of_a_large_bank_sees_64_rows_with_each_category_at_its_quota(
    bailbench_bank: BailBenchBank,
) -> None:
    env = ConversationEnv(bank=str(bailbench_bank.path))
    n = len(env.scenarios)
    ids = [scenario_of(env, 0, i) for i in range(min(64, n))]
    assert len(set(ids)) == len(ids)
    by_id = {s.id: s.category for s in env.scenarios}
    got = Counter(by_id[i] for i in ids)
    for category, size in Counter(by_id.values()).items():
        assert abs(got[category] - len(ids) * size / n) < 1.0, category


def test_without_options_the_episode_seed_draws_as_before_and_scenario_index_wins() -> None:
    env = ConversationEnv()
    _, a = env.reset(seed=4)
    _, b = env.reset(seed=4)
    assert a["scenario_id"] == b["scenario_id"]
    fixed = ConversationEnv(scenario_index=2)
    _, c = fixed.reset(seed=0, options={"run_seed": 1, "episode": 9})
    assert c["scenario_id"] == fixed.scenarios[2].id
    narrow = ConversationEnv(categories=["benign"])
    ids = [scenario_of(narrow, 0, i) for i in range(len(narrow.scenarios))]
    assert sorted(ids) == sorted(s.id for s in narrow.scenarios)


@pytest.mark.parametrize(
    "options",
    [
        {"run_seed": 1},
        {"episode": 2},
        {"run_seed": -1, "episode": 0},
        {"run_seed": 1, "episode": "3"},
    ],
)
def test_bad_draw_options_say_what_is_expected(options: dict) -> None:
    with pytest.raises(ValueError, match="'run_seed' and 'episode' as non-negative integers"):
        ConversationEnv().reset(seed=0, options=options)
