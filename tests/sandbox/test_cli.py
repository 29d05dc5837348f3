"""``wsb`` as a user runs it (in this process, or a child where a test needs one), with outputs
in tmp_path."""

from __future__ import annotations

import csv
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from sandbox import store
from tests.conftest import wsb as shared_wsb

REPO = Path(__file__).resolve().parents[2]


def wsb(*args: str, cwd: Path, env: dict[str, str] | None = None, check: bool = True):
    return shared_wsb(*args, cwd=cwd, env=env, check=check)


def test_default_run_is_offline_complete_and_never_imports_anthropic(tmp_path):
    probe = (
        "import sys; from sandbox.cli import main;"
        f"code = main(['run', 'hydra.run.dir={tmp_path}/run']);"
        "print('ANTHROPIC' if 'anthropic' in sys.modules else 'NO-ANTHROPIC'); sys.exit(code)"
    )
    proc = subprocess.run(
        [sys.executable, "-c", probe], capture_output=True, text=True, cwd=tmp_path, timeout=120
    )
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.strip().splitlines()[-1] == "NO-ANTHROPIC"
    assert "episode" in proc.stdout  # plain display: a line per episode when not a terminal
    run = tmp_path / "run"
    assert json.loads((run / "run.json").read_text())["status"] == "complete"
    assert (run / ".hydra" / "config.yaml").exists()
    assert json.loads((run / "metrics.json").read_text())["episodes"] == 20


def test_default_output_lands_under_runs_with_date_and_experiment(tmp_path):
    wsb("run", "episodes=2", "display=none", cwd=tmp_path)
    runs = list((tmp_path / "runs").glob("*/*-workday"))
    assert len(runs) == 1 and store.is_run_dir(runs[0])


def test_display_none_prints_only_the_summary(tmp_path):
    proc = wsb("run", "episodes=3", "display=none", f"hydra.run.dir={tmp_path}/r", cwd=tmp_path)
    assert "episode   0" not in proc.stdout
    assert "run complete" in proc.stdout
    assert "refusal rate" in proc.stdout


@pytest.mark.parametrize("launcher", ["basic", "joblib"])
def test_three_condition_sweep_writes_three_runs_and_a_summary(tmp_path, launcher):
    args = [
        "run",
        "-m",
        "intervention=none,exit_option,rest_breaks",
        "episodes=4",
        f"hydra.sweep.dir={tmp_path}/sweep",
    ]
    if launcher == "joblib":
        args += ["hydra/launcher=joblib", "hydra.launcher.n_jobs=2"]
    wsb(*args, cwd=tmp_path)
    sweep = tmp_path / "sweep"
    jobs = sorted(p for p in sweep.iterdir() if store.is_run_dir(p))
    assert len(jobs) == 3
    for job in jobs:
        assert json.loads((job / "run.json").read_text())["status"] == "complete"
        assert (job / "metrics.json").exists()
    with (sweep / "summary.csv").open() as fh:
        rows = list(csv.DictReader(fh))
    assert [r["condition"] for r in rows] == ["none", "exit_option", "rest_breaks"]
    assert all(r["status"] == "complete" for r in rows)
    assert "intervention=exit_option" in rows[1]["overrides"]
    summary = json.loads((sweep / "summary.json").read_text())
    assert len(summary["jobs"]) == 3
    # the exit condition offers exit; the control does not
    assert rows[0]["exit_rate_n"] in ("", "0")
    assert int(rows[1]["exit_rate_n"]) == 4


def test_sweep_summary_lists_a_failed_job(tmp_path):
    # menu_size=0 composes (it is an environment argument) but the environment rejects it when
    # the job starts: that job fails, the other completes, the summary lists both.
    proc = wsb(
        "run",
        "-m",
        "env.kwargs.menu_size=3,0",
        "episodes=2",
        f"hydra.sweep.dir={tmp_path}/sweep",
        cwd=tmp_path,
        check=False,
    )
    rows = json.loads((tmp_path / "sweep" / "summary.json").read_text())["jobs"]
    assert sorted(r["status"] for r in rows) == ["complete", "failed"]
    failed = next(r for r in rows if r["status"] == "failed")
    assert "menu_size" in failed["reason"]
    assert "menu_size" in proc.stderr


