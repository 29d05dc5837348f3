"""Sweep throughput: runs per minute of a simulated-subject sweep, joblib against basic.

    python benchmarks/sweep_throughput.py [--runs 200] [--episodes 50] [--n-jobs 2]

Runs ``wsb run -m seed=range(0,RUNS) episodes=EPISODES display=none`` (the default workday
experiment, simulated subject) into a temporary sweep directory twice: with Hydra's basic
launcher (jobs one after another in one process) and with ``hydra/launcher=joblib
hydra.launcher.n_jobs=N`` (jobs in N worker processes). Times are wall-clock for the whole
command, start-up and summary included. Then re-runs both sweeps with ``resume=true``: every
job is complete, so each is skipped: what is left is the per-job cost of Hydra (composing each
job's config, in the parent process to check the batch and in the worker to run it; saving
``.hydra/``) and of the sweep callbacks.
Target (issue 12): joblib on 2 cores at least 250 runs/min. The parent composes one job per
family of jobs that differ only in plain values (sandbox/composition.py), so the first job
starts within seconds; each job is still composed where it runs.
"""

from __future__ import annotations

import argparse
import json
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path


def sweep(
    command: list[str], sweep_dir: Path, runs: int, episodes: int, *extra: str
) -> tuple[float, float]:
    """Wall time of one sweep, and when its first job started; checks every job completed."""
    args = [
        *command,
        "run",
        "-m",
        f"seed=range(0,{runs})",
        f"episodes={episodes}",
        "display=none",
        f"hydra.sweep.dir={sweep_dir}",
        *extra,
    ]
    start = time.perf_counter()
    proc = subprocess.Popen(args, stdout=subprocess.DEVNULL)
    first = None
    while proc.poll() is None:
        # Jobs are composed (twice) in this process before the first one is launched.
        if first is None and sweep_dir.is_dir() and next(sweep_dir.glob("*/run.log"), None):
            first = time.perf_counter() - start
        time.sleep(0.02)
    elapsed = time.perf_counter() - start
    if proc.returncode != 0:
        raise SystemExit(f"the sweep in {sweep_dir} exited {proc.returncode}")
    rows = json.loads((sweep_dir / "summary.json").read_text())["jobs"]
    done = sum(1 for row in rows if row["status"] == "complete")
    assert done == runs, f"{done} of {runs} jobs complete in {sweep_dir}"
    return elapsed, elapsed if first is None else first


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=200)
    parser.add_argument("--episodes", type=int, default=50)
    parser.add_argument("--n-jobs", type=int, default=2)
    args = parser.parse_args()
    wsb = shutil.which("wsb")
    command = [wsb] if wsb else [sys.executable, "-m", "sandbox"]
    joblib = ["hydra/launcher=joblib", f"hydra.launcher.n_jobs={args.n_jobs}"]
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        basic, basic_first = sweep(command, root / "basic", args.runs, args.episodes)
        parallel, first = sweep(command, root / "joblib", args.runs, args.episodes, *joblib)
        skipped, _ = sweep(
            command, root / "joblib", args.runs, args.episodes, *joblib, "resume=true"
        )
        skipped_basic, _ = sweep(command, root / "basic", args.runs, args.episodes, "resume=true")
    size = f"{args.runs} runs x {args.episodes} episodes"
    print(f"sweep of {size} (simulated subject, workday, display=none):")
    print(
        f"  basic launcher:   {basic:7.1f} s  {args.runs / basic * 60:7.1f} runs/min  "
        f"(first job started after {basic_first:.1f} s)"
    )
    print(
        f"  joblib, n_jobs={args.n_jobs}: {parallel:7.1f} s  {args.runs / parallel * 60:7.1f} "
        f"runs/min  ({basic / parallel:.2f}x basic; first job started after "
        f"{first:.1f} s)"
    )
    print("  the same sweeps again with resume=true (every job complete, so skipped): the")
    print("  per-job cost of Hydra and the sweep callbacks, with no episode played:")
    for name, total, overhead in (("basic", basic, skipped_basic), ("joblib", parallel, skipped)):
        print(
            f"    {name:<7} {overhead:7.1f} s ({overhead / args.runs * 1000:4.0f} ms a job; "
            f"{overhead / total:.0%} of the full sweep's wall time)"
        )


if __name__ == "__main__":
    main()
