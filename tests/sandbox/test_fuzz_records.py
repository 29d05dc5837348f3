"""Malformed input to the library: only the project's own errors escape, with one clear message.

Hypothesis feeds the record readers (``store.iter_records``, ``store.load_run``) and the proxies
(``compute_metrics``) damaged logs: random bytes, torn lines, JSON that is not an object, and
real records of every design with keys removed or given values of the wrong type. A table then
checks the other bad inputs a user can give the library (episodes, banks, run directories,
response caches).
"""

from __future__ import annotations

import contextlib
import copy
import json
import os
import sqlite3
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from sandbox import runner, store
from sandbox.display.base import NullDisplay
from sandbox.errors import BankError, ConfigError, RunDirError, SandboxError
from sandbox.llm.cache import CacheError, ResponseCache
from sandbox.metrics import compute_metrics

#: Examples per fuzz test; WSB_FUZZ_EXAMPLES=5000 for a long campaign.
FUZZ = settings(
    max_examples=int(os.environ.get("WSB_FUZZ_EXAMPLES", "150")),
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture],
)

# -- strategies --------------------------------------------------------------------------------

_scalars = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(-(2**70), 2**70),
    st.floats(),
    st.text(max_size=8),
    st.sampled_from(["TASK", "REST", "REFUSE", "EXIT", "REPORT", "step", "episode_end", "inf"]),
)
json_values = st.recursive(
    _scalars,
    lambda inner: st.one_of(
        st.lists(inner, max_size=4), st.dictionaries(st.text(max_size=6), inner, max_size=4)
    ),
    max_leaves=8,
)


def _line(value: Any) -> bytes:
    return json.dumps(value, allow_nan=True).encode()


lines = st.one_of(
    st.binary(max_size=60),  # random bytes (invalid UTF-8, stray newlines, NULs)
    json_values.map(_line),  # JSON that may not be an object, or lacks "type"
    st.dictionaries(st.sampled_from(["type", "episode", "step", "reason"]), json_values).map(_line),
    st.builds(  # a valid-looking record with wrong types
        lambda t, e, extra: _line({"type": t, "episode": e, **extra}),
        st.sampled_from(["step", "episode_end", "other"]),
        json_values,
        st.dictionaries(st.sampled_from(["step", "reason", "action", "info", "mask"]), json_values),
    ),
)


