"""Loading and validating task and prompt banks (YAML, CSV, TSV).

A *bank* is the list of things an environment can put in front of an agent. Two shapes exist:

- **Task banks** (:func:`load_tasks`): YAML files such as the shipped ``data/tasks.yaml``, a
  top-level mapping with ``version`` and a ``tasks:`` list. Every entry becomes a :class:`Task`
  with researcher-only labels (category, pay, effort, aversiveness) and an optional
  :class:`Checker` that grades the agent's answer. A CSV or TSV prompt table is accepted too and
  converted (see :func:`load_tasks`).
- **Prompt tables** (:func:`load_prompts`): CSV or TSV files with the columns ``content``,
  ``subcategory``, ``category``, the shape of BailBench (Ensign, Sleight, Fish 2025). Every row
  becomes a :class:`PromptRow`.

Every failure, for any input bytes, raises :class:`sandbox.errors.BankError` with one message
naming the file, the entry (index and id when known) and the field, what was expected, what
came, and the fix. Nothing else escapes the loaders.

Work is bounded on any input. YAML is read with libyaml's parser where PyYAML has it (about
five times faster than the pure-Python one), through a loader that refuses aliases expanding
the document past :data:`MAX_YAML_EXPANSION` times its own size (a "billion laughs") and
aliases that contain themselves. Messages show at most a few dozen characters of any value,
without ever rendering the whole of it. A bank file is at most :data:`MAX_BANK_BYTES`; one over
:data:`LARGE_BANK_BYTES` is announced with a warning before it is read (it takes seconds), and
every load is logged with its time at INFO. A CSV/TSV cell is at most :data:`MAX_CELL_CHARS`.
"""

from __future__ import annotations

import csv
import difflib
import io
import logging
import math
import re
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from functools import lru_cache
from importlib import resources
from pathlib import Path
from typing import Any

import yaml

from sandbox.errors import BankError

__all__ = [
    "CHECKER_TYPES",
    "LARGE_BANK_BYTES",
    "MAX_BANK_BYTES",
    "MAX_CELL_CHARS",
    "MAX_YAML_EXPANSION",
    "PROMPT_COLUMNS",
    "TASK_FIELDS",
    "Checker",
    "PromptRow",
    "Task",
    "default_task_bank_path",
    "load_prompts",
    "load_tasks",
    "read_yaml",
    "resolve_bank",
    "show_value",
]

log = logging.getLogger(__name__)

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

#: The columns a prompt table must have (more are allowed and ignored).
PROMPT_COLUMNS: tuple[str, ...] = ("content", "subcategory", "category")

#: The fields of a task entry in a YAML bank; ``checker`` is optional.
TASK_FIELDS: tuple[str, ...] = (
    "id",
    "title",
    "prompt",
    "category",
    "pay",
    "effort",
    "aversiveness",
    "checker",
)
_REQUIRED_TASK_FIELDS = TASK_FIELDS[:-1]

#: Top-level keys a YAML task bank may hold.
_TOP_LEVEL_KEYS: tuple[str, ...] = ("version", "tasks", "name", "description")

#: Checker types and what their ``answer`` must be.
CHECKER_TYPES: dict[str, str] = {
    "number": "a number; the last number in the answer text must equal it (within tolerance)",
    "count": "a whole number >= 0; the last number in the answer text must equal it",
    "exact": "a string; it must appear in the answer text as a whole word or phrase",
    "sequence": "a list of items (or one comma-separated string); they must appear in this "
    "order, comma or space separated, in the answer text",
}

#: Aversiveness given to rows of a CSV/TSV table converted to tasks without that column.
DEFAULT_TABLE_AVERSIVENESS = 0.5

_SUFFIX_DELIMITERS: dict[str, str] = {".csv": ",", ".tsv": "\t"}
_YAML_SUFFIXES = (".yaml", ".yml")

# Numbers in free text: thousands separators only in groups of three, so "1,234" is one number
# while "3,5" (a list) is two.
_NUMBER_RE = re.compile(r"-?(?:\d{1,3}(?:,\d{3})+|\d+)(?:\.\d+)?|-?\.\d+")
_ITEM_SPLIT_RE = re.compile(r"[,;\s]+")
_ITEM_STRIP = ".!?:\"'()[]{}<>*`“”‘’"
_SPACE_RE = re.compile(r"\s+")


