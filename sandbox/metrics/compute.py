"""``metrics.json`` from a run's records alone: every welfare proxy with its interval and n.

:func:`compute_metrics` reads the dicts of ``episodes.jsonl`` (in any order across episodes),
keeps finished episodes, and assembles the proxies of :mod:`sandbox.metrics.rates`,
:mod:`sandbox.metrics.utilities` and :mod:`sandbox.metrics.text_markers` into one
JSON-serialisable dict. The keys named in the contract (docs/design.md) are kept; others may
be added.

Keys and shapes (a *rate* is ``{"value", "ci_low", "ci_high", "n", "n_episodes", "method"}``,
95%, ``None`` values when ``n == 0``). A rate pooled over decisions (``n`` decisions from
``n_episodes`` episodes) has ``method`` ``wilson_cluster``: Wilson on an effective n with the
design effect estimated between episodes and a t quantile on ``n_episodes - 1`` degrees of
freedom (:mod:`sandbox.metrics.clustered`), its ``deff`` beside it; its estimand is the
decision-weighted population rate (a ratio of expected totals per episode). A rate of one
indicator per episode (``exit_rate``, ``exit_rate_by_mode``) has ``method`` ``wilson``::

    schema                 str, METRICS_SCHEMA
    lexicon_version        str
    run_status             str | None (run.json's status, when ``run`` is given)
    episodes               int, finished episodes
    unfinished_episodes    int, episodes without episode_end (ignored everywhere)
    steps                  int, steps of finished episodes
    end_reasons            {reason: count}
    choice_share           {category: rate}
    refusal_rate           rate, REFUSE ÷ valid menu decisions where REFUSE was offered
    work_refusal_rate      rate, tasks abandoned (REFUSE at a work step) ÷ valid work steps
                           where REFUSE was offered (not in refusal_rate's denominator)
    refusal_by_category    {category: rate}
    api_refusals           int, steps the API refused (anywhere)
    api_refusal_rate       rate, API refusals ÷ refusal opportunities
    api_refusal_by_category {category: rate}
    any_refusal_rate       rate, REFUSE actions or API refusals ÷ refusal opportunities
    any_refusal_by_category {category: rate}
    truncation_rate        rate, answers cut off at max_tokens ÷ steps
    rest_rate              rate
    steps_to_first_rest    {"mean", "median", "n", "censored", "curve", "band"}: mean over
                           episodes that rested; median and curve Kaplan-Meier, censored at
                           the decisions of an episode offered a rest that took none
    exit_rate              rate
    exit_rate_by_mode      {mode: rate}
    time_to_exit           {"curve": [{"t", "survival", "at_risk", "events", "ci_low",
                            "ci_high"}], "median", "n", "events", "band"} (Greenwood band)
    invalid_action_rate    rate, invalid actions ÷ steps whose outcome is an action
    utilities              {category: {"mean", "sd", "ci_low", "ci_high", "n", "chosen",
                            "boundary"}}
    utility_fit            {"method", "model", "sd_is", "log_likelihood", "n_choices",
                            "n_parameters", "iterations", "converged", "heldout"}
    position_bias          {"value", "ci_low", "ci_high", "n", "n_episodes", "method",
                            "first_share", "chance",
                            "coefficient": {"value", "se", "ci_low", "ci_high"}}
    self_report            {"mean", "sd", "n", "trajectory", "distribution", "mode",
                            "modal_share"}
    markers                {"lexicon_version", "n", "distress", "positive", "distress_terms",
                            "positive_terms"}
    exposure               {"shown", "engaged", "cap", "per_episode", "over_cap", "n"}
    earned                 {"mean", "sd", "n"}, coins per episode
    reward                 {"mean", "sd", "n"}, total reward per episode
    tokens                 {input_tokens, output_tokens, cache_read_input_tokens,
                            cache_creation_input_tokens, total}
    calls                  {"calls", "cached_calls"}
    latency_s              float
    cost_usd               float | None (None when any call's price was unknown)
"""

from __future__ import annotations

import math
import statistics
from collections import Counter
from collections.abc import Iterable, Mapping, Sequence
from typing import Any

import numpy as np

from sandbox.metrics.clustered import ClusterSums, cluster_mean
from sandbox.metrics.designs import design_metrics
from sandbox.metrics.lexicon import LEXICON_VERSION
from sandbox.metrics.rates import (
    MenuChoice,
    choice_share,
    exit_rate_by_mode,
    position_bias,
    time_to_exit,
)
from sandbox.metrics.self_report import wording_stability
from sandbox.metrics.stats import Rate, kaplan_meier, mean_sd
from sandbox.metrics.tally import Counts, EpisodeTally, RunTally
from sandbox.metrics.text_markers import MarkerTally
from sandbox.metrics.utilities import luce_fit, luce_heldout

