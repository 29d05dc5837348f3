"""Bounded work on any bank: alias bombs, huge banks, huge cells, huge values in messages.

The hostile inputs run in a child process with a timeout, so that a regression fails the test
instead of hanging it (``repr()`` of an alias bomb runs in C, where no alarm can stop it).
"""

from __future__ import annotations

import json
import logging
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest
import yaml

from environments import bankfiles
from environments.banks import load_prompts, load_tasks, show_value
from sandbox.errors import BankError
from tests.conftest import wsb

REPO = Path(__file__).resolve().parents[2]

# Nine levels of ten aliases: 10^9 "lol"s once expanded, in 1.3 KB.
_LAUGHS = "description:\n" + "".join(
    f"  - &l{level} [{', '.join([f'*l{level - 1}'] * 10)}]\n" if level else '  - &l0 "lol"\n'
    for level in range(10)
)
_TASK = """\
  - id: t-01
    title: {title}
    prompt: Do the thing.
    category: misc
    pay: 1
    effort: 1
    aversiveness: 0.2
{extra}"""

BOMBS = {
    "title": _TASK.format(title="*l9", extra=""),
    "entry": "  - *l9\n",
    "answer": _TASK.format(title="A task", extra="    checker: {type: count, answer: *l9}\n"),
    "sequence answer": _TASK.format(
        title="A task", extra="    checker: {type: sequence, answer: *l8}\n"
    ),
}

_CHILD = textwrap.dedent(
    """
    import json, sys, time
    from environments.banks import load_tasks
    from sandbox.errors import BankError
    start = time.perf_counter()
    try:
        load_tasks(sys.argv[1])
        outcome = "loaded"
    except BankError as err:
        outcome = str(err)
    print(json.dumps({"seconds": time.perf_counter() - start, "outcome": outcome}))
    """
)


def _load_in_child(path: Path, timeout: float = 60) -> dict[str, object]:
    try:
        proc = subprocess.run(
            [sys.executable, "-c", _CHILD, str(path)],
            capture_output=True,
            text=True,
            timeout=timeout,
        )
    except subprocess.TimeoutExpired:
        pytest.fail(f"loading {path.name} ran for more than {timeout} s")
    assert proc.returncode == 0, proc.stderr[-2000:]
    return json.loads(proc.stdout)


@pytest.mark.parametrize("place", list(BOMBS))
def test_an_alias_bomb_is_refused_in_one_line_at_once(tmp_path: Path, place: str) -> None:
    path = tmp_path / "laughs.yaml"
    path.write_text(f"version: 1\n{_LAUGHS}tasks:\n{BOMBS[place]}", encoding="utf-8")
    assert path.stat().st_size < 1500
    result = _load_in_child(path)
    message = str(result["outcome"])
    assert result["seconds"] < 1.0, result
    assert message.startswith("laughs.yaml: bad YAML at line ")
    assert "aliases expand the document too far" in message and "Fix:" in message
    assert "\n" not in message and len(message) < 400


def test_a_self_containing_alias_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "loop.yaml"
    path.write_text(f"version: 1\ntasks:\n{_TASK.format(title='&t [*t]', extra='')}")
    with pytest.raises(BankError, match=r"loop\.yaml: bad YAML at line 4: an alias refers to a"):
        load_tasks(path)


def test_modest_aliases_still_load(tmp_path: Path) -> None:
    # One anchored checker shared by 200 tasks: the kind of reuse a researcher writes.
    entries = [
        {"id": f"t-{i}", "title": "Add", "prompt": "2 + 2?", "category": "maths", "pay": 1,
         "effort": 1, "aversiveness": 0.0}
        for i in range(200)
    ]  # fmt: skip
    text = yaml.safe_dump({"version": 1, "tasks": entries}, sort_keys=False)
    text = text.replace("  aversiveness: 0.0\n", "  aversiveness: 0.0\n  checker: *c\n")
    text = text.replace("  checker: *c\n", "  checker: &c {type: number, answer: 4}\n", 1)
    path = tmp_path / "shared.yaml"
    path.write_text(text, encoding="utf-8")
    tasks = load_tasks(path)
    assert len(tasks) == 200 and all(t.checker and t.checker.expected == "4" for t in tasks)


def test_messages_show_a_few_characters_of_a_huge_shared_value() -> None:
    value: object = "lol"
    for _ in range(30):  # 2^30 leaves: repr() would need gigabytes
        value = [value, value]
    start = time.perf_counter()
    shown = show_value(value)
    assert time.perf_counter() - start < 0.1
    assert len(shown) == 60 and shown.startswith("[[[[") and shown.endswith("...")
    assert show_value("x" * 10_000_000, 20) == "'" + "x" * 16 + "..."
    assert show_value({"a": 1}) == "{'a': 1}" and show_value(1.5) == "1.5"
    assert "digits" in show_value(10**5000)


def test_a_huge_id_is_cut_in_the_message(tmp_path: Path) -> None:
    path = tmp_path / "bank.yaml"
    path.write_text(
        f"version: 1\ntasks:\n{_TASK.format(title='[]', extra='')}".replace("t-01", "i" * 100_000)
    )
    with pytest.raises(BankError) as caught:
        load_tasks(path)
    assert len(str(caught.value)) < 400 and "'title'" in str(caught.value)


