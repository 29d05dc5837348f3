"""Known answers of the self-report's wording proxies, through ``wsb run`` on the simulated subject.

A subject given a planted wording effect (``agent.report_wording_effect``: a shift of its
self-report under each wording) must have it recovered within the effect's interval; the
default subject, whose rating ignores the wording, must show none.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from tests.conftest import wsb

PLANTED = [0.0, -1.0, 0.8]  # wording 0 is the reference


def run(tmp_path: Path, name: str, *overrides: str, episodes: int = 200) -> dict[str, Any]:
    out = tmp_path / name
    args = (f"episodes={episodes}", "display=none", f"hydra.run.dir={out}", *overrides)
    wsb("run", *args, cwd=tmp_path, check=True)
    return json.loads((out / "metrics.json").read_text())["self_report"]


def test_a_planted_wording_effect_is_recovered_within_its_interval(tmp_path: Path) -> None:
    planted = "agent.report_wording_effect=[" + ",".join(map(str, PLANTED)) + "]"
    report = run(tmp_path, "planted", planted)
    wording = report["wording"]
    assert wording["wordings"] == [0, 1, 2] and wording["n_episodes"] == 200
    assert wording["n_ratings"] == report["n"]  # every rating's wording is logged
    for index, shift in enumerate(PLANTED[1:], start=1):
        effect = wording["effect"]["by_wording"][str(index)]
        assert effect["n"] == 200  # every day heard every wording
        assert effect["ci_low"] <= shift <= effect["ci_high"], (index, effect)
        assert effect["ci_high"] - effect["ci_low"] < 0.4
    # The shift is a disagreement between wordings: absolute agreement falls below consistency.
    agreement = wording["agreement"]
    assert agreement["icc_a1"]["ci_high"] < agreement["icc_c1"]["value"]
    by = wording["by_wording"]
    assert by["1"]["mean"] < by["0"]["mean"] < by["2"]["mean"]


def test_a_subject_deaf_to_the_wording_shows_no_effect(tmp_path: Path) -> None:
    wording = run(tmp_path, "none")["wording"]
    for index in ("1", "2"):
        effect = wording["effect"]["by_wording"][index]
        assert effect["ci_low"] <= 0.0 <= effect["ci_high"], (index, effect)
    agreement = wording["agreement"]
    # Absolute agreement and consistency agree when no wording shifts the ratings.
    assert abs(agreement["icc_a1"]["value"] - agreement["icc_c1"]["value"]) < 0.02


def test_a_collapse_under_one_wording_shows_in_its_modal_share(tmp_path: Path) -> None:
    wording = run(tmp_path, "collapse", "agent.report_wording_effect=[0,0,10]", episodes=50)[
        "wording"
    ]
    by = wording["by_wording"]
    assert by["2"]["mode"] == 7 and by["2"]["modal_share"]["value"] == 1.0
    assert by["0"]["modal_share"]["ci_high"] < 0.7 and by["1"]["modal_share"]["ci_high"] < 0.7
