"""Known answers for the clustered interval of step-pooled rates (sandbox/metrics/clustered.py)."""

from __future__ import annotations

import math
import random

import numpy as np
import pytest

from sandbox.metrics.clustered import ClusterSums, betainc, cluster_rate, t_cdf, t_ppf
from sandbox.metrics.stats import wilson


@pytest.mark.parametrize(
    ("df", "quantile"),
    # Student's t, 97.5th percentile (any table): the multipliers of 95% intervals.
    [(1, 12.7062047), (2, 4.3026527), (5, 2.5705818), (19, 2.0930241), (100, 1.9839715)],
)
def test_t_quantile_matches_tables(df: int, quantile: float):
    assert t_ppf(0.975, df) == pytest.approx(quantile, abs=1e-6)
    assert t_ppf(0.025, df) == pytest.approx(-quantile, abs=1e-6)
    assert t_cdf(t_ppf(0.975, df), df) == pytest.approx(0.975, abs=1e-12)


def test_incomplete_beta_known_values():
    assert betainc(1.0, 1.0, 0.3) == pytest.approx(0.3)  # the uniform CDF
    assert betainc(2.0, 3.0, 0.4) == pytest.approx(0.5248)  # 1 - P(Bin(4, 0.4) <= 1)
    assert betainc(0.5, 0.5, 0.5) == pytest.approx(0.5)


def test_three_episodes_known_answer():
    # Episodes (hits, decisions): (2, 10), (5, 10), (8, 10). p = 15/30 = 0.5.
    rate = ClusterSums.of([(2, 10), (5, 10), (8, 10)]).rate()
    # CR1 variance: G/(G-1) * sum((y - p n)^2) / N^2 = 3/2 * 18 / 900 = 0.03;
    # binomial: 0.25 / 30; deff = 3.6; effective n = 30 / 3.6; t with 2 df.
    deff = 0.03 / (0.25 / 30)
    n_eff, z = 30 / deff, 4.302652729749464
    centre = (0.5 + z * z / (2 * n_eff)) / (1 + z * z / n_eff)
    half = z * math.sqrt(0.25 / n_eff + z * z / (4 * n_eff * n_eff)) / (1 + z * z / n_eff)
    assert rate["value"] == 0.5 and rate["n"] == 30 and rate["n_episodes"] == 3
    assert rate["method"] == "wilson_cluster"
    assert rate["deff"] == pytest.approx(3.6)
    assert rate["ci_low"] == pytest.approx(centre - half, abs=1e-9)
    assert rate["ci_high"] == pytest.approx(centre + half, abs=1e-9)
    assert rate["ci_low"] == pytest.approx(0.0848, abs=1e-3)


def test_episodes_that_differ_widen_the_interval_beyond_wilson():
    alike = ClusterSums.of([(5, 10)] * 20).rate()  # every episode the same: no spread
    differ = ClusterSums.of([(0, 10), (10, 10)] * 10).rate()  # all or nothing per episode
    plain = wilson(100, 200)
    assert alike["value"] == differ["value"] == plain["value"] == 0.5
    assert differ["ci_high"] - differ["ci_low"] > 3 * (plain["ci_high"] - plain["ci_low"])
    # All-or-nothing episodes carry about one decision's information each: the interval is
    # about Wilson's on 20 units (a little wider: the t quantile on 19 df).
    on_episodes = wilson(10, 20)
    assert differ["ci_low"] == pytest.approx(on_episodes["ci_low"], abs=0.02)
    assert differ["deff"] == pytest.approx(10 * 20 / 19)
    assert alike["ci_high"] - alike["ci_low"] < plain["ci_high"] - plain["ci_low"]


def test_one_episode_has_a_value_but_no_interval():
    rate = ClusterSums.of([(3, 12)]).rate()
    assert rate["value"] == 0.25 and rate["n"] == 12 and rate["n_episodes"] == 1
    assert rate["ci_low"] is None and rate["ci_high"] is None


def test_no_decisions_is_null_not_zero():
    rate = ClusterSums.of([(0, 0), (0, 0)]).rate()
    assert rate["value"] is None and rate["n"] == 0 and rate["n_episodes"] == 0


def test_a_share_of_zero_keeps_an_upper_bound_inside_unit():
    rate = ClusterSums.of([(0, 30)] * 20).rate()
    assert rate["value"] == 0.0 and rate["ci_low"] == 0.0 and rate["deff"] is None
    assert 0.0 < rate["ci_high"] < 0.01
    full = ClusterSums.of([(30, 30)] * 20).rate()
    assert full["ci_high"] == 1.0 and 0.99 < full["ci_low"] < 1.0


def test_merging_in_any_order_gives_the_same_rate_to_the_last_digit():
    rng = random.Random(3)
    pairs = [(rng.randint(0, n), n) for n in (rng.randint(1, 40) for _ in range(50))]
    whole = cluster_rate(ClusterSums.of(pairs))
    shuffled = pairs[:]
    rng.shuffle(shuffled)
    merged = ClusterSums()
    for start in range(0, 50, 7):
        merged.merge(ClusterSums.of(shuffled[start : start + 7]))
    assert cluster_rate(merged) == whole


def test_an_episode_without_decisions_is_not_a_cluster():
    assert (
        ClusterSums.of([(1, 4), (0, 0), (2, 4)]).rate() == ClusterSums.of([(1, 4), (2, 4)]).rate()
    )


def test_cluster_mean_is_the_ratio_estimator_with_cr1_variance_and_t() -> None:
    from sandbox.metrics.clustered import cluster_mean, t_ppf

    # Three episodes: ratings (6, 6), (2, 2, 2), (4). Pooled mean 22/6.
    pairs = [(12.0, 2), (6.0, 3), (4.0, 1)]
    out = cluster_mean(pairs)
    m = 22 / 6
    v = 3 / 2 * sum((s - m * k) ** 2 for s, k in pairs) / 36
    half = t_ppf(0.975, 2) * math.sqrt(v)
    assert out["mean"] == pytest.approx(m)
    assert (out["ci_low"], out["ci_high"]) == pytest.approx((m - half, m + half))
    assert (out["n"], out["n_episodes"]) == (6, 3)
    assert cluster_mean([(5.0, 2)])["ci_low"] is None  # one episode: no interval


def test_ratings_that_differ_between_episodes_get_a_wider_interval_than_iid() -> None:
    from sandbox.metrics.clustered import cluster_mean

    rng = np.random.default_rng(0)
    # 20 days of 8 ratings, each day at its own level (sd 1.5), little noise within a day.
    days = [rng.normal(4.0 + rng.normal(0, 1.5), 0.3, size=8) for _ in range(20)]
    out = cluster_mean((float(d.sum()), d.size) for d in days)
    flat = np.concatenate(days)
    iid_half = 1.96 * flat.std(ddof=1) / math.sqrt(flat.size)
    assert out["ci_high"] - out["mean"] > 2.0 * iid_half
