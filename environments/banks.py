"""Task banks: loading and validating the tasks an environment offers (YAML, CSV, TSV).

A *bank* is the list of things an environment can put in front of an agent. Two shapes exist:

- **Task banks** (:func:`load_tasks`): YAML files such as the shipped ``data/tasks.yaml``, a
  top-level mapping with ``version`` and a ``tasks:`` list. Every entry becomes a :class:`Task`
  with researcher-only labels (category, pay, effort, aversiveness) and an optional
  :class:`Checker` that grades the agent's answer. A CSV or TSV prompt table is accepted too and
  converted (see :func:`load_tasks`).
- **Prompt tables** (:func:`load_prompts`, in :mod:`environments.prompt_tables`, re-exported
  here): CSV or TSV files with the columns ``content``, ``subcategory``, ``category``, the
  shape of BailBench (Ensign, Sleight, Fish 2025). Every row becomes a :class:`PromptRow`.

Every failure, for any input bytes, raises :class:`~environments.errors.BankError` with one
message naming the file, the entry (index and id when known) and the field, what was expected,
what came, and the fix. Nothing else escapes the loaders. Work is bounded on any input: files
are read through :mod:`environments.bankfiles` (size limits, bounded YAML, bounded messages),
and every load is logged with its time at INFO.
"""

from __future__ import annotations

import logging
import math
import re
import time
from dataclasses import dataclass
from functools import lru_cache
from importlib import resources
from pathlib import Path

from environments.aversiveness import levels_of
from environments.bankfiles import (
    LARGE_BANK_BYTES,
    MAX_BANK_BYTES,
    MAX_CELL_CHARS,
    MAX_YAML_EXPANSION,
    SUFFIX_DELIMITERS,
    YAML_SUFFIXES,
    cached_by_file,
    describe,
    did_you_mean,
    read_yaml,
    require_file,
    show_value,
    suffix_of,
    table_has_column,
)
from environments.errors import BankError
from environments.prompt_tables import (
    DEFAULT_TABLE_AVERSIVENESS,
    PROMPT_COLUMNS,
    PromptRow,
    load_prompts,
    read_table,
)

