"""The speed and memory targets of the redesign (issue 12), measured in one run, as a table.

    python benchmarks/targets.py [--report-episodes 3000] [--sweep-runs 200] [--quick]

Every figure is measured from outside, as a user meets it: ``wsb`` in a child process (the
console script, else ``python -m sandbox``), the simulated subject, ``display=none``, output in
a temporary directory. Each ratio's two sides are measured in this one run, so a loaded machine
slows both. The rows:

1. the marginal cost of a step, end to end with logging and metrics: the slope of the wall
   time of ``wsb run episodes=400`` over ``episodes=1`` (the start-up cancels), per step
   logged, against a CartPole-v1 step (``gymnasium.make``'s wrappers) timed in this process.
   Target: at most 3x;
2. a one-episode ``wsb run``: wall time, median of three. Target: under 1.5 s;
3. ``wsb report SWEEP --format json`` on a 3-condition sweep of ``--report-episodes`` episodes
   each (made first, not timed): wall time and the peak RSS of the report's process.
   Target: under 10 s and under 300 MB (at 3,000 episodes a condition);
4. a sweep of ``--sweep-runs`` runs of 50 episodes with ``hydra/launcher=joblib
   hydra.launcher.n_jobs=2``: runs a minute, start-up and summary included. Target: at least
   250 (at 200 runs; fewer runs weigh the start-up more, so the rate is a lower bound);
5. the peak RSS of a 5,000-episode run: from ``benchmarks/run_memory.py`` (run as it is; its
   own lines are printed too). Target: under 300 MB.

``--quick`` makes the long rows short (report on 300 episodes a condition, a 20-run sweep,
a 1,000-episode run): a check that the script works, not the figures.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from step_overhead import cartpole_step_s  # this folder is on sys.path when run as a script

HERE = Path(__file__).resolve().parent


def wsb() -> list[str]:
    """The ``wsb`` command as a user types it."""
    found = shutil.which("wsb")
    return [found] if found else [sys.executable, "-m", "sandbox"]


def timed(args: list[str]) -> tuple[float, float]:
    """Wall seconds and peak RSS (MB) of one child process; raises if it fails."""
    start = time.perf_counter()
    proc = subprocess.Popen(args, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    _, status, usage = os.wait4(proc.pid, 0)
    wall = time.perf_counter() - start
    proc.returncode = os.waitstatus_to_exitcode(status)
    err = proc.stderr.read().decode() if proc.stderr else ""
    if proc.returncode != 0:
        raise SystemExit(f"{' '.join(args)} exited {proc.returncode}:\n{err}")
    return wall, usage.ru_maxrss / 1024  # Linux: kilobytes


def steps_logged(run_dir: Path) -> int:
    """The step records of a run's ``episodes.jsonl``."""
    with (run_dir / "episodes.jsonl").open("rb") as log:
        return sum(1 for line in log if json.loads(line).get("type") == "step")


def step_row(tmp: Path) -> tuple[str, str, str, bool]:
    """Row 1: the slope of ``episodes=400`` over ``episodes=1``, against CartPole."""
    cmd = [*wsb(), "run", "display=none"]
    walls: dict[int, list[float]] = {1: [], 400: []}
    steps: dict[int, int] = {}
    for repeat in range(3):  # interleaved, so that a burst of load falls on both
        for episodes in (1, 400):
            run = tmp / f"slope-{episodes}-{repeat}"
            walls[episodes].append(timed([*cmd, f"episodes={episodes}", f"hydra.run.dir={run}"])[0])
            steps[episodes] = steps_logged(run)
    cartpole = statistics.median(cartpole_step_s(20_000) for _ in range(3))
    slope = (statistics.median(walls[400]) - statistics.median(walls[1])) / (steps[400] - steps[1])
    ratio = slope / cartpole
    return (
        "marginal step, end to end (episodes=400 over =1)",
        f"{slope * 1e6:.0f} us/step = {ratio:.1f}x CartPole ({cartpole * 1e6:.1f} us)",
        "<= 3x",
        ratio <= 3,
    )


