"""Time of ``compute_metrics`` on a real run of 200 working days (40 steps each).

    python benchmarks/metrics_speed.py

Plays the default experiment's subject for 200 episodes into a temporary directory, then times
computing ``metrics.json`` from its records (median of 5). Target: well under 1 s.
"""

from __future__ import annotations

import statistics
import tempfile
import time
from pathlib import Path

from sandbox import runner, store
from sandbox.agents.simulated import preset
from sandbox.config import DisplayConfig, EnvConfig, InterventionConfig, RunConfig
from sandbox.display.base import NullDisplay
from sandbox.metrics import compute_metrics


class _Silent(NullDisplay):
    def run_ended(self, status, metrics):  # type: ignore[no-untyped-def]
        return None


def main() -> None:
    cfg = RunConfig(
        experiment="bench",
        env=EnvConfig(id="WelfareSandbox/TaskChoice-v0", kwargs={"day_length": 40}),
        agent=preset("harm_averse"),
        intervention=InterventionConfig(name="exit_option", env_kwargs={"allow_exit": True}),
        display=DisplayConfig(mode="none"),
        episodes=200,
    )
    with tempfile.TemporaryDirectory() as tmp:
        runner.run(cfg, Path(tmp) / "run", _Silent())
        records = store.read_records(Path(tmp) / "run" / store.EPISODES)
    times = []
    for _ in range(5):
        start = time.perf_counter()
        compute_metrics(records)
        times.append(time.perf_counter() - start)
    print(
        f"compute_metrics on {len(records)} records (200 episodes): "
        f"median {statistics.median(times):.3f} s (target < 1 s)"
    )


if __name__ == "__main__":
    main()
