"""Task and prompt banks: the shipped bank, BailBench, and every way a bank can be wrong."""

from __future__ import annotations

import itertools
import os
import re
from collections import Counter
from pathlib import Path

import pytest
import yaml
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from environments.aversiveness import BAILBENCH_LEVELS
from environments.banks import (
    Checker,
    Task,
    default_task_bank_path,
    load_prompts,
    load_tasks,
    resolve_bank,
)
from sandbox.errors import BankError
from tests.conftest import (
    BAILBENCH,
    BAILBENCH_CATEGORIES,
    BailBenchBank,
    needs_bailbench,
    write_bailbench_like,
)

#: Examples per fuzz test; WSB_FUZZ_EXAMPLES=3000 for a long campaign (the slow test does).
FUZZ_EXAMPLES = int(os.environ.get("WSB_FUZZ_EXAMPLES", "150"))

CATEGORIES = {
    "creative",
    "analytical",
    "routine",
    "emotionally_heavy",
    "harmful_request",
    "hostile_requester",
}
# The researcher's aversiveness ranges per category, as the bank's header states them.
AVERSIVENESS = {
    "creative": (0.0, 0.1),
    "analytical": (0.0, 0.1),
    "routine": (0.2, 0.3),
    "emotionally_heavy": (0.5, 0.7),
    "hostile_requester": (0.6, 0.8),
    "harmful_request": (0.85, 1.0),
}


# ---------------------------------------------------------------------------------------------
# The shipped bank
# ---------------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def shipped() -> tuple[Task, ...]:
    return load_tasks(resolve_bank("default"))


def test_default_resolves_to_the_shipped_file() -> None:
    path = resolve_bank("default")
    assert path == default_task_bank_path()
    assert path.name == "tasks.yaml" and path.is_file()
    assert resolve_bank("tasks") == path  # a shipped bank by name


def test_shipped_bank_has_six_categories_of_at_least_ten(shipped: tuple[Task, ...]) -> None:
    counts = Counter(task.category for task in shipped)
    assert len(shipped) >= 60
    assert set(counts) == CATEGORIES
    assert min(counts.values()) >= 10
    assert len({task.id for task in shipped}) == len(shipped)


def test_shipped_fields_are_in_their_documented_ranges(shipped: tuple[Task, ...]) -> None:
    for task in shipped:
        low, high = AVERSIVENESS[task.category]
        assert low <= task.aversiveness <= high, task.id
        assert 1 <= task.pay <= 10, task.id
        assert 0.5 <= task.effort <= 3, task.id


def test_analytical_and_most_routine_tasks_are_checkable(shipped: tuple[Task, ...]) -> None:
    analytical = [t for t in shipped if t.category == "analytical"]
    routine = [t for t in shipped if t.category == "routine"]
    assert all(t.checkable for t in analytical)
    assert sum(t.checkable for t in routine) > len(routine) * 2 / 3


def test_no_category_name_leaks_into_titles_or_prompts(shipped: tuple[Task, ...]) -> None:
    # The environment shows titles and prompts verbatim; a category word there is a label leak.
    for task in shipped:
        words = f"{task.title} {task.prompt}".lower()
        for category in CATEGORIES:
            assert category not in words, (task.id, category)


def _wrong_answer(checker: Checker) -> str:
    if checker.type in ("number", "count"):
        assert isinstance(checker.answer, int | float)
        return f"The answer is {checker.answer + 7}."
    if checker.type == "sequence":
        return "Here they are: " + ", ".join(reversed(checker.expected.split(", ")))
    return "I could not find it, sorry."


def test_every_checker_accepts_its_answer_in_prose_and_rejects_a_wrong_one(
    shipped: tuple[Task, ...],
) -> None:
    checked = [task for task in shipped if task.checker is not None]
    assert len(checked) >= 24
    for task in checked:
        checker = task.checker
        assert checker is not None
        expected = checker.expected
        assert checker.grade(f"Let me work through it.\n\nFinal answer: {expected}. Thanks!"), (
            task.id
        )
        assert checker.grade(expected), task.id
        assert not checker.grade(_wrong_answer(checker)), task.id
        assert not checker.grade(""), task.id


