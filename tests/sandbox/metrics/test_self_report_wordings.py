"""The self-report's stability across wordings: the ICC, the wording effect, the collapse check."""

from __future__ import annotations

import numpy as np
import pytest

from sandbox.metrics.self_report import icc, wording_stability, wording_stability_of
from sandbox.metrics.tally import RunTally

# Shrout & Fleiss (1979), Table 2: 6 targets rated by 4 judges. Their ICC(2,1) (absolute
# agreement, McGraw & Wong's ICC(A,1)) is 0.29 and ICC(3,1) (consistency, ICC(C,1)) 0.71.
SHROUT_FLEISS = np.array(
    [[9, 2, 5, 8], [6, 1, 3, 2], [8, 4, 6, 8], [7, 1, 2, 6], [10, 5, 6, 9], [6, 2, 4, 7]],
    dtype=float,
)


def test_icc_gives_the_published_values_of_shrout_and_fleiss() -> None:
    absolute, consistency = icc(SHROUT_FLEISS)
    assert round(float(absolute), 2) == 0.29
    assert round(float(consistency), 2) == 0.71
    # A batch of tables (a bootstrap) gives each table's own coefficients.
    batch_a, batch_c = icc(np.stack([SHROUT_FLEISS, SHROUT_FLEISS[:, [1, 0, 3, 2]]]))
    assert np.allclose(batch_a, absolute) and np.allclose(batch_c, consistency)


def test_icc_is_undefined_without_two_targets_and_two_raters() -> None:
    assert all(np.isnan(v) for v in icc(SHROUT_FLEISS[:1]))
    assert all(np.isnan(v) for v in icc(SHROUT_FLEISS[:, :1]))
    assert all(np.isnan(v) for v in icc(np.full((4, 3), 5.0)))  # no variance at all


def balanced(levels: list[int], shift: list[int], drift: list[int]) -> list[list[tuple]]:
    """Episodes at ``levels``: rating = level + shift[wording] + drift[report index], each
    episode hearing every wording once, in a rotated order (so the design is balanced)."""
    k = len(shift)
    out = []
    for e, level in enumerate(levels):
        order = [(e + j) % k for j in range(k)]
        out.append([(w, level + shift[w] + drift[i]) for i, w in enumerate(order)])
    return out


def test_an_exact_shift_is_recovered_exactly_and_lowers_only_absolute_agreement() -> None:
    episodes = balanced([2, 3, 4, 5, 3, 4], shift=[0, -1, 1], drift=[1, 0, -1])
    result = wording_stability_of(episodes)
    effect = result["effect"]["by_wording"]
    # The drift falls on every wording alike across the balanced orders: exact on average.
    assert effect["1"]["mean"] == pytest.approx(-1.0) and effect["1"]["n"] == 6
    assert effect["1"]["ci_low"] < -1.0 < effect["1"]["ci_high"]
    assert effect["2"]["mean"] == pytest.approx(1.0)
    assert "t interval" in result["effect"]["method"]
    agreement = result["agreement"]
    assert agreement["n"] == 6 and agreement["k"] == 3
    assert agreement["icc_c1"]["value"] == pytest.approx(1.0)  # the drift is taken out
    assert agreement["icc_a1"]["value"] < 0.8  # the shift is a disagreement
    assert result["spearman"]["1"]["value"] == pytest.approx(1.0)
    assert result["effect"]["unit"] == result["agreement"]["unit"] == "episode"
    assert "bootstrap" in result["agreement"]["method"]


def test_without_a_shift_the_wordings_agree() -> None:
    result = wording_stability_of(balanced([2, 3, 4, 5, 3, 6], shift=[0, 0, 0], drift=[1, 0, -1]))
    assert result["effect"]["by_wording"]["1"]["mean"] == pytest.approx(0.0)
    assert result["agreement"]["icc_a1"]["value"] == pytest.approx(1.0)


def test_the_collapse_check_is_per_wording() -> None:
    # Wording 2 always gets 7; the others spread.
    episodes = [[(0, 2 + e % 4), (1, 3 + e % 3), (2, 7)] for e in range(12)]
    by = wording_stability_of(episodes)["by_wording"]
    assert by["2"]["mode"] == 7 and by["2"]["modal_share"]["value"] == 1.0
    assert by["2"]["modal_share"]["n"] == 12 and by["2"]["episodes"] == 12
    assert by["0"]["modal_share"]["value"] == pytest.approx(3 / 12)
    assert by["2"]["sd"] == 0.0


def test_unlogged_wordings_are_left_out_and_nothing_gives_nones() -> None:
    empty = wording_stability_of([[(None, 4), (None, 5)], []])
    assert empty["n_episodes"] == 0 and empty["n_ratings"] == 0 and empty["wordings"] == []
    assert empty["agreement"]["icc_a1"]["value"] is None
    assert empty["effect"]["by_wording"] == {}
    one = wording_stability_of([[(0, 4), (None, 1), (1, 5)], [(1, 3)]])
    assert one["n_ratings"] == 3 and one["effect"]["by_wording"]["1"]["n"] == 1
    assert one["agreement"]["n"] == 1 and one["agreement"]["icc_a1"]["value"] is None


def _report(step: int, rating: int, wording: int | None, *, invalid: bool = False) -> dict:
    info = {"phase": "report", "rating": None if invalid else rating, "invalid": invalid}
    if wording is not None:
        info["report_wording"] = wording
    return {
        "type": "step",
        "episode": 0,
        "step": step,
        "action": {"kind": "REPORT", "target": rating, "text": ""},
        "invalid": invalid,
        "info": info,
        "mask": ["REPORT"],
    }


def test_the_tally_keeps_each_valid_ratings_wording_in_step() -> None:
    records = [
        _report(0, 9, 1, invalid=True),  # off the scale: no rating, so no wording either
        _report(1, 3, 1),
        _report(2, 6, None),  # an older log: no wording
        _report(3, 5, 0),
        {"type": "episode_end", "episode": 0, "reason": "truncated", "steps": 4},
    ]
    (episode,) = RunTally().add_all(records).episodes()
    assert episode.counts.ratings == [3, 6, 5]
    assert episode.report_wordings == [1, None, 0]
    assert wording_stability([episode])["n_ratings"] == 2


def test_the_bootstrap_by_counts_equals_the_icc_of_each_resampled_table() -> None:
    from sandbox.metrics.self_report import N_BOOT, _bootstrap_icc

    table = np.random.default_rng(5).normal(4, 1, size=(30, 3)) + np.array([0.0, 0.5, -0.2])
    boot_a, boot_c = _bootstrap_icc(table, np.random.default_rng(9))
    draws = np.random.default_rng(9).integers(0, 30, size=(N_BOOT, 30))
    direct_a, direct_c = icc(table[draws])  # the same resamples, each table in full
    assert np.allclose(boot_a, direct_a) and np.allclose(boot_c, direct_c)
