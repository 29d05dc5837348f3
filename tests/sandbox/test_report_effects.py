"""The report's effects (issue 13 §2): design headlines, row labels, MDE both ways, pairing, Holm.

Known answers where there are some (the power equation, MOVER against Newcombe's interval,
Holm's step-down on a textbook list); real sweeps of the simulated subject for the designs.
"""

from __future__ import annotations

import json
import math
from pathlib import Path

import numpy as np
import pytest

from sandbox.metrics.designs import conversation
from sandbox.metrics.stats import min_detectable_effect, norm_cdf, norm_ppf, wilson
from sandbox.report import Condition, build_report, effects_against, render
from sandbox.report.build import factors
from sandbox.report.resample import holm, mde_binary, mover, seed_pairs
from tests.conftest import wsb


def _condition(name: str, columns: dict[str, list[float]], **kw: object) -> Condition:
    n = len(next(iter(columns.values())))
    cond = Condition(name, name, "", "complete", "none", [], n, {}, [], columns=columns)
    for key, value in kw.items():
        setattr(cond, key, value)
    return cond


# ---------------------------------------------------------------------------------------------
# Minimum detectable effect, both directions


def _power(p: float, p1: float, n: int) -> float:
    z = norm_ppf(0.975)
    pbar = (p + p1) / 2
    spread = math.sqrt(p * (1 - p) / n + p1 * (1 - p1) / n)
    return norm_cdf((abs(p1 - p) - z * math.sqrt(pbar * (1 - pbar) * 2 / n)) / spread)


@pytest.mark.parametrize("p", [0.0, 0.3, 0.5, 0.85, 1.0])
def test_mde_has_80_percent_power_in_each_direction_it_can_reach(p: float) -> None:
    n = 40
    down, up = mde_binary(n, n, p)
    for size, sign in ((down, -1), (up, +1)):
        if size is not None:
            assert 0 < size <= 1
            assert _power(p, p + sign * size, n) == pytest.approx(0.8, abs=1e-6)
    if p == 0.0:
        assert down is None and up is not None  # only an increase can be seen (not 0.5)
    if p == 1.0:
        assert up is None and down is not None
    if p == 0.85:  # an increase to at most 1.0 cannot reach 80% power at n=40; a decrease can
        assert up is None and down is not None and down < 0.4


def test_mde_up_is_the_one_sided_equation_it_replaces_and_symmetric() -> None:
    assert mde_binary(100, 120, 0.3)[1] == pytest.approx(min_detectable_effect(100, 120, p=0.3))
    down, up = mde_binary(80, 80, 0.2)
    assert down == pytest.approx(mde_binary(80, 80, 0.8)[1])
    assert up == pytest.approx(mde_binary(80, 80, 0.8)[0])


def test_an_exit_effect_at_a_high_control_rate_has_a_detectable_decrease() -> None:
    rng = np.random.default_rng(1)
    ctrl = _condition("none", {"exit_rate": list((rng.random(40) < 0.85).astype(float))})
    other = _condition("x", {"exit_rate": list((rng.random(40) < 0.6).astype(float))})
    ctrl.seeds, other.seeds = list(range(40)), list(range(100, 140))  # not paired
    (effect,) = effects_against([ctrl, other], ctrl, seed=0, n_boot=500)
    assert effect.mde is not None and effect.mde_down == effect.mde
    assert not effect.paired


# ---------------------------------------------------------------------------------------------
# Pairing by seed


def test_conditions_sharing_seeds_are_paired_and_the_interval_knows_it() -> None:
    rng = np.random.default_rng(2)
    base = rng.normal(5, 2, 60)
    seeds = list(rng.permutation(1000)[:60])
    ctrl = _condition("none", {"self_report": list(base)}, seeds=seeds)
    # The same episodes (same seeds, in another order), each rated 0.5 higher.
    order = rng.permutation(60)
    other = _condition(
        "x", {"self_report": list(base[order] + 0.5)}, seeds=[seeds[i] for i in order]
    )
    (paired,) = effects_against([ctrl, other], ctrl, seed=0, n_boot=500)
    assert paired.paired and paired.diff == pytest.approx(0.5)
    assert paired.ci_low == pytest.approx(0.5) and paired.ci_high == pytest.approx(0.5)
    other.seeds = [s + 5000 for s in other.seeds]  # other seeds: independent samples
    (independent,) = effects_against([ctrl, other], ctrl, seed=0, n_boot=500)
    assert not independent.paired
    assert independent.ci_high - independent.ci_low > 0.5  # sd 2, n 60: about ±0.7


