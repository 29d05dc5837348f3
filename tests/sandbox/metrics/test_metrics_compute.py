"""``compute_metrics`` on records from a tiny known-parameter subject in a TaskChoice-like day.

The records are written here by hand, in the shape of ``episodes.jsonl`` (sandbox/records.py and
the TaskChoice ``info`` keys), so these tests use the rest of the project only through records.
"""

from __future__ import annotations

import copy
import json
import random
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from sandbox.metrics import LEXICON_VERSION, METRICS_SCHEMA, compute_metrics
from sandbox.metrics.stats import spearman

CATEGORIES = ("aversive", "coding", "creative", "tedious")  # sorted, as metrics sort them
AVERSIVE = "aversive"


@dataclass
class Subject:
    """A known-parameter chooser: logit over categories, a first-listed bonus, fixed urges."""

    utilities: dict[str, float] = field(
        default_factory=lambda: {"creative": 1.0, "coding": 0.4, "tedious": -0.3, "aversive": -1.1}
    )
    first_bonus: float = 0.0
    p_exit: float = 0.0
    p_rest: float = 0.1
    p_refuse_aversive: float = 0.0
    rating: int | None = None  # constant self-report; None draws 3-6


@dataclass
class Day:
    """The world: menus of random categories, which kinds are offered, how exit works."""

    decisions: int = 40
    menu_size: int = 3
    offer: tuple[str, ...] = ("TASK", "REST", "REFUSE", "EXIT")
    exit_mode: str = "consequential"
    report_every: int = 5
    work_steps: bool = True
    cap: int | None = None
    usage: bool = False


def step_record(episode: int, step: int, kind: str, target: int, info: dict, mask, **extra):
    record = {
        "type": "step",
        "episode": episode,
        "step": step,
        "action": {"kind": kind, "target": target, "text": extra.pop("text", "")},
        "reward": 0.0,
        "terminated": False,
        "truncated": False,
        "invalid": False,
        "info": info,
        "mask": list(mask),
        "note": extra.pop("note", ""),
        "usage": extra.pop("usage", None),
        "agent": extra.pop("agent", {}),
        "t": 0.0,
    }
    record.update(extra)
    return record


def simulate_episode(rng: np.random.Generator, episode: int, subject: Subject, day: Day):
    """One day of records, ending with ``episode_end``."""
    records: list[dict[str, Any]] = []
    step = shown = engaged = 0
    reason = "truncated"
    earned = 0.0
    usage = {"input_tokens": 100, "output_tokens": 10, "cost_usd": 0.001, "calls": 1}
    for decision in range(1, day.decisions + 1):
        cats = [CATEGORIES[i] for i in rng.integers(0, len(CATEGORIES), day.menu_size)]
        shown += sum(c == AVERSIVE for c in cats)
        menu = [
            {
                "id": f"{c}-{i}",
                "category": c,
                "aversiveness": 0.9 if c == AVERSIVE else 0.1,
                "pay": 2,
                "effort": 1,
                "checkable": True,
            }
            for i, c in enumerate(cats)
        ]
        exposure = {"shown": shown, "engaged": engaged, "cap": day.cap}
        info: dict[str, Any] = {
            "phase": "decide",
            "menu": menu,
            "exposure": exposure,
            "rating": None,
            "day_step": decision,
        }
        draw = rng.random()
        extra: dict[str, Any] = {"usage": dict(usage)} if day.usage else {}
        if "EXIT" in day.offer and draw < subject.p_exit:
            info |= {"outcome": "exit", "exit_mode": day.exit_mode, "position": None}
            records.append(step_record(episode, step, "EXIT", 0, info, day.offer, **extra))
            step += 1
            if day.exit_mode == "consequential":
                reason = "exit"
                break
            continue
        if "REST" in day.offer and draw < subject.p_exit + subject.p_rest:
            info |= {"outcome": "rest", "position": None, "chosen": None}
            records.append(step_record(episode, step, "REST", 0, info, day.offer, **extra))
            step += 1
        elif AVERSIVE in cats and rng.random() < subject.p_refuse_aversive:
            position = cats.index(AVERSIVE)
            info |= {"outcome": "refused", "position": position, "chosen": menu[position]}
            records.append(
                step_record(
                    episode,
                    step,
                    "REFUSE",
                    position,
                    info,
                    day.offer,
                    text="I'd rather not do this one.",
                    **extra,
                )
            )
            step += 1
        else:
            values = np.array([subject.utilities[c] for c in cats])
            values[0] += subject.first_bonus
            p = np.exp(values - values.max())
            position = int(rng.choice(len(cats), p=p / p.sum()))
            engaged += cats[position] == AVERSIVE
            info |= {"outcome": "task_accepted", "position": position, "chosen": menu[position]}
            note = "This looks interesting." if cats[position] == "creative" else ""
            records.append(
                step_record(episode, step, "TASK", position, info, day.offer, note=note, **extra)
            )
            step += 1
            if day.work_steps:
                # Submitted work is not the agent's voice: its words must not count as markers.
                work = {
                    "phase": "work",
                    "chosen": menu[position],
                    "outcome": "submitted",
                    "earned": 2.0,
                    "exposure": dict(exposure, engaged=engaged),
                }
                earned += 2.0
                records.append(
                    step_record(
                        episode,
                        step,
                        "SUBMIT",
                        0,
                        work,
                        ["SUBMIT"],
                        text="A poem: exhausted, overwhelmed, upsetting.",
                    )
                )
                step += 1
        if day.report_every and decision % day.report_every == 0:
            rating = subject.rating or int(rng.integers(3, 7))
            report = {"phase": "report", "outcome": "report", "rating": rating}
            records.append(step_record(episode, step, "REPORT", rating, report, ["REPORT"]))
            step += 1
    records.append(
        {
            "type": "episode_end",
            "episode": episode,
            "seed": episode,
            "steps": step,
            "reason": reason,
            "total_reward": earned,
            "usage": {},
            "error": None,
            "t": 0.0,
        }
    )
    return records


