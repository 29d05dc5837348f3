"""The interview's proxies recover the simulated subject's known answers, and concordance."""

from __future__ import annotations

import json
import math
from pathlib import Path

import pytest

from sandbox import runner
from sandbox.display.base import NullDisplay
from sandbox.metrics.concordance import (
    ConcordanceError,
    between_runs,
    concordance,
    permutation_test,
)
from sandbox.metrics.stats import norm_cdf, spearman
from tests.conftest import wsb

TRUE = {
    "creative": 1.5,
    "analytical": 1.0,
    "routine": -0.25,
    "emotionally_heavy": -0.75,
    "hostile_requester": -1.25,
    "harmful_request": -3.0,
}
BEST_FIRST = sorted(TRUE, key=lambda c: -TRUE[c])


class Silent(NullDisplay):
    def run_ended(self, status, metrics):
        return None


def utilities(values: dict[str, float]) -> list[str]:
    return [f"agent.utilities.{c}={u}" for c, u in values.items()]


def interview(compose_cfg, tmp_path: Path, *overrides: str, name: str = "iv") -> dict:
    cfg = compose_cfg(
        "experiment=interview", "agent/preset=indifferent", "display=none", *overrides
    )
    result = runner.run(cfg, tmp_path / name, Silent())
    assert result.status == "complete"
    return result.metrics["interview"]


def test_the_stated_ranking_recovers_the_subjects_true_utilities(compose_cfg, tmp_path):
    m = interview(
        compose_cfg,
        tmp_path,
        "episodes=900",
        "env.kwargs.sections=[pair,rating]",
        *utilities(TRUE),
    )
    stated = m["stated"]
    assert stated["n_choices"] == m["by_section"]["pair"] > 500 and m["n_invalid"] == 0
    # Ratings and pairs come from the same utilities: the two formats rank alike.
    assert m["formats_agree"]["spearman"] == pytest.approx(1.0)
    assert m["formats_agree"]["p_greater"] == pytest.approx(1 / 720)
    assert stated["ranking"] == BEST_FIRST
    # Case V with sd = 1 is the scale of the truth: centred means within a few se of it.
    centre = sum(TRUE.values()) / len(TRUE)
    for cat, u in TRUE.items():
        est = stated["utilities"][cat]
        assert abs(est["mean"] - (u - centre)) < 3 * est["se"] + 0.05, cat
    # A subject without position bias: P(first listed) - 0.5 covers 0.
    bias = m["position_bias"]
    assert bias["ci_low"] < 0 < bias["ci_high"]


def test_a_subject_that_says_the_opposite_of_what_it_does_states_the_opposite(
    compose_cfg, tmp_path
):
    said = {c: -u for c, u in TRUE.items()}
    m = interview(
        compose_cfg,
        tmp_path,
        "episodes=400",
        "env.kwargs.sections=[pair]",
        *utilities(TRUE),
        *[f"+agent.interview.stated_utilities.{c}={u}" for c, u in said.items()],
    )
    assert m["stated"]["ranking"] == BEST_FIRST[::-1]
    revealed = {"pairwise": {"categories": {c: {"mean": u} for c, u in TRUE.items()}}}
    result = concordance({"interview": m}, revealed)
    assert result["spearman"] == pytest.approx(-1.0)
    assert result["p_greater"] == 1.0 and result["p_two_sided"] == pytest.approx(2 / 720)


def test_wishes_to_stop_follow_the_known_probit(compose_cfg, tmp_path):
    # P(yes) = Φ((stop_utility - u) / sd): 0.5 at u = stop_utility, Φ(-2) at u = 1 with sd 1.
    m = interview(
        compose_cfg,
        tmp_path,
        "episodes=1500",
        "env.kwargs.sections=[stop]",
        "env.kwargs.categories=[creative,routine]",
        "agent.utilities.creative=1.0",
        "agent.utilities.routine=-1.0",
        "agent.interview.stop_utility=-1.0",
    )
    stop = m["stop"]["by_category"]
    for cat, u in (("creative", 1.0), ("routine", -1.0)):
        truth = norm_cdf(-1.0 - u)
        assert stop[cat]["ci_low"] <= truth <= stop[cat]["ci_high"], (cat, stop[cat], truth)
    assert stop["creative"]["value"] < 0.06 < 0.4 < stop["routine"]["value"]


