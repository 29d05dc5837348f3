"""Secrets: one place that keeps them out of every file the sandbox writes.

Two kinds of secret are removed from any text before it reaches a file (``run.json``,
``episodes.jsonl``, ``metrics.json``, the sweep summary, transcripts, the response cache,
Hydra's ``.hydra/*.yaml`` and ``multirun.yaml``, ``run.log``) or an error message:

- **the values of secret-named environment variables**: ``ANTHROPIC_API_KEY`` and every
  variable named ``*_API_KEY``, ``*_APIKEY``, ``*_ACCESS_KEY``, ``*_PRIVATE_KEY``, ``*_TOKEN``,
  ``*_SECRET``, ``*_PASSWORD`` or ``*_PASSWD`` (any case), plus the password of any variable
  whose value is a URL with credentials (``HTTPS_PROXY=http://user:pass@proxy``), plus
  whatever a caller hands to :func:`register` (a key read from a variable of another name);
- **the userinfo part of every URL** (``http://user:pass@host`` becomes
  ``http://[redacted]@host``), wherever it appears: a base URL in ``run.json``, an override in
  ``.hydra/``, a URL a model or a bank wrote.

Each occurrence becomes :data:`REDACTED`. A value is also found in the forms a writer gives it:
JSON-escaped (a value holding ``"`` or non-ASCII characters) and percent-encoded (a password
inside a URL).

Values are collected from the environment once, at first use, and again by :func:`refresh`,
which the runner calls at the start of every run (Hydra's ``hydra.job.env_set`` sets variables
per job, in the same process). Scrubbing then costs one substring search per value and, only
for text holding both ``://`` and ``@``, one regular expression: cheap enough for every record.

What is not caught: a secret a model rewrites (spaced out, encoded otherwise, split across two
records), and a value shorter than :data:`MIN_SECRET_LENGTH`.
"""

from __future__ import annotations

import json
import logging
import os
import re
import threading
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any, AnyStr, Generic
from urllib.parse import quote, unquote, urlsplit

#: What a secret is replaced by.
REDACTED = "[redacted]"

#: Environment variables whose values are secrets (matched at the end of the name, any case).
SECRET_NAME = re.compile(
    r"(API_?KEY|ACCESS_KEY|PRIVATE_KEY|TOKEN|SECRET|PASSWORD|PASSWD)$", re.IGNORECASE
)

#: Values shorter than this are not treated as secrets. Replacing a short value everywhere would
#: destroy ordinary text and the records themselves (``FOO_TOKEN=1`` would turn every "1" in
#: ``episodes.jsonl`` into ``[redacted]``), while no credential is that short: API keys and
#: tokens run to 20-100 characters, and 8 is the shortest password most services accept (and
#: NIST SP 800-63B's minimum for a chosen one).
MIN_SECRET_LENGTH = 8

#: A URL's scheme and userinfo: everything between ``scheme://`` and the last ``@`` before the
#: host ends (``/``, ``?``, ``#``, white space or a quote). Greedy, so that a password holding a
#: raw ``@`` is removed whole, as ``urllib.parse`` would split it. Both parts are bounded, so
#: that a long run of letters costs linear time, not quadratic. Hydra escapes ``:`` in the
#: overrides it writes (``.hydra/overrides.yaml``, job names, summaries): ``http\://u\:p@h``
#: is a URL with credentials too.
_USERINFO = r"""([A-Za-z][A-Za-z0-9+.\-]{0,31}\\?://)(?:[^\s/?#"'<>\\]|\\:){1,2048}@"""
_USERINFO_TEXT = re.compile(_USERINFO)
_USERINFO_BYTES = re.compile(_USERINFO.encode("ascii"))
_REPLACE_TEXT = r"\g<1>" + REDACTED + "@"
_REPLACE_BYTES = _REPLACE_TEXT.encode("ascii")
_REDACTED_BYTES = REDACTED.encode("ascii")


@dataclass(frozen=True, slots=True)
class _Side(Generic[AnyStr]):
    """The strings to remove in one type (``str`` or UTF-8 ``bytes``), longest first (so a value
    holding another is removed whole), and how that type spells the redaction.

    With more than :data:`_LOOP_AT_MOST` of them, one alternation (tried longest first) finds
    them all in one pass; a few are faster found one by one.
    """

    needles: tuple[AnyStr, ...]
    pattern: re.Pattern[AnyStr] | None
    redacted: AnyStr
    userinfo: re.Pattern[AnyStr]
    userinfo_replacement: AnyStr
    at: AnyStr
    scheme: AnyStr

    def scrub(self, value: AnyStr) -> AnyStr:
        if self.pattern is not None:
            if self.pattern.search(value):
                value = self.pattern.sub(self.redacted, value)
        else:
            for needle in self.needles:
                if needle in value:
                    value = value.replace(needle, self.redacted)
        if self.at in value and self.scheme in value:
            value = self.userinfo.sub(self.userinfo_replacement, value)
        return value


@dataclass(frozen=True, slots=True)
class _Needles:
    """The secrets as text and as bytes."""

    text: _Side[str]
    data: _Side[bytes]


_LOOP_AT_MOST = 3


_lock = threading.Lock()
_needles: _Needles | None = None
_registered: set[str] = set()


def _is_secret(value: str) -> bool:
    return len(value) >= MIN_SECRET_LENGTH


