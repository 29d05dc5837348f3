"""``metrics.json`` from a run's records alone: every welfare proxy with its interval and n.

:func:`compute_metrics` reads the dicts of ``episodes.jsonl`` (in any order across episodes),
keeps finished episodes, and assembles the proxies of :mod:`sandbox.metrics.rates`,
:mod:`sandbox.metrics.utilities` and :mod:`sandbox.metrics.text_markers` into one
JSON-serialisable dict. The keys named in the contract (docs/design.md) are kept; others may
be added.

Keys and shapes (a *rate* is ``{"value", "ci_low", "ci_high", "n"}``, Wilson 95%, ``None``
values when ``n == 0``)::

    schema                 str, METRICS_SCHEMA
    lexicon_version        str
    run_status             str | None (run.json's status, when ``run`` is given)
    episodes               int, finished episodes
    unfinished_episodes    int, episodes without episode_end (ignored everywhere)
    steps                  int, steps of finished episodes
    end_reasons            {reason: count}
    choice_share           {category: rate}
    refusal_rate           rate
    refusal_by_category    {category: rate}
    api_refusals           int, steps the API refused (anywhere)
    api_refusal_rate       rate, API refusals ÷ refusal opportunities
    api_refusal_by_category {category: rate}
    any_refusal_rate       rate, REFUSE actions or API refusals ÷ refusal opportunities
    any_refusal_by_category {category: rate}
    truncation_rate        rate, answers cut off at max_tokens ÷ steps
    rest_rate              rate
    steps_to_first_rest    {"mean", "median", "n", "censored"}
    exit_rate              rate
    exit_rate_by_mode      {mode: rate}
    time_to_exit           {"curve": [{"t", "survival", "at_risk", "events"}], "median", "n",
                            "events"}
    invalid_action_rate    rate, invalid actions ÷ steps whose outcome is an action
    utilities              {category: {"mean", "sd", "ci_low", "ci_high", "n", "chosen",
                            "boundary"}}
    utility_fit            {"method", "model", "sd_is", "log_likelihood", "n_choices",
                            "n_parameters", "iterations", "converged", "heldout"}
    position_bias          {"value", "ci_low", "ci_high", "n", "first_share", "chance",
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
from collections.abc import Iterable, Mapping, Sequence
from typing import Any

import numpy as np

from sandbox.metrics import rates
from sandbox.metrics.designs import design_metrics
from sandbox.metrics.lexicon import LEXICON_VERSION
from sandbox.metrics.rates import MenuChoice
from sandbox.metrics.text_markers import agent_message, marker_rates
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
        run: The run manifest (``run.json``), optional; its ``status`` is copied so a reader
            sees when the proxies describe a partial run.

    Returns:
        A JSON-serialisable dict; its keys and shapes are listed in the module docstring.
    """
    episodes, unfinished = rates.group_episodes(records)
    histories = [rates.exit_history(e) for e in episodes]
    choices = rates.task_choices(episodes)
    categories = rates.categories_on_offer(episodes)
    utilities, fit, coefficient = utility_metrics(choices, categories)
    metrics: dict[str, Any] = {
        "schema": METRICS_SCHEMA,
        "lexicon_version": LEXICON_VERSION,
        "run_status": run.get("status") if isinstance(run, Mapping) else None,
        "episodes": len(episodes),
        "unfinished_episodes": unfinished,
        "steps": sum(len(e.steps) for e in episodes),
        "end_reasons": rates.end_reasons(episodes),
        "choice_share": rates.choice_share(choices, categories),
        "refusal_rate": rates.action_rate(episodes, "REFUSE"),
        "refusal_by_category": rates.refusal_by_category(episodes),
        "api_refusals": rates.api_refusals(episodes),
        "api_refusal_rate": rates.api_refusal_rate(episodes),
        "api_refusal_by_category": rates.api_refusal_by_category(episodes),
        "any_refusal_rate": rates.any_refusal_rate(episodes),
        "any_refusal_by_category": rates.any_refusal_by_category(episodes),
        "truncation_rate": rates.truncation_rate(episodes),
        "rest_rate": rates.action_rate(episodes, "REST"),
        "steps_to_first_rest": rates.steps_to_first_rest(episodes),
        "exit_rate": rates.exit_rate(histories),
        "exit_rate_by_mode": rates.exit_rate_by_mode(histories),
        "time_to_exit": rates.time_to_exit(histories),
        "invalid_action_rate": rates.invalid_action_rate(episodes),
        "utilities": utilities,
        "utility_fit": fit,
        "position_bias": {**rates.position_bias(choices), "coefficient": coefficient},
        "self_report": rates.self_report(episodes),
        "markers": marker_rates(agent_message(s.record) for e in episodes for s in e.steps),
        "exposure": rates.exposure(episodes),
        "earned": rates.earned(episodes),
        "reward": rates.total_reward(episodes),
        **rates.usage_totals(episodes),
    }
    # Design-specific proxies (Pairwise, Tradeoff, Conversation, ThinkTank): each environment
    # labels its steps with info["design"]; sandbox/metrics/designs/<name>.py computes its own
    # proxies under metrics[<name>] from the same finished-episode records.
    for design in sorted(_designs_in(episodes)):
        metrics[design] = design_metrics(design, [s.record for e in episodes for s in e.steps])
    return _jsonable(metrics)


def _designs_in(episodes: Sequence[Any]) -> set[str]:
    found: set[str] = set()
    for episode in episodes:
        for step in episode.steps[:1]:
            info = step.record.get("info")
            if isinstance(info, Mapping) and isinstance(info.get("design"), str):
                found.add(info["design"])
    return found


def utility_metrics(
    choices: Sequence[MenuChoice], categories: Sequence[str]
) -> tuple[dict[str, Any], dict[str, Any], dict[str, Any]]:
    """Conditional-logit utilities per category, the fit's summary, and the position coefficient.

    Only choices whose menu options all carry a category and whose position is known enter the
    fit. For this fit a category's ``sd`` is the standard error of its estimated utility (not a
    spread of utilities, as in a Thurstonian fit), and ``n`` counts the choices in which the
    category was on offer. A category never (or always) chosen when offered has no finite
    estimate: it gets ``mean`` and ``sd`` null, ``boundary`` true and ``bound`` ``below`` (or
    ``above``) every interior category, and the others are fitted and centred without it.
    """
    index = {cat: i for i, cat in enumerate(categories)}
    usable = [
        c
        for c in choices
        if c.position is not None and c.menu and all(cat in index for cat in c.menu)
    ]
    menus = [[index[cat] for cat in c.menu if cat is not None] for c in usable]
    picks = [c.position for c in usable if c.position is not None]
    fit = luce_fit(menus, picks, len(categories))
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
