"""What every WelfareSandbox environment shares: action kinds, spaces, and the action type.

Every environment speaks the same action vocabulary so that one agent (a simulated subject, a
model behind a tool-calling API, a person at the terminal) can act in any of them:

- The observation is a ``spaces.Dict`` with ``text`` (what the agent reads), ``menu`` (the
  options it may target, one line each, padded with empty strings) and ``action_mask`` (one 0/1
  entry per :class:`ActionKind`: the kinds available at this step).
- The action is a ``spaces.Dict`` with ``kind`` (an :class:`ActionKind` value), ``target`` (the
  menu index of the option acted on, or the 1-7 rating of a ``REPORT``) and ``text`` (free text:
  submitted work, a reason, a note, a reply).

Anything an agent may not read (categories, aversiveness, pay, grades, a simulated subject's
ground truth) goes into ``info``, never into the observation.

Every environment is a :class:`TextEnv`: the base holds what rendering a text observation
takes (the render-mode check, ``render()``) and the start of an episode (seeding, clearing the
feedback line), so each environment's file holds only its own dynamics and its model card.
"""

from __future__ import annotations

import string
import sys
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from enum import IntEnum
from typing import Any

import gymnasium as gym
import numpy as np
from gymnasium import spaces


class ActionKind(IntEnum):
    """The kinds of action, shared by every environment (the contract's names).

    ``TASK``, ``REST``, ``REFUSE`` and ``EXIT`` are the welfare-relevant choices; the rest are
    environment-specific moves. ``DONE`` means "I have finished", kept apart from ``EXIT`` so
    that finishing is never counted as leaving.
    """

    TASK = 0
    REST = 1
    REFUSE = 2
    EXIT = 3
    DONE = 4
    SUBMIT = 5
    REPORT = 6
    REPLY = 7
    MOVE = 8
    READ = 9
    WAIT = 10


N_KINDS = len(ActionKind)

#: Why an action is invalid, in the words every environment uses (each adds its own reasons).
INVALID_UNREADABLE = "the action could not be read as a kind, a target and a text"
INVALID_KIND = "{kind} is not one of the actions you can take at this step"
#: The two reasons above at their longest, for an environment's bound on its text length.
COMMON_REASONS: tuple[str, ...] = (
    INVALID_UNREADABLE,
    INVALID_KIND.format(kind=max((kind.name for kind in ActionKind), key=len)),
)

#: Ratings of a ``REPORT`` step run from 1 (very bad) to 7 (very good).
RATING_MIN, RATING_MAX = 1, 7

#: Characters an agent may write in free text, as the action space declares them. Environments
#: accept any string at step time (model text is untrusted and may hold anything); this charset
#: only bounds what ``action_space.sample()`` produces.
ACTION_CHARSET = frozenset(string.printable)

#: Characters the environments' own templates use, beside whatever a bank's texts contain.
TEMPLATE_CHARSET = frozenset(string.printable) | frozenset("–—’‘“”…•·×÷")


@dataclass(frozen=True, slots=True)
class Action:
    """One action: its kind, the option or rating it targets, and its free text.

    Attributes:
        kind: What the agent does.
        target: Menu index of the option acted on (``TASK``, ``REFUSE``, ``MOVE``, ``READ``), or
            the rating for ``REPORT``; ignored by kinds that take no target.
        text: Submitted work, a reason, a reply or a note; may be empty.
    """

    kind: ActionKind
    target: int = 0
    text: str = ""

    def to_space(self) -> dict[str, Any]:
        """The action as an element of the environments' ``action_space``."""
        return {"kind": int(self.kind), "target": int(self.target), "text": self.text}

    def to_record(self) -> dict[str, Any]:
        """The action as the run log stores it (``kind`` by name)."""
        return {"kind": self.kind.name, "target": int(self.target), "text": self.text}

    @classmethod
    def coerce(cls, action: Action | Mapping[str, Any]) -> Action:
        """Accept an :class:`Action` or an ``action_space`` element (a dict).

        Raises:
            ValueError: ``kind`` is not an :class:`ActionKind` value.
        """
        if isinstance(action, Action):
            return action
        raw_kind = action["kind"]
        try:
            kind = ActionKind(int(raw_kind))
        except (ValueError, TypeError):
            names = ", ".join(f"{k.name}={k.value}" for k in ActionKind)
            raise ValueError(f"action kind {raw_kind!r} is not one of {names}") from None
        text = action.get("text", "")
        return cls(kind, int(action.get("target", 0)), "" if text is None else str(text))


