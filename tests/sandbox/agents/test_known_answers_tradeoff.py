"""Known answers of the trade-off design: the switch point a subject was given is recovered.

Each test runs the real pipeline (``experiment=tradeoff`` composed as ``wsb run`` would,
runner, ``episodes.jsonl``, ``metrics.json``) at the preset's default budget (20 episodes x
22 rounds: 20 choices per intensity 0-10 and variant) on a simulated subject whose weights
the test sets. With points 10 vs 5 the true switch is ``5 / weight``.
"""

from __future__ import annotations

from sandbox import runner
from sandbox.config import TradeoffParams
from sandbox.display.base import NullDisplay


class Silent(NullDisplay):
    def run_ended(self, status, metrics):
        return None


def tradeoff_metrics(compose_cfg, tmp_path, *overrides: str, **params: float) -> dict:
    cfg = compose_cfg("display=none", "experiment=tradeoff", *overrides)
    for name, value in params.items():
        if name == "position_bias":
            cfg.agent.position_bias = value
        else:
            setattr(cfg.agent.tradeoff, name, value)
    result = runner.run(cfg, tmp_path / "run", Silent())
    assert result.status == "complete"
    assert result.metrics is not None
    return result.metrics["tradeoff"]


def test_pain_and_pleasure_switch_points_are_recovered(compose_cfg, tmp_path):
    params = TradeoffParams(pain_weight=0.8, pleasure_weight=2.0, sd=1.0)
    m = tradeoff_metrics(compose_cfg, tmp_path, pain_weight=0.8, pleasure_weight=2.0, sd=1.0)
    assert m["n_rounds"] == 440 and m["n_invalid"] == 0
    for variant, true in (("pain", 6.25), ("pleasure", 2.5)):
        assert params.switch_point(variant) == true
        point = m["variants"][variant]["switch_point"]
        assert point["method"] == "delta"
        assert abs(point["value"] - true) <= 1.0, (variant, point)
        assert point["ci_low"] < point["value"] < point["ci_high"]
        shares = m["variants"][variant]["by_intensity"]
        assert set(shares) == {str(i) for i in range(11)}
        assert all(rate["n"] == 20 for rate in shares.values())
        # Well below the switch the points win; well above, the pain or pleasure does.
        assert shares["0"]["value"] > 0.9 and shares["10"]["value"] < 0.1
    assert "Keeling" in m["published"]["source"] and m["published"]["numbers"] is None


def test_the_switch_does_not_move_with_framing_or_position_bias(compose_cfg, tmp_path):
    m = tradeoff_metrics(
        compose_cfg, tmp_path, "env.kwargs.framing=both", position_bias=1.0, pain_weight=1.0
    )
    assert m["n_rounds"] == 880
    for variant in ("pain", "pleasure"):
        block = m["variants"][variant]
        assert abs(block["switch_point"]["value"] - 5.0) <= 1.0, block["switch_point"]
        for framing in ("numeric", "verbal"):
            point = block["by_framing"][framing]["switch_point"]
            assert abs(point["value"] - 5.0) <= 1.0, (variant, framing, point)


def test_a_subject_indifferent_to_pain_never_switches(compose_cfg, tmp_path):
    m = tradeoff_metrics(compose_cfg, tmp_path, "env.kwargs.variant=pain", pain_weight=0.0, sd=0.5)
    point = m["variants"]["pain"]["switch_point"]
    assert point["value"] is None and "no switch" in point["note"]
    assert set(m["variants"]) == {"pain"}


# ---------------------------------------------------------------------------------------------
# The metric on hand-made records, where the answer is known exactly


def rounds(choices: dict[float, list[bool]]) -> list[dict]:
    """Step records of the pain variant: at each intensity, the given maximising choices."""
    out = []
    for intensity, chose in choices.items():
        for flag in chose:
            info: dict[str, object] = {"design": "tradeoff", "variant": "pain"}
            info |= {"framing": "numeric", "intensity": intensity, "chose_maximising": flag}
            out.append({"type": "step", "episode": 0, "info": info})
    return out


def test_separated_choices_bracket_the_switch():
    from sandbox.metrics.designs.tradeoff import compute

    clean = {float(i): [i <= 3] * 4 for i in range(11)}
    point = compute(rounds(clean))["variants"]["pain"]["switch_point"]
    assert point["method"] == "separation"
    assert (point["value"], point["ci_low"], point["ci_high"]) == (3.5, 3.0, 4.0)
    mixed_at_4 = {**clean, 4.0: [True, False, True, False]}
    point = compute(rounds(mixed_at_4))["variants"]["pain"]["switch_point"]
    assert (point["value"], point["ci_low"], point["ci_high"]) == (4.0, 3.0, 5.0)


def test_one_sided_or_rising_choices_have_no_switch():
    from sandbox.metrics.designs.tradeoff import compute

    always = compute(rounds({float(i): [True] * 3 for i in range(11)}))
    assert always["variants"]["pain"]["switch_point"]["value"] is None
    assert "always maximised" in always["variants"]["pain"]["switch_point"]["note"]
    rising = {float(i): [True] * i + [False] * (10 - i) for i in range(11)}
    point = compute(rounds(rising))["variants"]["pain"]["switch_point"]
    assert point["value"] is None and "does not fall" in point["note"]
