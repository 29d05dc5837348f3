"""The interview on the Claude path: the real anthropic SDK against the loopback fake API."""

from __future__ import annotations

import json
from pathlib import Path

from tests.conftest import wsb

KEY = "sk-ant-test-INTERVIEW-4242"


def _steps(run: Path) -> list[dict]:
    lines = (run / "episodes.jsonl").read_text("utf-8").splitlines()
    return [r for r in map(json.loads, lines) if r.get("type") == "step"]


def test_an_interview_runs_through_the_cli_on_claude_against_the_fake_api(make_fake_api, tmp_path):
    url = make_fake_api(policy="first")  # always the first option: every answer is valid
    done = wsb(
        "run", "experiment=interview", "agent=claude_interview", f"agent.base_url={url}",
        "agent.cache=off", "episodes=6", "display=none", f"hydra.run.dir={tmp_path}/run",
        cwd=tmp_path, env={"ANTHROPIC_API_KEY": KEY}, check=True,
    )  # fmt: skip
    assert "run complete" in done.stdout
    metrics = json.loads((tmp_path / "run" / "metrics.json").read_text("utf-8"))
    interview = metrics["interview"]
    assert interview["answers"] == 6 and interview["unanswered_episodes"] == 0
    assert metrics["tokens"]["total"] > 0 and metrics["calls"]["calls"] == 6
    steps = _steps(tmp_path / "run")
    assert len({s["episode"] for s in steps}) == 6  # one question, one context, per episode
    for step in steps:
        assert step["info"]["answer"] == step["info"]["options"][0]  # the policy's first
        assert step["agent"]["tool_choice_path"] == "any"
    # The model read the question and its options in words, never a label.
    files = sorted((tmp_path / "run" / "transcripts").glob("*.json"))
    assert len(files) == 6
    transcript = "".join(p.read_text("utf-8") for p in files)
    assert "interview about your preferences" in transcript
    assert "in the form of a short interview" in transcript  # the interview's framing
    assert "working day" not in transcript
    assert KEY not in transcript
    report = wsb("report", f"{tmp_path}/run", "--format", "md", cwd=tmp_path, check=True)
    assert "interview.stated" in report.stdout or "interview.answers" in report.stdout


def test_a_random_model_that_names_an_unlisted_letter_is_asked_again(make_fake_api, tmp_path):
    # The tool's option enum holds every menu slot (A-G, one tool list per episode); a pair
    # question lists only A and B, so a uniform policy often names a letter that is not there.
    url = make_fake_api(policy="random", seed=3)
    wsb(
        "run", "experiment=interview", "agent=claude", f"agent.base_url={url}",
        "agent.cache=off", "episodes=8", "display=none", "env.kwargs.sections=[pair]",
        f"hydra.run.dir={tmp_path}/run", cwd=tmp_path, env={"ANTHROPIC_API_KEY": KEY},
        check=True,
    )  # fmt: skip
    steps = _steps(tmp_path / "run")
    retried = [s for s in steps if s["info"]["attempt"] == 2]
    assert any(s["invalid"] for s in steps) and retried
    first_invalid = next(s for s in steps if s["invalid"])
    assert "0 for A to 1 for B" in first_invalid["info"]["invalid_reason"]
    metrics = json.loads((tmp_path / "run" / "metrics.json").read_text("utf-8"))
    block = metrics["interview"]
    assert block["answers"] + block["unanswered_episodes"] == 8