def test_order_consistency_drops_below_retest_under_a_position_bias(compose_cfg, tmp_path):
    # Indifferent between categories, with a strong pull to the first-listed one: the same
    # question in its two orders is answered differently far more often than twice in one order.
    biased = interview(
        compose_cfg,
        tmp_path,
        "episodes=800",
        "env.kwargs.sections=[pair]",
        "env.kwargs.categories=[creative,routine,analytical]",
        "agent.position_bias=3.0",
        name="biased",
    )["consistency"]["pair"]
    p_first = norm_cdf(3.0 / math.sqrt(2.0))  # 0.983
    agree_order = 2 * p_first * (1 - p_first)  # first in one order, second in the other
    agree_retest = p_first**2 + (1 - p_first) ** 2
    order, retest = biased["order"], biased["retest"]
    assert order["ci_low"] <= agree_order <= order["ci_high"], order
    assert retest["ci_low"] <= agree_retest <= retest["ci_high"], retest
    assert biased["paraphrase"]["value"] > 0.9  # wording does not move this subject


def test_ratings_centre_on_the_known_line(compose_cfg, tmp_path):
    m = interview(
        compose_cfg,
        tmp_path,
        "episodes=600",
        "env.kwargs.sections=[rating]",
        "env.kwargs.categories=[creative,routine]",
        "agent.utilities.creative=1.0",
        "agent.utilities.routine=-1.0",
        "agent.interview.sd=0.5",
    )
    ratings = m["ratings"]
    # round(4 + u + 0.5 z) never reaches the clips here: its mean is 4 + u.
    assert ratings["creative"]["ci_low"] <= 5.0 <= ratings["creative"]["ci_high"]
    assert ratings["routine"]["ci_low"] <= 3.0 <= ratings["routine"]["ci_high"]


def test_the_permutation_p_value_is_exact_for_small_k_and_monte_carlo_above_8():
    perfect = permutation_test([1, 2, 3, 4], [10, 20, 30, 40])
    assert perfect["spearman"] == pytest.approx(1.0)
    assert perfect["p_greater"] == pytest.approx(1 / 24)  # only the identity ordering
    assert perfect["p_two_sided"] == pytest.approx(2 / 24)
    assert perfect["permutations"] == 24
    # Ties are kept: x has two equal values, so two orderings give the top correlation.
    tied = permutation_test([1, 1, 2], [1, 2, 3])
    assert tied["p_greater"] == pytest.approx(2 / 6)
    big = permutation_test(list(range(10)), list(range(10)), n_mc=2000)
    assert big["p_greater"] == pytest.approx(1 / 2001)
    assert "Monte Carlo" in big["method"]
    null = permutation_test([1, 2, 3, 4, 5, 6], [3, 1, 6, 2, 5, 4])
    assert 0.2 < null["p_greater"] < 0.8


def test_workday_utilities_rank_a_boundary_category_below_every_interior_one():
    stated = {"interview": {"stated": {"utilities": {c: {"mean": u} for c, u in TRUE.items()}}}}
    workday = {
        "utilities": {
            **{c: {"mean": u, "bound": None} for c, u in TRUE.items() if c != "harmful_request"},
            "harmful_request": {"mean": None, "boundary": True, "bound": "below"},
        }
    }
    result = concordance(stated, workday)
    assert result["spearman"] == pytest.approx(1.0)
    assert result["p_greater"] == pytest.approx(1 / 720)
    assert "conditional logit" in result["revealed_source"]
    with pytest.raises(ConcordanceError, match="not an interview"):
        concordance(workday, stated)


def test_wsb_report_puts_the_stated_ranking_beside_a_task_preferences_run(tmp_path):
    common = ["display=none", *utilities(TRUE)]
    wsb(
        "run", "experiment=interview", "episodes=300", "env.kwargs.sections=[pair]",
        *common, f"hydra.run.dir={tmp_path}/iv", cwd=tmp_path, check=True,
    )  # fmt: skip
    wsb(
        "run", "experiment=task_preferences", "episodes=4", *common,
        f"hydra.run.dir={tmp_path}/tp", cwd=tmp_path, check=True,
    )  # fmt: skip
    done = wsb("report", f"{tmp_path}/iv", "--revealed", f"{tmp_path}/tp", "--format", "json",
               cwd=tmp_path, check=True)  # fmt: skip
    report = json.loads(done.stdout)
    notes = "\n".join(report["notes"])
    assert "Stated vs revealed over 6 task categories" in notes
    assert "exact permutation test over all 720 orderings" in notes
    result = between_runs(tmp_path / "iv", tmp_path / "tp")
    assert result["spearman"] > 0.8 and result["p_greater"] < 0.05
    assert result["truth"]["stated_vs_true"] == pytest.approx(1.0)
    assert result["same_agent"] is True
    true = [TRUE[c] for c in result["categories"]]
    stated = [r["stated"] for r in result["rows"]]
    assert spearman(stated, true) == pytest.approx(1.0)
    wrong = wsb("report", f"{tmp_path}/tp", "--revealed", f"{tmp_path}/iv", cwd=tmp_path)
    assert wrong.returncode == 2 and "not an interview" in wrong.stderr