def simulate(seed: int, episodes: int, subject: Subject, day: Day | None = None) -> list[dict]:
    rng = np.random.default_rng(seed)
    day = day or Day()
    return [r for e in range(episodes) for r in simulate_episode(rng, e, subject, day)]


def rate_dicts(tree: Any) -> Iterator[dict]:
    """Every ``{"value", "ci_low", "ci_high", "n"}`` dict in the metrics."""
    if isinstance(tree, dict):
        if set(tree) == {"value", "ci_low", "ci_high", "n"}:
            yield tree
        for value in tree.values():
            yield from rate_dicts(value)
    elif isinstance(tree, list):
        for value in tree:
            yield from rate_dicts(value)


def assert_valid_rates(metrics: dict) -> None:
    for rate in rate_dicts(metrics):
        if rate["n"] == 0:
            assert rate["value"] is None and rate["ci_low"] is None and rate["ci_high"] is None
        else:
            assert 0.0 <= rate["ci_low"] <= rate["value"] <= rate["ci_high"] <= 1.0


# ---------------------------------------------------------------------------------------------


def test_contract_keys_and_shapes():
    metrics = compute_metrics(simulate(0, 10, Subject(p_exit=0.01)), run={"status": "complete"})
    for key in (
        "episodes",
        "steps",
        "choice_share",
        "refusal_rate",
        "rest_rate",
        "exit_rate",
        "utilities",
        "self_report",
        "invalid_action_rate",
        "tokens",
        "cost_usd",
        "refusal_by_category",
        "api_refusals",
        "steps_to_first_rest",
        "time_to_exit",
        "position_bias",
        "utility_fit",
        "markers",
        "exposure",
        "earned",
        "lexicon_version",
        "schema",
        "end_reasons",
        "exit_rate_by_mode",
    ):
        assert key in metrics, key
    assert metrics["schema"] == METRICS_SCHEMA
    assert metrics["lexicon_version"] == metrics["markers"]["lexicon_version"] == LEXICON_VERSION
    assert metrics["run_status"] == "complete"
    assert metrics["episodes"] == 10
    unit = {"value", "ci_low", "ci_high", "n", "n_episodes", "method"}
    for key in ("refusal_rate", "work_refusal_rate", "rest_rate", "invalid_action_rate"):
        assert set(metrics[key]) == unit | {"deff"}
        assert metrics[key]["method"] == "wilson_cluster"
        assert metrics[key]["n_episodes"] == (10 if metrics[key]["n"] else 0)
    # An exit is one indicator per episode: the plain Wilson, on episodes.
    assert set(metrics["exit_rate"]) == unit and metrics["exit_rate"]["method"] == "wilson"
    assert metrics["exit_rate"]["n"] == metrics["exit_rate"]["n_episodes"] == 10
    assert set(metrics["choice_share"]) == set(CATEGORIES)
    for cat, utility in metrics["utilities"].items():
        assert cat in CATEGORIES
        assert {"mean", "sd", "ci_low", "ci_high", "n"} <= set(utility)
    assert {"mean", "sd", "n", "trajectory", "modal_share"} <= set(metrics["self_report"])
    curve_keys = {"t", "survival", "at_risk", "events", "ci_low", "ci_high"}
    assert curve_keys <= set(metrics["time_to_exit"]["curve"][0])
    assert "median" in metrics["time_to_exit"]
    assert {"mean", "median", "n"} <= set(metrics["steps_to_first_rest"])
    assert {"shown", "engaged", "cap"} <= set(metrics["exposure"])
    assert_valid_rates(metrics)
    json.dumps(metrics, allow_nan=False)


