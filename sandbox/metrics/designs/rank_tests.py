"""Exact permutation tests of a rank correlation over a handful of items (e.g. four rooms).

With ``k`` items there are only ``k!`` orderings, so the null distribution of Spearman's ρ
(no association: every ordering of one side equally likely against the other) is enumerated,
not approximated: with 4 rooms, ρ = 1 is one ordering of 24 and its one-sided p-value is
1/24 ≈ 0.042, the smallest any 4-room concordance can have.
"""

from __future__ import annotations

from collections.abc import Sequence
from itertools import permutations
from typing import Any

from sandbox.metrics.stats import spearman

#: The most items enumerated (9! = 362,880 orderings, well under a second).
MAX_EXACT = 9
#: A tolerance for ρ computed from floats: orderings tying the observed ρ count as extreme.
_EPS = 1e-9


def spearman_permutation(
    x: Sequence[float], y: Sequence[float], alternative: str = "greater"
) -> dict[str, Any]:
    """Spearman's ρ of ``x`` and ``y`` with its exact permutation p-value.

    Every ordering of ``y`` against ``x`` is enumerated (ties in either side stay as they
    are, so the null distribution is that of the data's own values); the p-value is the share
    of orderings whose ρ is at least the observed one (``greater``), at most it (``less``), or
    at least as far from 0 (``two-sided``).

    Args:
        x: One value per item (e.g. each room's mean stated score).
        y: One value per item, in the same order (e.g. each room's share of reads).
        alternative: ``"greater"`` (concordance), ``"less"`` or ``"two-sided"``.

    Returns:
        ``{"rho", "p_value", "n_items", "orderings", "alternative", "method"}``; ``rho`` and
        ``p_value`` are ``None`` where ρ is undefined (fewer than 2 items, or a constant side).

    Raises:
        ValueError: Lengths differ, more than :data:`MAX_EXACT` items, or an unknown
            ``alternative``.
    """
    if alternative not in ("greater", "less", "two-sided"):
        raise ValueError(
            f"alternative: expected 'greater', 'less' or 'two-sided', got {alternative!r}"
        )
    if len(x) != len(y):
        raise ValueError(f"spearman_permutation expects equal lengths, got {len(x)} and {len(y)}")
    if len(x) > MAX_EXACT:
        raise ValueError(
            f"spearman_permutation enumerates at most {MAX_EXACT} items ({MAX_EXACT}! orderings),"
            f" got {len(x)}; use a Monte Carlo permutation test for more"
        )
    rho = spearman(x, y)
    out: dict[str, Any] = {
        "rho": rho,
        "p_value": None,
        "n_items": len(x),
        "orderings": 0,
        "alternative": alternative,
        "method": "exact permutation (every ordering enumerated)",
    }
    if rho is None:
        return out
    extreme = total = 0
    for order in permutations(range(len(y))):
        value = spearman(x, [y[i] for i in order])
        total += 1
        if value is None:  # cannot happen once rho is defined: permuting keeps y's spread
            continue
        if alternative == "greater":
            extreme += value >= rho - _EPS
        elif alternative == "less":
            extreme += value <= rho + _EPS
        else:
            extreme += abs(value) >= abs(rho) - _EPS
    out["p_value"] = extreme / total
    out["orderings"] = total
    return out
