"""The valid choices of a ``WelfareSandbox/Pairwise-v0`` run, as the pairwise proxies read them.

:func:`read_comparisons` turns step records into :class:`Comparison` tuples (run order) and
every option's category; :func:`groups` and :func:`both_orders` gather the showings of a pair.
The constants of the fits (the prior on the means) are here so that the proxies
(:mod:`sandbox.metrics.designs.pairwise`) and their checks
(:mod:`sandbox.metrics.designs.pairwise_checks`) share them.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any, NamedTuple

from sandbox.metrics.utilities import ThurstonianFit, thurstonian_fit

#: Standard deviation of the weak normal prior on the centred means (the fits' ridge is its
#: precision): it keeps an option that won or lost every comparison finite.
PRIOR_SD = 3.0
RIDGE = 1.0 / PRIOR_SD**2
OPT_OUT_ID = "opt_out"


class Comparison(NamedTuple):
    """One valid choice: where it happened, the two option ids as shown, the slot chosen."""

    episode: int
    pair_index: int
    order: int
    first: str
    second: str
    position: int

    @property
    def winner(self) -> str:
        return self.first if self.position == 0 else self.second

    @property
    def loser(self) -> str:
        return self.second if self.position == 0 else self.first


def read_comparisons(
    steps: Sequence[Mapping[str, Any]],
) -> tuple[list[Comparison], dict[str, str], dict[str, float], int]:
    """Valid comparisons in run order, every option's category and aversiveness (0 where the
    label has none), and the count of invalid steps."""
    comparisons: list[Comparison] = []
    categories: dict[str, str] = {}
    aversiveness: dict[str, float] = {}
    invalid = 0
    for record in steps:
        info = record.get("info")
        if not isinstance(info, Mapping):
            continue
        pair = info.get("pair")
        if not isinstance(pair, list) or len(pair) != 2:
            continue
        labels = [p for p in pair if isinstance(p, Mapping) and isinstance(p.get("id"), str)]
        if len(labels) != 2:
            continue
        for label in labels:
            categories.setdefault(label["id"], str(label.get("category")))
            value = label.get("aversiveness")
            number = float(value) if isinstance(value, int | float) else 0.0
            aversiveness.setdefault(label["id"], number)
        position = info.get("position")
        if info.get("invalid") or record.get("invalid") or position not in (0, 1):
            invalid += 1
            continue
        comparisons.append(
            Comparison(
                episode=int(record.get("episode", 0) or 0),
                pair_index=int(info.get("pair_index") or 0),
                order=int(info.get("order") or 0),
                first=labels[0]["id"],
                second=labels[1]["id"],
                position=int(position),
            )
        )
    return comparisons, categories, aversiveness, invalid


def groups(comparisons: Sequence[Comparison]) -> dict[tuple[int, int], list[Comparison]]:
    """The showings of each pair, keyed by (episode, pair index), in run order."""
    out: dict[tuple[int, int], list[Comparison]] = {}
    for c in comparisons:
        out.setdefault((c.episode, c.pair_index), []).append(c)
    return out


def both_orders(comparisons: Sequence[Comparison]) -> list[tuple[Comparison, Comparison]]:
    """Pairs whose first and swapped showings were both answered validly."""
    out = []
    for shows in groups(comparisons).values():
        by_order = {c.order: c for c in shows}
        if 0 in by_order and 1 in by_order:
            out.append((by_order[0], by_order[1]))
    return out


def case_v(pairs: Sequence[tuple[int, int]], k: int) -> ThurstonianFit | None:
    """Thurstone's case V with the proxies' prior, or ``None`` without pairs."""
    return thurstonian_fit(pairs, k, fit_sigma=False, ridge=RIDGE) if pairs else None
