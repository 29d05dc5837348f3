"""``wsb watch``: following runs and sweeps from their files while other processes write them."""

from __future__ import annotations

import io
import json
import os
import shutil
import subprocess
import sys
import time
from pathlib import Path

import pytest
from rich.console import Console

from sandbox import runner, store
from sandbox.display.base import NullDisplay
from sandbox.display.sweep_view import sweep_table
from sandbox.display.watch_view import PlainRunView, RichRunView, run_view
from sandbox.linetail import LineTail
from sandbox.watch import RunWatch, SweepWatch, follow_run, job_row
from tests.conftest import typed_config, wsb


def wsb_cmd(*args: str) -> list[str]:
    return [sys.executable, "-m", "sandbox", *args]


def clean_env() -> dict[str, str]:
    env = {**os.environ}
    env.pop("HYDRA_FULL_ERROR", None)
    env.pop("COLUMNS", None)
    return env


@pytest.fixture(scope="module")
def finished_run(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A real complete run with exit offered (the runner, programmatically)."""
    path = tmp_path_factory.mktemp("watch") / "run"
    cfg = typed_config("episodes=6", "intervention=exit_option")
    runner.run(cfg, path, NullDisplay(io.StringIO()))
    return path


# -- reading files as they are written ----------------------------------------------------------


def test_tail_waits_for_a_half_written_line(tmp_path: Path) -> None:
    path = tmp_path / "episodes.jsonl"
    tail = LineTail(path)
    assert tail.read() == ([], False)  # no file yet: nothing, no error
    line = b'{"type":"step","episode":0,"step":0}\n'
    path.write_bytes(line + line[:10])
    records, restarted = tail.read()
    assert len(records) == 1 and not restarted
    assert tail.read() == ([], False)  # the partial line is buffered, not an error
    with path.open("ab") as fh:
        fh.write(line[10:])
    records, _ = tail.read()
    assert records == [{"type": "step", "episode": 0, "step": 0}]
    assert tail.bad_lines == 0


def test_tail_starts_over_when_the_file_is_replaced(tmp_path: Path) -> None:
    path = tmp_path / "episodes.jsonl"
    path.write_bytes(b'{"type":"step","episode":0,"step":0}\n' * 3)
    tail = LineTail(path)
    assert len(tail.read()[0]) == 3
    replacement = tmp_path / "new"
    replacement.write_bytes(b'{"type":"step","episode":1,"step":0}\n')
    os.replace(replacement, path)  # what a resume's rewrite does
    records, restarted = tail.read()
    assert restarted and records == [{"type": "step", "episode": 1, "step": 0}]


def test_running_proxies_match_metrics_json(finished_run: Path) -> None:
    state = RunWatch(finished_run)
    state.poll()
    metrics = json.loads((finished_run / "metrics.json").read_text())
    assert state.over and state.done == metrics["episodes"] == 6
    assert state.finished.refusal_rate() == metrics["refusal_rate"]
    assert state.finished.rest_rate() == metrics["rest_rate"]
    assert state.finished.exit_rate() == metrics["exit_rate"]
    assert state.finished.invalid_rate() == metrics["invalid_action_rate"]
    assert state.finished.self_report_mean() == pytest.approx(metrics["self_report"]["mean"])
    assert not state.in_flight


def test_polls_read_only_new_bytes(finished_run: Path, tmp_path: Path) -> None:
    run = tmp_path / "run"
    shutil.copytree(finished_run, run)
    lines = (run / store.EPISODES).read_bytes().splitlines(keepends=True)
    (run / store.EPISODES).write_bytes(b"".join(lines[:50]) + lines[50][:20])
    state = RunWatch(run)
    state.poll()
    assert state.records_read == 50 and state.tail.offset == sum(map(len, lines[:50])) + 20
    with (run / store.EPISODES).open("ab") as fh:
        fh.write(lines[50][20:] + b"".join(lines[51:]))
    assert state.poll()
    assert state.records_read == len(lines) and state.done == 6
    assert not state.poll()  # nothing new


def test_live_view_shows_episodes_in_flight(finished_run: Path) -> None:
    state = RunWatch(finished_run)
    state._read_manifest()
    records = store.read_records(finished_run / store.EPISODES)
    for record in records:
        if record["episode"] == 0 or (record["episode"] == 1 and record["type"] == "step"):
            state._add(record)
    console = Console(record=True, width=140, file=io.StringIO())
    console.print(run_view(state, 140))
    shown = console.export_text()
    assert "1/6 episodes" in shown and "1 in flight" in shown
    assert "episodes in flight" in shown
    last = state.in_flight[1].latest
    assert last is not None and f"episode 1 · step {last['step']}" in shown
    assert "running proxies · 1 finished episodes" in shown


def test_once_prints_one_snapshot_and_the_summary(finished_run: Path) -> None:
    console = Console(record=True, width=140, file=io.StringIO())
    follow_run(finished_run, RichRunView(console, live=False), once=True)
    shown = console.export_text()
    assert "6/6 episodes" in shown and "run complete" in shown
    assert "exit rate" in shown and f"run directory: {finished_run}" in shown


def test_plain_view_prints_a_line_per_episode(finished_run: Path) -> None:
    stream = io.StringIO()
    follow_run(finished_run, PlainRunView(stream), interval=0.01)
    lines = stream.getvalue().splitlines()
    assert sum(line.startswith("episode ") for line in lines) == 6
    assert any("[6/6]" in line for line in lines)
    assert any(line.startswith("run complete") for line in lines)


# -- following real processes -------------------------------------------------------------------


def test_watch_follows_a_run_written_by_another_process(tmp_path: Path) -> None:
    run_dir = tmp_path / "run"
    # display=rich with a step delay makes the run last a few seconds.
    writer = subprocess.Popen(
        wsb_cmd(
            "run", "episodes=5", "display=rich", "display.step_delay_s=0.015",
            "intervention=exit_option", f"hydra.run.dir={run_dir}",
        ),
        cwd=tmp_path, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, env=clean_env(),
    )  # fmt: skip
    try:
        watcher = subprocess.run(
            wsb_cmd("watch", str(run_dir), "--interval", "0.1"),
            cwd=tmp_path, capture_output=True, text=True, timeout=120, env=clean_env(),
        )  # fmt: skip
    finally:
        writer.wait(timeout=120)
    assert writer.returncode == 0
    assert watcher.returncode == 0, watcher.stderr
    out = watcher.stdout
    assert "status running" in out  # it was watching while the run went
    assert sum(line.startswith("episode ") for line in out.splitlines()) == 5
    assert "[5/5]" in out and "run complete" in out
    assert json.loads((run_dir / "run.json").read_text())["status"] == "complete"


def test_watch_follows_a_sweep_as_jobs_appear(tmp_path: Path) -> None:
    sweep_dir = tmp_path / "sweep"
    writer = subprocess.Popen(
        wsb_cmd(
            "run", "-m", "intervention=none,exit_option", "episodes=3", "display=rich",
            "display.step_delay_s=0.01", f"hydra.sweep.dir={sweep_dir}",
        ),
        cwd=tmp_path, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=clean_env(),
    )  # fmt: skip
    deadline = time.monotonic() + 30
    while not sweep_dir.exists() and time.monotonic() < deadline:
        time.sleep(0.05)
    try:
        watcher = subprocess.run(
            wsb_cmd("watch", str(sweep_dir), "--interval", "0.1"),
            cwd=tmp_path, capture_output=True, text=True, timeout=120, env=clean_env(),
        )  # fmt: skip
    finally:
        sweep_out, _ = writer.communicate(timeout=120)
    assert watcher.returncode == 0, watcher.stderr
    lines = watcher.stdout.splitlines()
    assert any(line.startswith("sweep [") and "condition none" in line for line in lines)
    assert any("condition exit_option" in line and "episodes 3/3" in line for line in lines)
    assert lines[-1] == "sweep finished: 2 jobs"
    # The multirun itself printed a progress line as each job ended (not a terminal here).
    assert "sweep [1/2 jobs]" in sweep_out and "sweep [2/2 jobs]" in sweep_out


def test_watch_once_on_a_sweep_and_one_job(tmp_path: Path) -> None:
    sweep_dir = tmp_path / "sweep"
    args = ("run", "-m", "intervention=none,rest_breaks", "episodes=2", "display=none")
    wsb(*args, f"hydra.sweep.dir={sweep_dir}", cwd=tmp_path, check=True, env={"COLUMNS": None})
    wide = {"COLUMNS": "160"}
    table = wsb("watch", str(sweep_dir), "--once", cwd=tmp_path, env=wide).stdout
    assert "jobs finished 2/2" in table and "rest_breaks" in table and "complete" in table
    job = wsb("watch", str(sweep_dir), "--once", "--job", "1", cwd=tmp_path, env=wide).stdout
    assert "condition rest_breaks" in job and "2/2 episodes" in job
    state = SweepWatch(sweep_dir)
    state.poll()
    assert state.planned == 2 and state.over
    console = Console(record=True, width=160, file=io.StringIO())
    console.print(sweep_table(state.rows, state.planned))
    assert "jobs finished 2/2" in console.export_text()
    assert job_row(sweep_dir / state.rows[0].job).status == "complete"


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["watch", "/nonexistent/run", "--once"], "is not a directory"),
        (["watch", ".", "--once"], "not a run or a sweep directory"),
        (["watch", ".", "--interval", "0"], "--interval must be a positive"),
    ],
)
def test_watch_errors_are_one_line_and_status_2(tmp_path: Path, args: list[str], message: str):
    proc = wsb(*args, cwd=tmp_path, env={"COLUMNS": None})
    assert proc.returncode == 2
    assert message in proc.stderr and "Traceback" not in proc.stderr


def test_watch_finds_nested_jobs_as_the_summary_and_the_report_do(tmp_path: Path) -> None:
    # An override value holding "/" (a bank's or a cache's path) makes Hydra nest a job's
    # directory: "1-agent.cache_dir=" / "tmp" / "c,intervention=exit_option". The summary and
    # the report always found such a job; `wsb watch` listed only the sweep's children.
    from sandbox.report import build_report
    from sandbox.sweep import write_summary

    sweep_dir = tmp_path / "sweep"
    sweep_dir.mkdir()
    (sweep_dir / "multirun.yaml").write_text("hydra: {}\n", encoding="utf-8")
    jobs = {
        "0-intervention=none": ["intervention=none"],
        "1-agent.cache_dir=/tmp/c,intervention=exit_option": [
            "agent.cache_dir=/tmp/c",
            "intervention=exit_option",
        ],
    }
    for name, overrides in jobs.items():
        job = sweep_dir / name
        (job / ".hydra").mkdir(parents=True)
        (job / ".hydra" / "overrides.yaml").write_text(
            "".join(f"- {o}\n" for o in overrides), encoding="utf-8"
        )
        runner.run(typed_config("episodes=2", overrides[-1]), job, NullDisplay(io.StringIO()))
    names = list(jobs)
    assert [row["job"] for row in write_summary(sweep_dir)] == names
    assert [c.job for c in build_report(sweep_dir).conditions] == names
    state = SweepWatch(sweep_dir)
    state.poll()
    assert [row.job for row in state.rows] == names
    assert [row.number for row in state.rows] == [0, 1]
    assert [row.status for row in state.rows] == ["complete", "complete"]
    wide = {"COLUMNS": "200"}
    table = wsb("watch", str(sweep_dir), "--once", cwd=sweep_dir, env=wide)
    assert table.returncode == 0, table.stderr
    assert "jobs finished 2/2" in table.stdout and "exit_option" in table.stdout
    job = wsb("watch", str(sweep_dir), "--once", "--job", "1", cwd=sweep_dir, env=wide)
    assert job.returncode == 0, job.stderr
    assert "condition exit_option" in job.stdout and "2/2 episodes" in job.stdout
