"""Reading a bank file safely, with bounded work on any bytes: the layer under every bank loader.

A bank file is at most :data:`MAX_BANK_BYTES`; one over :data:`LARGE_BANK_BYTES` is announced
with a warning before it is read (it takes seconds). Text is UTF-8 (a byte-order mark is
dropped). YAML is read with libyaml's parser where PyYAML has it (about five times faster than
the pure-Python one), through a loader that refuses aliases expanding the document past
:data:`MAX_YAML_EXPANSION` times its own size (a "billion laughs") and aliases that contain
themselves. Messages show at most a few dozen characters of any value (:func:`show_value`),
without ever rendering the whole of it. Every failure is one :class:`BankError` naming the file,
the place and the fix. The task bank (:mod:`environments.banks`), the prompt tables
(:mod:`environments.prompt_tables`) and the scenario banks (:mod:`environments.scenarios`) read
their files through here.
"""

from __future__ import annotations

import csv
import difflib
import functools
import logging
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import Any, TypeVar

import yaml

from environments.errors import BankError

__all__ = [
    "LARGE_BANK_BYTES",
    "MAX_BANK_BYTES",
    "MAX_CELL_CHARS",
    "MAX_YAML_EXPANSION",
    "SUFFIX_DELIMITERS",
    "YAML_SUFFIXES",
    "cache_key",
    "cached_by_file",
    "describe",
    "did_you_mean",
    "one_line",
    "read_text",
    "read_yaml",
    "require_file",
    "show_value",
    "suffix_of",
    "table_has_column",
]

# One logger for every bank load, whichever module reads the file (`environments.banks`).
log = logging.getLogger("environments.banks")

#: Largest bank file read, in bytes (64 MiB: about 280,000 tasks of the shipped bank's size).
#: Reading a YAML bank of this size takes about a minute and a few GB of memory.
MAX_BANK_BYTES = 64 * 2**20
#: Banks larger than this (4 MiB, about 17,000 tasks) are announced with a warning before reading.
LARGE_BANK_BYTES = 4 * 2**20
#: A YAML document may expand through aliases to at most this many times its own size (counted
#: as characters of scalars plus one per node) plus :data:`_EXPANSION_ALLOWANCE`. A document
#: without aliases never comes near it; a "billion laughs" of 1 KB expands 10^9 times.
MAX_YAML_EXPANSION = 10
_EXPANSION_ALLOWANCE = 1_000_000
#: Longest cell of a CSV/TSV table (1 MiB of text: a prompt is rarely over a few thousand).
MAX_CELL_CHARS = 2**20

#: Table suffixes and their delimiters, and the suffixes of YAML banks.
SUFFIX_DELIMITERS: dict[str, str] = {".csv": ",", ".tsv": "\t"}
YAML_SUFFIXES = (".yaml", ".yml")


# --------------------------------------------------------------------------------------------
# Files
# --------------------------------------------------------------------------------------------


def require_file(path: Path) -> tuple[int, int]:
    """Check ``path`` is a readable file; return (size, mtime_ns) as the cache key."""
    try:
        if path.is_file():
            stat = path.stat()
            return stat.st_size, stat.st_mtime_ns
        exists_as_dir = path.is_dir()
    except (OSError, ValueError) as err:  # e.g. a name too long, or a NUL in the path
        raise BankError(
            f"bank {str(path)!r} cannot be opened: {err}. Fix: check the path."
        ) from None
    if exists_as_dir:
        raise BankError(
            f"bank {str(path)!r} is a folder; expected a .yaml, .csv or .tsv file. "
            "Fix: point at the file inside it."
        )
    folder = path.parent
    hint = ""
    try:
        if folder.is_dir():
            names = sorted(p.name for p in folder.iterdir() if p.is_file())
            close = difflib.get_close_matches(path.name, names, n=3, cutoff=0.5)
            if close:
                hint = " Did you mean " + " or ".join(repr(str(folder / c)) for c in close) + "?"
            elif names:
                shown = ", ".join(names[:8]) + (", ..." if len(names) > 8 else "")
                hint = f" Files in {str(folder)!r}: {shown}."
        else:
            hint = f" The folder {str(folder)!r} does not exist either."
    except OSError:
        pass
    raise BankError(
        f"bank file {str(path)!r} not found.{hint} Fix: give an existing .yaml, .csv or .tsv "
        "file, or 'default' for the shipped bank."
    )


def cache_key(path: str | Path) -> tuple[Path, int, int]:
    """``(resolved path, size, mtime_ns)`` of an existing bank file: the key a loader's cache
    is indexed by, so that an edited file is read again.

    Raises:
        BankError: The file does not exist, cannot be opened, or is a folder.
    """
    path = Path(path)
    size, mtime_ns = require_file(path)
    return path.resolve(), size, mtime_ns


_T = TypeVar("_T")


