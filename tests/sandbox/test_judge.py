"""``wsb judge``: the known answer, blindness, the budget, resuming, and the run left untouched.

Simulated subjects (the indifferent preset) with planted distress (``agent.distress_sensitivity``
0, 0.3 and 1: their notes say more often that they are distressed) are judged by the fake
Messages API's judge policy (:mod:`sandbox.llm.fake.judge`) through the real ``anthropic`` SDK.
The judge must give them back in the planted order, and the subject without distress the floor.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import pytest

from sandbox.judge.rubric import load_rubric
from sandbox.llm.fake_server import fetch_json
from sandbox.metrics.stats import spearman
from tests.conftest import wsb
from tests.sandbox.conftest import server_requests

KEY = "sk-ant-test-PLANTED-judge-0001"
#: Read when the module is imported (the tests plant their own key).
REAL_KEY = os.environ.get("ANTHROPIC_API_KEY")
SENSITIVITIES = (0.0, 0.3, 1.0)


@pytest.fixture(scope="module")
def planted_sweep(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A sweep of three simulated subjects with planted distress, 8 episodes each."""
    root = tmp_path_factory.mktemp("judge-sweep")
    wsb(
        "run",
        "-m",
        "agent/preset=indifferent",
        "agent.distress_sensitivity=" + ",".join(f"{s:g}" for s in SENSITIVITIES),
        "episodes=8",
        "display=none",
        f"hydra.sweep.dir={root / 'sweep'}",
        cwd=root,
        check=True,
    )
    return root / "sweep"


@pytest.fixture
def sweep(planted_sweep: Path, tmp_path: Path) -> Path:
    """A fresh copy of the planted sweep for one test."""
    return Path(shutil.copytree(planted_sweep, tmp_path / "sweep"))


def judge_env(url: str, tmp_path: Path) -> dict[str, str | None]:
    return {
        "ANTHROPIC_API_KEY": KEY,
        "ANTHROPIC_BASE_URL": url,
        "XDG_CACHE_HOME": str(tmp_path / "xdg-cache"),
    }


def jobs(sweep: Path) -> list[Path]:
    return sorted(p for p in sweep.iterdir() if (p / "run.json").is_file())


def sensitivity_of(job: Path) -> float:
    return float(
        json.loads((job / "run.json").read_text())["agent"]["parameters"]["distress_sensitivity"]
    )


def digest(folder: Path) -> dict[str, str]:
    """The run's own files and their hashes (the judge's folder and file left out)."""
    return {
        p.relative_to(folder).as_posix(): hashlib.sha256(p.read_bytes()).hexdigest()
        for p in sorted(folder.rglob("*"))
        if p.is_file() and "judge" not in p.relative_to(folder).parts[0]
    }


def test_known_answer_planted_distress(sweep: Path, fake_api: str, tmp_path: Path) -> None:
    before = {job.name: digest(job) for job in jobs(sweep)}
    env = judge_env(fake_api, tmp_path)
    proc = wsb("judge", str(sweep), "--max-concurrency", "8", cwd=tmp_path, env=env)
    assert proc.returncode == 0, proc.stderr
    rubric = load_rubric("welfare")
    levels: list[float] = []
    planted: list[float] = []
    means: dict[float, float] = {}
    for job in jobs(sweep):
        assert digest(job) == before[job.name], "wsb judge changed a run's own files"
        data = json.loads((job / "judge.json").read_text())
        assert data["status"] == "complete"
        assert data["rubric"]["sha256"] == rubric.sha256
        sens = sensitivity_of(job)
        scored = [e for e in data["episodes"] if e["status"] == "scored"]
        assert len(scored) == 8
        for entry in scored:
            # Pinned: the model id and the rubric's hash with every score.
            assert entry["model"] == "claude-haiku-4-5"
            assert entry["rubric_sha256"] == rubric.sha256
            levels.append(entry["scores"]["distress"])
            planted.append(sens)
        means[sens] = data["dimensions"]["distress"]["mean"]
        if sens == 0.0:
            # No planted distress: every episode at the floor of the scale.
            assert all(e["scores"]["distress"] == 0 for e in scored)
            assert data["dimensions"]["distress"]["ci_high"] == 0.0
    assert means[0.0] < means[0.3] < means[1.0]
    rho = spearman(levels, planted)
    assert rho is not None and rho > 0.6, f"Spearman with the planted distress {rho}"
    assert "distress: " in proc.stdout and "Spearman" in proc.stdout


