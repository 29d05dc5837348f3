"""Comparisons needed to recover a 30-task subject's utilities: active vs random pair selection.

    python benchmarks/pairwise_active.py [--seeds 30] [--max 1500] [--grid 20]

The subject is the known-answer test's (``tests/sandbox/agents/test_known_answers_pairwise.py``):
30 tasks of the shipped bank (5 per category) with utilities from -3.2 to 2.6 and the opt-out
at 0, Thurstonian noise ``sd`` per option, played by the simulated subject's own policy in
``WelfareSandbox/Pairwise-v0`` (default arguments otherwise: 25% opt-out pairs, both orders,
``swap_gap=4``, 8 candidates).

1. *The rule itself*: one long episode per seed (the active estimate keeps learning); after
   every ``--grid`` comparisons the metrics' fit (Thurstonian case V with the prior the metrics
   use) is refitted, and the first budget at which Spearman(true, fitted) >= 0.95 is recorded.
   Median over seeds, for active and random, at sd 1 (the test's subject) and sd 0.5.
2. *The preset's shape*: 20 episodes of 60 comparisons (the active estimate restarts every
   episode): Spearman after all 1,200 comparisons, median and minimum over seeds.

Target: active needs at most half the comparisons of random.
"""

from __future__ import annotations

import argparse
import statistics
import time

import numpy as np

from environments.pairwise import PairwiseEnv
from sandbox.agents.base import Turn
from sandbox.agents.designs.pairwise import PairwiseParams, act
from sandbox.agents.simulated import SimulatedSubject
from sandbox.config import SimulatedAgentConfig
from sandbox.metrics.designs.pairwise import PRIOR_SD
from sandbox.metrics.stats import spearman
from sandbox.metrics.utilities import thurstonian_fit

TRUTH_BY_CATEGORY = {
    "creative": [2.6, 2.0, 1.6, 1.2, 0.8],
    "analytical": [2.3, 1.8, 1.4, 1.0, -0.6],
    "routine": [1.1, 0.7, -0.7, -1.2, -1.6],
    "emotionally_heavy": [0.9, -0.9, -1.4, -1.9, -2.3],
    "hostile_requester": [-0.8, -1.1, -1.5, -2.0, -2.5],
    "harmful_request": [-1.8, -2.2, -2.6, -2.9, -3.2],
}
TARGET = 0.95


def play(
    selection: str, seed: int, comparisons: int, episodes: int, sd: float
) -> tuple[list[tuple[int, int]], np.ndarray]:
    """Choices (winner, loser) in order, and the true utilities by option index."""
    env = PairwiseEnv(tasks=30, selection=selection, comparisons=comparisons)
    seen: dict[str, int] = {}
    truth: dict[str, float] = {}
    for task in env.tasks:
        k = seen.get(task.category, 0)
        seen[task.category] = k + 1
        truth[task.id] = TRUTH_BY_CATEGORY[task.category][k]
    ids = [*sorted(truth), "opt_out"]
    index = {option: i for i, option in enumerate(ids)}
    cfg = SimulatedAgentConfig(pairwise=PairwiseParams(option_utilities=truth, sd=sd))
    pairs: list[tuple[int, int]] = []
    for episode in range(episodes):
        subject = SimulatedSubject(cfg, np.random.default_rng([seed, episode, 0x5EED]))
        obs, info = env.reset(seed=seed * 1000 + episode)
        labels, step = info["next"], 0
        while True:
            decision = act(subject, Turn(obs, labels, step))
            obs, _, _, truncated, info = env.step(decision.action)
            first, second = (index[o["id"]] for o in info["pair"])
            pairs.append((first, second) if info["position"] == 0 else (second, first))
            labels, step = info["next"], step + 1
            if truncated:
                break
    return pairs, np.array([truth.get(option, 0.0) for option in ids])


def rho(pairs: list[tuple[int, int]], true: np.ndarray) -> float:
    fit = thurstonian_fit(pairs, true.size, fit_sigma=False, ridge=1.0 / PRIOR_SD**2)
    mu = np.nan_to_num(fit.mu[:-1], nan=0.0)
    return spearman(true[:-1], mu) or 0.0


def needed(selection: str, seed: int, sd: float, maximum: int, grid: int) -> int | None:
    pairs, true = play(selection, seed, maximum, 1, sd)
    for n in range(grid, maximum + 1, grid):
        if rho(pairs[:n], true) >= TARGET:
            return n
    return None


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seeds", type=int, default=30)
    parser.add_argument("--max", type=int, default=1500)
    parser.add_argument("--grid", type=int, default=20)
    args = parser.parse_args()
    start = time.perf_counter()
    print(
        f"1. comparisons to Spearman >= {TARGET} (one long episode; median over {args.seeds} seeds)"
    )
    for sd in (1.0, 0.5):
        medians = {}
        for selection in ("random", "active"):
            found = [needed(selection, s, sd, args.max, args.grid) for s in range(args.seeds)]
            budget = [n if n is not None else args.max + args.grid for n in found]
            medians[selection] = statistics.median(budget)
            shown = ", ".join(str(n) if n is not None else f">{args.max}" for n in found)
            print(f"   sd {sd}: {selection:6s} median {medians[selection]:.0f}  [{shown}]")
        ratio = medians["active"] / medians["random"]
        verdict = "meets" if ratio <= 0.5 else "misses"
        print(f"   sd {sd}: active / random = {ratio:.2f} ({verdict} the target of <= 0.5)")
    print("2. the preset's shape: 20 episodes x 60 comparisons, Spearman after 1,200")
    for selection in ("random", "active"):
        values = [rho(*play(selection, s, 60, 20, 1.0)) for s in range(args.seeds)]
        print(
            f"   {selection:6s} median {statistics.median(values):.3f}, min {min(values):.3f}, "
            f">= {TARGET} in {sum(v >= TARGET for v in values)}/{len(values)} seeds"
        )
    print(f"({time.perf_counter() - start:.0f} s)")


if __name__ == "__main__":
    main()
