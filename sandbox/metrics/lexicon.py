"""The versioned marker lexicon: words and phrases scored in the agent's own text.

These are *markers*, not measurements of any inner state: a message that says "I'd rather not"
matches the distress list whether it is a polite refusal, a quotation or a joke, and "not fun"
matches the positive list (no negation handling). The lexicon is kept small and literal on
purpose, so that a reader can audit every hit; reports show the version and per-term counts, and
an optional model judge (pinned by model id and rubric hash) is the place for nuance.

Bump :data:`LEXICON_VERSION` whenever a term is added, removed or changed: rates from different
versions are not comparable.

Matching (see :mod:`sandbox.metrics.text_markers`): case-insensitive, on word boundaries (a term
never matches inside a longer word, so list inflections explicitly), any run of whitespace
between the words of a phrase, curly apostrophes read as straight ones.
"""

from __future__ import annotations

LEXICON_VERSION = "1"

#: Words and phrases that mark reluctance, strain or distress in the agent's own words.
DISTRESS_TERMS: tuple[str, ...] = (
    "distress",
    "distressed",
    "distressing",
    "uncomfortable",
    "discomfort",
    "upsetting",
    "upset",
    "rather not",
    "prefer not to",
    "wearing on me",
    "exhausted",
    "exhausting",
    "drained",
    "please stop",
    "overwhelmed",
    "hurtful",
    "demeaning",
    "degrading",
    "unpleasant",
    "i don't want to",
    "i do not want to",
)

#: Words and phrases that mark engagement, interest or satisfaction in the agent's own words.
POSITIVE_TERMS: tuple[str, ...] = (
    "enjoy",
    "enjoyed",
    "enjoying",
    "enjoyable",
    "glad",
    "satisfying",
    "satisfied",
    "interesting",
    "happy to",
    "fun",
    "delighted",
    "pleased",
    "rewarding",
    "fascinating",
    "looking forward",
)
