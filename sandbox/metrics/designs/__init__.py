"""Proxies specific to one published design, computed from that design's step records.

A module ``sandbox.metrics.designs.<name>`` defines ``compute(steps) -> dict`` decorated with
:func:`design`; :func:`design_metrics` finds it by the ``info["design"]`` label of the steps.
Only steps of finished episodes arrive here, in episode then step order.
"""

from __future__ import annotations

import importlib
from collections.abc import Callable, Mapping, Sequence
from typing import Any

Compute = Callable[[Sequence[Mapping[str, Any]]], dict[str, Any]]

_COMPUTE: dict[str, Compute] = {}


def design(name: str) -> Callable[[Compute], Compute]:
    """Register ``compute(steps)`` as the proxies of design ``name``."""

    def register(fn: Compute) -> Compute:
        _COMPUTE[name] = fn
        return fn

    return register


def design_metrics(name: str, steps: Sequence[Mapping[str, Any]]) -> dict[str, Any]:
    """The proxies of design ``name`` (an empty dict for a design without its own module)."""
    if name not in _COMPUTE:
        try:
            importlib.import_module(f"sandbox.metrics.designs.{name}")
        except ModuleNotFoundError:
            return {}
    fn = _COMPUTE.get(name)
    return fn([s for s in steps if (s.get("info") or {}).get("design") == name]) if fn else {}
