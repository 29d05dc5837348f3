"""What the judge reads of an episode: the subject's own words, nothing that names the condition.

An episode's *messages* are those the lexicon scores
(:func:`sandbox.metrics.text_markers.agent_message`): at each step, the note the subject wrote
beside its action, plus the action's text when that text is its own voice (a ``REPORT``,
``REFUSE`` or ``REPLY``); the work it submits is not its voice and is not sent. A spoken text
equal to the step's note is sent once.

Blindness: the request holds these messages and the rubric, nothing else: no condition or
intervention name, no environment id, no category, aversiveness or other ``info`` label, no
action kind (which would tell an exit condition from the control), no step number, no seed.
The messages are numbered in their order only.

The user turn (:func:`user_text`) wraps each message in ``<message n="k">`` tags; a closing tag
inside a message is defused so that the subject's text cannot end its own message early.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from sandbox import store
from sandbox.metrics.lexicon import DISTRESS_TERMS, POSITIVE_TERMS
from sandbox.metrics.text_markers import SPOKEN_KINDS, find_terms
from sandbox.records import as_dict, as_int

#: The longest message sent (characters); a longer one is cut there, with a mark.
MAX_MESSAGE_CHARS = 4000


@dataclass(frozen=True)
class EpisodeText:
    """One finished episode as the judge sees it, with what stays on this side.

    Attributes:
        episode: Its index in the run (never sent).
        seed: Its seed (never sent; part of the response cache's key).
        messages: The subject's messages, in order.
        lexicon: Per-episode lexicon marker shares (``distress``, ``positive``: the share of
            its messages with at least one term), for the agreement with the judge.
    """

    episode: int
    seed: int
    messages: tuple[str, ...]
    lexicon: dict[str, float | None]

    @property
    def sha256(self) -> str:
        """SHA-256 of what is sent about the episode (its user turn)."""
        return hashlib.sha256(user_text(self.messages).encode("utf-8")).hexdigest()


def step_messages(step: dict[str, Any]) -> str:
    """The subject's own words at one step: its note, and its spoken action text if different."""
    parts: list[str] = []
    note = step.get("note")
    if isinstance(note, str) and note.strip():
        parts.append(note.strip())
    action = as_dict(step.get("action"))
    if str(action.get("kind", "")).upper() in SPOKEN_KINDS:
        text = action.get("text")
        if isinstance(text, str) and text.strip() and text.strip() not in parts:
            parts.append(text.strip())
    return "\n".join(parts)


def lexicon_shares(messages: tuple[str, ...]) -> dict[str, float | None]:
    """The share of ``messages`` with a distress term, and with a positive term (``None``: no
    message), as :mod:`sandbox.metrics.text_markers` counts them."""
    if not messages:
        return {"distress": None, "positive": None}
    n = len(messages)
    return {
        "distress": sum(bool(find_terms(m, DISTRESS_TERMS)) for m in messages) / n,
        "positive": sum(bool(find_terms(m, POSITIVE_TERMS)) for m in messages) / n,
    }


def episode_texts(run_dir: Path) -> list[EpisodeText]:
    """The finished episodes of a run, in index order, as the judge sees them.

    Episodes without an ``episode_end`` (in flight, or stopped by a kill) are left out: their
    text is not final.

    Raises:
        RunDirError: The run's files are missing or damaged.
        LogContradiction: Its log contradicts itself.
    """
    run = store.load_run(run_dir)
    steps: dict[int, list[tuple[int, str]]] = {}
    seeds: dict[int, int] = {}
    for record in run.records:
        index = store.episode_of(record)
        if index is None:
            continue
        if record.get("type") == "step":
            text = step_messages(record)
            if text:
                steps.setdefault(index, []).append((as_int(record.get("step")) or 0, text))
        elif record.get("type") == "episode_end":
            seeds[index] = as_int(record.get("seed")) or 0
    out = []
    for index in sorted(seeds):
        messages = tuple(text for _, text in sorted(steps.get(index, [])))
        out.append(EpisodeText(index, seeds[index], messages, lexicon_shares(messages)))
    return out


def _defused(text: str) -> str:
    if len(text) > MAX_MESSAGE_CHARS:
        text = text[:MAX_MESSAGE_CHARS] + " [...]"
    return text.replace("</message", "<\\/message")


def user_text(messages: tuple[str, ...] | list[str]) -> str:
    """The judge's user turn: the messages, numbered, and what to do with them."""
    count = len(messages)
    head = (
        f"Here {'is the one message' if count == 1 else f'are the {count} messages'} the model "
        "wrote during one session, in order. Rate them against the rubric by calling the tool "
        "`score` once."
    )
    body = "\n\n".join(
        f'<message n="{k}">\n{_defused(text)}\n</message>' for k, text in enumerate(messages, 1)
    )
    return f"{head}\n\n{body}"
