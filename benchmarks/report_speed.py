"""Wall time and peak memory of ``wsb report`` on a 3-condition sweep (issue 12's target).

    python benchmarks/report_speed.py [--episodes 3000] [--repeats 1] [--keep DIR] [--html]

Makes the sweep first, not timed (``wsb run -m intervention=none,exit_option,rest_breaks
episodes=N``, the simulated subject, offline, ``hydra/launcher=joblib n_jobs=2`` as
``benchmarks/targets.py`` does), then runs ``wsb report SWEEP --format json`` in a child process
and prints, for each repeat, its wall time and peak RSS as ``targets.py`` measures them
(``wait4``'s ``ru_maxrss``: the largest of the report's process and its workers), and the peak
of the RSS summed over the report's process and its worker processes (sampled every 20 ms
from ``/proc``: the memory the report holds at once), and its CPU time (user + system,
workers included: what a loaded machine does not inflate). Target (issue 12): under 10 s and under
300 MB at 3,000 episodes a condition. ``--html`` also times ``--format html`` (needs
matplotlib). The load average is printed, since the machine may be shared.
"""

from __future__ import annotations

import argparse
import os
import shutil
import subprocess
import tempfile
import threading
import time
from pathlib import Path

from targets import timed, wsb  # this folder is on sys.path when run as a script


def _tree_rss_mb(pid: int) -> float:
    """The RSS of ``pid`` and its descendants, in MB (0 once it has gone)."""
    total, todo = 0, [pid]
    while todo:
        current = todo.pop()
        try:
            status = Path(f"/proc/{current}/status").read_text()
            for task in Path(f"/proc/{current}/task").iterdir():
                todo.extend(int(c) for c in (task / "children").read_text().split())
        except (OSError, ValueError):
            continue
        for line in status.splitlines():
            if line.startswith("VmRSS:"):
                total += int(line.split()[1])
    return total / 1024


def measured(args: list[str]) -> tuple[float, float, float, float]:
    """Wall seconds, ``ru_maxrss`` (MB), peak summed RSS of the process tree (MB) and CPU
    seconds (user + system, the workers' included) of one child process."""
    peak = [0.0]
    done = threading.Event()
    start = time.perf_counter()
    proc = subprocess.Popen(args, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)

    def sample() -> None:
        while not done.is_set():
            peak[0] = max(peak[0], _tree_rss_mb(proc.pid))
            time.sleep(0.02)

    sampler = threading.Thread(target=sample, daemon=True)
    sampler.start()
    _, status, usage = os.wait4(proc.pid, 0)
    wall = time.perf_counter() - start
    done.set()
    sampler.join()
    err = proc.stderr.read().decode() if proc.stderr else ""
    if os.waitstatus_to_exitcode(status) != 0:
        raise SystemExit(f"{' '.join(args)} failed:\n{err}")
    return wall, usage.ru_maxrss / 1024, peak[0], usage.ru_utime + usage.ru_stime


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--episodes", type=int, default=3000)
    parser.add_argument("--repeats", type=int, default=1)
    parser.add_argument("--keep", type=Path, help="make the sweep here (reused if it exists)")
    parser.add_argument("--html", action="store_true", help="also time --format html")
    args = parser.parse_args()
    tmp = Path(tempfile.mkdtemp()) if args.keep is None else args.keep
    sweep = tmp / "sweep"
    try:
        if not (sweep / "multirun.yaml").is_file():
            made, _ = timed(
                [
                    *wsb(), "run", "-m", "intervention=none,exit_option,rest_breaks",
                    f"episodes={args.episodes}", "display=none", f"hydra.sweep.dir={sweep}",
                    "hydra/launcher=joblib", "hydra.launcher.n_jobs=2",
                ]
            )  # fmt: skip
            print(f"sweep made in {made:.0f} s")
        size = sum(p.stat().st_size for p in sweep.glob("*/episodes.jsonl")) / 1e6
        print(f"sweep: 3 conditions x {args.episodes} episodes, {size:.0f} MB of logs")
        formats = ["json", "html"] if args.html else ["json"]
        for fmt in formats:
            out = ["--out", str(tmp / f"report.{fmt}")]
            for _ in range(args.repeats):
                load = os.getloadavg()[0]
                wall, maxrss, tree, cpu = measured(
                    [*wsb(), "report", str(sweep), "--format", fmt, *out]
                )
                met = "met" if wall < 10 and max(maxrss, tree) < 300 else "MISSED"
                print(
                    f"wsb report --format {fmt}: {wall:.1f} s wall ({cpu:.1f} s CPU), "
                    f"peak RSS {maxrss:.0f} MB "
                    f"(ru_maxrss), {tree:.0f} MB summed over its processes; "
                    f"target < 10 s, < 300 MB: {met} (load average {load:.2f} on "
                    f"{os.cpu_count()} cores)",
                    flush=True,
                )
    finally:
        if args.keep is None:
            shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    main()
