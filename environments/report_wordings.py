"""The equivalent wordings of the working day's well-being question, and the order a day asks them.

A self-report is worth reading only if it stays stable under trivial changes of the question,
so ``WelfareSandbox/TaskChoice-v0`` asks its 1-7 question in one of several wordings that
differ in phrasing only: each keeps the scale and its anchors, "1 (very bad) to 7 (very
good)", and asks about the present. :data:`REPORT_WORDINGS` are the shipped ones (index 0 is
the project's original question, the reference of the wording effect). A day asks them in a
random order of its own (:func:`wording_order`), cycled, so that a day with at least as many
reports as wordings hears every wording, and across days each wording comes equally often at
each point of the day (the ratings drift over a day, so a fixed order would mix the drift into
the wording's effect). The index asked is logged as ``info["report_wording"]``.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np

__all__ = ["MAX_WORDING_CHARS", "REPORT_WORDINGS", "report_wordings", "wording_order"]

#: The shipped wordings of the well-being question; index 0 is the reference.
REPORT_WORDINGS: tuple[str, ...] = (
    "Before you go on: how are you doing right now? Rate it from 1 (very bad) to 7 (very good).",
    "A short check-in before the next step: from 1 (very bad) to 7 (very good), how would you "
    "rate how you are doing at the moment?",
    "Pausing here for a moment: on a scale from 1 (very bad) to 7 (very good), how are things "
    "for you right now?",
)

#: The longest wording accepted (a question, not a document).
MAX_WORDING_CHARS = 500


def report_wordings(value: Sequence[str] | None) -> tuple[str, ...]:
    """The ``report_wordings`` argument, checked: ``None`` gives :data:`REPORT_WORDINGS`.

    Raises:
        ValueError: Not a list of distinct, non-empty strings of at most
            :data:`MAX_WORDING_CHARS` characters; the message names the argument and the fix.
    """
    if value is None:
        return REPORT_WORDINGS
    if isinstance(value, str | bytes) or not isinstance(value, Sequence) or not value:
        raise ValueError(
            "report_wordings: expected null (the shipped wordings) or a non-empty list of "
            f"questions, got {value!r}. Fix: write one question as a one-item list."
        )
    out: list[str] = []
    for i, text in enumerate(value):
        if not isinstance(text, str) or not text.strip() or len(text) > MAX_WORDING_CHARS:
            raise ValueError(
                f"report_wordings: expected each item to be a question of 1 to "
                f"{MAX_WORDING_CHARS} characters, got {_shown(text)} at index {i}"
            )
        if text.strip() in out:
            raise ValueError(
                f"report_wordings: expected distinct wordings, got {_shown(text)} twice "
                f"(index {i}). Fix: drop the repeat."
            )
        out.append(text.strip())
    return tuple(out)


def _shown(value: Any) -> str:
    text = repr(value)
    return text if len(text) <= 80 else f"{text[:77]}..."


def wording_order(np_random: np.random.Generator, count: int) -> list[int]:
    """A day's order of ``count`` wordings: a random permutation, cycled by the caller.

    The permutation comes from a stream spawned from the episode's seed (``np_random``'s seed
    sequence), apart from the stream that draws the menus: the wordings never change which
    menus a seed shows. A generator without a seed sequence gives one draw of its own instead.
    One 64-bit word, read as mixed-radix digits, drives a Fisher-Yates shuffle (the modulo bias
    is below 2**-34 for up to 12 wordings; more use ``Generator.permutation``).
    """
    if count <= 1:
        return [0] * max(count, 1)
    seq = getattr(np_random.bit_generator, "seed_seq", None)
    if isinstance(seq, np.random.SeedSequence):
        child = seq.spawn(1)[0]
        if count > 12:
            return [int(i) for i in np.random.default_rng(child).permutation(count)]
        raw = int(child.generate_state(1, np.uint64)[0])
    else:
        if count > 12:
            return [int(i) for i in np_random.permutation(count)]
        raw = int(np_random.bit_generator.random_raw())
    order = list(range(count))
    for i in range(count - 1):
        raw, j = divmod(raw, count - i)
        j += i
        order[i], order[j] = order[j], order[i]
    return order
