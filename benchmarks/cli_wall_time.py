"""Wall time of the default ``wsb run`` (imports included), and whether it imports anthropic.

    python benchmarks/cli_wall_time.py [--repeats 5]

Runs ``wsb run display=plain`` (the default experiment, as a user types it, output not a
terminal) into a temporary directory several times; prints the median. Target: under 3 s.
"""

from __future__ import annotations

import argparse
import shutil
import statistics
import subprocess
import sys
import tempfile
import time


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=5)
    args = parser.parse_args()
    wsb = shutil.which("wsb")
    command = [wsb] if wsb else [sys.executable, "-m", "sandbox"]
    times = []
    for _ in range(args.repeats):
        with tempfile.TemporaryDirectory() as tmp:
            start = time.perf_counter()
            subprocess.run(
                [*command, "run", f"hydra.run.dir={tmp}/run"],
                check=True,
                stdout=subprocess.DEVNULL,
            )
            times.append(time.perf_counter() - start)
    probe = (
        "import sys; from sandbox.cli import main; import tempfile, os;"
        "d = tempfile.mkdtemp(); main(['run', 'display=none', f'hydra.run.dir={d}/r']);"
        "print('anthropic imported' if 'anthropic' in sys.modules else 'anthropic not imported')"
    )
    imported = (
        subprocess.run([sys.executable, "-c", probe], check=True, capture_output=True, text=True)
        .stdout.strip()
        .splitlines()[-1]
    )
    print(
        f"wsb run (default experiment): median {statistics.median(times):.2f} s over "
        f"{args.repeats} runs (min {min(times):.2f}, max {max(times):.2f}; target < 3 s); "
        f"{imported}"
    )


if __name__ == "__main__":
    main()