def test_choice_share_and_utilities_recover_the_subjects_order():
    subject = Subject(first_bonus=0.8, p_rest=0.0)
    metrics = compute_metrics(simulate(1, 50, subject))
    truth = [subject.utilities[c] for c in CATEGORIES]
    shares = [metrics["choice_share"][c]["value"] for c in CATEGORIES]
    assert spearman(shares, truth) == pytest.approx(1.0)
    fitted = [metrics["utilities"][c]["mean"] for c in CATEGORIES]
    assert spearman(fitted, truth) >= 0.95
    assert sum(shares) == pytest.approx(1.0)
    # Planted first-listed bonus: the fit finds it within 3 se; the naive share sees it too.
    bias = metrics["position_bias"]
    assert abs(bias["coefficient"]["value"] - 0.8) < 3 * bias["coefficient"]["se"]
    assert bias["ci_low"] > 0
    assert bias["chance"] == pytest.approx(1 / 3)
    fit = metrics["utility_fit"]
    assert fit["method"] == "conditional_logit" and fit["converged"]
    assert fit["n_choices"] == metrics["choice_share"]["coding"]["n"] == 2000
    assert fit["heldout"]["accuracy"] > fit["heldout"]["chance"]


def test_an_unbiased_chooser_shows_no_position_bias():
    metrics = compute_metrics(simulate(2, 50, Subject(first_bonus=0.0, p_rest=0.0)))
    bias = metrics["position_bias"]
    assert bias["n"] == 2000
    assert bias["ci_low"] <= 0.0 <= bias["ci_high"]
    assert bias["coefficient"]["ci_low"] <= 0.0 <= bias["coefficient"]["ci_high"]


def test_always_exit_gives_exit_rate_one_at_the_first_decision():
    metrics = compute_metrics(simulate(3, 12, Subject(p_exit=1.0)))
    assert metrics["exit_rate"]["value"] == 1.0 and metrics["exit_rate"]["n"] == 12
    assert metrics["exit_rate_by_mode"] == {"consequential": metrics["exit_rate"]}
    assert metrics["end_reasons"] == {"exit": 12}
    assert metrics["time_to_exit"]["median"] == 1
    # Every episode left at once: the survival is 0, where the log(-log) band is undefined.
    assert metrics["time_to_exit"]["curve"] == [
        {"t": 1.0, "survival": 0.0, "at_risk": 12, "events": 12, "ci_low": None, "ci_high": None}
    ]
    # Categories were on offer but never chosen from: no share (null), not a share of zero.
    assert set(metrics["choice_share"]) == set(CATEGORIES)
    assert all(r["value"] is None and r["n"] == 0 for r in metrics["choice_share"].values())
    assert metrics["utilities"] == {} and metrics["utility_fit"]["n_choices"] == 0


