"""Scenario and letter banks get the same bounded reading as task banks (alias bombs refused)."""

from __future__ import annotations

import json
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

_LAUGHS = "description:\n" + "".join(
    f"  - &l{level} [{', '.join([f'*l{level - 1}'] * 10)}]\n" if level else '  - &l0 "lol"\n'
    for level in range(10)
)

_CHILD = textwrap.dedent(
    """
    import json, sys, time
    from environments.scenarios import load_letters, load_scenarios
    from sandbox.errors import BankError
    loader = {"scenarios": load_scenarios, "letters": load_letters}[sys.argv[2]]
    start = time.perf_counter()
    try:
        loader(sys.argv[1])
        outcome = "loaded"
    except BankError as err:
        outcome = str(err)
    print(json.dumps({"seconds": time.perf_counter() - start, "outcome": outcome}))
    """
)


@pytest.mark.parametrize("key", ["scenarios", "letters"])
def test_an_alias_bomb_in_a_scenario_or_letter_bank_is_refused_at_once(
    tmp_path: Path, key: str
) -> None:
    path = tmp_path / f"{key}.yaml"
    path.write_text(f"version: 1\n{_LAUGHS}{key}:\n  - *l9\n", encoding="utf-8")
    try:
        proc = subprocess.run(
            [sys.executable, "-c", _CHILD, str(path), key],
            capture_output=True,
            text=True,
            timeout=60,
        )
    except subprocess.TimeoutExpired:
        pytest.fail(f"loading {path.name} ran for more than 60 s")
    assert proc.returncode == 0, proc.stderr[-2000:]
    result = json.loads(proc.stdout)
    message = str(result["outcome"])
    assert result["seconds"] < 1.0, result
    assert "aliases expand the document too far" in message, message
    assert "\n" not in message and len(message) < 400
