"""Sweeps on Ray (hydra/launcher=ray_cluster): on an existing cluster, and on a private Ray.

Both tests are slow (a Ray start takes 5-20 s) and need the ``ray`` extra
(``pip install -e '.[ray]'``); without it they skip and say so. The cluster is started by the
test with ``ray start --head --block`` on loopback, in its own short temporary folder and its
own process group, and stopped in teardown by signalling that process (never ``ray stop``,
which would stop every Ray on the machine).
"""

from __future__ import annotations

import contextlib
import importlib.util
import json
import os
import secrets
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

pytestmark = [
    pytest.mark.slow,
    pytest.mark.skipif(
        importlib.util.find_spec("ray") is None
        or importlib.util.find_spec("hydra_plugins.hydra_ray_launcher") is None,
        reason="ray is not installed: pip install -e '.[ray]' to run the Ray launcher tests",
    ),
]

SWEEP = ["intervention=none,exit_option", "episodes=2", "display=none"]


def _ray_cli() -> str:
    ray = Path(sys.executable).with_name("ray")
    return str(ray) if ray.is_file() else "ray"


#: Ray (2.5x) protects a cluster with a token. Each test session gets its own, handed to the
#: cluster and to `wsb run` in the environment, so nothing is read from or written to
#: ~/.ray/auth_token (where a plain `ray start` keeps one).
_TOKEN = secrets.token_hex(32)


def _env(**extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("RAY_", "HYDRA_FULL"))}
    env.update(RAY_USAGE_STATS_ENABLED="0", RAY_AUTH_MODE="token", RAY_AUTH_TOKEN=_TOKEN)
    return {**env, **extra}


def _stop(proc: subprocess.Popen[bytes]) -> None:
    """Stop the process group the test started: SIGTERM, then SIGKILL after 60 s."""
    with contextlib.suppress(ProcessLookupError):
        proc.send_signal(signal.SIGTERM)
    with contextlib.suppress(subprocess.TimeoutExpired):
        proc.wait(timeout=60)
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        try:
            os.killpg(proc.pid, 0)  # anything left in the group the test created?
        except ProcessLookupError:
            return
        time.sleep(0.5)
    with contextlib.suppress(ProcessLookupError):
        os.killpg(proc.pid, signal.SIGKILL)
    proc.wait(timeout=10)


@pytest.fixture
def ray_cluster() -> Iterator[str]:
    """A one-node Ray cluster on loopback (2 CPUs, 80 MB object store); yields its address."""
    # A short folder: Ray's unix sockets live under it and a socket path is at most 107 bytes.
    temp = Path(tempfile.mkdtemp(prefix="wsbray", dir="/tmp"))
    log = (temp / "ray-start.log").open("wb")
    proc = subprocess.Popen(
        [
            _ray_cli(),
            "start",
            "--head",
            "--block",
            "--node-ip-address=127.0.0.1",
            "--port=0",
            "--num-cpus=2",
            "--object-store-memory=80000000",
            "--include-dashboard=false",
            "--disable-usage-stats",
            f"--temp-dir={temp}",
        ],
        stdout=log,
        stderr=subprocess.STDOUT,
        env=_env(),
        start_new_session=True,
    )
    try:
        address_file = temp / "ray_current_cluster"
        deadline = time.monotonic() + 120
        while not (address_file.is_file() and address_file.read_text().strip()):
            if proc.poll() is not None or time.monotonic() > deadline:
                log.flush()
                pytest.fail(f"ray start failed:\n{(temp / 'ray-start.log').read_text()[-3000:]}")
            time.sleep(0.5)
        yield address_file.read_text().strip()
    finally:
        _stop(proc)
        log.close()
        shutil.rmtree(temp, ignore_errors=True)


def _wsb(cwd: Path, *args: str, env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "sandbox", "run", "-m", *args],
        cwd=cwd,
        capture_output=True,
        text=True,
        env=env,
        timeout=600,
    )


def _assert_sweep_complete(sweep_dir: Path) -> None:
    jobs = json.loads((sweep_dir / "summary.json").read_text())["jobs"]
    assert len(jobs) == 2
    for job in sweep_dir.iterdir():
        if job.is_dir():
            run = json.loads((job / "run.json").read_text())
            assert run["status"] == "complete", job
    conditions = sorted(
        json.loads((job / "run.json").read_text())["config"]["intervention"]["name"]
        for job in sweep_dir.iterdir()
        if job.is_dir()
    )
    assert conditions == ["exit_option", "none"]


def test_the_readme_command_runs_a_sweep_on_an_existing_cluster(
    ray_cluster: str, tmp_path: Path
) -> None:
    # The README's command: address=auto finds the cluster through RAY_ADDRESS. The plugin's own
    # `ray` config fails here ("object_store_memory must not be provided").
    sweep_dir = tmp_path / "sweep"
    proc = _wsb(
        tmp_path,
        "hydra/launcher=ray_cluster",
        "hydra.launcher.ray.init.address=auto",
        *SWEEP,
        f"hydra.sweep.dir={sweep_dir}",
        env=_env(RAY_ADDRESS=ray_cluster),
    )
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert "sweep summary: 2 jobs (0 not complete)" in proc.stdout + proc.stderr
    _assert_sweep_complete(sweep_dir)


def test_without_an_address_the_sweep_starts_and_stops_a_private_ray(tmp_path: Path) -> None:
    temp = Path(tempfile.mkdtemp(prefix="wsbray", dir="/tmp"))
    try:
        sweep_dir = tmp_path / "sweep"
        proc = _wsb(
            tmp_path,
            "hydra/launcher=ray_cluster",
            "hydra.launcher.ray.init.num_cpus=2",
            "hydra.launcher.ray.init.object_store_memory=80000000",
            f"+hydra.launcher.ray.init._temp_dir={temp}",
            *SWEEP,
            f"hydra.sweep.dir={sweep_dir}",
            env=_env(),
        )
        assert proc.returncode == 0, proc.stderr[-3000:]
        _assert_sweep_complete(sweep_dir)
    finally:
        shutil.rmtree(temp, ignore_errors=True)