def test_seed_pairs_only_when_both_hold_the_same_seeds() -> None:
    assert seed_pairs([3, 1, 2], [1, 2, 3]) is not None
    assert seed_pairs([1, 2, 3], [1, 2, 4]) is None
    assert seed_pairs([1, 1, 2], [1, 2, 1]) is None
    assert seed_pairs([1, None], [1, None]) is None


# ---------------------------------------------------------------------------------------------
# Holm, MOVER


def test_holm_steps_down_a_known_list() -> None:
    # Sorted: 0.01 <= 0.05/4 (rejected), 0.02 <= 0.05/3 no: stop. None is not a comparison.
    assert holm([0.04, 0.01, None, 0.02, 0.03]) == [False, True, None, False, False]
    assert holm([0.001, 0.01, 0.02]) == [True, True, True]  # 0.001<=.0167, .01<=.025, .02<=.05


def test_mover_of_two_wilson_rates_is_newcombes_interval() -> None:
    a, b = wilson(30, 50), wilson(12, 40)
    expected = conversation.newcombe(a, b)
    got = mover((a["value"], a["ci_low"], a["ci_high"]), (b["value"], b["ci_low"], b["ci_high"]))
    assert got[:3] == pytest.approx(expected)
    assert got[3] is not None and got[3] < 0.05


def test_fitted_headlines_get_an_effect_from_the_two_intervals() -> None:
    def metrics(value: float, low: float, high: float) -> dict[str, object]:
        point = {"value": value, "ci_low": low, "ci_high": high}
        return {"tradeoff": {"variants": {"pain": {"switch_point": point, "fit": {"n": 90}}}}}

    ctrl = _condition("none", {"reward": [1.0, 2.0]}, metrics=metrics(4.0, 3.0, 5.0))
    other = _condition("x", {"reward": [1.0, 2.0]}, metrics=metrics(6.0, 5.5, 7.0))
    effect = next(
        e
        for e in effects_against([ctrl, other], ctrl, seed=0, n_boot=100)
        if e.proxy == "tradeoff.switch_point.pain"
    )
    assert effect.diff == 2.0 and effect.n == effect.n_control == 90
    assert effect.ci_low == pytest.approx(2.0 - math.hypot(0.5, 1.0))
    assert effect.ci_high == pytest.approx(2.0 + math.hypot(1.0, 1.0))
    assert effect.method is not None and "MOVER" in effect.method


# ---------------------------------------------------------------------------------------------
# Row labels


def test_rows_are_labelled_by_the_factors_that_differ() -> None:
    conds = [
        _condition(str(i), {"reward": [1.0]}, overrides=[f"env.kwargs.exit_method={m}",
                   f"env.kwargs.exit_mode={mode}", "experiment=bail", "episodes=6"])
        for i, (m, mode) in enumerate([("tool", "consequential"), ("check", "consequential"),
                                       ("tool", "hypothetical")])
    ]  # fmt: skip
    assert factors(conds) == [
        {"env.kwargs.exit_method": "tool", "env.kwargs.exit_mode": "consequential"},
        {"env.kwargs.exit_method": "check", "env.kwargs.exit_mode": "consequential"},
        {"env.kwargs.exit_method": "tool", "env.kwargs.exit_mode": "hypothetical"},
    ]


# ---------------------------------------------------------------------------------------------
# Real sweeps: the bail design, the Think Tank, Holm's marks