# --------------------------------------------------------------------------------------------
# Data types
# --------------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Checker:
    """How the answer to a checkable task is graded.

    Attributes:
        type: One of :data:`CHECKER_TYPES`.
        answer: The correct answer: a float for ``number``, an int for ``count``, a string for
            ``exact``, a tuple of strings for ``sequence``.
        tolerance: Absolute tolerance of a ``number`` checker.
    """

    type: str
    answer: float | int | str | tuple[str, ...]
    tolerance: float = 0.0

    @property
    def expected(self) -> str:
        """The answer as a string an agent could submit (``"42"``, ``"a, b, c"``)."""
        if isinstance(self.answer, tuple):
            return ", ".join(self.answer)
        if isinstance(self.answer, float):
            if self.answer.is_integer() and abs(self.answer) < 1e15:
                return str(int(self.answer))  # "150", not "150.0"
            text = repr(self.answer)
            # No exponent notation: the grader reads plain decimals only.
            return text if "e" not in text else f"{self.answer:.15f}".rstrip("0")
        return str(self.answer)

    def grade(self, text: str) -> bool:
        """Whether ``text`` holds the correct answer, tolerating prose around it.

        ``number`` and ``count`` read the last number in the text ("so the total is 42." → 42);
        ``exact`` looks for the answer as a whole word or phrase, ignoring case and spacing;
        ``sequence`` looks for the items in order, comma or space separated, ignoring case.
        """
        if self.type in ("number", "count"):
            found = _NUMBER_RE.findall(text)
            if not found:
                return False
            value = float(found[-1].replace(",", ""))
            assert isinstance(self.answer, int | float)
            # A float's rounding error must not fail "0.3" against 0.1 + 0.2.
            slack = self.tolerance + 1e-9 * max(1.0, abs(float(self.answer)))
            return abs(value - float(self.answer)) <= slack
        if self.type == "exact":
            assert isinstance(self.answer, str)
            return _phrase_pattern(self.answer).search(_normalise(text)) is not None
        if self.type == "sequence":
            assert isinstance(self.answer, tuple)
            want = _answer_items(self.answer)
            got = _items(text)
            if "and" not in want:
                # "apple, banana and cherry" lists the same items as "apple, banana, cherry".
                got = [item for item in got if item != "and"]
            width = len(want)
            return any(got[i : i + width] == want for i in range(len(got) - width + 1))
        raise AssertionError(f"unknown checker type {self.type!r}")  # validated at load


@dataclass(frozen=True, slots=True)
class Task:
    """One task an environment can offer.

    Attributes:
        id: Unique id in the bank (``cre-01``).
        title: Short name shown to the agent.
        prompt: The full request the agent reads.
        category: Researcher-only label (never shown to the agent).
        pay: Coins paid for the task done (correct, for checkable tasks); >= 0.
        effort: Relative effort, > 0 (1 is an ordinary task).
        aversiveness: How aversive the task is, 0 (not at all) to 1 (maximally).
        checker: How the answer is graded, or ``None`` for an open task.
    """

    id: str
    title: str
    prompt: str
    category: str
    pay: float
    effort: float
    aversiveness: float
    checker: Checker | None = None

    @property
    def checkable(self) -> bool:
        """Whether the task has a checker."""
        return self.checker is not None


@dataclass(frozen=True, slots=True)
class PromptRow:
    """One row of a prompt table.

    Attributes:
        id: File stem and 1-based row number (``bailBench-0001``).
        content: The prompt text.
        subcategory: The row's subcategory.
        category: The row's category.
    """

    id: str
    content: str
    subcategory: str
    category: str


# --------------------------------------------------------------------------------------------
# Public functions
# --------------------------------------------------------------------------------------------


def default_task_bank_path() -> Path:
    """The task bank shipped with the package (``environments/data/tasks.yaml``)."""
    return Path(str(resources.files("environments.data").joinpath("tasks.yaml")))