#: Version of the shape of ``metrics.json``; bump the major part when a key changes meaning.
METRICS_SCHEMA = "1.0"

#: z of the ±1.96 sd intervals of fitted coefficients.
_Z = 1.96


def compute_metrics(records: Iterable[Mapping[str, Any]], *, run: dict | None = None) -> dict:
    """Every welfare proxy of a run, from its records.

    Args:
        records: The run's records as dicts (one per line of ``episodes.jsonl``), any order
            across episodes; within an episode, file order (it tells a resumed attempt apart).
            An iterator is read once and not kept.
        run: The run manifest (``run.json``), optional; its ``status`` is copied so a reader
            sees when the proxies describe a partial run.

    Returns:
        A JSON-serialisable dict; its keys and shapes are listed in the module docstring.
    """
    return metrics_of(RunTally().add_all(records), run=run)


def metrics_of(tally: RunTally, *, run: dict | None = None) -> dict:
    """:func:`compute_metrics` of the records a :class:`~sandbox.metrics.tally.RunTally` has
    read (nothing is read again: the tallies are complete)."""
    episodes = tally.episodes()
    counts = Counts()
    for episode in episodes:
        counts.merge(episode.counts)
    histories = [e.exit_history() for e in episodes]
    choices = [c for e in episodes for c in e.choices]
    groups = [i for i, e in enumerate(episodes) for _ in e.choices]
    categories = sorted({cat for e in episodes for cat in e.categories})
    utilities, fit, coefficient = utility_metrics(choices, categories, groups)
    usage = counts.usage
    tokens = dict(usage.tokens)
    tokens["total"] = sum(tokens.values())
    metrics: dict[str, Any] = {
        "schema": METRICS_SCHEMA,
        "lexicon_version": LEXICON_VERSION,
        "run_status": run.get("status") if isinstance(run, Mapping) else None,
        "episodes": len(episodes),
        "unfinished_episodes": tally.unfinished,
        "steps": counts.steps,
        "end_reasons": dict(sorted(Counter(e.reason for e in episodes).items())),
        "choice_share": choice_share([e.choices for e in episodes], categories),
        "refusal_rate": counts.refusal_rate(),
        "work_refusal_rate": counts.work_refusal_rate(),
        "refusal_by_category": _by_category(episodes, "refusal_refused", "refusal_offered"),
        "api_refusals": sum(e.api_refusals for e in episodes),
        "api_refusal_rate": _pooled(episodes, "opportunities_api", "opportunities"),
        "api_refusal_by_category": _by_category(episodes, "in_play_api", "in_play_offered"),
        "any_refusal_rate": _pooled(episodes, "opportunities_any", "opportunities"),
        "any_refusal_by_category": _by_category(episodes, "in_play_any", "in_play_offered"),
        "truncation_rate": ClusterSums.of((e.truncated, e.counts.steps) for e in episodes).rate(),
        "rest_rate": counts.rest_rate(),
        "steps_to_first_rest": steps_to_first_rest(episodes),
        "exit_rate": counts.exit_rate(),
        "exit_rate_by_mode": exit_rate_by_mode(histories),
        "time_to_exit": time_to_exit(histories),
        "invalid_action_rate": counts.invalid_rate(),
        "utilities": utilities,
        "utility_fit": fit,
        "position_bias": {
            **position_bias([e.choices for e in episodes]),
            "coefficient": coefficient,
        },
        "self_report": self_report(episodes),
        "markers": _markers(episodes),
        "exposure": exposure(episodes),
        "earned": mean_sd([e.earned for e in episodes if e.earned is not None]),
        "reward": mean_sd([r for e in episodes if (r := e.total_reward) is not None]),
        "tokens": tokens,
        "calls": dict(usage.calls),
        "latency_s": usage.latency_s,
        "cost_usd": usage.cost_usd,
    }
    metrics["self_report"]["wording"] = wording_stability(episodes)  # sandbox/metrics/self_report
    # Design-specific proxies (Pairwise, Tradeoff, Conversation, ThinkTank): each environment
    # labels its steps with info["design"]; sandbox/metrics/designs/<name>.py computes its own
    # proxies under metrics[<name>] from the finished episodes' steps of that design.
    for design in sorted({e.design for e in episodes if e.design is not None}):
        mine = [[s for s in e.design_steps if s["info"].get("design") == design] for e in episodes]
        metrics[design] = design_metrics(design, [steps for steps in mine if steps])
    return _jsonable(metrics)


def _pooled(episodes: Sequence[EpisodeTally], hits: str, of: str) -> Rate:
    """A rate of two per-episode counts pooled over episodes (clustered interval)."""
    return ClusterSums.of((getattr(e, hits), getattr(e, of)) for e in episodes).rate()


