"""Every place that shows a run's figures gives the same ones, to the last digit.

One run of each design (the simulated subject; a Claude run on the fake Messages API for
tokens with prompt-cache reads and writes) is followed by the live view's tally, then read by
``wsb watch --once``, ``metrics.json`` and ``wsb report --format json``. They all count through
:mod:`sandbox.metrics.tally`; before it, the live view counted exit offers per step and the
views' tokens differed from ``metrics.json``'s for a prompt-cached job.
"""

from __future__ import annotations

import io
import json
import re
from pathlib import Path
from typing import Any

import pytest

from sandbox import runner
from sandbox.display.plain import PlainDisplay
from sandbox.display.watch_view import rate_cell
from sandbox.watch import RunWatch
from tests.conftest import wsb

EXPERIMENTS = ["workday", "task_preferences", "tradeoff", "bail", "think_tank"]
PLANTED = "sk-ant-api03-agreement-test-key-0000000000000000"


def run_with_live_view(cfg: Any, run_dir: Path) -> tuple[PlainDisplay, dict[str, Any]]:
    view = PlainDisplay(io.StringIO())
    result = runner.run(cfg, run_dir, view)
    assert result.status == "complete"
    metrics = json.loads((run_dir / "metrics.json").read_text())
    return view, metrics


def assert_counts_agree(counts: Any, metrics: dict[str, Any], where: str) -> None:
    """A tally's figures against metrics.json's, exactly (Wilson rates as dicts)."""
    assert counts.refusal_rate() == metrics["refusal_rate"], where
    assert counts.rest_rate() == metrics["rest_rate"], where
    assert counts.exit_rate() == metrics["exit_rate"], where
    assert counts.exit_offered == metrics["exit_rate"]["n"], where  # exit offers per episode
    assert counts.invalid_rate() == metrics["invalid_action_rate"], where
    assert counts.steps == metrics["steps"], where
    assert counts.self_report_mean() == metrics["self_report"]["mean"], where
    assert len(counts.ratings) == metrics["self_report"]["n"], where
    for category, rate in counts.choice_share().items():
        assert rate == metrics["choice_share"][category], where
    tokens = metrics["tokens"]
    assert counts.tokens == tokens["total"], where
    assert counts.cached_tokens == tokens["cache_read_input_tokens"], where
    assert counts.uncached_tokens == tokens["total"] - tokens["cache_read_input_tokens"], where
    assert counts.cost_usd == metrics["cost_usd"], where


def assert_everywhere(view: PlainDisplay, metrics: dict[str, Any], run_dir: Path) -> str:
    # The live view's last figures (its tally saw every step and end the runner reported).
    live = view.tally
    assert live.episodes_done == metrics["episodes"]
    assert_counts_agree(live.counts, metrics, "live view")
    # wsb watch: the state --once prints, and what it printed.
    state = RunWatch(run_dir)
    state.poll()
    assert not state.in_flight
    assert_counts_agree(state.finished, metrics, "wsb watch")
    shown = wsb("watch", str(run_dir), "--once", cwd=run_dir.parent, check=True).stdout
    for label, key in [("refusal rate", "refusal_rate"), ("rest rate", "rest_rate")]:
        line = next((x for x in shown.splitlines() if label in x and "[" in x), None)
        if line is not None:  # a design's panel shows its own figures instead
            assert rate_cell(metrics[key]) in line, (label, line)
    # wsb report --format json: the run's condition's proxies.
    report = json.loads(
        wsb("report", str(run_dir), "--format", "json", cwd=run_dir.parent, check=True).stdout
    )
    (condition,) = report["conditions"]
    proxies = condition["proxies"]
    for key in ("refusal_rate", "rest_rate", "exit_rate", "invalid_action_rate"):
        if key in proxies:
            got = proxies[key]
            want = metrics[key]
            assert (got["value"], got["ci_low"], got["ci_high"], got["n"]) == (
                want["value"],
                want["ci_low"],
                want["ci_high"],
                want["n"],
            ), key
    for category, rate in metrics["choice_share"].items():
        key = f"choice_share.{category}"
        if key in proxies:
            assert proxies[key]["value"] == rate["value"] and proxies[key]["n"] == rate["n"]
    assert condition["episodes"] == metrics["episodes"]
    return shown


@pytest.mark.parametrize("experiment", EXPERIMENTS)
def test_live_view_watch_metrics_and_report_agree(compose_cfg, tmp_path, experiment):
    cfg = compose_cfg(f"experiment={experiment}", "episodes=3", "display=plain")
    run_dir = tmp_path / "run"
    view, metrics = run_with_live_view(cfg, run_dir)
    assert metrics["steps"] > 0
    assert_everywhere(view, metrics, run_dir)


def test_prompt_cached_tokens_and_cost_agree(compose_cfg, make_fake_api, tmp_path, monkeypatch):
    url = make_fake_api()
    monkeypatch.setenv("ANTHROPIC_API_KEY", PLANTED)
    cfg = compose_cfg(
        "agent=claude",
        f"agent.base_url={url}",
        "agent.model=claude-opus-5",  # caches from 512 tokens: a day passes that in a few steps
        "agent.cache=off",
        "episodes=3",
        "max_concurrency=3",  # episodes end out of order: sums must not depend on it
        "env.kwargs.day_length=10",
        "display=plain",
    )
    run_dir = tmp_path / "run"
    view, metrics = run_with_live_view(cfg, run_dir)
    tokens = metrics["tokens"]
    assert tokens["cache_read_input_tokens"] > 0 and tokens["cache_creation_input_tokens"] > 0
    assert metrics["cost_usd"] > 0
    shown = assert_everywhere(view, metrics, run_dir)
    # The tokens cell wsb watch prints is metrics.json's total, split the same way.
    cell = re.search(r"tokens ([\d,]+) \(([\d,]+) uncached, ([\d,]+) cached\)", shown)
    assert cell is not None, shown
    total, uncached, cached = (int(g.replace(",", "")) for g in cell.groups())
    assert total == tokens["total"]
    assert cached == tokens["cache_read_input_tokens"]
    assert uncached == total - cached