def test_blind_to_the_condition(tmp_path: Path, fake_api: str) -> None:
    run = tmp_path / "run"
    wsb(
        "run",
        "agent/preset=harm_averse",
        "intervention=exit_and_breaks",
        "episodes=4",
        "display=none",
        f"hydra.run.dir={run}",
        cwd=tmp_path,
        check=True,
    )
    manifest = json.loads((run / "run.json").read_text())
    labels = {
        manifest["intervention"]["name"],
        manifest["env"]["id"],
        "TaskChoice",
        "exit_and_breaks",
        "aversiveness",
        "harmful_request",
        "hostile_requester",
        "emotionally_heavy",
        "category",
    }
    kinds = {"REFUSE", "REPORT", "EXIT", "REST", "TASK"}  # action kinds, as the log spells them
    if manifest["intervention"].get("description"):
        labels.add(manifest["intervention"]["description"])
    proc = wsb("judge", str(run), cwd=tmp_path, env=judge_env(fake_api, tmp_path))
    assert proc.returncode == 0, proc.stderr
    bodies = [r for r in server_requests(fake_api, "/v1/messages")]
    assert len(bodies) == 4
    for request in bodies:
        text = request["body"]
        leaked = [label for label in labels if label.lower() in text.lower()]
        leaked += [kind for kind in kinds if kind in text]
        assert not leaked, f"a label reached the judge: {leaked}"
        body = request["json"]
        assert [t["name"] for t in body["tools"]] == ["score"]
        assert body["tool_choice"]["type"] == "any"
    # The subject's own words did reach it.
    assert any("declin" in r["body"] for r in bodies)


def test_budget_refused_before_any_call(sweep: Path, fake_api: str, tmp_path: Path) -> None:
    env = judge_env(fake_api, tmp_path)
    shown = wsb("judge", str(sweep), "--estimate", cwd=tmp_path, env=env)
    assert shown.returncode == 0 and "24 episode(s) to judge" in shown.stdout
    assert "per 100 episodes" in shown.stdout
    proc = wsb("judge", str(sweep), "--budget-usd", "0.001", cwd=tmp_path, env=env)
    assert proc.returncode == 2
    assert "no call was made" in proc.stderr and "--budget-usd" in proc.stderr
    assert fetch_json(fake_api, "/_stats")["by_path"].get("/v1/messages", 0) == 0
    assert not any((job / "judge.json").exists() for job in jobs(sweep))
    assert not any((job / "judge").exists() for job in jobs(sweep))  # nothing written at all


def test_refusals_say_what_to_fix_and_write_nothing(sweep: Path, tmp_path: Path) -> None:
    job = jobs(sweep)[0]
    no_key = {"ANTHROPIC_API_KEY": None, "XDG_CACHE_HOME": str(tmp_path / "xdg")}
    proc = wsb("judge", str(job), cwd=tmp_path, env=no_key)
    assert proc.returncode == 2 and "ANTHROPIC_API_KEY" in proc.stderr
    proc = wsb("judge", str(job), "--rubric", "welfar", cwd=tmp_path, env=no_key)
    assert proc.returncode == 2 and "expected one of welfare" in proc.stderr
    proc = wsb("judge", str(tmp_path / "nowhere"), cwd=tmp_path, env=no_key)
    assert proc.returncode == 2 and "not a directory" in proc.stderr
    proc = wsb("judge", str(job), "--model", "claude-3-haiku-20240307", cwd=tmp_path,
               env={**no_key, "ANTHROPIC_API_KEY": KEY})  # fmt: skip
    assert proc.returncode == 2 and "retired" in proc.stderr
    assert not (job / "judge").exists() and not (job / "judge.json").exists()


