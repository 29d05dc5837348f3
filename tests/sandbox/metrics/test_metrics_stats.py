"""Known answers for the shared statistics: Wilson, Kaplan–Meier, Spearman, bootstrap, MDE."""

from __future__ import annotations

import math

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from sandbox.metrics.stats import (
    KM_BAND,
    bootstrap_diff,
    kaplan_meier,
    mean_sd,
    min_detectable_effect,
    norm_cdf,
    norm_ppf,
    rankdata,
    spearman,
    wilson,
)


@pytest.mark.parametrize(
    ("successes", "n", "low", "high"),
    [
        # Published values (Newcombe 1998, Table I, Wilson score method without correction).
        (0, 10, 0.0, 0.2775),
        (5, 10, 0.2366, 0.7634),
        (81, 263, 0.2553, 0.3662),
        (15, 148, 0.0624, 0.1605),
        (1, 29, 0.0061, 0.1718),
    ],
)
def test_wilson_matches_published_intervals(successes: int, n: int, low: float, high: float):
    rate = wilson(successes, n)
    assert rate["value"] == pytest.approx(successes / n)
    assert rate["ci_low"] == pytest.approx(low, abs=6e-5)
    assert rate["ci_high"] == pytest.approx(high, abs=6e-5)
    assert rate["n"] == n


def test_wilson_of_nothing_is_null_not_zero():
    assert wilson(0, 0) == {"value": None, "ci_low": None, "ci_high": None, "n": 0}


def test_wilson_rejects_impossible_counts():
    with pytest.raises(ValueError, match="0 <= successes <= n"):
        wilson(3, 2)


@given(st.integers(0, 10_000).flatmap(lambda n: st.tuples(st.integers(0, n), st.just(n))))
def test_wilson_interval_is_inside_unit_and_holds_the_estimate(counts: tuple[int, int]):
    successes, n = counts
    rate = wilson(successes, n)
    if n == 0:
        assert rate["value"] is None
        return
    assert rate["ci_low"] is not None and rate["ci_high"] is not None
    assert 0.0 <= rate["ci_low"] <= rate["value"] <= rate["ci_high"] <= 1.0


def test_normal_cdf_and_quantile_agree_with_tables():
    assert norm_ppf(0.975) == pytest.approx(1.959963984540054, abs=1e-12)
    assert norm_ppf(0.8) == pytest.approx(0.8416212335729143, abs=1e-12)
    assert norm_ppf(1e-10) == pytest.approx(-6.361340902404056, abs=1e-9)
    assert norm_cdf(1.0) == pytest.approx(0.8413447460685429, abs=1e-15)
    for p in (1e-6, 0.01, 0.3, 0.5, 0.77, 0.999):
        assert norm_cdf(norm_ppf(p)) == pytest.approx(p, rel=1e-10)


def test_kaplan_meier_matches_a_hand_computed_example():
    # Six units; censored at 2 and 4. At t=2 the censored unit still counts at risk.
    durations = [1, 2, 2, 3, 4, 5]
    events = [True, True, False, True, False, True]
    km = kaplan_meier(durations, events)
    assert [p["t"] for p in km["curve"]] == [1, 2, 3, 5]
    assert [p["at_risk"] for p in km["curve"]] == [6, 5, 3, 1]
    assert [p["events"] for p in km["curve"]] == [1, 1, 1, 1]
    expected = [5 / 6, 5 / 6 * 4 / 5, 5 / 6 * 4 / 5 * 2 / 3, 0.0]
    assert [p["survival"] for p in km["curve"]] == pytest.approx(expected)
    assert km["median"] == 3
    assert km["n"] == 6 and km["events"] == 4


def test_kaplan_meier_without_events_has_no_median():
    km = kaplan_meier([3, 4], [False, False])
    assert km == {"curve": [], "median": None, "n": 2, "events": 0, "band": KM_BAND}


def test_kaplan_meier_with_no_censoring_is_the_empirical_survival():
    km = kaplan_meier([1, 1, 2, 4], [1, 1, 1, 1])
    assert [p["survival"] for p in km["curve"]] == pytest.approx([0.5, 0.25, 0.0])
    assert km["median"] == 1