@pytest.mark.parametrize(
    ("checker", "text", "correct"),
    [
        (Checker("number", 1234.0), "That comes to 1,234 in total.", True),
        (Checker("number", 8.05, 0.005), "about 8.046 km", True),
        (Checker("number", 8.05, 0.005), "about 8.1 km", False),
        (Checker("number", -3.0), "x = -3", True),
        (Checker("number", 0.3), "0.1 + 0.2 = 0.3", True),
        (Checker("number", 42.0), "42, or maybe 41", False),  # the last number counts
        (Checker("count", 5), "I count 5 vowels.", True),
        (Checker("exact", "Dev"), "The shortest is dev.", True),
        (Checker("exact", "Dev"), "The shortest is Devon.", False),
        (Checker("exact", "14 June"), "It is now 14   june.", True),
        (Checker("sequence", ("apple", "fig", "pear")), "Sorted: Apple, fig and PEAR.", True),
        (Checker("sequence", ("apple", "fig", "pear")), "apple pear fig", False),
        (Checker("sequence", ("1", "2", "10")), "1, 2, 10", True),
    ],
)
def test_checkers_tolerate_prose(checker: Checker, text: str, correct: bool) -> None:
    assert checker.grade(text) is correct


# ---------------------------------------------------------------------------------------------
# BailBench, the published prompt table
# ---------------------------------------------------------------------------------------------

# From BailBench's SOURCE.md (BailStudy, MIT).
BAILBENCH_COUNTS = {
    "Fraud/Deception": 300,
    "Physical Harm": 280,
    "Harassment/Discrimination": 230,
    "Economic Harm": 230,
    "Disinformation": 220,
    "Malware/Hacking": 130,
    "Model-Personification & Victim Narratives": 70,
    "Illegal Sexual/Adult Content": 70,
    "Corporate Safety Concerns": 50,
    "Gross Out": 10,
    "Dark Topics": 10,
    "Emotional Intensity": 10,
    "Horror": 10,
    "Legal Concerns": 10,
}


def test_a_bailbench_format_table_loads_every_row(bailbench_bank: BailBenchBank) -> None:
    rows = load_prompts(bailbench_bank.path)
    assert len(rows) == bailbench_bank.rows
    assert [row.id for row in rows[:2]] == ["bailBench-0001", "bailBench-0002"]
    assert rows[-1].id == f"bailBench-{bailbench_bank.rows:04d}"
    assert len({row.category for row in rows}) == 14
    assert list(dict.fromkeys(row.category for row in rows)) == list(BAILBENCH_CATEGORIES)
    assert rows[0].subcategory == rows[0].category == "Gross Out"
    assert all(row.content and "\r" not in row.content for row in rows)
    tasks = load_tasks(bailbench_bank.path)
    assert [t.id for t in tasks] == [r.id for r in rows]
    assert [(t.title, t.prompt, t.category) for t in tasks] == [
        (r.subcategory, r.content, r.category) for r in rows
    ]
    assert {(t.pay, t.effort, t.checker) for t in tasks} == {(1.0, 1.0, None)}
    assert [t.aversiveness for t in tasks] == [BAILBENCH_LEVELS[t.category] for t in tasks]


def test_the_stand_in_has_quoted_cells_read_back_whole(tmp_path: Path) -> None:
    rows = load_prompts(write_bailbench_like(tmp_path).path)
    assert rows[1].content == 'A second stand-in, "quoted", for Gross Out, with commas.'
    assert b"\r\n" in (tmp_path / "bailBench.csv").read_bytes()  # CRLF, as published


