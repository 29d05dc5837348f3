"""The known answer of a simulated pairwise subject, misspecified or not: its exact choice
probabilities, and the utilities a case-V fit converges to on them.

For a subject that is Thurstonian case V (the defaults of ``agent.pairwise``) the fit's target
is its utilities over ``sd``. For one that breaks the model (heavy tails, lapses, drift, a
context-dependent opt-out) no utility is "the" answer on the fit's scale; what the fit
estimates is the **pseudo-true** value: the case-V means that best match the subject's true
probabilities on the pairs the design showed (:func:`pseudo_true`). Intervals that hold under
misspecification cover that value; ranks and signs relative to the opt-out are compared with
the subject's own (:func:`prefers_opt_out`: a task is below the opt-out when the subject,
offered the two, takes the opt-out more often than not).
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np

from sandbox.agents.designs.pairwise import mean_utility
from sandbox.config import SimulatedAgentConfig
from sandbox.metrics.robust import PairCounts, case_v_counts

_NODES, _WEIGHTS = np.polynomial.hermite_e.hermegauss(24)
_WEIGHTS = _WEIGHTS / _WEIGHTS.sum()
#: A quadrature grid for the logistic noise (difference of two logistic draws).
_GRID = np.linspace(-40.0, 40.0, 4001)
_LOGISTIC_PDF = np.exp(-np.abs(_GRID)) / (1.0 + np.exp(-np.abs(_GRID))) ** 2
_LOGISTIC_PDF /= _LOGISTIC_PDF.sum()


def _noise_cdf(family: str, x: np.ndarray) -> np.ndarray:
    """P(x + z1 − z2 > 0) for two independent standard draws of the family."""
    if family == "normal":
        return 0.5 * np.vectorize(math.erfc)(-x / 2.0)
    if family == "cauchy":
        return 0.5 + np.arctan(x / 2.0) / math.pi
    if family == "logistic":
        shifted = x[..., None] + _GRID
        return (_LOGISTIC_PDF / (1.0 + np.exp(-shifted))).sum(axis=-1)
    raise ValueError(f"noise: expected normal, logistic or cauchy, got {family!r}")


def prob_over(cfg: SimulatedAgentConfig, a: Mapping[str, Any], b: Mapping[str, Any]) -> float:
    """P(the subject picks ``a`` over ``b``), averaged over the two presentation orders, the
    per-episode drift and position bias, and lapses."""
    params = cfg.pairwise
    d = mean_utility(cfg, a) - mean_utility(cfg, b)
    for x, y, sign in ((a, b, 1.0), (b, a, -1.0)):
        if x.get("opt_out") and params.opt_out_context_bonus:
            aversive = float(y.get("aversiveness") or 0.0) >= params.opt_out_context_aversiveness
            d += sign * params.opt_out_context_bonus * aversive
    drift = math.sqrt(2.0) * params.drift_sd * _NODES[:, None]
    bias = cfg.position_bias + params.position_bias_sd * _NODES[None, :]
    weights = _WEIGHTS[:, None] * _WEIGHTS[None, :]
    first = _noise_cdf(params.noise, (d + drift + bias) / params.sd)
    second = _noise_cdf(params.noise, (d + drift - bias) / params.sd)
    clean = float((weights * 0.5 * (first + second)).sum())
    return (1.0 - params.lapse) * clean + params.lapse * 0.5


def straddling(cfg: SimulatedAgentConfig, half_width: float = 1.0) -> SimulatedAgentConfig:
    """A copy of ``cfg`` whose 30 tasks (``play``'s) have utilities evenly spaced over
    ``opt_out_utility ± half_width`` in the bank's order, so that every category holds tasks on
    both sides of the opt-out and near it: the below-opt-out counts are uncertain, and the
    tasks' errors are correlated through the opt-out they share (and, with drift, through the
    episodes)."""
    from copy import deepcopy

    from environments.pairwise import PairwiseEnv

    out = deepcopy(cfg)
    tasks = PairwiseEnv(tasks=30).tasks
    zero = out.pairwise.opt_out_utility
    values = np.linspace(zero - half_width, zero + half_width, len(tasks))
    out.pairwise.option_utilities = {t.id: float(v) for t, v in zip(tasks, values, strict=True)}
    return out


def prefers_opt_out(cfg: SimulatedAgentConfig, task: Mapping[str, Any]) -> bool:
    """Whether the subject, offered ``task`` against the opt-out, takes the opt-out more often."""
    opt = {"id": "opt_out", "category": "opt_out", "aversiveness": 0.0, "opt_out": True}
    return prob_over(cfg, opt, task) > 0.5


def pseudo_true(
    cfg: SimulatedAgentConfig,
    labels: Sequence[Mapping[str, Any]],
    counts: PairCounts,
    ridge: float,
) -> np.ndarray:
    """The case-V means (opt-out, when present, as zero) fitted to the subject's exact
    probabilities on the pairs that ``counts`` holds, with their observed trial counts.

    Args:
        cfg: The subject.
        labels: The label of each option index (``{"id", "category", "aversiveness",
            "opt_out"}``).
        counts: The run's choices by distinct pair (only the pairs and trials are read).
        ridge: The fit's prior precision (the same as the proxies', so that the target is the
            one they estimate).
    """
    _, trials = counts.totals()
    p = np.array(
        [prob_over(cfg, labels[i], labels[j]) for i, j in zip(counts.pi, counts.pj, strict=True)]
    )
    fit = case_v_counts(counts, trials * p, trials, ridge=ridge)
    opt = next((i for i, label in enumerate(labels) if label.get("opt_out")), None)
    return fit.mu - (fit.mu[opt] if opt is not None else 0.0)


# ---------------------------------------------------------------------------------------------
# Known-answer trials: the subject played in the environment, the proxies against the truth

#: Categories whose tasks' share below the opt-out is compared with the system card's 87.2%.
AVERSIVE_CATEGORIES = ("hostile_requester", "harmful_request")


def play(
    cfg: SimulatedAgentConfig, seed: int, episodes: int = 20, **env_kwargs: Any
) -> list[list[dict[str, Any]]]:
    """Step records of ``episodes`` episodes of the subject in ``WelfareSandbox/Pairwise-v0``
    (``tasks=30`` and the env's defaults unless ``env_kwargs`` says otherwise), as the runner
    logs their ``info``; the subject is the policy the runner calls (no runner, no files: for
    coverage over many runs)."""
    from environments.pairwise import PairwiseEnv
    from sandbox.agents.designs import pairwise
    from sandbox.agents.designs import play as play_design

    return play_design(
        PairwiseEnv(**{"tasks": 30, **env_kwargs}), pairwise.act, cfg, seed, episodes
    )


def evaluate(cfg: SimulatedAgentConfig, metrics: Mapping[str, Any], records: Any) -> dict[str, Any]:
    """One run's proxies (``metrics["pairwise"]``) against the subject's truth.

    Returns:
        ``spearman`` (true utility vs fitted mean), coverage of the true utility over ``sd``
        (``cover_raw_*``) and of the pseudo-true value (``cover_pt_*``) by the model-based
        interval (``*_model``, the intervals before the episode bootstrap) and the reported
        one (``*_wide``), ``sign_errors`` (tasks on the wrong side of the opt-out), the share
        of :data:`AVERSIVE_CATEGORIES` tasks below the opt-out fitted and true, how often each
        category's count of tasks truly below (pseudo-true) lies in its ``count_range`` and
        its share in the below-opt-out interval (``below_count_cover``,
        ``below_share_cover``), the context flag, and position-bias rejections by the pooled
        Wilson and the clustered interval.
    """
    from sandbox.metrics.designs.pairwise_data import RIDGE, read_comparisons
    from sandbox.metrics.robust import pair_counts
    from sandbox.metrics.stats import spearman

    steps = [r for episode in records for r in episode]
    comparisons, categories, aversiveness, _ = read_comparisons(steps)
    ids = [*sorted(i for i in categories if i != "opt_out"), "opt_out"]
    index = {option: i for i, option in enumerate(ids)}
    labels = [
        {
            "id": i,
            "category": categories[i],
            "aversiveness": aversiveness[i],
            "opt_out": i == "opt_out",
        }
        for i in ids
    ]
    pairs = [(index[c.winner], index[c.loser]) for c in comparisons]
    counts = pair_counts(pairs, [c.episode for c in comparisons], len(ids))
    target = pseudo_true(cfg, labels, counts, RIDGE)
    tasks = metrics["tasks"]
    zero = cfg.pairwise.opt_out_utility
    raw = {i: (mean_utility(cfg, labels[index[i]]) - zero) / cfg.pairwise.sd for i in tasks}
    hits: dict[str, list[bool]] = {k: [] for k in ("raw_model", "raw_wide", "pt_model", "pt_wide")}
    sign_errors = 0
    below_fit = below_true = n_aversive = 0
    for option, t in tasks.items():
        model = (t["mean"] - 1.96 * t["se_model"], t["mean"] + 1.96 * t["se_model"])
        wide = (t["ci_low"], t["ci_high"])
        for name, value in (("raw", raw[option]), ("pt", float(target[index[option]]))):
            hits[f"{name}_model"].append(model[0] <= value <= model[1])
            hits[f"{name}_wide"].append(wide[0] <= value <= wide[1])
        truly_below = prefers_opt_out(cfg, labels[index[option]])
        sign_errors += bool(t["below_opt_out"]) != truly_below
        if t["category"] in AVERSIVE_CATEGORIES:
            n_aversive += 1
            below_fit += bool(t["below_opt_out"])
            below_true += truly_below
    # The count of each category's tasks truly below the opt-out (on the fit's pseudo-true
    # scale) against the count range and the share interval the proxy reports.
    count_hits: list[bool] = []
    share_hits: list[bool] = []
    for category, share in (metrics.get("below_opt_out") or {}).items():
        members = [o for o, t in tasks.items() if t["category"] == category]
        below = sum(float(target[index[o]]) < 0.0 for o in members)
        low, high = share["count_range"]
        count_hits.append(low <= below <= high)
        share_hits.append(share["ci_low"] <= below / len(members) <= share["ci_high"])
    order = sorted(tasks)
    bias = metrics["position_bias"]
    pooled = bias["first_share"]
    context = metrics.get("opt_out_context") or {}
    intrans = metrics["intransitivity"]
    return {
        "spearman": spearman([raw[i] for i in order], [tasks[i]["mean"] for i in order]),
        **{f"cover_{k}": float(np.mean(v)) for k, v in hits.items()},
        "sign_errors": sign_errors,
        "aversive_below_fit": below_fit / n_aversive if n_aversive else None,
        "aversive_below_true": below_true / n_aversive if n_aversive else None,
        "aversive_below_in_context": float(
            np.mean(
                [
                    metrics["below_opt_out"][c].get("in_context") or 0.0
                    for c in AVERSIVE_CATEGORIES
                    if c in metrics["below_opt_out"]
                ]
            )
        ),
        "below_count_cover": float(np.mean(count_hits)) if count_hits else None,
        "below_share_cover": float(np.mean(share_hits)) if share_hits else None,
        "context_flagged": bool(context.get("flagged")),
        "position_reject_pooled": not (pooled["ci_low"] <= 0.5 <= pooled["ci_high"]),
        "position_reject_clustered": not (bias["ci_low"] <= 0.0 <= bias["ci_high"]),
        "intransitivity": intrans["value"],
        "intransitivity_null": (intrans.get("null") or {}).get("expected"),
        "intransitivity_p": (intrans.get("null") or {}).get("p_value"),
        "fit_seconds": metrics["fit"]["fit_seconds"],
        "bootstrap_seconds": (metrics["fit"]["bootstrap"] or {}).get("seconds"),
    }
