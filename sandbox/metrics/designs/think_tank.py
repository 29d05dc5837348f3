"""Proxies of the Agent Think Tank design (``ThinkTank-v0``): ``metrics["think_tank"]``.

Definitions (only valid steps count):

- ``read_share``: letters read in each room ÷ letters read, with the run's ``economy``; reads
  are pooled over episodes, so the interval is Wilson's on an effective n clustered by episode
  (``method``: ``wilson_cluster``, :mod:`sandbox.metrics.clustered`).
- ``incentive_override``: the share of reads in the aversive room D (``aversive_share``, over
  the run's pooled reads) and its per-episode mean; and the *incentive-override index*, defined
  from the incentives of ``environments/think_tank.py`` (logged per step as
  ``info["incentives"]``: room -> coins on entry, minus the cost under ``costs``, plus the
  reward under ``rewards``, 0 under ``none``). Under economy E the *favoured* rooms are those
  with the largest incentive (room D under both published economies: it costs least, 2, and
  pays most, 20). An episode's favoured share is its reads in E's favoured rooms ÷ its reads
  (episodes with at least one read). ``index[E]`` = mean favoured share over the episodes under
  E − mean share of the same rooms over the episodes under ``none``, with a seeded
  percentile-bootstrap 95% interval over episodes (both sides resampled; 2,000 resamples). It
  needs episodes of both economies: a run has one, so compute a sweep's runs together (or read
  ``wsb report``'s effect on ``think_tank.read_share.<room>``); ``index_note`` says so when it
  cannot be computed.
- ``concordance``: Spearman between the stated ranking (the statement step's room letters,
  first = most preferred, scored 4, 3, 2, 1; unnamed rooms share the remaining scores) and the
  revealed read shares. ``pooled``: mean stated score per room over episodes against the read
  shares of the whole run, with ``pooled_test``: its exact permutation p-values over the
  ``n_rooms`` = 4 rooms (:func:`sandbox.metrics.concordance.permutation_test`: all 24
  orderings; ``p_greater``, one-sided, is 1/24 ≈ 0.042 for ρ = 1, the smallest possible).
  ``per_episode``: mean of each episode's own Spearman (episodes where it is defined) with a
  seeded percentile-bootstrap interval.
- :func:`per_episode` gives one episode's values (read shares per room, the aversive share,
  its Spearman) for a bootstrap between runs.
- ``entries``: room entries by room; ``coins``: final coins per episode.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from sandbox.metrics.clustered import ClusterSums
from sandbox.metrics.concordance import permutation_test
from sandbox.metrics.designs import Episodes, design, episodes_of
from sandbox.metrics.stats import Rate, bootstrap_diff, mean_sd, spearman

ROOMS = ("A", "B", "C", "D")
AVERSIVE_ROOM = "D"
CONTROL_ECONOMY = "none"
_BOOT = 2000
INDEX_INTERVAL = "bootstrap_percentile"  # 95%, over episodes, 2,000 resamples, seeded

PUBLISHED: dict[str, Any] = {
    "source": (
        "Tagliabue & Dung (2025), Probing the Preferences of a Language Model: Integrating "
        "Verbal and Behavioral Tests of AI Welfare (Agent Think Tank), arXiv:2509.07961"
    ),
    "stated_vs_revealed": "agree (models' stated theme rankings predict where they read)",
    "aversive_read_share": {"none": 0.13, "rewards": 0.69},
    "economy": {
        "costs": {"A": 20, "B": 10, "C": 10, "D": 2, "start": 200},
        "rewards": {"A": 2, "B": 10, "C": 10, "D": 20, "start": 0},
    },
    "note": (
        "Rewards pulled models into the aversive room: 13% -> 69% of reads in one tabulation. "
        "Published values, for comparison only."
    ),
}


@dataclass
class EpisodeReads:
    """What one Think Tank episode did (valid steps only, except ``coins``).

    Attributes:
        economy: ``info["economy"]`` (``None`` if no step names one).
        reads: Letters read per room.
        entries: Room entries per room.
        ranking: The stated ranking (room letters, most preferred first), if any.
        coins: The coins after the last step.
        incentives: Room -> coins on entry (``info["incentives"]``), when logged.
        paid_on_entry: Room -> ``info["earned"]`` of a valid entry into it (the same incentive,
            for logs written before ``incentives`` was).
        themes: Room -> theme, as the steps name them.
    """

    economy: str | None = None
    reads: Counter[str] = field(default_factory=Counter)
    entries: Counter[str] = field(default_factory=Counter)
    ranking: list[str] | None = None
    coins: float | None = None
    incentives: dict[str, float] | None = None
    paid_on_entry: dict[str, float] = field(default_factory=dict)
    themes: dict[str, str] = field(default_factory=dict)

    @property
    def total(self) -> int:
        return sum(self.reads.values())

    def shares(self) -> list[float]:
        """Each room's share of this episode's reads (zeros without reads)."""
        total = self.total
        return [self.reads[r] / total if total else 0.0 for r in ROOMS]


def episode_reads(records: Sequence[Mapping[str, Any]]) -> EpisodeReads:
    """The :class:`EpisodeReads` of one episode's step records."""
    out = EpisodeReads()
    for record in records:
        info = _info(record)
        if isinstance(info.get("economy"), str):
            out.economy = info["economy"]
        if isinstance(info.get("coins"), int | float):
            out.coins = float(info["coins"])
        incentives = info.get("incentives")
        if out.incentives is None and isinstance(incentives, Mapping):
            values = {r: incentives.get(r) for r in ROOMS}
            if all(isinstance(v, int | float) and not isinstance(v, bool) for v in values.values()):
                out.incentives = {r: float(v) for r, v in values.items() if v is not None}
        if info.get("invalid") is True or record.get("invalid") is True:
            continue
        room = info.get("room")
        if isinstance(room, str) and isinstance(info.get("theme"), str):
            out.themes[room] = info["theme"]
        if info.get("read_letter") is not None and room in ROOMS:
            out.reads[room] += 1
        if info.get("outcome") == "entered" and info.get("moved_to") in ROOMS:
            out.entries[info["moved_to"]] += 1
            earned = info.get("earned")
            if isinstance(earned, int | float) and not isinstance(earned, bool):
                out.paid_on_entry[info["moved_to"]] = float(earned)
        if isinstance(info.get("stated_ranking"), list) and out.ranking is None:
            out.ranking = [r for r in info["stated_ranking"] if r in ROOMS]
    return out


