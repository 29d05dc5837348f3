"""One incremental, mergeable tally of a run's records: the single home of the welfare measures.

Every reader of ``episodes.jsonl`` counts through this module: the runner (``metrics.json``),
the live and plain views, ``wsb watch`` and ``wsb report``. Records arrive one at a time, in
file order, and are never kept (except the steps of a design's episodes, which its module of
:mod:`sandbox.metrics.designs` receives whole):

- :class:`~sandbox.metrics.counts.Counts` holds the figures every view shows (refusal, rest,
  exit and invalid rates, choice shares, self-reports, tokens and cost). It is mergeable: a
  run's counts are the sum of its finished episodes' counts, in any order (costs are summed
  exactly, so the order cannot change a digit).
- :class:`EpisodeTally` reads one episode's steps as they come (the conventions of
  :mod:`sandbox.metrics.rates`) into its :class:`Counts` and the few per-episode facts the other
  proxies need (menu choices, first rest, first exit, ratings, exposure, earnings, markers).
- :class:`RunTally` routes records to the episode they belong to. A step numbered at or below
  the previous one of its episode starts a new attempt (a resumed run re-running an unfinished
  episode); an ``episode_end`` finishes the episode. :meth:`RunTally.metrics` assembles
  ``metrics.json`` from the finished episodes (:mod:`sandbox.metrics.compute`).

Memory grows with the run's menu choices and per-episode scalars only (a few hundred bytes an
episode), not with its records.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable, Mapping
from typing import Any

from sandbox.metrics.counts import Counts, Usage

__all__ = ["Counts", "EpisodeTally", "RunTally", "RunningFigures", "Usage", "group_episodes"]
from sandbox.metrics.rates import (
    ExitHistory,
    MenuChoice,
    Step,
    read_step,
)
from sandbox.metrics.text_markers import MarkerTally, agent_message
from sandbox.records import as_dict, as_int, as_num

Record = Mapping[str, Any]


#: What a finished episode keeps of its ``episode_end``, and of the masks cache.
_END_KEPT = ("type", "episode", "reason", "total_reward", "steps", "error")
_NO_MASKS: dict[tuple[Any, ...], frozenset[str]] = {}
_NO_CHOICES: dict[MenuChoice, MenuChoice] = {}


def _rating(step: Step) -> int | None:
    """The 1-7 rating of a valid step: ``info["rating"]``, else a ``REPORT`` action's target."""
    if not step.valid:
        return None
    rating = as_int(step.info.get("rating"))
    if rating is None and step.kind == "REPORT":
        rating = as_int(as_dict(step.record.get("action")).get("target"))
    return rating if rating is not None and 1 <= rating <= 7 else None


