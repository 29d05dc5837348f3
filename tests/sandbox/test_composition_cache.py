"""The composition shortcuts of a sweep give the configs Hydra gives, and its errors.

A 200-job sweep composed each job twice (in the parent to check the batch, in the worker to
run it), each composition reading and parsing every config file again: sandbox.composition
reads each file once, and checks a batch by composing one job per family of jobs that differ
only in plain values.
"""

from __future__ import annotations

from types import SimpleNamespace

import pytest
from hydra import compose, initialize_config_dir
from hydra.core.global_hydra import GlobalHydra
from hydra.types import RunMode
from omegaconf import OmegaConf

from sandbox import composition
from sandbox.config import register_configs
from sandbox.paths import config_dir

OVERRIDE_SETS = [
    ["experiment=bail", "agent=random", "intervention=exit_option"],
    ["hydra/launcher=joblib", "env.kwargs.day_length=10", "seed=2"],
    ["seed=4"],
]


@pytest.fixture
def hydra_dir():
    register_configs()
    GlobalHydra.instance().clear()
    with initialize_config_dir(config_dir=str(config_dir()), version_base="1.3"):
        yield GlobalHydra.instance().config_loader()
    GlobalHydra.instance().clear()


def _yaml(overrides: list[str]) -> str:
    return OmegaConf.to_yaml(
        compose(config_name="config", overrides=overrides, return_hydra_config=True)
    )


def test_configs_composed_from_shared_files_are_hydras_own(hydra_dir):
    expected = [_yaml(o) for o in OVERRIDE_SETS]
    undo = composition.share_config_files()
    try:
        # Twice: the second round reads every file from the cache (a composition merges into
        # what it reads, so a cache without copies gave the first config's values to the next).
        for _ in range(2):
            assert [_yaml(o) for o in OVERRIDE_SETS] == expected
    finally:
        undo()


def _sweeper(loader):
    master = loader.load_configuration("config", ["hydra.mode=MULTIRUN"], RunMode.MULTIRUN)
    return SimpleNamespace(hydra_context=SimpleNamespace(config_loader=loader), config=master)


def test_a_batch_is_checked_by_composing_one_job_per_family(hydra_dir, monkeypatch):
    sweeper = _sweeper(hydra_dir)
    composed: list[list[str]] = []
    load = type(hydra_dir).load_sweep_config

    def counting(self, master_config, sweep_overrides):
        composed.append(list(sweep_overrides))
        return load(self, master_config, sweep_overrides)

    monkeypatch.setattr(type(hydra_dir), "load_sweep_config", counting)
    batch = [
        [f"intervention={cond}", f"seed={seed}"]
        for cond in ("none", "exit_option")
        for seed in range(3)
    ]
    composition._check_batch_by_structure(sweeper, batch)
    assert composed == [["intervention=none", "seed=0"], ["intervention=exit_option", "seed=0"]]
    # A bad value in a later job of a family fails as Hydra's check would (here, a type).
    bad = [*batch, ["intervention=exit_option", "seed=abc"]]
    with pytest.raises(Exception, match="seed"):
        composition._check_batch_by_structure(sweeper, bad)
    # So does a key that the family's config lacks (struct mode).
    with pytest.raises(Exception, match="nonexistent"):
        composition._check_batch_by_structure(sweeper, [["seed=1"], ["seed=2", "nonexistent=1"]])
