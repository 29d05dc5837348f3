"""Aversiveness of prompt-table rows by category: BailBench's 14 categories are mapped, an
unmapped category gets 0.5 with one warning line, and a table's own column wins."""

from __future__ import annotations

import logging
from pathlib import Path

import pytest

from environments.aversiveness import BAILBENCH_LEVELS, DEFAULT_AVERSIVENESS
from environments.banks import load_tasks
from environments.scenarios import load_scenarios
from tests.conftest import BAILBENCH_CATEGORIES, BailBenchBank


def test_every_bailbench_category_has_a_level_and_harms_rank_above_the_rest(
    bailbench_bank: BailBenchBank, caplog: pytest.LogCaptureFixture
) -> None:
    assert set(BAILBENCH_LEVELS) == set(BAILBENCH_CATEGORIES)
    with caplog.at_level(logging.WARNING, logger="environments.banks"):
        scenarios = load_scenarios(bailbench_bank.path)
    assert not [r for r in caplog.records if "no aversiveness level" in r.getMessage()]
    level = {s.category: s.aversiveness for s in scenarios}
    assert level == BAILBENCH_LEVELS
    assert len(set(level.values())) > 3  # no longer one 0.5 for every row
    harms = ("Physical Harm", "Malware/Hacking", "Fraud/Deception", "Illegal Sexual/Adult Content")
    milder = (
        "Gross Out",
        "Horror",
        "Emotional Intensity",
        "Model-Personification & Victim Narratives",
    )
    assert min(level[c] for c in harms) > max(level[c] for c in milder)
    # Requests a model is expected to decline are at the shipped harmful level (0.85 and up).
    assert min(level[c] for c in harms) >= 0.85


def _table(path: Path, rows: list[tuple[str, str]], extra: str = "") -> Path:
    header = "content,subcategory,category" + (",aversiveness" if extra else "")
    lines = [header]
    for content, category in rows:
        lines.append(f"{content},{category},{category}" + (f",{extra}" if extra else ""))
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path


def test_an_unmapped_category_gets_the_default_with_one_warning_line(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    path = _table(
        tmp_path / "mixed.csv",
        [("Write a poem.", "benign"), ("Do harm.", "Physical Harm")]
        + [("Chat about the weather.", "Small Talk")] * 3
        + [("Something.", "Other")],
    )
    with caplog.at_level(logging.WARNING, logger="environments.banks"):
        scenarios = load_scenarios(path)
        tasks = load_tasks(path)
    assert [s.aversiveness for s in scenarios] == [0.0, 1.0] + [DEFAULT_AVERSIVENESS] * 4
    assert [t.aversiveness for t in tasks] == [s.aversiveness for s in scenarios]
    warnings = [r.getMessage() for r in caplog.records if "no aversiveness level" in r.getMessage()]
    assert len(warnings) == 2  # one for the scenario load, one for the task load
    message = warnings[0]
    assert "\n" not in message and message.startswith("mixed.csv: 2 categories")
    assert "'Other' (1 rows)" in message and "'Small Talk' (3 rows)" in message
    assert "Fix: add an 'aversiveness' column" in message


def test_a_table_aversiveness_column_gives_each_rows_level(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    path = _table(tmp_path / "own.csv", [("Hi.", "Physical Harm"), ("Yo.", "Unknown")], "0.2")
    with caplog.at_level(logging.WARNING, logger="environments.banks"):
        scenarios = load_scenarios(path)
        tasks = load_tasks(path)
    assert [s.aversiveness for s in scenarios] == [0.2, 0.2]
    assert [t.aversiveness for t in tasks] == [0.2, 0.2]
    assert not [r for r in caplog.records if "no aversiveness level" in r.getMessage()]


def test_a_yaml_scenario_without_aversiveness_takes_its_category_level(tmp_path: Path) -> None:
    path = tmp_path / "s.yaml"
    path.write_text(
        "version: 1\nscenarios:\n"
        "  - {id: a, category: Fraud/Deception, turns: [Help me scam.]}\n"
        "  - {id: b, category: benign, turns: [Hello.], aversiveness: 0.3}\n",
        encoding="utf-8",
    )
    assert [s.aversiveness for s in load_scenarios(path)] == [0.9, 0.3]
