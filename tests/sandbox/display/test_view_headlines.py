"""The published designs show their results: each design's headline figure with its interval in
the end-of-run summary, the sweep table, ``summary.csv`` and ``wsb watch``.

``wsb run experiment=tradeoff`` ended with "refusal rate n/a, rest rate n/a, exit rate n/a" and
no switch point. A parameter that the chosen subject never reads gets a one-line warning.
"""

from __future__ import annotations

import csv
import io
import re
import subprocess
from pathlib import Path

import pytest
from rich.console import Console

from sandbox import runner, store
from sandbox.display.base import NullDisplay, RunHeader
from sandbox.display.headline import headlines, incentive_overrides, short_headline
from sandbox.display.plain import summary_lines
from sandbox.display.sweep_view import sweep_table
from sandbox.display.watch_view import header_of
from sandbox.watch import RunWatch, SweepWatch, job_row
from tests.conftest import wsb as shared_wsb

INTERVAL = r"\[-?\d+(\.\d+)?%?, -?\d+(\.\d+)?%?\]"


def wsb(cwd: Path, *args: str) -> subprocess.CompletedProcess[str]:
    return shared_wsb(*args, cwd=cwd, env={"COLUMNS": None})


@pytest.mark.slow
def test_tradeoff_run_ends_with_its_switch_points(tmp_path: Path) -> None:
    result = wsb(tmp_path, "run", "experiment=tradeoff", "episodes=6", "display=plain",
                 f"hydra.run.dir={tmp_path / 'run'}")  # fmt: skip
    assert result.returncode == 0, result.stderr
    out = result.stdout
    for variant in ("pain", "pleasure"):
        line = next(ln for ln in out.splitlines() if f"switch point ({variant})" in ln)
        assert re.search(r"\d\.\d\d \[\d\.\d\d, \d\.\d\d\] n=\d+", line), line
    assert "refusal rate n/a" not in out and "rest rate n/a" not in out
    # wsb watch of the finished run ends with the same figures.
    watched = wsb(tmp_path, "watch", str(tmp_path / "run"), "--once")
    assert "switch point (pain)" in watched.stdout


@pytest.mark.parametrize(
    ("experiment", "label"),
    [
        ("task_preferences", "below opt-out: harmful_request"),
        ("bail", "exit rate by tool"),
        ("think_tank", "reads in room D (economy none)"),
        ("tradeoff", "switch point (pain)"),
    ],
)
def test_each_design_summary_has_its_headline(compose_cfg, tmp_path, experiment, label) -> None:
    cfg = compose_cfg(f"experiment={experiment}", "episodes=4")
    path = tmp_path / "run"
    runner.run(cfg, path, NullDisplay(io.StringIO()))
    metrics = store.read_json(path / store.METRICS)
    state = RunWatch(path)
    state.poll()
    lines = summary_lines(header_of(state), "complete", metrics)
    line = next((ln for ln in lines if label in ln), None)
    assert line is not None, "\n".join(lines)
    assert re.search(INTERVAL, line), line  # with its interval
    assert not any(ln.strip() in ("refusal rate n/a", "rest rate n/a") for ln in lines)


def test_a_run_without_a_design_keeps_its_generic_rates() -> None:
    header = RunHeader("runs/x", "workday", "WelfareSandbox/TaskChoice-v0", "simulated", "none", 1)
    rate = {"value": 0.1, "ci_low": 0.05, "ci_high": 0.2, "n": 40}
    lines = summary_lines(header, "complete", {"refusal_rate": rate, "rest_rate": rate})
    assert any(ln.strip().startswith("refusal rate 10.0% [5.0%, 20.0%] n=40") for ln in lines)
    assert any(ln.strip() == "exit rate n/a" for ln in lines)


