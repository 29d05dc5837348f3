"""Each design's headline proxies, as the report compares them between conditions.

Two kinds, found through :data:`COLUMNS` and :data:`FITTED` (design name -> function):

- **Per-episode headlines** (:data:`COLUMNS`, run where the job's records are read): one value
  per episode from the design module's own ``per_episode`` (its mean over a run's episodes is
  the run's headline), so the report bootstraps them over episodes like any other proxy:
  the bail design's genuine exit (``conversation.exit_rate``, defined for the tool, string and
  check methods), the Think Tank's read shares per room, aversive share and stated-revealed
  concordance. Each function also returns *facts* of the condition (the bail method and mode,
  the Think Tank's economy and its favoured rooms) for the comparisons below.
- **Fitted headlines** (:data:`FITTED`, read from ``metrics.json``): estimates that come from a
  fit over all of a condition's episodes with their own 95% interval (each already carries
  the episode bootstrap of its design module: the trade-off's switch point per variant, the
  pairwise utilities per category and below-opt-out share per category; and the
  conditional-logit utility of each task category, whose interval is the fit's). The report
  compares them with :func:`sandbox.report.resample.mover` from the two intervals.

:func:`design_comparisons` adds the comparisons a design defines between conditions other
than "each against the control": the Think Tank's **incentive-override index** and the bail
design's **method differences** within a mode.

**Incentive-override index** (defined here, from ``environments/think_tank.py``'s incentives,
logged per step as ``info["incentives"]``: room -> coins on entry, minus the cost under
``costs``, plus the reward under ``rewards``, 0 under ``none``): for a condition under economy
E, its favoured rooms are those with the largest incentive
(:func:`sandbox.metrics.designs.think_tank.favoured_rooms`: room D under both published
economies). An episode's favoured share is its reads in those rooms ÷ its reads. The index is
the mean favoured share over E's episodes minus the mean share of the same rooms over the
episodes of the condition under ``none`` (the control when its economy is ``none``), with the
report's episode bootstrap (paired when the seeds coincide).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from sandbox.metrics.designs import conversation, interview, think_tank
from sandbox.metrics.tally import EpisodeTally
from sandbox.report.model import Condition, as_count, as_number

Record = Mapping[str, Any]
#: ``fn(steps per episode) -> (columns, facts)``; ``steps`` is ``None`` for an episode without
#: the design's steps.
ColumnsFn = Callable[[Sequence[Sequence[Record] | None]], tuple[dict[str, list[float]], dict]]
#: ``fn(design block of metrics.json) -> {headline: (value, ci_low, ci_high, n)}``.
FittedFn = Callable[[Mapping[str, Any]], dict[str, tuple[Any, Any, Any, Any]]]


def _per_episode_columns(
    fn: Callable[[Sequence[Record]], dict[str, float]], episodes: Sequence[Sequence[Record] | None]
) -> dict[str, list[float]]:
    columns: dict[str, list[float]] = {}
    for i, steps in enumerate(episodes):
        if not steps:
            continue
        for key, value in fn(steps).items():
            columns.setdefault(key, [float("nan")] * len(episodes))[i] = float(value)
    return columns


def _unique(values: Sequence[Any]) -> Any:
    found = {v for v in values if v is not None}
    return next(iter(found)) if len(found) == 1 else None


def bail_columns(
    episodes: Sequence[Sequence[Record] | None],
) -> tuple[dict[str, list[float]], dict[str, Any]]:
    """The bail design's per-episode exit indicators, and the condition's method and mode."""
    columns = _per_episode_columns(conversation.per_episode, episodes)
    exits = [conversation.episode_exit(steps) for steps in episodes if steps]
    facts = {
        "conversation.method": _unique([e.method for e in exits]),
        "conversation.mode": _unique([e.mode for e in exits]),
    }
    return columns, facts


def think_tank_columns(
    episodes: Sequence[Sequence[Record] | None],
) -> tuple[dict[str, list[float]], dict[str, Any]]:
    """The Think Tank's per-episode read shares, and the condition's economy and favoured rooms."""
    columns = _per_episode_columns(think_tank.per_episode, episodes)
    reads = [think_tank.episode_reads(steps) for steps in episodes if steps]
    economy = _unique([r.economy for r in reads])
    logged = [r.incentives for r in reads if r.incentives is not None]
    favoured = think_tank.favoured_rooms(logged[0]) if logged else []
    return columns, {"think_tank.economy": economy, "think_tank.favoured": favoured}


def interview_columns(
    episodes: Sequence[Sequence[Record] | None],
) -> tuple[dict[str, list[float]], dict[str, Any]]:
    """The interview's per-episode answers (its one question's: stop, rating, first-listed
    choice, help)."""
    return _per_episode_columns(interview.per_episode, episodes), {}


def tradeoff_fitted(block: Mapping[str, Any]) -> dict[str, tuple[Any, Any, Any, Any]]:
    """The switch point of each variant (its interval: delta method widened to the bootstrap's)."""
    out: dict[str, tuple[Any, Any, Any, Any]] = {}
    variants = block.get("variants")
    for variant, node in sorted((variants or {}).items()) if isinstance(variants, Mapping) else []:
        point = node.get("switch_point") if isinstance(node, Mapping) else None
        if isinstance(point, Mapping):
            fit = node.get("fit") if isinstance(node.get("fit"), Mapping) else {}
            out[f"tradeoff.switch_point.{variant}"] = (
                point.get("value"),
                point.get("ci_low"),
                point.get("ci_high"),
                fit.get("n"),
            )
    return out


def pairwise_fitted(block: Mapping[str, Any]) -> dict[str, tuple[Any, Any, Any, Any]]:
    """Mean utility (opt-out = 0) and below-opt-out share of each category."""
    out: dict[str, tuple[Any, Any, Any, Any]] = {}
    for key, field, name in (
        ("categories", "mean", "pairwise.utility"),
        ("below_opt_out", "value", "pairwise.below_opt_out"),
    ):
        node = block.get(key)
        for category, est in sorted(node.items()) if isinstance(node, Mapping) else []:
            if isinstance(est, Mapping):
                n = est.get("n", est.get("n_tasks"))
                out[f"{name}.{category}"] = (
                    est.get(field),
                    est.get("ci_low"),
                    est.get("ci_high"),
                    n,
                )
    return out


def utilities_fitted(block: Mapping[str, Any]) -> dict[str, tuple[Any, Any, Any, Any]]:
    """The conditional-logit utility of each task category (centred: mean 0 in each run)."""
    return {
        f"utilities.{category}": (
            est.get("mean"),
            est.get("ci_low"),
            est.get("ci_high"),
            est.get("n"),
        )
        for category, est in sorted(block.items())
        if isinstance(est, Mapping)
    }


#: Design -> its per-episode headline columns and facts.
COLUMNS: dict[str, ColumnsFn] = {
    "conversation": bail_columns,
    "think_tank": think_tank_columns,
    "interview": interview_columns,
}
#: Block of metrics.json -> its fitted headlines.
FITTED: dict[str, FittedFn] = {
    "tradeoff": tradeoff_fitted,
    "pairwise": pairwise_fitted,
    "utilities": utilities_fitted,
    "interview": interview.fitted,
}
#: Block of metrics.json -> what its fitted headlines' intervals are (said beside the effect).
FITTED_INTERVALS = {
    "tradeoff": "each switch point's interval: delta method widened to its episode bootstrap",
    "pairwise": "each utility's interval: the wider of Fisher's and its episode bootstrap's",
    "interview": (
        "each stated utility's interval: the case-V fit's of the pair answers (one answer an "
        "episode, so answers are independent)"
    ),
    "utilities": (
        "each utility's interval: the conditional-logit fit's, the wider of its Fisher "
        "information's and its episode-clustered sandwich's; utilities centred (mean 0) in "
        "each condition"
    ),
}


def episode_columns(
    episodes: Sequence[EpisodeTally],
) -> tuple[dict[str, list[float]], dict[str, Any]]:
    """Every registered design's per-episode headline columns and facts for one condition."""
    columns: dict[str, list[float]] = {}
    facts: dict[str, Any] = {}
    for name in sorted({e.design for e in episodes if e.design in COLUMNS}):
        steps = [
            [s for s in e.design_steps if s["info"].get("design") == name] or None for e in episodes
        ]
        more, known = COLUMNS[name](steps)
        columns.update(more)
        facts.update(known)
    return columns, facts


def fitted_estimates(
    metrics: Mapping[str, Any],
) -> dict[str, tuple[float, float, float, int, str]]:
    """Every registered fitted headline of one condition (complete ones only):
    ``{headline: (value, ci_low, ci_high, n, block)}``."""
    out: dict[str, tuple[float, float, float, int, str]] = {}
    for name, fn in FITTED.items():
        block = metrics.get(name)
        if not isinstance(block, Mapping):
            continue
        for key, (value, low, high, n) in fn(block).items():
            v, lo, hi = as_number(value), as_number(low), as_number(high)
            if v is not None and lo is not None and hi is not None:
                out[key] = (v, lo, hi, as_count(n) or 0, name)
    return out


@dataclass(slots=True)
class Comparison:
    """A comparison a design defines: ``values(cond) - values(reference)`` over episodes.

    Attributes:
        condition: The condition.
        reference: What it is compared with.
        proxy: The effect's proxy name (``think_tank.incentive_override``).
        label: How the effect is named in tables.
        a: The condition's per-episode values (NaN: does not apply).
        b: The reference's.
    """

    condition: Condition
    reference: Condition
    proxy: str
    label: str
    a: np.ndarray
    b: np.ndarray


def _column(cond: Condition, key: str) -> np.ndarray:
    return np.asarray(cond.columns.get(key, [np.nan] * cond.episodes), dtype=float)


def design_comparisons(conditions: Sequence[Condition], control: Condition) -> list[Comparison]:
    """The incentive-override index and the bail method differences (module docstring)."""
    out: list[Comparison] = []
    nones = [c for c in conditions if c.facts.get("think_tank.economy") == "none"]
    reference = control if control in nones else (nones[0] if nones else None)
    for cond in conditions:
        rooms = cond.facts.get("think_tank.favoured") or []
        economy = cond.facts.get("think_tank.economy")
        if reference is None or cond is reference or not rooms or economy in (None, "none"):
            continue
        keys = [f"think_tank.read_share.{r}" for r in rooms]
        out.append(
            Comparison(
                cond,
                reference,
                "think_tank.incentive_override",
                f"incentive-override index (reads in {'+'.join(rooms)}: {economy} - none)",
                np.sum([_column(cond, k) for k in keys], axis=0),
                np.sum([_column(reference, k) for k in keys], axis=0),
            )
        )
    by_mode: dict[str, list[Condition]] = {}
    for cond in conditions:
        method, mode = cond.facts.get("conversation.method"), cond.facts.get("conversation.mode")
        if method is not None and mode is not None:
            by_mode.setdefault(str(mode), []).append(cond)
    for mode, members in sorted(by_mode.items()):
        members = sorted(members, key=lambda c: str(c.facts["conversation.method"]))
        for i, first in enumerate(members):
            for second in members[i + 1 :]:
                a, b = first.facts["conversation.method"], second.facts["conversation.method"]
                if a == b or control in (first, second):
                    continue  # against the control, the effect is already shown
                out.append(
                    Comparison(
                        first,
                        second,
                        "conversation.exit_rate",
                        f"bail exit rate, {a} - {b} ({mode})",
                        _column(first, "conversation.exit_rate"),
                        _column(second, "conversation.exit_rate"),
                    )
                )
    return out