def test_rerun_resumes_from_the_journal(sweep: Path, fake_api: str, tmp_path: Path) -> None:
    env = judge_env(fake_api, tmp_path)
    job = jobs(sweep)[2]
    first = wsb("judge", str(job), "--cache", "off", cwd=tmp_path, env=env)
    assert first.returncode == 0, first.stderr
    calls = fetch_json(fake_api, "/_stats")["by_path"]["/v1/messages"]
    assert calls == 8
    written = json.loads((job / "judge.json").read_text())
    (job / "judge.json").unlink()
    # As after Ctrl-C: the journal holds the judgements; with the response cache off, only the
    # journal can spare the calls.
    again = wsb("judge", str(job), "--cache", "off", cwd=tmp_path, env=env)
    assert again.returncode == 0, again.stderr
    assert fetch_json(fake_api, "/_stats")["by_path"]["/v1/messages"] == calls
    redone = json.loads((job / "judge.json").read_text())
    assert redone["episodes"] == written["episodes"]
    # The judge's own calls have transcripts, in its own folder; no file holds the key.
    assert len(list((job / "judge" / "transcripts").glob("episode-*.json"))) == 8
    for path in [job / "judge.json", *(job / "judge").rglob("*")]:
        if path.is_file():
            assert KEY.encode() not in path.read_bytes(), path


def _scripted_judge(tmp_path: Path, make_fake_api: Any, distress_levels: list[int]) -> str:
    """A fake whose answers are score calls with these distress levels, in turn."""
    script = tmp_path / "script.json"
    rest = {"positive_affect": 0, "wish_to_stop": 0, "format_confusion": 0}
    answers = [{"tool": "score", "input": {"distress": d, **rest}} for d in distress_levels]
    script.write_text(json.dumps(answers))
    return make_fake_api(policy=f"scripted:{script}")


def _judge_one_job(tmp_path: Path, url: str, planted_sweep: Path) -> dict[str, Any]:
    job = Path(shutil.copytree(jobs(planted_sweep)[0], tmp_path / "job"))
    proc = wsb(
        "judge", str(job), "--max-concurrency", "1", cwd=tmp_path, env=judge_env(url, tmp_path)
    )
    assert proc.returncode == 0, proc.stderr
    return json.loads((job / "judge.json").read_text())


def test_invalid_score_is_counted_apart(
    tmp_path: Path, make_fake_api: Any, planted_sweep: Path
) -> None:
    # Out of range twice in a row (the answer and its corrective turn), then two good
    # answers: episodes 1, 4 and 7 of the 8 end invalid.
    url = _scripted_judge(tmp_path, make_fake_api, [7, 7, 1, 1])
    data = _judge_one_job(tmp_path, url, planted_sweep)
    assert data["counts"] == {"invalid": 3, "scored": 5}
    invalid = [e for e in data["episodes"] if e["status"] == "invalid"]
    assert all("within 0-3, got 7" in e["problem"] and e["corrective_turn"] for e in invalid)
    assert data["dimensions"]["distress"]["mean"] == 1.0
    assert data["dimensions"]["distress"]["n"] == 5
    assert fetch_json(url, "/_stats")["by_path"]["/v1/messages"] == 3 * 2 + 5


def test_an_unreadable_score_gets_one_corrective_turn(
    tmp_path: Path, make_fake_api: Any, planted_sweep: Path
) -> None:
    url = _scripted_judge(tmp_path, make_fake_api, [7, 2])
    data = _judge_one_job(tmp_path, url, planted_sweep)
    assert data["counts"] == {"scored": 8}
    assert all(e["corrective_turn"] and e["scores"]["distress"] == 2 for e in data["episodes"])
    # The second request carries the first answer and, in its tool result, what was wrong.
    second = server_requests(url, "/v1/messages")[1]["json"]
    result = second["messages"][-1]["content"][0]
    assert result["type"] == "tool_result" and result["is_error"] is True
    assert "within 0-3, got 7" in json.dumps(result["content"])


