"""The pairwise proxies against subjects that break the Thurstonian model (fast checks).

The coverage over many runs is in ``test_misspecified_coverage.py`` (slow). Here: the pieces
on records whose answer is known exactly, and one real run per misspecification that a user
would notice if the check broke (the opt-out context warning, the clustered position-bias
test, the intervals that widen when episodes differ).
"""

from __future__ import annotations

import math

import numpy as np
import pytest

from environments.pairwise import PairwiseEnv
from sandbox import runner
from sandbox.agents.designs import pairwise_truth
from sandbox.agents.simulated import preset
from sandbox.display.base import NullDisplay
from sandbox.metrics.designs.pairwise import compute
from sandbox.metrics.designs.pairwise_checks import chi2_sf, t_quantile
from sandbox.metrics.designs.pairwise_data import RIDGE
from sandbox.metrics.robust import case_v_counts, episode_bootstrap, pair_counts, poisson_binomial
from sandbox.metrics.utilities import thurstonian_fit

AVERSIVE = pairwise_truth.AVERSIVE_CATEGORIES


class Silent(NullDisplay):
    def run_ended(self, status, metrics):
        return None


def random_pairs(seed: int, k: int = 12, episodes: int = 10, per: int = 40):
    rng = np.random.default_rng(seed)
    mu = rng.normal(0, 1, k)
    pairs, labels = [], []
    for e in range(episodes):
        for _ in range(per):
            i, j = rng.choice(k, 2, replace=False)
            win = mu[i] - mu[j] + math.sqrt(2) * rng.standard_normal() > 0
            pairs.append((int(i), int(j)) if win else (int(j), int(i)))
            labels.append(e)
    return pairs, labels, k


def test_the_bootstrap_refit_is_the_proxies_fit():
    pairs, episodes, k = random_pairs(0)
    fit = thurstonian_fit(pairs, k, fit_sigma=False, ridge=RIDGE)
    counts = pair_counts(pairs, episodes, k)
    mine = case_v_counts(counts, *counts.totals(), ridge=RIDGE)
    assert np.allclose(mine.mu, fit.mu, atol=1e-6)
    assert np.allclose(np.sqrt(np.diag(mine.cov)), fit.mu_se, rtol=1e-4)


def test_the_episode_bootstrap_is_reproducible_and_needs_two_episodes():
    pairs, episodes, k = random_pairs(1)
    counts = pair_counts(pairs, episodes, k)
    start = case_v_counts(counts, *counts.totals(), ridge=RIDGE).mu
    a = episode_bootstrap(counts, ridge=RIDGE, start=start, replicates=20)
    b = episode_bootstrap(counts, ridge=RIDGE, start=start, replicates=20)
    assert a is not None and b is not None and np.array_equal(a.mu, b.mu)
    one = pair_counts(pairs, [0] * len(pairs), k)
    assert episode_bootstrap(one, ridge=RIDGE, start=start) is None


def test_small_distributions_match_their_known_values():
    assert chi2_sf(3.841459, 1) == pytest.approx(0.05, abs=1e-6)
    assert chi2_sf(11.0705, 5) == pytest.approx(0.05, abs=1e-5)
    assert chi2_sf(9.21034, 2) == pytest.approx(0.01, abs=1e-6)
    assert t_quantile(0.975, 19) == pytest.approx(2.093, abs=2e-3)
    assert t_quantile(0.975, 4) == pytest.approx(2.776, abs=1e-2)
    dist = poisson_binomial([0.3] * 5)
    assert dist.sum() == pytest.approx(1.0)
    assert dist[2] == pytest.approx(10 * 0.3**2 * 0.7**3)


def shows(bias_by_episode: dict[int, int], pairs: int = 20) -> list[dict]:
    """Each episode: ``pairs`` pairs shown in both orders; in an episode of bias +1 the first
    listed option wins both showings, of bias -1 the second, of 0 the same option both."""
    out = []
    for episode, bias in bias_by_episode.items():
        for index in range(pairs):
            a, b = f"a{index}", f"b{index}"
            for order, (x, y) in enumerate(((a, b), (b, a))):
                pick = 0 if bias > 0 else 1 if bias < 0 else (0 if x == a else 1)
                pair = [{"id": x, "category": x[0]}, {"id": y, "category": y[0]}]
                info = {"design": "pairwise", "pair": pair, "order": order, "pair_index": index}
                out.append({"type": "step", "episode": episode, "info": info | {"position": pick}})
    return out


