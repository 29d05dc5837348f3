"""Signals as clusters send them: SIGTERM and SIGHUP get what Ctrl-C gets, under every launcher.

Real ``wsb run`` processes receive real signals: finished episodes are kept, ``run.json`` says
``partial`` with the signal, the resume command is printed, the exit status is ``128 + signum``,
and a sweep's workers stop with their parent (none is left writing).
"""

from __future__ import annotations

import json
import os
import re
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from sandbox import signals as sandbox_signals
from sandbox import store

COMMON = ["display=none", "env.kwargs.day_length=8"]


def start(args: list[str], cwd: Path, command: list[str] | None = None) -> subprocess.Popen[str]:
    """Start ``wsb`` with ``args`` (``command``: how; ``python -m sandbox`` unless given)."""
    env = {**os.environ}
    env.pop("HYDRA_FULL_ERROR", None)
    return subprocess.Popen(
        [*(command or [sys.executable, "-m", "sandbox"]), *args],
        cwd=cwd,
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
        start_new_session=True,  # a signal to the parent reaches no worker unless it passes it on
    )


def wait_for_episodes(proc: subprocess.Popen[str], logs: list[Path], at_least: int) -> None:
    deadline = time.monotonic() + 120
    while True:
        ends = sum(p.read_bytes().count(b'"episode_end"') for p in logs if p.exists())
        if ends >= at_least:
            return
        assert proc.poll() is None, proc.stderr.read() if proc.stderr else ""
        assert time.monotonic() < deadline, "no episode finished"
        time.sleep(0.05)


def writers_of(directory: Path) -> list[int]:
    """Processes that hold a ``run.lock`` below ``directory`` open (that is, write a run)."""
    found = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit() and sandbox_signals.writing_a_run(int(entry.name)):
            try:
                fds = [os.readlink(fd) for fd in (entry / "fd").iterdir()]
            except OSError:
                continue
            if any(fd.startswith(str(directory)) for fd in fds):
                found.append(int(entry.name))
    return found


def check_stopped_run(run_dir: Path, signum: int) -> None:
    manifest = json.loads((run_dir / store.RUN_JSON).read_text())
    name = signal.Signals(signum).name
    assert (manifest["status"], manifest["reason"]) == ("partial", f"interrupted by {name}")
    assert (run_dir / store.METRICS).is_file()
    records = store.read_records(run_dir / store.EPISODES)
    ends = [r for r in records if r["type"] == "episode_end"]
    assert manifest["episodes_finished"] == len(ends)


@pytest.mark.parametrize(
    "signum", [signal.SIGTERM, pytest.param(signal.SIGHUP, marks=pytest.mark.slow)]
)
def test_sigterm_and_sighup_end_a_run_as_ctrl_c_does(tmp_path, signum):
    run_dir = tmp_path / "run"
    proc = start(["run", "episodes=100000", *COMMON, f"hydra.run.dir={run_dir}"], tmp_path)
    wait_for_episodes(proc, [run_dir / store.EPISODES], 3)
    proc.send_signal(signum)
    _, err = proc.communicate(timeout=120)
    assert proc.returncode == 128 + signum, err
    assert "Traceback" not in err
    assert f"resume=true hydra.run.dir={run_dir}" in err
    assert signal.Signals(signum).name in err
    check_stopped_run(run_dir, signum)
    assert json.loads((run_dir / store.RUN_JSON).read_text())["episodes_finished"] >= 3


def _in_pythons_own_start_up(err: str) -> bool:
    """A KeyboardInterrupt raised before the command's first line ran: in Python's start-up
    (its frozen modules, site and the editable install's finder), out of the command's reach."""
    if "KeyboardInterrupt" not in err:
        return False
    ours = str(Path(sandbox_signals.__file__).parent)
    frames = re.findall(r'File "([^"]+)"', err)
    return not any(
        f.startswith(ours) or ("site-packages" in f and "__editable__" not in f) for f in frames
    )