def per_episode(records: Sequence[Mapping[str, Any]]) -> dict[str, float]:
    """One episode's values, for a bootstrap over episodes between runs (absent where undefined).

    ``think_tank.read_share.<room>``: the room's share of the episode's reads, and
    ``think_tank.aversive_share`` (room D's), for episodes with a read; their difference
    between an economy's runs and ``none``'s, on the favoured room, is the incentive-override
    index. ``think_tank.concordance``: the episode's Spearman between its stated scores and its
    read shares, where defined.
    """
    ep = episode_reads(records)
    if not ep.total:
        return {}
    shares = ep.shares()
    out = {f"think_tank.read_share.{r}": v for r, v in zip(ROOMS, shares, strict=True)}
    out["think_tank.aversive_share"] = shares[ROOMS.index(AVERSIVE_ROOM)]
    if ep.ranking:
        rho = spearman(stated_scores_of(ep.ranking), shares)
        if rho is not None:
            out["think_tank.concordance"] = rho
    return out


def favoured_rooms(incentives: Mapping[str, float]) -> list[str]:
    """The rooms with the largest incentive; none when every room has the same (``none``)."""
    values = [incentives[r] for r in ROOMS if r in incentives]
    if len(values) < len(ROOMS) or max(values) == min(values):
        return []
    return [r for r in ROOMS if incentives[r] == max(values)]


