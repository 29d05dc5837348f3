"""Wall time of the bail and Think Tank experiment presets, as a user runs them offline.

    python benchmarks/presets_time_conversation.py [--repeats 3] [--sweeps]

Runs each command below into a temporary directory (output not a terminal, ``display=none``)
several times and prints the median and range. Targets: a single run under 3 s; a sweep of the
preset's conditions under 10 s (``--sweeps``; 6 jobs for bail, 3 for the Think Tank).

- ``wsb run experiment=bail`` (64 conversations, tool method, consequential)
- ``wsb run experiment=bail env.kwargs.bank=<BailBench CSV>`` (skipped if the CSV is absent)
- ``wsb run experiment=think_tank`` (30 visits of 40 steps)
- with ``--sweeps``: ``wsb run -m experiment=bail`` and ``wsb run -m experiment=think_tank``
"""

from __future__ import annotations

import argparse
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

BAILBENCH = Path(__file__).resolve().parents[1].parent / "shared/data/bailbench/bailBench.csv"


def timed(command: list[str], repeats: int, sweep: bool) -> list[float]:
    times = []
    for _ in range(repeats):
        with tempfile.TemporaryDirectory() as tmp:
            where = f"hydra.sweep.dir={tmp}/sweep" if sweep else f"hydra.run.dir={tmp}/run"
            start = time.perf_counter()
            subprocess.run([*command, "display=none", where], check=True, stdout=subprocess.DEVNULL)
            times.append(time.perf_counter() - start)
    return times


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--sweeps", action="store_true", help="also time the -m sweeps")
    args = parser.parse_args()
    wsb = shutil.which("wsb")
    base = [wsb] if wsb else [sys.executable, "-m", "sandbox"]
    cases: list[tuple[str, list[str], bool, float]] = [
        ("experiment=bail", [*base, "run", "experiment=bail"], False, 3.0),
        ("experiment=think_tank", [*base, "run", "experiment=think_tank"], False, 3.0),
    ]
    if BAILBENCH.is_file():
        command = [*base, "run", "experiment=bail", f"env.kwargs.bank={BAILBENCH}"]
        cases.insert(1, ("experiment=bail (BailBench)", command, False, 3.0))
    if args.sweeps:
        cases.append(
            ("-m experiment=bail (6 jobs)", [*base, "run", "-m", "experiment=bail"], True, 10.0)
        )
        cases.append(
            (
                "-m experiment=think_tank (3 jobs)",
                [*base, "run", "-m", "experiment=think_tank"],
                True,
                10.0,
            )
        )
    for name, command, sweep, target in cases:
        times = timed(command, args.repeats, sweep)
        median = statistics.median(times)
        verdict = "ok" if median < target else "over target"
        print(
            f"wsb run {name}: median {median:.2f} s over {args.repeats} runs "
            f"(min {min(times):.2f}, max {max(times):.2f}; target < {target:g} s: {verdict})"
        )


if __name__ == "__main__":
    main()