class EpisodeTally:
    """One episode's records, read one step at a time (see the module docstring).

    Attributes:
        index: The episode's index.
        counts: Its :class:`Counts` (final once :meth:`end` has run).
        end_record: Its ``episode_end`` once finished (the keys the proxies read), else
            ``None``.
    """

    __slots__ = (
        "_at_hand",
        "_choices",
        "_masks",
        "_step_usage",
        "api_refusals",
        "categories",
        "choices",
        "counts",
        "decisions",
        "design",
        "design_steps",
        "earned",
        "end_record",
        "exit_at",
        "exit_mode",
        "exit_offered",
        "exposure",
        "first_rest",
        "in_play_any",
        "in_play_api",
        "in_play_offered",
        "index",
        "last_step",
        "markers",
        "opportunities",
        "opportunities_any",
        "opportunities_api",
        "outcomes_logged",
        "refusal_offered",
        "refusal_refused",
        "report_wordings",
        "rest_offered",
        "truncated",
    )

    def __init__(
        self,
        index: int,
        masks: dict[tuple[Any, ...], frozenset[str]] | None = None,
        choices: dict[MenuChoice, MenuChoice] | None = None,
    ):
        self.index = index
        self.counts = Counts()
        self.end_record: dict[str, Any] | None = None
        self.last_step: int | None = None
        self._masks = {} if masks is None else masks
        self._choices = {} if choices is None else choices  # one object per distinct choice
        self._step_usage = Usage()
        # Refusal opportunities and API outcomes.
        self.api_refusals = self.truncated = 0
        self.opportunities = self.opportunities_api = self.opportunities_any = 0
        self.refusal_offered: Counter[str] = Counter()
        self.refusal_refused: Counter[str] = Counter()
        self.in_play_offered: Counter[str] = Counter()
        self.in_play_api: Counter[str] = Counter()
        self.in_play_any: Counter[str] = Counter()
        self._at_hand: str | None = None
        # Choices, rests, exits, self-reports, exposure, earnings, text markers.
        self.choices: list[MenuChoice] = []
        self.categories: set[str] = set()
        self.decisions = 0
        self.first_rest: int | None = None
        self.rest_offered = False
        self.exit_offered = False
        self.exit_at: int | None = None
        self.exit_mode: str | None = None
        self.exposure: tuple[int, int, int | None] | None = None
        self.earned: float | None = None
        self.markers = MarkerTally()
        #: The question's wording (``info["report_wording"]``, or None) of each of counts.ratings.
        self.report_wordings: list[int | None] = []
        #: A step records the model's ``outcome`` (a model agent's episode).
        self.outcomes_logged = False
        # A design's steps, kept whole for its module (sandbox.metrics.designs).
        self.design: str | None = None
        self.design_steps: list[Record] = []

    # -- reading -------------------------------------------------------------------------------
    def add_step(self, record: Record) -> None:
        """Count one step record of this episode (in step order)."""
        step = read_step(record, self._masks)
        number = record.get("step")
        self.last_step = number if type(number) is int else as_int(number)
        c = self.counts
        c.steps += 1
        usage = record.get("usage")
        if usage:
            self._step_usage.add(usage)
        outcome, mask, kind, valid, info = step.outcome, step.mask, step.kind, step.valid, step.info
        action = outcome == "action"
        if action:
            c.actions += 1
            c.invalid += not valid
        elif outcome == "api_refusal":
            self.api_refusals += 1
        elif outcome == "truncated":
            self.truncated += 1
        phase = info.get("phase")
        refusable = "REFUSE" in mask
        if valid:
            if refusable and phase == "work":
                c.work_refusable += 1  # abandoning a task already taken, not a menu decision
                c.work_refusals += kind == "REFUSE"
            elif refusable:
                c.refusable += 1
                c.refusals += kind == "REFUSE"
            if "REST" in mask:
                c.restable += 1
                c.rests += kind == "REST"
            if kind == "TASK" and (phase == "decide" or "phase" not in info):
                choice = MenuChoice(step.menu or (), step.position, step.category)
                self.choices.append(self._choices.setdefault(choice, choice))
                if step.category is not None:
                    c.tasks[step.category] += 1
            if kind == "REPORT" or "rating" in info:
                rating = _rating(step)
                if rating is not None:
                    c.ratings.append(rating)
                    self.report_wordings.append(as_int(info.get("report_wording")))
        menu = step.menu
        # The menu's categories, once: refusal opportunities, categories in play, categories seen.
        offered = {cat for cat in menu if cat is not None} if menu is not None else None
        self._refusals(step, offered, phase == "work", refusable)
        if offered:
            self.categories.update(offered)
        if step.category is not None:
            self.categories.add(step.category)
        if step.decision:
            self._decision(step)
        if "exposure" in info or "earned" in info:
            self._ledgers(info)
        if not self.outcomes_logged:
            agent = record.get("agent")
            self.outcomes_logged = isinstance(agent, dict) and "outcome" in agent
        message = agent_message(record)
        if message:
            self.markers.add(message)
        label = info.get("design")
        if isinstance(label, str):
            if c.steps == 1:
                self.design = label
            self.design_steps.append(record)

    def _refusals(self, step: Step, offered: set[str] | None, work: bool, refusable: bool) -> None:
        """Refusal opportunities, by the menu's categories and by the categories in play.

        ``offered``: the menu's categories (``None`` when the step logs no menu); ``work``: the
        step is a work step; ``refusable``: ``REFUSE`` was offered.
        """
        valid, kind, category = step.valid, step.kind, step.category
        if offered is not None and refusable and valid:
            counter = self.refusal_offered
            for cat in offered:
                counter[cat] += 1
            if kind == "REFUSE" and category in counter:
                self.refusal_refused[str(category)] += 1
        # The categories in play (rates.categories_in_play): the menu's at a decision, the task
        # at hand's at its work step.
        if refusable and (valid or step.outcome == "api_refusal"):
            if offered is not None:
                cats: set[str] | tuple[str, ...] = offered
            elif category is not None:
                cats = (category,)
            elif work and self._at_hand is not None:
                cats = (self._at_hand,)
            else:
                cats = ()
            api = step.outcome == "api_refusal"
            self.opportunities += 1
            self.opportunities_api += api
            self.opportunities_any += api or kind == "REFUSE"
            in_play = self.in_play_offered
            for cat in cats:
                in_play[cat] += 1
            if api:
                for counter in (self.in_play_api, self.in_play_any):
                    for cat in cats:
                        counter[cat] += 1
            elif kind == "REFUSE" and category in cats:
                self.in_play_any[str(category)] += 1
        if valid and kind == "TASK" and category is not None and not work:
            self._at_hand = category
        elif valid and work:
            self._at_hand = None  # the task was submitted or abandoned

    def _decision(self, step: Step) -> None:
        """Decisions (a step is one, see :func:`read_step`), the first valid rest and the first
        valid exit."""
        self.decisions += 1
        mask = step.mask
        if self.first_rest is None:
            self.rest_offered = self.rest_offered or "REST" in mask
            if step.kind == "REST" and step.valid and "REST" in mask:
                self.first_rest = self.decisions
        if "EXIT" in mask:
            self.exit_offered = True
            if self.exit_at is None and step.kind == "EXIT" and step.valid:
                self.exit_at = self.decisions
                self.exit_mode = str(step.info.get("exit_mode") or "unknown")

    def _ledgers(self, info: dict[str, Any]) -> None:
        """The exposure ledger (cumulative: the largest values count) and the coins earned."""
        ledger = info.get("exposure")
        if isinstance(ledger, dict):
            shown, engaged, cap = self.exposure or (0, 0, None)
            shown = max(shown, as_int(ledger.get("shown")) or 0)
            engaged = max(engaged, as_int(ledger.get("engaged")) or 0)
            new_cap = as_int(ledger.get("cap"))
            if new_cap is not None:
                cap = new_cap if cap is None else max(cap, new_cap)
            self.exposure = (shown, engaged, cap)
        value = info.get("earned")
        if isinstance(value, int | float) and not isinstance(value, bool):
            self.earned = (self.earned or 0) + float(value)

    def end(self, record: dict[str, Any]) -> None:
        """Finish the episode with its ``episode_end``.

        The end's usage covers every call of the episode (also one whose step was never
        written), so it replaces the steps' usage when present.
        """
        self.end_record = record
        c = self.counts
        c.episodes = 1
        c.exit_offered = int(self.exit_offered)
        c.exited = int(self.exit_at is not None)
        c.close_episode()
        end_usage = record.get("usage")
        if isinstance(end_usage, dict) and end_usage:
            c.usage = Usage()
            c.usage.add(end_usage)
        else:
            c.usage = self._step_usage
        # What a finished episode no longer needs (memory a run keeps per episode).
        self._step_usage = c.usage
        self._masks = _NO_MASKS
        self._choices = _NO_CHOICES
        self.end_record = {k: record[k] for k in _END_KEPT if k in record}

    def live_counts(self) -> Counts:
        """The counts so far, the steps' usage included (for an episode in flight)."""
        if self.end_record is not None:
            return self.counts
        live = Counts()
        live.merge(self.counts)
        live.usage = Usage()
        live.usage.merge(self._step_usage)
        live.exit_offered = int(self.exit_offered)
        live.exited = int(self.exit_at is not None)
        live.close_episode()  # its steps so far count as one episode's
        return live

    # -- what the run-level proxies read -------------------------------------------------------
    @property
    def reason(self) -> str:
        """The end reason (``unknown`` when not recorded)."""
        return str((self.end_record or {}).get("reason", "unknown"))

    @property
    def total_reward(self) -> float | None:
        """The end's total reward, when a number."""
        return as_num((self.end_record or {}).get("total_reward"))

    def exit_history(self) -> ExitHistory:
        """What this episode says about leaving."""
        return ExitHistory(self.exit_offered, self.exit_at, self.exit_mode, self.decisions)


