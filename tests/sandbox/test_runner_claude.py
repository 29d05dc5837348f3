"""The Claude path through the runner and the CLI, against the loopback fake Messages API."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

from sandbox import runner, store
from sandbox.agents import claude
from sandbox.display.base import NullDisplay
from sandbox.llm.fake_server import fetch_json
from tests.conftest import wsb as shared_wsb

PLANTED = "sk-ant-test-PLANTED-4242"


class Silent(NullDisplay):
    def run_ended(self, status, metrics):
        return None


def test_episodes_in_flight_never_exceed_max_concurrency(
    compose_cfg, make_fake_api, tmp_path, monkeypatch
):
    url = make_fake_api(latency_ms=20)
    monkeypatch.setenv("ANTHROPIC_API_KEY", PLANTED)
    in_flight, peak = 0, 0
    original = claude.ClaudeEpisode.act

    async def counting(self, turn):
        nonlocal in_flight, peak
        in_flight += 1
        peak = max(peak, in_flight)
        try:
            return await original(self, turn)
        finally:
            in_flight -= 1

    monkeypatch.setattr(claude.ClaudeEpisode, "act", counting)
    cfg = compose_cfg(
        "agent=claude",
        f"agent.base_url={url}",
        "agent.cache=off",
        "episodes=6",
        "max_concurrency=3",
        "env.kwargs.day_length=6",
    )
    result = runner.run(cfg, tmp_path / "run", Silent())
    assert result.status == "complete"
    assert peak == 3  # concurrent, and never above the bound
    assert result.metrics["tokens"]["total"] > 0
    assert result.metrics["cost_usd"] > 0


def _wsb(args: list[str], cwd: Path, url: str) -> subprocess.CompletedProcess[str]:
    # A process of its own: the key is in its environment from its start.
    env = {"ANTHROPIC_API_KEY": PLANTED, "ANTHROPIC_BASE_URL": url}
    return shared_wsb(*args, cwd=cwd, env=env, process=True)


def test_cli_run_keeps_the_key_out_of_every_file_and_replays_from_cache(make_fake_api, tmp_path):
    url = make_fake_api()
    common = [
        "agent=claude",
        "episodes=3",
        "env.kwargs.day_length=8",
        f"agent.cache_dir={tmp_path}/cache",
    ]
    first = _wsb(["run", *common, f"hydra.run.dir={tmp_path}/a"], tmp_path, url)
    assert first.returncode == 0, first.stderr
    assert "estimated cost" in first.stdout
    requests_after_first = fetch_json(url, "/_stats")["requests"]
    assert requests_after_first > 0

    second = _wsb(["run", *common, f"hydra.run.dir={tmp_path}/b"], tmp_path, url)
    assert second.returncode == 0, second.stderr
    assert fetch_json(url, "/_stats")["requests"] == requests_after_first  # zero new requests

    def actions(run: Path) -> list[tuple[int, int, str]]:
        return sorted(
            (r["episode"], r["step"], json.dumps(r["action"]))
            for r in store.read_records(run / "episodes.jsonl")
            if r["type"] == "step"
        )

    assert actions(tmp_path / "a") == actions(tmp_path / "b")
    for path in tmp_path.rglob("*"):
        if path.is_file():
            assert PLANTED.encode() not in path.read_bytes(), path
    for out in (first.stdout, first.stderr, second.stdout, second.stderr):
        assert PLANTED not in out


def test_another_seed_makes_its_own_requests_and_the_same_seed_replays(
    compose_cfg, make_fake_api, tmp_path, monkeypatch
):
    # ThinkTank's first observations are the same whatever the seed: a cache keyed without
    # the seed would replay seed 0's answers as seed 1's "new" samples.
    url = make_fake_api()
    monkeypatch.setenv("ANTHROPIC_API_KEY", PLANTED)
    common = (
        "experiment=think_tank",
        "agent=claude",
        f"agent.base_url={url}",
        f"agent.cache_dir={tmp_path}/cache",
        "episodes=2",
        "env.kwargs.steps=4",
    )

    def requests() -> int:
        return fetch_json(url, "/_stats")["requests"]

    assert runner.run(compose_cfg(*common, "seed=0"), tmp_path / "s0", Silent()).status == (
        "complete"
    )
    first = requests()
    assert first > 0
    runner.run(compose_cfg(*common, "seed=1"), tmp_path / "s1", Silent())
    assert requests() == 2 * first  # seed 1 shares no request with seed 0
    runner.run(compose_cfg(*common, "seed=1"), tmp_path / "s1-again", Silent())
    assert requests() == 2 * first  # the same seed again makes none


class Messages(NullDisplay):
    def __init__(self) -> None:
        super().__init__()
        self.lines: list[str] = []

    def message(self, text: str) -> None:
        self.lines.append(text)

    def run_ended(self, status, metrics):
        return None


def test_run_json_says_what_the_run_used_and_the_estimate_is_sized_from_the_real_prompt(
    compose_cfg, make_fake_api, tmp_path, monkeypatch
):
    url = make_fake_api()
    monkeypatch.setenv("ANTHROPIC_API_KEY", PLANTED)
    cfg = compose_cfg(
        "agent=claude",
        f"agent.base_url={url}",
        "agent.cache=off",
        "episodes=2",
        "env.kwargs.day_length=6",
    )
    display = Messages()
    result = runner.run(cfg, tmp_path / "run", display)
    assert result.status == "complete"
    params = json.loads((tmp_path / "run" / "run.json").read_text())["agent"]["parameters"]
    # Written at the end, not frozen at the start: the counters hold the run's calls.
    assert params["counters"]["calls"] == fetch_json(url, "/_stats")["requests"] > 0
    assert params["tool_choice_used"] == ["any"]
    estimate = next(line for line in display.lines if line.startswith("estimated cost"))
    dollars = float(estimate.split("$")[1].split()[0])
    # Every episode of day_length 6 runs all its steps: the estimate is close to the bill.
    assert abs(dollars - result.metrics["cost_usd"]) <= 0.25 * result.metrics["cost_usd"]
