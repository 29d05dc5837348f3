"""How long ``wsb report`` takes on a sweep of 3 conditions x 200 episodes.

    python benchmarks/report_speed.py [--episodes 200] [--repeats 3] [--keep DIR]

Makes the sweep first (``wsb run -m intervention=none,exit_option,rest_breaks episodes=N``, the
simulated subject, offline), then times ``wsb report SWEEP --format json`` and, when matplotlib
is installed, ``--format html`` (process wall time, imports included; median of the repeats).
Target: under 5 s for json, under 10 s for html.
"""

from __future__ import annotations

import argparse
import importlib.util
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path


def _wsb() -> list[str]:
    found = shutil.which("wsb")
    return [found] if found else [sys.executable, "-m", "sandbox"]


def _time(command: list[str], repeats: int) -> float:
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        subprocess.run(command, check=True, stdout=subprocess.DEVNULL)
        times.append(time.perf_counter() - start)
    return statistics.median(times)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--episodes", type=int, default=200)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--keep", type=Path, help="make the sweep here and keep it")
    args = parser.parse_args()
    wsb = _wsb()
    tmp = Path(tempfile.mkdtemp()) if args.keep is None else args.keep
    sweep = tmp / "sweep"
    try:
        start = time.perf_counter()
        subprocess.run(
            [
                *wsb, "run", "-m", "intervention=none,exit_option,rest_breaks",
                f"episodes={args.episodes}", "display=none", f"hydra.sweep.dir={sweep}",
            ],
            check=True, stdout=subprocess.DEVNULL, cwd=tmp,
        )  # fmt: skip
        made = time.perf_counter() - start
        size = sum(p.stat().st_size for p in sweep.glob("*/episodes.jsonl")) / 1e6
        print(f"sweep: 3 conditions x {args.episodes} episodes, {size:.1f} MB of logs, "
              f"made in {made:.1f} s")  # fmt: skip
        json_s = _time([*wsb, "report", str(sweep), "--format", "json"], args.repeats)
        print(f"wsb report --format json: {json_s:.2f} s (median of {args.repeats}; target < 5 s)")
        if importlib.util.find_spec("matplotlib") is not None:
            out = tmp / "report.html"
            html_s = _time(
                [*wsb, "report", str(sweep), "--format", "html", "--out", str(out)], args.repeats
            )
            print(
                f"wsb report --format html: {html_s:.2f} s (median of {args.repeats}; "
                f"target < 10 s), {out.stat().st_size / 1e3:.0f} kB"
            )
        else:
            print("wsb report --format html: skipped (pip install 'welfare-sandbox[plots]')")
    finally:
        if args.keep is None:
            shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    main()
