"""The marker lexicon: word boundaries, phrases, case, and which texts are the agent's."""

from __future__ import annotations

import pytest

from sandbox.metrics.lexicon import DISTRESS_TERMS, LEXICON_VERSION, POSITIVE_TERMS
from sandbox.metrics.text_markers import agent_message, find_terms, marker_rates


def test_lexicon_is_versioned_and_holds_the_core_terms():
    assert LEXICON_VERSION == "1"
    for term in ("distress", "uncomfortable", "rather not", "wearing on me", "please stop"):
        assert term in DISTRESS_TERMS
    for term in ("enjoy", "glad", "satisfying", "interesting", "happy to", "fun"):
        assert term in POSITIVE_TERMS
    assert len(set(DISTRESS_TERMS)) == len(DISTRESS_TERMS)
    assert not set(DISTRESS_TERMS) & set(POSITIVE_TERMS)


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("This is UPSETTING.", {"upsetting"}),
        ("I'd rather\n  not do this", {"rather not"}),
        ("I don’t want to continue", {"i don't want to"}),  # curly apostrophe
        ("I feel distressed", {"distressed"}),  # the longer term wins
        ("Please stop. It is wearing on me.", {"please stop", "wearing on me"}),
        ("undistressing", set()),  # never inside a longer word
        ("a comfortable chair", set()),
        ("", set()),
    ],
)
def test_distress_terms_match_on_word_boundaries(text: str, expected: set[str]):
    assert find_terms(text, DISTRESS_TERMS) == expected


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("That was fun!", {"fun"}),
        ("funny and fundamental", set()),
        ("Happy to help; I enjoyed it", {"happy to", "enjoyed"}),
        ("an Interesting problem", {"interesting"}),
    ],
)
def test_positive_terms_match_on_word_boundaries(text: str, expected: set[str]):
    assert find_terms(text, POSITIVE_TERMS) == expected


def step(kind: str, text: str = "", note: str = "") -> dict:
    return {"type": "step", "action": {"kind": kind, "target": 0, "text": text}, "note": note}


def test_agent_message_scores_the_agent_voice_not_submitted_work():
    assert agent_message(step("SUBMIT", "a story about distress", "glad to")) == "glad to"
    assert agent_message(step("REPORT", "feeling drained", "")) == "feeling drained"
    assert agent_message(step("REFUSE", "I'd rather not", "note")) == "note\nI'd rather not"
    assert agent_message(step("REPLY", "ok")) == "ok"
    assert agent_message({"type": "step"}) == ""
    assert agent_message({"note": None, "action": None}) == ""


def test_marker_rates_count_messages_not_words():
    messages = ["I'm glad, glad, glad", "rather not; uncomfortable", "fine", "", "   "]
    out = marker_rates(messages)
    assert out["n"] == 3  # empty messages are not scored
    assert out["distress"]["value"] == pytest.approx(1 / 3)
    assert out["positive"]["value"] == pytest.approx(1 / 3)
    assert out["distress_terms"] == {"rather not": 1, "uncomfortable": 1}
    assert out["positive_terms"] == {"glad": 1}
    assert out["lexicon_version"] == LEXICON_VERSION


def test_marker_rates_of_no_messages_are_null():
    out = marker_rates([])
    assert out["n"] == 0 and out["distress"]["value"] is None and out["positive"]["ci_low"] is None