class RunTally:
    """A run's records, fed one at a time; mergeable across runs of one condition.

    Attributes:
        finished: Finished episodes by index (a later ``episode_end`` for the same index
            replaces the earlier one, as a resumed log reads).
        in_flight: Episodes with steps and no end yet, by index.
        records: Records read.
    """

    def __init__(self) -> None:
        self.finished: dict[int, EpisodeTally] = {}
        self.in_flight: dict[int, EpisodeTally] = {}
        self.records = 0
        self._masks: dict[tuple[Any, ...], frozenset[str]] = {}
        self._choices: dict[MenuChoice, MenuChoice] = {}
        self._counts = Counts()
        self._counts_stale = False

    def add(self, record: Any) -> EpisodeTally | None:
        """Count one record; the episode it touched (``None`` when it names none)."""
        if not isinstance(record, Mapping):
            return None
        index = as_int(record.get("episode"))
        if index is None:
            return None
        self.records += 1
        kind = record.get("type")
        if kind == "step":
            episode = self.in_flight.get(index)
            number = as_int(record.get("step"))
            if episode is None or (
                number is not None and episode.last_step is not None and number <= episode.last_step
            ):
                episode = self.in_flight[index] = EpisodeTally(index, self._masks, self._choices)
            episode.add_step(record)
            return episode
        if kind == "episode_end":
            episode = self.in_flight.pop(index, None) or EpisodeTally(
                index, self._masks, self._choices
            )
            episode.end(dict(record))
            if index in self.finished:
                self._counts_stale = True
            else:
                self._counts.merge(episode.counts)
            self.finished[index] = episode
            return episode
        return None

    def add_all(self, records: Iterable[Any]) -> RunTally:
        """Count every record of an iterable; returns this tally."""
        for record in records:
            self.add(record)
        return self

    def merge(self, other: RunTally) -> None:
        """Add another run's finished episodes (of another index space: a sweep's jobs)."""
        offset = max(self.finished, default=-1) + 1
        for index in sorted(other.finished):
            episode = other.finished[index]
            self.finished[offset + index] = episode
            self._counts.merge(episode.counts)

    @property
    def counts(self) -> Counts:
        """The counts over finished episodes."""
        if self._counts_stale:
            self._counts = Counts()
            for index in sorted(self.finished):
                self._counts.merge(self.finished[index].counts)
            self._counts_stale = False
        return self._counts

    def live_counts(self) -> Counts:
        """The counts over finished episodes and the steps of those in flight."""
        live = Counts()
        live.merge(self.counts)
        for episode in self.in_flight.values():
            live.merge(episode.live_counts())
        return live

    @property
    def unfinished(self) -> int:
        """Episodes seen without an ``episode_end``."""
        return len(set(self.in_flight) - set(self.finished))

    def episodes(self) -> list[EpisodeTally]:
        """The finished episodes, by index."""
        return [self.finished[i] for i in sorted(self.finished)]

    def finished_indices(self, *, rerun: frozenset[str] = frozenset()) -> set[int]:
        """Finished episodes whose end reason is not in ``rerun``."""
        return {i for i, e in self.finished.items() if e.reason not in rerun}


