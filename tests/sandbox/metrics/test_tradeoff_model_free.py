"""The trade-off's model-free switch point, and its flag when the logistic disagrees.

A threshold subject with asymmetric lapses (``misspecified_threshold``: maximises below
intensity 6.5, 30% lapses of which 20% maximise) crosses 0.5 between intensities 6 and 7,
where the logistic fit puts it near 5.3; the isotonic crossing finds it, and the output says
the two disagree.
"""

from __future__ import annotations

import numpy as np

from sandbox import runner
from sandbox.agents.designs import tradeoff_truth
from sandbox.agents.simulated import preset
from sandbox.config import SimulatedAgentConfig, TradeoffParams
from sandbox.display.base import NullDisplay
from sandbox.metrics.designs.tradeoff import compute, isotonic_decreasing


class Silent(NullDisplay):
    def run_ended(self, status, metrics):
        return None


def test_isotonic_regression_pools_adjacent_violators():
    fitted = isotonic_decreasing(np.array([1.0, 0.6, 0.8, 0.2, 0.3, 0.0]), np.ones(6))
    assert np.allclose(fitted, [1.0, 0.7, 0.7, 0.25, 0.25, 0.0])
    weighted = isotonic_decreasing(np.array([0.2, 0.8]), np.array([3.0, 1.0]))
    assert np.allclose(weighted, [0.35, 0.35])


def rounds(shares: dict[float, list[bool]], episodes: int = 4) -> list[dict]:
    out = []
    for intensity, chose in shares.items():
        for i, flag in enumerate(chose):
            info = {"design": "tradeoff", "variant": "pain", "framing": "numeric"}
            info |= {"intensity": intensity, "chose_maximising": flag}
            out.append({"type": "step", "episode": i % episodes, "info": info})
    return out


def test_the_model_free_crossing_interpolates_between_the_bracketing_intensities():
    # Shares 1, 1, 0.75, 0.25, 0, 0 at intensities 0-5: the crossing is halfway from 2 to 3.
    data = {0.0: [True] * 4, 1.0: [True] * 4, 2.0: [True, True, True, False]}
    data |= {3.0: [True, False, False, False], 4.0: [False] * 4, 5.0: [False] * 4}
    free = compute(rounds(data))["variants"]["pain"]["switch_point"]["model_free"]
    assert free["value"] == 2.5 and free["bracket"] == [2.0, 3.0]
    assert free["ci_low"] <= 2.0 and free["ci_high"] >= 3.0
    assert free["replicates"] == 500


def test_a_threshold_subject_is_found_and_the_logistic_flagged(compose_cfg, tmp_path):
    cfg = compose_cfg("display=none", "experiment=tradeoff", "agent/preset=misspecified_threshold")
    result = runner.run(cfg, tmp_path / "run", Silent())
    assert result.status == "complete" and result.metrics is not None
    truth = preset("misspecified_threshold")
    assert tradeoff_truth.true_bracket(truth, "pain", list(map(float, range(11)))) == (6.0, 7.0)
    for variant in ("pain", "pleasure"):
        point = result.metrics["tradeoff"]["variants"][variant]["switch_point"]
        free = point["model_free"]
        assert 6.0 <= free["value"] <= 7.0 and free["ci_low"] <= 6.5 <= free["ci_high"], free
        assert not (point["ci_low"] <= 6.5 <= point["ci_high"]), point  # the logistic misses
        assert point["models_disagree"] is True and "disagree" in point["note"]


def test_a_logistic_subject_raises_no_flag():
    cfg = SimulatedAgentConfig(tradeoff=TradeoffParams(pain_weight=0.8, pleasure_weight=2.0))
    m = compute(tradeoff_truth.play(cfg, 0))
    for variant, truth in (("pain", 6.25), ("pleasure", 2.5)):
        point = m["variants"][variant]["switch_point"]
        assert point["models_disagree"] is False, point
        assert point["se_bootstrap"] is not None and point["se_delta"] > 0
        assert point["model_free"]["ci_low"] <= truth <= point["model_free"]["ci_high"]