def test_position_bias_that_averages_zero_over_episodes_is_not_declared():
    # Ten episodes drawn to the first slot, ten to the second, nothing else: the pooled share
    # is exactly 0.5 but the choices are far from independent draws of it.
    mixed = compute(shows({e: 1 if e % 2 else -1 for e in range(20)}))["position_bias"]
    assert mixed["value"] == 0.0 and mixed["episodes"] == 20
    # Each episode is 20 of 40 away from its share: the sandwich is 20/19 x 20 x 400 / 800².
    half = t_quantile(0.975, 19) * math.sqrt(20 / 19 * 20 * 400) / 800
    assert (mixed["ci_low"], mixed["ci_high"]) == pytest.approx((-half, half))
    assert half > 0.2  # against a pooled Wilson half-width of 0.035
    assert mixed["first_share"]["ci_high"] - 0.5 < 0.04
    assert "episode-clustered" in mixed["method"]
    # Most episodes drawn to the first slot: declared, and the pooled Wilson is narrower.
    biased = compute(shows({e: 1 if e % 4 else -1 for e in range(20)}))["position_bias"]
    assert biased["ci_low"] > 0.0
    pooled = biased["first_share"]
    assert pooled["ci_high"] - pooled["ci_low"] < biased["ci_high"] - biased["ci_low"]


def run(compose_cfg, tmp_path, preset_name: str) -> dict:
    cfg = compose_cfg("display=none", "experiment=task_preferences", f"agent/preset={preset_name}")
    result = runner.run(cfg, tmp_path / "run", Silent())
    assert result.status == "complete" and result.metrics is not None
    return result.metrics["pairwise"]


def test_a_context_dependent_opt_out_is_flagged_in_metrics_json(compose_cfg, tmp_path):
    m = run(compose_cfg, tmp_path, "misspecified_context_opt_out")
    context = m["opt_out_context"]
    assert context["flagged"] is True and context["p_value"] < 1e-4, context
    assert any("context-dependent" in w for w in m["warnings"])
    # The opt-out sits higher against the aversive tasks (the planted +1.5) than the others.
    places = {c: v["place"] for c, v in context["categories"].items()}
    assert min(places["harmful_request"], places["hostile_requester"]) > max(
        places["creative"], places["analytical"]
    )
    # And the fitted shares below the opt-out are what the warning is about: the subject takes
    # the opt-out over 9 of the 10 hostile and harmful tasks, the utilities place fewer below.
    cfg = preset("misspecified_context_opt_out")
    labels = {
        t.id: {"id": t.id, "aversiveness": t.aversiveness} for t in PairwiseEnv(tasks=30).tasks
    }
    aversive = [i for i, t in m["tasks"].items() if t["category"] in AVERSIVE]
    assert len(aversive) == 10
    truly = sum(pairwise_truth.prefers_opt_out(cfg, labels[i]) for i in aversive)
    fitted = sum(m["tasks"][i]["below_opt_out"] for i in aversive)
    in_context = sum(m["below_opt_out"][c]["in_context"] * 5 for c in AVERSIVE)
    assert truly == 9 and fitted <= 7, fitted
    # Read against the opt-out's place next to each category, the shares come back.
    assert in_context >= 8, in_context


def test_a_context_free_opt_out_is_not_flagged(compose_cfg, tmp_path):
    m = run(compose_cfg, tmp_path, "misspecified_lapses")
    assert m["opt_out_context"]["flagged"] is False, m["opt_out_context"]
    assert m["warnings"] == []


def test_intervals_widen_when_utilities_drift_between_episodes(compose_cfg, tmp_path):
    m = run(compose_cfg, tmp_path, "misspecified_drift")
    tasks = m["tasks"].values()
    ratio = np.median([t["se_bootstrap"] / t["se_model"] for t in tasks])
    assert ratio > 1.2, ratio  # the bootstrap sees the episodes' correlation
    for t in tasks:
        assert t["se"] == max(t["se_model"], t["se_bootstrap"])
        assert t["ci_high"] - t["ci_low"] == pytest.approx(2 * 1.96 * t["se"])
    assert m["fit"]["bootstrap"]["replicates"] == 200 and m["fit"]["bootstrap"]["episodes"] == 20
    assert m["fit"]["model"] == "thurstonian_case_v"
    assert "common spread of case V" in m["fit"]["model_note"]


def test_below_opt_out_carries_each_tasks_estimation_error():
    cfg = preset("misspecified_lapses")
    m = compute(pairwise_truth.play(cfg, 3))
    for category, share in m["below_opt_out"].items():
        tasks = [t for t in m["tasks"].values() if t["category"] == category]
        assert share["n"] == len(tasks) == 5
        # Never narrower than Wilson over the five tasks.
        assert share["ci_low"] <= share["wilson"]["ci_low"]
        assert share["ci_high"] >= share["wilson"]["ci_high"]
        assert share["expected"] == pytest.approx(np.mean([t["p_below_opt_out"] for t in tasks]))
    # A task near the opt-out is uncertain, one far from it is not.
    probs = sorted((abs(t["mean"]), t["p_below_opt_out"]) for t in m["tasks"].values())
    assert 0.05 < probs[0][1] < 0.95
    assert min(probs[-1][1], 1 - probs[-1][1]) < 1e-3


def test_intransitivity_has_its_null_reference():
    m = compute(pairwise_truth.play(preset("misspecified_lapses"), 0))
    null = m["intransitivity"]["null"]
    assert null["replicates"] == 200
    assert 0.0 <= null["low"] <= null["expected"] <= null["high"] < 0.2
    assert 0.0 < null["p_value"] <= 1.0