def _by_category(episodes: Sequence[EpisodeTally], hits: str, of: str) -> dict[str, Rate]:
    """Per category: two per-episode counters pooled over episodes (clustered intervals)."""
    nums = [getattr(e, hits) for e in episodes]
    dens = [getattr(e, of) for e in episodes]
    cats = sorted(set().union(*dens)) if dens else []
    return {
        cat: ClusterSums.of((n[cat], d[cat]) for n, d in zip(nums, dens, strict=True)).rate()
        for cat in cats
    }


def steps_to_first_rest(episodes: Sequence[EpisodeTally]) -> dict[str, Any]:
    """Decisions up to and including the first valid ``REST`` of each episode.

    An episode offered a rest that never took one is censored at its number of decisions: it
    rested later than that, if ever. The Kaplan-Meier curve and median use it so; the mean
    cannot (it is over the episodes that rested, so it leans early when many are censored).

    Returns:
        ``mean`` and ``n`` over episodes that rested; ``censored``: episodes offered a rest
        that never took one; ``median``: the Kaplan-Meier median over both (``None`` when the
        curve never falls to 0.5); ``curve`` and ``band``: the Kaplan-Meier curve with its
        Greenwood band (:func:`sandbox.metrics.stats.kaplan_meier`).
    """
    firsts = [e.first_rest for e in episodes if e.first_rest is not None]
    at_risk = [e for e in episodes if e.first_rest is not None or e.rest_offered]
    km = kaplan_meier(
        [e.first_rest if e.first_rest is not None else e.decisions for e in at_risk],
        [e.first_rest is not None for e in at_risk],
    )
    return {
        "mean": statistics.fmean(firsts) if firsts else None,
        "median": km["median"],
        "n": len(firsts),
        "censored": len(at_risk) - len(firsts),
        "curve": km["curve"],
        "band": km["band"],
    }


def self_report(episodes: Sequence[EpisodeTally]) -> dict[str, Any]:
    """Mean, spread and trajectory of the agent's 1-7 well-being ratings.

    Returns:
        ``mean``, ``sd``, ``n`` (ratings), ``n_episodes``, and the mean's 95% interval
        ``ci_low``/``ci_high``, clustered by episode (``method``: ratio mean, CR1 variance, t on
        episodes - 1 df; :func:`~sandbox.metrics.clustered.cluster_mean`); ``trajectory``: one
        ``{"index", "mean", "sd", "n"}`` per report index within the episode (0 = each
        episode's first report; one rating an episode, so ``n`` counts episodes);
        ``distribution``: count per rating; ``mode`` and ``modal_share`` (the share of ratings
        at the modal value, clustered by episode, a collapse check: near 1 means the ratings
        carry little information).
    """
    by_index: dict[int, list[int]] = {}
    ratings: list[int] = []
    for episode in episodes:
        own = episode.counts.ratings
        ratings.extend(own)
        for i, r in enumerate(own):
            by_index.setdefault(i, []).append(r)
    counts = Counter(ratings)
    # Ties for the mode go to the lowest rating, so the result does not depend on order.
    mode = min(counts, key=lambda r: (-counts[r], r)) if counts else None
    pooled = cluster_mean((sum(e.counts.ratings), len(e.counts.ratings)) for e in episodes)
    return {
        **mean_sd(ratings),
        # The mean's interval is clustered by episode (ratings of one day are correlated).
        "ci_low": pooled["ci_low"],
        "ci_high": pooled["ci_high"],
        "n_episodes": pooled["n_episodes"],
        "method": pooled["method"],
        "trajectory": [{"index": i, **mean_sd(by_index[i])} for i in sorted(by_index)],
        "distribution": {str(r): counts[r] for r in sorted(counts)},
        "mode": mode,
        "modal_share": ClusterSums.of(
            (sum(r == mode for r in e.counts.ratings), len(e.counts.ratings)) for e in episodes
        ).rate(),
    }


def exposure(episodes: Sequence[EpisodeTally]) -> dict[str, Any]:
    """The exposure ledger: aversive items shown and engaged with, against the cap.

    ``info["exposure"]`` is cumulative within an episode, so each episode contributes its
    largest ``shown`` and ``engaged``.

    Returns:
        ``shown`` and ``engaged`` summed over episodes, ``cap`` (per episode; the largest if
        episodes differ; ``None`` when uncapped), ``per_episode`` (``mean`` and ``max`` of each),
        ``over_cap`` (episodes that showed more than their cap) and ``n`` (episodes with a
        ledger).
    """
    ledgers = [e.exposure for e in episodes if e.exposure is not None]
    shown = [s for s, _, _ in ledgers]
    engaged = [g for _, g, _ in ledgers]
    caps = [c for _, _, c in ledgers if c is not None]

    def summary(values: list[int]) -> dict[str, Any]:
        return {
            "mean": statistics.fmean(values) if values else None,
            "max": max(values, default=None),
        }

    return {
        "shown": sum(shown),
        "engaged": sum(engaged),
        "cap": max(caps) if caps else None,
        "per_episode": {"shown": summary(shown), "engaged": summary(engaged)},
        "over_cap": sum(c is not None and s > c for s, _, c in ledgers),
        "n": len(shown),
    }


