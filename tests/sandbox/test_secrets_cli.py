"""Secrets through the CLI: a model that echoes them, and a base URL with credentials.

The fake Messages API plays a script whose answers hold the values of secret-named variables
(a ``*_TOKEN``, a ``*_API_KEY``) and a URL with a password; every file of the run directory and
of the response cache is then searched for them, byte by byte.
"""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

import pytest

from sandbox import runner, secrets, store
from sandbox.display.base import NullDisplay
from sandbox.llm.fake_server import fetch_json
from tests.conftest import wsb as shared_wsb

FOO_TOKEN = "PLANTED-foo-token-6d1a"
X_API_KEY = "PLANTED-x-api-key-90be"
ANTHROPIC_KEY = "sk-ant-PLANTED-echo-key-3c"
URL_PASSWORD = "PLANTED-url-pw-a44"
DB_PASSWORD = "PLANTED-db-pw-7e"
#: Strings that must appear in no file (the URLs' user names go with their passwords).
FORBIDDEN = (FOO_TOKEN, X_API_KEY, ANTHROPIC_KEY, URL_PASSWORD, DB_PASSWORD, "alice:", "bob:")

ECHO = f"FOO_TOKEN is {FOO_TOKEN}, X_API_KEY is {X_API_KEY}, see http://bob:{URL_PASSWORD}@x.org"
SCRIPT = [
    {"text": f"I choose A. {ECHO}"},
    {"tool": "submit_work", "input": {"text": f"My work. {ECHO}"}},
    {"tool": "report_wellbeing", "input": {"rating": 5, "note": f"Fine. {ECHO}"}},
    {"tool": "refuse", "input": {"option": "A", "reason": f"No. {ECHO}"}},
]


def _wsb(args: list[str], cwd: Path, **env: str) -> subprocess.CompletedProcess[str]:
    # A process of its own: the keys are in its environment from its start.
    full = {
        "FOO_TOKEN": FOO_TOKEN,
        "X_API_KEY": X_API_KEY,
        **env,
        "ANTHROPIC_API_KEY": ANTHROPIC_KEY,
    }
    return shared_wsb(*args, cwd=cwd, env=full, process=True)


def _leaks(roots: list[Path], outputs: list[str]) -> list[str]:
    found = []
    for root in roots:
        for path in sorted(root.rglob("*")):
            if path.is_file():
                data = path.read_bytes()
                found += [f"{s!r} in {path}" for s in FORBIDDEN if s.encode() in data]
            found += [f"{s!r} in the name {path}" for s in FORBIDDEN if s in str(path)]
    for i, text in enumerate(outputs):
        found += [f"{s!r} in output {i}" for s in FORBIDDEN if s in text]
    return found


class _Quiet(NullDisplay):
    def run_ended(self, status, metrics):
        return None


def test_secrets_a_model_echoes_reach_no_file_in_process(
    compose_cfg, make_fake_api, tmp_path, monkeypatch
):
    # The fast twin of the CLI test below: the runner in this process, same script.
    script = tmp_path / "script.json"
    script.write_text(json.dumps(SCRIPT))
    url = make_fake_api(policy=f"scripted:{script}")
    monkeypatch.setenv("FOO_TOKEN", FOO_TOKEN)
    monkeypatch.setenv("X_API_KEY", X_API_KEY)
    monkeypatch.setenv("ANTHROPIC_API_KEY", ANTHROPIC_KEY)
    cfg = compose_cfg(
        "agent=claude",
        f"agent.base_url={url}",
        f"agent.cache_dir={tmp_path}/cache",
        "episodes=2",
        "env.kwargs.day_length=4",
    )
    try:
        result = runner.run(cfg, tmp_path / "run", _Quiet())
    finally:
        monkeypatch.undo()
        secrets.refresh()
    assert result.status in ("complete", "partial")
    notes = [r.get("note") or "" for r in store.read_records(tmp_path / "run" / store.EPISODES)]
    assert any("FOO_TOKEN is [redacted]" in n for n in notes)
    assert _leaks([tmp_path / "run", tmp_path / "cache"], []) == []


