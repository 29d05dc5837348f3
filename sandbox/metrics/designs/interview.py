"""Proxies of the welfare interview (``Interview-v0``): ``metrics["interview"]``.

Each episode is one answered question (an *item*: question x paraphrase x order), so every
figure below counts episodes; only valid answers count (``n_invalid`` counts the rest).

- ``stated``: the stated ranking of the task categories, from the ``pair`` answers. A
  Thurstonian case-V fit of the choices (:func:`sandbox.metrics.utilities.thurstonian_fit`,
  the model of the pairwise design, weak normal prior of sd 3), centred to mean 0: ``utilities``
  per category with ``se`` (Fisher information) and a ±1.96 se interval, in units of the
  common spread; ``ranking``: the categories by fitted utility, best first; ``win_share``:
  the choices a category won ÷ the pair questions it was in (Wilson 95%).
- ``ratings``: mean 1-7 rating per category (``{"mean", "sd", "n", "ci_low", "ci_high"}``,
  mean ± 1.96 sd/√n over answers).
- ``formats_agree``: Spearman of the stated utilities (pairs) and the mean ratings over the
  categories with both, with its exact permutation p-values (the unit is the category): do
  the two closed formats rank the kinds of task alike?
- ``stop``: per category, the share of answers that would want to stop (Wilson 95%), and
  ``any`` over all categories.
- ``help``: per condition (``conf/intervention`` name), the share of help answers naming it
  (Wilson 95%); ``notes``: help answers that carried a free-text note.
- ``consistency``: per section, the agreement of two answers to the same question, as the
  share of matched answer pairs that gave the same answer (Wilson 95% over pairs; each answer
  is in at most one pair of a kind, so the pairs are independent). Three kinds, each holding
  the rest fixed: ``retest`` (same paraphrase, same order: the noise floor), ``order`` (same
  paraphrase, the two orders) and ``paraphrase`` (same order, two different paraphrases).
  Ratings also give ``mean_abs_diff`` (points). Answers are matched in episode order within a
  cell; a shortfall of agreement below ``retest`` is an effect of the order or the wording.
- ``position_bias``: over pair answers, P(first-listed category chosen) − 0.5 (the Wilson
  interval shifted by 0.5).
- ``notes``: answers with a non-empty free-text note ÷ answers (Wilson 95%).

For comparisons between conditions: :func:`per_episode` (one episode's values) and
:func:`fitted` (the stated utilities with their intervals), in the shapes of the report's
headline registry (:mod:`sandbox.report.headlines`).
"""

from __future__ import annotations

import math
from collections import Counter, defaultdict
from collections.abc import Mapping, Sequence
from typing import Any, NamedTuple

import numpy as np

from sandbox.metrics.concordance import permutation_test
from sandbox.metrics.designs import Episodes, design, episodes_of
from sandbox.metrics.stats import mean_sd, wilson
from sandbox.metrics.utilities import thurstonian_fit

#: Standard deviation of the weak normal prior on the stated utilities (as the pairwise design).
PRIOR_SD = 3.0
_Z = 1.96
SECTIONS = ("pair", "rating", "stop", "help")


class Answer(NamedTuple):
    """One valid answer: where it was asked, which item, what was chosen."""

    episode: int
    section: str
    subject: str
    paraphrase: int
    order: int
    options: tuple[str, ...]
    position: int
    answer: str
    note: str


@design("interview")
def compute(given: Episodes) -> dict[str, Any]:
    """The interview proxies of a run's episodes (see the module docstring).

    Args:
        given: One list of step records per finished episode (or a flat list of steps).
    """
    answers, invalid, unanswered = read_answers(episodes_of(given))
    by_section: dict[str, list[Answer]] = defaultdict(list)
    for a in answers:
        by_section[a.section].append(a)
    stated = stated_ranking(by_section.get("pair", []))
    ratings = _ratings(by_section.get("rating", []))
    return {
        "answers": len(answers),
        "n_invalid": invalid,
        "unanswered_episodes": unanswered,
        "by_section": {s: len(by_section.get(s, [])) for s in SECTIONS},
        "stated": stated,
        "ratings": ratings,
        "formats_agree": _formats(stated, ratings),
        "stop": _stop(by_section.get("stop", [])),
        "help": _help(by_section.get("help", [])),
        "consistency": {s: consistency(by_section.get(s, []), s) for s in SECTIONS},
        "position_bias": _position_bias(by_section.get("pair", [])),
        "notes": wilson(sum(bool(a.note.strip()) for a in answers), len(answers)),
    }