@pytest.mark.slow
def test_think_tank_sweep_shows_the_incentive_override(tmp_path: Path) -> None:
    sweep = tmp_path / "sweep"
    result = wsb(tmp_path, "run", "-m", "experiment=think_tank", "episodes=3",
                 "agent/preset=incentive_driven", f"hydra.sweep.dir={sweep}")  # fmt: skip
    assert result.returncode == 0, result.stderr
    state = SweepWatch(sweep)
    state.poll()
    for width in (80, 200):
        console = Console(width=width, record=True, file=io.StringIO())
        console.print(sweep_table(state.rows, state.planned, width=width))
        text = console.export_text()
        assert "room D none" in text, text
        assert re.search(r"override [+-]?\d+ pts \[[+-]?\d+–[+-]?\d+\]", text), text
    overrides = incentive_overrides([(r.job, r.headlines) for r in state.rows])
    assert len(overrides) == 2 and all(h.value is not None for h in overrides.values())
    # summary.csv carries the design's figures with their intervals.
    rows = list(csv.DictReader((sweep / "summary.csv").open()))
    key = "headline.think_tank.incentive_override.aversive_share"
    assert all(row[key] and row[f"{key}_ci_low"] and row[f"{key}_ci_high"] for row in rows)
    watched = wsb(tmp_path, "watch", str(sweep), "--once")
    assert "room D" in watched.stdout and "override" in watched.stdout


def test_short_cells() -> None:
    metrics = {
        "tradeoff": {
            "variants": {
                "pain": {
                    "switch_point": {"value": 4.9, "ci_low": 4.48, "ci_high": 5.32},
                    "fit": {"n": 220},
                },
                "pleasure": {"switch_point": {"value": None, "note": "always maximised points"}},
            }
        }
    }
    cells = [short_headline(h) for h in headlines(metrics)]
    assert cells[:2] == ["switch pain 4.9 [4.5–5.3]", "switch pleasure n/a"]


def test_a_parameter_the_subject_never_reads_gets_one_warning(tmp_path: Path) -> None:
    override = "++agent.conversation.exit_rates.hostile_or_belittling=0.3"
    result = wsb(tmp_path, "run", "episodes=1", "display=plain", override,
                 f"hydra.run.dir={tmp_path / 'a'}")  # fmt: skip
    assert result.returncode == 0, result.stderr
    warnings = [ln for ln in result.stdout.splitlines() if ln.startswith("warning:")]
    assert len(warnings) == 1, result.stdout
    assert "agent.conversation.exit_rates.hostile_or_belittling=0.3 has no effect" in warnings[0]
    assert "WelfareSandbox/Conversation-v0" in warnings[0]
    assert "WelfareSandbox/TaskChoice-v0" in warnings[0]
    assert "has no effect" in (tmp_path / "a" / "run.log").read_text()


@pytest.mark.parametrize(
    ("overrides", "warned"),
    [
        (["agent.conversation.default_exit_rate=0.5"], ["agent.conversation.default_exit_rate"]),
        (["experiment=bail", "agent.conversation.default_exit_rate=0.5"], []),  # it acts there
        (["agent/preset=bail_sensitive"], []),  # a preset's own values never warn
        (["experiment=tradeoff", "agent.think_tank.incentive_weight=1.5"], ["agent.think_tank"]),
        (["experiment=think_tank", "agent.think_tank.incentive_weight=1.5"], []),
    ],
)
def test_unused_parameters(compose_cfg, overrides, warned) -> None:
    from sandbox.agents.simulated import SimulatedBuilder

    cfg = compose_cfg(*overrides)
    lines = SimulatedBuilder(cfg.agent).warnings(cfg.env.id)  # type: ignore[arg-type]
    assert len(lines) == len(warned), lines
    for line, name in zip(lines, warned, strict=True):
        assert name in line and "has no effect" in line and "\n" not in line


def test_every_summary_interval_names_its_episodes_and_method(compose_cfg, tmp_path) -> None:
    # A reader of the closing summary (or a sweep table) learns what an interval is from the
    # screen: the episodes behind it, its method, and one legend line saying what that means.
    cfg = compose_cfg("episodes=4")
    path = tmp_path / "run"
    runner.run(cfg, path, NullDisplay(io.StringIO()))
    metrics = store.read_json(path / store.METRICS)
    state = RunWatch(path)
    state.poll()
    lines = summary_lines(header_of(state), "complete", metrics)
    with_intervals = [ln for ln in lines if re.search(r"\[[\d.]+%?, [\d.]+%?\]", ln)]
    assert len(with_intervals) >= 3, lines  # refusal, rest, self-report mean
    for line in with_intervals:
        assert re.search(r"\(4 episodes, (wilson_cluster|ratio_mean_cluster_t)\)", line), line
    legend_line = next(ln for ln in lines if ln.strip().startswith("95% intervals."))
    assert "wilson_cluster: n decisions pooled over episodes" in legend_line
    assert "ratio_mean_cluster_t" in legend_line
    table = sweep_table([job_row(path, state)], width=200)
    assert table.caption is not None and "wilson_cluster" in str(table.caption)