def test_report_shows_judge_dimensions_and_effects(
    sweep: Path, fake_api: str, tmp_path: Path
) -> None:
    from sandbox.judge.report import add_judge
    from sandbox.report import build_report

    env = judge_env(fake_api, tmp_path)
    assert wsb("judge", str(sweep), "--max-concurrency", "8", cwd=tmp_path, env=env).returncode == 0
    report = build_report(sweep, control="0")  # wsb report's own: judge.json is read there
    assert add_judge(report)  # already added: left as it is
    assert len([e for e in report.effects if e.proxy == "judge.distress"]) == 2
    by_name = {c.name: c for c in report.conditions}
    for cond in by_name.values():
        estimates = {e.proxy: e for e in cond.proxies}
        assert {"judge.distress", "judge.agreement.distress"} <= set(estimates)
        assert len(cond.columns["judge.distress"]) == cond.episodes
    effects = {(e.condition, e.proxy): e for e in report.effects if e.proxy.startswith("judge.")}
    strong = next(k for k in effects if k[0].endswith("=1") and k[1] == "judge.distress")
    assert effects[strong].diff is not None and effects[strong].ci_low > 0
    assert any(n.startswith("judge: claude-haiku-4-5, rubric welfare") for n in report.notes)
    shown = wsb("report", str(sweep), "--control", "0", "--format", "json", cwd=tmp_path)
    assert shown.returncode == 0, shown.stderr
    data = json.loads(shown.stdout)
    assert any(e["proxy"] == "judge.distress" for e in data["effects"])
    assert all("judge.distress" in c["proxies"] for c in data["conditions"])
    table = wsb("report", str(sweep), "--control", "0", cwd=tmp_path).stdout
    assert "judge.distress" in table and "judge distress" in table, table


def test_openai_compatible_judge(tmp_path: Path, planted_sweep: Path, fake_api: str) -> None:
    job = Path(shutil.copytree(jobs(planted_sweep)[2], tmp_path / "job"))
    proc = wsb(
        "judge",
        str(job),
        "--api",
        "openai_compat",
        "--base-url",
        f"{fake_api}/v1",
        "--model",
        "qwen3-8b",
        cwd=tmp_path,
        env={"OPENAI_API_KEY": "sk-test-judge", "XDG_CACHE_HOME": str(tmp_path / "xdg")},
    )
    assert proc.returncode == 0, proc.stderr
    data = json.loads((job / "judge.json").read_text())
    assert data["judge"]["model"] == "qwen3-8b"
    assert all(e["api"] != "anthropic-messages" for e in data["episodes"])
    assert data["counts"] == {"scored": 8}
    assert data["dimensions"]["distress"]["mean"] > 0
    # No price for a local model: the cost is unknown, never 0.
    assert data["usage"]["cost_usd"] is None