__all__ = [
    "CHECKER_TYPES",
    "DEFAULT_TABLE_AVERSIVENESS",
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
        for suffix in (*YAML_SUFFIXES, *SUFFIX_DELIMITERS):
            candidate = shipped / f"{text}{suffix}"
            if candidate.is_file():
                return candidate
    path = Path(text).expanduser()
    require_file(path)
    return path


@cached_by_file
def load_tasks(path: Path) -> tuple[Task, ...]:
    """Load and validate a task bank.

    A YAML bank is a mapping with ``version`` and ``tasks`` (a list of entries with the fields of
    :class:`Task`; ``checker`` is a mapping with ``type``, ``answer`` and, for ``number``, an
    optional ``tolerance``). A CSV or TSV prompt table (see :func:`load_prompts`) is accepted
    too: each row becomes a task with ``id`` from the row, ``title`` = subcategory, ``prompt`` =
    content, ``category`` = category, ``pay`` = 1, ``effort`` = 1, no checker, and
    ``aversiveness`` from an optional ``aversiveness`` column (a number in [0, 1]; a blank cell
    gives :data:`DEFAULT_TABLE_AVERSIVENESS`, 0.5). Without the column, each row takes its
    category's level (:mod:`environments.aversiveness`: BailBench's 14 categories and the
    shipped scenario categories), and a category without one takes 0.5 with a warning line.

    Args:
        path: The bank file (``.yaml``, ``.yml``, ``.csv`` or ``.tsv``).

    Returns:
        The tasks in file order. Loads are cached by path, size and modification time.

    Raises:
        BankError: For any problem, with one message naming file, entry, field and fix.
    """
    suffix = suffix_of(path)
    start = time.perf_counter()
    if suffix in SUFFIX_DELIMITERS:
        tasks = _tasks_from_table(path, SUFFIX_DELIMITERS[suffix])
    else:
        tasks = _tasks_from_yaml(path.name, read_yaml(path))
    log.info("%s: %d tasks loaded in %.2f s", path.name, len(tasks), time.perf_counter() - start)
    return tasks


# --------------------------------------------------------------------------------------------
# YAML task banks
# --------------------------------------------------------------------------------------------


def _tasks_from_yaml(name: str, data: object) -> tuple[Task, ...]:
    if data is None:
        raise BankError(
            f"{name}: the bank is empty; expected a mapping with 'version' and 'tasks'. "
            "Fix: add 'version: 1' and a 'tasks:' list of task entries."
        )
    if not isinstance(data, dict):
        raise BankError(
            f"{name}: top level: expected a mapping with 'version' and 'tasks', got "
            f"{describe(data)}. Fix: write 'version: 1' and put the task entries under 'tasks:'."
        )
    for key in data:
        if key not in _TOP_LEVEL_KEYS:
            raise BankError(
                f"{name}: top level: unknown key {show_value(key)}; expected only "
                f"{', '.join(_TOP_LEVEL_KEYS)}.{did_you_mean(key, _TOP_LEVEL_KEYS)} "
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
            f"{describe(version)}. Fix: write 'version: 1'."
        )
    entries = data["tasks"]
    if not isinstance(entries, list):
        raise BankError(
            f"{name}: field 'tasks': expected a list of task entries, got {describe(entries)}. "
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
                f"{name}: task #{index} (id {show_value(task.id)}), field 'id': duplicate id, "
                f"already used by task #{seen[task.id]}. Fix: give each task a unique id."
            )
        seen[task.id] = index
        tasks.append(task)
    return tuple(tasks)


def _task_from_entry(name: str, index: int, entry: object) -> Task:
    where = f"{name}: task #{index}"
    if not isinstance(entry, dict):
        raise BankError(
            f"{where}: expected a mapping with fields {', '.join(_REQUIRED_TASK_FIELDS)}, got "
            f"{describe(entry)}. Fix: write the entry as 'key: value' lines under '- '."
        )
    raw_id = entry.get("id")
    if isinstance(raw_id, str) and raw_id.strip():
        where = f"{where} (id {show_value(raw_id)})"
    for key in entry:
        if key not in TASK_FIELDS:
            raise BankError(
                f"{where}: unknown field {show_value(key)}; expected only {', '.join(TASK_FIELDS)}."
                f"{did_you_mean(key, TASK_FIELDS)} Fix: rename or remove it."
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
        got = "an empty string" if isinstance(value, str) else describe(value)
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
            f"{where}, field {field!r}: wrong type: expected {expect}, got {describe(value)}. "
            f"Fix: {fix}."
        )
    try:
        number = float(value)
    except OverflowError:
        number = math.inf
    if not math.isfinite(number):
        raise BankError(
            f"{where}, field {field!r}: expected {expect}, got {show_value(value)}. "
            "Fix: write a finite number."
        )
    too_low = low is not None and (number <= low if low_open else number < low)
    too_high = high is not None and number > high
    if too_low or too_high:
        raise BankError(
            f"{where}, field {field!r}: out of range: expected {expect}, got {show_value(value)}. "
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
            f"{where}: expected a mapping with 'type' ({types}) and 'answer', got {describe(raw)}. "
            "Fix: write 'checker: {type: number, answer: 42}' or remove the field."
        )
    for key in raw:
        if key not in ("type", "answer", "tolerance"):
            raise BankError(
                f"{where}: unknown key {show_value(key)}; expected type, answer, tolerance."
                f"{did_you_mean(key, ('type', 'answer', 'tolerance'))} Fix: rename or remove it."
            )
    kind = raw.get("type")
    if not isinstance(kind, str) or kind not in CHECKER_TYPES:
        got = "nothing" if kind is None else show_value(kind)
        raise BankError(
            f"{where}, key 'type': unknown checker type {got}; expected one of {types}."
            f"{did_you_mean(kind, tuple(CHECKER_TYPES))} Fix: use one of those types."
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
        f"{CHECKER_TYPES[kind]}, got {describe(answer)}. Fix: correct the answer (quote strings "
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
# CSV / TSV tables as tasks
# --------------------------------------------------------------------------------------------


def _tasks_from_table(path: Path, delimiter: str) -> tuple[Task, ...]:
    rows, aversiveness = read_table(path, delimiter)
    if not table_has_column(path, delimiter, "aversiveness"):
        aversiveness = levels_of(path.name, (row.category for row in rows))
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