def _url_password(value: str) -> list[str]:
    """The password (and whole userinfo) of ``value`` if it is a URL with credentials."""
    if "://" not in value or "@" not in value:
        return []
    try:
        parts = urlsplit(value.strip())
        password = parts.password
    except ValueError:
        return []
    if not password:
        return []
    userinfo = parts.netloc.rpartition("@")[0]
    return [password, unquote(password), userinfo]


def environment_secrets(environ: Iterable[tuple[str, str]] | None = None) -> set[str]:
    """The secret values of the environment (see the module docstring), untransformed."""
    items = os.environ.items() if environ is None else environ
    found: set[str] = set()
    for name, value in items:
        if SECRET_NAME.search(name):
            found.add(value.strip())
        found.update(_url_password(value))
    return {v for v in found if _is_secret(v)}


def _variants(value: str) -> set[str]:
    """``value`` as the writers may spell it: raw, JSON-escaped, percent-encoded."""
    return {
        value,
        json.dumps(value)[1:-1],
        json.dumps(value, ensure_ascii=False)[1:-1],
        quote(value, safe=""),
    }


def _build() -> _Needles:
    values = environment_secrets() | _registered
    spelled = {v for value in values for v in _variants(value) if _is_secret(v)}
    ordered = tuple(sorted(spelled, key=lambda s: (-len(s), s)))
    data = tuple(s.encode("utf-8") for s in ordered)
    few = len(ordered) <= _LOOP_AT_MOST
    text_re = None if few else re.compile("|".join(re.escape(s) for s in ordered))
    data_re = None if few else re.compile(b"|".join(re.escape(s) for s in data))
    return _Needles(
        _Side(ordered, text_re, REDACTED, _USERINFO_TEXT, _REPLACE_TEXT, "@", "://"),
        _Side(data, data_re, _REDACTED_BYTES, _USERINFO_BYTES, _REPLACE_BYTES, b"@", b"://"),
    )


def _current() -> _Needles:
    global _needles
    needles = _needles
    if needles is None:
        with _lock:
            if _needles is None:
                _needles = _build()
            needles = _needles
    return needles


def refresh() -> None:
    """Collect the environment's secrets again (the runner calls this as each run starts)."""
    global _needles
    with _lock:
        _needles = _build()


def register(*values: str) -> None:
    """Treat ``values`` as secrets too, for the rest of the process.

    For a key read from a variable whose name the pattern does not cover
    (``agent.api_key_env=MY_LLM_CREDENTIAL``). Values shorter than
    :data:`MIN_SECRET_LENGTH` are ignored (see there).
    """
    global _needles
    new = {v.strip() for v in values if v and _is_secret(v.strip())} - _registered
    if not new:
        return
    with _lock:
        _registered.update(new)
        _needles = _build()


def secret_values() -> tuple[str, ...]:
    """Every string :func:`scrub` removes, longest first (for tests and diagnostics)."""
    return _current().text.needles


def scrub(text: str) -> str:
    """``text`` with every secret value and every URL's userinfo replaced by ``[redacted]``."""
    return _current().text.scrub(text)


def scrub_bytes(data: bytes) -> bytes:
    """:func:`scrub` for UTF-8 bytes (a JSON line about to be appended)."""
    return _current().data.scrub(data)


def redact(value: Any) -> Any:
    """``value`` with :func:`scrub` applied to every string in it (dicts and lists, recursively).

    Tuples become lists, as JSON stores them.
    """
    if isinstance(value, str):
        return scrub(value)
    if isinstance(value, dict):
        return {(scrub(k) if isinstance(k, str) else k): redact(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [redact(v) for v in value]
    return value


def scrub_hydra_files(run_dir: Path) -> None:
    """Scrub the files Hydra wrote before the run began, and collect the secrets afresh.

    Hydra saves the overrides and the resolved ``hydra`` node (``hydra.job.env_set`` included)
    in ``.hydra/`` and, for a sweep, ``multirun.yaml``, before the sandbox's code runs: a key or
    a base URL with credentials given there must not stay on disk. Files are rewritten only when
    something was removed (atomically, so a kill leaves the old or the new version).
    """
    from sandbox import store
    from sandbox.budget import MULTIRUN_YAML, find_sweep_dir

    refresh()
    paths = sorted((run_dir / ".hydra").glob("*.yaml"))
    sweep_dir = find_sweep_dir(run_dir)
    if sweep_dir is not None:
        paths.append(sweep_dir / MULTIRUN_YAML)
    for path in paths:
        try:
            text = path.read_text(encoding="utf-8")
        except (OSError, UnicodeDecodeError):
            continue
        clean = scrub(text)
        if clean != text:
            store.write_text_atomic(path, clean)


class ScrubFilter(logging.Filter):
    """A logging filter that scrubs each record's message (and traceback) before a handler.

    Attach it to the handlers that write files or the terminal:
    ``handler.addFilter(ScrubFilter())``.
    """

    def filter(self, record: logging.LogRecord) -> bool:
        message = record.getMessage()
        clean = scrub(message)
        if clean != message:
            record.msg, record.args = clean, None
        if record.exc_info and not record.exc_text:
            record.exc_text = logging.Formatter().formatException(record.exc_info)
        if record.exc_text:
            record.exc_text = scrub(record.exc_text)
        return True