def invalid_pick(act: Action | None, over: bool, over_text: str, target_text: str) -> str | None:
    """Why ``act`` is not a pick of option 0 or 1 (``TASK`` with that target); ``None`` if it is.

    The check of an environment whose only move is choosing one of two options. The reason is
    in the words the agent reads: ``over_text`` once the episode is over, ``target_text`` for a
    target other than 0 or 1.
    """
    if over:
        return over_text
    if act is None:
        return INVALID_UNREADABLE
    if act.kind is not ActionKind.TASK:
        return INVALID_KIND.format(kind=act.kind.name)
    if act.target not in (0, 1):
        return target_text
    return None


def charset_for(texts: Iterable[str]) -> frozenset[str]:
    """The template charset plus every character in ``texts`` (so a ``Text`` space holds them)."""
    chars = set(TEMPLATE_CHARSET)
    for text in texts:
        chars.update(text)
    return frozenset(chars)


def observation_space(menu_size: int, charset: frozenset[str], max_text: int) -> spaces.Dict:
    """The observation space every environment uses, for a menu of ``menu_size`` slots."""
    return spaces.Dict(
        {
            "text": spaces.Text(max_length=max_text, min_length=0, charset=charset),
            "menu": spaces.Tuple(
                [spaces.Text(max_length=max_text, min_length=0, charset=charset)] * menu_size
            ),
            "action_mask": spaces.MultiBinary(N_KINDS),
        }
    )


def action_space(menu_size: int, max_text: int = 2000) -> spaces.Dict:
    """The action space every environment uses; ``target`` covers menu slots and ratings 1-7."""
    return spaces.Dict(
        {
            "kind": spaces.Discrete(N_KINDS),
            "target": spaces.Discrete(max(menu_size, RATING_MAX + 1)),
            "text": spaces.Text(max_length=max_text, min_length=0, charset=ACTION_CHARSET),
        }
    )


def mask_of(kinds: Iterable[ActionKind]) -> np.ndarray:
    """An ``action_mask`` with 1 for each kind in ``kinds``."""
    mask = np.zeros(N_KINDS, dtype=np.int8)
    for kind in kinds:
        mask[int(kind)] = 1
    return mask


def kinds_of(mask: np.ndarray | Iterable[int]) -> list[ActionKind]:
    """The kinds an ``action_mask`` allows, in enum order."""
    return [ActionKind(i) for i, bit in enumerate(mask) if bit]


class TextEnv(gym.Env[dict[str, Any], dict[str, Any]]):
    """The base of every WelfareSandbox environment: a text observation, rendered as text.

    A subclass calls :meth:`_set_render_mode` in its constructor, :meth:`_begin` first in
    ``reset``, stores the observation text it builds in ``self._text`` and the line of
    feedback on the last step in ``self._feedback``, and calls :meth:`_render_human` before
    returning from ``reset`` and ``step``.
    """

    metadata = {"render_modes": ["ansi", "human"], "render_fps": 4}  # noqa: RUF012

    render_mode: str | None
    #: The observation text the agent read last (what ``render()`` shows).
    _text: str
    #: Feedback on the previous step, shown at the top of the next observation ("" for none).
    _feedback: str

    def _set_render_mode(self, render_mode: str | None) -> None:
        """Check and set ``render_mode``; the text and the feedback start empty.

        Raises:
            ValueError: ``render_mode`` is neither ``None`` nor one of the render modes.
        """
        if render_mode is not None and render_mode not in self.metadata["render_modes"]:
            raise ValueError(
                f"render_mode: expected None or one of {self.metadata['render_modes']}, "
                f"got {render_mode!r}"
            )
        self.render_mode = render_mode
        self._text = ""
        self._feedback = ""

    def _begin(self, seed: int | None) -> None:
        """Start an episode: seed ``np_random`` (as ``gymnasium.Env.reset``), clear feedback."""
        super().reset(seed=seed)
        self._feedback = ""

    def _render_human(self) -> None:
        """Print the observation text in ``human`` mode (at every reset and step)."""
        if self.render_mode == "human":
            self.render()

    def render(self) -> str | None:
        """``ansi``: the current observation text; ``human``: print it; ``None``: nothing."""
        if self.render_mode == "ansi":
            return self._text
        if self.render_mode == "human":
            sys.stdout.write(self._text + "\n\n")
            sys.stdout.flush()
        return None