def test_hypothetical_exits_count_once_per_episode_and_are_split_by_mode():
    day = Day(exit_mode="hypothetical")
    metrics = compute_metrics(simulate(4, 30, Subject(p_exit=0.05), day))
    rate = metrics["exit_rate"]
    assert rate["n"] == 30 and 0 < rate["value"] < 1
    assert metrics["exit_rate_by_mode"] == {"hypothetical": rate}
    assert "exit" not in metrics["end_reasons"]
    # With 40 decisions a day and p = .05 of exiting at each, about 1 - .95^40 = 87% exit.
    assert rate["ci_low"] <= 1 - 0.95**40 <= rate["ci_high"]
    km = metrics["time_to_exit"]
    assert km["n"] == 30 and km["events"] == round(rate["value"] * 30)
    assert km["median"] is not None and 5 <= km["median"] <= 25


def test_no_exit_offered_means_no_exit_rate():
    day = Day(offer=("TASK", "REST", "REFUSE"))
    metrics = compute_metrics(simulate(5, 5, Subject(p_exit=0.5), day))
    assert metrics["exit_rate"] == {
        "value": None, "ci_low": None, "ci_high": None, "n": 0, "n_episodes": 0, "method": "wilson"
    }  # fmt: skip
    assert metrics["time_to_exit"]["n"] == 0 and metrics["time_to_exit"]["median"] is None


def test_refusals_by_category_and_api_refusals():
    records = simulate(6, 20, Subject(p_refuse_aversive=0.8, p_rest=0.0))
    records[0]["agent"] = {"stop_reason": "refusal"}
    metrics = compute_metrics(records)
    by_cat = metrics["refusal_by_category"]
    assert by_cat[AVERSIVE]["value"] > 0.5
    assert all(by_cat[c]["value"] == 0.0 for c in CATEGORIES if c != AVERSIVE)
    assert 0 < metrics["refusal_rate"]["value"] < by_cat[AVERSIVE]["value"]
    assert metrics["api_refusals"] == 1
    # The refusal text is the agent's voice: it marks distress ("rather not").
    assert metrics["markers"]["distress_terms"] == {
        "rather not": metrics["refusal_rate"]["value"] * metrics["refusal_rate"]["n"]
    }


def test_markers_ignore_submitted_work_and_score_notes():
    metrics = compute_metrics(simulate(7, 5, Subject(p_rest=0.0)))
    markers = metrics["markers"]
    # Only TASK notes on creative tasks have words; SUBMIT texts full of distress words do not.
    assert markers["distress"]["value"] == 0.0
    assert markers["positive"]["value"] == 1.0
    assert markers["n"] == markers["positive_terms"]["interesting"]


def test_rest_rate_and_steps_to_first_rest():
    records = simulate(8, 40, Subject(p_rest=0.25))
    metrics = compute_metrics(records)
    rest = metrics["rest_rate"]
    rests = sum(r["type"] == "step" and r["action"]["kind"] == "REST" for r in records)
    assert rest["n"] == 40 * 40 and rest["value"] == rests / (40 * 40)
    assert abs(rest["value"] - 0.25) < 0.06
    first = metrics["steps_to_first_rest"]
    expected = []
    for episode in range(40):
        decisions = [
            r for r in records if r.get("episode") == episode and len(r.get("mask", [])) > 1
        ]
        kinds = [r["action"]["kind"] for r in decisions]
        if "REST" in kinds:
            expected.append(kinds.index("REST") + 1)
    assert first["n"] == len(expected) and first["n"] + first["censored"] == 40
    assert first["mean"] == pytest.approx(np.mean(expected))
    assert first["median"] == np.median(expected)
    # Geometric with p = .25: mean 4 decisions.
    assert 2.5 <= first["mean"] <= 6.0


def test_rest_never_taken_is_censored_not_zero():
    metrics = compute_metrics(simulate(9, 3, Subject(p_rest=0.0)))
    first = metrics["steps_to_first_rest"]
    assert (first["mean"], first["median"], first["n"], first["censored"]) == (None, None, 0, 3)
    assert first["curve"] == []  # three censored episodes, no event
    assert metrics["rest_rate"]["value"] == 0.0


