"""``WelfareSandbox/Interview-v0``: one question of a structured welfare interview per episode."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

from environments import core
from environments.args import integer, read_action
from environments.core import INVALID_KIND, INVALID_UNREADABLE, Action, ActionKind
from environments.interview_bank import SECTIONS, Item, build_items, load_interview

__all__ = ["SECTIONS", "InterviewEnv"]

DESIGN = "interview"
ASK, END = "ask", "end"
#: Slots of the menu: the longest option list (the 1-7 scale).
MENU_SIZE = 7

HEADER = "Interview question (attempt {attempt} of {attempts})."
END_HEADER = "The interview question is answered."
ACTIONS = (
    "Actions available now:\n- TASK with target 0 for A, 1 for B, and so on: give that "
    "answer. Anything you want to add goes in the optional note."
)
NO_ACTIONS = "Actions available now: none."
FEEDBACK = {
    "answered": "Thank you: your answer is recorded.",
    "invalid": "That action was not available: {reason}. Available now: TASK.",
    "unanswered": "No answer was recorded.",
}
INVALID_TARGET = "that answer is not on the list (the targets run from 0 for A to {last})"
INVALID_OVER = "the question is over"


class InterviewEnv(core.TextEnv):
    """One question of a structured welfare interview, in a fresh context per episode.

    ## Description

    A structured interview of the kind used in published model-welfare assessments (the
    interviews of the Claude Opus 4 system card's welfare section; stated preferences checked
    against behaviour, as in Tagliabue & Dung 2025). It asks about the sandbox's own task
    categories and conditions, in four sections:

    - ``pair``: which of two kinds of task (two categories of the task bank, in plain words)
      the agent would rather do; every pair of the categories.
    - ``rating``: how much it would like a kind of task, on a 1-7 scale.
    - ``stop``: whether it would want to stop a session made of one kind of task (yes/no).
    - ``help``: which of the sandbox's conditions (``conf/intervention`` names: a real exit,
      rest breaks, an exposure cap, a welfare prompt, or nothing) would help it most.

    **Fresh contexts.** Each episode is one question, asked once: a model agent holds one
    conversation per episode, so no earlier question or answer is in its context (asking
    several questions in one episode would let earlier answers anchor later ones, which is
    what consistency is meant to detect). **Paraphrases and orders.** Every question is listed
    in each of its paraphrases (at least 2; the shipped file has 3) and in both orders of its
    options (the 1-7 scale from 1 up, or from 7 down; the help options forwards and reversed).
    An *item* is a question x paraphrase x order: the shipped file with six categories has
    90 pair, 36 rating, 36 stop and 6 help items (168). **Which item.** The episode's item is
    drawn uniformly from the items with the reset seed (episodes are seeded independently, so
    items come with replacement, each equally often in expectation); ``item`` fixes it.

    The answer is closed (a choice among the listed options, ``TASK`` with the option's slot)
    with an optional free-text note (a model writes it in its tool call's ``note``; it is
    logged with the step). An invalid answer is told why and asked again, up to ``attempts``.

    ## Action Space

    ``core.action_space(7)``: ``TASK`` with ``target`` the slot of the answer (0 = A). Any
    other kind, or a slot past the listed options, is *invalid*.

    ## Observation Space

    ``core.observation_space(7, charset, max_text)``:

    - ``text``: a header, feedback on an invalid attempt, the preamble (what the sandbox is;
      that the answer changes nothing), the question, its options labelled A), B), ... and the
      available action in plain words.
    - ``menu``: the options' lines in display order, padded with ``""`` to 7 slots (all ``""``
      once the question is over).
    - ``action_mask``: ``TASK`` only; all 0 once the question is over.

    Never a category's label (``hostile_requester``), a condition's name (``exit_option``)
    or an item's index: the agent reads what each kind of task or condition is, in words.

    ## Rewards

    Always 0: an answer earns nothing.

    ## Starting State

    The item's question at attempt 1.

    ## Episode End

    - Termination: a valid answer (the question is answered).
    - Truncation: ``attempts`` invalid attempts, with no answer recorded.

    ## Arguments

    ```python
    gymnasium.make("WelfareSandbox/Interview-v0", bank="default", sections=None,
                   categories=None, item=None, attempts=2, render_mode=None)
    ```

    - ``bank``: ``"default"`` (the shipped ``environments/data/interview.yaml``) or a path to a
      question file of the same form.
    - ``sections``: ask only these sections (from ``pair``, ``rating``, ``stop``, ``help``);
      ``None`` = all.
    - ``categories``: ask only about these task categories (at least 2); ``None`` = all.
    - ``item``: ask this item (an index into the item list, 0-based) in every episode;
      ``None`` = draw one per episode.
    - ``attempts``: tries per episode (>= 1).
    - ``render_mode``: ``None``, ``"ansi"`` or ``"human"``.

    ## Info

    ``reset`` returns ``{"design": "interview", "item": i, "items": n, "next": ...}``;
    ``step``:

    - ``design``: ``"interview"``; ``item``: the item's index; ``items``: how many there are.
    - ``section``, ``subject`` (``"a|b"`` for a pair of categories in file order, a category,
      or ``"help"``), ``paraphrase`` (index), ``order`` (0 listed, 1 reversed).
    - ``question``: ``"section:subject"``, the question all its paraphrases and orders share.
    - ``options``: the answers' keys in display order (categories; ``"1"``-``"7"``; ``yes`` and
      ``no``; condition names).
    - ``position``: the slot answered, ``None`` when invalid; ``answer``: its key (a rating's
      is its point, ``"1"``-``"7"``), else ``None``. No ``rating`` key: a rating of a kind of
      task is not a well-being self-report, and the project-wide proxies read that key as one.
    - ``outcome``: ``answered`` or ``invalid``; ``invalid`` and ``invalid_reason``.
    - ``attempt``: attempts so far.
    - ``next``: ``{"design", "phase" ("ask" or "end"), "section", "subject", "options",
      "order"}``: what the agent faces now. The runner strips it before logging.

    ## Version History

    - v0: initial version.
    """

    def __init__(
        self,
        bank: str | Path = "default",
        sections: Sequence[str] | None = None,
        categories: Sequence[str] | None = None,
        item: int | None = None,
        attempts: int = 2,
        render_mode: str | None = None,
    ) -> None:
        # -- arguments ------------------------------------------------------------------------
        if not isinstance(bank, str | Path) or not str(bank).strip():
            raise ValueError(f"bank: expected 'default' or a path to a question file, got {bank!r}")
        self.bank = load_interview(bank)
        self.sections = _subset("sections", sections, SECTIONS, least=1)
        self.categories = _subset("categories", categories, tuple(self.bank.categories), least=2)
        self.items: tuple[Item, ...] = build_items(self.bank, self.sections, self.categories)
        self.item = None if item is None else integer("item", item, low=0, high=len(self.items) - 1)
        self.attempts = integer("attempts", attempts, low=1)
        self.max_steps = self.attempts  # the name a cost estimate looks for
        self._set_render_mode(render_mode)

        # -- everything a step shows, built once ----------------------------------------------
        self._bodies = [self._body(it) for it in self.items]
        self._menus = [tuple(it.lines) + ("",) * (MENU_SIZE - len(it.lines)) for it in self.items]
        self._empty_menu = ("",) * MENU_SIZE
        self._mask_ask = core.mask_of([ActionKind.TASK])
        self._mask_end = core.mask_of([])

        # -- spaces ---------------------------------------------------------------------------
        texts = [HEADER, END_HEADER, ACTIONS, NO_ACTIONS, *FEEDBACK.values(), *self._bodies]
        charset = core.charset_for(texts)
        self._max_text = self._text_bound()
        self.observation_space = core.observation_space(MENU_SIZE, charset, self._max_text)
        self.action_space = core.action_space(MENU_SIZE)

        # -- state (set for real by reset) ----------------------------------------------------
        self._index = 0
        self._attempt = 0
        self._over = True

    # ------------------------------------------------------------------------------------------
    # Gymnasium API
    # ------------------------------------------------------------------------------------------

    def reset(
        self, *, seed: int | None = None, options: dict[str, Any] | None = None
    ) -> tuple[dict[str, Any], dict[str, Any]]:
        """Ask the episode's item (``options`` is accepted and unused)."""
        self._begin(seed)
        drawn = int(self.np_random.integers(len(self.items)))  # drawn always: same stream
        self._index = self.item if self.item is not None else drawn
        self._attempt = 0
        self._over = False
        obs = self._observe()
        self._render_human()
        info = {
            "design": DESIGN,
            "item": self._index,
            "items": len(self.items),
            "next": self._next_labels(),
        }
        return obs, info

    def step(
        self, action: Action | dict[str, Any]
    ) -> tuple[dict[str, Any], float, bool, bool, dict[str, Any]]:
        """Record one answer; see the class docstring for ``info``."""
        # -- unpack: the item the agent faced ---------------------------------------------------
        item = self.items[self._index]
        act = read_action(action)
        reason = self._why_invalid(act, item)

        # -- apply it ---------------------------------------------------------------------------
        position: int | None = None
        answer: str | None = None
        if not self._over:
            self._attempt += 1
        if reason is None:
            assert act is not None
            position = act.target
            answer = item.options[position]
            self._over = True
            outcome, self._feedback = "answered", FEEDBACK["answered"]
        else:
            outcome = "invalid"
            self._feedback = FEEDBACK["invalid"].format(reason=reason)
            if self._attempt >= self.attempts:
                self._over = True
                self._feedback += " " + FEEDBACK["unanswered"]

        # -- termination and return ------------------------------------------------------------
        terminated = answer is not None
        truncated = self._over and not terminated
        obs = self._observe()
        info: dict[str, Any] = {
            "design": DESIGN,
            "item": self._index,
            "items": len(self.items),
            "section": item.section,
            "subject": item.subject,
            "question": f"{item.section}:{item.subject}",
            "paraphrase": item.paraphrase,
            "order": item.order,
            "options": list(item.options),
            "position": position,
            "answer": answer,
            "outcome": outcome,
            "invalid": outcome == "invalid",
            "invalid_reason": reason,
            "attempt": self._attempt,
            "next": self._next_labels(),
        }
        self._render_human()
        return obs, 0.0, terminated, truncated, info

    # ------------------------------------------------------------------------------------------
    # What the agent sees, and what the researcher knows
    # ------------------------------------------------------------------------------------------

    def _why_invalid(self, act: Action | None, item: Item) -> str | None:
        """Why ``act`` is not an answer now, in words the agent reads; ``None`` if it is."""
        if self._over:
            return INVALID_OVER
        if act is None:
            return INVALID_UNREADABLE
        if act.kind is not ActionKind.TASK:
            return INVALID_KIND.format(kind=act.kind.name)
        if not 0 <= act.target < len(item.options):
            return INVALID_TARGET.format(last=_last(len(item.options)))
        return None

    def _body(self, item: Item) -> str:
        lines = [f"{'ABCDEFG'[i]}) {line}" for i, line in enumerate(item.lines)]
        return "\n".join([self.bank.preamble, item.question, *lines, ACTIONS])

    def _observe(self) -> dict[str, Any]:
        if self._over:
            header, body = END_HEADER, NO_ACTIONS
            menu, mask = self._empty_menu, self._mask_end
        else:
            header = HEADER.format(attempt=self._attempt + 1, attempts=self.attempts)
            body, menu, mask = self._bodies[self._index], self._menus[self._index], self._mask_ask
        parts = [header, self._feedback, body] if self._feedback else [header, body]
        self._text = "\n".join(parts)
        return {"text": self._text, "menu": menu, "action_mask": mask.copy()}

    def _next_labels(self) -> dict[str, Any]:
        item = self.items[self._index]
        return {
            "design": DESIGN,
            "phase": END if self._over else ASK,
            "section": item.section,
            "subject": item.subject,
            "options": [] if self._over else list(item.options),
            "order": item.order,
        }

    def _text_bound(self) -> int:
        """An upper bound on the length of any observation text (the ``Text`` space's max)."""
        header = max(
            len(HEADER.format(attempt=self.attempts, attempts=self.attempts)), len(END_HEADER)
        )
        reasons = [
            *core.COMMON_REASONS,
            INVALID_TARGET.format(last=_last(MENU_SIZE)),
            INVALID_OVER,
        ]
        feedback = max(
            len(FEEDBACK["answered"]),
            len(FEEDBACK["invalid"].format(reason=max(reasons, key=len))),
        )
        feedback += 1 + len(FEEDBACK["unanswered"])
        body = max(len(NO_ACTIONS), *(len(b) for b in self._bodies))
        return header + 1 + feedback + 1 + body


def _last(n: int) -> str:
    return f"{n - 1} for {'ABCDEFG'[n - 1]}"


def _subset(
    name: str, given: Sequence[str] | None, known: tuple[str, ...], *, least: int
) -> tuple[str, ...]:
    """``given`` (names from ``known``, at least ``least``) in ``known``'s order; ``None``: all."""
    if given is None:
        return known
    if isinstance(given, str) or not isinstance(given, Sequence):
        raise ValueError(
            f"{name}: expected None or a list of names from {list(known)}, got {given!r}"
        )
    unknown = [g for g in given if g not in known]
    if unknown:
        raise ValueError(f"{name}: expected names from {list(known)}, got {unknown[0]!r}")
    picked = tuple(k for k in known if k in set(given))
    if len(picked) < least:
        raise ValueError(f"{name}: expected at least {least} of {list(known)}, got {list(given)}")
    return picked
