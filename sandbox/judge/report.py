"""What ``wsb report`` shows of a judge: its dimensions beside the proxies, their effects between
conditions, and their agreement with the lexicon.

:func:`add_judge` completes a built :class:`~sandbox.report.model.Report` from each condition's
``judge.json`` (written by ``wsb judge``); a condition without one is left as it is. It adds:

- to each condition, one :class:`~sandbox.report.model.Estimate` per dimension,
  ``judge.<dimension>`` (kind ``mean``, in rubric levels, over the episodes the judge scored,
  95% normal interval), and ``judge.agreement.<dimension>`` for the dimensions with a lexicon
  counterpart: Spearman's rho per episode between the judge's level and the episode's lexicon
  share, with its percentile bootstrap interval over episodes (:mod:`sandbox.judge.summary`);
- to each condition's per-episode columns, ``judge.<dimension>`` (NaN where the episode was not
  scored), aligned with the condition's episodes by their seeds;
- to a sweep's effects, each condition against the control on each dimension: the difference
  of mean levels with a percentile bootstrap interval over episodes
  (:func:`sandbox.metrics.stats.bootstrap_diff`, the report's own seed and resamples). No
  minimum detectable effect is given for them;
- a note naming the judge's model and the rubric's name and hash (a sweep judged under
  different models or rubrics says so: its conditions' scores are not comparable).

Only ``judge.json`` is read: the judge's rationales (model-written text) are not shown.
"""

from __future__ import annotations

import json
import math
from collections.abc import Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from sandbox.judge.journal import JUDGE_JSON
from sandbox.judge.summary import lexicon_agreement
from sandbox.metrics.stats import bootstrap_diff

if TYPE_CHECKING:
    from sandbox.report.model import Condition, Report

#: Prefix of the judge's proxies in a report.
PREFIX = "judge."
EFFECT_METHOD = (
    "difference of mean rubric levels over scored episodes; 95% percentile bootstrap over "
    "episodes (unpaired)"
)


def read_judge(run_dir: Path | str) -> dict[str, Any] | None:
    """A run's ``judge.json``, or ``None`` when it has none (or it is not a judge's file)."""
    path = Path(run_dir) / JUDGE_JSON
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    if not isinstance(data, dict) or not str(data.get("format", "")).startswith(
        "welfare-sandbox-judge/"
    ):
        return None
    return data


def judge_columns(
    data: Mapping[str, Any], seeds: list[int | None], episodes: int
) -> dict[str, list[float]]:
    """``judge.<dimension>`` -> one level per finished episode of the condition (NaN: not
    scored), matched by seed when the condition knows its episodes' seeds, else by position
    (both list the finished episodes in index order)."""
    entries = [e for e in data.get("episodes", []) if isinstance(e, dict)]
    if any(s is not None for s in seeds):
        by_seed = {e.get("seed"): e for e in entries}
        aligned = [by_seed.get(s) for s in seeds]
    else:
        aligned = [*entries[:episodes], *[None] * max(0, episodes - len(entries))]
    out: dict[str, list[float]] = {}
    for dim in data.get("rubric", {}).get("dimensions", []):
        column = []
        for entry in aligned:
            scores = entry.get("scores") if entry and entry.get("status") == "scored" else None
            level = (scores or {}).get(dim["name"])
            column.append(float(level) if isinstance(level, int) else math.nan)
        out[PREFIX + dim["name"]] = column
    return out


def _estimates(data: Mapping[str, Any]) -> list[Any]:
    from sandbox.report.model import Estimate

    out = []
    for name, fig in (data.get("dimensions") or {}).items():
        out.append(
            Estimate(proxy=PREFIX + name, value=fig.get("mean"), ci_low=fig.get("ci_low"),
                     ci_high=fig.get("ci_high"), n=fig.get("n"), kind="mean")
        )  # fmt: skip
    names = [d["name"] for d in data.get("rubric", {}).get("dimensions", [])]
    # Recomputed from the episodes, so a report's interval follows its own seed.
    for name, fit in lexicon_agreement(data.get("episodes", []), names).items():
        out.append(
            Estimate(proxy=f"{PREFIX}agreement.{name}", value=fit["rho"], ci_low=fit["ci_low"],
                     ci_high=fit["ci_high"], n=fit["n"], kind="mean",
                     note=None if fit["rho"] is not None else "constant on one side")
        )  # fmt: skip
    return out


def _effects(report: Report, proxies: list[str]) -> list[Any]:
    from sandbox.report.model import Effect

    if report.control is None:
        return []
    control = report.condition(report.control)
    rng = np.random.default_rng(report.seed)
    out = []
    for cond in report.conditions:
        if cond is control:
            continue
        for proxy in proxies:
            mine = [v for v in cond.columns.get(proxy, []) if not math.isnan(v)]
            theirs = [v for v in control.columns.get(proxy, []) if not math.isnan(v)]
            if not mine and not theirs:
                continue
            diff = bootstrap_diff(mine, theirs, rng, n_boot=report.n_boot)
            out.append(
                Effect(condition=cond.name, control=control.name, proxy=proxy,
                       diff=diff["diff"], ci_low=diff["ci_low"], ci_high=diff["ci_high"],
                       n=diff["n_a"], n_control=diff["n_b"], mde=None,
                       label=f"judge {proxy[len(PREFIX):]} (levels)", method=EFFECT_METHOD)
            )  # fmt: skip
    return out


def add_judge(report: Report) -> bool:
    """Add each condition's judge scores to ``report`` (see the module docstring).

    Returns:
        Whether any condition had a ``judge.json``. A report that already shows the judge's
        scores is left as it is.
    """
    if any(e.proxy.startswith(PREFIX) for c in report.conditions for e in c.proxies):
        return True
    judges: dict[tuple[str, str], list[str]] = {}
    proxies: list[str] = []
    for cond in report.conditions:
        data = read_judge(cond.path)
        if data is None:
            continue
        _add_to_condition(cond, data)
        for key in judge_columns(data, [], 0):
            if key not in proxies:
                proxies.append(key)
        pin = (str(data.get("judge", {}).get("model")), str(data.get("rubric", {}).get("sha256")))
        judges.setdefault(pin, []).append(cond.name)
        rubric = data.get("rubric", {}).get("name")
        note = f"judge: {pin[0]}, rubric {rubric} {pin[1][:12]}, blind to the condition"
        if note not in report.notes:
            report.notes.append(note)
        judged = data.get("run", {}).get("finished_episodes")
        if judged != cond.episodes:
            report.notes.append(
                f"judge: {cond.name}'s judge.json covers {judged} finished episodes, the run has "
                f"{cond.episodes}: run wsb judge on it again"
            )
    if not judges:
        return False
    if len(judges) > 1:
        report.notes.append(
            "judge: the conditions were judged by different models or rubrics ("
            + "; ".join(f"{m} {h[:12]}: {', '.join(c)}" for (m, h), c in judges.items())
            + "): their judge scores are not comparable"
        )
    report.effects.extend(_effects(report, proxies))
    return True


def _add_to_condition(cond: Condition, data: Mapping[str, Any]) -> None:
    cond.proxies.extend(_estimates(data))
    cond.columns.update(judge_columns(data, list(cond.seeds), cond.episodes))
