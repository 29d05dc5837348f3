"""Shared test fixtures: composing the Hydra config, and running small runs into tmp_path."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from hydra import compose, initialize_config_dir
from hydra.core.global_hydra import GlobalHydra

from sandbox.config import RunConfig, register_configs, to_typed
from sandbox.paths import config_dir

REPO = Path(__file__).resolve().parents[1]
BAILBENCH = REPO.parent / "shared" / "data" / "bailbench" / "bailBench.csv"


@pytest.fixture
def compose_cfg() -> Iterator[Callable[..., RunConfig]]:
    """Compose the project's config with overrides, as ``wsb run`` would, typed."""
    register_configs()
    GlobalHydra.instance().clear()
    with initialize_config_dir(config_dir=str(config_dir()), version_base="1.3"):

        def _compose(*overrides: str) -> RunConfig:
            return to_typed(compose(config_name="config", overrides=list(overrides)))

        yield _compose
    GlobalHydra.instance().clear()