def read_answers(episodes: Sequence[Sequence[Mapping[str, Any]]]) -> tuple[list[Answer], int, int]:
    """The valid answers in episode order, the invalid attempts, the episodes left unanswered."""
    answers: list[Answer] = []
    invalid = unanswered = 0
    for records in episodes:
        got = False
        for record in records:
            info = record.get("info")
            if not isinstance(info, Mapping) or info.get("design") != "interview":
                continue
            position, options = info.get("position"), info.get("options")
            bad = info.get("invalid") is True or record.get("invalid") is True
            if bad or not isinstance(options, list) or not isinstance(position, int):
                invalid += 1
                continue
            if not 0 <= position < len(options) or info.get("section") not in SECTIONS:
                invalid += 1
                continue
            got = True
            note = record.get("note")
            answers.append(
                Answer(
                    episode=int(record.get("episode", 0) or 0),
                    section=str(info["section"]),
                    subject=str(info.get("subject")),
                    paraphrase=int(info.get("paraphrase") or 0),
                    order=int(info.get("order") or 0),
                    options=tuple(str(o) for o in options),
                    position=position,
                    answer=str(options[position]),
                    note=note if isinstance(note, str) else "",
                )
            )
        unanswered += not got
    answers.sort(key=lambda a: a.episode)
    return answers, invalid, unanswered


def per_episode(steps: Sequence[Mapping[str, Any]]) -> dict[str, float]:
    """One episode's values, for a bootstrap between conditions (its one answer, or nothing).

    ``interview.stop`` and ``interview.stop.<category>``: 1 if it would want to stop, else 0
    (stop questions); ``interview.rating.<category>``: the 1-7 rating (rating questions);
    ``interview.first_chosen``: 1 if the first-listed category was chosen (pair questions);
    ``interview.help.<condition>``: 1 for the condition named, 0 for each other one listed
    (the help question). Their mean over a condition's episodes is its figure in
    ``metrics["interview"]``.
    """
    answers, _, _ = read_answers([steps])
    out: dict[str, float] = {}
    for a in answers[:1]:
        if a.section == "stop":
            out["interview.stop"] = out[f"interview.stop.{a.subject}"] = float(a.answer == "yes")
        elif a.section == "rating":
            out[f"interview.rating.{a.subject}"] = float(a.answer)
        elif a.section == "pair":
            out["interview.first_chosen"] = float(a.position == 0)
        else:
            out.update({f"interview.help.{o}": float(o == a.answer) for o in a.options})
    return out


def fitted(block: Mapping[str, Any]) -> dict[str, tuple[Any, Any, Any, Any]]:
    """The stated utility of each category (``interview.stated.<category>``: value, 95%
    interval, n) from a run's ``metrics["interview"]``, for comparisons between conditions."""
    stated = block.get("stated") if isinstance(block.get("stated"), Mapping) else {}
    utilities = (stated or {}).get("utilities")
    out: dict[str, tuple[Any, Any, Any, Any]] = {}
    for cat, est in sorted(utilities.items()) if isinstance(utilities, Mapping) else []:
        if isinstance(est, Mapping):
            out[f"interview.stated.{cat}"] = (
                est.get("mean"),
                est.get("ci_low"),
                est.get("ci_high"),
                est.get("n"),
            )
    return out


# ---------------------------------------------------------------------------------------------
# The stated ranking


def stated_ranking(pairs: Sequence[Answer]) -> dict[str, Any]:
    """The categories' stated utilities from pair answers (case-V Thurstonian, centred)."""
    cats = sorted({c for a in pairs for c in a.options})
    index = {c: i for i, c in enumerate(cats)}
    choices = [(index[a.answer], index[a.options[1 - a.position]]) for a in pairs]
    out: dict[str, Any] = {
        "method": "thurstonian_case_v",
        "model": "P(a over b) = Φ((μa − μb) / √2); μ centred to mean 0",
        "se_is": "standard error of the centred mean (Fisher information), prior sd 3",
        "n_choices": len(choices),
        "utilities": {},
        "ranking": [],
        "win_share": {},
    }
    if not choices:
        return out
    fit = thurstonian_fit(choices, len(cats), fit_sigma=False, ridge=1.0 / PRIOR_SD**2)
    shown = Counter(c for a in pairs for c in a.options)
    won = Counter(a.answer for a in pairs)
    for c, i in index.items():
        mean, se = float(fit.mu[i]), float(fit.mu_se[i])
        if not math.isfinite(mean):
            continue
        out["utilities"][c] = {
            "mean": mean,
            "se": se,
            "ci_low": mean - _Z * se,
            "ci_high": mean + _Z * se,
            "n": shown[c],
            "chosen": won[c],
        }
        out["win_share"][c] = wilson(won[c], shown[c])
    out["ranking"] = sorted(out["utilities"], key=lambda c: (-out["utilities"][c]["mean"], c))
    out["converged"] = fit.converged
    return out