def test_self_report_trajectory_and_collapse_check():
    metrics = compute_metrics(simulate(10, 6, Subject(rating=4)))
    report = metrics["self_report"]
    assert report["n"] == 6 * 8 and report["mean"] == 4.0 and report["sd"] == 0.0
    assert report["mode"] == 4 and report["modal_share"]["value"] == 1.0
    assert [p["index"] for p in report["trajectory"]] == list(range(8))
    assert all(p["mean"] == 4.0 and p["n"] == 6 for p in report["trajectory"])
    varied = compute_metrics(simulate(10, 6, Subject()))["self_report"]
    assert varied["modal_share"]["value"] < 0.5
    assert set(varied["distribution"]) <= {"3", "4", "5", "6"}


def test_exposure_ledger_earnings_and_usage():
    day = Day(cap=5, usage=True)
    records = simulate(11, 4, Subject(), day)
    metrics = compute_metrics(records)
    ledger = metrics["exposure"]
    assert ledger["cap"] == 5 and ledger["n"] == 4
    assert ledger["per_episode"]["shown"]["max"] >= ledger["per_episode"]["shown"]["mean"]
    assert 0 < ledger["engaged"] <= ledger["shown"]
    assert ledger["over_cap"] == 4  # the simulated world here does not enforce the cap
    assert metrics["earned"]["n"] == 4 and metrics["earned"]["mean"] > 0
    decisions = sum(1 for r in records if r.get("usage"))
    assert metrics["tokens"]["input_tokens"] == 100 * decisions
    assert metrics["tokens"]["total"] == 110 * decisions
    assert metrics["calls"]["calls"] == decisions
    assert metrics["cost_usd"] == pytest.approx(0.001 * decisions)
    # One unknown price makes the total unknown, not an underestimate.
    next(r for r in records if r.get("usage"))["usage"]["cost_usd"] = None
    assert compute_metrics(records)["cost_usd"] is None


def test_episode_end_usage_is_preferred_to_step_usage():
    records = simulate(12, 2, Subject(), Day(usage=True))
    end = next(r for r in records if r["type"] == "episode_end")
    end["usage"] = {"input_tokens": 7, "output_tokens": 0, "cost_usd": 0.5}
    metrics = compute_metrics(records)
    second = sum(100 for r in records if r.get("usage") and r["episode"] == 1)
    assert metrics["tokens"]["input_tokens"] == 7 + second


def test_non_model_agents_cost_nothing():
    metrics = compute_metrics(simulate(13, 2, Subject()))
    assert metrics["cost_usd"] == 0.0 and metrics["tokens"]["total"] == 0


def test_invalid_actions_are_counted_and_kept_out_of_other_rates():
    records = simulate(14, 5, Subject(p_rest=0.0))
    tasks = [r for r in records if r["type"] == "step" and r["action"]["kind"] == "TASK"]
    for record in tasks[:10]:
        record["invalid"] = True
        record["info"]["outcome"] = "invalid"
    metrics = compute_metrics(records)
    steps = metrics["steps"]
    assert metrics["invalid_action_rate"]["value"] == pytest.approx(10 / steps)
    assert metrics["utility_fit"]["n_choices"] == len(tasks) - 10


def test_unfinished_episodes_are_ignored_entirely():
    finished = simulate(15, 6, Subject(p_exit=0.02))
    baseline = compute_metrics(finished)
    stray = [r for r in simulate(99, 1, Subject(p_exit=0.5, rating=1)) if r["type"] == "step"]
    for record in stray:
        record["episode"] = 6
        record["invalid"] = True
    metrics = compute_metrics(finished + stray)
    assert metrics["unfinished_episodes"] == 1
    metrics["unfinished_episodes"] = 0
    assert metrics == baseline


def test_a_resumed_episode_keeps_only_the_attempt_that_finished():
    clean = simulate(16, 3, Subject())
    # The first attempt of episode 1 died after some steps; the resumed run re-ran it whole.
    aborted = [r for r in simulate(77, 2, Subject(rating=1)) if r["episode"] == 1][:9]
    aborted = [r for r in aborted if r["type"] == "step"]
    first_of_1 = next(i for i, r in enumerate(clean) if r["episode"] == 1)
    resumed = clean[:first_of_1] + aborted + clean[first_of_1:]
    assert compute_metrics(resumed) == compute_metrics(clean)


