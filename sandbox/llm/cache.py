"""The response cache: re-running a run replays its model answers instead of paying for them.

A SQLite file (stdlib ``sqlite3``, WAL journal) maps a key to a model response. The key is the
SHA-256 of the canonical request (API, endpoint, model, system, tools, messages, tool choice,
``max_tokens``, extra body; JSON with sorted keys) together with the episode's seed (derived
from the run's seed by :func:`sandbox.seeds.episode_seed`, distinct across runs) and its
replicate index. So the same config and seeds replay exactly and cost nothing, while every
sample stays independent: replicates (episodes ``0..N-1``) and runs with another ``seed`` never
share an answer, even where their requests are identical (a ThinkTank episode's first request
is the same whatever the seed).

WAL mode lets many episodes (one process) and many sweep jobs (several processes) read and
write one file at once; writers wait for each other through SQLite's busy timeout.

Modes: ``read_write`` (look up, then store new answers), ``read_only`` (look up, never write:
for replaying someone else's cache), ``off`` (no file is touched).
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import sqlite3
import threading
import time
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from sandbox import secrets
from sandbox.errors import AgentError

log = logging.getLogger(__name__)

CACHE_FILE = "responses.sqlite3"
MODES = ("read_write", "read_only", "off")
_SCHEMA = """
CREATE TABLE IF NOT EXISTS responses (
    key TEXT PRIMARY KEY,
    model TEXT NOT NULL,
    response TEXT NOT NULL,
    created REAL NOT NULL
);
CREATE TABLE IF NOT EXISTS flags (
    name TEXT PRIMARY KEY,
    value TEXT NOT NULL,
    created REAL NOT NULL
);
"""


class CacheError(AgentError):
    """The response cache cannot be read (a damaged file, a wrong mode)."""


def default_cache_dir() -> Path:
    """The user's cache directory for this project: ``$XDG_CACHE_HOME/welfare-sandbox`` or
    ``~/.cache/welfare-sandbox``."""
    base = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(base) / "welfare-sandbox"


def canonical_json(value: Any) -> str:
    """JSON with sorted keys and no spaces: equal requests give equal strings.

    Secrets are scrubbed (:mod:`sandbox.secrets`), both in the stored answers and in the text
    a key is hashed from: a replay, whose conversation holds the scrubbed answer, then finds
    the same keys as the run that stored them.
    """
    text = json.dumps(value, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
    return secrets.scrub(text)


def request_key(request: Mapping[str, Any] | str, replicate: int, seed: int) -> str:
    """The cache key of ``request`` made for one episode: its replicate index and its seed.

    Both are part of what makes a sample: without the seed, ``seed=1`` would replay
    ``seed=0``'s answers wherever the first observations match.

    Args:
        request: The request body, or its :func:`canonical_json` text (already made); it
            should name the API and endpoint as well as the model.
        replicate: The episode's replicate index.
        seed: The episode's environment seed.
    """
    text = request if isinstance(request, str) else canonical_json(request)
    digest = hashlib.sha256(text.encode("utf-8"))
    digest.update(f"\x00replicate={int(replicate)}\x00seed={int(seed)}".encode())
    return digest.hexdigest()


class ResponseCache:
    """A key -> response store on SQLite, shared by every episode (and process) of a run.

    Args:
        directory: Where the file lives; ``None`` for :func:`default_cache_dir`.
        mode: ``read_write``, ``read_only`` or ``off``.

    Raises:
        CacheError: The mode is unknown or the file is damaged (naming the file and the fix).
    """

    def __init__(self, directory: str | Path | None = None, mode: str = "read_write"):
        if mode not in MODES:
            raise CacheError(f"agent.cache must be one of {', '.join(MODES)}, got {mode!r}")
        self.mode = mode
        self.path = Path(directory).expanduser() if directory else default_cache_dir()
        self.path = self.path / CACHE_FILE
        self.hits = 0
        self.misses = 0
        self.writes = 0
        self._lock = threading.Lock()
        self._conn: sqlite3.Connection | None = None
        if mode != "off":
            self._open()

    # -- opening ----------------------------------------------------------------------------
    def _open(self) -> None:
        if self.mode == "read_only":
            if not self.path.exists():
                # Nothing to replay; a read-only cache never creates its file.
                log.info("response cache %s does not exist: every call goes to the API", self.path)
                return
            uri = f"{self.path.resolve().as_uri()}?mode=ro"
            self._conn = self._guard(
                lambda: sqlite3.connect(uri, uri=True, check_same_thread=False, timeout=30.0)
            )
            self._guard(lambda: self._execute("SELECT count(*) FROM responses").fetchone())
            return
        self.path.parent.mkdir(parents=True, exist_ok=True)
        conn = self._guard(
            lambda: sqlite3.connect(str(self.path), check_same_thread=False, timeout=30.0)
        )
        self._conn = conn
        # WAL: readers never block the writer and the other way round; NORMAL sync is safe
        # with WAL (a power cut may lose the last answers, never corrupt the file).
        self._guard(lambda: conn.execute("PRAGMA journal_mode=WAL").fetchone())
        self._guard(lambda: conn.execute("PRAGMA synchronous=NORMAL"))
        self._guard(lambda: conn.executescript(_SCHEMA))

    def _guard(self, fn: Any) -> Any:
        """Run ``fn``; a damaged file becomes a :class:`CacheError` that says what to do."""
        try:
            return fn()
        except sqlite3.DatabaseError as exc:
            if isinstance(exc, sqlite3.OperationalError) and "locked" in str(exc):
                raise CacheError(
                    f"response cache {self.path} stayed locked for 30 s ({exc}); another "
                    "process holds it: wait for it, or set agent.cache=off"
                ) from None
            raise CacheError(
                f"response cache {self.path} is damaged or not a cache file ({exc}); "
                f"delete it (rm {self.path}*) or run with agent.cache=off"
            ) from None

    def _execute(self, sql: str, params: tuple[Any, ...] = ()) -> sqlite3.Cursor:
        assert self._conn is not None
        return self._conn.execute(sql, params)

    # -- use ---------------------------------------------------------------------------------
    @property
    def readable(self) -> bool:
        """Whether lookups can find anything."""
        return self._conn is not None

    @property
    def writable(self) -> bool:
        """Whether new answers are stored."""
        return self.mode == "read_write" and self._conn is not None

    def get(self, key: str) -> dict[str, Any] | None:
        """The stored response for ``key``, or ``None``."""
        if self._conn is None:
            return None
        row = self._select_one("SELECT response FROM responses WHERE key = ?", key)
        if row is None:
            self.misses += 1
            return None
        try:
            value = json.loads(row[0])
        except json.JSONDecodeError:
            raise CacheError(
                f"response cache {self.path} holds a damaged entry; delete it "
                f"(rm {self.path}*) or run with agent.cache=off"
            ) from None
        self.hits += 1
        if not isinstance(value, dict):
            raise CacheError(
                f"response cache {self.path} holds an entry that is not a response; delete it "
                f"(rm {self.path}*) or run with agent.cache=off"
            )
        return value

    def put(self, key: str, model: str, response: Mapping[str, Any]) -> None:
        """Store ``response`` under ``key`` (a no-op unless the mode is ``read_write``)."""
        text = canonical_json(response)
        if self._store(
            "INSERT OR REPLACE INTO responses (key, model, response, created) VALUES (?, ?, ?, ?)",
            (key, model, text, time.time()),
        ):
            self.writes += 1

    def get_flag(self, name: str) -> str | None:
        """A stored fact about the API (e.g. a model that rejects forced tool choice)."""
        row = self._select_one("SELECT value FROM flags WHERE name = ?", name)
        return None if row is None else str(row[0])

    def set_flag(self, name: str, value: str) -> None:
        """Store a fact about the API, so that a replay makes the same choices without asking."""
        self._store(
            "INSERT OR REPLACE INTO flags (name, value, created) VALUES (?, ?, ?)",
            (name, value, time.time()),
        )

    def _select_one(self, sql: str, key: str) -> Any:
        """The first row ``sql`` selects for ``key`` (None: none, or no database open)."""
        if self._conn is None:
            return None
        with self._lock:
            return self._guard(lambda: self._execute(sql, (key,)).fetchone())

    def _store(self, sql: str, params: tuple[Any, ...]) -> bool:
        """Run one write in a transaction; False (and nothing written) unless ``read_write``."""
        if not self.writable:
            return False
        with self._lock, self._conn:  # type: ignore[union-attr]
            self._guard(lambda: self._execute(sql, params))
        return True

    def __len__(self) -> int:
        if self._conn is None:
            return 0
        with self._lock:
            row = self._guard(lambda: self._execute("SELECT count(*) FROM responses").fetchone())
        return int(row[0])

    def parameters(self) -> dict[str, Any]:
        """Mode and file, for ``run.json``."""
        return {"mode": self.mode, "path": None if self.mode == "off" else str(self.path)}

    def close(self) -> None:
        """Close the file (idempotent)."""
        with self._lock:
            if self._conn is not None:
                self._conn.close()
                self._conn = None