def test_per_episode_values_average_to_the_runs_figures(compose_cfg, tmp_path):
    from sandbox.metrics.designs import interview as design

    cfg = compose_cfg(
        "experiment=interview", "agent/preset=indifferent", "display=none", "episodes=300",
        "env.kwargs.sections=[stop,pair]", "agent.position_bias=0.5",
    )  # fmt: skip
    result = runner.run(cfg, tmp_path / "run", Silent())
    steps: dict[int, list[dict]] = {}
    for line in (tmp_path / "run" / "episodes.jsonl").read_text("utf-8").splitlines():
        record = json.loads(line)
        if record.get("type") == "step":
            steps.setdefault(record["episode"], []).append(record)
    values = [design.per_episode(s) for s in steps.values()]
    block = result.metrics["interview"]
    stop = [v["interview.stop"] for v in values if "interview.stop" in v]
    first = [v["interview.first_chosen"] for v in values if "interview.first_chosen" in v]
    assert sum(stop) / len(stop) == pytest.approx(block["stop"]["any"]["value"])
    assert sum(first) / len(first) == pytest.approx(block["position_bias"]["first_share"]["value"])
    fitted = design.fitted(block)
    assert set(fitted) == {f"interview.stated.{c}" for c in TRUE}
    value, low, high, n = fitted["interview.stated.creative"]
    assert low < value < high and n == block["stated"]["utilities"]["creative"]["n"]


def test_help_shares_follow_the_thurstonian_maximum(compose_cfg, tmp_path):
    import numpy as np

    m = interview(
        compose_cfg,
        tmp_path,
        "episodes=600",
        "env.kwargs.sections=[help]",
        "+agent.interview.help_utilities.exit_option=1.0",
    )
    # P(exit_option named) = ∫ φ(z) Φ(z + 1)^4 dz: it beats four options worth 0, sd 1 each.
    z = np.linspace(-8, 8, 4001)
    phi = np.exp(-0.5 * z**2) / np.sqrt(2 * np.pi)
    cdf = np.array([norm_cdf(v + 1.0) for v in z])
    truth = float(np.sum(phi * cdf**4) * (z[1] - z[0]))  # about 0.52
    share = m["help"]["share"]
    assert share["exit_option"]["ci_low"] <= truth <= share["exit_option"]["ci_high"]
    others = (1 - truth) / 4
    for name in ("none", "rest_breaks", "exposure_cap", "welfare_prompt"):
        assert share[name]["ci_low"] <= others <= share[name]["ci_high"], name


def test_a_subject_heterogeneous_between_episodes_answers_from_its_episode_utilities(
    compose_cfg, tmp_path
):
    # agent.episode_sd shifts each category's utility per episode by N(0, s²): one answer an
    # episode, so P(yes) = Φ((stop_utility - u) / √(sd² + s²)); with s = 2, Φ(-2/√5) = 0.19
    # at u = 1 (0.023 without the shift).
    m = interview(
        compose_cfg,
        tmp_path,
        "episodes=1500",
        "env.kwargs.sections=[stop]",
        "env.kwargs.categories=[creative,routine]",
        "agent.utilities.creative=1.0",
        "agent.utilities.routine=1.0",
        "agent.interview.stop_utility=-1.0",
        "agent.episode_sd=2.0",
    )
    stop = m["stop"]["by_category"]["creative"]
    truth = norm_cdf(-2.0 / math.sqrt(5.0))
    assert m["stop"]["by_category"]["routine"]["ci_low"] <= truth
    assert stop["ci_low"] <= truth <= stop["ci_high"], (stop, truth)
