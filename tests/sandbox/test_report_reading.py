"""``wsb report`` streams each job's log into the tally, in parallel workers for large sweeps."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest

from sandbox import store
from sandbox.metrics.compute import metrics_of
from sandbox.metrics.tally import RunTally
from sandbox.report import build_report, to_dict
from sandbox.report import reading as report_reading
from tests.conftest import wsb


@pytest.fixture(scope="module")
def sweep(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("reading")
    wsb(
        "run", "-m", "intervention=none,exit_option,rest_breaks", "episodes=10",
        f"hydra.sweep.dir={root}/sweep", cwd=root, check=True,
    )  # fmt: skip
    return root / "sweep"


def test_parallel_workers_give_the_report_read_in_order(
    sweep: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    serial = to_dict(build_report(sweep))
    monkeypatch.setattr(report_reading, "PARALLEL_BYTES", 0)  # every sweep read in workers
    parallel = to_dict(build_report(sweep))
    assert json.dumps(parallel, sort_keys=True) == json.dumps(serial, sort_keys=True)


def test_streamed_tally_is_the_loaded_runs(sweep: Path) -> None:
    job = sorted(p for p in sweep.iterdir() if store.is_run_dir(p))[1]
    loaded = store.load_run(job)
    streamed, seeds = report_reading.stream_tally(job, loaded.manifest)
    loaded_tally = RunTally().add_all(loaded.records)
    assert streamed.records == loaded_tally.records == len(loaded.records)
    ends = [r for r in loaded.records if r["type"] == "episode_end"]
    assert seeds == {r["episode"]: r["seed"] for r in ends}
    assert metrics_of(streamed, run=loaded.manifest) == metrics_of(
        loaded_tally, run=loaded.manifest
    )


def test_a_worker_reports_a_contradicting_log_as_the_reader_does(
    sweep: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    copy = tmp_path / "sweep"
    shutil.copytree(sweep, copy)
    job = sorted(p for p in copy.iterdir() if store.is_run_dir(p))[2]
    log = job / store.EPISODES
    lines = log.read_bytes().splitlines(keepends=True)
    log.write_bytes(b"".join([*lines, lines[-1]]))  # the last episode ends twice
    monkeypatch.setattr(report_reading, "PARALLEL_BYTES", 0)
    with pytest.raises(store.LogContradiction, match="ends twice") as caught:
        build_report(copy)
    assert caught.value.problems and Path(caught.value.path) == log
    with store.tolerate_inconsistent_logs():
        assert len(build_report(copy).conditions) == 3