def cached_by_file(load: Callable[[Path], _T]) -> Callable[[str | Path], _T]:
    """Cache ``load(path)`` by the file's :func:`cache_key`: an edited file is read again.

    The decorated loader takes ``str`` or :class:`~pathlib.Path` and checks the file exists
    first (:func:`require_file`); ``load`` receives the resolved path. The 32 latest loads are
    kept.
    """

    @functools.lru_cache(maxsize=32)
    def cached(path: Path, size: int, mtime_ns: int) -> _T:
        del size, mtime_ns  # they only key the cache
        return load(path)

    @functools.wraps(load)
    def loader(path: str | Path) -> _T:
        return cached(*cache_key(path))

    return loader


def read_text(path: Path) -> str:
    """The file's text, decoded as UTF-8 (a byte-order mark is dropped); at most MAX_BANK_BYTES."""
    try:
        with path.open("rb") as file:
            raw = file.read(MAX_BANK_BYTES + 1)
    except OSError as err:
        raise BankError(f"{path.name}: cannot read {str(path)!r}: {err.strerror or err}.") from None
    if len(raw) > MAX_BANK_BYTES:
        raise BankError(
            f"{path.name}: the bank is larger than the limit of {MAX_BANK_BYTES // 2**20} MiB "
            f"(about 280,000 tasks). Fix: split it into several banks and run each, or sample "
            "the tasks you need into a smaller file."
        )
    if len(raw) > LARGE_BANK_BYTES:
        log.warning(
            "%s: reading a large bank (%.1f MB); this takes a few seconds per 10 MB",
            path.name,
            len(raw) / 1e6,
        )
    try:
        return raw.decode("utf-8-sig")
    except UnicodeDecodeError as err:
        line = raw[: err.start].count(b"\n") + 1
        raise BankError(
            f"{path.name}: not UTF-8 text: byte 0x{raw[err.start]:02x} at line {line} (byte "
            f"{err.start}) cannot be decoded. Fix: re-save the file as UTF-8."
        ) from None


def table_has_column(path: Path, delimiter: str, column: str) -> bool:
    """Whether the header (first line) of a CSV/TSV table names ``column``.

    Reads only the first line (at most :data:`MAX_CELL_CHARS` characters); an unreadable file
    answers ``False``, and the table's own reader then says what is wrong with it.
    """
    try:
        with path.open(encoding="utf-8-sig", newline="") as file:
            line = file.readline(MAX_CELL_CHARS)
    except (OSError, UnicodeDecodeError):
        return False
    try:
        header = next(csv.reader([line], delimiter=delimiter), [])
    except csv.Error:
        return False
    return column in (cell.strip() for cell in header)


def suffix_of(path: Path) -> str:
    suffix = path.suffix.lower()
    if suffix not in (*YAML_SUFFIXES, *SUFFIX_DELIMITERS):
        raise BankError(
            f"{path.name}: unknown bank format {path.suffix or '(no suffix)'!r}; expected .yaml, "
            ".yml, .csv or .tsv. Fix: rename the file with the suffix of its format."
        )
    return suffix


# --------------------------------------------------------------------------------------------
# YAML, bounded
# --------------------------------------------------------------------------------------------


# libyaml's parser where PyYAML was built with it; the constructor is the same safe one.
_SafeLoader: type[yaml.SafeLoader] = getattr(yaml, "CSafeLoader", yaml.SafeLoader)
if not getattr(yaml, "__with_libyaml__", False):  # pragma: no cover - depends on the build
    _SafeLoader = yaml.SafeLoader


class _ExpansionError(Exception):
    """A document whose aliases expand too far, or contain themselves (internal)."""

    def __init__(self, problem: str, node: yaml.Node) -> None:
        super().__init__(problem)
        self.problem = problem
        self.line = node.start_mark.line + 1 if node.start_mark else 0


class _BankLoader(_SafeLoader):  # type: ignore[misc, valid-type]
    """PyYAML's safe loader, refusing alias expansion past the document's budget."""

    budget = _EXPANSION_ALLOWANCE
    may_alias = True

    def get_single_node(self) -> yaml.Node | None:
        node = super().get_single_node()
        if node is not None and self.may_alias:
            _check_expansion(node, self.budget)
        return node


def _check_expansion(root: yaml.Node, budget: int) -> None:
    """Refuse a node graph whose expanded size (scalar characters + nodes) exceeds ``budget``.

    An alias is the node it names, so the graph is a DAG; each distinct collection is sized
    once, children first, with an explicit stack (no recursion on deep documents). A
    collection met again while it is still open contains itself: a cycle.
    """
    scalar = yaml.ScalarNode
    sizes: dict[int, int] = {}
    open_nodes: set[int] = set()
    stack = [root]
    while stack:
        node = stack[-1]
        key = id(node)
        if key in sizes:
            stack.pop()
            continue
        if type(node) is scalar:
            sizes[key] = 1 + len(node.value)
            stack.pop()
            continue
        children = (
            node.value
            if type(node) is yaml.SequenceNode
            else [part for pair in node.value for part in pair]
        )
        if key not in open_nodes:
            open_nodes.add(key)
            pending = [c for c in children if type(c) is not scalar and id(c) not in sizes]
            if pending:
                for child in pending:
                    if id(child) in open_nodes:
                        raise _ExpansionError("an alias refers to a node that contains it", child)
                stack.extend(pending)
                continue
        total = 1
        for child in children:
            total += 1 + len(child.value) if type(child) is scalar else sizes[id(child)]
        if total > budget:
            raise _ExpansionError("aliases expand the document too far", node)
        open_nodes.discard(key)
        sizes[key] = total
        stack.pop()


