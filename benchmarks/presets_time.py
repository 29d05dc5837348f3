"""Wall time of the published-design presets on the simulated subject, as a user runs them.

    python benchmarks/presets_time.py [--repeats 3]

Runs ``wsb run experiment=<preset> display=none`` (imports, 20 episodes and metrics
included) into a temporary directory, for ``task_preferences`` (1,200 pairwise comparisons
over 30 tasks and the opt-out) and ``tradeoff`` (440 rounds of the points game); prints the
median wall time of each and checks that ``metrics.json`` holds the design's block.
"""

from __future__ import annotations

import argparse
import json
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

PRESETS = {"task_preferences": "pairwise", "tradeoff": "tradeoff"}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args()
    wsb = shutil.which("wsb")
    command = [wsb] if wsb else [sys.executable, "-m", "sandbox"]
    for preset, block in PRESETS.items():
        times = []
        for _ in range(args.repeats):
            with tempfile.TemporaryDirectory() as tmp:
                run_dir = Path(tmp) / "run"
                start = time.perf_counter()
                subprocess.run(
                    [*command, "run", f"experiment={preset}", "display=none",
                     f"hydra.run.dir={run_dir}"],
                    check=True,
                    stdout=subprocess.DEVNULL,
                )  # fmt: skip
                times.append(time.perf_counter() - start)
                metrics = json.loads((run_dir / "metrics.json").read_text())
                status = json.loads((run_dir / "run.json").read_text())["status"]
                assert status == "complete" and metrics.get(block), (preset, status)
        print(
            f"wsb run experiment={preset} display=none: median {statistics.median(times):.2f} s "
            f"over {args.repeats} runs (min {min(times):.2f}, max {max(times):.2f}); "
            f"{metrics['steps']} steps, metrics.json['{block}'] present"
        )


if __name__ == "__main__":
    main()