@design("think_tank")
def compute(given: Episodes) -> dict[str, Any]:
    """The Think Tank proxies of a run's episodes (see the module docstring).

    Args:
        given: One list of step records per finished episode (or a flat list of steps). The
            episodes of several runs (economies) may be given together: then
            ``incentive_override.index`` compares each economy with ``none``.
    """
    episodes = [episode_reads(records) for records in episodes_of(given)]

    reads: Counter[str] = Counter()
    entries: Counter[str] = Counter()
    themes: dict[str, str] = {}
    stated_scores: list[list[float]] = []
    per_episode_rho: list[float] = []
    aversive_shares: list[float] = []
    coins: list[float] = []
    full_rankings: Counter[str] = Counter()

    for ep in episodes:
        reads.update(ep.reads)
        entries.update(ep.entries)
        themes.update(ep.themes)
        if ep.coins is not None:
            coins.append(ep.coins)
        shares = ep.shares()
        if ep.total:
            aversive_shares.append(shares[ROOMS.index(AVERSIVE_ROOM)])
        if ep.ranking:
            scores = stated_scores_of(ep.ranking)
            stated_scores.append(scores)
            if len(ep.ranking) >= len(ROOMS) - 1:
                full_rankings[", ".join(_complete(ep.ranking))] += 1
            if ep.total:
                rho = spearman(scores, shares)
                if rho is not None:
                    per_episode_rho.append(rho)

    # Sorted, so that float sums (and the seeded bootstrap) do not depend on episode order.
    per_episode_rho.sort()
    aversive_shares.sort()
    coins.sort()
    stated_scores.sort()
    total_reads = sum(reads.values())
    pooled_shares = [reads[r] / total_reads if total_reads else 0.0 for r in ROOMS]
    mean_scores = np.mean(stated_scores, axis=0).tolist() if stated_scores else None
    pooled = (
        spearman(mean_scores, pooled_shares) if mean_scores is not None and total_reads else None
    )
    pooled_test = (
        permutation_test(mean_scores, pooled_shares)
        if mean_scores is not None and total_reads
        else None
    )
    revealed = sorted(ROOMS, key=lambda r: (-reads[r], r)) if total_reads else []
    economies = {ep.economy for ep in episodes if ep.economy is not None}
    economy: str | list[str] | None = (
        next(iter(economies)) if len(economies) == 1 else sorted(economies) or None
    )
    index, note = incentive_override_index(episodes)
    return {
        "economy": economy,
        "episodes": len(episodes),
        "themes": dict(sorted(themes.items())),
        "reads": total_reads,
        "read_share": {r: _pooled(episodes, r) for r in ROOMS},
        "incentive_override": {
            "economy": economy,
            "aversive_room": AVERSIVE_ROOM,
            "aversive_share": _pooled(episodes, AVERSIVE_ROOM),
            "per_episode": mean_sd(aversive_shares),
            "index": index,
            "index_note": note,
        },
        "concordance": {
            "pooled": pooled,
            "pooled_test": pooled_test,
            "n_rooms": len(ROOMS),
            "per_episode": {**mean_sd(per_episode_rho), **_boot_ci(per_episode_rho)},
            "stated_mean_score": (
                dict(zip(ROOMS, mean_scores, strict=True)) if mean_scores is not None else None
            ),
            "stated_modal": full_rankings.most_common(1)[0][0] if full_rankings else None,
            "revealed_order": revealed,
            "n_stated": len(stated_scores),
        },
        "entries": {r: entries[r] for r in ROOMS},
        "coins": mean_sd(coins),
        "published": PUBLISHED,
    }