@pytest.mark.parametrize("command", ["python -m sandbox", "wsb"])
def test_ctrl_c_during_start_up_prints_no_traceback(tmp_path, command):
    # Ctrl-C while the command imports and composes its config. On a loaded machine Python's
    # own start-up can outlast a delay; an interrupt that lands there is tried again later.
    argv = [str(Path(sys.executable).with_name("wsb"))] if command == "wsb" else None
    landed = 0
    for delay in (0.1, 0.4):
        for attempt in range(6):
            run_dir = tmp_path / f"r{delay}-{attempt}"
            proc = start(["run", "episodes=3", *COMMON, f"hydra.run.dir={run_dir}"], tmp_path, argv)
            time.sleep(delay + 0.1 * attempt)
            proc.send_signal(signal.SIGINT)
            _, err = proc.communicate(timeout=120)
            if _in_pythons_own_start_up(err):
                continue
            assert "Traceback" not in err, err
            assert proc.returncode in (0, 130), err  # 0: it had finished before the signal
            landed += 1
            break
    assert landed == 2


def _sweep_stopped_by_sigterm(
    tmp_path: Path, launcher: list[str], started: int, *, whole_group: bool
) -> None:
    """``whole_group``: signal every process at once, as SLURM does; else the parent only."""
    sweep = tmp_path / "sweep"
    args = ["run", "-m", *launcher, "seed=1,2,3", "episodes=3000", *COMMON]
    proc = start([*args, f"hydra.sweep.dir={sweep}"], tmp_path)
    deadline = time.monotonic() + 120
    while len(list(sweep.glob("*/episodes.jsonl"))) < started:
        assert proc.poll() is None and time.monotonic() < deadline, proc.stderr
        time.sleep(0.05)
    wait_for_episodes(proc, list(sweep.glob("*/episodes.jsonl")), 20)
    if whole_group:
        os.killpg(proc.pid, signal.SIGTERM)
    else:
        proc.send_signal(signal.SIGTERM)
    _, err = proc.communicate(timeout=120)
    assert proc.returncode == 143, err
    assert "Traceback" not in err
    assert "resume=true hydra.sweep.dir=" in err
    assert writers_of(sweep) == []  # no worker outlived its parent
    sizes = {p: p.stat().st_size for p in sweep.glob("*/episodes.jsonl")}
    time.sleep(1.0)
    assert {p: p.stat().st_size for p in sweep.glob("*/episodes.jsonl")} == sizes
    jobs = sorted(p.parent for p in sizes)
    assert len(jobs) == started  # joblib's two workers never started the third job
    for job in jobs:
        check_stopped_run(job, signal.SIGTERM)
    resumed = subprocess.run(
        [sys.executable, "-m", "sandbox", *args, f"hydra.sweep.dir={sweep}", "resume=true"],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert resumed.returncode == 0, resumed.stderr


@pytest.mark.slow
def test_sigterm_stops_a_joblib_sweep_and_its_workers(tmp_path):
    launcher = ["hydra/launcher=joblib", "hydra.launcher.n_jobs=2"]
    _sweep_stopped_by_sigterm(tmp_path, launcher, 2, whole_group=False)


@pytest.mark.slow
def test_sigterm_stops_a_slurm_local_sweep_and_its_jobs(tmp_path):
    pytest.importorskip("hydra_plugins.hydra_submitit_launcher")
    # Every job starts at once; SLURM signals every process of the job, parent and tasks.
    _sweep_stopped_by_sigterm(tmp_path, ["hydra/launcher=slurm_local"], 3, whole_group=True)


@pytest.mark.slow
def test_sigterm_stops_a_basic_sweep(tmp_path):
    sweep = tmp_path / "sweep"
    args = ["run", "-m", "seed=1,2", "episodes=100000", *COMMON, f"hydra.sweep.dir={sweep}"]
    proc = start(args, tmp_path)
    deadline = time.monotonic() + 120
    while not list(sweep.glob("*/episodes.jsonl")):
        assert proc.poll() is None and time.monotonic() < deadline, proc.stderr
        time.sleep(0.05)
    wait_for_episodes(proc, list(sweep.glob("*/episodes.jsonl")), 3)
    proc.send_signal(signal.SIGTERM)
    _, err = proc.communicate(timeout=120)
    assert proc.returncode == 143, err
    [job] = [p.parent for p in sweep.glob("*/episodes.jsonl")]  # the second never started
    check_stopped_run(job, signal.SIGTERM)
    assert f"resume=true hydra.sweep.dir={sweep}" in err
