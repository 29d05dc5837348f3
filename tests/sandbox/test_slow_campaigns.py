"""Long campaigns behind the ``slow`` marker: CI runs them after the default suite.

- Resume after ``kill -9`` at random moments of a real run (``benchmarks/resume_kill.py``):
  every resumed run must equal an uninterrupted one record for record.
- The hypothesis fuzzers of the record reader, the proxies and the bank loaders, with twenty
  times the default number of examples.
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

pytestmark = pytest.mark.slow

REPO = Path(__file__).resolve().parents[2]


def test_resume_after_kill_at_random_points_loses_and_duplicates_nothing():
    proc = subprocess.run(
        [sys.executable, str(REPO / "benchmarks" / "resume_kill.py"), "--trials", "15"],
        capture_output=True,
        text=True,
        timeout=1800,
    )
    out = proc.stdout + proc.stderr
    assert proc.returncode == 0, out
    assert "episodes lost: 0 " in out and "duplicate records: 0 " in out, out
    assert "differing from the uninterrupted run: 0 " in out, out
    # The kills landed in several phases of a run, not all in one.
    phases = re.findall(r"killed at (.+): (\d+)", out)
    assert len(phases) >= 3, out


@pytest.mark.parametrize(
    "test_file", ["tests/sandbox/test_fuzz_records.py", "tests/environments/test_banks.py"]
)
def test_long_fuzz_campaign(test_file):
    env = {**os.environ, "WSB_FUZZ_EXAMPLES": "3000"}
    proc = subprocess.run(
        [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", test_file],
        cwd=REPO,
        env=env,
        capture_output=True,
        text=True,
        timeout=2400,
    )
    assert proc.returncode == 0, proc.stdout[-4000:] + proc.stderr[-2000:]
    assert re.search(r"\d+ passed", proc.stdout), proc.stdout[-2000:]