def one_episode_row(tmp: Path) -> tuple[str, str, str, bool]:
    """Row 2: the wall time of a one-episode run."""
    walls = [
        timed([*wsb(), "run", "episodes=1", "display=none", f"hydra.run.dir={tmp}/one-{i}"])[0]
        for i in range(3)
    ]
    wall = statistics.median(walls)
    spread = f"(median of 3: {', '.join(f'{w:.2f}' for w in walls)})"
    return "one-episode wsb run, wall", f"{wall:.2f} s {spread}", "< 1.5 s", wall < 1.5


def report_row(tmp: Path, episodes: int) -> tuple[str, str, str, bool]:
    """Row 3: ``wsb report`` on a 3-condition sweep."""
    sweep = tmp / "report-sweep"
    made, _ = timed(
        [
            *wsb(), "run", "-m", "intervention=none,exit_option,rest_breaks",
            f"episodes={episodes}", "display=none", f"hydra.sweep.dir={sweep}",
            "hydra/launcher=joblib", "hydra.launcher.n_jobs=2",
        ]
    )  # fmt: skip
    wall, peak = timed([*wsb(), "report", str(sweep), "--format", "json"])
    return (
        f"wsb report, 3 conditions x {episodes:,} episodes",
        f"{wall:.1f} s, peak RSS {peak:.0f} MB (sweep made in {made:.0f} s)",
        "< 10 s, < 300 MB",
        wall < 10 and peak < 300,
    )


def sweep_row(tmp: Path, runs: int) -> tuple[str, str, str, bool]:
    """Row 4: runs a minute of a joblib sweep on 2 workers."""
    wall, _ = timed(
        [
            *wsb(), "run", "-m", f"seed=range(0,{runs})", "episodes=50", "display=none",
            f"hydra.sweep.dir={tmp}/sweep", "hydra/launcher=joblib", "hydra.launcher.n_jobs=2",
        ]
    )  # fmt: skip
    rate = runs / wall * 60
    return (
        f"sweep {runs} runs x 50 episodes, joblib n_jobs=2",
        f"{rate:.0f} runs/min ({wall:.0f} s)",
        ">= 250 runs/min",
        rate >= 250,
    )


def memory_row(episodes: int) -> tuple[str, str, str, bool]:
    """Row 5: the peak RSS of a long run, from ``benchmarks/run_memory.py``."""
    out = subprocess.run(
        [sys.executable, str(HERE / "run_memory.py"), str(episodes)],
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    print(out, end="")
    match = re.search(r"peak RSS (\d+) MB", out)
    if match is None:
        raise SystemExit(f"run_memory.py printed no peak RSS:\n{out}")
    peak = int(match.group(1))
    return f"{episodes:,}-episode run, peak RSS", f"{peak} MB", "< 300 MB", peak < 300


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--report-episodes", type=int, default=3000)
    parser.add_argument("--sweep-runs", type=int, default=200)
    parser.add_argument("--memory-episodes", type=int, default=5000)
    parser.add_argument("--quick", action="store_true", help="short long rows: a smoke check")
    parser.add_argument(
        "--only", help="comma-separated rows to run: step,one,report,sweep,memory (default all)"
    )
    args = parser.parse_args()
    if args.quick:
        args.report_episodes, args.sweep_runs, args.memory_episodes = 300, 20, 1000
    wanted = set((args.only or "step,one,report,sweep,memory").split(","))
    print(f"load average at start: {', '.join(f'{x:.2f}' for x in os.getloadavg())} "
          f"on {os.cpu_count()} cores")  # fmt: skip
    rows: list[tuple[str, str, str, bool]] = []

    def measured(row: tuple[str, str, str, bool]) -> None:
        rows.append(row)
        print(f"  {row[0]}: {row[1]}", flush=True)  # as it comes: the long rows take minutes

    with tempfile.TemporaryDirectory() as name:
        tmp = Path(name)
        if "one" in wanted:
            measured(one_episode_row(tmp))
        if "step" in wanted:
            measured(step_row(tmp))
        if "report" in wanted:
            measured(report_row(tmp, args.report_episodes))
        if "sweep" in wanted:
            measured(sweep_row(tmp, args.sweep_runs))
    if "memory" in wanted:
        measured(memory_row(args.memory_episodes))
    print(f"load average at end: {', '.join(f'{x:.2f}' for x in os.getloadavg())}")
    width = max(len(r[0]) for r in rows)
    for what, figure, target, met in rows:
        print(f"{what:<{width}}  {figure}  target {target}: {'met' if met else 'MISSED'}")


if __name__ == "__main__":
    main()
