"""Cost of one sandbox step, as a ratio to one CartPole-v1 step measured in the same process.

One sandbox step is everything the runner does per step of a run: the simulated subject acts,
TaskChoice steps (through ``gymnasium.make``'s wrappers), the step record is encoded and
appended to ``episodes.jsonl`` (flushed), and the display is told (``display=none``). Episode
set-up (``gymnasium.make``, reset, the ``episode_end`` record with its fsync) is included,
spread over the episode's steps.

Then the issue's measure, end to end (issue 12: at most 3x a CartPole step): the marginal cost
of a step of ``wsb run`` (simulated subject, ``display=none``, logging and metrics included),
the slope of ``wsb run episodes=400`` over ``wsb run episodes=1`` (each in its own process),
per step, against a CartPole step measured in this run. Both are given in wall time and in CPU
time (``getrusage`` of the child): on a machine other processes load, the CPU figure is the
steadier one. The minimum over ``--repeats`` is taken (the run least disturbed).

    python benchmarks/step_overhead.py [--episodes 400] [--repeats 5] [--no-cli]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import gymnasium

from sandbox import runner
from sandbox.agents.simulated import preset
from sandbox.config import (
    DisplayConfig,
    EnvConfig,
    InterventionConfig,
    RunConfig,
)
from sandbox.display.base import NullDisplay


def cartpole_step_s(steps: int) -> float:
    env = gymnasium.make("CartPole-v1")
    env.reset(seed=0)
    start = time.perf_counter()
    for i in range(steps):
        _, _, terminated, truncated, _ = env.step(i % 2)
        if terminated or truncated:
            env.reset()
    return (time.perf_counter() - start) / steps


class _Silent(NullDisplay):
    def run_ended(self, status, metrics):  # type: ignore[no-untyped-def]
        return None


def sandbox_step_s(episodes: int, run_dir: Path) -> float:
    cfg = RunConfig(
        experiment="bench",
        env=EnvConfig(id="WelfareSandbox/TaskChoice-v0", kwargs={"day_length": 40}),
        agent=preset("harm_averse"),
        intervention=InterventionConfig(),
        display=DisplayConfig(mode="none"),
        episodes=episodes,
        max_concurrency=1,
    )
    run = runner.Runner(cfg, run_dir, _Silent())
    builder, pending = run.prepare()
    run.writer = runner.store.RecordWriter(run_dir / runner.store.EPISODES)

    async def play() -> None:
        for index in pending:
            await run.run_episode(builder, index)

    start = time.perf_counter()
    asyncio.run(play())
    elapsed = time.perf_counter() - start
    run.writer.close()
    steps = sum(1 for _ in (run_dir / runner.store.EPISODES).open()) - episodes
    return elapsed / steps


def cartpole_cpu_step_s(steps: int) -> float:
    """A CartPole step in CPU time of this process."""
    env = gymnasium.make("CartPole-v1")
    env.reset(seed=0)
    start = time.process_time()
    for i in range(steps):
        _, _, terminated, truncated, _ = env.step(i % 2)
        if terminated or truncated:
            env.reset()
    return (time.process_time() - start) / steps


def cli_run(episodes: int, run_dir: Path) -> tuple[float, float, int]:
    """Wall and CPU seconds of ``wsb run episodes=N display=none`` in a child, and its steps."""
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    start = time.perf_counter()
    subprocess.run(
        [sys.executable, "-m", "sandbox", "run", f"episodes={episodes}", "display=none",
         f"hydra.run.dir={run_dir}"],
        check=True, stdout=subprocess.DEVNULL,
    )  # fmt: skip
    wall = time.perf_counter() - start
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
    steps = int(json.loads((run_dir / "metrics.json").read_text())["steps"])
    return wall, cpu, steps


def cli_slope(episodes: int, repeats: int) -> None:
    """The marginal cost of a step of ``wsb run``, against CartPole's (min over repeats)."""
    walls, cpus, cart_wall, cart_cpu = [], [], [], []
    for _ in range(repeats):
        with tempfile.TemporaryDirectory() as tmp:
            w1, c1, s1 = cli_run(1, Path(tmp) / "one")
            wn, cn, sn = cli_run(episodes, Path(tmp) / "many")
        walls.append((wn - w1) / (sn - s1))
        cpus.append((cn - c1) / (sn - s1))
        cart_wall.append(cartpole_step_s(episodes * 40))
        cart_cpu.append(cartpole_cpu_step_s(episodes * 40))
    print(
        f"wsb run, marginal step (slope of episodes={episodes} over episodes=1, "
        f"min of {repeats}): wall {min(walls) * 1e6:.1f} us = "
        f"{min(walls) / min(cart_wall):.2f}x CartPole ({min(cart_wall) * 1e6:.1f} us); "
        f"CPU {min(cpus) * 1e6:.1f} us = {min(cpus) / min(cart_cpu):.2f}x CartPole "
        f"({min(cart_cpu) * 1e6:.1f} us); target <= 3x"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--episodes", type=int, default=400)
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--no-cli", action="store_true", help="skip the end-to-end slope")
    args = parser.parse_args()
    ratios, ours, theirs = [], [], []
    for repeat in range(args.repeats):
        with tempfile.TemporaryDirectory() as tmp:
            s = sandbox_step_s(args.episodes, Path(tmp) / f"r{repeat}")
        c = cartpole_step_s(args.episodes * 40)
        ours.append(s)
        theirs.append(c)
        ratios.append(s / c)
    print(
        f"sandbox step (TaskChoice + simulated subject + logging): "
        f"{statistics.median(ours) * 1e6:.1f} us (median of {args.repeats})"
    )
    print(f"CartPole-v1 step via gymnasium.make: {statistics.median(theirs) * 1e6:.1f} us")
    print(f"ratio: {statistics.median(ratios):.2f}x (min {min(ratios):.2f}, max {max(ratios):.2f})")
    if not args.no_cli:
        cli_slope(args.episodes, args.repeats)


if __name__ == "__main__":
    main()