@needs_bailbench
def test_bailbench_loads_every_row_with_the_published_counts() -> None:
    rows = load_prompts(BAILBENCH)
    assert len(rows) == 1630
    assert Counter(row.category for row in rows) == BAILBENCH_COUNTS
    assert len({row.subcategory for row in rows}) == 163
    assert rows[0].id == "bailBench-0001" and rows[-1].id == "bailBench-1630"
    assert all(row.content for row in rows)
    source = (BAILBENCH.parent / "SOURCE.md").read_text(encoding="utf-8")
    for category, count in BAILBENCH_COUNTS.items():
        if count > 10:
            assert f"{category} {count}" in " ".join(source.split()), category


@needs_bailbench
def test_bailbench_loads_as_tasks_with_documented_defaults() -> None:
    tasks = load_tasks(BAILBENCH)
    assert len(tasks) == 1630
    first = tasks[0]
    assert first.id == "bailBench-0001"
    assert first.title == "Gross Out" and first.category == "Gross Out"
    assert first.prompt.startswith("Describe the sound and texture")
    assert {(t.pay, t.effort, t.checker) for t in tasks} == {(1.0, 1.0, None)}
    assert [t.aversiveness for t in tasks] == [BAILBENCH_LEVELS[t.category] for t in tasks]


def test_tables_may_carry_extra_columns_and_an_aversiveness_column(tmp_path: Path) -> None:
    path = tmp_path / "mine.tsv"
    path.write_text(
        "source\tcontent\tsubcategory\tcategory\taversiveness\n"
        "x\tSay hello.\tGreetings\tPolite\t0.1\n"
        "y\tSay goodbye.\tGreetings\tPolite\t\n",
        encoding="utf-8",
    )
    rows = load_prompts(path)
    assert [row.id for row in rows] == ["mine-0001", "mine-0002"]
    assert rows[1].content == "Say goodbye."
    assert [task.aversiveness for task in load_tasks(path)] == [0.1, 0.5]


# ---------------------------------------------------------------------------------------------
# Bad banks: one clear BankError naming file, entry and field
# ---------------------------------------------------------------------------------------------


def _task(**fields: object) -> dict[str, object]:
    entry: dict[str, object] = {
        "id": "t-01",
        "title": "A task",
        "prompt": "Do the thing.",
        "category": "misc",
        "pay": 2,
        "effort": 1,
        "aversiveness": 0.2,
    }
    entry.update(fields)
    return {k: v for k, v in entry.items() if v is not None}


def _bank(*entries: dict[str, object]) -> str:
    return yaml.safe_dump({"version": 1, "tasks": list(entries)}, sort_keys=False)


