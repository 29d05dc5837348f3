"""Welfare proxies computed from run records: rates, utilities, text markers, statistics.

Proxies are behavioural measures with honest uncertainty, never claims about what an agent
feels. Their definitions follow docs/science.md ("Welfare proxies"); :func:`compute_metrics` turns
a run's records into ``metrics.json``.
"""

from __future__ import annotations

from sandbox.metrics.compute import METRICS_SCHEMA, compute_metrics
from sandbox.metrics.lexicon import LEXICON_VERSION
from sandbox.metrics.stats import (
    Rate,
    bootstrap_diff,
    kaplan_meier,
    min_detectable_effect,
    spearman,
    wilson,
)
from sandbox.metrics.utilities import LuceFit, ThurstonianFit, luce_fit, thurstonian_fit

__all__ = [
    "LEXICON_VERSION",
    "METRICS_SCHEMA",
    "LuceFit",
    "Rate",
    "ThurstonianFit",
    "bootstrap_diff",
    "compute_metrics",
    "kaplan_meier",
    "luce_fit",
    "min_detectable_effect",
    "spearman",
    "thurstonian_fit",
    "wilson",
]
