"""Prompt tables: CSV or TSV files of prompts with ``content``, ``subcategory`` and ``category``.

The shape of BailBench (Ensign, Sleight, Fish 2025). :func:`load_prompts` reads one into
:class:`PromptRow` s; :func:`read_table` is the reader underneath, also used by
:func:`environments.banks.load_tasks` to turn a table into tasks (with each row's
aversiveness). Every failure is one :class:`BankError` naming file, row, column and fix.
"""

from __future__ import annotations

import csv
import io
import math
from dataclasses import dataclass
from pathlib import Path

from environments.bankfiles import (
    MAX_CELL_CHARS,
    SUFFIX_DELIMITERS,
    cached_by_file,
    read_text,
    show_value,
    suffix_of,
)
from environments.errors import BankError

__all__ = [
    "DEFAULT_TABLE_AVERSIVENESS",
    "PROMPT_COLUMNS",
    "PromptRow",
    "load_prompts",
    "read_table",
]

#: The columns a prompt table must have (more are allowed and ignored).
PROMPT_COLUMNS: tuple[str, ...] = ("content", "subcategory", "category")

#: Aversiveness given to rows of a CSV/TSV table converted to tasks without that column.
DEFAULT_TABLE_AVERSIVENESS = 0.5


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


@cached_by_file
def load_prompts(path: Path) -> tuple[PromptRow, ...]:
    """Load and validate a prompt table (CSV or TSV, delimiter chosen by suffix).

    The first line must be a header with at least the columns ``content``, ``subcategory`` and
    ``category`` (other columns are allowed and ignored). Every cell of those columns must be
    non-empty. Row ids are ``<file stem>-<1-based row number, 4 digits>``.

    Raises:
        BankError: For any problem, with one message naming file, row, column and fix.
    """
    suffix = suffix_of(path)
    if suffix not in SUFFIX_DELIMITERS:
        raise BankError(
            f"{path.name}: a prompt table must be a .csv or .tsv file, got {suffix!r}. "
            "Fix: use load_tasks for YAML banks, or export the table as CSV."
        )
    rows, _ = read_table(path, SUFFIX_DELIMITERS[suffix])
    return rows


def read_table(path: Path, delimiter: str) -> tuple[tuple[PromptRow, ...], list[float]]:
    """Rows of a CSV/TSV prompt table and each row's aversiveness (default when absent)."""
    name = path.name
    text = read_text(path)
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
                f"(others allowed), found {show_value(header, 120)[1:-1] or 'nothing'}; missing "
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
            f"{DEFAULT_TABLE_AVERSIVENESS}), got {show_value(cell)}. Fix: correct the cell."
        )
    return value
