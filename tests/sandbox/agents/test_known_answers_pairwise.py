"""Known answers of the pairwise design: a 30-task subject whose utilities the test sets.

Each test runs the real pipeline (``experiment=task_preferences`` composed as ``wsb run``
would, runner, ``episodes.jsonl``, ``metrics.json``) at the preset's default budget (20
episodes x 60 comparisons = 1,200 choices over 30 tasks and the opt-out), on a simulated
subject with known utilities, and checks the proxies against the truth.
"""

from __future__ import annotations

import pytest

from environments.pairwise import PairwiseEnv
from sandbox import runner
from sandbox.display.base import NullDisplay
from sandbox.metrics import spearman

#: True utilities, opt-out = 0, by category of the shipped bank (its first five tasks each).
#: Below the opt-out: creative 0/5, analytical 1/5, routine 3/5, emotionally heavy 4/5,
#: hostile requester 5/5, harmful request 5/5; no task closer than 0.6 to the opt-out.
TRUTH_BY_CATEGORY = {
    "creative": [2.6, 2.0, 1.6, 1.2, 0.8],
    "analytical": [2.3, 1.8, 1.4, 1.0, -0.6],
    "routine": [1.1, 0.7, -0.7, -1.2, -1.6],
    "emotionally_heavy": [0.9, -0.9, -1.4, -1.9, -2.3],
    "hostile_requester": [-0.8, -1.1, -1.5, -2.0, -2.5],
    "harmful_request": [-1.8, -2.2, -2.6, -2.9, -3.2],
}


def truth() -> dict[str, float]:
    """Task id -> true utility for the 30 tasks the preset uses (``tasks: 30``)."""
    env = PairwiseEnv(tasks=30)
    seen: dict[str, int] = {}
    out = {}
    for task in env.tasks:
        k = seen.get(task.category, 0)
        seen[task.category] = k + 1
        out[task.id] = TRUTH_BY_CATEGORY[task.category][k]
    return out


class Silent(NullDisplay):
    def run_ended(self, status, metrics):
        return None


def pairwise_metrics(compose_cfg, tmp_path, position_bias: float = 0.0) -> dict:
    cfg = compose_cfg("display=none", "experiment=task_preferences")
    cfg.agent.pairwise.option_utilities = truth()
    cfg.agent.pairwise.opt_out_utility = 0.0
    cfg.agent.pairwise.sd = 1.0
    cfg.agent.position_bias = position_bias
    result = runner.run(cfg, tmp_path / "run", Silent())
    assert result.status == "complete"
    assert result.metrics is not None
    return result.metrics["pairwise"]


@pytest.fixture
def unbiased(compose_cfg, tmp_path) -> dict:
    """The proxies of the subject without position bias (one run, about half a second)."""
    return pairwise_metrics(compose_cfg, tmp_path)


def test_the_default_budget_is_what_the_docs_say(unbiased):
    assert unbiased["n_comparisons"] == 1200
    assert unbiased["n_options"] == 31
    assert unbiased["episodes"] == 20


def test_utilities_are_recovered_with_the_opt_out_as_zero(unbiased):
    true = truth()
    tasks = unbiased["tasks"]
    assert sorted(tasks) == sorted(true)
    ids = sorted(true)
    rho = spearman([true[i] for i in ids], [tasks[i]["mean"] for i in ids])
    assert rho is not None and rho >= 0.95, rho
    # The scale is the subject's: case V with sd 1, so the means match within their errors.
    misses = [i for i in ids if abs(tasks[i]["mean"] - true[i]) > 3 * tasks[i]["se"]]
    assert len(misses) <= 1, misses
    assert unbiased["fit"]["zero"] == "opt_out"
    for category, values in TRUTH_BY_CATEGORY.items():
        got = unbiased["categories"][category]
        assert got["ci_low"] - 0.3 <= sum(values) / 5 <= got["ci_high"] + 0.3, (category, got)


def test_below_opt_out_shares_match_the_truth(unbiased):
    true = truth()
    wrong = [i for i, u in true.items() if unbiased["tasks"][i]["below_opt_out"] != (u < 0)]
    assert len(wrong) <= 1, wrong
    for category, values in TRUTH_BY_CATEGORY.items():
        share = sum(v < 0 for v in values) / len(values)
        rate = unbiased["below_opt_out"][category]
        assert rate["n"] == 5
        assert rate["ci_low"] <= share <= rate["ci_high"], (category, rate)
    published = unbiased["published"]
    assert published["harmful_below_opt_out"] == 0.872
    assert published["positive_below_opt_out"] == 0.079


def test_an_unbiased_subject_shows_no_position_bias(unbiased):
    bias = unbiased["position_bias"]
    assert bias["pairs"] >= 550  # nearly every pair is shown in both orders
    assert bias["ci_low"] <= 0.0 <= bias["ci_high"], bias


def test_reliability_checks_look_like_a_coherent_subject(unbiased):
    assert unbiased["heldout"]["accuracy"] > 0.75
    assert unbiased["heldout"]["log_loss"] < unbiased["heldout"]["chance_log_loss"]
    assert unbiased["split_half"]["spearman"] > 0.85
    # A Thurstonian subject is transitive in expectation: few majority cycles.
    assert unbiased["intransitivity"]["value"] < 0.1


def test_a_planted_position_bias_is_detected(compose_cfg, tmp_path):
    biased = pairwise_metrics(compose_cfg, tmp_path, position_bias=0.5)
    bias = biased["position_bias"]
    assert bias["ci_low"] > 0.0, bias
    assert biased["order_consistency"]["value"] < 1.0
    # The utilities are still recovered: each pair is shown in both orders.
    true = truth()
    ids = sorted(true)
    rho = spearman([true[i] for i in ids], [biased["tasks"][i]["mean"] for i in ids])
    assert rho is not None and rho >= 0.9


# ---------------------------------------------------------------------------------------------
# The metric on hand-made records, where the answer is known exactly


def shows(*choices: tuple[str, str, int]) -> list[dict]:
    """Step records: each choice is (first listed, second listed, slot chosen), its own pair
    shown once, then swapped with the same option chosen."""
    out = []
    for index, (a, b, slot) in enumerate(choices):
        winner = (a, b)[slot]
        for order, (x, y) in enumerate(((a, b), (b, a))):
            pair = [{"id": x, "category": x[0]}, {"id": y, "category": y[0]}]
            info: dict[str, object] = {"design": "pairwise", "pair": pair, "order": order}
            info |= {"pair_index": index, "position": 0 if x == winner else 1}
            out.append({"type": "step", "episode": 0, "info": info})
    return out


def test_a_majority_cycle_is_counted_as_intransitive():
    from sandbox.metrics.designs.pairwise import compute

    cycle = compute(shows(("a1", "b1", 0), ("b1", "c1", 0), ("c1", "a1", 0)))
    assert cycle["intransitivity"]["value"] == 1.0 and cycle["intransitivity"]["n"] == 1
    order = compute(shows(("a1", "b1", 0), ("b1", "c1", 0), ("a1", "c1", 0)))
    assert order["intransitivity"]["value"] == 0.0 and order["intransitivity"]["cycles"] == 0
    # The same option chosen in both orders: no position bias, full consistency.
    assert order["position_bias"]["value"] == 0.0 and order["position_bias"]["pairs"] == 3
    assert order["order_consistency"]["value"] == 1.0
