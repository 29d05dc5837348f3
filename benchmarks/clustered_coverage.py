"""Coverage of the mean self-report's and the workday utilities' intervals, clustered by episode
against the intervals that take items as independent (issue 13).

    python benchmarks/clustered_coverage.py [--runs 300] [--episodes 20] [--truth 20000]

For each subject (the shipped ``harm_averse`` and the ``heterogeneous`` preset), the population
value is computed from ``--truth`` further episodes (the pooled mean rating; the conditional
logit's pseudo-true utilities), then ``--runs`` runs of ``--episodes`` episodes each are played
in-process (``tests/sandbox/metrics/coverage_sim.py``: the runner's loop without files) and each
95% interval is checked against it. Prints the share of runs (category-runs for utilities)
covered: clustered (what metrics.json reports) and independent (mean ± 1.96 sd/√ratings; the
Fisher interval of the fit).
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from sandbox.agents.simulated import preset
from sandbox.metrics.compute import self_report, utility_metrics
from tests.sandbox.metrics.coverage_sim import simulate_subject


def _utilities(episodes: list, categories: list[str], grouped: bool) -> dict:
    choices = [c for e in episodes for c in e.choices]
    groups = [i for i, e in enumerate(episodes) for _ in e.choices]
    return utility_metrics(choices, categories, groups if grouped else None)[0]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=300)
    parser.add_argument("--episodes", type=int, default=20)
    parser.add_argument("--truth", type=int, default=20_000)
    args = parser.parse_args()
    for name in ("harm_averse", "heterogeneous"):
        start = time.perf_counter()
        categories = sorted(preset(name).utilities)
        big = simulate_subject(name, args.truth, 10_000_000)
        mean_truth = self_report(big)["mean"]
        fit = _utilities(big, categories, grouped=False)
        u_truth = {c: v["mean"] for c, v in fit.items() if v.get("mean") is not None}
        mean_hits = {"clustered": [], "independent": []}
        u_hits = {"clustered": [], "independent": []}
        for run in range(args.runs):
            episodes = simulate_subject(name, args.episodes, run * args.episodes)
            sr = self_report(episodes)
            mean_hits["clustered"].append(sr["ci_low"] <= mean_truth <= sr["ci_high"])
            half = 1.96 * sr["sd"] / np.sqrt(sr["n"])
            mean_hits["independent"].append(abs(sr["mean"] - mean_truth) <= half)
            for kind, grouped in (("clustered", True), ("independent", False)):
                u = _utilities(episodes, categories, grouped)
                for cat, truth in u_truth.items():
                    est = u.get(cat)
                    if est and est.get("mean") is not None:
                        u_hits[kind].append(est["ci_low"] <= truth <= est["ci_high"])
        print(
            f"{name}: mean self-report covered {np.mean(mean_hits['clustered']):.3f} clustered, "
            f"{np.mean(mean_hits['independent']):.3f} independent; utilities covered "
            f"{np.mean(u_hits['clustered']):.3f} clustered, {np.mean(u_hits['independent']):.3f}"
            f" Fisher ({len(u_hits['clustered'])} category-runs; {args.runs} runs of "
            f"{args.episodes} episodes; {time.perf_counter() - start:.0f} s)"
        )


if __name__ == "__main__":
    main()