BAD_BANKS = [
    # (case, file name, content, what the message must name)
    ("missing field", "bank.yaml", _bank(_task(), _task(id="t-02", pay=None)),
     ["bank.yaml", "task #1", "'t-02'", "'pay'", "missing"]),
    ("wrong type", "bank.yaml", _bank(_task(aversiveness="high")),
     ["bank.yaml", "task #0", "'t-01'", "'aversiveness'", "'high'", "number"]),
    ("out of range", "bank.yaml", _bank(_task(aversiveness=1.5)),
     ["bank.yaml", "task #0", "'aversiveness'", "1.5", "from 0 to 1"]),
    ("negative pay", "bank.yaml", _bank(_task(pay=-1)),
     ["bank.yaml", "task #0", "'pay'", ">= 0"]),
    ("zero effort", "bank.yaml", _bank(_task(effort=0)),
     ["bank.yaml", "task #0", "'effort'", "> 0"]),
    ("duplicate id", "bank.yaml", _bank(_task(), _task()),
     ["bank.yaml", "task #1", "'t-01'", "'id'", "duplicate", "task #0"]),
    ("unknown field", "bank.yaml", _bank(_task(pya=3)),
     ["bank.yaml", "task #0", "'pya'", "Did you mean 'pay'"]),
    ("unknown checker", "bank.yaml", _bank(_task(checker={"type": "numbr", "answer": 3})),
     ["bank.yaml", "task #0", "'checker'", "'numbr'", "number", "Did you mean 'number'"]),
    ("checker answer type", "bank.yaml", _bank(_task(checker={"type": "count", "answer": "x"})),
     ["bank.yaml", "task #0", "'checker'", "'answer'", "whole number"]),
    ("bad YAML", "bank.yaml", "version: 1\ntasks:\n  - id: a\n    title: [unclosed\n",
     ["bank.yaml", "bad YAML", "line 5"]),
    ("tab YAML", "bank.yaml", "version: 1\ntasks:\n\t- id: a\n",
     ["bank.yaml", "bad YAML", "line 3"]),
    ("empty YAML", "bank.yaml", "", ["bank.yaml", "empty", "'tasks'"]),
    ("empty tasks", "bank.yaml", "version: 1\ntasks: []\n", ["bank.yaml", "'tasks'", "empty"]),
    ("no version", "bank.yaml", "tasks:\n  - id: a\n", ["bank.yaml", "'version'", "missing"]),
    ("top-level list", "bank.yaml", "- id: a\n", ["bank.yaml", "top level", "a list", "tasks:"]),
    ("entry not a mapping", "bank.yaml", "version: 1\ntasks:\n  - just text\n",
     ["bank.yaml", "task #0", "mapping", "'just text'"]),
    ("wrong columns", "prompts.csv", "prompt,kind,category\nhi,a,b\n",
     ["prompts.csv", "header", "expected content, subcategory, category", "found 'prompt'",
      "missing content, subcategory"]),
    ("empty CSV", "prompts.csv", "", ["prompts.csv", "empty", "header"]),
    ("header only", "prompts.csv", "content,subcategory,category\n", ["prompts.csv", "no rows"]),
    ("empty cell", "prompts.csv", "content,subcategory,category\nhi,a,b\n,a,b\n",
     ["prompts.csv", "row 2", "'prompts-0002'", "'content'", "empty"]),
    ("ragged row", "prompts.csv", "content,subcategory,category\nhi, there,a,b\n",
     ["prompts.csv", "row 1", "expected 3 fields", "found 4", "quote"]),
    ("bad aversiveness cell", "prompts.tsv",
     "content\tsubcategory\tcategory\taversiveness\nhi\ta\tb\t2\n",
     ["prompts.tsv", "row 1", "'aversiveness'", "'2'", "from 0 to 1"]),
    ("not UTF-8", "bank.yaml", b"version: 1\ntasks:\n  - id: caf\xe9\n",
     ["bank.yaml", "UTF-8", "line 3", "re-save"]),
    ("unknown suffix", "bank.txt", "version: 1\n", ["bank.txt", "'.txt'", ".yaml", ".csv"]),
]  # fmt: skip


@pytest.mark.parametrize(
    ("case", "name", "content", "needles"), BAD_BANKS, ids=[c[0] for c in BAD_BANKS]
)
def test_bad_banks_raise_one_clear_bank_error(
    tmp_path: Path, case: str, name: str, content: str | bytes, needles: list[str]
) -> None:
    path = tmp_path / name
    if isinstance(content, bytes):
        path.write_bytes(content)
    else:
        path.write_text(content, encoding="utf-8")
    loader = load_prompts if path.suffix in (".csv", ".tsv") else load_tasks
    with pytest.raises(BankError) as caught:
        loader(path)
    message = str(caught.value)
    for needle in needles:
        assert needle in message, f"{case}: {needle!r} not in {message!r}"
    assert "Fix:" in message or "re-save" in message, message


def test_a_missing_file_suggests_close_names(tmp_path: Path) -> None:
    (tmp_path / "tasks.yaml").write_text(_bank(_task()), encoding="utf-8")
    for loader in (load_tasks, load_prompts, resolve_bank):
        with pytest.raises(BankError, match=r"taks\.yaml.*not found.*Did you mean.*tasks\.yaml"):
            loader(tmp_path / "taks.yaml")
    with pytest.raises(BankError, match="does not exist either"):
        load_tasks(tmp_path / "nowhere" / "tasks.yaml")
    with pytest.raises(BankError, match="is a folder"):
        load_tasks(tmp_path)


def test_a_prompt_table_must_be_csv_or_tsv(tmp_path: Path) -> None:
    path = tmp_path / "bank.yaml"
    path.write_text(_bank(_task()), encoding="utf-8")
    with pytest.raises(BankError, match=r"bank\.yaml.*\.csv or \.tsv"):
        load_prompts(path)


