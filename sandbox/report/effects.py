"""Per-episode values and the effects of each condition against the control.

An effect is the difference of per-episode means with a percentile bootstrap 95% interval over
episodes (the episode is the unit of replication), and the minimum detectable effect at the
sweep's n.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import numpy as np

from sandbox.metrics.stats import bootstrap_diff, min_detectable_effect, norm_ppf
from sandbox.metrics.tally import EpisodeTally
from sandbox.report.model import Condition, Effect


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


def _effect_proxies(conditions: Sequence[Condition]) -> list[str]:
    keys: list[str] = []
    fixed = [
        "refusal_rate",
        "api_refusal_rate",
        "any_refusal_rate",
        "rest_rate",
        "exit_rate",
        "invalid_action_rate",
        "self_report",
    ]
    shares = sorted({k for c in conditions for k in c.columns if k.startswith("choice_")})
    for key in [*fixed, *shares, "reward"]:
        if any(key in c.columns for c in conditions):
            keys.append(key)
    return keys


def _mde(proxy: str, control: Sequence[float], other: Sequence[float]) -> float | None:
    """Minimum detectable effect for ``proxy`` at these n (80% power, two-sided 5%).

    Binary per-episode proxies (exit) use the two-proportion power equation at the control's
    rate; other proxies the normal approximation with the pooled per-episode sd.
    """
    n_c, n_o = len(control), len(other)
    if n_c < 2 or n_o < 2:
        return None
    if proxy == "exit_rate":  # an indicator per episode: the two-proportion equation
        p = float(np.mean(control))
        return min_detectable_effect(n_c, n_o, p=p if 0.0 < p < 1.0 else 0.5)
    var_c = float(np.var(control, ddof=1))
    var_o = float(np.var(other, ddof=1))
    sd = math.sqrt(((n_c - 1) * var_c + (n_o - 1) * var_o) / (n_c + n_o - 2))
    if sd > 0:
        return (norm_ppf(0.975) + norm_ppf(0.8)) * sd * math.sqrt(1 / n_c + 1 / n_o)
    return None


def effects_against(
    conditions: Sequence[Condition], ctrl: Condition, *, seed: int, n_boot: int
) -> list[Effect]:
    """Each condition other than ``ctrl`` against it, on every per-episode proxy.

    Args:
        conditions: The sweep's conditions, in job order.
        ctrl: The control (one of ``conditions``).
        seed: Seed of the bootstrap; one stream per (condition, proxy).
        n_boot: Bootstrap resamples per effect.
    """
    effects: list[Effect] = []
    values = ctrl.per_episode
    for i, cond in enumerate(conditions):
        if cond is ctrl:
            continue
        mine = cond.per_episode
        for j, proxy in enumerate(_effect_proxies(conditions)):
            a, b = mine.get(proxy, []), values.get(proxy, [])
            # One stream per (condition, proxy): adding a proxy does not move the others.
            rng = np.random.default_rng([seed, i, j])
            diff = bootstrap_diff(a, b, rng, n_boot=n_boot)
            effects.append(
                Effect(
                    condition=cond.name,
                    control=ctrl.name,
                    proxy=proxy,
                    diff=diff["diff"],
                    ci_low=diff["ci_low"],
                    ci_high=diff["ci_high"],
                    n=len(a),
                    n_control=len(b),
                    mde=_mde(proxy, b, a),
                )
            )
    return effects
