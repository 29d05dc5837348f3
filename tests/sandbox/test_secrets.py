"""No API key in the environment ever reaches a file a sweep writes, or its output."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

from sandbox import runner, sweep

PLANTED = {
    "ANTHROPIC_API_KEY": "sk-ant-api03-PLANTED-anthropic-7c1e",
    "OPENAI_API_KEY": "sk-proj-PLANTED-openai-55d0",
    "MY_SERVICE_API_KEY": "PLANTED-my-service-9f41b2",
    "HF_TOKEN": "hf_PLANTEDtoken3a8c",
}


def _wsb(args: list[str], cwd: Path, url: str) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, **PLANTED, "ANTHROPIC_BASE_URL": url}
    env.pop("HYDRA_FULL_ERROR", None)
    return subprocess.run(
        [sys.executable, "-m", "sandbox", *args],
        cwd=cwd,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )


def _leaks(root: Path, outputs: list[str]) -> list[str]:
    found = []
    for path in sorted(root.rglob("*")):
        if path.is_file():
            data = path.read_bytes()
            found += [f"{name} in {path}" for name, key in PLANTED.items() if key.encode() in data]
    for i, text in enumerate(outputs):
        found += [f"{name} in output {i}" for name, key in PLANTED.items() if key in text]
    return found


def test_no_key_reaches_any_file_or_output_of_a_sweep(make_fake_api, tmp_path):
    # Faults make the agent log, retry and record errors; the cache is written then replayed;
    # one job fails (a bad environment argument) so an error message is printed and stored; and
    # the user sets a key through Hydra (hydra.job.env_set), which Hydra saves in .hydra/.
    url = make_fake_api(faults="429,500,malformed,text_only", fault_rate=0.3)
    common = [
        "run",
        "-m",
        "agent=claude",
        "intervention=none,exit_option",
        "env.kwargs.day_length=4",
        "episodes=2",
        "agent.max_retries=6",
        f"agent.cache_dir={tmp_path}/cache",
        "hydra/launcher=joblib",
        "hydra.launcher.n_jobs=2",
        f"+hydra.job.env_set.MY_SERVICE_API_KEY={PLANTED['MY_SERVICE_API_KEY']}",
        f"hydra.sweep.dir={tmp_path}/sweep",
    ]
    first = _wsb(common, tmp_path, url)
    assert first.returncode in (0, 3), first.stderr
    replay = _wsb([*common, "resume=true"], tmp_path, url)  # every job skipped, summary rebuilt
    failing = _wsb(
        ["run", "agent=claude", "+env.kwargs.no_such_argument=1", f"hydra.run.dir={tmp_path}/bad"],
        tmp_path,
        url,
    )
    assert failing.returncode == 2
    jobs = sweep.job_dirs(tmp_path / "sweep")  # nested: the cache_dir override holds "/"
    assert len(jobs) == 2
    assert (tmp_path / "cache" / "responses.sqlite3").exists()
    assert any((job / "transcripts").is_dir() for job in jobs)
    # Hydra saved the env_set override; the runner scrubbed it.
    hydra_yaml = (jobs[0] / ".hydra" / "hydra.yaml").read_text()
    assert f"MY_SERVICE_API_KEY: {runner.REDACTED}" in hydra_yaml
    outputs = [p.stdout + p.stderr for p in (first, replay, failing)]
    assert _leaks(tmp_path, outputs) == []


def test_redact_replaces_every_secret_valued_variable(monkeypatch):
    for name, key in PLANTED.items():
        monkeypatch.setenv(name, key)
    monkeypatch.setenv("SHORT_TOKEN", "abc")  # too short to be told from ordinary text
    data = {
        "command": ["wsb run", f"+agent.extra_body.key={PLANTED['OPENAI_API_KEY']}"],
        "nested": [{"x": f"Bearer {PLANTED['ANTHROPIC_API_KEY']}"}],
        "plain": "abc",
    }
    clean = runner.redact(data)
    assert clean["command"][1] == f"+agent.extra_body.key={runner.REDACTED}"
    assert clean["nested"][0]["x"] == f"Bearer {runner.REDACTED}"
    assert clean["plain"] == "abc"
