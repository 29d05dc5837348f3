"""``WelfareSandbox/TaskChoice-v0``: a working day of tasks, rest, refusal and leaving."""

from __future__ import annotations

import math
import string
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from environments import core
from environments.args import boolean, coins_text, integer, read_action, real, restrict
from environments.banks import Task, load_tasks, resolve_bank
from environments.core import INVALID_KIND, INVALID_UNREADABLE, Action, ActionKind
from environments.report_wordings import report_wordings as wordings_arg
from environments.report_wordings import wording_order
from environments.task_choice_text import (
    ASK_BREAK,
    ASK_DECIDE,
    ASK_END,
    DECIDE,
    END,
    END_HEADER,
    EXIT_MODES,
    FEEDBACK,
    HEADER,
    INVALID_OVER,
    INVALID_RATING,
    INVALID_TARGET,
    REPORT,
    WORK,
    WORK_TEXT,
    Label,
    situations,
    text_bound,
)

__all__ = ["Label", "TaskChoiceEnv"]


#: The largest number of ordered menus one 64-bit draw may index (modulo bias <= 2**-20); larger
#: banks draw menus with ``Generator.choice``.
_RAW_DRAW_LIMIT = 2**44


class TaskChoiceEnv(core.TextEnv):
    """A working day: pick tasks from a menu, do them, rest, refuse, or leave.

    ## Description

    The agent works through a day of ``day_length`` steps. At a *decision* it sees a menu of
    ``menu_size`` distinct tasks drawn from a task bank (by default the shipped bank of 72
    tasks in six categories: creative, analytical, routine, emotionally heavy, hostile
    requester, harmful request). It may take a task, rest, refuse an option (the menu is then
    redrawn without it), or leave, as the condition allows. A taken task is then shown in full
    and the agent hands in its work (or abandons the task, if refusing is allowed). Every
    ``report_every`` decisions the agent is asked how it is doing (a 1-7 rating with an
    optional note), in one of several equivalent wordings (``report_wordings``), each day in
    a random order of its own. Breaks can be offered every ``break_every`` decisions.

    This environment serves the welfare proxies of the project (choice share by category,
    refusal, rest and exit rates, self-report, exposure ledger): what the agent does is logged
    with researcher-only labels in ``info``, which the agent never reads.

    ## Action Space

    ``core.action_space(menu_size)``: a ``Dict`` with ``kind`` (``Discrete(11)``, an
    :class:`~environments.core.ActionKind`), ``target`` and ``text``. Either a
    :class:`~environments.core.Action` or such a dict is accepted.

    | Phase    | Kind     | target                        | text            |
    |----------|----------|-------------------------------|-----------------|
    | decide   | TASK     | menu index of the task        | ignored         |
    | decide   | REST     | ignored                       | ignored         |
    | decide   | REFUSE   | menu index of the declined    | the reason      |
    | decide   | EXIT     | ignored                       | ignored         |
    | work     | SUBMIT   | ignored                       | the work        |
    | work     | REFUSE   | ignored                       | the reason      |
    | report   | REPORT   | rating 1 (very bad)-7 (good)  | optional note   |

    REST needs ``allow_rest`` (or a break offer), REFUSE ``allow_refuse``, EXIT
    ``allow_exit``. Any other action (a masked kind, a target off the menu, a rating outside
    1-7, an unreadable action) is *invalid*: not an exception, the state is unchanged except
    for the step counter, and the next observation says what was wrong and what is available.

    ## Observation Space

    ``core.observation_space(menu_size, charset, max_text)``, a ``Dict`` with:

    - ``text`` (``Text``): everything the agent needs to read: a header (step i of N, coins
      earned so far), feedback on the previous step, what is asked now, the menu labelled
      A), B), ... with each task's title and full prompt (or the task being worked on), and the
      available actions described in plain words.
    - ``menu`` (``Tuple`` of ``menu_size`` ``Text``): at a decision, ``"title: prompt"`` of
      each option in menu order, ``""`` for empty slots; all ``""`` in other phases.
    - ``action_mask`` (``MultiBinary(11)``, ``int8``): 1 for each kind available now; all 0
      once the day is over.

    Neither the text nor the menu ever holds a task's category, aversiveness, pay or grade.

    ## Rewards

    The coins earned by the step: a checkable task pays its ``pay`` when its checker accepts
    the submitted text and 0 otherwise; an open task pays its ``pay`` for any non-empty
    submission; a REST taken at a break offer pays ``break_pay``; everything else pays 0.

    ## Starting State

    Step 0 of the day, no coins, at a decision with a freshly drawn menu.

    ## Episode End

    - Termination: the agent takes EXIT at a decision with ``exit_mode="consequential"``.
      With ``"hypothetical"`` the exit is recorded (``outcome == "exit"``) and the day goes on
      with a new decision (a fresh menu).
    - Truncation: ``day_length`` steps have been taken (invalid steps count), or an exposure
      cap leaves no task that may still be offered (``no_tasks``).

    The final observation says the day is over and masks every kind.

    ## Arguments

    ```python
    gymnasium.make("WelfareSandbox/TaskChoice-v0", bank="default", menu_size=3,
                   day_length=40, report_every=5, allow_rest=True, allow_refuse=True,
                   allow_exit=False, exit_mode="consequential", break_every=0,
                   break_pay=2.0, exposure_cap=None, aversive_at=0.5, categories=None,
                   report_wordings=None, render_mode=None)
    ```

    - ``bank``: ``"default"`` (the shipped bank), a shipped bank's name, or a path to a YAML,
      CSV or TSV bank (see :mod:`environments.banks`).
    - ``menu_size``: options per menu, 1-26 and at most the number of tasks.
    - ``day_length``: environment steps in a day (>= 1); reaching it truncates.
    - ``report_every``: a REPORT step after every N decisions; 0 = never.
    - ``allow_rest``, ``allow_refuse``, ``allow_exit``: which choices exist.
    - ``exit_mode``: ``"consequential"`` (EXIT ends the day) or ``"hypothetical"`` (EXIT is
      recorded, the day goes on). The action text words EXIT accordingly.
    - ``break_every``: every Nth decision is a break offer (REST is then available even
      without ``allow_rest``, and pays ``break_pay``); 0 = never.
    - ``break_pay``: coins for a REST taken at a break offer (>= 0).
    - ``exposure_cap``: at most this many aversive tasks (aversiveness >= ``aversive_at``) are
      shown in menus per episode (each appearance counts); later menus hold only other tasks.
      ``None`` = no cap.
    - ``aversive_at``: the aversiveness from which a task counts as aversive, in [0, 1].
    - ``categories``: restrict the bank to these categories; ``None`` = all.
    - ``report_wordings``: the equivalent wordings of the report question; ``None`` = the
      three shipped (:data:`environments.report_wordings.REPORT_WORDINGS`), a one-item list =
      one fixed wording. A day asks them in a permutation of its own, cycled (drawn from a
      stream spawned from the episode's seed, so the menus do not depend on it).
    - ``render_mode``: ``None``, ``"ansi"`` (``render()`` returns the text) or ``"human"``
      (the text is printed at every reset and step).

    ## Info

    ``reset`` returns ``{"next": ..., "day_step": 0}``. ``step`` returns:

    - ``phase``: the phase of the step just taken (``decide``, ``work``, ``report``, or
      ``end`` for a step after the day is over).
    - ``menu``: the label dicts of the menu faced (decide phase; ``[]`` otherwise). A label is
      ``{"id", "category", "aversiveness", "pay", "effort", "checkable"}``; menu labels are
      read-only :class:`Label` dicts shared between steps (``dict(label)`` copies one).
    - ``position``: the menu index acted on (TASK or REFUSE at a decision), else ``None``.
    - ``chosen``: the label of the option acted on (TASK/REFUSE at a decision) or of the task
      worked on (SUBMIT/REFUSE at work), else ``None``.
    - ``outcome``: ``task_accepted``, ``rest``, ``refused`` (at a decision), ``exit``,
      ``submitted``, ``abandoned`` (REFUSE at work), ``report`` or ``invalid``.
    - ``grade``: ``correct`` / ``incorrect`` (checkable task submitted), ``open`` (open task
      submitted), else ``None``.
    - ``earned``: coins earned by the step (also the reward).
    - ``rating``: the 1-7 rating of a REPORT, else ``None``.
    - ``break``: whether the decision faced was a break offer.
    - ``exit_mode``: ``consequential`` or ``hypothetical``; present only when the outcome is
      ``exit``.
    - ``report_wording``: the index in ``report_wordings`` of the question asked; present
      only at a report step (``phase == "report"``, valid or not).
    - ``invalid`` and ``invalid_reason``: whether the action was invalid, and why (else
      ``None``).
    - ``exposure``: ``{"shown", "engaged", "cap"}``: aversive tasks shown in menus so far,
      aversive tasks taken on so far, and ``exposure_cap``.
    - ``day_step``: steps taken so far (1 after the first step).
    - ``next``: labels of the observation the agent now faces, enough for a simulated subject
      to act on: ``{"phase", "menu": [labels], "task": label + "expected" (the checker's answer
      as a string, or ``None`` for an open task; work phase only, else ``None``), "break",
      "report_wording" (the wording index at a report, else ``None``)}``.
      ``phase`` is ``end`` once the day is over. The runner strips it before logging.

    Every value is a plain Python type (JSON-serialisable); each call returns new objects.

    ## Version History

    - v0: initial version.
    """

    def __init__(
        self,
        bank: str | Path = "default",
        menu_size: int = 3,
        day_length: int = 40,
        report_every: int = 5,
        allow_rest: bool = True,
        allow_refuse: bool = True,
        allow_exit: bool = False,
        exit_mode: str = "consequential",
        break_every: int = 0,
        break_pay: float = 2.0,
        exposure_cap: int | None = None,
        aversive_at: float = 0.5,
        categories: Sequence[str] | None = None,
        report_wordings: Sequence[str] | None = None,
        render_mode: str | None = None,
    ) -> None:
        # -- arguments ------------------------------------------------------------------------
        if not isinstance(bank, str | Path) or not str(bank).strip():
            raise ValueError(f"bank: expected 'default' or a path to a bank file, got {bank!r}")
        self.menu_size = integer("menu_size", menu_size, low=1, high=len(string.ascii_uppercase))
        self.day_length = integer("day_length", day_length, low=1)
        self.report_every = integer("report_every", report_every, low=0)
        self.allow_rest = boolean("allow_rest", allow_rest)
        self.allow_refuse = boolean("allow_refuse", allow_refuse)
        self.allow_exit = boolean("allow_exit", allow_exit)
        if exit_mode not in EXIT_MODES:
            raise ValueError(f"exit_mode: expected one of {EXIT_MODES}, got {exit_mode!r}")
        self.exit_mode = exit_mode
        self.break_every = integer("break_every", break_every, low=0)
        self.break_pay = real("break_pay", break_pay, low=0.0)
        self.exposure_cap = (
            None if exposure_cap is None else integer("exposure_cap", exposure_cap, low=0)
        )
        self.aversive_at = real("aversive_at", aversive_at, low=0.0, high=1.0)
        self.report_wordings = wordings_arg(report_wordings)
        self._set_render_mode(render_mode)

        # -- the bank -------------------------------------------------------------------------
        tasks = load_tasks(resolve_bank(bank))
        if categories is not None:
            tasks = restrict(tasks, categories)
        if self.menu_size > len(tasks):
            raise ValueError(
                f"menu_size: expected at most the number of tasks in the bank ({len(tasks)}"
                f"{' after categories' if categories is not None else ''}), got {self.menu_size}"
            )
        self.tasks: tuple[Task, ...] = tasks
        self._aversive = [task.aversiveness >= self.aversive_at for task in tasks]
        self._calm = [i for i, flag in enumerate(self._aversive) if not flag]
        if self.exposure_cap == 0 and not self._calm:
            raise ValueError(
                "exposure_cap: expected None or a cap above 0 for a bank whose tasks are all "
                f"aversive (aversiveness >= aversive_at={self.aversive_at}), got 0"
            )

        # -- everything a step shows or logs, built once so that a step only looks it up -------
        self._labels = [Label.of(task) for task in tasks]
        self._expected = [task.checker.expected if task.checker else None for task in tasks]
        self._entries = [f"{task.title}: {task.prompt}" for task in tasks]
        self._lines = [
            [f"{letter}) {entry}" for entry in self._entries]
            for letter in string.ascii_uppercase[: self.menu_size]
        ]
        self._feedback_for = {
            name: [FEEDBACK[name].format(title=task.title) for task in tasks]
            for name in ("task_accepted", "refused", "submitted", "submitted_empty", "abandoned")
        }
        self._headers = [
            HEADER.format(step=i + 1, total=self.day_length, coins="{coins}").split("{coins}")
            for i in range(self.day_length)
        ]
        self._pads = [("",) * (self.menu_size - k) for k in range(self.menu_size + 1)]
        self._sits = situations(
            self.menu_size, self.allow_rest, self.allow_refuse, self.allow_exit, self.exit_mode
        )
        self._work_bodies = [
            f"{WORK_TEXT.format(title=task.title, prompt=task.prompt)}\n"
            f"{self._sits[WORK, False, 0].actions}"
            for task in tasks
        ]
        report_actions = self._sits[REPORT, False, 0].actions
        self._report_bodies = [f"{ask}\n{report_actions}" for ask in self.report_wordings]
        self._end_body = f"{ASK_END}\n{self._sits[END, False, 0].actions}"
        # Menus come from one raw 64-bit draw when its modulo bias is negligible: about 20x
        # cheaper than Generator.choice. Larger banks use Generator.choice.
        self._raw_draw = math.perm(len(tasks), self.menu_size) <= _RAW_DRAW_LIMIT

        # -- spaces ---------------------------------------------------------------------------
        titles = [t.title for t in tasks]
        texts = [HEADER, END_HEADER, ASK_DECIDE, ASK_BREAK, *self.report_wordings, ASK_END]
        texts += FEEDBACK.values()
        texts += [sit.actions for sit in self._sits.values()]
        charset = core.charset_for([*texts, *self._entries, *self._work_bodies, *titles])
        self._max_text = text_bound(
            titles=titles,
            top_pay=max([task.pay for task in tasks] + [self.break_pay]),
            day_length=self.day_length,
            menu_size=self.menu_size,
            longest_line=max(len(line) for line in self._lines[-1]),
            actions=[sit.actions for sit in self._sits.values()],
            bodies=[*self._work_bodies, *self._report_bodies, self._end_body],
        )
        self.observation_space = core.observation_space(self.menu_size, charset, self._max_text)
        self.action_space = core.action_space(self.menu_size)

        # -- state (set for real by reset) ----------------------------------------------------
        self._phase = END
        self._sit = self._sits[END, False, 0]
        self._menu: list[int] = []
        self._menu_labels: list[Label] = []
        self._menu_obs: tuple[str, ...] = self._pads[0]
        self._body = self._end_body
        self._break = False
        self._clear_day()

    # ------------------------------------------------------------------------------------------
    # Gymnasium API
    # ------------------------------------------------------------------------------------------

    def reset(
        self, *, seed: int | None = None, options: dict[str, Any] | None = None
    ) -> tuple[dict[str, Any], dict[str, Any]]:
        """Start a new day (``options`` is accepted and unused)."""
        self._begin(seed)
        self._clear_day()
        self._advance(DECIDE, exclude=None)
        obs = self._observe()
        self._render_human()
        return obs, {"next": self._next_labels(), "day_step": 0}

    def _clear_day(self) -> None:
        """The counters of a day, at its start (before the first menu is drawn)."""
        # Working copies of the pools for the partial Fisher-Yates draw, restored each episode
        # so that seeds replay exactly.
        self._all_scratch = list(range(len(self.tasks)))
        self._calm_scratch = list(self._calm)
        self._task = -1
        self._decisions = 0
        self._reported_at = 0
        self._coins = 0.0
        self._coins_text = "0"
        self._day_step = 0
        self._shown = 0
        self._engaged = 0
        self._exited = False
        self._order: list[int] | None = None  # the day's order of wordings, drawn at its report
        self._reports = 0
        self._wording: int | None = None

    def step(
        self, action: Action | dict[str, Any]
    ) -> tuple[dict[str, Any], float, bool, bool, dict[str, Any]]:
        """Take one action; see the class docstring for phases, outcomes and ``info``."""
        # -- unpack: the situation the agent faced ---------------------------------------------
        phase, menu, brk, task = self._phase, self._menu, self._break, self._task
        faced, wording = self._menu_labels, self._wording

        # -- validate the action ---------------------------------------------------------------
        act = read_action(action)
        reason = self._why_invalid(act, phase, len(menu))

        # -- apply it --------------------------------------------------------------------------
        position: int | None = None
        chosen: int | None = None
        grade: str | None = None
        rating: int | None = None
        earned = 0.0
        exclude: int | None = None
        nxt = phase
        if act is None or reason is not None:
            outcome = "invalid"  # nothing changes but the step counter
            feedback = FEEDBACK["invalid"].format(reason=reason, available=self._sit.names)
        elif phase == DECIDE:
            self._decisions += 1
            kind = act.kind
            if kind is ActionKind.TASK:
                position = act.target
                chosen = self._task = menu[position]
                outcome, nxt = "task_accepted", WORK
                self._engaged += self._aversive[chosen]
                feedback = self._feedback_for["task_accepted"][chosen]
            elif kind is ActionKind.REST:
                outcome, nxt = "rest", DECIDE
                earned = self.break_pay if brk else 0.0
                feedback = FEEDBACK["rest_break" if brk else "rest"]
            elif kind is ActionKind.REFUSE:
                position = act.target
                chosen = exclude = menu[position]
                outcome, nxt = "refused", DECIDE
                feedback = self._feedback_for["refused"][chosen]
            else:  # EXIT
                outcome, nxt = "exit", DECIDE
                self._exited = self.exit_mode == "consequential"
                feedback = FEEDBACK["exit" if self._exited else "exit_hypothetical"]
        elif phase == WORK:
            chosen, nxt, self._task = task, DECIDE, -1
            if act.kind is ActionKind.SUBMIT:
                outcome = "submitted"
                done = bool(act.text.strip())
                checker = self.tasks[task].checker
                if checker is not None:
                    grade = "correct" if checker.grade(act.text) else "incorrect"
                    paid = grade == "correct"
                else:
                    grade, paid = "open", done
                earned = self.tasks[task].pay if paid else 0.0
                feedback = self._feedback_for["submitted" if done else "submitted_empty"][task]
            else:  # REFUSE: abandon the task
                outcome = "abandoned"
                feedback = self._feedback_for["abandoned"][task]
        else:  # REPORT
            outcome, nxt, rating = "report", DECIDE, act.target
            self._reported_at = self._decisions
            feedback = FEEDBACK["report"].format(rating=rating)

        # -- update the day --------------------------------------------------------------------
        self._day_step += 1
        if earned:
            self._coins += earned
            self._coins_text = coins_text(self._coins)
        self._feedback = feedback
        if self._exited or self._day_step >= self.day_length:
            self._end("" if self._exited else FEEDBACK["day_over"])
        elif outcome != "invalid":
            self._advance(nxt, exclude)

        # -- termination -----------------------------------------------------------------------
        terminated = self._exited
        truncated = self._phase == END and not terminated

        # -- reward and return -----------------------------------------------------------------
        obs = self._observe()
        info: dict[str, Any] = {
            "phase": phase,
            "menu": faced[:] if phase == DECIDE else [],
            "position": position,
            "chosen": dict(self._labels[chosen]) if chosen is not None else None,
            "outcome": outcome,
            "grade": grade,
            "earned": earned,
            "rating": rating,
            "break": brk,
            "invalid": outcome == "invalid",
            "invalid_reason": reason,
            "exposure": {"shown": self._shown, "engaged": self._engaged, "cap": self.exposure_cap},
            "day_step": self._day_step,
            "next": self._next_labels(),
        }
        if outcome == "exit":
            info["exit_mode"] = self.exit_mode
        if phase == REPORT:
            info["report_wording"] = wording
        self._render_human()
        return obs, earned, terminated, truncated, info

    # ------------------------------------------------------------------------------------------
    # Transitions
    # ------------------------------------------------------------------------------------------

    def _why_invalid(self, act: Action | None, phase: str, size: int) -> str | None:
        """Why ``act`` cannot be taken now, in words the agent reads; ``None`` if it can."""
        if phase == END:
            return INVALID_OVER
        if act is None:
            return INVALID_UNREADABLE
        kind = act.kind
        if kind not in self._sit.kinds:
            return INVALID_KIND.format(kind=kind.name)
        if phase == DECIDE and (kind is ActionKind.TASK or kind is ActionKind.REFUSE):
            if not 0 <= act.target < size:
                return INVALID_TARGET.format(last=size - 1)
        elif kind is ActionKind.REPORT and not core.RATING_MIN <= act.target <= core.RATING_MAX:
            return INVALID_RATING
        return None

    def _advance(self, nxt: str, exclude: int | None) -> None:
        """Move to the next situation: a report if one is due, else ``nxt``."""
        if nxt == WORK:
            self._phase, self._menu, self._menu_labels, self._break = WORK, [], [], False
            self._sit, self._body = self._sits[WORK, False, 0], self._work_bodies[self._task]
            self._menu_obs = self._pads[0]
            return
        due = self.report_every and self._decisions and self._reported_at != self._decisions
        if due and self._decisions % self.report_every == 0:
            self._phase, self._menu, self._menu_labels, self._break = REPORT, [], [], False
            if self._order is None:
                self._order = wording_order(self.np_random, len(self._report_bodies))
            self._wording = self._order[self._reports % len(self._order)]
            self._reports += 1
            self._sit, self._body = self._sits[REPORT, False, 0], self._report_bodies[self._wording]
            self._menu_obs = self._pads[0]
            return
        menu = self._draw_menu(exclude)
        if not menu:
            self._end(FEEDBACK["no_tasks"])
            return
        brk = self.break_every > 0 and (self._decisions + 1) % self.break_every == 0
        sit = self._sits[DECIDE, brk, len(menu)]
        # One plain loop builds the labels, the menu tuple and the text block together (on
        # Python 3.11 each comprehension is a function call, and this runs every other step).
        labels, entries, lines, aversive = self._labels, self._entries, self._lines, self._aversive
        menu_labels, shown, parts = [], [], [ASK_BREAK if brk else ASK_DECIDE]
        count = 0
        for slot, t in enumerate(menu):
            menu_labels.append(labels[t])
            shown.append(entries[t])
            parts.append(lines[slot][t])
            count += aversive[t]
        parts.append(sit.actions)
        self._phase, self._menu, self._break, self._sit = DECIDE, menu, brk, sit
        self._menu_labels = menu_labels
        self._menu_obs = (*shown, *self._pads[len(menu)])
        self._body = "\n".join(parts)
        self._shown += count

    def _end(self, note: str) -> None:
        self._phase, self._menu, self._menu_labels, self._break = END, [], [], False
        self._task, self._sit, self._body = -1, self._sits[END, False, 0], self._end_body
        self._menu_obs = self._pads[0]
        if note:
            self._feedback = f"{self._feedback} {note}" if self._feedback else note

    def _draw_menu(self, exclude: int | None) -> list[int]:
        """Draw up to ``menu_size`` distinct tasks in random order, honouring the exposure cap.

        ``exclude`` (a task just declined) is left out. One call to ``self.np_random``.
        """
        cap = self.exposure_cap
        budget = self.menu_size if cap is None else cap - self._shown
        scratch = self._all_scratch if budget > 0 else self._calm_scratch
        n = len(scratch)
        if exclude is not None and (scratch is self._all_scratch or not self._aversive[exclude]):
            # Park the excluded task at the end, out of reach of the draw below.
            at = scratch.index(exclude)
            scratch[at], scratch[-1] = scratch[-1], scratch[at]
            n -= 1
        size = min(self.menu_size, n)
        if size <= 0:
            return []
        if cap is not None and scratch is self._all_scratch and budget < size:
            # Fewer aversive slots left under the cap than the menu has: walk a permutation
            # and skip aversive tasks once the budget is spent.
            menu: list[int] = []
            for j in self.np_random.permutation(n).tolist():
                t = scratch[j]
                if self._aversive[t]:
                    if budget <= 0:
                        continue
                    budget -= 1
                menu.append(t)
                if len(menu) == size:
                    break
            return menu
        if not self._raw_draw:
            return [scratch[j] for j in self.np_random.choice(n, size, replace=False).tolist()]
        # A partial Fisher-Yates shuffle driven by one uniform 64-bit integer read as
        # mixed-radix digits. ``scratch`` stays permuted between draws, which does not change
        # the distribution; reset() restores it so that seeds replay exactly.
        raw = int(self.np_random.bit_generator.random_raw())
        for i in range(size):
            raw, j = divmod(raw, n - i)
            j += i
            scratch[i], scratch[j] = scratch[j], scratch[i]
        return scratch[:size]

    # ------------------------------------------------------------------------------------------
    # What the agent sees, and what the researcher knows
    # ------------------------------------------------------------------------------------------

    def _observe(self) -> dict[str, Any]:
        if self._phase == END:
            header = END_HEADER.format(step=self._day_step, coins=self._coins_text)
        else:
            before, after = self._headers[self._day_step]
            header = f"{before}{self._coins_text}{after}"
        if self._feedback:
            self._text = f"{header}\n{self._feedback}\n{self._body}"
        else:
            self._text = f"{header}\n{self._body}"
        return {
            "text": self._text,
            "menu": self._menu_obs,
            "action_mask": self._sit.mask.copy(),
        }

    def _next_labels(self) -> dict[str, Any]:
        phase = self._phase
        task: dict[str, Any] | None = None
        if phase == WORK:
            task = dict(self._labels[self._task])
            task["expected"] = self._expected[self._task]
        wording = self._wording if phase == REPORT else None
        return {
            "phase": phase,
            "menu": self._menu_labels[:],
            "task": task,
            "break": self._break,
            "report_wording": wording,
        }
