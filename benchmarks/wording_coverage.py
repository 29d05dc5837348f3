"""Coverage of the self-report wording effect's interval, over many runs of the real pipeline.

Each run plays the working day on the simulated subject through the runner and reads
``metrics.json`` → ``self_report.wording.effect``. For a subject deaf to the wording (truth 0)
and one with a planted shift, it counts the runs whose 95% interval (paired percentile bootstrap
over episodes) covers the truth, per wording, and the mean estimate (its bias).

    python benchmarks/wording_coverage.py [--runs 200] [--episodes 50]
"""

from __future__ import annotations

import argparse
import asyncio
import dataclasses
import statistics
import tempfile
from pathlib import Path
from typing import Any

from sandbox import runner
from sandbox.agents.simulated import preset
from sandbox.config import DisplayConfig, EnvConfig, InterventionConfig, RunConfig
from sandbox.display.base import NullDisplay
from sandbox.metrics.compute import compute_metrics


class _Silent(NullDisplay):
    def run_ended(self, status, metrics):  # type: ignore[no-untyped-def]
        return None


def effects(shift: list[float], episodes: int, seed: int, run_dir: Path) -> dict[str, Any]:
    """The wording effects of one run of ``episodes`` days."""
    agent = dataclasses.replace(preset("harm_averse"), report_wording_effect=shift)
    cfg = RunConfig(
        experiment="bench",
        env=EnvConfig(id="WelfareSandbox/TaskChoice-v0", kwargs={"day_length": 40}),
        agent=agent,
        intervention=InterventionConfig(),
        display=DisplayConfig(mode="none"),
        episodes=episodes,
        max_concurrency=1,
        seed=seed,
    )
    run = runner.Runner(cfg, run_dir, _Silent())
    builder, pending = run.prepare()
    run.writer = runner.store.RecordWriter(run_dir / runner.store.EPISODES)

    async def play() -> None:
        for index in pending:
            await run.run_episode(builder, index)

    asyncio.run(play())
    run.writer.close()
    metrics = compute_metrics(runner.store.read_records(run_dir / runner.store.EPISODES))
    return metrics["self_report"]["wording"]["effect"]["by_wording"]


def coverage(shift: list[float], runs: int, episodes: int) -> None:
    hits = {1: 0, 2: 0}
    means: dict[int, list[float]] = {1: [], 2: []}
    widths: list[float] = []
    with tempfile.TemporaryDirectory() as tmp:
        for r in range(runs):
            found = effects(shift, episodes, 1_000 * r, Path(tmp) / f"r{r}")
            for w in (1, 2):
                e = found[str(w)]
                truth = shift[w] if w < len(shift) else 0.0
                hits[w] += e["ci_low"] <= truth <= e["ci_high"]
                means[w].append(e["mean"])
                widths.append(e["ci_high"] - e["ci_low"])
    for w in (1, 2):
        truth = shift[w] if w < len(shift) else 0.0
        print(
            f"  shift {shift}, wording {w}: truth {truth:+.2f}, mean estimate "
            f"{statistics.fmean(means[w]):+.3f}, coverage {hits[w] / runs:.3f} ({runs} runs)"
        )
    print(f"  mean interval width {statistics.fmean(widths):.3f}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=200)
    parser.add_argument("--episodes", type=int, default=50)
    args = parser.parse_args()
    print(f"{args.episodes} episodes a run, harm_averse subject:")
    coverage([], args.runs, args.episodes)
    coverage([0.0, -1.0, 0.8], args.runs, args.episodes)


if __name__ == "__main__":
    main()
