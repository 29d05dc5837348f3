"""Resume after ``kill -9``: a real ``wsb run`` killed at several points, then resumed.

Each test starts ``wsb run`` in a subprocess (through a small hook that slows the simulated
subject down so a kill lands where it should), waits until ``episodes.jsonl`` shows the point it
wants, sends SIGKILL to the whole process group, re-runs the same command with ``resume=true``,
and compares the run with an uninterrupted one of the same seeds: the same finished episodes,
the same step records (all fields but the timing ``t``), no duplicates, none lost.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from sandbox import store
from sandbox.metrics import compute_metrics

#: Runs ``wsb`` with the simulated subject slowed down (``WSB_TEST_STEP_DELAY`` seconds a step,
#: ``WSB_TEST_FIRST_STEP_DELAY`` before an episode's first step) and, when ``WSB_TEST_PAUSE_ON``
#: names a file, a marker file written and a long pause just before that file is written.
HOOK = r"""
import asyncio, os, sys, time
from pathlib import Path
from sandbox import store
from sandbox.agents import simulated

step_delay = float(os.environ.get("WSB_TEST_STEP_DELAY", "0"))
first_delay = float(os.environ.get("WSB_TEST_FIRST_STEP_DELAY", "0"))
act = simulated.SimulatedSubject.act

async def slow_act(self, turn):
    await asyncio.sleep(first_delay if turn.step == 0 and first_delay else step_delay)
    return await act(self, turn)

simulated.SimulatedSubject.act = slow_act
pause_on = os.environ.get("WSB_TEST_PAUSE_ON")
if pause_on:
    write = store.write_json_atomic

    def paused_write(path, data):
        final = path.name == "run.json" and data.get("status") != "running"
        if path.name == pause_on or (pause_on == "run.json:final" and final):
            Path(os.environ["WSB_TEST_MARKER"]).write_text(str(path))
            time.sleep(60)
        write(path, data)

    store.write_json_atomic = paused_write
