"""The runner writes the contract's run directory, from which the proxies are computed."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from sandbox import runner, seeds, store
from sandbox.display.base import NullDisplay
from sandbox.errors import ConfigError, RunDirError
from sandbox.metrics import compute_metrics


class Silent(NullDisplay):
    def run_ended(self, status, metrics):
        self.final = (status, metrics)


def _run(cfg, run_dir: Path):
    display = Silent()
    return runner.run(cfg, run_dir, display), display


def test_run_directory_follows_the_contract(compose_cfg, tmp_path):
    cfg = compose_cfg("episodes=6", "seed=11", "intervention=exit_option")
    result, _ = _run(cfg, tmp_path / "run")
    assert result.status == "complete"
    run_dir = tmp_path / "run"
    manifest = json.loads((run_dir / "run.json").read_text())
    assert manifest["status"] == "complete"
    assert manifest["seed"] == 11
    assert manifest["agent"]["parameters"]["utilities"]["harmful_request"] == -3.0
    assert manifest["intervention"]["name"] == "exit_option"
    assert manifest["versions"]["gymnasium"]
    records = store.read_records(run_dir / "episodes.jsonl")
    ends = [r for r in records if r["type"] == "episode_end"]
    steps = [r for r in records if r["type"] == "step"]
    assert sorted(r["episode"] for r in ends) == list(range(6))
    assert manifest["seed_scheme"] == seeds.CURRENT
    assert {r["episode"]: r["seed"] for r in ends} == {
        i: seeds.episode_seed(11, i) for i in range(6)
    }
    for r in steps:
        assert {
            "episode",
            "step",
            "action",
            "reward",
            "terminated",
            "truncated",
            "invalid",
            "info",
            "mask",
        } <= set(r)
        assert set(r["action"]) == {"kind", "target", "text"}
        assert "next" not in r["info"]  # the next observation's labels are not logged twice
    for end in ends:
        n = sum(1 for r in steps if r["episode"] == end["episode"])
        assert n == end["steps"]
    metrics = json.loads((run_dir / "metrics.json").read_text())
    assert metrics["episodes"] == 6
    assert metrics["steps"] == len(steps)
    for key in ("refusal_rate", "rest_rate", "exit_rate", "invalid_action_rate"):
        assert set(metrics[key]) >= {"value", "ci_low", "ci_high", "n"}
    assert metrics["condition"] == "exit_option"
    # metrics.json is computed from the records alone
    again = compute_metrics(records, run=manifest)
    assert again["choice_share"] == metrics["choice_share"]


def test_same_seed_gives_the_same_run(compose_cfg, tmp_path):
    cfg = compose_cfg("episodes=4", "max_concurrency=3")
    _run(cfg, tmp_path / "a")
    _run(cfg, tmp_path / "b")

    def actions(path):
        return sorted(
            (r["episode"], r["step"], json.dumps(r["action"]), r["reward"])
            for r in store.read_records(path / "episodes.jsonl")
            if r["type"] == "step"
        )

    assert actions(tmp_path / "a") == actions(tmp_path / "b")


def test_existing_run_is_not_overwritten_without_resume(compose_cfg, tmp_path):
    cfg = compose_cfg("episodes=2")
    _run(cfg, tmp_path / "run")
    with pytest.raises(RunDirError, match="resume=true"):
        _run(cfg, tmp_path / "run")


def test_resume_keeps_finished_and_reruns_unfinished(compose_cfg, tmp_path):
    cfg = compose_cfg("episodes=5")
    clean, _ = _run(cfg, tmp_path / "clean")
    run_dir = tmp_path / "cut"
    _run(compose_cfg("episodes=5"), run_dir)
    # Simulate a kill in the middle of episode 3: drop its end and later records, tear a line.
    lines = (run_dir / "episodes.jsonl").read_text().splitlines(keepends=True)
    kept = [
        ln
        for ln in lines
        if not (json.loads(ln)["episode"] >= 3 and json.loads(ln)["type"] == "episode_end")
    ]
    kept = [ln for ln in kept if json.loads(ln)["episode"] != 4]
    (run_dir / "episodes.jsonl").write_text("".join(kept) + '{"type":"step","epis')
    resumed, _ = _run(compose_cfg("episodes=5", "resume=true"), run_dir)
    assert resumed.status == "complete"
    records = store.read_records(run_dir / "episodes.jsonl")
    ends = [r["episode"] for r in records if r["type"] == "episode_end"]
    assert sorted(ends) == [0, 1, 2, 3, 4]  # no duplicates, none lost
    clean_records = store.read_records(tmp_path / "clean" / "episodes.jsonl")

    def key(rs):
        return sorted(
            (r["episode"], r["step"], json.dumps(r["action"])) for r in rs if r["type"] == "step"
        )

    assert key(records) == key(clean_records)
    assert resumed.metrics["choice_share"] == clean.metrics["choice_share"]


def test_bad_environment_argument_fails_before_any_episode(compose_cfg, tmp_path):
    cfg = compose_cfg("episodes=2", "+env.kwargs.menu_sise=3")
    with pytest.raises(ConfigError, match="menu_sise"):
        _run(cfg, tmp_path / "run")
    assert not (tmp_path / "run" / "episodes.jsonl").exists()


def test_unknown_environment_suggests_the_closest(compose_cfg, tmp_path):
    cfg = compose_cfg("env.id=WelfareSandbox/TaskChoise-v0")
    with pytest.raises(ConfigError, match="Did you mean WelfareSandbox/TaskChoice-v0"):
        _run(cfg, tmp_path / "run")


def test_an_agent_failure_ends_its_episode_only(compose_cfg, tmp_path, monkeypatch):
    from sandbox.agents import simulated

    original = simulated.SimulatedSubject.act

    async def flaky(self, turn):
        if turn.step == 3 and self._episode == 0:
            raise RuntimeError("model went away")
        return await original(self, turn)

    original_for = simulated.SimulatedBuilder.for_episode

    def for_episode(self, context):
        agent = original_for(self, context)
        agent._episode = context.index
        return agent

    monkeypatch.setattr(simulated.SimulatedSubject, "act", flaky)
    monkeypatch.setattr(simulated.SimulatedBuilder, "for_episode", for_episode)
    result, _ = _run(compose_cfg("episodes=3"), tmp_path / "run")
    assert result.status == "partial"
    ends = {
        r["episode"]: r
        for r in store.read_records(tmp_path / "run" / "episodes.jsonl")
        if r["type"] == "episode_end"
    }
    assert ends[0]["reason"] == "errored"
    assert "RuntimeError: model went away" in ends[0]["error"]
    assert ends[1]["reason"] in ("truncated", "exit") and ends[2]["reason"] in ("truncated", "exit")
    manifest = json.loads((tmp_path / "run" / "run.json").read_text())
    assert manifest["status"] == "partial" and "errored" in manifest["reason"]


def test_every_line_the_runner_writes_is_a_typed_record(compose_cfg, tmp_path):
    """The log is written from records.StepRecord / EpisodeEnd: each line reads back into its
    dataclass and encodes to the very same bytes (no field the dataclass does not declare)."""
    from sandbox.records import EpisodeEnd, StepRecord

    _run(compose_cfg("episodes=3", "seed=5"), tmp_path / "run")
    lines = (tmp_path / "run" / "episodes.jsonl").read_bytes().splitlines()
    kinds = {"step": StepRecord, "episode_end": EpisodeEnd}
    for line in lines:
        record = json.loads(line)
        typed = kinds[record["type"]](**record)
        assert store.dumps_record(typed) == line
        assert typed.as_dict() == record
    assert lines[0].startswith(b'{"type":"step","episode":')


def test_run_json_is_the_typed_versioned_manifest(compose_cfg, tmp_path):
    import dataclasses

    from sandbox.manifest import RunManifest
    from sandbox.records import SCHEMA_VERSION

    _run(compose_cfg("episodes=2"), tmp_path / "run")
    data = json.loads((tmp_path / "run" / "run.json").read_text())
    names = [f.name for f in dataclasses.fields(RunManifest)]
    assert list(data)[:3] == ["schema", "status", "reason"] and set(data) == set(names)
    assert data["schema"] == SCHEMA_VERSION and data["episodes_finished"] == 2
    assert RunManifest(**data).as_dict() == data
    doc = RunManifest.__doc__ or ""
    assert all(f"        {name}: " in doc for name in names)  # a docstring on every field
