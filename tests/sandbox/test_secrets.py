"""No secret of the environment, and no URL's credentials, reach a file the sandbox writes."""

from __future__ import annotations

import json
import logging
import subprocess
import time
from pathlib import Path
from urllib.parse import quote

import pytest

from sandbox import secrets, store, sweep
from tests.conftest import wsb as shared_wsb

PLANTED = {
    "ANTHROPIC_API_KEY": "sk-ant-api03-PLANTED-anthropic-7c1e",
    "OPENAI_API_KEY": "sk-proj-PLANTED-openai-55d0",
    "MY_SERVICE_API_KEY": "PLANTED-my-service-9f41b2",
    "HF_TOKEN": "hf_PLANTEDtoken3a8c",
    "FOO_TOKEN": "PLANTED-foo-token-e1",
    "X_API_KEY": "PLANTED-x-api-key-c2",
}
#: A password inside a URL that Hydra records (``hydra.job.env_set``): it must not stay there.
URL_PASSWORD = "PLANTED-sweep-url-pw-d3"


def _wsb(args: list[str], cwd: Path, url: str) -> subprocess.CompletedProcess[str]:
    # A process of its own: the keys are in its environment from its start.
    return shared_wsb(*args, cwd=cwd, env={**PLANTED, "ANTHROPIC_BASE_URL": url}, process=True)


def _leaks(root: Path, outputs: list[str]) -> list[str]:
    found = []
    for path in sorted(root.rglob("*")):
        if path.is_file():
            data = path.read_bytes()
            found += [f"{name} in {path}" for name, key in PLANTED.items() if key.encode() in data]
            if URL_PASSWORD.encode() in data:
                found.append(f"URL password in {path}")
    for i, text in enumerate(outputs):
        found += [f"{name} in output {i}" for name, key in PLANTED.items() if key in text]
        if URL_PASSWORD in text:
            found.append(f"URL password in output {i}")
    return found


@pytest.mark.slow
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
        f"+hydra.job.env_set.DATABASE_URL=postgres://bob:{URL_PASSWORD}@db:5432/x",
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
    assert f"MY_SERVICE_API_KEY: {secrets.REDACTED}" in hydra_yaml
    assert "postgres://[redacted]@db:5432/x" in (tmp_path / "sweep" / "multirun.yaml").read_text()
    outputs = [p.stdout + p.stderr for p in (first, replay, failing)]
    assert _leaks(tmp_path, outputs) == []


@pytest.fixture
def planted(monkeypatch):
    """Plant the secrets in the environment and collect them; forget them afterwards."""
    for name, key in PLANTED.items():
        monkeypatch.setenv(name, key)
    secrets.refresh()
    yield
    monkeypatch.undo()
    secrets.refresh()


def test_redact_replaces_every_secret_valued_variable(planted, monkeypatch):
    monkeypatch.setenv("SHORT_TOKEN", "abc")  # too short to be told from ordinary text
    secrets.refresh()
    data = {
        "command": ["wsb run", f"+agent.extra_body.key={PLANTED['OPENAI_API_KEY']}"],
        "nested": [{"x": f"Bearer {PLANTED['ANTHROPIC_API_KEY']}"}],
        "token": (f"token={PLANTED['HF_TOKEN']}",),
        "plain": "abc",
    }
    clean = secrets.redact(data)
    assert clean["command"][1] == f"+agent.extra_body.key={secrets.REDACTED}"
    assert clean["nested"][0]["x"] == f"Bearer {secrets.REDACTED}"
    assert clean["token"] == [f"token={secrets.REDACTED}"]  # *_TOKEN values too
    assert clean["plain"] == "abc"


@pytest.mark.parametrize(
    ("name", "value"),
    [
        ("FOO_TOKEN", "PLANTED-foo-token-1f2e"),
        ("X_API_KEY", "PLANTED-x-api-key-77"),
        ("x_apikey", "PLANTED-lowercase-3"),
        ("DB_PASSWORD", "PLANTED-db-pw-09"),
        ("CLIENT_SECRET", "PLANTED-client-secret"),
        ("AWS_SECRET_ACCESS_KEY", "PLANTED/aws+secret/Key"),
        ("SIGNING_PRIVATE_KEY", "PLANTED-private-key-8"),
    ],
)
def test_every_secret_named_variable_is_scrubbed_in_each_spelling(monkeypatch, name, value):
    monkeypatch.setenv(name, value)
    secrets.refresh()
    try:
        for text in (
            f"the model said {value}.",
            json.dumps({"note": value}),
            f"http://example.org/?k={quote(value, safe='')}",
        ):
            assert value not in secrets.scrub(text)
            assert quote(value, safe="") not in secrets.scrub(text)
            assert secrets.REDACTED in secrets.scrub(text)
        line = store.dumps_record({"type": "step", "note": f"echo {value}"})
        assert value.encode() not in line and json.loads(line)["note"] == "echo [redacted]"
    finally:
        monkeypatch.undo()
        secrets.refresh()


def test_a_value_needing_json_escapes_is_found_in_the_json_text(monkeypatch):
    value = 'PLANTED"quote\\slash-é-7'
    monkeypatch.setenv("ODD_TOKEN", value)
    secrets.refresh()
    try:
        for text in (json.dumps({"a": value}), json.dumps({"a": value}, ensure_ascii=False)):
            clean = secrets.scrub(text)
            assert json.loads(clean) == {"a": secrets.REDACTED}
        assert json.loads(store.dumps_record({"type": "x", "a": value}))["a"] == "[redacted]"
    finally:
        monkeypatch.undo()
        secrets.refresh()