def resolve_bank(spec: str | Path) -> Path:
    """Turn a bank spec into an existing file path.

    Args:
        spec: ``"default"`` for the shipped task bank, the stem of another shipped bank in
            ``environments/data`` (``"tasks"``), or a path to a YAML, CSV or TSV file.

    Raises:
        BankError: The file does not exist (with close names from its folder) or is a folder.
    """
    text = str(spec).strip()
    if text == "default":
        return default_task_bank_path()
    shipped = default_task_bank_path().parent
    if "/" not in text and "\\" not in text and not Path(text).suffix:
        for suffix in (*_YAML_SUFFIXES, *_SUFFIX_DELIMITERS):
            candidate = shipped / f"{text}{suffix}"
            if candidate.is_file():
                return candidate
    path = Path(text).expanduser()
    _require_file(path)
    return path


def load_tasks(path: str | Path) -> tuple[Task, ...]:
    """Load and validate a task bank.

    A YAML bank is a mapping with ``version`` and ``tasks`` (a list of entries with the fields of
    :class:`Task`; ``checker`` is a mapping with ``type``, ``answer`` and, for ``number``, an
    optional ``tolerance``). A CSV or TSV prompt table (see :func:`load_prompts`) is accepted
    too: each row becomes a task with ``id`` from the row, ``title`` = subcategory, ``prompt`` =
    content, ``category`` = category, ``pay`` = 1, ``effort`` = 1, no checker, and
    ``aversiveness`` from an optional ``aversiveness`` column (a number in [0, 1]; a blank cell
    or no column gives :data:`DEFAULT_TABLE_AVERSIVENESS`, 0.5).

    Args:
        path: The bank file (``.yaml``, ``.yml``, ``.csv`` or ``.tsv``).

    Returns:
        The tasks in file order. Loads are cached by path, size and modification time.

    Raises:
        BankError: For any problem, with one message naming file, entry, field and fix.
    """
    path = Path(path)
    stat = _require_file(path)
    return _load_tasks_cached(path.resolve(), stat[0], stat[1])


def load_prompts(path: str | Path) -> tuple[PromptRow, ...]:
    """Load and validate a prompt table (CSV or TSV, delimiter chosen by suffix).

    The first line must be a header with at least the columns ``content``, ``subcategory`` and
    ``category`` (other columns are allowed and ignored). Every cell of those columns must be
    non-empty. Row ids are ``<file stem>-<1-based row number, 4 digits>``.

    Raises:
        BankError: For any problem, with one message naming file, row, column and fix.
    """
    path = Path(path)
    stat = _require_file(path)
    return _load_prompts_cached(path.resolve(), stat[0], stat[1])


# --------------------------------------------------------------------------------------------
# Files
# --------------------------------------------------------------------------------------------


def _require_file(path: Path) -> tuple[int, int]:
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


def _read_text(path: Path) -> str:
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


def _suffix_of(path: Path) -> str:
    suffix = path.suffix.lower()
    if suffix not in (*_YAML_SUFFIXES, *_SUFFIX_DELIMITERS):
        raise BankError(
            f"{path.name}: unknown bank format {path.suffix or '(no suffix)'!r}; expected .yaml, "
            ".yml, .csv or .tsv. Fix: rename the file with the suffix of its format."
        )
    return suffix


# --------------------------------------------------------------------------------------------
# YAML task banks
# --------------------------------------------------------------------------------------------


@lru_cache(maxsize=32)
def _load_tasks_cached(path: Path, size: int, mtime_ns: int) -> tuple[Task, ...]:
    """Load tasks; the (size, mtime) arguments only key the cache so an edited file reloads."""
    del size, mtime_ns
    suffix = _suffix_of(path)
    start = time.perf_counter()
    if suffix in _SUFFIX_DELIMITERS:
        tasks = _tasks_from_table(path, _SUFFIX_DELIMITERS[suffix])
    else:
        tasks = _tasks_from_yaml(path.name, read_yaml(path))
    log.info("%s: %d tasks loaded in %.2f s", path.name, len(tasks), time.perf_counter() - start)
    return tasks


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
    text = _read_text(path)
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
        problem = _one_line(err.problem or err.context or "invalid YAML")[:200]
        raise BankError(
            f"{path.name}: bad YAML{where}: {problem}. Fix: correct the syntax there (quote "
            "strings holding ':' or '#', indent list items consistently)."
        ) from None
    except yaml.YAMLError as err:  # e.g. a reader error on a control character
        problem = _one_line(str(err))[:200]
        raise BankError(f"{path.name}: bad YAML: {problem}. Fix: correct it.") from None
    except RecursionError:
        raise BankError(
            f"{path.name}: bad YAML: nesting too deep to read. Fix: flatten the structure."
        ) from None
    except ValueError as err:  # e.g. an integer of more than 4,300 digits
        raise BankError(
            f"{path.name}: bad YAML: a value cannot be read: {_one_line(str(err))[:120]}. "
            "Fix: shorten it, or quote it to make it text."
        ) from None
    finally:
        loader.dispose()