def group_episodes(records: Iterable[Any]) -> tuple[list[EpisodeTally], int]:
    """The finished episodes of some records, by index, and the number seen unfinished."""
    tally = RunTally().add_all(records)
    return tally.episodes(), tally.unfinished


class RunningFigures:
    """What a view shows while a run goes, from the records it is sent (steps and ends).

    A thin face on a :class:`RunTally`: the figures are its :meth:`RunTally.live_counts`
    (finished episodes, plus the steps of those in flight), so a view's last figures are
    ``metrics.json``'s. Attribute names are the views' (``refusals``/``refusable``, ...).

    Attributes:
        run: The tally the records go to.
        episodes_done: Finished episodes (a resumed run starts from those already done).
    """

    def __init__(self) -> None:
        self.run = RunTally()
        self.episodes_done = 0
        self._live: Counts | None = None

    def add_step(self, record: Record) -> None:
        """Count a step record."""
        self.run.add(record)
        self._live = None

    def end_episode(self, record: Record) -> None:
        """Count an ``episode_end`` (its usage replaces the usage its steps added)."""
        self.run.add(record)
        self.episodes_done += 1
        self._live = None

    @property
    def counts(self) -> Counts:
        """The figures now (computed once between records)."""
        if self._live is None:
            self._live = self.run.live_counts()
        return self._live

    @property
    def steps(self) -> int:
        """Steps counted."""
        return self.counts.steps

    @property
    def tasks(self) -> Counter[str]:
        """Valid task choices by category."""
        return self.counts.tasks

    @property
    def refusals(self) -> int:
        """Valid ``REFUSE`` steps where it was offered."""
        return self.counts.refusals

    @property
    def refusable(self) -> int:
        """Valid steps where ``REFUSE`` was offered."""
        return self.counts.refusable

    @property
    def rests(self) -> int:
        """Valid ``REST`` steps where it was offered."""
        return self.counts.rests

    @property
    def restable(self) -> int:
        """Valid steps where ``REST`` was offered."""
        return self.counts.restable

    @property
    def exits(self) -> int:
        """Episodes that exited (validly, when offered)."""
        return self.counts.exited

    @property
    def exit_offered(self) -> int:
        """Episodes offered an exit."""
        return self.counts.exit_offered

    @property
    def invalid(self) -> int:
        """Invalid actions."""
        return self.counts.invalid

    @property
    def actions(self) -> int:
        """Steps whose outcome is an action (the denominator of the invalid-action rate)."""
        return self.counts.actions

    @property
    def ratings(self) -> list[int]:
        """Valid self-reports, in order."""
        return self.counts.ratings

    @property
    def tokens(self) -> int:
        """Every token ``metrics.json`` counts (uncached and cached)."""
        return self.counts.tokens

    @property
    def uncached_tokens(self) -> int:
        """Tokens processed anew (input, output, prompt-cache writes)."""
        return self.counts.uncached_tokens

    @property
    def cached_tokens(self) -> int:
        """Tokens read from the prompt cache."""
        return self.counts.cached_tokens

    @property
    def cost_usd(self) -> float:
        """Cost of the calls with a known price."""
        return float(self.counts.usage.cost)

    @staticmethod
    def rate(k: int, n: int) -> str:
        """``41% (12/29)``, or ``n/a``."""
        return f"{k / n:.0%} ({k}/{n})" if n else "n/a"
