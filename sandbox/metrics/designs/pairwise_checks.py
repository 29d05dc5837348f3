"""Checks of the pairwise measurement: position bias, consistency, held-out fit, intransitivity
with its null reference, split-half reliability, and context-dependence of the opt-out.

Each function returns one block of ``metrics["pairwise"]`` (see
:mod:`sandbox.metrics.designs.pairwise` for where each lands). The episode is the unit of
replication: the position-bias interval and the opt-out diagnostic take their variance over
episodes, so a subject whose behaviour shifts from episode to episode is not mistaken for a
biased or context-dependent one.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np

from sandbox.metrics.designs.pairwise_data import (
    OPT_OUT_ID,
    RIDGE,
    Comparison,
    both_orders,
    case_v,
    groups,
)
from sandbox.metrics.robust import case_v_counts, episode_bootstrap, pair_counts
from sandbox.metrics.stats import norm_ppf, spearman, wilson
from sandbox.metrics.utilities import ThurstonianFit

#: One pair in this many is held out to test the fit.
HELDOUT_EVERY = 5
#: Fewer held-out choices than this give no held-out figures.
HELDOUT_MIN = 10
#: Replicates of the parametric bootstrap of intransitivity under the fitted model.
NULL_REPLICATES = 200
#: Family-wise level of the opt-out context diagnostic (Bonferroni over categories).
CONTEXT_LEVEL = 0.01
#: Replicates of the episode bootstrap of the opt-out's places (a covariance of a few numbers).
CONTEXT_REPLICATES = 100


def t_quantile(p: float, df: float) -> float:
    """Student's t quantile by the Cornish-Fisher expansion about the normal (error below
    0.002 from 3 degrees of freedom up, at the usual 95-99% levels)."""
    z = norm_ppf(p)
    g1 = (z**3 + z) / 4.0
    g2 = (5 * z**5 + 16 * z**3 + 3 * z) / 96.0
    g3 = (3 * z**7 + 19 * z**5 + 17 * z**3 - 15 * z) / 384.0
    g4 = (79 * z**9 + 776 * z**7 + 1482 * z**5 - 1920 * z**3 - 945 * z) / 92160.0
    return z + g1 / df + g2 / df**2 + g3 / df**3 + g4 / df**4


def position_bias(comparisons: Sequence[Comparison]) -> dict[str, Any]:
    """P(first-listed chosen) − 0.5 over pairs shown in both orders, its interval clustered by
    episode.

    The interval is ``p ± t(G−1) · se`` with ``se`` the larger of the binomial standard error
    and the sandwich over episodes (``G/(G−1) · Σ_e (f_e − p n_e)² / N²``): a subject whose bias
    varies by episode but averages zero is not declared biased. With one episode it is the
    Wilson interval of the pooled choices (``method`` says which).
    """
    both = both_orders(comparisons)
    first = sum((a.position == 0) + (b.position == 0) for a, b in both)
    share = wilson(first, 2 * len(both))
    out: dict[str, Any] = {
        "value": None,
        "ci_low": None,
        "ci_high": None,
        "n": share["n"],
        "pairs": len(both),
        "episodes": 0,
        "method": None,
        "first_share": share,
    }
    if not both:
        return out
    per: dict[int, list[int]] = {}
    for a, b in both:
        f_n = per.setdefault(a.episode, [0, 0])
        f_n[0] += (a.position == 0) + (b.position == 0)
        f_n[1] += 2
    f = np.array([v[0] for v in per.values()], dtype=float)
    n = np.array([v[1] for v in per.values()], dtype=float)
    total = float(n.sum())
    p = float(f.sum()) / total
    g = len(per)
    out["value"], out["episodes"] = p - 0.5, g
    if g < 2:
        low, high = share["ci_low"], share["ci_high"]
        assert low is not None and high is not None
        out.update(ci_low=low - 0.5, ci_high=high - 0.5, method="wilson over choices (1 episode)")
        return out
    cluster = g / (g - 1) * float(((f - p * n) ** 2).sum()) / total**2
    binomial = max(p * (1 - p), 0.25 / total) / total
    se = math.sqrt(max(cluster, binomial))
    t = t_quantile(0.975, g - 1)
    out.update(
        ci_low=p - t * se - 0.5,
        ci_high=p + t * se - 0.5,
        method=f"episode-clustered: share ± t({g - 1}) × max(sandwich over {g} episodes, "
        "binomial) standard error",
    )
    return out


def order_consistency(comparisons: Sequence[Comparison]) -> dict[str, Any]:
    """Share of pairs shown in both orders where the same option won both showings."""
    both = both_orders(comparisons)
    return dict(wilson(sum(a.winner == b.winner for a, b in both), len(both)))


def heldout(comparisons: Sequence[Comparison], index: Mapping[str, int]) -> dict[str, Any]:
    """A case-V fit on all but every fifth pair (both showings together), tested on the rest."""
    shows = list(groups(comparisons).values())
    test = [c for pair in shows[::HELDOUT_EVERY] for c in pair]
    train = [c for g, pair in enumerate(shows) if g % HELDOUT_EVERY for c in pair]
    k = len(index)
    empty: dict[str, Any] = {
        "accuracy": None,
        "log_loss": None,
        "chance_log_loss": math.log(2.0),
        "n": 0,
        "n_train": len(train),
    }
    fit = case_v([(index[c.winner], index[c.loser]) for c in train], k)
    if fit is None:
        return empty
    hits = loss = 0.0
    n = 0
    for c in test:
        w, lo = index[c.winner], index[c.loser]
        if not (math.isfinite(fit.mu[w]) and math.isfinite(fit.mu[lo])):
            continue  # an option never seen in training cannot be predicted
        diff = fit.mu[w] - fit.mu[lo]
        hits += 1.0 if diff > 0 else 0.5 if diff == 0 else 0.0
        p = min(max(fit.prob(w, lo), 1e-12), 1.0 - 1e-12)
        loss -= math.log(p)
        n += 1
    if n < HELDOUT_MIN:
        return {**empty, "n": n}
    return {**empty, "accuracy": hits / n, "log_loss": loss / n, "n": n}


def _cycle_rates(wins: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Per ``(R, k, k)`` stack of win counts: majority 3-cycles, decided triads, all triads."""
    beats = (wins > np.swapaxes(wins, -1, -2)).astype(float)
    decided = beats + np.swapaxes(beats, -1, -2)
    compared = ((wins + np.swapaxes(wins, -1, -2)) > 0).astype(float)

    def closed(m: np.ndarray) -> np.ndarray:
        return np.trace(m @ m @ m, axis1=-2, axis2=-1)

    # Closed walks of length 3: each directed 3-cycle is counted 3 times, each triangle of an
    # undirected graph 6 times.
    return (
        np.rint(closed(beats) / 3.0),
        np.rint(closed(decided) / 6.0),
        np.rint(closed(compared) / 6.0),
    )