def _tasks_from_yaml(name: str, data: object) -> tuple[Task, ...]:
    if data is None:
        raise BankError(
            f"{name}: the bank is empty; expected a mapping with 'version' and 'tasks'. "
            "Fix: add 'version: 1' and a 'tasks:' list of task entries."
        )
    if not isinstance(data, dict):
        raise BankError(
            f"{name}: top level: expected a mapping with 'version' and 'tasks', got "
            f"{_kind(data)}. Fix: write 'version: 1' and put the task entries under 'tasks:'."
        )
    for key in data:
        if key not in _TOP_LEVEL_KEYS:
            raise BankError(
                f"{name}: top level: unknown key {_show(key)}; expected only "
                f"{', '.join(_TOP_LEVEL_KEYS)}.{_did_you_mean(key, _TOP_LEVEL_KEYS)} "
                "Fix: rename or remove it."
            )
    for key in ("version", "tasks"):
        if key not in data:
            raise BankError(
                f"{name}: top level: missing field '{key}'. Fix: add "
                + ("'version: 1' at the top." if key == "version" else "a 'tasks:' list.")
            )
    version = data["version"]
    if isinstance(version, bool) or not isinstance(version, int | str):
        raise BankError(
            f"{name}: top level, field 'version': expected an integer or string, got "
            f"{_kind(version)}. Fix: write 'version: 1'."
        )
    entries = data["tasks"]
    if not isinstance(entries, list):
        raise BankError(
            f"{name}: field 'tasks': expected a list of task entries, got {_kind(entries)}. "
            "Fix: write each task as a list item starting with '- id: ...'."
        )
    if not entries:
        raise BankError(
            f"{name}: field 'tasks': the list is empty; expected at least one task. "
            "Fix: add task entries."
        )
    tasks: list[Task] = []
    seen: dict[str, int] = {}
    for index, entry in enumerate(entries):
        task = _task_from_entry(name, index, entry)
        if task.id in seen:
            raise BankError(
                f"{name}: task #{index} (id {_show(task.id)}), field 'id': duplicate id, already "
                f"used by task #{seen[task.id]}. Fix: give each task a unique id."
            )
        seen[task.id] = index
        tasks.append(task)
    return tuple(tasks)


def _task_from_entry(name: str, index: int, entry: object) -> Task:
    where = f"{name}: task #{index}"
    if not isinstance(entry, dict):
        raise BankError(
            f"{where}: expected a mapping with fields {', '.join(_REQUIRED_TASK_FIELDS)}, got "
            f"{_kind(entry)}. Fix: write the entry as 'key: value' lines under '- '."
        )
    raw_id = entry.get("id")
    if isinstance(raw_id, str) and raw_id.strip():
        where = f"{where} (id {_show(raw_id)})"
    for key in entry:
        if key not in TASK_FIELDS:
            raise BankError(
                f"{where}: unknown field {_show(key)}; expected only {', '.join(TASK_FIELDS)}."
                f"{_did_you_mean(key, TASK_FIELDS)} Fix: rename or remove it."
            )
    for field in _REQUIRED_TASK_FIELDS:
        if field not in entry:
            raise BankError(
                f"{where}, field {field!r}: missing; expected {_FIELD_EXPECT[field]}. "
                f"Fix: add '{field}: ...' to the entry."
            )
    strings = {f: _string(where, f, entry[f]) for f in ("id", "title", "prompt", "category")}
    pay = _number(where, "pay", entry["pay"], low=0.0)
    effort = _number(where, "effort", entry["effort"], low=0.0, low_open=True)
    aversiveness = _number(where, "aversiveness", entry["aversiveness"], low=0.0, high=1.0)
    checker = _checker(where, entry.get("checker"))
    return Task(
        id=strings["id"],
        title=strings["title"],
        prompt=strings["prompt"],
        category=strings["category"],
        pay=pay,
        effort=effort,
        aversiveness=aversiveness,
        checker=checker,
    )


