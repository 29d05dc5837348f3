"""The sqlite response cache: keys, modes, concurrency, damage."""

from __future__ import annotations

import multiprocessing
import sqlite3
from pathlib import Path

import pytest

from sandbox.errors import AgentError
from sandbox.llm.cache import CACHE_FILE, CacheError, ResponseCache, default_cache_dir, request_key

REQUEST = {"model": "m", "messages": [{"role": "user", "content": "hi"}], "max_tokens": 5}


def test_key_is_canonical_and_depends_on_replicate_and_seed():
    reordered = {"max_tokens": 5, "messages": [{"content": "hi", "role": "user"}], "model": "m"}
    assert request_key(REQUEST, 0, 0) == request_key(reordered, 0, 0)
    assert request_key(REQUEST, 0, 0) != request_key(REQUEST, 1, 0)
    # Same replicate index, another seed: another sample (seed=1 must not replay seed=0).
    assert request_key(REQUEST, 0, 0) != request_key(REQUEST, 0, 1)
    assert request_key(REQUEST, 0, 0) != request_key({**REQUEST, "max_tokens": 6}, 0, 0)
    assert len(request_key(REQUEST, 0, 0)) == 64


def test_read_write_round_trip_and_wal(tmp_path: Path):
    cache = ResponseCache(tmp_path, "read_write")
    key = request_key(REQUEST, 0, 0)
    assert cache.get(key) is None
    cache.put(key, "m", {"content": [{"type": "text", "text": "ok"}]})
    assert cache.get(key) == {"content": [{"type": "text", "text": "ok"}]}
    assert len(cache) == 1 and cache.hits == 1 and cache.misses == 1
    cache.set_flag("f", "1")
    assert cache.get_flag("f") == "1" and cache.get_flag("g") is None
    cache.close()
    mode = sqlite3.connect(tmp_path / CACHE_FILE).execute("PRAGMA journal_mode").fetchone()[0]
    assert mode == "wal"


def test_off_touches_nothing(tmp_path: Path):
    cache = ResponseCache(tmp_path / "c", "off")
    cache.put("k", "m", {"a": 1})
    assert cache.get("k") is None and not (tmp_path / "c").exists()
    assert cache.parameters() == {"mode": "off", "path": None}


def test_read_only(tmp_path: Path):
    missing = ResponseCache(tmp_path / "none", "read_only")
    assert missing.get("k") is None and not (tmp_path / "none").exists()
    writer = ResponseCache(tmp_path, "read_write")
    writer.put("k", "m", {"a": 1})
    writer.close()
    before = (tmp_path / CACHE_FILE).read_bytes()
    reader = ResponseCache(tmp_path, "read_only")
    assert reader.get("k") == {"a": 1}
    reader.put("k2", "m", {"b": 2})
    reader.set_flag("f", "1")
    assert reader.get("k2") is None and reader.writes == 0
    reader.close()
    assert (tmp_path / CACHE_FILE).read_bytes() == before


def test_damaged_file(tmp_path: Path):
    (tmp_path / CACHE_FILE).write_bytes(b"\x00garbage" * 512)
    for mode in ("read_write", "read_only"):
        with pytest.raises(CacheError) as caught:
            ResponseCache(tmp_path, mode)
        message = str(caught.value)
        assert str(tmp_path / CACHE_FILE) in message and "agent.cache=off" in message
        assert isinstance(caught.value, AgentError)


def test_unknown_mode():
    with pytest.raises(CacheError, match="read_write, read_only, off"):
        ResponseCache(None, "sometimes")


def test_default_dir(monkeypatch: pytest.MonkeyPatch, tmp_path: Path):
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path))
    assert default_cache_dir() == tmp_path / "welfare-sandbox"
    monkeypatch.delenv("XDG_CACHE_HOME")
    assert default_cache_dir() == Path.home() / ".cache" / "welfare-sandbox"


def _writer(directory: str, start: int) -> None:
    cache = ResponseCache(directory, "read_write")
    for i in range(start, start + 50):
        cache.put(f"k{i}", "m", {"i": i})
    cache.close()


def test_concurrent_processes_share_one_file(tmp_path: Path):
    context = multiprocessing.get_context("spawn")
    processes = [context.Process(target=_writer, args=(str(tmp_path), n * 50)) for n in range(4)]
    for process in processes:
        process.start()
    for process in processes:
        process.join(timeout=60)
        assert process.exitcode == 0
    cache = ResponseCache(tmp_path, "read_only")
    assert len(cache) == 200 and cache.get("k199") == {"i": 199}