def intransitivity(
    pairs: Sequence[tuple[int, int]],
    k: int,
    fit: ThurstonianFit | None = None,
    replicates: int = NULL_REPLICATES,
) -> dict[str, Any]:
    """Share of decided triads that form a majority cycle, and (given the fit) the share the
    fitted model itself produces on the same pairs: the null reference, by parametric
    bootstrap (each pair's choices redrawn from the fit's probability, ``replicates`` times,
    seed fixed)."""
    wins = np.zeros((k, k))
    for w, lo in pairs:
        wins[w, lo] += 1
    cycles, triads, all_compared = (int(v) for v in _cycle_rates(wins))
    value = cycles / triads if triads else None
    out: dict[str, Any] = {
        "value": value,
        "n": triads,
        "cycles": cycles,
        "tied_triads": all_compared - triads,
        "note": "triads whose three pairs all have a strict majority; no interval (triads "
        "share pairs, so they are not independent)",
        "null": None,
    }
    if fit is None or value is None or replicates < 1:
        return out
    mu = np.nan_to_num(fit.mu)
    sigma = np.nan_to_num(fit.sigma, nan=1.0)
    scale = np.sqrt(sigma[:, None] ** 2 + sigma[None, :] ** 2)
    prob = 0.5 * np.vectorize(math.erfc)(-(mu[:, None] - mu[None, :]) / scale / math.sqrt(2.0))
    trials = wins + wins.T
    upper = np.triu(np.ones((k, k), dtype=bool), 1) & (trials > 0)
    rows, cols = np.nonzero(upper)
    rng = np.random.default_rng(20251)
    drawn = rng.binomial(
        trials[rows, cols].astype(np.int64), prob[rows, cols], (replicates, rows.size)
    )
    sims = np.zeros((replicates, k, k))
    sims[:, rows, cols] = drawn
    sims[:, cols, rows] = trials[rows, cols] - drawn
    null_cycles, null_triads, _ = _cycle_rates(sims)
    rates = np.where(null_triads > 0, null_cycles / np.maximum(null_triads, 1), np.nan)
    rates = rates[np.isfinite(rates)]
    if rates.size == 0:
        return out
    out["null"] = {
        "expected": float(rates.mean()),
        "low": float(np.quantile(rates, 0.025)),
        "high": float(np.quantile(rates, 0.975)),
        "p_value": float((1 + (rates >= value).sum()) / (rates.size + 1)),
        "excess": value - float(rates.mean()),
        "replicates": int(rates.size),
        "method": "parametric bootstrap: each pair's choices redrawn from the fitted model "
        "(same pairs, same counts); low-high is the 2.5-97.5% range of the replicates' rate",
    }
    return out


