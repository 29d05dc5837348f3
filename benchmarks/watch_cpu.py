"""CPU use of ``wsb watch`` following a run, and the watched run's wall time with and without.

    python benchmarks/watch_cpu.py [--steps-delay 0.004] [--episodes 60] [--repeats 2]

Starts a run lasting about 10 s (``display=rich display.step_delay_s=...``: the step delay
paces the run, its output goes to /dev/null), and ``wsb watch RUN`` beside it (plain view,
default 0.5 s polls). Reports the watcher's CPU time (user + system, from ``os.wait4``) over
its wall time, and the run's wall time with the watcher and without (median of the repeats).
Targets: watcher under 5% of one core; the run no more than 5% slower when watched.
"""

from __future__ import annotations

import argparse
import os
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


def _wait(proc: subprocess.Popen[bytes]) -> tuple[float, float]:
    """Wait for ``proc``; its (cpu seconds, exit status)."""
    _, status, usage = os.wait4(proc.pid, 0)
    proc.returncode = os.waitstatus_to_exitcode(status)
    return usage.ru_utime + usage.ru_stime, proc.returncode


def _loop_time(run_dir: Path) -> float:
    """Seconds from the run's start to its last record (its own clock: no process start-up)."""
    import json

    last = (run_dir / "episodes.jsonl").read_bytes().rstrip().rsplit(b"\n", 1)[-1]
    return float(json.loads(last)["t"])


def one(tmp: Path, delay: float, episodes: int, watched: bool) -> tuple[float, float, float, float]:
    """One run; its wall time, its loop time, and the watcher's cpu and wall time."""
    run_dir = tmp / f"run-{time.monotonic_ns()}"
    command = [
        *_wsb(), "run", f"episodes={episodes}", "display=rich",
        f"display.step_delay_s={delay}", f"hydra.run.dir={run_dir}",
    ]  # fmt: skip
    start = time.perf_counter()
    run = subprocess.Popen(command, cwd=tmp, stdout=subprocess.DEVNULL)
    watcher = None
    if watched:
        watcher = subprocess.Popen(
            [*_wsb(), "watch", str(run_dir)], cwd=tmp, stdout=subprocess.DEVNULL
        )
        watch_start = time.perf_counter()
    _wait(run)
    run_wall = time.perf_counter() - start
    loop = _loop_time(run_dir)
    if watcher is None:
        return run_wall, loop, 0.0, 0.0
    cpu, code = _wait(watcher)
    watch_wall = time.perf_counter() - watch_start
    assert code == 0, f"wsb watch exited {code}"
    return run_wall, loop, cpu, watch_wall


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--step-delay", type=float, default=0.004)
    parser.add_argument("--episodes", type=int, default=60)
    parser.add_argument("--repeats", type=int, default=2)
    args = parser.parse_args()
    tmp = Path(tempfile.mkdtemp())
    try:
        alone, watched, shares, cpus, loops_alone, loops_watched = [], [], [], [], [], []
        for _ in range(args.repeats):
            run_wall, loop, _, _ = one(tmp, args.step_delay, args.episodes, watched=False)
            alone.append(run_wall)
            loops_alone.append(loop)
            run_wall, loop, cpu, watch_wall = one(tmp, args.step_delay, args.episodes, watched=True)
            watched.append(run_wall)
            loops_watched.append(loop)
            cpus.append(cpu)
            shares.append(cpu / watch_wall)
        # The fixed cost of starting: the interpreter and the watcher's imports.
        probe = "import sandbox.cli, sandbox.watch, sandbox.display.watch_view"
        start_cpu = _wait(subprocess.Popen([sys.executable, "-c", probe]))[0]
        steady = statistics.median(
            (cpu - start_cpu) / wall for cpu, wall in zip(cpus, watched, strict=True)
        )
        print(f"watcher start-up CPU (interpreter and imports): {start_cpu:.2f} s")
        print(f"watcher CPU while following, start-up excluded: {max(steady, 0):.1%} of one core")
        print(
            f"watcher CPU: {statistics.median(cpus):.2f} s over "
            f"{statistics.median(watched):.1f} s of run = {statistics.median(shares):.1%} of one "
            "core (imports included; target < 5%)"
        )
        a, w = statistics.median(alone), statistics.median(watched)
        print(
            f"run wall time: {a:.2f} s alone, {w:.2f} s watched ({(w - a) / a:+.1%}; "
            "target within 5%)"
        )
        a, w = statistics.median(loops_alone), statistics.median(loops_watched)
        print(
            f"run loop time (the run's own clock, process start-up excluded): {a:.2f} s alone, "
            f"{w:.2f} s watched ({(w - a) / a:+.1%})"
        )
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    main()
