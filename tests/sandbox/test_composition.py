"""``wsb run`` composes its config once (:mod:`sandbox.composition`), and the shared ``wsb()``
test helper leaves this process as it found it."""

from __future__ import annotations

import json
import logging
import os
import signal
from pathlib import Path

import pytest
import yaml
from hydra._internal.config_loader_impl import ConfigLoaderImpl
from hydra._internal.hydra import Hydra
from hydra.plugins.sweeper import Sweeper

from tests.conftest import wsb


@pytest.fixture
def compositions(monkeypatch: pytest.MonkeyPatch) -> list[list[str]]:
    """The override lists of every config Hydra composes (from the files) in this process."""
    made: list[list[str]] = []
    real = ConfigLoaderImpl._load_configuration_impl

    def counting(self, config_name, overrides, *args, **kwargs):  # type: ignore[no-untyped-def]
        made.append(list(overrides))
        return real(self, config_name, overrides, *args, **kwargs)

    monkeypatch.setattr(ConfigLoaderImpl, "_load_configuration_impl", counting)
    return made


def test_a_run_composes_its_config_once(tmp_path: Path, compositions: list[list[str]]) -> None:
    # Before: three (the pre-check, Hydra's get_mode, Hydra's run), a fifth of a second each.
    run = tmp_path / "run"
    proc = wsb("run", "episodes=1", "display=none", f"hydra.run.dir={run}", cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr
    assert len(compositions) == 1, compositions
    assert json.loads((run / "run.json").read_text())["status"] == "complete"
    overrides = yaml.safe_load((run / ".hydra" / "overrides.yaml").read_text())
    assert overrides == ["episodes=1", "display=none"]  # the task's overrides, as given
    hydra = yaml.safe_load((run / ".hydra" / "hydra.yaml").read_text())["hydra"]
    assert hydra["mode"] == "RUN" and hydra["job"]["name"] == "cli"
    assert hydra["overrides"]["hydra"] == [f"hydra.run.dir={run}", "hydra.mode=RUN"]


def test_the_checked_directory_is_the_one_hydra_writes(tmp_path: Path) -> None:
    # The pre-check resolves hydra.run.dir with the job name the run has (it was "app" there and
    # "cli" in the run, so a directory named after the job was checked in the wrong place).
    proc = wsb("run", "episodes=1", "display=none", "hydra.run.dir=out/${hydra.job.name}",
               cwd=tmp_path)  # fmt: skip
    assert proc.returncode == 0, proc.stderr
    assert [p.name for p in (tmp_path / "out").iterdir()] == ["cli"]


def test_a_sweep_composes_no_config_to_learn_its_mode(
    tmp_path: Path, compositions: list[list[str]]
) -> None:
    sweep = tmp_path / "sweep"
    args = ("run", "-m", "seed=1,2", "episodes=1", "display=none", f"hydra.sweep.dir={sweep}")
    proc = wsb(*args, cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr
    # The pre-check (the first value), the sweep's own config, and one for each job. Before:
    # seven (Hydra's get_mode composed one; its sweeper composed each job to check the batch,
    # and then the launcher again).
    assert len(compositions) == 4, compositions
    assert not any("hydra.mode=RUN" in made for made in compositions)
    assert sum(1 for p in sweep.iterdir() if p.is_dir()) == 2


def test_each_job_of_a_sweep_runs_its_own_overrides(tmp_path: Path) -> None:
    sweep = tmp_path / "sweep"
    args = ("run", "-m", "seed=3,4,5", "episodes=1", "display=none", f"hydra.sweep.dir={sweep}")
    assert wsb(*args, cwd=tmp_path).returncode == 0
    for number, seed in enumerate((3, 4, 5)):
        (job,) = sweep.glob(f"{number}-*")
        config = yaml.safe_load((job / ".hydra" / "config.yaml").read_text())
        hydra = yaml.safe_load((job / ".hydra" / "hydra.yaml").read_text())["hydra"]
        assert config["seed"] == seed and hydra["job"]["num"] == number
        assert json.loads((job / "run.json").read_text())["seed"] == seed


def test_outside_wsb_run_hydra_composes_as_usual(tmp_path: Path) -> None:
    wsb("run", "episodes=1", "display=none", f"hydra.run.dir={tmp_path}/r", cwd=tmp_path)
    assert ConfigLoaderImpl.load_configuration.__name__ == "load_configuration"
    assert Hydra.get_mode.__name__ == "get_mode"
    assert Sweeper.validate_batch_is_legal.__name__ == "validate_batch_is_legal"


def test_the_in_process_helper_leaves_the_process_as_it_found_it(tmp_path: Path) -> None:
    root = logging.getLogger()
    before = (
        os.getcwd(), dict(os.environ), list(root.handlers), root.level,
        {s: signal.getsignal(s) for s in (signal.SIGINT, signal.SIGTERM, signal.SIGHUP)},
    )  # fmt: skip
    proc = wsb("run", "episodes=1", "display=none", f"hydra.run.dir={tmp_path}/r", cwd=tmp_path,
               env={"WSB_TEST_ONLY": "1"})  # fmt: skip
    assert proc.returncode == 0, proc.stderr
    assert "run complete" in proc.stdout
    after = (
        os.getcwd(), dict(os.environ), list(root.handlers), root.level,
        {s: signal.getsignal(s) for s in (signal.SIGINT, signal.SIGTERM, signal.SIGHUP)},
    )  # fmt: skip
    assert after == before
    refused = wsb("run", "episods=1", cwd=tmp_path)
    assert refused.returncode == 2 and refused.stderr.startswith("error: ")
    assert len(refused.stderr.strip().splitlines()) == 1
