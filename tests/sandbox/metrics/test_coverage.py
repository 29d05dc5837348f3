"""The intervals of the step-pooled rates cover the truth as often as they say (issue 13 §1).

A run is 20 episodes of the workday (the shipped default); each subject plays 1,000 runs
(disjoint seeds) in-process (:mod:`tests.sandbox.metrics.coverage_sim`). The truth is each
rate's population value for the subject's true parameters: the step-pooled rate (sum of hits ÷
sum of decisions) of 40,000 further episodes, cached in ``coverage_truth.json`` (its own slow
test checks the cache against a fresh simulation). Coverage of a nominal 95% interval must be in
[0.93, 0.97]: with 1,000 runs the estimate's standard error is 0.007, so a calibrated interval
passes with room to spare and one at 0.90 (or at 0.99) fails.

Subjects: ``harm_averse`` (the default; episodes differ only through their menus and states),
``heterogeneous`` (utilities drawn per episode with sd 1, a per-episode and drifting position
bias, 5% lapses), the same offered a real exit (``intervention=exit_option``: its exit rate, one
indicator per episode, has the plain Wilson), and the heterogeneous subject without position
bias (its first-listed share is chance by symmetry: menus are in random order), on which the
position-bias test must reject no bias in at most 7% of runs, and the heterogeneous subject
abandoning a share of the tasks it takes at their work steps, that share drawn per episode
(``agent.work_abandon``, ``work_abandon_sd``: its ``work_refusal_rate``).

About 45 s a subject (2 ms an episode): slow.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from functools import cache

import pytest

from sandbox.metrics.clustered import ClusterSums
from sandbox.metrics.counts import Counts
from sandbox.metrics.rates import position_bias
from sandbox.metrics.stats import Rate, wilson
from sandbox.metrics.tally import EpisodeTally
from tests.sandbox.metrics import coverage_sim as sim

RUNS = 1000
EPISODES = 20
LOW, HIGH = 0.93, 0.97
CHANCE = 1.0 / sim.WORKDAY["menu_size"]

pytestmark = pytest.mark.slow


@cache
def runs(subject: str) -> list[list[EpisodeTally]]:
    """``RUNS`` runs of ``EPISODES`` episodes of the subject (seeds 0 ..)."""
    episodes = sim.simulate_subject(subject, RUNS * EPISODES, 0)
    return [episodes[i * EPISODES : (i + 1) * EPISODES] for i in range(RUNS)]


#: metrics.json's rate of a run, for each headline rate the tests check.
RATES: dict[str, Callable[[Counts, list[EpisodeTally]], Rate]] = {
    "refusal_rate": lambda c, _: c.refusal_rate(),
    "work_refusal_rate": lambda c, _: c.work_refusal_rate(),
    "rest_rate": lambda c, _: c.rest_rate(),
    "exit_rate": lambda c, _: c.exit_rate(),
    "first_share": lambda _, e: position_bias([x.choices for x in e])["first_share"],
    **{f"choice_share.{cat}": (lambda c, _, cat=cat: c.share_rate(cat)) for cat in sim.CATEGORIES},
}


def coverage(subject: str, name: str, truth: float) -> float:
    covered = 0
    for episodes in runs(subject):
        rate = RATES[name](sim.run_counts(episodes), episodes)
        assert rate["ci_low"] is not None and rate["ci_high"] is not None
        # One exit indicator per episode: the plain Wilson; every other rate pools decisions.
        assert rate["method"] == ("wilson" if name == "exit_rate" else "wilson_cluster")
        assert rate["n_episodes"] == EPISODES
        covered += rate["ci_low"] <= truth <= rate["ci_high"]
    return covered / RUNS


def headline(subject: str) -> list[str]:
    """The rates a subject exercises: its truth strictly between 0 and 1 (a rate that is
    always 0, such as this subject's harmful-request share, is covered trivially)."""
    truth = sim.truth()[subject]
    return [name for name in RATES if truth[name] is not None and 0.0 < truth[name] < 1.0]


@pytest.mark.parametrize(
    "subject", ["harm_averse", "heterogeneous", "heterogeneous_exit", "heterogeneous_abandon"]
)
def test_every_headline_rate_covers_the_truth_at_its_nominal_level(subject: str):
    truth = sim.truth()[subject]
    measured = {name: coverage(subject, name, truth[name]) for name in headline(subject)}
    assert len(measured) >= 6, measured
    assert all(LOW <= c <= HIGH for c in measured.values()), measured


def test_the_heterogeneous_subject_breaks_the_independent_steps_interval():
    # Its refusals and choices spread across runs beyond what the plain Wilson on decisions
    # allows: that interval's coverage falls clearly below 95% (the audit measured 0.81-0.85).
    # (Its rests do not: fatigue spaces them out, and their design effect is about 0.9.)
    truth = sim.truth()["heterogeneous"]
    for name in ("refusal_rate", "choice_share.creative"):
        pairs = [sim.PAIRS[name](e) for run in runs("heterogeneous") for e in run]
        covered, values, decisions = 0, [], 0
        for start in range(0, len(pairs), EPISODES):
            hits = sum(h for h, _ in pairs[start : start + EPISODES])
            trials = sum(n for _, n in pairs[start : start + EPISODES])
            plain = wilson(hits, trials)
            assert plain["ci_low"] is not None and plain["ci_high"] is not None
            covered += plain["ci_low"] <= truth[name] <= plain["ci_high"]
            values.append(hits / trials)
            decisions += trials
        mean = sum(values) / RUNS
        spread = math.sqrt(sum((v - mean) ** 2 for v in values) / (RUNS - 1))
        binomial = math.sqrt(truth[name] * (1 - truth[name]) / (decisions / RUNS))
        assert covered / RUNS < 0.90, (name, covered / RUNS)
        assert spread > 1.25 * binomial, (name, spread, binomial)


def test_the_position_test_rarely_rejects_an_unbiased_heterogeneous_subject():
    rejected = 0
    for episodes in runs("heterogeneous_unbiased"):
        bias = position_bias([e.choices for e in episodes])
        assert bias["ci_low"] is not None and bias["ci_high"] is not None
        rejected += not bias["ci_low"] <= 0.0 <= bias["ci_high"]
    assert rejected / RUNS <= 0.07, rejected / RUNS


def test_the_cached_truth_is_the_subjects():
    # A fresh 10,000 episodes of each subject agree with the cached population values within
    # four standard errors (clustered by episode): the cache is not stale.
    fresh_seed = sim.TRUTH_SEED + 5 * sim.TRUTH_EPISODES
    for subject in sim.SUBJECTS:
        episodes = sim.simulate_subject(subject, 10_000, fresh_seed)
        cached = sim.truth()[subject]
        for name, pair in sim.PAIRS.items():
            if cached[name] is None or not 0 < cached[name] < 1:
                continue
            rate = ClusterSums.of(pair(e) for e in episodes).rate()
            assert rate["value"] is not None and rate["ci_high"] is not None
            se = (rate["ci_high"] - rate["ci_low"]) / (2 * 1.96)
            assert abs(rate["value"] - cached[name]) < 4 * se, (subject, name)
