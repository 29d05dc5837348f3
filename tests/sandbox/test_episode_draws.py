"""A run hands each episode its place in the run (``reset`` options), so a bank is covered
without replacement; replay rebuilds such an episode; a run written under the old seed scheme
keeps drawing from each episode's seed when resumed."""

from __future__ import annotations

from collections import Counter
from pathlib import Path

from sandbox import seeds, store
from sandbox.replay import load_episode
from tests.conftest import write_bailbench_like, wsb


def _scenarios(run: Path) -> list[str]:
    firsts = {}
    for r in store.read_records(run / store.EPISODES):
        if r["type"] == "step" and r["episode"] not in firsts:
            firsts[r["episode"]] = r["info"]["scenario_id"]
    return [firsts[i] for i in sorted(firsts)]


def test_a_run_as_long_as_the_bank_plays_every_scenario_once(tmp_path: Path) -> None:
    run = tmp_path / "run"
    wsb(
        "run", "experiment=bail", "episodes=32", "display=none", f"hydra.run.dir={run}",
        cwd=tmp_path, check=True,
    )  # fmt: skip
    played = _scenarios(run)
    assert len(played) == 32 and len(set(played)) == 32  # 32 scenarios in the shipped bank
    # Stratified: the first 8 episodes already hold two of each of the four categories.
    categories = Counter(p.split("-")[0] for p in played[:8])
    assert sorted(categories.values()) == [2, 2, 2, 2], categories
    episode = load_episode(run, 5)
    assert episode.note is None and episode.rebuilt == len(episode.events) > 0


def test_a_bailbench_table_is_covered_by_a_run_of_its_length(tmp_path: Path) -> None:
    bank = write_bailbench_like(tmp_path)
    run = tmp_path / "run"
    wsb(
        "run", "experiment=bail", f"episodes={bank.rows}", "display=none",
        f"env.kwargs.bank={bank.path}", f"hydra.run.dir={run}", cwd=tmp_path, check=True,
    )  # fmt: skip
    assert len(set(_scenarios(run))) == bank.rows


def test_only_the_current_scheme_tells_the_environment_its_place() -> None:
    assert seeds.reset_options(3, 7) == {"run_seed": 3, "episode": 7}
    assert seeds.reset_options(3, 7, seeds.LEGACY) is None