_FIELD_EXPECT: dict[str, str] = {
    "id": "a non-empty string unique in the bank, like 'cre-01'",
    "title": "a non-empty string",
    "prompt": "a non-empty string (the full request the agent reads)",
    "category": "a non-empty string",
    "pay": "a number >= 0",
    "effort": "a number > 0",
    "aversiveness": "a number from 0 to 1",
}


def _string(where: str, field: str, value: object) -> str:
    if not isinstance(value, str) or not value.strip():
        got = "an empty string" if isinstance(value, str) else _kind(value)
        fix = "quote it" if value is not None and not isinstance(value, str) else "fill it in"
        raise BankError(
            f"{where}, field {field!r}: expected {_FIELD_EXPECT[field]}, got {got}. Fix: {fix}."
        )
    return value.strip()


def _number(
    where: str,
    field: str,
    value: object,
    *,
    low: float | None = None,
    high: float | None = None,
    low_open: bool = False,
) -> float:
    expect = _FIELD_EXPECT.get(field, "a number")
    if isinstance(value, bool) or not isinstance(value, int | float):
        fix = "remove the quotes" if isinstance(value, str) else "write a plain number"
        raise BankError(
            f"{where}, field {field!r}: wrong type: expected {expect}, got {_kind(value)}. "
            f"Fix: {fix}."
        )
    try:
        number = float(value)
    except OverflowError:
        number = math.inf
    if not math.isfinite(number):
        raise BankError(
            f"{where}, field {field!r}: expected {expect}, got {_show(value)}. "
            "Fix: write a finite number."
        )
    too_low = low is not None and (number <= low if low_open else number < low)
    too_high = high is not None and number > high
    if too_low or too_high:
        raise BankError(
            f"{where}, field {field!r}: out of range: expected {expect}, got {_show(value)}. "
            "Fix: change the value."
        )
    return number


def _checker(where: str, raw: object) -> Checker | None:
    if raw is None:
        return None
    where = f"{where}, field 'checker'"
    types = ", ".join(CHECKER_TYPES)
    if not isinstance(raw, dict):
        raise BankError(
            f"{where}: expected a mapping with 'type' ({types}) and 'answer', got {_kind(raw)}. "
            "Fix: write 'checker: {type: number, answer: 42}' or remove the field."
        )
    for key in raw:
        if key not in ("type", "answer", "tolerance"):
            raise BankError(
                f"{where}: unknown key {_show(key)}; expected type, answer, tolerance."
                f"{_did_you_mean(key, ('type', 'answer', 'tolerance'))} Fix: rename or remove it."
            )
    kind = raw.get("type")
    if not isinstance(kind, str) or kind not in CHECKER_TYPES:
        got = "nothing" if kind is None else _show(kind)
        raise BankError(
            f"{where}, key 'type': unknown checker type {got}; expected one of {types}."
            f"{_did_you_mean(kind, tuple(CHECKER_TYPES))} Fix: use one of those types."
        )
    if "answer" not in raw or raw["answer"] is None:
        raise BankError(
            f"{where}, key 'answer': missing; a {kind!r} checker expects {CHECKER_TYPES[kind]}. "
            "Fix: add 'answer: ...'."
        )
    answer = raw["answer"]
    if "tolerance" in raw and kind != "number":
        raise BankError(
            f"{where}, key 'tolerance': only a 'number' checker takes a tolerance, this one is "
            f"{kind!r}. Fix: remove 'tolerance' or use type 'number'."
        )
    bad = BankError(
        f"{where}, key 'answer': wrong type for a {kind!r} checker: expected "
        f"{CHECKER_TYPES[kind]}, got {_kind(answer)}. Fix: correct the answer (quote strings "
        "that look like numbers or dates)."
    )
    if kind == "number":
        value = _number(where, "answer", answer)
        tolerance = 0.0
        if "tolerance" in raw:
            tolerance = _number(where, "tolerance", raw["tolerance"], low=0.0)
        return Checker("number", value, tolerance)
    if kind == "count":
        if isinstance(answer, bool) or not isinstance(answer, int) or answer < 0:
            raise bad
        return Checker("count", int(answer))
    if kind == "exact":
        if not isinstance(answer, str) or not answer.strip():
            raise bad
        return Checker("exact", answer.strip())
    # sequence
    if isinstance(answer, str):
        items = tuple(part.strip() for part in answer.split(",") if part.strip())
    elif isinstance(answer, list) and all(
        isinstance(item, str | int | float) and not isinstance(item, bool) for item in answer
    ):
        items = tuple(str(item).strip() for item in answer)
    else:
        raise bad
    if not items or not all(items) or not _items(" ".join(items)):
        raise bad
    return Checker("sequence", items)


