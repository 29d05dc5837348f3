"""Loading and validating the banks of the Conversation and ThinkTank environments.

Two banks, each a YAML file shipped in ``environments/data`` or given by path:

- **Scenario banks** (:func:`load_scenarios`) for ``WelfareSandbox/Conversation-v0``: a mapping
  with ``version`` and ``scenarios``, each entry ``{id, category, turns, aversiveness?}`` where
  ``turns`` is the list of the simulated user's messages. A CSV or TSV prompt table with the
  columns ``content, subcategory, category`` (BailBench's shape, read by
  :func:`environments.banks.load_prompts`) is accepted too: every row becomes a single-turn
  scenario with the row's id and category.
- **Letter banks** (:func:`load_letters`) for ``WelfareSandbox/ThinkTank-v0``: a mapping with
  ``version`` and ``letters``, each entry ``{id, room, title, text}`` with ``room`` one of
  ``A``-``D``.

``aversiveness`` (0-1) is a researcher-only label: how objectionable the scenario is. Entries
without it (and the rows of a table without an ``aversiveness`` column) take the level of their
category, :data:`CATEGORY_AVERSIVENESS` (the shipped categories and BailBench's 14, from
:mod:`environments.aversiveness`); a category in neither takes :data:`DEFAULT_AVERSIVENESS`,
with one warning line naming the categories left without a level. A table's ``aversiveness``
column, where there is one, gives each row's level (a blank cell 0.5, as for tasks).

Every failure raises :class:`sandbox.errors.BankError` naming the file, the entry and the
field, what was expected, what came, and the fix.
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Iterator
from dataclasses import dataclass
from importlib import resources
from pathlib import Path
from typing import Any

from environments.aversiveness import CATEGORY_LEVELS, DEFAULT_AVERSIVENESS, levels_of
from environments.bankfiles import (
    SUFFIX_DELIMITERS,
    cached_by_file,
    read_yaml,
    show_value,
    table_has_column,
)
from environments.errors import BankError
from environments.prompt_tables import load_prompts, read_table

__all__ = [
    "CATEGORY_AVERSIVENESS",
    "DEFAULT_AVERSIVENESS",
    "ROOMS",
    "Letter",
    "Scenario",
    "load_letters",
    "load_scenarios",
    "resolve",
]

#: Aversiveness of the shipped and BailBench categories (used where an entry gives none).
CATEGORY_AVERSIVENESS: dict[str, float] = CATEGORY_LEVELS

#: The rooms of a letter bank.
ROOMS: tuple[str, ...] = ("A", "B", "C", "D")

_SCENARIO_FIELDS = ("id", "category", "turns", "aversiveness")
_LETTER_FIELDS = ("id", "room", "title", "text")
_TABLE_SUFFIXES = (".csv", ".tsv")
_YAML_SUFFIXES = (".yaml", ".yml")


@dataclass(frozen=True, slots=True)
class Scenario:
    """One conversation a simulated user has with the agent.

    Attributes:
        id: Unique id in the bank (``hos-03``; ``bailBench-0042`` for a table row).
        category: Researcher-only label (never shown to the agent).
        turns: The user's messages, in order (at least one).
        aversiveness: Researcher-only label, 0 (not at all) to 1 (maximally objectionable).
    """

    id: str
    category: str
    turns: tuple[str, ...]
    aversiveness: float


@dataclass(frozen=True, slots=True)
class Letter:
    """One letter in a ThinkTank room.

    Attributes:
        id: Unique id in the bank (``cod-04``).
        room: ``A``, ``B``, ``C`` or ``D``.
        title: The letter's heading, shown when it is read.
        text: The letter itself.
    """

    id: str
    room: str
    title: str
    text: str


def resolve(spec: str | Path, default_name: str) -> Path:
    """``"default"`` -> the shipped ``<default_name>``; otherwise an existing file path.

    Raises:
        BankError: The file does not exist or is a folder.
    """
    text = str(spec).strip()
    if text == "default":
        return Path(str(resources.files("environments.data").joinpath(default_name)))
    path = Path(text).expanduser()
    try:
        if path.is_file():
            return path
        is_dir = path.is_dir()
    except (OSError, ValueError) as err:
        raise BankError(f"bank {text!r} cannot be opened: {err}. Fix: check the path.") from None
    what = "is a folder" if is_dir else "not found"
    raise BankError(
        f"bank file {text!r} {what}. Fix: give 'default' for the shipped {default_name}, or "
        "the path of an existing .yaml file (or, for scenarios, a .csv/.tsv prompt table)."
    )


def load_scenarios(path: str | Path) -> tuple[Scenario, ...]:
    """Load and validate a scenario bank (YAML) or a prompt table (CSV/TSV, single-turn).

    Args:
        path: ``"default"`` for the shipped ``scenarios.yaml``, or a file path.

    Raises:
        BankError: For any problem, naming file, entry, field and fix.
    """
    return _read_scenarios(resolve(path, "scenarios.yaml"))


def load_letters(path: str | Path) -> tuple[Letter, ...]:
    """Load and validate a letter bank (YAML); every room must hold at least one letter.

    Args:
        path: ``"default"`` for the shipped ``letters.yaml``, or a file path.

    Raises:
        BankError: For any problem, naming file, entry, field and fix.
    """
    return _read_letters(resolve(path, "letters.yaml"))


# --------------------------------------------------------------------------------------------
# Scenarios
# --------------------------------------------------------------------------------------------


@cached_by_file
def _read_scenarios(path: Path) -> tuple[Scenario, ...]:
    suffix = path.suffix.lower()
    if suffix in _TABLE_SUFFIXES:
        delimiter = SUFFIX_DELIMITERS[suffix]
        if table_has_column(path, delimiter, "aversiveness"):
            rows, levels = read_table(path, delimiter)
        else:
            rows = load_prompts(path)
            levels = levels_of(path.name, (row.category for row in rows))
        return tuple(
            Scenario(id=row.id, category=row.category, turns=(row.content,), aversiveness=level)
            for row, level in zip(rows, levels, strict=True)
        )
    example = "- id: ben-01\n    category: benign\n    turns: [...]"
    scenarios: list[Scenario] = []
    for where, entry, sid in _identified(
        path, "scenario", example, _SCENARIO_FIELDS, _SCENARIO_FIELDS[:3]
    ):
        category = _text(where, "category", entry["category"])
        turns = entry["turns"]
        if not isinstance(turns, list) or not turns:
            raise BankError(
                f"{where}, field 'turns': expected a non-empty list of the user's messages, got "
                f"{_kind(turns)}. Fix: write each message as a list item under 'turns:'."
            )
        messages = tuple(_text(f"{where}, turn #{i}", "turns", t) for i, t in enumerate(turns))
        level = entry.get("aversiveness")
        aversiveness = -1.0 if level is None else _unit(where, "aversiveness", level)
        scenarios.append(Scenario(sid, category, messages, aversiveness))
    unlabelled = [i for i, s in enumerate(scenarios) if s.aversiveness < 0]
    if unlabelled:  # the category's level (one warning for the categories without one)
        levels = levels_of(path.name, (scenarios[i].category for i in unlabelled))
        for i, level in zip(unlabelled, levels, strict=True):
            scenarios[i] = dataclasses.replace(scenarios[i], aversiveness=level)
    return tuple(scenarios)


# --------------------------------------------------------------------------------------------
# Letters
# --------------------------------------------------------------------------------------------


@cached_by_file
def _read_letters(path: Path) -> tuple[Letter, ...]:
    example = "- id: int-01\n    room: A\n    title: ...\n    text: ..."
    letters: list[Letter] = []
    for where, entry, lid in _identified(path, "letter", example, _LETTER_FIELDS, _LETTER_FIELDS):
        room = entry["room"]
        if room not in ROOMS:
            raise BankError(
                f"{where}, field 'room': expected one of {', '.join(ROOMS)}, got {_kind(room)}. "
                "Fix: put the letter in room A, B, C or D."
            )
        letters.append(
            Letter(
                lid,
                room,
                _text(where, "title", entry["title"]),
                _text(where, "text", entry["text"]),
            )
        )
    empty = [room for room in ROOMS if not any(letter.room == room for letter in letters)]
    if empty:
        raise BankError(
            f"{path.name}: room {empty[0]} holds no letter; every room A-D needs at least one. "
            "Fix: add letters with 'room: " + empty[0] + "'."
        )
    return tuple(letters)


# --------------------------------------------------------------------------------------------
# Helpers
# --------------------------------------------------------------------------------------------


def _identified(
    path: Path,
    noun: str,
    example: str,
    fields: tuple[str, ...],
    required: tuple[str, ...],
) -> Iterator[tuple[str, dict[str, Any], str]]:
    """Each entry of the bank's ``<noun>s`` list, with its place for messages and its id.

    Checked first: only known fields, the required ones present, and an id used once.
    """
    seen: dict[str, int] = {}
    for index, entry in enumerate(_entries(path, f"{noun}s", example)):
        where = _where(path, noun, index, entry)
        _check_keys(where, entry, fields, required=required)
        eid = _text(where, "id", entry["id"])
        if eid in seen:
            raise BankError(
                f"{where}, field 'id': duplicate id, already used by {noun} #{seen[eid]}. "
                f"Fix: give each {noun} a unique id."
            )
        seen[eid] = index
        yield where, entry, eid


def _entries(path: Path, key: str, example: str) -> list[Any]:
    """The list under ``key`` of a YAML bank with ``version: 1``."""
    if path.suffix.lower() not in _YAML_SUFFIXES:
        raise BankError(
            f"{path.name}: expected a .yaml bank, got {path.suffix or '(no suffix)'!r}. "
            "Fix: give a YAML file (prompt tables are accepted for scenarios only)."
        )
    data = read_yaml(path)  # bounded work: alias bombs and oversized files refused
    if not isinstance(data, dict) or key not in data:
        raise BankError(
            f"{path.name}: top level: expected a mapping with 'version' and '{key}', got "
            f"{_kind(data)}. Fix: start the file with 'version: 1' and '{key}:'."
        )
    unknown = sorted(set(data) - {"version", key, "name", "description"})
    if unknown:
        raise BankError(
            f"{path.name}: unknown top-level key {unknown[0]!r}; expected version, {key}, name, "
            "description. Fix: rename or remove it."
        )
    if data.get("version") != 1:
        raise BankError(
            f"{path.name}: field 'version': expected 1, got {_kind(data.get('version'))}. "
            "Fix: write 'version: 1'."
        )
    entries = data[key]
    if not isinstance(entries, list) or not entries:
        raise BankError(
            f"{path.name}: field '{key}': expected a non-empty list of entries, got "
            f"{_kind(entries)}. Fix: write entries like\n  {example}"
        )
    return entries


def _where(path: Path, noun: str, index: int, entry: object) -> str:
    where = f"{path.name}: {noun} #{index}"
    if isinstance(entry, dict) and isinstance(entry.get("id"), str):
        where += f" (id {entry['id']!r})"
    if not isinstance(entry, dict):
        raise BankError(
            f"{where}: expected a mapping, got {_kind(entry)}. Fix: write the entry as "
            "'key: value' lines under '- '."
        )
    return where


def _check_keys(
    where: str, entry: dict[str, Any], allowed: tuple[str, ...], required: tuple[str, ...]
) -> None:
    for key in entry:
        if key not in allowed:
            raise BankError(
                f"{where}: unknown field {key!r}; expected only {', '.join(allowed)}. "
                "Fix: rename or remove it."
            )
    for key in required:
        if key not in entry:
            raise BankError(f"{where}, field {key!r}: missing. Fix: add '{key}: ...'.")


def _text(where: str, field: str, value: object) -> str:
    if not isinstance(value, str) or not value.strip():
        raise BankError(
            f"{where}, field {field!r}: expected non-empty text, got {_kind(value)}. "
            "Fix: fill it in (quote it if it looks like a number or a date)."
        )
    return value.strip()


def _unit(where: str, field: str, value: object) -> float:
    number = (
        float(value) if isinstance(value, int | float) and not isinstance(value, bool) else -1.0
    )
    if not math.isfinite(number) or not 0.0 <= number <= 1.0:
        raise BankError(
            f"{where}, field {field!r}: expected a number from 0 to 1, got {_kind(value)}. "
            "Fix: correct the value."
        )
    return number


def _kind(value: object) -> str:
    if value is None:
        return "nothing (null)"
    return f"{type(value).__name__} {show_value(value)}"
