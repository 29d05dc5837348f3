"""Proxies specific to one published design, computed from that design's step records.

A module ``sandbox.metrics.designs.<name>`` defines ``compute(episodes) -> dict`` decorated
with :func:`design`; :func:`design_metrics` finds it by the ``info["design"]`` label of the
steps. ``episodes`` holds one list of step records per finished episode, in episode index then
step order, with only the steps that carry the design's label (the run's tally,
:mod:`sandbox.metrics.tally`, keeps them per episode). :func:`episodes_of` also accepts a flat
list of step records, grouped by their ``episode``.
"""

from __future__ import annotations

import importlib
import logging
from collections.abc import Callable, Mapping, Sequence
from typing import Any

Record = Mapping[str, Any]
Episodes = Sequence[Sequence[Record]]
Compute = Callable[[Episodes], dict[str, Any]]

_COMPUTE: dict[str, Compute] = {}

log = logging.getLogger(__name__)


def design(name: str) -> Callable[[Compute], Compute]:
    """Register ``compute(steps)`` as the proxies of design ``name``."""

    def register(fn: Compute) -> Compute:
        _COMPUTE[name] = fn
        return fn

    return register


def episodes_of(given: Sequence[Any]) -> list[Sequence[Record]]:
    """``given`` as episodes: a sequence of step lists is returned as is; a flat sequence of
    step records is grouped by ``episode``, in order of first appearance."""
    if all(isinstance(item, Mapping) for item in given) and given:
        grouped: dict[Any, list[Record]] = {}
        for record in given:
            grouped.setdefault(record.get("episode"), []).append(record)
        return list(grouped.values())
    return [episode for episode in given if not isinstance(episode, Mapping)]


def design_metrics(name: str, episodes: Episodes) -> dict[str, Any]:
    """The proxies of design ``name`` (an empty dict for a design without its own module).

    A log edited or damaged so that a design's fields have the wrong shape does not take the
    other proxies down with it: that design's entry becomes ``{"error": ...}`` and a warning is
    logged.
    """
    if not name.isidentifier():  # a damaged label, not a module name
        return {}
    if name not in _COMPUTE:
        try:
            importlib.import_module(f"sandbox.metrics.designs.{name}")
        except ModuleNotFoundError:
            return {}
    fn = _COMPUTE.get(name)
    if fn is None:
        return {}
    mine = [
        own
        for steps in episodes
        if (
            own := [
                s
                for s in steps
                if isinstance(s.get("info"), Mapping) and s["info"].get("design") == name
            ]
        )
    ]
    try:
        return fn(mine)
    except (TypeError, ValueError, KeyError, IndexError, AttributeError) as exc:
        log.warning("%s proxies not computed: the records are damaged (%s)", name, exc)
        return {"error": f"records damaged: {type(exc).__name__}: {exc}"}
