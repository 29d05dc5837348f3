"""Sweeps under other launchers: joblib in parallel, and submitit (the SLURM path) on one machine.

Whatever launcher runs the jobs, each writes only inside its own directory and the summary is
rebuilt from the job directories, so it does not depend on the order in which jobs finished.
"""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

import pytest
from hydra import compose, initialize_config_dir
from hydra.core.global_hydra import GlobalHydra

from sandbox import store, sweep
from sandbox.config import register_configs
from sandbox.paths import config_dir
from tests.conftest import wsb as shared_wsb

#: Files a sweep may write at its root; everything else belongs to a job directory.
SWEEP_ROOT_FILES = {"multirun.yaml", "summary.csv", "summary.json", "sweep.lock"}
PLANTED = "sk-ant-api03-PLANTED-launchers-e2b7"


def wsb(*args: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    proc = shared_wsb(*args, cwd=cwd, env={"ANTHROPIC_API_KEY": PLANTED}, check=True)
    assert PLANTED not in proc.stdout + proc.stderr
    return proc


def _summary(sweep_dir: Path) -> list[dict]:
    return json.loads((sweep_dir / "summary.json").read_text())["jobs"]


def _only_job_dirs_and_summary(sweep_dir: Path, *, extra: frozenset[str] = frozenset()) -> None:
    jobs = {p.name for p in sweep.job_dirs(sweep_dir)}
    for entry in sweep_dir.iterdir():
        assert entry.name in jobs | SWEEP_ROOT_FILES | extra, f"{entry} written outside a job"


@pytest.mark.slow  # two 1,000-episode sweeps; the default run keeps test_cli's joblib sweep
def test_summary_does_not_depend_on_the_order_jobs_finish(tmp_path):
    # Job 0 plays 1000 short episodes (about 2 s), job 1 plays 2: under joblib with two workers
    # job 1 ends first, even though its worker starts about a second later.
    args = ["run", "-m", "episodes=1000,2", "display=none", "env.kwargs.day_length=10"]
    wsb(*args, f"hydra.sweep.dir={tmp_path}/basic", cwd=tmp_path)
    wsb(
        *args,
        "hydra/launcher=joblib",
        "hydra.launcher.n_jobs=2",
        f"hydra.sweep.dir={tmp_path}/joblib",
        cwd=tmp_path,
    )
    long_job, short_job = sweep.job_dirs(tmp_path / "joblib")
    finished = {job: (job / store.METRICS).stat().st_mtime_ns for job in (long_job, short_job)}
    assert finished[short_job] < finished[long_job]  # they did finish out of order
    assert _summary(tmp_path / "joblib") == _summary(tmp_path / "basic")
    assert (tmp_path / "joblib" / "summary.csv").read_text() == (
        tmp_path / "basic" / "summary.csv"
    ).read_text()
    _only_job_dirs_and_summary(tmp_path / "joblib")
    # The summary can be rebuilt from the job directories alone, to the same bytes.
    before = (tmp_path / "joblib" / "summary.json").read_bytes()
    sweep.write_summary(tmp_path / "joblib")
    assert (tmp_path / "joblib" / "summary.json").read_bytes() == before


@pytest.mark.slow  # two sweeps through submitit; its config is checked below
def test_submitit_local_runs_the_sweep_and_resumes_it(tmp_path):
    pytest.importorskip("hydra_plugins.hydra_submitit_launcher")
    args = [
        "run",
        "-m",
        "hydra/launcher=slurm_local",
        "intervention=none,exit_option",
        "episodes=3",
        "display=none",
        f"hydra.sweep.dir={tmp_path}/sweep",
    ]
    wsb(*args, cwd=tmp_path)
    sweep_dir = tmp_path / "sweep"
    rows = _summary(sweep_dir)
    assert [(r["condition"], r["status"]) for r in rows] == [
        ("none", "complete"),
        ("exit_option", "complete"),
    ]
    assert (sweep_dir / ".submitit").is_dir()  # the jobs did go through submitit
    _only_job_dirs_and_summary(sweep_dir, extra=frozenset({".submitit"}))
    manifests = {job: (job / store.RUN_JSON).read_bytes() for job in sweep.job_dirs(sweep_dir)}
    wsb(*args, "resume=true", cwd=tmp_path)
    for job, manifest in manifests.items():
        assert (job / store.RUN_JSON).read_bytes() == manifest  # complete jobs were skipped
    assert _summary(sweep_dir) == rows
    for path in sweep_dir.rglob("*"):
        if path.is_file():
            assert PLANTED.encode() not in path.read_bytes(), path


def test_the_slurm_launcher_config_composes_with_its_documented_keys():
    pytest.importorskip("hydra_plugins.hydra_submitit_launcher")
    register_configs()
    GlobalHydra.instance().clear()
    try:
        with initialize_config_dir(config_dir=str(config_dir()), version_base="1.3"):
            cfg = compose(
                config_name="config",
                overrides=["hydra/launcher=slurm", "hydra.launcher.partition=cpu"],
                return_hydra_config=True,
            )
    finally:
        GlobalHydra.instance().clear()
    launcher = cfg.hydra.launcher
    assert launcher._target_.endswith("submitit_launcher.SlurmLauncher")
    assert launcher.partition == "cpu"
    assert launcher.timeout_min == 120 and launcher.cpus_per_task == 2
    assert launcher.mem_gb == 4 and launcher.array_parallelism == 32
    assert str(launcher.submitit_folder).endswith("/.submitit/%j")
