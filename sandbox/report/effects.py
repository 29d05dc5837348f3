"""Per-episode values and the effects of each condition against the control.

An effect on a per-episode proxy (and a design's per-episode headline) is the difference of
per-episode means with a percentile bootstrap 95% interval over episodes (the episode is the
unit of replication; paired by seed when the two conditions share their episodes' seeds:
:mod:`sandbox.report.resample`). A design's fitted headline (a switch point, a utility) is
compared from the two conditions' own intervals (MOVER). Each effect has its minimum
detectable effect in both directions, and every effect with a p-value is one comparison of
Holm's correction.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import numpy as np

from sandbox.metrics.tally import EpisodeTally
from sandbox.report.headlines import FITTED_INTERVALS, design_comparisons, fitted_estimates
from sandbox.report.model import Condition, Effect
from sandbox.report.resample import (
    Diff,
    episode_bootstrap,
    holm,
    mde_binary,
    mde_normal,
    mover,
    seed_pairs,
)

#: Per-episode proxies that are an indicator (0 or 1) per episode: their MDE is the
#: two-proportion one.
BINARY = frozenset({"exit_rate", "conversation.exit_rate", "conversation.exit_rate_all"})
#: The interval method of the fitted headlines.
MOVER_METHOD = (
    "MOVER (Zou & Donner 2008) from each condition's 95% interval ({}); conditions taken as "
    "independent"
)


def episode_values(episode: EpisodeTally, categories: Sequence[str]) -> dict[str, float]:
    """The per-episode proxies of one finished episode (a key is absent where it did not apply).

    Each is ``metrics.json``'s proxy within the episode, from the episode's tally
    (:mod:`sandbox.metrics.tally`), so the mean of a per-episode indicator is the run's rate:

    - ``refusal_rate`` / ``rest_rate``: valid REFUSE (REST) steps ÷ valid steps where it was
      offered.
    - ``exit_rate``: 1 if the episode had a valid EXIT, 0 if exit was offered and never taken.
    - ``invalid_action_rate``: invalid actions ÷ steps whose outcome is an action (an API
      refusal or a truncation is neither, see :mod:`sandbox.metrics.rates`).
    - ``api_refusal_rate`` / ``any_refusal_rate``: API refusals (or any refusal) ÷ refusal
      opportunities (model agents only: episodes whose steps record an ``outcome``).
    - ``self_report``: the mean of the episode's 1-7 ratings.
    - ``choice_share.<category>``: the episode's valid task choices of that category ÷ its
      valid task choices with a known category.
    - ``reward``: the episode's total reward.
    """
    c = episode.counts
    values: dict[str, float] = {}
    if c.refusable:
        values["refusal_rate"] = c.refusals / c.refusable
    if c.restable:
        values["rest_rate"] = c.rests / c.restable
    if c.exit_offered:
        values["exit_rate"] = float(c.exited)
    if c.actions:
        values["invalid_action_rate"] = c.invalid / c.actions
    if episode.outcomes_logged and episode.opportunities:
        values["api_refusal_rate"] = episode.opportunities_api / episode.opportunities
        values["any_refusal_rate"] = episode.opportunities_any / episode.opportunities
    if c.ratings:
        values["self_report"] = sum(c.ratings) / len(c.ratings)
    total = sum(c.tasks.values())
    if total:
        for cat in categories:
            values[f"choice_share.{cat}"] = c.tasks.get(cat, 0) / total
    reward = episode.total_reward
    if reward is not None:
        values["reward"] = reward
    return values


def per_episode_values(
    episodes: Sequence[EpisodeTally], categories: Sequence[str]
) -> dict[str, list[float]]:
    """Proxy -> one value per episode where it applied (see :func:`episode_values`)."""
    out: dict[str, list[float]] = {}
    for episode in episodes:
        for key, value in episode_values(episode, categories).items():
            out.setdefault(key, []).append(value)
    return out


_FIXED = (
    "refusal_rate",
    "api_refusal_rate",
    "any_refusal_rate",
    "rest_rate",
    "exit_rate",
    "invalid_action_rate",
    "self_report",
)


def _effect_proxies(conditions: Sequence[Condition]) -> list[str]:
    keys = {k for c in conditions for k in c.columns}
    shares = sorted(k for k in keys if k.startswith("choice_"))
    designs = sorted(k for k in keys if "." in k and not k.startswith("choice_"))
    return [k for k in [*_FIXED, *shares, "reward", *designs] if k in keys]


def boot_method(n_boot: int, paired: bool) -> str:
    """What a bootstrap effect's interval is, in words."""
    how = "pairs of episodes with the same seed resampled" if paired else "episodes resampled"
    return f"percentile bootstrap 95% over episodes ({n_boot} resamples, {how})"


