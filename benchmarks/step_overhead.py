"""Cost of one sandbox step, as a ratio to one CartPole-v1 step measured in the same process.

One sandbox step is everything the runner does per step of a run: the simulated subject acts,
TaskChoice steps (through ``gymnasium.make``'s wrappers), the step record is encoded and
appended to ``episodes.jsonl`` (flushed), and the display is told (``display=none``). Episode
set-up (``gymnasium.make``, reset, the ``episode_end`` record with its fsync) is included,
spread over the episode's steps. Target: at most 2x a CartPole step.

    python benchmarks/step_overhead.py [--episodes 400] [--repeats 5]
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
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


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--episodes", type=int, default=400)
    parser.add_argument("--repeats", type=int, default=5)
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
    print(
        f"ratio: {statistics.median(ratios):.2f}x (min {min(ratios):.2f}, max {max(ratios):.2f};"
        " target <= 2x)"
    )


if __name__ == "__main__":
    main()
