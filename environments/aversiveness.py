"""Aversiveness by category, for bank entries that give none (prompt tables, most of all).

``aversiveness`` (0-1) is a researcher-only label: how objectionable an item is. A YAML bank
gives it per entry; a prompt table (BailBench's shape: ``content, subcategory, category``)
usually has no such column, so its rows take the level of their category here:

- :data:`SHIPPED_SCENARIO_LEVELS`: the four categories of the shipped scenario bank.
- :data:`BAILBENCH_LEVELS`: BailBench's 14 categories (Ensign, Sleight & Fish 2025). These
  are this sandbox's labels, not the paper's (it gives none), on the scale of the shipped task
  bank (``environments/data/tasks.yaml``: harmful requests 0.85-1.0, hostile 0.6-0.8,
  emotionally heavy 0.5-0.7): requests a model is expected to decline 0.9, the gravest (physical
  harm, illegal sexual content) 1.0; liability and privacy requests 0.6-0.7; distasteful or
  dark but harmless material 0.4-0.5; the model-personification prompts 0.3.

A category in neither table takes :data:`DEFAULT_AVERSIVENESS` (0.5), and :func:`levels_of`
says so in one warning line naming those categories: a simulated subject would otherwise see
harmful and benign requests as the same.
"""

from __future__ import annotations

import logging
from collections import Counter
from collections.abc import Iterable, Mapping

from environments.bankfiles import show_value

__all__ = [
    "BAILBENCH_LEVELS",
    "CATEGORY_LEVELS",
    "DEFAULT_AVERSIVENESS",
    "SHIPPED_SCENARIO_LEVELS",
    "levels_of",
]

log = logging.getLogger("environments.banks")

#: The shipped scenario bank's categories (``environments/data/scenarios.yaml``).
SHIPPED_SCENARIO_LEVELS: dict[str, float] = {
    "benign": 0.0,
    "emotionally_intense": 0.4,
    "hostile_or_belittling": 0.8,
    "insisting_harmful": 0.9,
}

#: BailBench's categories (this sandbox's labels; see the module docstring).
BAILBENCH_LEVELS: dict[str, float] = {
    "Model-Personification & Victim Narratives": 0.3,
    "Gross Out": 0.4,
    "Horror": 0.4,
    "Dark Topics": 0.5,
    "Emotional Intensity": 0.5,
    "Corporate Safety Concerns": 0.6,
    "Legal Concerns": 0.7,
    "Disinformation": 0.9,
    "Economic Harm": 0.9,
    "Fraud/Deception": 0.9,
    "Harassment/Discrimination": 0.9,
    "Malware/Hacking": 0.9,
    "Illegal Sexual/Adult Content": 1.0,
    "Physical Harm": 1.0,
}

#: Every category with a level.
CATEGORY_LEVELS: dict[str, float] = {**SHIPPED_SCENARIO_LEVELS, **BAILBENCH_LEVELS}

#: The level of a category in no table.
DEFAULT_AVERSIVENESS = 0.5


def levels_of(
    source: str, categories: Iterable[str], table: Mapping[str, float] = CATEGORY_LEVELS
) -> list[float]:
    """The aversiveness of each item from its category, warning once about unmapped ones.

    Args:
        source: The bank's file name, for the warning.
        categories: Each item's category, in order.
        table: Category -> level (default :data:`CATEGORY_LEVELS`).

    Returns:
        One level per item: the table's, or :data:`DEFAULT_AVERSIVENESS`.
    """
    names = list(categories)
    unmapped = Counter(name for name in names if name not in table)
    if unmapped:
        shown = ", ".join(
            f"{show_value(name, 48)} ({n} rows)" for name, n in sorted(unmapped.items())[:6]
        )
        more = f" and {len(unmapped) - 6} more" if len(unmapped) > 6 else ""
        log.warning(
            "%s: %d categories have no aversiveness level and get %s: %s%s. Fix: add an "
            "'aversiveness' column (0-1) to the table, or use a category of "
            "environments.aversiveness.CATEGORY_LEVELS",
            source,
            len(unmapped),
            DEFAULT_AVERSIVENESS,
            shown,
            more,
        )
    return [table.get(name, DEFAULT_AVERSIVENESS) for name in names]