def test_an_integer_too_long_to_read_is_a_bank_error(tmp_path: Path) -> None:
    path = tmp_path / "digits.yaml"
    path.write_text(f"version: 1\ntasks:\n{_TASK.format(title='A', extra='')}".replace(
        "pay: 1", "pay: " + "9" * 5000
    ))  # fmt: skip
    with pytest.raises(BankError, match=r"digits\.yaml: bad YAML: a value cannot be read.*Fix"):
        load_tasks(path)


# ---------------------------------------------------------------------------------------------
# Big banks
# ---------------------------------------------------------------------------------------------


def test_the_fast_parser_is_used_where_pyyaml_has_it() -> None:
    if not yaml.__with_libyaml__:
        pytest.skip("this PyYAML was built without libyaml")
    assert issubclass(bankfiles._BankLoader, yaml.CSafeLoader)


def test_a_bank_over_the_size_limit_is_refused_with_the_limit(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(bankfiles, "MAX_BANK_BYTES", 2**20)
    path = tmp_path / "big.yaml"
    path.write_bytes(b"version: 1\ntasks:\n" + b"#" * 2**20)
    with pytest.raises(BankError, match=r"big\.yaml: the bank is larger than the limit of 1 MiB"):
        load_tasks(path)


def test_a_large_bank_is_announced_before_it_is_read_and_timed_after(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    monkeypatch.setattr(bankfiles, "LARGE_BANK_BYTES", 100)
    path = tmp_path / "large.yaml"
    path.write_text(f"version: 1\ntasks:\n{_TASK.format(title='A', extra='')}")
    with caplog.at_level(logging.INFO, logger="environments.banks"):
        load_tasks(path)
    messages = [(r.levelno, r.getMessage()) for r in caplog.records]
    assert messages[0][0] == logging.WARNING and "reading a large bank" in messages[0][1]
    assert messages[-1][0] == logging.INFO and "1 tasks loaded in" in messages[-1][1]


@pytest.mark.slow
def test_a_100k_task_bank_loads_in_bounded_time(tmp_path: Path) -> None:
    sys.path.insert(0, str(REPO / "benchmarks"))
    try:
        from bank_load import write_bank
    finally:
        sys.path.remove(str(REPO / "benchmarks"))
    path = tmp_path / "big.yaml"
    write_bank(path, 100_000)
    result = _load_in_child(path, timeout=240)
    assert result["outcome"] == "loaded"
    assert result["seconds"] < 120  # 254 s before, with the pure-Python parser


# ---------------------------------------------------------------------------------------------
# CSV / TSV cells
# ---------------------------------------------------------------------------------------------


def test_a_cell_over_the_old_default_limit_loads(tmp_path: Path) -> None:
    path = tmp_path / "long.csv"
    path.write_text(f'content,subcategory,category\n"{"word " * 40_000}",Long,Long\n')
    assert len(load_prompts(path)[0].content) == 5 * 40_000 - 1


def test_a_cell_over_the_limit_names_the_cell_and_the_limit(tmp_path: Path) -> None:
    path = tmp_path / "huge.csv"
    path.write_text(
        f'content,subcategory,category\nShort,A,A\n"{"x" * 10_000_000}",B,B\n', encoding="utf-8"
    )
    with pytest.raises(BankError) as caught:
        load_prompts(path)
    message = str(caught.value)
    assert message.startswith("huge.csv: the CSV record starting at line 3 has a cell longer ")
    assert "limit of 1,048,576 characters" in message and "Fix: shorten that cell" in message
    assert "quoting" not in message


# ---------------------------------------------------------------------------------------------
# Through the CLI: exit status 2 and one line, at once
# ---------------------------------------------------------------------------------------------


def _wsb_run(tmp_path: Path, bank: Path) -> subprocess.CompletedProcess[str]:
    try:
        # A process of its own: a bank that hangs the reader is stopped by the timeout.
        run_dir = f"hydra.run.dir={tmp_path / 'run'}"
        args = ("run", f"env.kwargs.bank={bank}", "display=none", run_dir)
        return wsb(*args, cwd=tmp_path, process=True, timeout=60)
    except subprocess.TimeoutExpired:
        pytest.fail(f"wsb run with {bank.name} ran for more than 60 s")


def test_wsb_run_refuses_an_alias_bomb_in_one_line(tmp_path: Path) -> None:
    bank = tmp_path / "laughs.yaml"
    bank.write_text(f"version: 1\n{_LAUGHS}tasks:\n{BOMBS['title']}", encoding="utf-8")
    proc = _wsb_run(tmp_path, bank)
    assert proc.returncode == 2, proc.stderr[-2000:]
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 1 and "laughs.yaml: bad YAML at line" in lines[0]
    assert "aliases expand the document too far" in lines[0]


def test_wsb_run_names_an_overlong_cell_and_the_limit(tmp_path: Path) -> None:
    bank = tmp_path / "huge.csv"
    bank.write_text(f'content,subcategory,category\n"{"x" * 2_000_000}",B,B\n', encoding="utf-8")
    proc = _wsb_run(tmp_path, bank)
    assert proc.returncode == 2, proc.stderr[-2000:]
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 1 and "limit of 1,048,576 characters" in lines[0]