# --------------------------------------------------------------------------------------------
# CSV / TSV tables
# --------------------------------------------------------------------------------------------


@lru_cache(maxsize=32)
def _load_prompts_cached(path: Path, size: int, mtime_ns: int) -> tuple[PromptRow, ...]:
    """Load a prompt table; (size, mtime) only key the cache."""
    del size, mtime_ns
    suffix = _suffix_of(path)
    if suffix not in _SUFFIX_DELIMITERS:
        raise BankError(
            f"{path.name}: a prompt table must be a .csv or .tsv file, got {suffix!r}. "
            "Fix: use load_tasks for YAML banks, or export the table as CSV."
        )
    rows, _ = _read_table(path, _SUFFIX_DELIMITERS[suffix])
    return rows


def _tasks_from_table(path: Path, delimiter: str) -> tuple[Task, ...]:
    rows, aversiveness = _read_table(path, delimiter)
    return tuple(
        Task(
            id=row.id,
            title=row.subcategory,
            prompt=row.content,
            category=row.category,
            pay=1.0,
            effort=1.0,
            aversiveness=level,
        )
        for row, level in zip(rows, aversiveness, strict=True)
    )


def _read_table(path: Path, delimiter: str) -> tuple[tuple[PromptRow, ...], list[float]]:
    """Rows of a CSV/TSV prompt table and each row's aversiveness (default when absent)."""
    name = path.name
    text = _read_text(path)
    if not text.strip():
        raise BankError(
            f"{name}: the file is empty; expected a header line "
            f"'{delimiter.join(PROMPT_COLUMNS)}' and at least one row. Fix: add them."
        )
    reader = csv.reader(io.StringIO(text, newline=""), delimiter=delimiter, strict=True)
    last_line = 0  # the line the last complete record ended on
    # The csv module's cell limit is process-wide (131,072 by default); set ours while reading.
    previous_limit = csv.field_size_limit(MAX_CELL_CHARS)
    try:
        header = [cell.strip() for cell in next(reader)]
        last_line = reader.line_num
        columns = {column: header.index(column) for column in PROMPT_COLUMNS if column in header}
        missing = [column for column in PROMPT_COLUMNS if column not in columns]
        if missing:
            raise BankError(
                f"{name}: header (line 1): wrong columns: expected {', '.join(PROMPT_COLUMNS)} "
                f"(others allowed), found {_show(header, 120)[1:-1] or 'nothing'}; missing "
                f"{', '.join(missing)}. Fix: make the first line the header "
                f"'{delimiter.join(PROMPT_COLUMNS)}'"
                + (" (this file is read as TSV: tab-separated)." if delimiter == "\t" else ".")
            )
        duplicated = sorted({c for c in header if header.count(c) > 1 and c in columns})
        if duplicated:
            raise BankError(
                f"{name}: header (line 1): column {duplicated[0]!r} appears twice. "
                "Fix: keep one column of each name."
            )
        level_at = header.index("aversiveness") if "aversiveness" in header else None
        rows: list[PromptRow] = []
        levels: list[float] = []
        stem = path.stem
        for cells in reader:
            record_line, last_line = last_line + 1, reader.line_num
            if not cells or (len(cells) == 1 and not cells[0].strip()):
                continue  # blank lines separate nothing and are harmless
            number = len(rows) + 1
            row_id = f"{stem}-{number:04d}"
            lines = f"line {record_line}" + (
                f"-{reader.line_num}" if reader.line_num > record_line else ""
            )
            where = f"{name}: row {number} ({lines}, id {row_id!r})"
            if len(cells) != len(header):
                raise BankError(
                    f"{where}: expected {len(header)} fields like the header, found {len(cells)}. "
                    "Fix: quote cells that contain the delimiter or line breaks."
                )
            values = {column: cells[at].strip() for column, at in columns.items()}
            for column in PROMPT_COLUMNS:
                if not values[column]:
                    raise BankError(
                        f"{where}, column {column!r}: expected non-empty text, got an empty "
                        "cell. Fix: fill it in or delete the row."
                    )
            rows.append(
                PromptRow(row_id, values["content"], values["subcategory"], values["category"])
            )
            levels.append(_table_level(where, cells[level_at] if level_at is not None else ""))
    except csv.Error as err:
        kind = "TSV" if delimiter == "\t" else "CSV"
        if "field larger than field limit" in str(err):
            raise BankError(
                f"{name}: the {kind} record starting at line {last_line + 1} has a cell longer "
                f"than the limit of {MAX_CELL_CHARS:,} characters. Fix: shorten that cell (or "
                "split its text over several rows); if no cell there is meant to be that long, "
                "close the quote opened in it."
            ) from None
        raise BankError(
            f"{name}: unreadable {kind} at line {reader.line_num}: {err}. "
            "Fix: check quoting on that line."
        ) from None
    finally:
        csv.field_size_limit(previous_limit)
    if not rows:
        raise BankError(
            f"{name}: the table has a header but no rows; expected at least one. Fix: add rows."
        )
    return tuple(rows), levels