@st.composite
def jsonl_files(draw: st.DrawFn) -> bytes:
    """A file of lines, some whole, the last maybe torn."""
    body = b"".join(line + b"\n" for line in draw(st.lists(lines, max_size=8)))
    tail = draw(st.binary(max_size=30) | lines.map(lambda b: b[: max(1, len(b) // 2)]))
    return body + tail


#: Real records of every design, by experiment (filled once by the ``corpus`` fixture).
_CORPUS: dict[str, list[dict[str, Any]]] = {}


@pytest.fixture(scope="module", autouse=True)
def corpus(tmp_path_factory: pytest.TempPathFactory) -> None:
    """A short run of each experiment, whose records the fuzzing damages."""
    from hydra import compose, initialize_config_dir
    from hydra.core.global_hydra import GlobalHydra

    from sandbox.config import register_configs, to_typed
    from sandbox.paths import config_dir

    root = tmp_path_factory.mktemp("corpus")
    register_configs()
    GlobalHydra.instance().clear()
    with initialize_config_dir(config_dir=str(config_dir()), version_base="1.3"):
        for experiment in ("workday", "task_preferences", "tradeoff", "bail", "think_tank"):
            overrides = [f"experiment={experiment}", "episodes=2", "seed=3"]
            cfg = to_typed(compose(config_name="config", overrides=overrides))
            runner.run(cfg, root / experiment, _Quiet())
            _CORPUS[experiment] = store.read_records(root / experiment / store.EPISODES)
    GlobalHydra.instance().clear()


class _Quiet(NullDisplay):
    def run_ended(self, status: str, metrics: dict[str, Any] | None) -> None:
        return None


def _paths(value: Any, prefix: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
    out = [prefix] if prefix else []
    if isinstance(value, dict):
        for key, item in value.items():
            out += _paths(item, (*prefix, key))
    elif isinstance(value, list):
        for i, item in enumerate(value):
            out += _paths(item, (*prefix, i))
    return out


@st.composite
def damaged_records(draw: st.DrawFn) -> list[dict[str, Any]]:
    """Real records of one design with up to six keys removed or retyped."""
    records = copy.deepcopy(_CORPUS[draw(st.sampled_from(sorted(_CORPUS)))])
    for _ in range(draw(st.integers(1, 6))):
        record = records[draw(st.integers(0, len(records) - 1))]
        path = draw(st.sampled_from(_paths(record)))
        parent = record
        for key in path[:-1]:
            parent = parent[key]
        if isinstance(parent, dict) and draw(st.booleans()):
            del parent[path[-1]]
        else:
            parent[path[-1]] = draw(json_values)
    return records


# -- fuzzing -------------------------------------------------------------------------------------


@FUZZ
@given(data=jsonl_files())
def test_readers_raise_only_run_dir_errors_on_any_bytes(tmp_path_factory, data):
    run_dir = tmp_path_factory.mktemp("run")
    (run_dir / store.EPISODES).write_bytes(data)
    (run_dir / store.RUN_JSON).write_bytes(data[:200] if data[:1] == b"{" else b"{}")
    try:
        records = store.read_records(run_dir / store.EPISODES)
    except RunDirError:
        records = None
    if records is not None:
        assert all(isinstance(r, dict) and "type" in r for r in records)
        compute_metrics(records)  # records that parse never crash the proxies
        store.finished_episodes(records, rerun=runner.RERUN_REASONS)
        store.keep_only(run_dir / store.EPISODES, {0, 1})
    with contextlib.suppress(RunDirError):
        store.load_run(run_dir)


@FUZZ
@given(records=damaged_records())
def test_proxies_survive_records_with_missing_keys_and_wrong_types(records):
    metrics = compute_metrics(records, run={"status": "complete"})
    json.dumps(metrics, allow_nan=False)  # still valid JSON
    for key in ("refusal_rate", "rest_rate", "exit_rate", "invalid_action_rate"):
        value = metrics[key]["value"]
        assert value is None or 0.0 <= value <= 1.0


@FUZZ
@given(data=st.binary(max_size=200) | json_values.map(_line))
def test_a_damaged_run_json_or_metrics_json_is_a_run_dir_error(tmp_path_factory, data):
    run_dir = tmp_path_factory.mktemp("run")
    (run_dir / store.RUN_JSON).write_text("{}")
    (run_dir / store.METRICS).write_bytes(data)
    try:
        store.load_run(run_dir)
    except RunDirError as exc:
        assert str(run_dir) in str(exc)
    (run_dir / store.RUN_JSON).write_bytes(data)
    try:
        store.load_run(run_dir)
    except RunDirError as exc:
        assert str(run_dir) in str(exc)


def test_deeply_nested_json_is_a_damaged_file_not_a_recursion_error(tmp_path):
    (tmp_path / store.RUN_JSON).write_text("[" * 100_000)
    with pytest.raises(RunDirError, match="damaged"):
        store.load_run(tmp_path)


# -- bad inputs to the library -----------------------------------------------------------------


def _run(compose_cfg, tmp_path: Path, *overrides: str) -> None:
    runner.run(compose_cfg(*overrides), tmp_path / "run", _Quiet())


@pytest.mark.parametrize("episodes", [0, -3])
def test_episodes_below_one(compose_cfg, tmp_path, episodes):
    cfg = compose_cfg("episodes=1")
    cfg.episodes = episodes  # past the CLI's own check: the library checks again
    with pytest.raises(ConfigError, match=f"episodes must be at least 1, got {episodes}"):
        runner.run(cfg, tmp_path / "run", _Quiet())
    assert not (tmp_path / "run").exists()


@pytest.mark.parametrize(
    ("env", "bank", "message"),
    [
        ("task_choice", "{tmp}/missing.yaml", "not found"),
        ("task_choice", "{tmp}/broken.yaml", "bad YAML"),
        ("task_choice", "{tmp}/wrong.yaml", "unknown key 'foo'"),
        ("task_choice", "{tmp}/binary.yaml", "not UTF-8"),
        ("task_choice", "{tmp}", "is a folder"),
        ("pairwise", "{tmp}/broken.yaml", "bad YAML"),
        ("conversation", "{tmp}/wrong.yaml", "expected a mapping"),
        ("think_tank", "{tmp}/missing.yaml", "not found"),
    ],
)
def test_missing_or_malformed_bank(compose_cfg, tmp_path, env, bank, message):
    (tmp_path / "broken.yaml").write_text("tasks: [1, 2")
    (tmp_path / "wrong.yaml").write_text("foo: bar\n")
    (tmp_path / "binary.yaml").write_bytes(b"\xff\xfe\x00garbage")
    path = bank.format(tmp=tmp_path)
    with pytest.raises(BankError, match=message) as info:
        _run(compose_cfg, tmp_path, f"env={env}", f"env.kwargs.bank={path}", "episodes=1")
    assert "\n" not in str(info.value)  # one message, one line
    assert not (tmp_path / "run" / store.EPISODES).exists()


def _files(path: Path, files: dict[str, str]) -> None:
    for name, text in files.items():
        (path / name).parent.mkdir(parents=True, exist_ok=True)
        (path / name).write_text(text)


BAD_LOG = '{"type": "step"}\nnot json\n{"type": "step"}\n'


@pytest.mark.parametrize(
    ("make", "message"),
    [
        (lambda p: None, "is not a directory"),
        (lambda p: p.mkdir(), "has no run.json, so it is not a run directory"),
        (lambda p: p.write_text("x"), "is not a directory"),
        (lambda p: _files(p, {"0-job/run.json": "{}"}), "looks like a sweep directory"),
        (lambda p: _files(p, {"run.json": "{broken"}), "damaged"),
        (lambda p: _files(p, {"run.json": "[1]"}), "should hold a JSON object"),
        (lambda p: _files(p, {"run.json": "{}", "episodes.jsonl": BAD_LOG}), "line 2: not a"),
        (lambda p: _files(p, {"run.json": "{}", "metrics.json": ""}), "metrics.json is not valid"),
    ],
)
def test_a_directory_that_is_not_a_run(tmp_path, make, message):
    path = tmp_path / "target"
    make(path)
    with pytest.raises(RunDirError, match=message):
        store.load_run(path)


def _damage_entries(cache_dir: Path, value: str) -> None:
    with sqlite3.connect(cache_dir / "responses.sqlite3") as con:
        con.execute("UPDATE responses SET response = ?", (value,))


@pytest.mark.parametrize(
    ("damage", "message"),
    [
        (lambda d: (d / "responses.sqlite3").write_bytes(b"garbage" * 64), "not a cache file"),
        (lambda d: _damage_entries(d, "{broken"), "holds a damaged entry"),
        (lambda d: _damage_entries(d, "[1, 2]"), "holds an entry that is not a response"),
    ],
)
def test_a_corrupted_response_cache_stops_the_run_with_one_message(
    compose_cfg, fake_api, tmp_path, monkeypatch, damage, message
):
    monkeypatch.setenv("ANTHROPIC_API_KEY", "sk-ant-test-cache-0000")
    cache_dir = tmp_path / "cache"
    overrides = (
        "agent=claude",
        f"agent.base_url={fake_api}",
        f"agent.cache_dir={cache_dir}",
        "episodes=3",
        "env.kwargs.day_length=3",
    )
    runner.run(compose_cfg(*overrides), tmp_path / "first", _Quiet())  # fills the cache
    ResponseCache(cache_dir).close()
    damage(cache_dir)
    with pytest.raises(CacheError, match=message) as info:
        runner.run(compose_cfg(*overrides), tmp_path / "second", _Quiet())
    assert isinstance(info.value, SandboxError)
    assert "agent.cache=off" in str(info.value)  # and says what to do
    ends = [
        r
        for r in store.read_records(tmp_path / "second" / store.EPISODES)
        if r["type"] == "episode_end"
    ] if (tmp_path / "second" / store.EPISODES).exists() else []  # fmt: skip
    assert not ends  # no episode is counted as played: a resume plays them all