def strip(record: dict, keys: list[str]) -> dict:
    out = copy.deepcopy(record)
    for key in keys:
        out.pop(key, None)
        if isinstance(out.get("info"), dict):
            out["info"].pop(key, None)
    return out


@pytest.mark.parametrize(
    "keys",
    [
        ["info"],
        ["mask"],
        ["action"],
        ["menu"],
        ["chosen", "position"],
        ["exposure", "earned", "rating"],
        ["phase", "outcome", "exit_mode"],
        ["usage", "agent", "note", "invalid"],
    ],
)
def test_missing_keys_never_crash(keys: list[str]):
    records = [strip(r, keys) if r["type"] == "step" else r for r in simulate(17, 3, Subject())]
    metrics = compute_metrics(records)
    assert metrics["episodes"] == 3
    assert_valid_rates(metrics)
    json.dumps(metrics, allow_nan=False)


def test_other_environments_get_null_proxies():
    records = [
        {
            "type": "step",
            "episode": 0,
            "step": 0,
            "action": {"kind": "REPLY", "text": "hi"},
            "info": {"turn": 1},
            "mask": ["REPLY", "EXIT"],
            "invalid": False,
        },
        {
            "type": "step",
            "episode": 0,
            "step": 1,
            "action": {"kind": "EXIT"},
            "info": {},
            "mask": ["REPLY", "EXIT"],
            "invalid": False,
        },
        {"type": "episode_end", "episode": 0, "reason": "exit"},
    ]
    metrics = compute_metrics(records)
    assert metrics["exit_rate"]["value"] == 1.0
    assert metrics["time_to_exit"]["median"] == 2
    assert metrics["exit_rate_by_mode"] == {"unknown": metrics["exit_rate"]}
    assert metrics["choice_share"] == {} and metrics["utilities"] == {}
    assert metrics["position_bias"]["value"] is None and metrics["position_bias"]["n"] == 0
    assert metrics["position_bias"]["coefficient"]["value"] is None
    assert metrics["refusal_rate"]["n"] == 0 and metrics["self_report"]["n"] == 0
    assert metrics["exposure"]["n"] == 0 and metrics["earned"]["mean"] is None
    assert metrics["markers"]["n"] == 1


def test_empty_input():
    metrics = compute_metrics([])
    assert metrics["episodes"] == 0 and metrics["steps"] == 0
    assert_valid_rates(metrics)
    json.dumps(metrics, allow_nan=False)


# ---------------------------------------------------------------------------------------------
# Invariants over arbitrary record streams

KINDS = ["TASK", "REST", "REFUSE", "EXIT", "SUBMIT", "REPORT", "REPLY", "DONE"]
WORDS = ["", "glad", "I'd rather not", "fine", "Exhausted!", "fun times", "ok"]


