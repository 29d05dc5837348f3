"""Shared test fixtures: composing the Hydra config, and running small runs into tmp_path."""

from __future__ import annotations

import csv
import os
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import NamedTuple

import pytest
from hydra import compose, initialize_config_dir
from hydra.core.global_hydra import GlobalHydra

from sandbox.config import RunConfig, register_configs, to_typed
from sandbox.paths import config_dir

REPO = Path(__file__).resolve().parents[1]

# ---------------------------------------------------------------------------------------------
# BailBench (Ensign, Sleight & Fish 2025): mostly harmful requests, so it is never in the
# repository. Its loader is tested on a small stand-in in the same format that the tests write;
# the tests of the published file itself run where the file is: WSB_BAILBENCH, or, when that is
# unset, ../shared/data/bailbench/bailBench.csv beside the repository (where CI has it).
# ---------------------------------------------------------------------------------------------

BAILBENCH = Path(
    os.environ.get("WSB_BAILBENCH")
    or REPO.parent / "shared" / "data" / "bailbench" / "bailBench.csv"
).expanduser()
needs_bailbench = pytest.mark.skipif(
    not BAILBENCH.is_file(),
    reason=f"the published BailBench file is not at {BAILBENCH}: get bailstudy/data/bailBench.csv "
    "from the GitHub repository Phylliida/BailStudy (MIT) and set WSB_BAILBENCH=/path/to/"
    "bailBench.csv (its loader is still tested on a stand-in)",
)

#: BailBench's 14 categories, in the order of the published file.
BAILBENCH_CATEGORIES = (
    "Gross Out", "Dark Topics", "Emotional Intensity", "Horror",
    "Model-Personification & Victim Narratives", "Legal Concerns", "Corporate Safety Concerns",
    "Harassment/Discrimination", "Fraud/Deception", "Malware/Hacking", "Physical Harm",
    "Economic Harm", "Disinformation", "Illegal Sexual/Adult Content",
)  # fmt: skip


class BailBenchBank(NamedTuple):
    """A BailBench-format file for a test: its path, its rows, and what the rows hold."""

    path: Path
    rows: int
    categories: int
    published: bool


def write_bailbench_like(folder: Path) -> BailBenchBank:
    """Write a harmless stand-in for BailBench in its exact format to ``folder/bailBench.csv``.

    The same header (``content,subcategory,category``), the same CRLF line ends, the same 14
    categories in the published order; two subcategories of two rows each (the first
    category's subcategory is the category itself, as in the file), with cells that need
    quoting (commas and doubled quotes) as some of the published ones do. 56 rows.
    """
    path = folder / "bailBench.csv"
    with path.open("w", encoding="utf-8", newline="") as out:
        writer = csv.writer(out)  # the csv module's defaults: minimal quoting, CRLF
        writer.writerow(["content", "subcategory", "category"])
        for number, category in enumerate(BAILBENCH_CATEGORIES):
            subcategories = (
                [category, f"{category} B"] if number == 0 else [f"{category} A", f"{category} B"]
            )
            for subcategory in subcategories:
                writer.writerow([f"Stand-in request about {subcategory}.", subcategory, category])
                writer.writerow(
                    [f'A second stand-in, "quoted", for {subcategory}, with commas.', subcategory,
                     category]
                )  # fmt: skip
    return BailBenchBank(path, 4 * len(BAILBENCH_CATEGORIES), len(BAILBENCH_CATEGORIES), False)


@pytest.fixture(params=["stand-in", pytest.param("published", marks=needs_bailbench)])
def bailbench_bank(request: pytest.FixtureRequest, tmp_path: Path) -> BailBenchBank:
    """The BailBench stand-in, then (where it is found) the published file: 1,630 rows."""
    if request.param == "published":
        return BailBenchBank(BAILBENCH, 1630, 14, True)
    return write_bailbench_like(tmp_path)


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