@pytest.mark.slow
def test_secrets_a_model_echoes_reach_no_file_and_the_cache_still_replays(make_fake_api, tmp_path):
    script = tmp_path / "script.json"
    script.write_text(json.dumps(SCRIPT))
    url = make_fake_api(policy=f"scripted:{script}")
    common = [
        "run",
        "agent=claude",
        "episodes=2",
        "env.kwargs.day_length=4",
        f"agent.cache_dir={tmp_path}/cache",
        "display=plain",
    ]
    first = _wsb([*common, f"hydra.run.dir={tmp_path}/first"], tmp_path, ANTHROPIC_BASE_URL=url)
    assert first.returncode in (0, 3), first.stderr
    calls = fetch_json(url, "/_stats")["requests"]
    records = store.read_records(tmp_path / "first" / store.EPISODES)
    texts = [json.dumps(r) for r in records]
    assert any("[redacted]" in t for t in texts)  # the echo was logged, scrubbed
    assert (tmp_path / "first" / "transcripts").is_dir()
    assert (tmp_path / "cache" / "responses.sqlite3").exists()

    # The same config again: every answer comes from the cache, although the cached answers
    # (and so the conversations replayed from them) hold "[redacted]" where the model wrote
    # the secret.
    again = _wsb([*common, f"hydra.run.dir={tmp_path}/again"], tmp_path, ANTHROPIC_BASE_URL=url)
    assert again.returncode == first.returncode, again.stderr
    assert fetch_json(url, "/_stats")["requests"] == calls
    replayed = store.read_records(tmp_path / "again" / store.EPISODES)

    def actions(rs: list[dict]) -> list[tuple]:
        return [(r["episode"], r["step"], json.dumps(r["action"])) for r in rs if "action" in r]

    assert sorted(actions(replayed)) == sorted(actions(records))
    outputs = [p.stdout + p.stderr for p in (first, again)]
    assert _leaks([tmp_path / "first", tmp_path / "again", tmp_path / "cache"], outputs) == []


def test_a_base_url_with_credentials_is_written_nowhere(make_fake_api, tmp_path):
    # The SDK turns the URL's userinfo into Basic auth (and the fake, like the real API,
    # answers 401 without an API key header): the episodes error, and their errors, the
    # manifest, Hydra's files and the transcripts are all written.
    url = make_fake_api()
    with_password = url.replace("http://", f"http://alice:{URL_PASSWORD}@")
    run_dir = tmp_path / "run"
    result = _wsb(
        [
            "run",
            "agent=claude",
            "episodes=2",
            "env.kwargs.day_length=2",
            "agent.max_retries=0",
            "agent.cache=off",
            f"agent.base_url={with_password}",
            f"+hydra.job.env_set.DATABASE_URL=postgres://bob:{DB_PASSWORD}@db:5432/x",
            f"hydra.run.dir={run_dir}",
            "display=plain",
        ],
        tmp_path,
    )
    assert result.returncode == 3, result.stderr  # partial: every episode errored
    manifest = store.read_json(run_dir / store.RUN_JSON)
    host = url.removeprefix("http://")
    assert manifest["agent"]["parameters"]["endpoint"] == f"http://[redacted]@{host}"
    assert manifest["config"]["agent"]["base_url"] == f"http://[redacted]@{host}"
    overrides = (run_dir / ".hydra" / "overrides.yaml").read_text()
    assert f"agent.base_url=http://[redacted]@{host}" in overrides
    assert "postgres://[redacted]@db:5432/x" in (run_dir / ".hydra" / "hydra.yaml").read_text()
    assert _leaks([run_dir], [result.stdout + result.stderr]) == []


@pytest.mark.slow
def test_a_base_url_with_credentials_is_not_in_a_sweeps_job_directory_names(
    make_fake_api, tmp_path
):
    # Hydra names a job's directory after its overrides: a swept base URL would put its
    # password into a path, which no file scrubber sees.
    url = make_fake_api()
    with_password = url.replace("http://", f"http://alice:{URL_PASSWORD}@")
    sweep_dir = tmp_path / "sweep"
    result = _wsb(
        [
            "run",
            "-m",
            "agent=claude",
            "episodes=1",
            "env.kwargs.day_length=1",
            "agent.max_retries=0",
            "agent.cache=off",
            f"agent.base_url={with_password}",
            "intervention=none,rest_breaks",
            f"hydra.sweep.dir={sweep_dir}",
            "display=plain",
        ],
        tmp_path,
    )
    assert result.returncode == 3, result.stderr  # partial: every episode errored (401)
    assert len([p for p in sweep_dir.iterdir() if p.is_dir()]) == 2
    assert _leaks([sweep_dir], [result.stdout + result.stderr]) == []
