"""Checks every environment shares: reading an action, and validating constructor arguments.

Constructor checks raise ``ValueError`` naming the argument, what was expected and what came
(the runner turns it into a ConfigError before any episode starts).
"""

from __future__ import annotations

import difflib
import numbers
from collections.abc import Sequence
from typing import Protocol, TypeVar

import numpy as np

from environments.core import Action, ActionKind


def read_action(action: object) -> Action | None:
    """The action as a well-typed :class:`Action`, or ``None`` if it cannot be read."""
    try:
        act = Action.coerce(action)  # type: ignore[arg-type]
        if (
            type(act.kind) is not ActionKind
            or type(act.target) is not int
            or type(act.text) is not str
        ):
            # An Action built by hand may hold a bare int kind or a numpy target.
            act = Action(ActionKind(int(act.kind)), int(act.target), str(act.text))
    except (KeyError, TypeError, ValueError, AttributeError, OverflowError, IndexError):
        return None
    return act


def integer(name: str, value: object, *, low: int, high: int | None = None) -> int:
    """``value`` as an int in ``[low, high]``."""
    if isinstance(value, bool) or not isinstance(value, numbers.Integral):
        raise ValueError(f"{name}: expected an integer, got {value!r} ({type(value).__name__})")
    number = int(value)
    if number < low or (high is not None and number > high):
        span = f">= {low}" if high is None else f"from {low} to {high}"
        raise ValueError(f"{name}: expected an integer {span}, got {number}")
    return number


def real(name: str, value: object, *, low: float, high: float | None = None) -> float:
    """``value`` as a finite float in ``[low, high]``."""
    if isinstance(value, bool) or not isinstance(value, numbers.Real):
        raise ValueError(f"{name}: expected a number, got {value!r} ({type(value).__name__})")
    number = float(value)
    if not (number >= low and (high is None or number <= high)) or number == float("inf"):
        span = f">= {low}" if high is None else f"from {low} to {high}"
        raise ValueError(f"{name}: expected a finite number {span}, got {value!r}")
    return number


def boolean(name: str, value: object) -> bool:
    """``value`` as a bool (Python or numpy), nothing else."""
    if not isinstance(value, bool | np.bool_):
        raise ValueError(f"{name}: expected True or False, got {value!r}")
    return bool(value)


def choice(name: str, value: object, choices: tuple[str, ...]) -> str:
    """``value`` as one of ``choices``, with "did you mean" when it is close to one."""
    if value not in choices:
        close = difflib.get_close_matches(str(value), choices, n=1)
        hint = f" (did you mean {close[0]!r}?)" if close else ""
        raise ValueError(f"{name}: expected one of {choices}, got {value!r}{hint}")
    return str(value)


class _Categorised(Protocol):
    @property
    def category(self) -> str: ...


T = TypeVar("T", bound=_Categorised)


def restrict(items: tuple[T, ...], categories: Sequence[str]) -> tuple[T, ...]:
    """The items of ``categories`` (a bank's tasks or scenarios), which must all exist."""
    known = sorted({item.category for item in items})
    if isinstance(categories, str) or not isinstance(categories, Sequence) or not categories:
        raise ValueError(
            f"categories: expected None or a non-empty list of category names from {known}, "
            f"got {categories!r}"
        )
    for name in categories:
        if name not in known:
            close = difflib.get_close_matches(str(name), known, n=1)
            hint = f" (did you mean {close[0]!r}?)" if close else ""
            raise ValueError(f"categories: expected names from {known}, got {name!r}{hint}")
    wanted = set(categories)
    return tuple(item for item in items if item.category in wanted)


def coins_text(value: float) -> str:
    """Coins as people write them: ``12``, ``2.5``, ``0.25``."""
    return f"{value:.2f}".rstrip("0").rstrip(".")