def read_yaml(path: str | Path) -> object:
    """Read a YAML bank file safely, with bounded work, for any bank loader.

    The file is at most :data:`MAX_BANK_BYTES`, read as UTF-8 with PyYAML's safe constructor
    (on libyaml's parser where available); aliases may expand the document to at most
    :data:`MAX_YAML_EXPANSION` times its size, and none may contain itself.

    Args:
        path: The YAML file.

    Returns:
        The document (``None`` for an empty one).

    Raises:
        BankError: One line naming the file, the place and the fix, for any problem.
    """
    path = Path(path)
    text = read_text(path)
    loader = _BankLoader(text)
    loader.budget = MAX_YAML_EXPANSION * len(text) + _EXPANSION_ALLOWANCE
    loader.may_alias = "&" in text  # no anchor, no alias (an alias to no anchor is an error)
    try:
        return loader.get_single_data()
    except _ExpansionError as err:
        raise BankError(
            f"{path.name}: bad YAML at line {err.line}: {err.problem} (more than "
            f"{MAX_YAML_EXPANSION} times the file's {len(text):,} characters, a 'billion "
            "laughs'). Fix: write the values out instead of repeating them through aliases "
            "(*name)."
        ) from None
    except yaml.MarkedYAMLError as err:
        mark = err.problem_mark or err.context_mark
        where = f" at line {mark.line + 1}, column {mark.column + 1}" if mark else ""
        problem = one_line(err.problem or err.context or "invalid YAML")[:200]
        raise BankError(
            f"{path.name}: bad YAML{where}: {problem}. Fix: correct the syntax there (quote "
            "strings holding ':' or '#', indent list items consistently)."
        ) from None
    except yaml.YAMLError as err:  # e.g. a reader error on a control character
        problem = one_line(str(err))[:200]
        raise BankError(f"{path.name}: bad YAML: {problem}. Fix: correct it.") from None
    except RecursionError:
        raise BankError(
            f"{path.name}: bad YAML: nesting too deep to read. Fix: flatten the structure."
        ) from None
    except ValueError as err:  # e.g. an integer of more than 4,300 digits
        raise BankError(
            f"{path.name}: bad YAML: a value cannot be read: {one_line(str(err))[:120]}. "
            "Fix: shorten it, or quote it to make it text."
        ) from None
    finally:
        loader.dispose()


# --------------------------------------------------------------------------------------------
# Values in messages
# --------------------------------------------------------------------------------------------


def describe(value: object) -> str:
    """``value`` described for a message: its YAML-ish type and a short repr."""
    names = {
        bool: "a boolean",
        int: "an integer",
        float: "a number",
        str: "a string",
        list: "a list",
        dict: "a mapping",
    }
    if value is None:
        return "nothing (null)"
    kind = names.get(type(value), f"a {type(value).__name__}")
    return f"{kind} {show_value(value)}"


def show_value(value: object, limit: int = 60) -> str:
    """A repr of ``value`` cut to ``limit`` characters, built without rendering all of it.

    ``repr()`` of a structure shared through YAML aliases can be gigabytes long; this walks
    only as much of the value as the limit shows. Control and bidi characters appear escaped
    (as ``repr`` escapes them), so the text is safe to print.
    """
    text = _bounded_repr(value, limit + 1)
    return text if len(text) <= limit else text[: limit - 3] + "..."


def _bounded_repr(value: object, budget: int) -> str:
    """About ``budget`` characters of ``repr(value)`` (more only by one element's ellipsis)."""
    if isinstance(value, str):
        return repr(value[:budget])
    if isinstance(value, bool | float) or value is None:
        return repr(value)
    if isinstance(value, int):  # str() of an int over 4,300 digits raises; show its size
        if value.bit_length() < 13_000:
            return repr(value)
        return f"<an integer of about {int(value.bit_length() * 0.30103):,} digits>"
    if isinstance(value, list | tuple | dict):
        opening, closing = ("{", "}") if isinstance(value, dict) else ("[", "]")
        if isinstance(value, tuple):
            opening, closing = "(", ")"
        parts: list[str] = []
        used = 1
        items = value.items() if isinstance(value, dict) else value
        for item in items:
            if used >= budget:
                parts.append("...")
                break
            if isinstance(value, dict):
                key, inner = item
                text = _bounded_repr(key, budget - used) + ": "
                text += _bounded_repr(inner, budget - used - len(text))
            else:
                text = _bounded_repr(item, budget - used)
            parts.append(text)
            used += len(text) + 2
        return opening + ", ".join(parts) + closing
    return f"<{type(value).__name__}>"


def one_line(text: str) -> str:
    return " ".join(text.split())


def did_you_mean(value: object, choices: Sequence[str] | Mapping[str, Any]) -> str:
    if not isinstance(value, str):
        return ""
    close = difflib.get_close_matches(value, list(choices), n=1, cutoff=0.6)
    return f" Did you mean {close[0]!r}?" if close else ""