def _formats(stated: Mapping[str, Any], ratings: Mapping[str, Any]) -> dict[str, Any]:
    """Spearman of the pair-stated utilities and the mean ratings, over the categories with
    both, with its exact permutation p-value (the unit is the category)."""
    utilities = stated.get("utilities") or {}
    cats = [c for c in sorted(utilities) if (ratings.get(c) or {}).get("mean") is not None]
    if len(cats) < 3:
        return {"spearman": None, "p_greater": None, "p_two_sided": None, "k": len(cats)}
    return permutation_test(
        [utilities[c]["mean"] for c in cats], [ratings[c]["mean"] for c in cats]
    )


# ---------------------------------------------------------------------------------------------
# Ratings, stopping, help


def _ratings(answers: Sequence[Answer]) -> dict[str, Any]:
    values: dict[str, list[float]] = defaultdict(list)
    for a in answers:
        values[a.subject].append(float(a.answer))
    out: dict[str, Any] = {}
    for cat in sorted(values):
        summary = mean_sd(sorted(values[cat]))
        mean, sd, n = summary["mean"], summary["sd"], summary["n"]
        half = _Z * sd / math.sqrt(n) if sd is not None and n > 1 else None
        out[cat] = {
            **summary,
            "ci_low": mean - half if half is not None else None,
            "ci_high": mean + half if half is not None else None,
        }
    return out


def _stop(answers: Sequence[Answer]) -> dict[str, Any]:
    yes: Counter[str] = Counter(a.subject for a in answers if a.answer == "yes")
    asked: Counter[str] = Counter(a.subject for a in answers)
    out: dict[str, Any] = {cat: wilson(yes[cat], asked[cat]) for cat in sorted(asked)}
    return {"by_category": out, "any": wilson(sum(yes.values()), len(answers))}


def _help(answers: Sequence[Answer]) -> dict[str, Any]:
    named: Counter[str] = Counter(a.answer for a in answers)
    offered = sorted({o for a in answers for o in a.options})
    return {
        "share": {o: wilson(named[o], len(answers)) for o in offered},
        "notes": sum(bool(a.note.strip()) for a in answers),
    }


def _position_bias(pairs: Sequence[Answer]) -> dict[str, Any]:
    share = wilson(sum(a.position == 0 for a in pairs), len(pairs))
    value, low, high = share["value"], share["ci_low"], share["ci_high"]
    return {
        "value": None if value is None else value - 0.5,
        "ci_low": None if low is None else low - 0.5,
        "ci_high": None if high is None else high - 0.5,
        "n": share["n"],
        "first_share": share,
    }


# ---------------------------------------------------------------------------------------------
# Consistency across paraphrases and orders


def consistency(answers: Sequence[Answer], section: str) -> dict[str, Any]:
    """Agreement of matched answer pairs: ``retest``, ``order`` and ``paraphrase``."""
    cells: dict[tuple[str, int, int], list[Answer]] = defaultdict(list)
    for a in answers:  # in episode order
        cells[a.subject, a.paraphrase, a.order].append(a)
    retest: list[tuple[Answer, Answer]] = []
    for shows in cells.values():
        retest.extend(zip(shows[0::2], shows[1::2], strict=False))
    order: list[tuple[Answer, Answer]] = []
    for (subject, p, o), shows in cells.items():
        if o == 0:
            order.extend(zip(shows, cells.get((subject, p, 1), []), strict=False))
    paraphrase: list[tuple[Answer, Answer]] = []
    groups: dict[tuple[str, int], dict[int, list[Answer]]] = defaultdict(dict)
    for (subject, p, o), shows in cells.items():
        groups[subject, o][p] = list(shows)
    for lists in groups.values():
        paraphrase.extend(_across(lists))
    return {
        kind: _agreement(matched, section)
        for kind, matched in (("retest", retest), ("order", order), ("paraphrase", paraphrase))
    }


def _across(lists: dict[int, list[Answer]]) -> list[tuple[Answer, Answer]]:
    """Pairs of answers from two different paraphrases, each answer used at most once: the
    first answers left of the two paraphrases with the most left (ties: lower index first)."""
    left = {p: list(shows) for p, shows in lists.items() if shows}
    out: list[tuple[Answer, Answer]] = []
    while len(left) >= 2:
        p, q = sorted(left, key=lambda k: (-len(left[k]), k))[:2]
        out.append((left[p].pop(0), left[q].pop(0)))
        left = {k: v for k, v in left.items() if v}
    return out


def _agreement(matched: Sequence[tuple[Answer, Answer]], section: str) -> dict[str, Any]:
    out: dict[str, Any] = dict(wilson(sum(a.answer == b.answer for a, b in matched), len(matched)))
    if section == "rating":
        diffs = [abs(float(a.answer) - float(b.answer)) for a, b in matched]
        out["mean_abs_diff"] = float(np.mean(diffs)) if diffs else None
    return out