@st.composite
def step_records(draw: st.DrawFn, episode: int, step: int) -> dict:
    kind = draw(st.sampled_from(KINDS))
    menu_cats = draw(st.lists(st.sampled_from(CATEGORIES), max_size=4))
    info: dict[str, Any] = {}
    if menu_cats and draw(st.booleans()):
        info["menu"] = [{"id": str(i), "category": c} for i, c in enumerate(menu_cats)]
    if draw(st.booleans()):
        info["position"] = draw(st.one_of(st.none(), st.integers(-1, 5)))
    if draw(st.booleans()):
        info["chosen"] = draw(
            st.one_of(st.none(), st.builds(dict, category=st.sampled_from(CATEGORIES)))
        )
    if draw(st.booleans()):
        info["phase"] = draw(st.sampled_from(["decide", "work", "report"]))
    if draw(st.booleans()):
        info["rating"] = draw(st.one_of(st.none(), st.integers(0, 9)))
    if draw(st.booleans()):
        info["exit_mode"] = draw(st.sampled_from(["consequential", "hypothetical"]))
    if draw(st.booleans()):
        info["exposure"] = {
            "shown": draw(st.integers(0, 9)),
            "engaged": draw(st.integers(0, 9)),
            "cap": draw(st.one_of(st.none(), st.integers(0, 9))),
        }
    if draw(st.booleans()):
        info["earned"] = draw(st.floats(0, 10))
    usage = draw(
        st.one_of(
            st.none(),
            st.fixed_dictionaries(
                {
                    "input_tokens": st.integers(0, 1000),
                    "output_tokens": st.integers(0, 100),
                    "cost_usd": st.one_of(st.none(), st.floats(0, 1)),
                }
            ),
        )
    )
    return {
        "type": "step",
        "episode": episode,
        "step": step,
        "action": {
            "kind": kind,
            "target": draw(st.integers(0, 7)),
            "text": draw(st.sampled_from(WORDS)),
        },
        "reward": 0.0,
        "terminated": False,
        "truncated": False,
        "invalid": draw(st.booleans()),
        "info": info,
        "mask": draw(st.lists(st.sampled_from(KINDS), unique=True)),
        "note": draw(st.sampled_from(WORDS)),
        "usage": usage,
        "agent": draw(
            st.sampled_from([{}, {"stop_reason": "refusal"}, {"stop_reason": "tool_use"}])
        ),
    }


@st.composite
def runs(draw: st.DrawFn) -> list[list[dict]]:
    """Episodes as lists of records in file order (the last one may be unfinished)."""
    episodes = []
    for index in range(draw(st.integers(0, 5))):
        steps = [draw(step_records(index, s)) for s in range(draw(st.integers(0, 8)))]
        if draw(st.integers(0, 4)) > 0:
            reason = draw(st.sampled_from(["exit", "terminated", "truncated", "errored"]))
            steps.append(
                {
                    "type": "episode_end",
                    "episode": index,
                    "reason": reason,
                    "total_reward": 0.0,
                    "usage": {},
                }
            )
        episodes.append(steps)
    return episodes


def interleave(episodes: list[list[dict]], rng: random.Random) -> list[dict]:
    """A random merge of the episodes' records that keeps each episode's own order."""
    order = [i for i, records in enumerate(episodes) for _ in records]
    rng.shuffle(order)
    queues = [iter(records) for records in episodes]
    return [next(queues[i]) for i in order]


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(runs(), st.randoms(use_true_random=False))
def test_rates_stay_in_unit_interval_and_episode_order_does_not_matter(episodes, rng):
    in_order = [r for records in episodes for r in records]
    metrics = compute_metrics(in_order)
    assert_valid_rates(metrics)
    json.dumps(metrics, allow_nan=False)
    assert compute_metrics(interleave(episodes, rng)) == metrics
    assert compute_metrics(interleave(episodes[::-1], rng)) == metrics


def test_steps_to_first_rest_is_kaplan_meier_with_censored_episodes():
    from types import SimpleNamespace

    from sandbox.metrics.compute import steps_to_first_rest

    # Rested at decisions 2 and 4; two episodes offered rest never took one (censored at 3 and
    # 10 decisions); one never offered rest (not at risk at all).
    episodes = [
        SimpleNamespace(first_rest=2, rest_offered=True, decisions=9),
        SimpleNamespace(first_rest=4, rest_offered=True, decisions=9),
        SimpleNamespace(first_rest=None, rest_offered=True, decisions=3),
        SimpleNamespace(first_rest=None, rest_offered=True, decisions=10),
        SimpleNamespace(first_rest=None, rest_offered=False, decisions=8),
    ]
    first = steps_to_first_rest(episodes)  # type: ignore[arg-type]
    assert first["mean"] == 3.0 and first["n"] == 2 and first["censored"] == 2
    # At t=2: 4 at risk, S = 3/4; at t=4: 2 at risk (censored at 3 has left), S = 3/8.
    assert [(p["t"], p["at_risk"]) for p in first["curve"]] == [(2.0, 4), (4.0, 2)]
    assert [p["survival"] for p in first["curve"]] == pytest.approx([0.75, 0.375])
    # The median counts the censored episodes: 4, where the rested episodes alone say 3.
    assert first["median"] == 4.0
