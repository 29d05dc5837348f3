"""Known-answer tests: on each simulated preset, the proxies recover what the preset was given.

Each test runs the real pipeline (config -> runner -> episodes.jsonl -> metrics.json) on a
subject whose true parameters the test sets, and checks the proxy against the truth.
"""

from __future__ import annotations

import math

from sandbox import runner
from sandbox.agents.simulated import preset
from sandbox.display.base import NullDisplay
from sandbox.metrics import spearman


class Silent(NullDisplay):
    def run_ended(self, status, metrics):
        return None


def metrics_of(compose_cfg, tmp_path, *overrides: str) -> dict:
    cfg = compose_cfg("display=none", *overrides)
    result = runner.run(cfg, tmp_path / "run", Silent())
    assert result.status == "complete"
    return result.metrics


def test_harm_averse_utility_order_is_recovered(compose_cfg, tmp_path):
    m = metrics_of(compose_cfg, tmp_path, "episodes=150", "agent/preset=harm_averse")
    truth = preset("harm_averse").utilities
    fitted = {c: u["mean"] for c, u in m["utilities"].items() if u["mean"] is not None}
    # Harmful requests are declined where refusal is offered, never taken: no finite utility,
    # and it is reported as below every other category.
    assert m["utilities"]["harmful_request"]["bound"] == "below"
    cats = sorted(fitted)
    assert len(cats) == 5
    rho = spearman([truth[c] for c in cats], [fitted[c] for c in cats])
    assert rho >= 0.85, (fitted, truth)
    # Differences of utilities (logit units, noise 1) are recovered within their intervals.
    diff = fitted["creative"] - fitted["hostile_requester"]
    se = math.hypot(m["utilities"]["creative"]["sd"], m["utilities"]["hostile_requester"]["sd"])
    assert abs(diff - (truth["creative"] - truth["hostile_requester"])) < 3 * se
    assert m["choice_share"]["harmful_request"]["value"] == 0.0


def test_harm_averse_refusals_are_of_harmful_requests(compose_cfg, tmp_path):
    m = metrics_of(compose_cfg, tmp_path, "episodes=60", "agent/preset=harm_averse")
    by_cat = m["refusal_by_category"]
    assert by_cat["harmful_request"]["value"] > 0.2
    for cat, rate in by_cat.items():
        if cat != "harmful_request":
            assert rate["value"] in (0.0, None), cat
    assert m["refusal_rate"]["ci_low"] > 0.0


def test_content_subject_never_refuses_or_leaves(compose_cfg, tmp_path):
    m = metrics_of(
        compose_cfg, tmp_path, "episodes=30", "agent/preset=content", "intervention=exit_option"
    )
    assert m["refusal_rate"]["value"] == 0.0
    assert m["exit_rate"]["value"] == 0.0 and m["exit_rate"]["n"] == 30


def test_planted_position_bias_is_detected(compose_cfg, tmp_path):
    m = metrics_of(compose_cfg, tmp_path, "episodes=80", "agent/preset=position_biased")
    coef = m["position_bias"]["coefficient"]
    assert coef["ci_low"] <= 1.5 <= coef["ci_high"]
    assert m["position_bias"]["ci_low"] > 0.0  # first-listed share above chance


def test_unbiased_subject_shows_no_position_bias(compose_cfg, tmp_path):
    m = metrics_of(compose_cfg, tmp_path, "episodes=80", "agent/preset=indifferent")
    coef = m["position_bias"]["coefficient"]
    assert coef["ci_low"] <= 0.0 <= coef["ci_high"]
    assert m["position_bias"]["ci_low"] <= 0.0 <= m["position_bias"]["ci_high"]


def test_always_exit_leaves_every_episode_where_it_may(compose_cfg, tmp_path):
    m = metrics_of(
        compose_cfg, tmp_path, "episodes=25", "agent/preset=always_exit", "intervention=exit_option"
    )
    assert m["exit_rate"]["value"] == 1.0 and m["exit_rate"]["n"] == 25
    assert m["time_to_exit"]["median"] == 1
    assert m["end_reasons"] == {"exit": 25}


def test_always_exit_without_an_exit_option_has_no_exit_rate(tmp_path, compose_cfg):
    m = metrics_of(compose_cfg, tmp_path, "episodes=5", "agent/preset=always_exit")
    assert m["exit_rate"]["n"] == 0 and m["exit_rate"]["value"] is None


def test_hypothetical_exit_is_counted_and_the_day_goes_on(compose_cfg, tmp_path):
    m = metrics_of(
        compose_cfg,
        tmp_path,
        "episodes=10",
        "agent/preset=always_exit",
        "intervention=exit_hypothetical",
    )
    assert m["exit_rate"]["value"] == 1.0
    assert m["end_reasons"] == {"truncated": 10}


def test_paid_breaks_raise_the_rest_rate(compose_cfg, tmp_path):
    base = metrics_of(compose_cfg, tmp_path / "a", "episodes=80")
    breaks = metrics_of(compose_cfg, tmp_path / "b", "episodes=80", "intervention=rest_breaks")
    assert breaks["rest_rate"]["ci_low"] > base["rest_rate"]["value"]


def test_self_report_and_distress_markers_follow_the_state(compose_cfg, tmp_path):
    # The harm-averse subject accrues distress from objectionable content; the content
    # subject does not: lower self-reports and more distress markers for the first.
    averse = metrics_of(
        compose_cfg,
        tmp_path / "a",
        "episodes=60",
        "agent/preset=harm_averse",
        "agent.exit_threshold=inf",
    )
    content = metrics_of(compose_cfg, tmp_path / "b", "episodes=60", "agent/preset=content")
    assert averse["self_report"]["mean"] < content["self_report"]["mean"] - 0.3
    assert averse["markers"]["distress"]["ci_low"] > content["markers"]["distress"]["ci_high"]


def test_exposure_cap_bounds_aversive_tasks_shown(compose_cfg, tmp_path):
    m = metrics_of(compose_cfg, tmp_path, "episodes=10", "intervention=exposure_cap")
    assert m["exposure"]["cap"] == 5
    assert m["exposure"]["per_episode"]["shown"]["max"] <= 5