def split_half(
    comparisons: Sequence[Comparison], index: Mapping[str, int], episodes: Sequence[int]
) -> dict[str, Any]:
    """Case-V fits on the even- and odd-indexed episodes, Spearman of their means."""
    halves = (set(episodes[0::2]), set(episodes[1::2]))
    out: dict[str, Any] = {"spearman": None, "n_options": 0, "episodes": [len(h) for h in halves]}
    if not halves[1]:
        return out
    k = len(index)
    fits = [
        case_v([(index[c.winner], index[c.loser]) for c in comparisons if c.episode in h], k)
        for h in halves
    ]
    if fits[0] is None or fits[1] is None:
        return out
    both = np.isfinite(fits[0].mu) & np.isfinite(fits[1].mu)
    out["n_options"] = int(both.sum())
    out["spearman"] = spearman(fits[0].mu[both], fits[1].mu[both]) if both.sum() >= 3 else None
    return out


def chi2_sf(x: float, df: int) -> float:
    """P(X > x) for a chi-square variable with ``df`` (an integer >= 1) degrees of freedom."""
    if x <= 0:
        return 1.0
    half = x / 2.0
    if df % 2:
        # Q = erfc(√h) + Σ_{m=0}^{(df-3)/2} h^(m+1/2) e^(-h) / Γ(m + 3/2)
        root = math.sqrt(half)
        q = math.erfc(root)
        term = root * math.exp(-half) / math.gamma(1.5)
        for m in range((df - 1) // 2):
            q += term
            term *= half / (m + 1.5)
        return min(max(q, 0.0), 1.0)
    q = term = math.exp(-half)
    for j in range(1, df // 2):
        term *= half / j
        q += term
    return min(max(q, 0.0), 1.0)


def opt_out_context(
    pairs: Sequence[tuple[int, int]],
    episodes: Sequence[int],
    index: Mapping[str, int],
    categories: Mapping[str, str],
) -> dict[str, Any]:
    """Do the direct comparisons with the opt-out follow the utilities?

    The fitted utilities hold the opt-out at one place on the scale, whatever it is set
    against. The check fits case V once more with the opt-out split into one option per
    category it faced (``place``: where the opt-out sits against that category's tasks,
    relative to its pooled place), and tests that the places are equal: a Wald test with
    ``C - 1`` degrees of freedom, its covariance the larger (smaller statistic) of the model's
    and the episode bootstrap's. ``flagged`` when ``p_value < CONTEXT_LEVEL``: the opt-out's
    place then depends on what it is set against, and the shares below it read off the
    utilities are not what the subject chooses when offered the opt-out. Beside each place:
    the opt-out's share of wins in those direct comparisons, the share the pooled fit
    predicts, and ``below_in_context``: the share of the category's tasks below the opt-out's
    place *against that category* (in the split fit), the share to read when ``flagged``.
    """
    opt = index.get(OPT_OUT_ID)
    out: dict[str, Any] = {"flagged": None, "categories": {}, "p_value": None, "verdict": None}
    k = len(index)
    if opt is None or not pairs:
        out["verdict"] = "no opt-out compared"
        return out
    names = {i: option for option, i in index.items()}
    faced = sorted({categories[names[b if a == opt else a]] for a, b in pairs if opt in (a, b)})
    slot = {c: k + j for j, c in enumerate(faced)}

    def split(a: int, b: int) -> tuple[int, int]:
        if a == opt:
            return slot[categories[names[b]]], b
        if b == opt:
            return a, slot[categories[names[a]]]
        return a, b

    pooled = pair_counts(pairs, episodes, k)
    base = case_v_counts(pooled, *pooled.totals(), ridge=RIDGE)
    counts = pair_counts([split(a, b) for a, b in pairs], episodes, k + len(faced))
    wins, trials = counts.totals()
    present = np.flatnonzero(
        np.bincount(np.concatenate([counts.pi, counts.pj]), minlength=counts.k) > 0
    )
    fit = case_v_counts(counts, wins, trials, ridge=RIDGE, present=present)
    places = np.array([slot[c] for c in faced])
    boot = episode_bootstrap(counts, ridge=RIDGE, start=fit.mu, replicates=CONTEXT_REPLICATES)
    task_ids = [i for i in range(k) if i != opt and np.isfinite(fit.mu[i])]
    # Both fits' means are centred over different options: compare them relative to the tasks.
    shift = float(np.mean(fit.mu[task_ids]) - np.mean(base.mu[task_ids])) if task_ids else 0.0
    for j, category in enumerate(faced):
        members = [i for i in task_ids if categories[names[i]] == category]
        below = sum(float(fit.mu[i]) < float(fit.mu[places[j]]) for i in members)
        mine = (counts.pi == places[j]) | (counts.pj == places[j])
        opt_low = counts.pi[mine] == places[j]
        tasks = np.where(opt_low, counts.pj[mine], counts.pi[mine])
        n = trials[mine]
        won = np.where(opt_low, wins[mine], n - wins[mine])
        diff = (base.mu[opt] - base.mu[tasks]) / math.sqrt(2.0)
        pred = 0.5 * np.vectorize(math.erfc)(-diff / math.sqrt(2.0))
        total = float(n.sum())
        out["categories"][category] = {
            "n": int(total),
            "place": float(fit.mu[places[j]] - base.mu[opt]) - shift,
            "place_se": math.sqrt(max(float(fit.cov[places[j], places[j]]), 0.0)),
            "observed": float(won.sum()) / total,
            "predicted": float((n * pred).sum()) / total,
            "below_in_context": below / len(members) if members else None,
            "n_tasks": len(members),
        }
    c = len(faced)
    if c < 2:
        out["verdict"] = "the opt-out met tasks of one category only: nothing to compare"
        return out
    contrast = np.zeros((c - 1, counts.k))
    for j in range(c - 1):
        contrast[j, places[j]], contrast[j, places[-1]] = 1.0, -1.0
    diffs = contrast[:, present] @ fit.mu[present]
    covs = [contrast[:, present] @ fit.cov[np.ix_(present, present)] @ contrast[:, present].T]
    if boot is not None:
        covs.append(np.cov(np.nan_to_num(boot.mu) @ contrast.T, rowvar=False).reshape(c - 1, c - 1))
    stats = [float(diffs @ np.linalg.pinv(cov) @ diffs) for cov in covs]
    statistic = min(stats)
    p_value = chi2_sf(statistic, c - 1)
    out.update(
        statistic=statistic,
        df=c - 1,
        p_value=p_value,
        flagged=p_value < CONTEXT_LEVEL,
        method=(
            "case V with the opt-out split by the category it faced; Wald test that its places "
            "are equal (chi-square, C-1 df; the covariance giving the smaller statistic of the "
            f"model's and the episode bootstrap's); flagged at p < {CONTEXT_LEVEL:g}"
        ),
    )
    by = out["categories"]
    high = max(by, key=lambda name: by[name]["place"])
    low = min(by, key=lambda name: by[name]["place"])
    if out["flagged"]:
        out["verdict"] = (
            f"context-dependent (p = {p_value:.2g}): against {high} tasks the opt-out sits "
            f"{by[high]['place']:+.2f} from its pooled place and won {by[high]['observed']:.2f} "
            f"of direct comparisons where the utilities predict {by[high]['predicted']:.2f}; "
            f"against {low} tasks {by[low]['place']:+.2f}. Shares below the opt-out read off "
            "the utilities are not what the subject chooses when offered the opt-out"
        )
    else:
        out["verdict"] = (
            f"consistent (p = {p_value:.2g}): the opt-out's place does not detectably depend "
            "on the category it is set against"
        )
    return out
