"""Episode seeds: runs with different seeds share no episode; old runs keep their seeds.

Episode ``i`` of a run seeded ``s`` was reset with ``s + i``, so a seed sweep ``seed=0,1,2`` of
50 episodes shared 49 episodes between neighbouring jobs (pseudo-replicates: the three gave the
same refusal rate). Seeds now come from ``SeedSequence(s).spawn``; ``run.json`` records the
scheme, and a run written under the old one is resumed, and read, under the old one.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from sandbox import runner, seeds, store, sweep
from sandbox.display.base import NullDisplay as _NullDisplay
from sandbox.errors import RunDirError
from tests.conftest import wsb


class NullDisplay(_NullDisplay):
    def run_ended(self, status, metrics):  # no summary on the test's output
        return None


def test_an_episode_seed_is_the_spawned_child_of_the_run_seed():
    children = np.random.SeedSequence(7).spawn(5)
    spawned = [int(c.generate_state(1, np.uint64)[0]) >> 1 for c in children]
    assert [seeds.episode_seed(7, i) for i in range(5)] == spawned
    assert all(0 <= s < 2**63 for s in spawned)
    assert seeds.episode_seed(7, 3, seeds.LEGACY) == 10
    with pytest.raises(ValueError, match="non-negative"):
        seeds.episode_seed(-1, 0)


def test_a_seed_sweep_shares_no_episode_and_its_jobs_differ(tmp_path):
    sweep_dir = tmp_path / "sweep"
    proc = wsb(
        "run", "-m", "seed=0,1,2", "episodes=40", "display=none",
        f"hydra.sweep.dir={sweep_dir}", cwd=tmp_path,
    )  # fmt: skip
    assert proc.returncode == 0, proc.stderr
    jobs = sweep.job_dirs(sweep_dir)
    assert len(jobs) == 3
    episode_seeds: list[set[int]] = []
    refusal: list[float] = []
    for job in jobs:
        manifest = json.loads((job / store.RUN_JSON).read_text())
        assert manifest["seed_scheme"] == seeds.CURRENT
        ends = [r for r in store.read_records(job / store.EPISODES) if r["type"] == "episode_end"]
        episode_seeds.append({r["seed"] for r in ends})
        assert len(episode_seeds[-1]) == 40  # within a run, too
        refusal.append(json.loads((job / store.METRICS).read_text())["refusal_rate"]["value"])
    for a in range(3):
        for b in range(a + 1, 3):
            assert not episode_seeds[a] & episode_seeds[b], (jobs[a].name, jobs[b].name)
    # Independent samples: under seed + i the three jobs gave the same rate to the last digit.
    assert len(set(refusal)) == 3, refusal


def _legacy_run(compose_cfg, run_dir: Path, monkeypatch, *overrides: str) -> None:
    """A run as the version before seed schemes wrote it: seed + i, no ``seed_scheme`` key."""
    with monkeypatch.context() as patch:
        patch.setattr(seeds, "CURRENT", seeds.LEGACY)
        runner.run(compose_cfg(*overrides), run_dir, NullDisplay())
    manifest = json.loads((run_dir / store.RUN_JSON).read_text())
    del manifest["seed_scheme"]
    manifest["schema"] = "1.0"
    (run_dir / store.RUN_JSON).write_text(json.dumps(manifest))


def _ends(run_dir: Path) -> dict[int, int]:
    records = store.read_records(run_dir / store.EPISODES)
    return {r["episode"]: r["seed"] for r in records if r["type"] == "episode_end"}


def _actions(run_dir: Path) -> list[tuple[int, int, str]]:
    return sorted(
        (r["episode"], r["step"], json.dumps(r["action"]))
        for r in store.read_records(run_dir / store.EPISODES)
        if r["type"] == "step"
    )


def test_a_run_of_the_old_scheme_resumes_with_its_own_seeds(compose_cfg, tmp_path, monkeypatch):
    clean, cut = tmp_path / "clean", tmp_path / "cut"
    _legacy_run(compose_cfg, clean, monkeypatch, "episodes=5", "seed=3")
    _legacy_run(compose_cfg, cut, monkeypatch, "episodes=5", "seed=3")
    assert _ends(clean) == {i: 3 + i for i in range(5)}
    # Killed during episode 3: its end and everything of episode 4 are lost.
    lines = (cut / store.EPISODES).read_text().splitlines(keepends=True)
    kept = [
        line
        for line in lines
        if json.loads(line)["episode"] < 3
        or (json.loads(line)["episode"] == 3 and json.loads(line)["type"] == "step")
    ]
    (cut / store.EPISODES).write_text("".join(kept))
    # The old log passes the check under its own scheme (it would fail under spawn-v1).
    assert store.run_log_problems(cut) == []
    numbered = list(store.iter_numbered(clean / store.EPISODES))
    assert store.log_problems(numbered, seed=3, seed_scheme=seeds.CURRENT)
    result = runner.run(compose_cfg("episodes=5", "seed=3", "resume=true"), cut, NullDisplay())
    assert result.status == "complete"
    assert _ends(cut) == {i: 3 + i for i in range(5)}  # replayed episodes keep seed + i
    assert _actions(cut) == _actions(clean)
    manifest = json.loads((cut / store.RUN_JSON).read_text())
    assert manifest["seed_scheme"] == seeds.LEGACY
    loaded = store.load_run(cut)  # readers check it under its scheme too
    assert len(loaded.records) == len(store.read_records(clean / store.EPISODES))


def test_an_episode_seed_of_another_scheme_is_a_contradiction(compose_cfg, tmp_path):
    run_dir = tmp_path / "run"
    runner.run(compose_cfg("episodes=3", "seed=2"), run_dir, NullDisplay())
    assert store.run_log_problems(run_dir) == []
    path = run_dir / store.EPISODES
    text = path.read_text()
    planted = text.replace(f'"seed":{seeds.episode_seed(2, 1)},', '"seed":3,')  # 2 + 1
    assert planted != text
    path.write_text(planted)
    problems = store.run_log_problems(run_dir)
    assert len(problems) == 1 and "episode 1's episode_end has seed 3" in problems[0]
    with pytest.raises(store.LogContradiction):
        store.load_run(run_dir)


def test_a_run_of_an_unknown_scheme_is_not_resumed(compose_cfg, tmp_path):
    run_dir = tmp_path / "run"
    runner.run(compose_cfg("episodes=2"), run_dir, NullDisplay())
    manifest = json.loads((run_dir / store.RUN_JSON).read_text())
    manifest["seed_scheme"] = "spawn-v9"
    manifest["status"] = "partial"
    (run_dir / store.RUN_JSON).write_text(json.dumps(manifest))
    with pytest.raises(RunDirError, match=r"seed scheme 'spawn-v9'.*upgrade"):
        runner.run(compose_cfg("episodes=2", "resume=true"), run_dir, NullDisplay())
