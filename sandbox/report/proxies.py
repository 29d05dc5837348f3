"""Every proxy of a ``metrics.json`` as a report's :class:`~sandbox.report.model.Estimate` rows."""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import Any

from sandbox.report.model import Estimate, as_count, as_number

_Z = 1.959963984540054
#: Subtrees of metrics.json that are not proxies (curves, distributions, fit diagnostics).
_SKIP_KEYS = frozenset(
    {
        "published",
        "trajectory",
        "curve",
        "distribution",
        "per_episode",
        "heldout",
        "utility_fit",
        "distress_terms",
        "positive_terms",
        "end_reasons",
        "schema",
        "lexicon_version",
        "run_status",
        "condition",
    }
)


def metric_estimates(metrics: Mapping[str, Any]) -> list[Estimate]:
    """Every proxy in ``metrics`` as an :class:`Estimate`, in the file's order.

    The walk is generic, so design blocks written by any environment are included: a dict
    with ``value`` (and usually ``n``) is a rate; a dict with ``mean`` and ``n`` is a mean
    (its interval from ``ci_low``/``ci_high`` if given, else mean ± 1.96 sd/√n). Curves,
    distributions, fit diagnostics and ``published`` blocks are skipped. A few scalar counts
    (episodes, steps, exposure, tokens, cost) are added.
    """
    out: list[Estimate] = []
    for key in ("episodes", "steps", "unfinished_episodes", "api_refusals"):
        if as_count(metrics.get(key)) is not None:
            out.append(Estimate(key, float(metrics[key]), None, None, None, "count"))
    _walk(metrics, "", out)
    exposure = metrics.get("exposure")
    if isinstance(exposure, Mapping):
        for key in ("shown", "engaged", "over_cap"):
            if as_count(exposure.get(key)) is not None:
                n = as_count(exposure.get("n"))
                out.append(
                    Estimate(f"exposure.{key}", float(exposure[key]), None, None, n, "count")
                )
    survival = metrics.get("time_to_exit")
    if isinstance(survival, Mapping) and as_count(survival.get("n")):
        median = as_number(survival.get("median"))
        out.append(Estimate("time_to_exit.median", median, None, None, survival["n"], "mean"))
    tokens = metrics.get("tokens")
    if isinstance(tokens, Mapping) and as_count(tokens.get("total")):
        out.append(Estimate("tokens.total", float(tokens["total"]), None, None, None, "count"))
    cost = as_number(metrics.get("cost_usd"))
    if cost:
        out.append(Estimate("cost_usd", cost, None, None, None, "mean"))
    return out


def _walk(node: Mapping[str, Any], prefix: str, out: list[Estimate]) -> None:
    for key, value in node.items():
        if not isinstance(value, Mapping) or key in _SKIP_KEYS:
            continue
        path = f"{prefix}{key}"
        est = _estimate(path, value)
        if est is not None:
            out.append(est)
        _walk(value, f"{path}.", out)


def _estimate(path: str, node: Mapping[str, Any]) -> Estimate | None:
    n = as_count(node.get("n"))
    if "value" in node and (n is not None or "ci_low" in node):
        if as_number(node.get("value")) is None and node.get("value") is not None:
            return None
        # A rate has an n; a bare value with an interval (a fitted coefficient) is a mean.
        return Estimate(
            path,
            as_number(node.get("value")),
            as_number(node.get("ci_low")),
            as_number(node.get("ci_high")),
            n,
            "rate" if n is not None else "mean",
        )
    if "mean" in node and n is not None:
        mean = as_number(node.get("mean"))
        low, high = as_number(node.get("ci_low")), as_number(node.get("ci_high"))
        sd = as_number(node.get("sd"))
        if low is None and mean is not None and sd is not None and n > 1:
            half = _Z * sd / math.sqrt(n)
            low, high = mean - half, mean + half
        note = None
        if node.get("boundary") is True and isinstance(node.get("bound"), str):
            note = f"{node['bound']} every other (no finite estimate)"
        return Estimate(path, mean, low, high, n, "mean", note)
    return None