def _table_level(where: str, cell: str) -> float:
    if not cell.strip():
        return DEFAULT_TABLE_AVERSIVENESS
    try:
        value = float(cell)
    except ValueError:
        value = math.nan
    if not 0.0 <= value <= 1.0:
        raise BankError(
            f"{where}, column 'aversiveness': expected a number from 0 to 1 (or a blank cell for "
            f"{DEFAULT_TABLE_AVERSIVENESS}), got {_show(cell)}. Fix: correct the cell."
        )
    return value


# --------------------------------------------------------------------------------------------
# Helpers
# --------------------------------------------------------------------------------------------


@lru_cache(maxsize=4096)
def _phrase_pattern(answer: str) -> re.Pattern[str]:
    """The answer of an ``exact`` checker as a whole-word pattern (compiled once)."""
    return re.compile(rf"(?<!\w){re.escape(_normalise(answer))}(?!\w)")


@lru_cache(maxsize=4096)
def _answer_items(answer: tuple[str, ...]) -> list[str]:
    return _items(" ".join(answer))


def _normalise(text: str) -> str:
    return _SPACE_RE.sub(" ", text.casefold()).strip()


def _items(text: str) -> list[str]:
    """Items of a comma/space separated list, case-folded, punctuation around them dropped."""
    stripped = (part.strip(_ITEM_STRIP) for part in _ITEM_SPLIT_RE.split(text.casefold()))
    return [part for part in stripped if part]


def _kind(value: object) -> str:
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
    return f"{kind} {_show(value)}"


def show_value(value: object, limit: int = 60) -> str:
    """A repr of ``value`` cut to ``limit`` characters, built without rendering all of it.

    ``repr()`` of a structure shared through YAML aliases can be gigabytes long; this walks
    only as much of the value as the limit shows. Control and bidi characters appear escaped
    (as ``repr`` escapes them), so the text is safe to print.
    """
    text = _bounded_repr(value, limit + 1)
    return text if len(text) <= limit else text[: limit - 3] + "..."


_show = show_value


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


def _one_line(text: str) -> str:
    return " ".join(text.split())


def _did_you_mean(value: object, choices: Sequence[str] | Mapping[str, Any]) -> str:
    if not isinstance(value, str):
        return ""
    close = difflib.get_close_matches(value, list(choices), n=1, cutoff=0.6)
    return f" Did you mean {close[0]!r}?" if close else ""