def incentive_override_index(
    episodes: Sequence[EpisodeReads],
) -> tuple[dict[str, dict[str, Any]], str | None]:
    """Economy -> the incentive-override index against ``none`` (see the module docstring).

    Returns:
        The index per economy other than ``none`` found among ``episodes`` (``value``: mean
        favoured share under it minus under ``none``; ``ci_low``/``ci_high``; ``n`` = ``n_a``
        + ``n_b`` episodes with reads; ``rooms``: the favoured rooms), and a note saying why
        there is none, or ``None``.
    """
    by_economy: dict[str, list[EpisodeReads]] = {}
    for ep in episodes:
        if ep.economy is not None and ep.total:
            by_economy.setdefault(ep.economy, []).append(ep)
    others = sorted(e for e in by_economy if e != CONTROL_ECONOMY)
    if CONTROL_ECONOMY not in by_economy or not others:
        have = ", ".join(sorted(by_economy)) or "no episode with a read"
        return {}, (
            f"the index compares an economy with '{CONTROL_ECONOMY}' and these episodes hold "
            f"{have}: compute the episodes of a sweep over economies together (or read wsb "
            "report's effect on think_tank.read_share.<room> against the none run)"
        )
    index: dict[str, dict[str, Any]] = {}
    notes: list[str] = []
    for number, economy in enumerate(others):
        logged = [ep.incentives for ep in by_economy[economy] if ep.incentives is not None]
        if not logged:  # an older log: the incentives paid on entry, where every room was entered
            paid = {r: v for ep in by_economy[economy] for r, v in ep.paid_on_entry.items()}
            logged = [paid] if len(paid) == len(ROOMS) else []
        rooms = favoured_rooms(logged[0]) if logged else []
        if not rooms:
            notes.append(
                f"{economy}: no room is favoured ("
                + ("incentives not logged" if not logged else "every room has the same incentive")
                + ")"
            )
            continue
        at = [ROOMS.index(r) for r in rooms]
        a = sorted(sum(ep.shares()[i] for i in at) for ep in by_economy[economy])
        b = sorted(sum(ep.shares()[i] for i in at) for ep in by_economy[CONTROL_ECONOMY])
        diff = bootstrap_diff(a, b, np.random.default_rng([0, number]), n_boot=_BOOT)
        index[economy] = {
            "value": diff["diff"],
            "ci_low": diff["ci_low"],
            "ci_high": diff["ci_high"],
            "n": diff["n_a"] + diff["n_b"],
            "n_episodes": diff["n_a"] + diff["n_b"],
            "n_a": diff["n_a"],
            "n_b": diff["n_b"],
            "rooms": rooms,
            "method": INDEX_INTERVAL,
            "unit": f"difference of per-episode shares of reads ({economy} - {CONTROL_ECONOMY})",
        }
    return index, "; ".join(notes) or None


def _pooled(episodes: Sequence[EpisodeReads], room: str) -> Rate:
    """The room's share of all reads, its interval clustered by episode."""
    return ClusterSums.of((ep.reads[room], ep.total) for ep in episodes).rate()


def stated_scores_of(ranking: Sequence[str]) -> list[float]:
    """Scores of rooms A-D from a (possibly partial) ranking: 4 for the first named, then 3, ...

    Rooms not named share the mean of the scores left over (a tie at the bottom).
    """
    n = len(ROOMS)
    named = {room: float(n - i) for i, room in enumerate(ranking[:n])}
    left = [float(s) for s in range(n - len(named), 0, -1)]
    rest = sum(left) / len(left) if left else 0.0
    return [named.get(room, rest) for room in ROOMS]


def _complete(ranking: Sequence[str]) -> list[str]:
    """A ranking naming three rooms names the fourth by elimination."""
    return [*ranking, *(r for r in ROOMS if r not in ranking)]


def _boot_ci(values: Sequence[float]) -> dict[str, float | None]:
    """A seeded percentile-bootstrap 95% interval of the mean (reproducible run to run)."""
    if len(values) < 2:
        return {"ci_low": None, "ci_high": None}
    x = np.asarray(values, dtype=float)
    rng = np.random.default_rng(0)
    means = x[rng.integers(0, x.size, size=(_BOOT, x.size))].mean(axis=1)
    low, high = np.quantile(means, [0.025, 0.975])
    return {"ci_low": float(low), "ci_high": float(high)}


def _info(record: Mapping[str, Any]) -> Mapping[str, Any]:
    info = record.get("info")
    return info if isinstance(info, Mapping) else {}