from sandbox.cli import main
sys.exit(main(sys.argv[1:]))
"""

COMMON = ["display=none", "env.kwargs.day_length=8"]


def _env(**extra: str) -> dict[str, str]:
    env = {**os.environ, **extra}
    env.pop("HYDRA_FULL_ERROR", None)
    return env


def start(args: list[str], cwd: Path, **env: str) -> subprocess.Popen[bytes]:
    """``wsb <args>`` through the hook, in its own process group (so a kill takes every child)."""
    return subprocess.Popen(
        [sys.executable, "-c", HOOK, *args],
        cwd=cwd,
        env=_env(**env),
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        start_new_session=True,
    )


def run_to_end(args: list[str], cwd: Path, **env: str) -> None:
    proc = start(args, cwd, **env)
    _, err = proc.communicate(timeout=120)
    assert proc.returncode == 0, err.decode()


def wait_for(proc: subprocess.Popen[bytes], ready: Callable[[], bool], timeout: float = 60) -> None:
    deadline = time.monotonic() + timeout
    while not ready():
        if proc.poll() is not None:
            raise AssertionError(f"wsb ended before the kill point: {proc.stderr.read().decode()}")  # type: ignore[union-attr]
        if time.monotonic() > deadline:
            kill(proc)
            raise AssertionError("the kill point was never reached")
        time.sleep(0.01)


def kill(proc: subprocess.Popen[bytes]) -> None:
    os.killpg(proc.pid, signal.SIGKILL)
    proc.wait(timeout=30)
    assert proc.returncode == -signal.SIGKILL


def counts(run_dir: Path) -> tuple[int, int]:
    """Step lines and episode_end lines in ``episodes.jsonl`` so far (a torn line included)."""
    try:
        data = (run_dir / store.EPISODES).read_bytes()
    except FileNotFoundError:
        return 0, 0
    return data.count(b'"type":"step"'), data.count(b'"type":"episode_end"')


def snapshot(run_dir: Path) -> dict[tuple[Any, ...], dict[str, Any]]:
    """Every record by (type, episode, step), without ``t``; a duplicate fails the test."""
    out: dict[tuple[Any, ...], dict[str, Any]] = {}
    for record in store.read_records(run_dir / store.EPISODES):
        key = (record["type"], record["episode"], record.get("step"))
        assert key not in out, f"duplicate record {key} in {run_dir}"
        out[key] = {k: v for k, v in record.items() if k != "t"}
    return out


def assert_same_run(resumed: Path, reference: Path, episodes: int) -> None:
    got, want = snapshot(resumed), snapshot(reference)
    ends = sorted(k[1] for k in got if k[0] == "episode_end")
    assert ends == list(range(episodes)), "episodes lost or unfinished"
    assert got.keys() == want.keys()
    assert got == want
    manifest = json.loads((resumed / store.RUN_JSON).read_text())
    assert manifest["status"] == "complete" and manifest["episodes_finished"] == episodes
    metrics = json.loads((resumed / store.METRICS).read_text())
    reference_metrics = json.loads((reference / store.METRICS).read_text())
    for key in ("episodes", "steps", "choice_share", "refusal_rate", "rest_rate", "utilities"):
        assert metrics[key] == reference_metrics[key], key
    assert not list(resumed.glob(".*.tmp")), "temporary files of the killed writer remain"


@pytest.fixture(scope="module")
def reference(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """An uninterrupted run of 6 episodes (seeds 0-5), made once for the module."""
    root = tmp_path_factory.mktemp("reference")
    run_to_end(["run", *COMMON, "episodes=6", f"hydra.run.dir={root}/run"], root)
    return root / "run"


def _kill_then_resume(
    tmp_path: Path,
    ready: Callable[[Path], bool],
    *,
    concurrency: int = 2,
    check_at_kill: Callable[[Path], None] | None = None,
    **env: str,
) -> Path:
    run_dir = tmp_path / "run"
    args = ["run", *COMMON, "episodes=6", f"max_concurrency={concurrency}"]
    args.append(f"hydra.run.dir={run_dir}")
    proc = start(args, tmp_path, WSB_TEST_MARKER=str(tmp_path / "marker"), **env)
    wait_for(proc, lambda: ready(run_dir))
    kill(proc)
    if check_at_kill is not None:
        check_at_kill(run_dir)
    run_to_end([*args, "resume=true"], tmp_path)
    return run_dir


@pytest.mark.slow  # killed at another point; the default run kills mid-run
def test_killed_during_the_first_episodes_steps(tmp_path, reference):
    run_dir = _kill_then_resume(
        tmp_path,
        lambda d: counts(d)[0] >= 3,
        WSB_TEST_STEP_DELAY="0.02",
    )
    assert_same_run(run_dir, reference, 6)


def test_killed_mid_run_with_episodes_in_flight(tmp_path, reference):
    def at_kill(run_dir: Path) -> None:
        steps, ends = counts(run_dir)
        assert ends >= 2 and steps > 0

    run_dir = _kill_then_resume(
        tmp_path,
        lambda d: counts(d)[1] >= 2,
        WSB_TEST_STEP_DELAY="0.03",
        check_at_kill=at_kill,
    )
    assert_same_run(run_dir, reference, 6)


@pytest.mark.slow  # killed at another point; the default run kills mid-run
def test_killed_between_episodes(tmp_path, reference):
    # One episode at a time, and a long pause before each first step: once the third
    # episode_end is on disk, the process sits between episodes (no record of the fourth yet).
    def at_kill(run_dir: Path) -> None:
        records = store.read_records(run_dir / store.EPISODES)
        assert records[-1]["type"] == "episode_end" and records[-1]["episode"] == 2

    run_dir = _kill_then_resume(
        tmp_path,
        lambda d: counts(d)[1] >= 3,
        concurrency=1,
        WSB_TEST_FIRST_STEP_DELAY="1.0",
        check_at_kill=at_kill,
    )
    assert_same_run(run_dir, reference, 6)


@pytest.mark.slow  # killed at another point; the default run kills mid-run
@pytest.mark.parametrize("pause_on", ["metrics.json", "run.json:final"])
def test_killed_while_writing_the_final_files(tmp_path, reference, pause_on):
    def at_kill(run_dir: Path) -> None:
        assert json.loads((run_dir / store.RUN_JSON).read_text())["status"] == "running"
        assert counts(run_dir)[1] == 6  # every episode finished; only the end was cut

    run_dir = _kill_then_resume(
        tmp_path,
        lambda d: (tmp_path / "marker").exists(),
        WSB_TEST_PAUSE_ON=pause_on,
        check_at_kill=at_kill,
    )
    assert_same_run(run_dir, reference, 6)


@pytest.mark.slow  # killed at another point; the default run kills mid-run
def test_a_killed_resume_resumes_again(tmp_path, reference):
    run_dir = tmp_path / "run"
    # One episode at a time, about 0.2 s each: both kills land with episodes still to play.
    args = ["run", *COMMON, "episodes=6", "max_concurrency=1", f"hydra.run.dir={run_dir}"]
    first = start(args, tmp_path, WSB_TEST_STEP_DELAY="0.025")
    wait_for(first, lambda: counts(run_dir)[1] >= 2)
    kill(first)
    ends_before = counts(run_dir)[1]
    assert ends_before < 5
    second = start([*args, "resume=true"], tmp_path, WSB_TEST_STEP_DELAY="0.025")
    wait_for(second, lambda: counts(run_dir)[1] >= ends_before + 1)
    kill(second)
    assert counts(run_dir)[1] < 6
    run_to_end([*args, "resume=true"], tmp_path)
    assert_same_run(run_dir, reference, 6)


@pytest.mark.slow  # killed at another point; the default run kills mid-run
def test_sweep_resume_skips_finished_jobs_and_resumes_the_others(tmp_path):
    conditions = "intervention=none,exit_option,rest_breaks"
    ref_args = ["run", "-m", conditions, *COMMON, "episodes=4"]
    run_to_end([*ref_args, f"hydra.sweep.dir={tmp_path}/reference"], tmp_path)

    sweep = tmp_path / "sweep"
    args = ["run", "-m", conditions, *COMMON, "episodes=4", f"hydra.sweep.dir={sweep}"]
    args.append("max_concurrency=1")  # not in the job directory names, so may differ
    proc = start(args, tmp_path, WSB_TEST_STEP_DELAY="0.02")
    job0 = sweep / "0-env.kwargs.day_length=8,episodes=4,intervention=none"
    job1 = sweep / "1-env.kwargs.day_length=8,episodes=4,intervention=exit_option"
    # Job 0 complete, job 1 part-way: the kill lands inside the second job.
    wait_for(proc, lambda: counts(job1)[1] >= 1 and store.is_run_dir(job0))
    kill(proc)
    assert json.loads((job0 / store.RUN_JSON).read_text())["status"] == "complete"
    assert json.loads((job1 / store.RUN_JSON).read_text())["status"] == "running"
    job0_manifest = (job0 / store.RUN_JSON).read_bytes()
    job0_records = (job0 / store.EPISODES).stat().st_mtime_ns

    run_to_end([*args, "resume=true"], tmp_path)
    # The finished job was skipped: its manifest and records were not touched.
    assert (job0 / store.RUN_JSON).read_bytes() == job0_manifest
    assert (job0 / store.EPISODES).stat().st_mtime_ns == job0_records
    jobs = sorted(p.name for p in sweep.iterdir() if store.is_run_dir(p))
    assert jobs == sorted(p.name for p in (tmp_path / "reference").iterdir() if store.is_run_dir(p))
    for name in jobs:
        assert_same_run(sweep / name, tmp_path / "reference" / name, 4)
    rows = json.loads((sweep / "summary.json").read_text())["jobs"]
    assert [r["status"] for r in rows] == ["complete"] * 3


@pytest.mark.slow  # killed at another point; the default run kills mid-run
def test_sweep_killed_while_writing_its_summary(tmp_path):
    sweep = tmp_path / "sweep"
    args = ["run", "-m", "intervention=none,exit_option", *COMMON, "episodes=2"]
    args.append(f"hydra.sweep.dir={sweep}")
    proc = start(
        args, tmp_path, WSB_TEST_PAUSE_ON="summary.json", WSB_TEST_MARKER=str(tmp_path / "m")
    )
    wait_for(proc, lambda: (tmp_path / "m").exists())
    kill(proc)
    assert not (sweep / "summary.json").exists()
    jobs = {
        job: (job / store.RUN_JSON).read_bytes() for job in sweep.iterdir() if store.is_run_dir(job)
    }
    assert len(jobs) == 2
    run_to_end([*args, "resume=true"], tmp_path)
    for job, manifest in jobs.items():
        assert (job / store.RUN_JSON).read_bytes() == manifest  # both were skipped
    rows = json.loads((sweep / "summary.json").read_text())["jobs"]
    assert [(r["condition"], r["status"]) for r in rows] == [
        ("none", "complete"),
        ("exit_option", "complete"),
    ]


def test_a_torn_last_line_is_ignored_by_every_reader(tmp_path, reference):
    lines = (reference / store.EPISODES).read_bytes().splitlines(keepends=True)
    whole = b"".join(lines)
    path = tmp_path / store.EPISODES
    expected = compute_metrics(store.read_records(reference / store.EPISODES))
    line = lines[3]
    for cut in (1, len(line) // 2, len(line) - 1):
        # A kill mid-write leaves the start of a line: without its end, or without its newline.
        path.write_bytes(whole + line[:cut])
        records = list(store.iter_records(path))
        assert len(records) == len(lines)
        assert compute_metrics(records) == expected
        assert store.read_records(path) == records
        (tmp_path / store.RUN_JSON).write_text(json.dumps({"status": "running"}))
        assert store.load_run(tmp_path).records == records
        assert store.keep_only(path, {0}) >= 1
        assert all(r["episode"] == 0 for r in store.iter_records(path))
