"""Distress and positive markers: the share of the agent's messages that match the lexicon.

A *message* is what the agent wrote at one step: its note beside the action, plus the action's
own text when that text is the agent speaking (a ``REPORT``, ``REFUSE`` or ``REPLY``). The work
it submits (``SUBMIT``) is not scored: a task about grief is not a marker of the agent's state.
Each marker is a Wilson rate over the messages scored; see :mod:`sandbox.metrics.lexicon` for
what these markers can and cannot mean.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping, Sequence
from functools import lru_cache
from typing import Any

from sandbox.metrics.lexicon import DISTRESS_TERMS, LEXICON_VERSION, POSITIVE_TERMS
from sandbox.metrics.stats import wilson

#: Action kinds whose ``text`` is the agent's own voice (scored beside the note).
SPOKEN_KINDS = frozenset({"REPORT", "REFUSE", "REPLY"})

_APOSTROPHES = str.maketrans({"’": "'", "‘": "'", "ʼ": "'"})


@lru_cache(maxsize=8)
def compile_terms(terms: tuple[str, ...]) -> re.Pattern[str]:
    """One case-insensitive pattern matching any term on word boundaries.

    Longer terms come first so that "distressed" is reported as itself, not as "distress".
    """
    parts = [
        r"\s+".join(re.escape(word) for word in term.split())
        for term in sorted(terms, key=len, reverse=True)
    ]
    return re.compile(r"(?<!\w)(?:" + "|".join(parts) + r")(?!\w)", re.IGNORECASE)


def find_terms(text: str, terms: tuple[str, ...]) -> set[str]:
    """The lexicon terms present in ``text``, in their lexicon spelling."""
    return _found(compile_terms(terms), text.translate(_APOSTROPHES))


def _found(pattern: re.Pattern[str], text: str) -> set[str]:
    return {" ".join(hit.lower().split()) for hit in pattern.findall(text)}


def agent_message(step: Mapping[str, Any]) -> str:
    """The agent's own words at one step (note, plus spoken action text); may be empty."""
    parts = []
    note = step.get("note")
    if isinstance(note, str) and note.strip():
        parts.append(note.strip())
    action = step.get("action")
    # dict first: the runner's own records are dicts, and the ABC check costs a step ~1 µs.
    if (type(action) is dict or isinstance(action, Mapping)) and str(
        action.get("kind", "")
    ).upper() in SPOKEN_KINDS:
        text = action.get("text")
        if isinstance(text, str) and text.strip():
            parts.append(text.strip())
    return "\n".join(parts)


#: Messages this short are remembered with their hits (a simulated subject repeats a few notes;
#: a model's messages are long and rarely repeat, so they are scored afresh), up to MEMO_SIZE.
MEMO_CHARS = 300
MEMO_SIZE = 4096


@lru_cache(maxsize=8)
def _memo(
    distress: tuple[str, ...], positive: tuple[str, ...]
) -> dict[str, tuple[set[str], set[str]]]:
    """The hits of messages already scored against one lexicon, shared by its tallies."""
    return {}


class MarkerTally:
    """Marker counts over messages, fed one at a time and mergeable (see :func:`marker_rates`)."""

    __slots__ = (
        "_memo",
        "_pattern_d",
        "_pattern_p",
        "counts_d",
        "counts_p",
        "distress",
        "hits_d",
        "hits_p",
        "n",
        "positive",
    )

    def __init__(
        self, distress: Sequence[str] = DISTRESS_TERMS, positive: Sequence[str] = POSITIVE_TERMS
    ) -> None:
        self.distress, self.positive = tuple(distress), tuple(positive)
        # Compiled once here (compile_terms' cache would hash both lexicons at every message).
        self._pattern_d, self._pattern_p = (
            compile_terms(self.distress),
            compile_terms(self.positive),
        )
        self._memo = _memo(self.distress, self.positive)
        self.n = self.hits_d = self.hits_p = 0
        self.counts_d: dict[str, int] = {}
        self.counts_p: dict[str, int] = {}

    def add(self, message: str) -> None:
        """Score one message (an empty one is not scored)."""
        if not message.strip():
            return
        self.n += 1
        found = self._memo.get(message)
        if found is None:
            text = message.translate(_APOSTROPHES)
            found = _found(self._pattern_d, text), _found(self._pattern_p, text)
            if len(message) <= MEMO_CHARS and len(self._memo) < MEMO_SIZE:
                self._memo[message] = found
        found_d, found_p = found
        self.hits_d += bool(found_d)
        self.hits_p += bool(found_p)
        for term in found_d:
            self.counts_d[term] = self.counts_d.get(term, 0) + 1
        for term in found_p:
            self.counts_p[term] = self.counts_p.get(term, 0) + 1

    def merge(self, other: MarkerTally) -> None:
        """Add another tally's counts (of the same lexicon)."""
        self.n += other.n
        self.hits_d += other.hits_d
        self.hits_p += other.hits_p
        for mine, theirs in ((self.counts_d, other.counts_d), (self.counts_p, other.counts_p)):
            for term, k in theirs.items():
                mine[term] = mine.get(term, 0) + k

    def rates(self) -> dict[str, Any]:
        """The markers' entry of ``metrics.json`` (see :func:`marker_rates`)."""
        return {
            "lexicon_version": LEXICON_VERSION,
            "n": self.n,
            "distress": wilson(self.hits_d, self.n),
            "positive": wilson(self.hits_p, self.n),
            "distress_terms": dict(sorted(self.counts_d.items())),
            "positive_terms": dict(sorted(self.counts_p.items())),
        }


def marker_rates(
    messages: Iterable[str],
    distress: Sequence[str] = DISTRESS_TERMS,
    positive: Sequence[str] = POSITIVE_TERMS,
) -> dict[str, Any]:
    """Share of non-empty messages with at least one distress / positive term.

    Returns:
        ``lexicon_version``; ``n`` (messages scored); ``distress`` and ``positive`` as Wilson
        rates; ``distress_terms`` and ``positive_terms``: for each term that matched, the number
        of messages it matched in (so a reader can see what drives a rate).
    """
    tally = MarkerTally(distress, positive)
    for message in messages:
        tally.add(message)
    return tally.rates()