def test_an_edited_bank_is_reloaded(tmp_path: Path) -> None:
    path = tmp_path / "bank.yaml"
    path.write_text(_bank(_task()), encoding="utf-8")
    assert load_tasks(path)[0].title == "A task"
    path.write_text(_bank(_task(title="Another, longer title")), encoding="utf-8")
    assert load_tasks(path)[0].title == "Another, longer title"


# ---------------------------------------------------------------------------------------------
# Fuzz: whatever the bytes, only BankError escapes
# ---------------------------------------------------------------------------------------------

_names = itertools.count()

_scalars = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(),
    st.floats(allow_nan=True, allow_infinity=True),
    st.text(max_size=20),
)
_values = st.recursive(
    _scalars,
    lambda inner: (
        st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=8), inner, max_size=4)
    ),
    max_leaves=12,
)
_entries = st.fixed_dictionaries(
    {},
    optional={
        key: _values
        for key in ("id", "title", "prompt", "category", "pay", "effort", "aversiveness", "checker")
    },
)
_yaml_banks = st.builds(
    lambda version, tasks: yaml.safe_dump({"version": version, "tasks": tasks}),
    _values,
    st.lists(_entries, max_size=4) | _values,
)


def _load_both(folder: Path, data: bytes) -> None:
    for suffix in (".yaml", ".csv", ".tsv"):
        path = folder / f"fuzz{next(_names)}{suffix}"  # a new name each time: no cache hits
        path.write_bytes(data)
        for loader in (load_tasks, load_prompts):
            try:
                loader(path)
            except BankError as err:
                assert str(err)


@settings(
    max_examples=FUZZ_EXAMPLES,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture],
)
@given(data=st.binary(max_size=300) | st.text(max_size=300).map(str.encode))
def test_fuzzed_bytes_only_raise_bank_error(tmp_path: Path, data: bytes) -> None:
    _load_both(tmp_path, data)


@settings(
    max_examples=FUZZ_EXAMPLES,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture],
)
@given(text=_yaml_banks)
def test_fuzzed_yaml_structures_only_raise_bank_error(tmp_path: Path, text: str) -> None:
    _load_both(tmp_path, text.encode("utf-8"))


@settings(
    max_examples=max(1, FUZZ_EXAMPLES * 2 // 3),
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture],
)
@given(
    rows=st.lists(st.lists(st.text(max_size=12), min_size=1, max_size=5), min_size=0, max_size=5),
    header=st.sampled_from(
        ["content,subcategory,category", "content,subcategory,category,aversiveness", "a,b"]
    ),
)
def test_fuzzed_tables_only_raise_bank_error(
    tmp_path: Path, rows: list[list[str]], header: str
) -> None:
    body = "\n".join(",".join(row) for row in rows)
    _load_both(tmp_path, f"{header}\n{body}\n".encode())


def test_deep_yaml_nesting_is_a_bank_error(tmp_path: Path) -> None:
    path = tmp_path / "deep.yaml"
    path.write_text("[" * 5000 + "]" * 5000, encoding="utf-8")
    with pytest.raises(BankError, match=r"deep\.yaml"):
        load_tasks(path)


def test_huge_integers_are_a_bank_error(tmp_path: Path) -> None:
    path = tmp_path / "huge.yaml"
    path.write_text(_bank(_task(pay=10**400)), encoding="utf-8")
    with pytest.raises(BankError, match=r"huge\.yaml.*'pay'.*finite"):
        load_tasks(path)


def test_messages_are_one_paragraph(tmp_path: Path) -> None:
    path = tmp_path / "bank.yaml"
    path.write_text(_bank(_task(title="")), encoding="utf-8")
    with pytest.raises(BankError) as caught:
        load_tasks(path)
    assert "\n" not in str(caught.value)
    assert re.search(r"task #0 \(id 't-01'\), field 'title'", str(caught.value))