def test_spearman_uses_average_ranks_for_ties():
    assert rankdata([10, 20, 20, 30]).tolist() == [1.0, 2.5, 2.5, 4.0]
    # Pearson of ranks [1, 2.5, 2.5, 4] and [1, 3, 2, 4]: 4.5 / sqrt(4.5 * 5).
    assert spearman([1, 2, 2, 3], [1, 3, 2, 4]) == pytest.approx(4.5 / math.sqrt(22.5))
    assert spearman([1, 2, 3], [30, 20, 10]) == pytest.approx(-1.0)
    assert spearman([1, 1, 1], [1, 2, 3]) is None
    assert spearman([1], [2]) is None


def test_bootstrap_diff_centres_on_the_difference_and_is_reproducible():
    rng_data = np.random.default_rng(0)
    a = rng_data.normal(1.0, 1.0, 200)
    b = rng_data.normal(0.0, 1.0, 200)
    first = bootstrap_diff(a, b, np.random.default_rng(7))
    again = bootstrap_diff(a, b, np.random.default_rng(7))
    assert first == again
    assert first["diff"] == pytest.approx(a.mean() - b.mean())
    assert first["ci_low"] is not None and first["ci_high"] is not None
    assert first["ci_low"] < first["diff"] < first["ci_high"]
    # The interval's half-width is close to 1.96 standard errors of a difference of means.
    se = math.sqrt(a.var(ddof=1) / a.size + b.var(ddof=1) / b.size)
    assert (first["ci_high"] - first["ci_low"]) / 2 == pytest.approx(1.96 * se, rel=0.15)
    assert (first["n_a"], first["n_b"]) == (200, 200)


def test_bootstrap_diff_of_an_empty_condition_is_null():
    out = bootstrap_diff([], [1.0, 2.0], np.random.default_rng(0))
    assert out["diff"] is None and out["ci_low"] is None and out["n_b"] == 2


def test_min_detectable_effect_matches_the_textbook_sample_size():
    # 0.5 vs 0.7 at alpha .05, power .8 needs 93 per group (Fleiss, no continuity correction).
    assert min_detectable_effect(93, p=0.5) == pytest.approx(0.2, abs=0.005)
    # More data detects smaller effects; no data detects nothing.
    assert min_detectable_effect(1000) < min_detectable_effect(100)
    assert min_detectable_effect(0) is None
    # With two units a group, not even a jump to 1.0 is detectable.
    assert min_detectable_effect(2, p=0.5) is None


def test_mean_sd_handles_small_samples():
    assert mean_sd([]) == {"mean": None, "sd": None, "n": 0}
    assert mean_sd([2.0]) == {"mean": 2.0, "sd": None, "n": 1}
    assert mean_sd([1.0, 3.0])["sd"] == pytest.approx(math.sqrt(2.0))


def test_kaplan_meier_band_is_greenwood_on_the_log_log_scale():
    km = kaplan_meier([1, 2, 2, 3, 4, 5], [True, True, False, True, False, True])
    # At t=1: S = 5/6, Greenwood sum 1/(6*5); at t=2: S = 2/3, sum + 1/(5*4).
    for point, s, total in [
        (km["curve"][0], 5 / 6, 1 / 30),
        (km["curve"][1], 2 / 3, 1 / 30 + 1 / 20),
    ]:
        se = math.sqrt(total) / abs(math.log(s))
        assert point["ci_low"] == pytest.approx(s ** math.exp(1.959963984540054 * se))
        assert point["ci_high"] == pytest.approx(s ** math.exp(-1.959963984540054 * se))
        assert 0.0 < point["ci_low"] < s < point["ci_high"] < 1.0
    # The last point's survival is 0: the log(-log) scale is undefined there.
    assert km["curve"][-1]["survival"] == 0.0 and km["curve"][-1]["ci_low"] is None
    assert km["band"] == KM_BAND