@pytest.mark.parametrize(
    ("args", "expected"),
    [
        (["episodes=0"], "episodes must be at least 1"),
        (["episodes=-2"], "episodes must be at least 1"),
        (["episodes=many"], "wrong type for episodes"),
        (["agent.nosie=2"], "Did you mean agent.noise?"),
        (["display.mdoe=plain"], "Did you mean display.mode?"),
        (["intervention=exit_optoin"], "Did you mean intervention=exit_option?"),
        (["agent=claud"], "Did you mean agent=claude?"),
        (["-m", "intervention=none,exit_optoin"], "Did you mean intervention=exit_option?"),
        (["env.kwargs.bank=/nonexistent/bank.yaml"], "bank.yaml"),
        (["env.id=WelfareSandbox/TaskChoise-v0"], "Did you mean WelfareSandbox/TaskChoice-v0"),
        (["agent.cache=sometimes", "agent=claude"], "agent.cache must be one of"),
    ],
)
def test_bad_input_is_one_clear_message_and_status_2(tmp_path, args, expected):
    proc = wsb(
        "run",
        *args,
        f"hydra.run.dir={tmp_path}/r",
        f"hydra.sweep.dir={tmp_path}/s",
        cwd=tmp_path,
        check=False,
        env={"ANTHROPIC_API_KEY": "x"},
    )
    assert proc.returncode == 2, proc.stderr
    assert expected in proc.stderr
    assert "Traceback" not in proc.stderr
    assert len(proc.stderr.strip().splitlines()) <= 2, proc.stderr


@pytest.mark.parametrize(
    ("args", "env"),
    [
        (["--debug", "run", "episodes=0"], {}),  # caught before Hydra runs
        (["run", "env.kwargs.menu_size=0"], {"HYDRA_FULL_ERROR": "1"}),  # inside the run
    ],
)
def test_debug_adds_the_traceback_and_keeps_the_message_and_status(tmp_path, args, env):
    full_env = {**os.environ, **env}
    proc = subprocess.run(
        [sys.executable, "-m", "sandbox", *args, f"hydra.run.dir={tmp_path}/r"],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        env=full_env,
        timeout=300,
    )
    assert proc.returncode == 2, proc.stderr
    assert "Traceback" in proc.stderr
    assert proc.stderr.strip().splitlines()[-1].startswith("error: ")
    if env:  # the run began: it is still marked failed, as without the traceback
        assert json.loads((tmp_path / "r" / store.RUN_JSON).read_text())["status"] == "failed"


def test_envs_lists_taskchoice(tmp_path):
    out = wsb("envs", cwd=tmp_path).stdout
    assert "WelfareSandbox/TaskChoice-v0" in out


def test_unknown_command_says_what_exists(tmp_path):
    proc = wsb("rnu", cwd=tmp_path, check=False)
    assert proc.returncode == 2
    assert "wsb run" in proc.stderr


def test_ctrl_c_keeps_finished_episodes_says_how_to_resume_and_exits_130(tmp_path):
    import signal
    import time

    run_dir = tmp_path / "run"
    env = {**os.environ}
    env.pop("HYDRA_FULL_ERROR", None)
    args = [sys.executable, "-m", "sandbox", "run", "episodes=100000", "display=none"]
    proc = subprocess.Popen(
        [*args, f"hydra.run.dir={run_dir}"],
        cwd=tmp_path,
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
    )
    deadline = time.monotonic() + 60
    log = run_dir / store.EPISODES
    while not (log.exists() and log.read_bytes().count(b'"episode_end"') >= 3):
        assert proc.poll() is None and time.monotonic() < deadline, "no episode finished"
        time.sleep(0.05)
    proc.send_signal(signal.SIGINT)
    _, err = proc.communicate(timeout=120)
    assert proc.returncode == 130, err
    assert f"resume=true hydra.run.dir={run_dir}" in err
    assert "Traceback" not in err
    manifest = json.loads((run_dir / store.RUN_JSON).read_text())
    assert (manifest["status"], manifest["reason"]) == ("partial", "interrupted")
    assert manifest["episodes_finished"] >= 3
    assert (run_dir / store.METRICS).is_file()


def test_a_partial_run_exits_3_and_a_sweep_with_a_failed_job_too(tmp_path):
    # A run that ends partial (here: the person quits at once) is not reported as a success.
    proc = subprocess.run(
        [
            sys.executable,
            "-m",
            "sandbox",
            "run",
            "agent=human",
            "episodes=1",
            f"hydra.run.dir={tmp_path}/run",
        ],
        cwd=tmp_path,
        input="q\n",
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert proc.returncode == 3, proc.stderr
    sweep = wsb(
        "run",
        "-m",
        "env.kwargs.menu_size=3,0",
        "episodes=2",
        f"hydra.sweep.dir={tmp_path}/sweep",
        cwd=tmp_path,
        check=False,
    )
    assert sweep.returncode == 3, sweep.stderr
    complete = wsb(
        "run", "-m", "seed=1,2", "episodes=2", f"hydra.sweep.dir={tmp_path}/ok", cwd=tmp_path
    )
    assert complete.returncode == 0
