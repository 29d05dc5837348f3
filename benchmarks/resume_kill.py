"""Resume after ``kill -9`` at random points: episodes lost and duplicated (targets: 0 and 0).

    python benchmarks/resume_kill.py [--trials 24] [--episodes 12] [--seed 0]

An uninterrupted ``wsb run`` (simulated subject, slowed to a few ms a step so that a run lasts a
few seconds) is the reference. Each trial starts the same command, sends SIGKILL to its process
group after a random delay (stratified from start-up to the final writes), notes what the run
directory held at that moment, and re-runs it with ``resume=true``; every third trial also kills
the resume once before resuming again. The resumed run is compared with the reference, record by
record (all fields but the timing ``t``). Exits 1 when any target is missed.
"""

from __future__ import annotations

import argparse
import os
import random
import signal
import subprocess
import sys
import tempfile
import time
from collections import Counter
from pathlib import Path
from typing import Any

HOOK = r"""
import asyncio, os, sys
from sandbox.agents import simulated
delay = float(os.environ.get("WSB_BENCH_STEP_DELAY", "0"))
act = simulated.SimulatedSubject.act
async def slow_act(self, turn):
    await asyncio.sleep(delay)
    return await act(self, turn)
simulated.SimulatedSubject.act = slow_act
from sandbox.cli import main
sys.exit(main(sys.argv[1:]))
"""


def start(args: list[str], delay: float) -> subprocess.Popen[bytes]:
    env = {**os.environ, "WSB_BENCH_STEP_DELAY": str(delay)}
    env.pop("HYDRA_FULL_ERROR", None)
    return subprocess.Popen(
        [sys.executable, "-c", HOOK, *args],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        start_new_session=True,
    )


def finish(args: list[str], delay: float) -> None:
    proc = start(args, delay)
    if proc.wait(timeout=600) != 0:
        raise SystemExit(f"wsb {' '.join(args)} exited {proc.returncode}")


def kill_after(proc: subprocess.Popen[bytes], seconds: float) -> bool:
    """SIGKILL the process group after ``seconds``; False if the run had already ended."""
    try:
        proc.wait(timeout=seconds)
        return False
    except subprocess.TimeoutExpired:
        os.killpg(proc.pid, signal.SIGKILL)
        proc.wait()
        return True


def phase(run_dir: Path, episodes: int) -> str:
    """What the run was doing when it was killed, from its files."""
    log = run_dir / "episodes.jsonl"
    if not (run_dir / "run.json").exists() or not log.exists() or not log.stat().st_size:
        return "start-up (no records yet)"
    data = log.read_bytes()
    if data.count(b'"type":"episode_end"') >= episodes:
        return "final writes (metrics.json, run.json)"
    if not data.endswith(b"\n"):
        return "during steps, mid-line (torn last line)"
    last = data.rstrip(b"\n").rsplit(b"\n", 1)[-1]
    if b'"type":"episode_end"' in last:
        return "right after an episode ended"
    return "during steps"


def records(run_dir: Path) -> tuple[dict[tuple[Any, ...], dict[str, Any]], int]:
    """Records by (type, episode, step) without ``t``, and how many keys appeared twice."""
    from sandbox import store

    out: dict[tuple[Any, ...], dict[str, Any]] = {}
    duplicates = 0
    for record in store.read_records(run_dir / "episodes.jsonl"):
        key = (record["type"], record["episode"], record.get("step"))
        duplicates += key in out
        out[key] = {k: v for k, v in record.items() if k != "t"}
    return out, duplicates


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--trials", type=int, default=24)
    parser.add_argument("--episodes", type=int, default=12)
    parser.add_argument("--step-delay", type=float, default=0.02)
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()
    rng = random.Random(args.seed)
    common = [
        "run",
        "display=none",
        f"episodes={args.episodes}",
        "max_concurrency=3",
        "env.kwargs.day_length=12",
    ]
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        # The reference run, timed: start-up until the first record, then the episodes.
        began = time.perf_counter()
        proc = start([*common, f"hydra.run.dir={root}/reference"], args.step_delay)
        first_record = None
        while proc.poll() is None:
            log = root / "reference" / "episodes.jsonl"
            if first_record is None and log.exists() and log.stat().st_size:
                first_record = time.perf_counter() - began
            time.sleep(0.005)
        duration = time.perf_counter() - began
        if proc.returncode != 0 or first_record is None:
            raise SystemExit("the reference run failed")
        reference, _ = records(root / "reference")
        # Kill points, stratified so that they cover the whole run however fast this machine
        # is: trial i dies at a random moment of the i-th of ``trials`` equal slices of
        # [half the start-up, the end]. A third or so land in start-up, the rest while
        # records are written or finished (a plain uniform draw could put them all in one).
        low = first_record * 0.5

        def kill_time(i: int) -> float:
            width = (duration - low) / args.trials
            return low + width * (i + rng.random())

        phases: Counter[str] = Counter()
        lost = duplicated = mismatched = killed_resumes = not_killed = 0
        for trial in range(args.trials):
            run = [*common, f"hydra.run.dir={root}/trial{trial}"]
            if not kill_after(start(run, args.step_delay), kill_time(trial)):
                not_killed += 1
            phases[phase(root / f"trial{trial}", args.episodes)] += 1
            if trial % 3 == 2:  # kill the resume too, once
                killed_resumes += kill_after(
                    start([*run, "resume=true"], args.step_delay),
                    kill_time(rng.randrange(args.trials)),
                )
            finish([*run, "resume=true"], args.step_delay)
            got, dup = records(root / f"trial{trial}")
            duplicated += dup
            ref_ends = {k[1] for k in reference if k[0] == "episode_end"}
            got_ends = {k[1] for k in got if k[0] == "episode_end"}
            lost += len(ref_ends - got_ends)
            mismatched += sum(1 for k in reference if got.get(k) != reference[k])
            mismatched += sum(1 for k in got if k not in reference)
    print(
        f"resume after kill -9: {args.trials} kill points over a {duration:.1f} s run of "
        f"{args.episodes} episodes (first record at {first_record:.1f} s; "
        f"{args.trials - not_killed} killed mid-run, {not_killed} ended before the kill), "
        f"plus {killed_resumes} killed resumes"
    )
    for name, count in sorted(phases.items()):
        print(f"  killed at {name}: {count}")
    print(
        f"episodes lost: {lost} (target 0); duplicate records: {duplicated} (target 0); "
        f"records differing from the uninterrupted run: {mismatched} (target 0)"
    )
    if lost or duplicated or mismatched:
        raise SystemExit(
            1
        )  # a target missed: the slow test (tests/sandbox/test_slow_campaigns.py) fails


if __name__ == "__main__":
    main()
