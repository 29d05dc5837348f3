"""Peak memory of a long simulated run, and the cost of its metrics.

    python benchmarks/run_memory.py [EPISODES] [DAY_LENGTH]

Runs ``wsb run episodes=EPISODES display=none`` (default 5,000 episodes of the default
experiment's working day, 40 steps) in a child process into a temporary directory and prints:

- the child's peak resident memory (``ru_maxrss`` of the finished child). Target: under
  300 MB for 5,000 episodes, and no growth with the number of episodes (the runner counts each
  record as it writes it, :mod:`sandbox.metrics.tally`, and keeps none);
- the time to compute ``metrics.json`` from that run's records, split into what is streamed
  while the run goes (reading each record once) and what is left when the run finishes or is
  interrupted (the run-level fits): the second part is all Ctrl-C waits for.

A second argument sets ``env.kwargs.day_length`` (a shorter day for a quicker check).
"""

from __future__ import annotations

import os
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from sandbox import store
from sandbox.metrics.compute import metrics_of
from sandbox.metrics.tally import RunTally


def main() -> None:
    episodes = int(sys.argv[1]) if len(sys.argv) > 1 else 5000
    day = sys.argv[2] if len(sys.argv) > 2 else None
    with tempfile.TemporaryDirectory() as tmp:
        run_dir = Path(tmp) / "run"
        command = [
            sys.executable,
            "-m",
            "sandbox",
            "run",
            f"episodes={episodes}",
            "display=none",
            f"hydra.run.dir={run_dir}",
        ]
        if day is not None:
            command.append(f"env.kwargs.day_length={day}")
        start = time.perf_counter()
        subprocess.run(command, check=True, stdout=subprocess.DEVNULL, cwd=tmp, env=os.environ)
        wall = time.perf_counter() - start
        peak_mb = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024  # KiB on Linux
        path = run_dir / store.EPISODES
        t0 = time.perf_counter()
        tally = RunTally().add_all(store.iter_records(path))
        t1 = time.perf_counter()
        metrics_of(tally)
        t2 = time.perf_counter()
        steps = tally.counts.steps
    print(f"wsb run episodes={episodes} display=none" + (f" day_length={day}" if day else ""))
    print(f"  {steps:,} steps in {wall:.1f} s wall")
    print(f"  peak RSS {peak_mb:.0f} MB (target < 300 MB)")
    print(
        f"  metrics: {t1 - t0:.2f} s streamed during the run ({(t1 - t0) / steps * 1e6:.0f} µs a "
        f"step, file reading included), {t2 - t1:.2f} s left at the end (all Ctrl-C waits for)"
    )


if __name__ == "__main__":
    main()
