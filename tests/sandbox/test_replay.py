"""``wsb replay`` on episodes of real short runs."""

from __future__ import annotations

import io
import json
import shutil
from pathlib import Path

import pytest
from rich.console import Console

from sandbox import runner, seeds, store
from sandbox.display.base import NullDisplay
from sandbox.display.replay_view import replay
from sandbox.replay import load_episode
from tests.conftest import typed_config, wsb


@pytest.fixture(scope="module")
def run_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("replay") / "run"
    cfg = typed_config("episodes=3", "intervention=exit_option", "env.kwargs.day_length=12")
    runner.run(cfg, path, NullDisplay(io.StringIO()))
    return path


def _steps(run: Path, episode: int) -> list[dict]:
    return [
        r
        for r in store.read_records(run / store.EPISODES)
        if r["type"] == "step" and r["episode"] == episode
    ]


def test_observations_are_rebuilt_from_the_environment(run_dir: Path) -> None:
    episode = load_episode(run_dir, 1)
    steps = _steps(run_dir, 1)
    assert episode.note is None
    assert episode.rebuilt == len(steps) == len(episode.events)
    assert episode.events[0].text.startswith("Step 1 of 12.")
    assert sum(bool(line) for line in episode.events[0].menu) == 3
    assert episode.end is not None and episode.end["seed"] == seeds.episode_seed(0, 1)


def test_replay_prints_every_step_at_speed_zero(run_dir: Path) -> None:
    proc = wsb("replay", str(run_dir), "--episode", "2", "--speed", "0", cwd=run_dir)
    assert proc.returncode == 0, proc.stderr
    steps = _steps(run_dir, 2)
    assert proc.stdout.count("episode 2 · step ") == len(steps)
    assert "Step 1 of 12." in proc.stdout  # the observation, as the subject read it
    assert "\x1b" not in proc.stdout  # plain text without a terminal
    assert proc.stdout.rstrip().splitlines()[-1].startswith("episode 2 ended:")


def test_replay_paces_steps_at_the_speed_asked(run_dir: Path) -> None:
    pauses: list[float] = []
    console = Console(record=True, width=120, file=io.StringIO())
    assert replay(run_dir, episode=0, speed=5, console=console, sleep=pauses.append) == 0
    assert pauses == [pytest.approx(0.2)] * (len(_steps(run_dir, 0)) - 1)
    shown = console.export_text()
    assert "replay · workday · WelfareSandbox/TaskChoice-v0" in shown
    assert "running proxies" in shown


def test_replay_falls_back_to_the_log_when_the_environment_differs(
    run_dir: Path, tmp_path: Path
) -> None:
    copy = tmp_path / "run"
    shutil.copytree(run_dir, copy)
    manifest = json.loads((copy / "run.json").read_text())
    manifest["env"]["kwargs"]["menu_size"] = 4  # as if the environment had changed since
    store.write_json_atomic(copy / "run.json", manifest)
    episode = load_episode(copy, 0)
    assert episode.note is not None and "differs from the log" in episode.note
    assert len(episode.events) == len(_steps(run_dir, 0))
    assert "not in the log" in episode.events[-1].text


def test_unknown_episode_is_one_line_and_status_2(run_dir: Path) -> None:
    proc = wsb("replay", str(run_dir), "--episode", "9", cwd=run_dir)
    assert proc.returncode == 2
    assert "episode 9 is not in" in proc.stderr and "0-2" in proc.stderr