def _mde(
    proxy: str, a: np.ndarray, b: np.ndarray, paired: bool
) -> tuple[float | None, float | None]:
    """``(down, up)``: the detectable decrease and increase at these n (80% power, 5%).

    Paired conditions: the normal approximation with the sd of the paired differences (a
    binary proxy whose pairs never differ falls back to the independent equation). Else a
    binary proxy uses the two-proportion equation at the control's rate, any other the normal
    approximation with the pooled per-episode sd.
    """
    if paired:
        both = ~np.isnan(a) & ~np.isnan(b)
        d = a[both] - b[both]
        mde = mde_normal(float(np.std(d, ddof=1)), 1 / d.size) if d.size > 1 else None
        if mde is not None or proxy not in BINARY:
            return mde, mde
    a, b = a[~np.isnan(a)], b[~np.isnan(b)]
    n_o, n_c = a.size, b.size
    if n_c < 2 or n_o < 2:
        return None, None
    if proxy in BINARY:
        return mde_binary(n_c, n_o, float(np.mean(b)))
    var = ((n_c - 1) * np.var(b, ddof=1) + (n_o - 1) * np.var(a, ddof=1)) / (n_c + n_o - 2)
    mde = mde_normal(math.sqrt(float(var)), 1 / n_c + 1 / n_o)
    return mde, mde


def _smaller(down: float | None, up: float | None) -> float | None:
    found = [v for v in (down, up) if v is not None]
    return min(found) if found else None


def _effect(
    cond: str,
    ref: str,
    proxy: str,
    diff: Diff,
    mde: tuple[float | None, float | None],
    **kw: object,
) -> Effect:
    return Effect(
        condition=cond,
        control=ref,
        proxy=proxy,
        diff=diff.diff,
        ci_low=diff.ci_low,
        ci_high=diff.ci_high,
        n=diff.n,
        n_control=diff.n_control,
        mde=_smaller(*mde),
        p=diff.p,
        mde_down=mde[0],
        mde_up=mde[1],
        **kw,  # type: ignore[arg-type]
    )


def _column_effects(
    cond: Condition,
    ref: Condition,
    proxies: Sequence[str],
    a: np.ndarray,
    b: np.ndarray,
    *,
    rng: np.random.Generator,
    n_boot: int,
    labels: Sequence[str | None] | None = None,
) -> list[Effect]:
    pairs = seed_pairs(cond.seeds, ref.seeds)
    diffs = episode_bootstrap(a, b, rng, n_boot=n_boot, pairs=pairs)
    if pairs is not None:
        a, b = a[pairs[0]], b[pairs[1]]
    method = boot_method(n_boot, pairs is not None)
    out = []
    for j, (proxy, diff) in enumerate(zip(proxies, diffs, strict=True)):
        mde = _mde(proxy, a[:, j], b[:, j], pairs is not None)
        label = labels[j] if labels is not None else None
        out.append(
            _effect(
                cond.name,
                ref.name,
                proxy,
                diff,
                mde,
                label=label,
                method=method,
                paired=pairs is not None,
            )
        )
    return out


def _matrix(cond: Condition, proxies: Sequence[str]) -> np.ndarray:
    empty = [math.nan] * cond.episodes
    columns = [cond.columns.get(p, empty) for p in proxies]
    return np.asarray(columns, dtype=float).reshape(len(proxies), cond.episodes).T


def _fitted_effects(cond: Condition, ctrl: Condition) -> list[Effect]:
    mine, theirs = fitted_estimates(cond.metrics), fitted_estimates(ctrl.metrics)
    out = []
    for key in [k for k in mine if k in theirs]:
        (va, la, ha, na, block), (vb, lb, hb, nb, _) = mine[key], theirs[key]
        diff, low, high, p = mover((va, la, ha), (vb, lb, hb))
        out.append(
            Effect(
                condition=cond.name,
                control=ctrl.name,
                proxy=key,
                diff=diff,
                ci_low=low,
                ci_high=high,
                n=na,
                n_control=nb,
                mde=None,
                method=MOVER_METHOD.format(FITTED_INTERVALS.get(block, "as metrics.json gives it")),
                p=p,
            )
        )
    return out


def effects_against(
    conditions: Sequence[Condition], ctrl: Condition, *, seed: int, n_boot: int
) -> list[Effect]:
    """Each condition other than ``ctrl`` against it on every proxy, and the designs' own
    comparisons (:func:`sandbox.report.headlines.design_comparisons`); every effect with a
    p-value marked by Holm's correction over all of them (``Effect.holm``).

    Args:
        conditions: The sweep's conditions, in job order.
        ctrl: The control (one of ``conditions``).
        seed: Seed of the bootstrap; one stream per comparison of two conditions (every proxy
            of the comparison resampled with the same episodes).
        n_boot: Bootstrap resamples per effect.
    """
    effects: list[Effect] = []
    proxies = _effect_proxies(conditions)
    b = _matrix(ctrl, proxies)
    for i, cond in enumerate(conditions):
        if cond is ctrl:
            continue
        rng = np.random.default_rng([seed, i])
        effects += _column_effects(
            cond, ctrl, proxies, _matrix(cond, proxies), b, rng=rng, n_boot=n_boot
        )
        effects += _fitted_effects(cond, ctrl)
    for k, comp in enumerate(design_comparisons(conditions, ctrl)):
        # Against the control: the condition's stream, so the same episodes are resampled as
        # for its other effects (the index on one room has that room's share's interval).
        own = [i for i, c in enumerate(conditions) if c is comp.condition]
        i = own[0] if comp.reference is ctrl and own else len(conditions) + k
        rng = np.random.default_rng([seed, i])
        effects += _column_effects(
            comp.condition, comp.reference, [comp.proxy],
            comp.a[:, None], comp.b[:, None], rng=rng, n_boot=n_boot, labels=[comp.label],
        )  # fmt: skip
    for effect, survives in zip(effects, holm([e.p for e in effects]), strict=True):
        effect.holm = survives
    return effects