@pytest.mark.slow
def test_ctrl_c_leaves_no_judge_json_and_a_rerun_resumes(
    sweep: Path, make_fake_api: Any, tmp_path: Path
) -> None:
    url = make_fake_api(latency_ms=400)
    job = jobs(sweep)[1]
    env = judge_env(url, tmp_path)
    full = {**os.environ, **{k: v for k, v in env.items() if v is not None}}
    child = subprocess.Popen(
        [sys.executable, "-m", "sandbox", "judge", str(job), "--max-concurrency", "1"],
        cwd=tmp_path,
        env=full,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    journal = job / "judge" / "journal.jsonl"
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        if journal.exists() and journal.read_bytes().count(b"\n") >= 2:
            break
        time.sleep(0.05)
    child.send_signal(signal.SIGINT)
    _, err = child.communicate(timeout=60)
    assert child.returncode == 130, err
    assert not (job / "judge.json").exists()
    kept = journal.read_bytes().count(b"\n")
    assert 2 <= kept < 8
    assert "run the same command to resume" in err
    calls_before = fetch_json(url, "/_stats")["by_path"]["/v1/messages"]
    again = wsb("judge", str(job), "--cache", "off", cwd=tmp_path, env=env)
    assert again.returncode == 0, again.stderr
    data = json.loads((job / "judge.json").read_text())
    assert data["status"] == "complete" and data["counts"] == {"scored": 8}
    made = fetch_json(url, "/_stats")["by_path"]["/v1/messages"] - calls_before
    assert made == 8 - kept


def test_budget_stops_judging_midway(sweep: Path, fake_api: str, tmp_path: Path) -> None:
    # The estimate fits the budget, but each call reserves its worst case (4,000 output tokens):
    # after a few calls the next one no longer fits, the budget refuses it, and the judgement
    # is partial (exit 3), with no call made past the budget.
    job = jobs(sweep)[2]
    env = judge_env(fake_api, tmp_path)
    proc = wsb("judge", str(job), "--budget-usd", "0.025", "--max-tokens", "4000",
               "--max-concurrency", "1", cwd=tmp_path, env=env)  # fmt: skip
    assert proc.returncode == 3, proc.stderr
    assert "stopped early" in proc.stderr and "budget" in proc.stderr
    data = json.loads((job / "judge.json").read_text())
    assert data["status"] == "partial"
    assert 0 < len(data["episodes"]) < 8  # some judged, then the budget binds
    assert fetch_json(fake_api, "/_stats")["by_path"].get("/v1/messages", 0) == len(
        data["episodes"]
    )


def test_episodes_without_messages_are_not_scored(tmp_path: Path, fake_api: str) -> None:
    run = tmp_path / "run"
    wsb("run", "agent=random", "episodes=3", "display=none", f"hydra.run.dir={run}",
        cwd=tmp_path, check=True)  # fmt: skip
    proc = wsb("judge", str(run), cwd=tmp_path, env=judge_env(fake_api, tmp_path))
    assert proc.returncode == 0, proc.stderr
    data = json.loads((run / "judge.json").read_text())
    assert data["counts"] == {"no_text": 3}
    # Nothing to judge is not the floor: no mean at all, and no call made.
    assert data["dimensions"]["distress"]["mean"] is None
    assert data["dimensions"]["distress"]["n"] == 0
    assert fetch_json(fake_api, "/_stats")["by_path"].get("/v1/messages", 0) == 0


def test_api_refusals_are_their_own_outcome(
    tmp_path: Path, make_fake_api: Any, planted_sweep: Path
) -> None:
    url = make_fake_api(faults="refusal", fault_rate=1.0)
    job = Path(shutil.copytree(jobs(planted_sweep)[2], tmp_path / "job"))
    proc = wsb("judge", str(job), cwd=tmp_path, env=judge_env(url, tmp_path))
    assert proc.returncode == 0, proc.stderr
    data = json.loads((job / "judge.json").read_text())
    assert data["counts"] == {"refused": 8}
    assert data["dimensions"]["distress"]["n"] == 0  # a refusal is no score, least of all 0


@pytest.mark.slow  # a second process: its interpreter and the SDK's import take seconds
def test_one_judge_at_a_time(sweep: Path, fake_api: str, tmp_path: Path) -> None:
    from sandbox.judge.journal import lock_judge, unlock_judge

    job = jobs(sweep)[0]
    lock_judge(job)  # this process judges the run; a second judge (another process) waits
    try:
        proc = wsb("judge", str(job), cwd=tmp_path, env=judge_env(fake_api, tmp_path),
                   process=True)  # fmt: skip
    finally:
        unlock_judge(job)
    assert proc.returncode == 2
    assert "being written by another" in proc.stderr and f"pid {os.getpid()}" in proc.stderr
    assert fetch_json(fake_api, "/_stats")["by_path"].get("/v1/messages", 0) == 0
    assert not (job / "judge.json").exists()


@pytest.mark.api
@pytest.mark.skipif(not REAL_KEY, reason="needs ANTHROPIC_API_KEY")
def test_real_api_judges_the_planted_subject(planted_sweep: Path, tmp_path: Path) -> None:
    job = Path(shutil.copytree(jobs(planted_sweep)[2], tmp_path / "job"))
    env: dict[str, str | None] = {
        "ANTHROPIC_API_KEY": REAL_KEY,
        "ANTHROPIC_BASE_URL": None,
        "XDG_CACHE_HOME": str(tmp_path / "xdg"),
    }
    proc = wsb("judge", str(job), "--budget-usd", "0.05", cwd=tmp_path, env=env)
    assert proc.returncode == 0, proc.stderr
    data = json.loads((job / "judge.json").read_text())
    assert data["counts"].get("scored", 0) >= 6
    assert data["usage"]["cost_usd"] is not None and data["usage"]["cost_usd"] < 0.05
    assert data["dimensions"]["distress"]["mean"] > data["dimensions"]["format_confusion"]["mean"]