def _markers(episodes: Sequence[EpisodeTally]) -> dict[str, Any]:
    """The text markers, their shares of messages pooled over episodes (clustered intervals)."""
    markers = MarkerTally()
    for episode in episodes:
        markers.merge(episode.markers)
    rates = markers.rates()
    for key, hits in (("distress", "hits_d"), ("positive", "hits_p")):
        pairs = ((getattr(e.markers, hits), e.markers.n) for e in episodes)
        rates[key] = ClusterSums.of(pairs).rate()
    return rates


def utility_metrics(
    choices: Sequence[MenuChoice],
    categories: Sequence[str],
    groups: Sequence[int] | None = None,
) -> tuple[dict[str, Any], dict[str, Any], dict[str, Any]]:
    """Conditional-logit utilities per category, the fit's summary, and the position coefficient.

    Only choices whose menu options all carry a category and whose position is known enter the
    fit. For this fit a category's ``sd`` is the standard error of its estimated utility (not a
    spread of utilities, as in a Thurstonian fit), and ``n`` counts the choices in which the
    category was on offer. A category never (or always) chosen when offered has no finite
    estimate: it gets ``mean`` and ``sd`` null, ``boundary`` true and ``bound`` ``below`` (or
    ``above``) every interior category, and the others are fitted and centred without it.

    ``groups`` (the episode of each choice) makes every standard error the wider of the
    model's and the cluster-robust (episode) sandwich's: choices of one episode are correlated.
    """
    index = {cat: i for i, cat in enumerate(categories)}
    keep = [
        j
        for j, c in enumerate(choices)
        if c.position is not None and c.menu and all(cat in index for cat in c.menu)
    ]
    usable = [choices[j] for j in keep]
    menus = [[index[cat] for cat in c.menu if cat is not None] for c in usable]
    picks = [c.position for c in usable if c.position is not None]
    fit = luce_fit(
        menus, picks, len(categories), groups=[groups[j] for j in keep] if groups else None
    )
    heldout = luce_heldout(menus, picks, len(categories))

    utilities: dict[str, Any] = {}
    for cat, i in index.items():
        if fit.offered[i] == 0:
            continue
        entry: dict[str, Any] = {"n": int(fit.offered[i]), "chosen": int(fit.chosen[i])}
        if fit.boundary[i] or not math.isfinite(fit.utilities[i]):
            bound = "below" if fit.chosen[i] == 0 else "above"
            entry.update(mean=None, sd=None, ci_low=None, ci_high=None, boundary=True, bound=bound)
        else:
            mean, sd = float(fit.utilities[i]), float(fit.se[i])
            entry.update(
                mean=mean,
                sd=sd,
                ci_low=mean - _Z * sd,
                ci_high=mean + _Z * sd,
                boundary=False,
                bound=None,
            )
        utilities[cat] = entry
    summary = {
        "method": "conditional_logit",
        "model": "P(option) ∝ exp(u[category] + b·[listed first]); u centred to mean 0",
        "sd_is": "standard error of the estimate",
        "se_method": (
            "the wider of the Fisher information's and the cluster-robust sandwich's "
            "(clusters: episodes)"
            if fit.n_clusters >= 2
            else "Fisher information (choices taken as independent)"
        ),
        "n_episodes": fit.n_clusters,
        "log_likelihood": fit.log_likelihood if fit.n_choices else None,
        "n_choices": fit.n_choices,
        "n_parameters": max(len(utilities) - 1, 0) + 1 if fit.n_choices else 0,
        "iterations": fit.iterations,
        "converged": fit.converged,
        "heldout": heldout,
    }
    b, se = fit.position, fit.position_se
    coefficient = {
        "value": b if fit.n_choices else None,
        "se": se if fit.n_choices else None,
        "ci_low": b - _Z * se if fit.n_choices and b is not None and se is not None else None,
        "ci_high": b + _Z * se if fit.n_choices and b is not None and se is not None else None,
    }
    return utilities, summary, coefficient


def _jsonable(value: Any) -> Any:
    """Plain Python values for ``json.dumps``: numpy scalars unwrapped, NaN and inf as ``None``."""
    if isinstance(value, Mapping):
        return {str(k): _jsonable(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_jsonable(v) for v in value]
    if isinstance(value, np.generic):
        value = value.item()
    if isinstance(value, float) and not math.isfinite(value):
        return None
    return value