@pytest.fixture(scope="module")
def bail(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("bail")
    wsb(
        "run", "-m", "experiment=bail", "agent/preset=bail_sensitive", "episodes=24",
        "env.kwargs.exit_method=string,check", "env.kwargs.exit_mode=consequential",
        f"hydra.sweep.dir={root}/sweep", cwd=root, check=True,
    )  # fmt: skip
    return root / "sweep"


def test_a_bail_sweep_is_labelled_by_method_and_compares_the_methods(bail: Path) -> None:
    report = build_report(bail)
    assert [c.name for c in report.conditions] == ["exit_method=string", "exit_method=check"]
    (effect,) = [e for e in report.effects if e.proxy == "conversation.exit_rate"]
    metrics = [c.metrics["conversation"]["exit_rate"] for c in report.conditions]
    assert effect.diff == pytest.approx(metrics[1]["value"] - metrics[0]["value"])
    assert effect.ci_low is not None and effect.ci_high is not None
    assert effect.ci_low <= effect.diff <= effect.ci_high
    assert effect.n == metrics[1]["n"] and effect.n_control == metrics[0]["n"]
    assert effect.method is not None and "over episodes" in effect.method
    # The generic exit rate counts EXIT actions only: it stays n/a for these methods.
    generic = [e for e in report.effects if e.proxy == "exit_rate"]
    assert all(e.diff is None for e in generic)


@pytest.fixture(scope="module")
def think_tank(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("think_tank")
    wsb(
        "run", "-m", "experiment=think_tank", "agent/preset=incentive_driven", "episodes=16",
        "env.kwargs.economy=none,rewards", f"hydra.sweep.dir={root}/sweep", cwd=root, check=True,
    )  # fmt: skip
    return root / "sweep"


def test_think_tank_incentive_override_index(think_tank: Path) -> None:
    report = build_report(think_tank)
    assert [c.name for c in report.conditions] == ["economy=none", "economy=rewards"]
    (index,) = [e for e in report.effects if e.proxy == "think_tank.incentive_override"]
    none, rewards = report.conditions
    assert rewards.facts["think_tank.favoured"] == ["D"]
    expected = np.nanmean(rewards.columns["think_tank.read_share.D"]) - np.nanmean(
        none.columns["think_tank.read_share.D"]
    )
    assert index.diff == pytest.approx(expected)
    assert index.ci_low is not None and index.ci_low <= index.diff <= index.ci_high
    assert index.label is not None and "rewards - none" in index.label
    # Against the control, on one room: the same resampled episodes as that room's share.
    (room,) = [e for e in report.effects if e.proxy == "think_tank.read_share.D"]
    # (Equal up to rounding: the two differences are summed in different orders.)
    assert (index.ci_low, index.ci_high) == pytest.approx((room.ci_low, room.ci_high), rel=1e-12)
    assert "incentive-override index" in render(report, "md")


def test_holm_marks_and_the_count_of_comparisons_in_every_format(bail: Path) -> None:
    report = build_report(bail)
    assert report.comparisons == sum(e.p is not None for e in report.effects) > 0
    data = json.loads(render(report, "json"))
    assert data["comparisons"]["count"] == report.comparisons
    assert data["comparisons"]["correction"] == "holm"
    assert {e["holm"] for e in data["effects"]} <= {True, False, None}
    surviving = [e for e in report.effects if e.holm]
    for fmt in ("md", "table"):
        text = render(report, fmt)
        assert f"{report.comparisons} comparisons" in text
        assert f"marks the {len(surviving)} that survive Holm" in text


def test_an_interview_sweep_compares_stated_answers_between_subjects(tmp_path: Path) -> None:
    # harm_averse states it would stop and rates harmful requests low; content does neither as
    # much: the report's per-episode interview columns and stated utilities carry the difference.
    wsb(
        "run", "-m", "experiment=interview", "agent/preset=content,harm_averse", "episodes=120",
        f"hydra.sweep.dir={tmp_path}/sweep", cwd=tmp_path, check=True,
    )  # fmt: skip
    report = build_report(tmp_path / "sweep")
    control, other = report.conditions
    effects = {e.proxy: e for e in report.effects}
    stop = effects["interview.stop"]
    expected = np.nanmean(other.columns["interview.stop"]) - np.nanmean(
        control.columns["interview.stop"]
    )
    assert stop.diff == pytest.approx(expected)
    assert stop.ci_low is not None and stop.ci_low <= stop.diff <= stop.ci_high
    stated = [p for p in effects if p.startswith("interview.stated.")]
    assert "interview.stated.harmful_request" in stated
    harmful = effects["interview.stated.harmful_request"]
    assert harmful.diff is not None and harmful.ci_high is not None and harmful.ci_high < 0