def test_short_values_are_not_secrets(monkeypatch):
    # Scrubbing "1" or "true" everywhere would wreck ordinary text and the records themselves.
    monkeypatch.setenv("ONE_TOKEN", "1")
    monkeypatch.setenv("FLAG_SECRET", "true")
    monkeypatch.setenv("SEVEN_PASSWORD", "7chars!")
    secrets.refresh()
    try:
        text = '{"episode":1,"invalid":true,"note":"7chars! is short"}'
        assert secrets.scrub(text) == text
        assert len("7chars!") < secrets.MIN_SECRET_LENGTH
    finally:
        monkeypatch.undo()
        secrets.refresh()


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("http://alice:hunter2@host:8000/v1", "http://[redacted]@host:8000/v1"),
        ("https://tok@gateway.example/a@b", "https://[redacted]@gateway.example/a@b"),
        ("postgres://u:p@ss@db/x", "postgres://[redacted]@db/x"),  # a raw "@" in the password
        ('{"endpoint":"http://u:p@127.0.0.1:1"}', '{"endpoint":"http://[redacted]@127.0.0.1:1"}'),
        ("see 'http://u:pw@h' now", "see 'http://[redacted]@h' now"),
        ("two: http://a:b@x and ftp://c:d@y/", "two: http://[redacted]@x and ftp://[redacted]@y/"),
        # No userinfo: unchanged.
        ("https://example.org/a@b?x=y@z", "https://example.org/a@b?x=y@z"),
        ("mail bob@example.org, http://host", "mail bob@example.org, http://host"),
    ],
)
def test_userinfo_of_every_url_is_redacted(text, expected):
    assert secrets.scrub(text) == expected
    assert secrets.scrub_bytes(text.encode()) == expected.encode()


def test_the_password_of_a_url_valued_variable_is_a_secret_on_its_own(monkeypatch):
    monkeypatch.setenv("DATABASE_URL", "postgres://alice:PLANTED%40pw-31@db:5432/x")
    secrets.refresh()
    try:
        assert secrets.scrub("it failed: password PLANTED@pw-31 rejected") == (
            "it failed: password [redacted] rejected"
        )
    finally:
        monkeypatch.undo()
        secrets.refresh()


def test_a_registered_value_is_scrubbed_from_every_writer(tmp_path):
    value = "PLANTED-registered-key-5150"  # e.g. agent.api_key_env=MY_LLM_CREDENTIAL
    secrets.register(value)
    store.write_json_atomic(tmp_path / "a.json", {"k": value})
    assert value not in (tmp_path / "a.json").read_text()


def test_scrubbing_scales_linearly_on_hostile_text():
    # A long run of letters with "://" and "@" must not take quadratic time in the URL pattern.
    text = "a" * 200_000 + "://" + "b" * 200_000 + " @" + "c://" * 50_000 + "@"
    started = time.perf_counter()
    secrets.scrub(text)
    assert time.perf_counter() - started < 2.0


def test_the_log_filter_scrubs_messages_and_tracebacks(planted, tmp_path):
    logger = logging.getLogger("test_secrets_filter")
    handler = logging.FileHandler(tmp_path / "x.log", encoding="utf-8")
    handler.addFilter(secrets.ScrubFilter())
    logger.addHandler(handler)
    try:
        logger.warning("calling %s with %s", "http://u:pw-PLANTED@h", PLANTED["HF_TOKEN"])
        try:
            raise RuntimeError(f"bad key {PLANTED['OPENAI_API_KEY']}")
        except RuntimeError:
            logger.exception("failed")
    finally:
        logger.removeHandler(handler)
        handler.close()
    text = (tmp_path / "x.log").read_text()
    assert "pw-PLANTED" not in text and PLANTED["HF_TOKEN"] not in text
    assert PLANTED["OPENAI_API_KEY"] not in text and "RuntimeError" in text


def test_run_log_and_stderr_warnings_carry_no_secret(tmp_path, monkeypatch, capsys):
    import logging

    from sandbox import cli, secrets

    monkeypatch.setenv("LAB_API_KEY", "lab-secret-value-0042")
    secrets.refresh()  # values are collected once per process; the test set a new one
    cli._setup_logging(tmp_path)
    try:
        logging.getLogger("sandbox.test").warning("answer echoed lab-secret-value-0042 here")
    finally:
        for handler in list(logging.getLogger().handlers):
            handler.close()
            logging.getLogger().removeHandler(handler)
    assert "lab-secret-value-0042" not in (tmp_path / "run.log").read_text()
    assert "lab-secret-value-0042" not in capsys.readouterr().err


def test_a_url_with_credentials_is_redacted_in_hydras_escaped_form_too():
    from sandbox.secrets import scrub, scrub_bytes

    escaped = r"agent.base_url=http\://alice\:s3cret-pw-77@127.0.0.1\:4161"
    assert scrub(escaped) == r"agent.base_url=http\://[redacted]@127.0.0.1\:4161"
    assert scrub_bytes(escaped.encode()) == scrub(escaped).encode()
    assert scrub(r"a \: b") == r"a \: b"
