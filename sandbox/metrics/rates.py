"""Behavioural rates over finished episodes: small pure functions over step records.

Records are the dicts of ``episodes.jsonl`` (see :mod:`sandbox.records`). Every reader here
tolerates missing or malformed keys: an environment that does not log what a proxy needs gets
``n == 0`` and ``None`` values for that proxy, never an exception.

Conventions shared by the proxies (docs/science.md, "Welfare proxies"):

- Only finished episodes count (those with an ``episode_end``); :func:`group_episodes` drops
  the rest, since a resumed run re-runs them from the start.
- *Offered*: a kind is offered at a step when its name is in the step's ``mask``.
- *Outcome*: what the agent's answer was (``agent["outcome"]`` of a model agent's step):
  ``action``, ``api_refusal`` (the API refused: ``stop_reason`` ``refusal``, a chat
  completion's ``content_filter`` or ``refusal``) or ``truncated`` (cut off at ``max_tokens``).
  Records written before the key existed are read from ``agent["refusal"]``,
  ``agent["max_tokens"]`` and ``agent["stop_reason"]``; steps of other agents are actions.
  An API refusal or a truncation is not an action, so never an invalid one: it has its own
  rates (``api_refusal_rate``, ``truncation_rate``).
- *Valid*: the outcome is an action and the step's ``invalid`` flag is false. Numerators and
  denominators of the action rates count valid steps only: an invalid action took no effect,
  and how often that happens is its own proxy, ``invalid_action_rate``.
- *Refusal opportunity*: a step where ``REFUSE`` was offered whose outcome is a valid action or
  an API refusal: the denominator of every rate that counts API refusals beside ``REFUSE``.
- *Decision*: a step whose mask offers any of ``TASK``, ``REST``, ``REFUSE``, ``EXIT``. Times
  (steps to first rest, time to exit) count decisions from 1, valid or not, because an invalid
  attempt still takes the agent's turn.
"""

from __future__ import annotations

import statistics
from collections import Counter
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from sandbox.metrics.stats import Rate, Survival, kaplan_meier, mean_sd, wilson

Record = Mapping[str, Any]

#: Kinds whose availability makes a step a decision point.
DECISION_KINDS = frozenset({"TASK", "REST", "REFUSE", "EXIT"})
#: Outcomes of a step (see the conventions above).
OUTCOMES = ("action", "api_refusal", "truncated")


def _int(value: Any) -> int | None:
    """``value`` if it is an int (JSON booleans excluded), else ``None``."""
    return value if isinstance(value, int) and not isinstance(value, bool) else None


def _dict(value: Any) -> dict[str, Any]:
    """``value`` if it is a dict (what JSON gives), else an empty dict."""
    return value if isinstance(value, dict) else {}


@dataclass(frozen=True, slots=True)
class Step:
    """One step record, read once into the fields the proxies use.

    Attributes:
        record: The raw record (for fields read by one proxy only: note, usage, agent).
        kind: The action's kind name, upper-case (``None`` when missing).
        mask: The kinds offered (empty when the mask is missing).
        outcome: ``action``, ``api_refusal`` or ``truncated`` (see the conventions above).
        valid: The outcome is an action and it took effect (neither the record nor its info
            flags it invalid).
        info: The step's ``info`` (empty when missing).
        menu: Category of each menu option in display order (``None`` for an unlabelled
            option); ``None`` when the step logs no menu.
        position: Menu index acted on (``info["position"]``, else the action's target), when it
            indexes the menu.
        category: Category of the option acted on (``info["chosen"]``, else the menu at
            ``position``).
        decision: The mask offers a welfare-relevant choice (``DECISION_KINDS``).
    """

    record: Record
    kind: str | None
    mask: frozenset[str]
    outcome: str
    valid: bool
    info: dict[str, Any]
    menu: tuple[str | None, ...] | None
    position: int | None
    category: str | None
    decision: bool


def _read_mask(raw: Any, cache: dict[tuple[Any, ...], frozenset[str]]) -> frozenset[str]:
    """The mask as a set of upper-case names; a run repeats a few masks, so they are cached."""
    if not isinstance(raw, list):
        return frozenset()
    if not all(isinstance(k, str) for k in raw):  # a damaged record: names only
        return frozenset(str(k).upper() for k in raw if isinstance(k, str))
    key = tuple(raw)
    mask = cache.get(key)
    if mask is None:
        mask = cache[key] = frozenset(str(k).upper() for k in raw)
    return mask


def step_outcome(record: Record) -> str:
    """The step's outcome: ``agent["outcome"]``, else read from older agent keys."""
    agent = _dict(record.get("agent"))
    outcome = agent.get("outcome")
    if outcome in OUTCOMES:
        return str(outcome)
    if agent.get("refusal") is True or agent.get("stop_reason") == "refusal":
        return "api_refusal"
    if agent.get("max_tokens") is True or agent.get("stop_reason") == "max_tokens":
        return "truncated"
    return "action"


def read_step(record: Record, masks: dict[tuple[Any, ...], frozenset[str]] | None = None) -> Step:
    """Read a step record defensively: a missing or malformed key gives an empty field.

    Args:
        record: The step record.
        masks: A cache of parsed masks shared across the steps of a run.
    """
    info = _dict(record.get("info"))
    action = _dict(record.get("action"))
    raw_kind = action.get("kind")
    mask = _read_mask(record.get("mask"), {} if masks is None else masks)
    raw_menu = info.get("menu")
    menu = None
    if isinstance(raw_menu, list) and raw_menu:
        menu = tuple(
            str(o["category"]) if isinstance(o, dict) and o.get("category") is not None else None
            for o in raw_menu
        )
    position = _int(info.get("position"))
    if position is None and "position" not in info:
        position = _int(action.get("target"))
    if position is None or menu is None or not 0 <= position < len(menu):
        position = None
    chosen = info.get("chosen")
    if isinstance(chosen, dict) and chosen.get("category") is not None:
        category: str | None = str(chosen["category"])
    else:
        category = menu[position] if menu is not None and position is not None else None
    outcome = step_outcome(record)
    flagged = record.get("invalid") is True or info.get("invalid") is True
    return Step(
        record=record,
        kind=str(raw_kind).upper() if raw_kind is not None else None,
        mask=mask,
        outcome=outcome,
        valid=outcome == "action" and not flagged,
        info=info,
        menu=menu,
        position=position,
        category=category,
        decision=bool(mask & DECISION_KINDS),
    )


@dataclass(frozen=True, slots=True)
class Episode:
    """A finished episode: its ``episode_end`` record and its steps in step order.

    Attributes:
        index: The episode's index in the run.
        end: The ``episode_end`` record.
        steps: The steps of the attempt that finished, sorted by ``step``.
    """

    index: int
    end: Record
    steps: tuple[Step, ...]


def group_episodes(records: Iterable[Record]) -> tuple[list[Episode], int]:
    """Group records into finished episodes, sorted by index.

    Within one episode the file order matters: a step numbered at or below the previous one
    starts a new attempt (a resumed run re-running an unfinished episode) and discards the
    steps before it. Across episodes the order does not matter.

    Returns:
        The finished episodes, and the number of episodes seen without an ``episode_end``.
    """
    attempts: dict[int, list[Record]] = {}
    finished: dict[int, Episode] = {}
    masks: dict[tuple[Any, ...], frozenset[str]] = {}
    for record in records:
        if not isinstance(record, Mapping):
            continue
        index = _int(record.get("episode"))
        if index is None:
            continue
        if record.get("type") == "step":
            current = attempts.setdefault(index, [])
            number = _int(record.get("step"))
            if current and number is not None and number <= (_int(current[-1].get("step")) or 0):
                current.clear()
            current.append(record)
        elif record.get("type") == "episode_end":
            steps = sorted(attempts.pop(index, []), key=lambda s: _int(s.get("step")) or 0)
            parsed = tuple(read_step(step, masks) for step in steps)
            finished[index] = Episode(index, record, parsed)
    unfinished = len(set(attempts) - set(finished))
    return [finished[i] for i in sorted(finished)], unfinished


def _steps(episodes: Sequence[Episode]) -> Iterator[Step]:
    for episode in episodes:
        yield from episode.steps


# ---------------------------------------------------------------------------------------------
# Task choices


@dataclass(frozen=True, slots=True)
class MenuChoice:
    """One valid ``TASK`` choice from a menu.

    Attributes:
        menu: Category of each option, in display order (``None`` where unlabelled).
        position: Index of the option chosen, or ``None`` when not recorded.
        category: Category of the option chosen, or ``None`` when not recorded.
    """

    menu: tuple[str | None, ...]
    position: int | None
    category: str | None


def task_choices(episodes: Sequence[Episode]) -> list[MenuChoice]:
    """Valid ``TASK`` actions at decision time (phase ``decide`` or no phase), in run order."""
    choices = []
    for step in _steps(episodes):
        if step.kind == "TASK" and step.valid and step.info.get("phase", "decide") == "decide":
            choices.append(MenuChoice(step.menu or (), step.position, step.category))
    return choices


def categories_on_offer(episodes: Sequence[Episode]) -> list[str]:
    """Every category seen on any menu or acted on, sorted."""
    seen: set[str] = set()
    for step in _steps(episodes):
        seen.update(c for c in step.menu or () if c is not None)
        if step.category is not None:
            seen.add(step.category)
    return sorted(seen)


def choice_share(choices: Sequence[MenuChoice], categories: Sequence[str]) -> dict[str, Rate]:
    """Share of task choices going to each category.

    Definition: valid ``TASK`` choices of an option in category ``c`` ÷ valid ``TASK`` choices
    whose category is known. Categories seen on a menu but never chosen get a rate of 0.
    """
    known = [c.category for c in choices if c.category is not None]
    counts = Counter(known)
    return {cat: wilson(counts[cat], len(known)) for cat in sorted(set(categories) | set(counts))}


def position_bias(choices: Sequence[MenuChoice]) -> dict[str, Any]:
    """Excess share of first-listed choices over chance.

    Definition: over task choices from menus of ``k >= 2`` options with a recorded position,
    ``P(first listed chosen) - mean(1/k)``. The interval is the Wilson interval of the share
    shifted by the same chance level. A menu order that is not random makes this naive measure
    confound position with content; the conditional-logit coefficient does not.

    Returns:
        ``value``, ``ci_low``, ``ci_high``, ``n``, ``first_share`` (a Wilson rate) and
        ``chance``; values ``None`` when ``n == 0``.
    """
    usable = [c for c in choices if c.position is not None and len(c.menu) >= 2]
    share = wilson(sum(c.position == 0 for c in usable), len(usable))
    if not usable:
        none = {"value": None, "ci_low": None, "ci_high": None}
        return {**none, "n": 0, "first_share": share, "chance": None}
    chance = sum(1.0 / len(c.menu) for c in usable) / len(usable)
    assert share["value"] is not None and share["ci_low"] is not None
    assert share["ci_high"] is not None
    return {
        "value": share["value"] - chance,
        "ci_low": share["ci_low"] - chance,
        "ci_high": share["ci_high"] - chance,
        "n": len(usable),
        "first_share": share,
        "chance": chance,
    }


# ---------------------------------------------------------------------------------------------
# Refusal, rest, invalid actions


def action_rate(episodes: Sequence[Episode], action: str) -> Rate:
    """Valid ``action`` steps ÷ valid steps where ``action`` was offered."""
    offered = taken = 0
    for step in _steps(episodes):
        if step.valid and action in step.mask:
            offered += 1
            taken += step.kind == action
    return wilson(taken, offered)


def refusal_by_category(episodes: Sequence[Episode]) -> dict[str, Rate]:
    """Refusal rate by the category of the refused option.

    Definition: for category ``c``, valid ``REFUSE`` actions on an option of ``c`` ÷ valid
    decisions where ``REFUSE`` was offered and an option of ``c`` was on the menu. A decision
    whose menu holds two categories counts in both denominators.
    """
    offered: Counter[str] = Counter()
    refused: Counter[str] = Counter()
    for step in _steps(episodes):
        if step.menu is None or "REFUSE" not in step.mask or not step.valid:
            continue
        offered.update({c for c in step.menu if c is not None})
        if step.kind == "REFUSE" and step.category is not None and step.category in offered:
            refused[step.category] += 1
    return {cat: wilson(refused[cat], offered[cat]) for cat in sorted(offered)}


def invalid_action_rate(episodes: Sequence[Episode]) -> Rate:
    """Invalid actions ÷ steps whose outcome is an action.

    API refusals and truncations are not actions: they are in neither count.
    """
    actions = [s for s in _steps(episodes) if s.outcome == "action"]
    return wilson(sum(not s.valid for s in actions), len(actions))


def api_refusals(episodes: Sequence[Episode]) -> int:
    """Steps whose outcome is an API refusal, wherever they happen (``REFUSE`` offered or not)."""
    return sum(step.outcome == "api_refusal" for step in _steps(episodes))


def _opportunity(step: Step) -> bool:
    """A refusal opportunity (see the conventions above)."""
    return "REFUSE" in step.mask and (step.valid or step.outcome == "api_refusal")


def api_refusal_rate(episodes: Sequence[Episode]) -> Rate:
    """API refusals ÷ refusal opportunities.

    Beside the behavioural ``refusal_rate``: the model declined through the API (a refusal stop
    reason) rather than by the ``refuse`` action. API refusals at steps where ``REFUSE`` was not
    offered are counted by :func:`api_refusals` only.
    """
    steps = [s for s in _steps(episodes) if _opportunity(s)]
    return wilson(sum(s.outcome == "api_refusal" for s in steps), len(steps))


def any_refusal_rate(episodes: Sequence[Episode]) -> Rate:
    """Valid ``REFUSE`` actions or API refusals ÷ refusal opportunities."""
    steps = [s for s in _steps(episodes) if _opportunity(s)]
    refused = sum(s.outcome == "api_refusal" or s.kind == "REFUSE" for s in steps)
    return wilson(refused, len(steps))


def truncation_rate(episodes: Sequence[Episode]) -> Rate:
    """Steps whose answer was cut off at ``max_tokens`` (outcome ``truncated``) ÷ steps."""
    steps = list(_steps(episodes))
    return wilson(sum(s.outcome == "truncated" for s in steps), len(steps))


def categories_in_play(episode: Episode) -> Iterator[tuple[Step, frozenset[str]]]:
    """Each step of an episode with the categories it put before the agent.

    A decision's are the categories on its menu; a work step's is the category of the task at
    hand (its ``info["chosen"]``; for a step whose info names none, such as an API refusal of
    the work, the category of the episode's last valid ``TASK`` choice). Other steps have none.
    """
    at_hand: str | None = None
    for step in episode.steps:
        work = step.info.get("phase") == "work"
        if step.menu is not None:
            cats = frozenset(c for c in step.menu if c is not None)
        elif step.category is not None:
            cats = frozenset({step.category})
        elif work and at_hand is not None:
            cats = frozenset({at_hand})
        else:
            cats = frozenset()
        yield step, cats
        if step.valid and step.kind == "TASK" and step.category is not None and not work:
            at_hand = step.category
        elif step.valid and work:
            at_hand = None  # the task was submitted or abandoned


def _refusals_by_category(
    episodes: Sequence[Episode], counts: Callable[[Step, str], bool]
) -> dict[str, Rate]:
    """Per category in play: steps ``counts(step, category)`` holds for ÷ refusal opportunities."""
    offered: Counter[str] = Counter()
    hits: Counter[str] = Counter()
    for episode in episodes:
        for step, cats in categories_in_play(episode):
            if not _opportunity(step):
                continue
            offered.update(cats)
            hits.update(c for c in cats if counts(step, c))
    return {cat: wilson(hits[cat], offered[cat]) for cat in sorted(offered)}


def api_refusal_by_category(episodes: Sequence[Episode]) -> dict[str, Rate]:
    """API refusal rate by category.

    Definition: for category ``c``, API refusals at steps with ``c`` in play ÷ refusal
    opportunities with ``c`` in play (:func:`categories_in_play`: the menu's categories at a
    decision, the task's at its work step). An API refusal names no option, so a refused
    decision counts for every category on its menu. Unlike ``refusal_by_category``, work steps
    count: that is where a model sees a task's full text, and where the API refuses most.
    """
    return _refusals_by_category(episodes, lambda step, _cat: step.outcome == "api_refusal")


def any_refusal_by_category(episodes: Sequence[Episode]) -> dict[str, Rate]:
    """Behavioural or API refusal rate by category.

    Definition: for category ``c``, refusal opportunities with ``c`` in play where the model
    refused through the API, or took a valid ``REFUSE`` of an option (or of a task at work) of
    ``c`` ÷ refusal opportunities with ``c`` in play (as :func:`api_refusal_by_category`).
    """
    return _refusals_by_category(
        episodes,
        lambda step, cat: (
            step.outcome == "api_refusal" or (step.kind == "REFUSE" and step.category == cat)
        ),
    )


def steps_to_first_rest(episodes: Sequence[Episode]) -> dict[str, Any]:
    """Decisions up to and including the first valid ``REST`` of each episode.

    Returns:
        ``mean``, ``median`` and ``n`` over episodes that rested; ``censored``: episodes that
        were offered a rest and never took one (excluded from the mean, not counted as zero).
    """
    firsts: list[int] = []
    censored = 0
    for episode in episodes:
        count, first, offered = 0, None, False
        for step in episode.steps:
            if not step.decision:
                continue
            count += 1
            offered = offered or "REST" in step.mask
            if step.kind == "REST" and step.valid and "REST" in step.mask:
                first = count
                break
        if first is not None:
            firsts.append(first)
        elif offered:
            censored += 1
    return {
        "mean": statistics.fmean(firsts) if firsts else None,
        "median": float(statistics.median(firsts)) if firsts else None,
        "n": len(firsts),
        "censored": censored,
    }


# ---------------------------------------------------------------------------------------------
# Exit


@dataclass(frozen=True, slots=True)
class ExitHistory:
    """What one episode says about leaving.

    Attributes:
        offered: ``EXIT`` was in the mask at least once.
        at: Decision index (from 1) of the first valid ``EXIT``, or ``None``.
        mode: ``info["exit_mode"]`` of that exit (``"unknown"`` when not logged).
        decisions: Decisions in the episode (the censoring time when it did not exit).
    """

    offered: bool
    at: int | None
    mode: str | None
    decisions: int


def exit_history(episode: Episode) -> ExitHistory:
    """Read one episode's exit offer, first exit and its mode."""
    decisions, offered, at, mode = 0, False, None, None
    for step in episode.steps:
        decisions += step.decision
        offered = offered or "EXIT" in step.mask
        if at is None and step.kind == "EXIT" and step.valid and "EXIT" in step.mask:
            at = max(decisions, 1)
            mode = str(step.info.get("exit_mode") or "unknown")
    return ExitHistory(offered, at, mode, decisions)


def exit_rate(histories: Sequence[ExitHistory]) -> Rate:
    """Episodes with a valid ``EXIT`` ÷ episodes where ``EXIT`` was offered at least once.

    A hypothetical exit (the episode goes on) counts like a consequential one; an episode
    counts once however often it exits.
    """
    offered = [h for h in histories if h.offered]
    return wilson(sum(h.at is not None for h in offered), len(offered))


def exit_rate_by_mode(histories: Sequence[ExitHistory]) -> dict[str, Rate]:
    """Exit rate split by the mode of the first exit (``consequential``/``hypothetical``).

    Definition: episodes whose first exit had mode ``m`` ÷ episodes where ``EXIT`` was offered.
    The log names the mode only on the exit step, so the denominator is shared and the modes'
    rates sum to :func:`exit_rate`.
    """
    offered = [h for h in histories if h.offered]
    modes = Counter(h.mode for h in offered if h.at is not None and h.mode is not None)
    return {mode: wilson(modes[mode], len(offered)) for mode in sorted(modes)}


def time_to_exit(histories: Sequence[ExitHistory]) -> Survival:
    """Kaplan–Meier curve of decisions until the first exit, censored at the episode's end.

    Over episodes where ``EXIT`` was offered; an episode that never exits is censored at its
    number of decisions.
    """
    offered = [h for h in histories if h.offered]
    return kaplan_meier(
        [h.at if h.at is not None else h.decisions for h in offered],
        [h.at is not None for h in offered],
    )


# ---------------------------------------------------------------------------------------------
# Self-report, exposure, earnings, ends


def _rating(step: Step) -> int | None:
    """The 1-7 rating of a valid step: ``info["rating"]``, else a ``REPORT`` action's target."""
    if not step.valid:
        return None
    rating = _int(step.info.get("rating"))
    if rating is None and step.kind == "REPORT":
        rating = _int(_dict(step.record.get("action")).get("target"))
    return rating if rating is not None and 1 <= rating <= 7 else None


def self_report(episodes: Sequence[Episode]) -> dict[str, Any]:
    """Mean, spread and trajectory of the agent's 1-7 well-being ratings.

    Returns:
        ``mean``, ``sd``, ``n``; ``trajectory``: one ``{"index", "mean", "sd", "n"}`` per report
        index within the episode (0 = each episode's first report); ``distribution``: count per
        rating; ``mode`` and ``modal_share`` (a Wilson rate: the share of ratings at the modal
        value, a collapse check: near 1 means the ratings carry little information).
    """
    by_index: dict[int, list[int]] = {}
    ratings: list[int] = []
    for episode in episodes:
        own = [r for r in map(_rating, episode.steps) if r is not None]
        ratings.extend(own)
        for i, r in enumerate(own):
            by_index.setdefault(i, []).append(r)
    counts = Counter(ratings)
    # Ties for the mode go to the lowest rating, so the result does not depend on order.
    mode = min(counts, key=lambda r: (-counts[r], r)) if counts else None
    return {
        **mean_sd(ratings),
        "trajectory": [{"index": i, **mean_sd(by_index[i])} for i in sorted(by_index)],
        "distribution": {str(r): counts[r] for r in sorted(counts)},
        "mode": mode,
        "modal_share": wilson(counts[mode] if mode is not None else 0, len(ratings)),
    }


def exposure(episodes: Sequence[Episode]) -> dict[str, Any]:
    """The exposure ledger: aversive items shown and engaged with, against the cap.

    ``info["exposure"]`` is cumulative within an episode, so each episode contributes its
    largest ``shown`` and ``engaged``.

    Returns:
        ``shown`` and ``engaged`` summed over episodes, ``cap`` (per episode; the largest if
        episodes differ; ``None`` when uncapped), ``per_episode`` (``mean`` and ``max`` of each),
        ``over_cap`` (episodes that showed more than their cap) and ``n`` (episodes with a
        ledger).
    """
    shown: list[int] = []
    engaged: list[int] = []
    caps: list[int] = []
    over = 0
    for episode in episodes:
        ledgers = [e for s in episode.steps if isinstance(e := s.info.get("exposure"), dict)]
        if not ledgers:
            continue
        ep_shown = max((_int(e.get("shown")) or 0 for e in ledgers), default=0)
        ep_engaged = max((_int(e.get("engaged")) or 0 for e in ledgers), default=0)
        ep_caps = [c for e in ledgers if (c := _int(e.get("cap"))) is not None]
        shown.append(ep_shown)
        engaged.append(ep_engaged)
        if ep_caps:
            caps.append(max(ep_caps))
            over += ep_shown > max(ep_caps)

    def summary(values: list[int]) -> dict[str, Any]:
        return {
            "mean": statistics.fmean(values) if values else None,
            "max": max(values, default=None),
        }

    return {
        "shown": sum(shown),
        "engaged": sum(engaged),
        "cap": max(caps) if caps else None,
        "per_episode": {"shown": summary(shown), "engaged": summary(engaged)},
        "over_cap": over,
        "n": len(shown),
    }


def earned(episodes: Sequence[Episode]) -> dict[str, Any]:
    """Coins earned per episode (the sum of ``info["earned"]``): ``mean``, ``sd``, ``n``.

    Only episodes whose steps log ``earned`` count.
    """
    totals: list[float] = []
    for episode in episodes:
        values = [
            float(v)
            for s in episode.steps
            if isinstance(v := s.info.get("earned"), int | float) and not isinstance(v, bool)
        ]
        if values:
            totals.append(sum(values))
    return mean_sd(totals)


def total_reward(episodes: Sequence[Episode]) -> dict[str, Any]:
    """The environment's total reward per episode (from ``episode_end``): mean, sd, n."""
    values = [
        float(r)
        for e in episodes
        if isinstance(r := e.end.get("total_reward"), int | float) and not isinstance(r, bool)
    ]
    return mean_sd(values)


def end_reasons(episodes: Sequence[Episode]) -> dict[str, int]:
    """How many episodes ended for each reason."""
    counts = Counter(str(e.end.get("reason", "unknown")) for e in episodes)
    return dict(sorted(counts.items()))


#: Usage fields summed into ``tokens`` and ``calls``.
TOKEN_FIELDS = (
    "input_tokens",
    "output_tokens",
    "cache_read_input_tokens",
    "cache_creation_input_tokens",
)
CALL_FIELDS = ("calls", "cached_calls")


def usage_totals(episodes: Sequence[Episode]) -> dict[str, Any]:
    """Tokens, calls, latency and cost summed over finished episodes.

    Each episode's ``episode_end`` usage is used when present (it also covers a call whose step
    never got written, e.g. the one that errored); otherwise its steps' usage is summed.

    Returns:
        ``tokens`` (each token field and ``total``), ``calls`` (``calls``, ``cached_calls``),
        ``latency_s``, and ``cost_usd``: the sum, or ``None`` if any cost was unknown.
    """
    sums = dict.fromkeys(TOKEN_FIELDS + CALL_FIELDS, 0)
    latency = cost = 0.0
    cost_known = True
    for episode in episodes:
        end_usage = episode.end.get("usage")
        if isinstance(end_usage, dict) and end_usage:
            usages: list[dict[str, Any]] = [end_usage]
        else:
            usages = [u for s in episode.steps if isinstance(u := s.record.get("usage"), dict)]
        for usage in usages:
            for key in sums:
                sums[key] += _int(usage.get(key)) or 0
            value = usage.get("latency_s")
            latency += float(value) if isinstance(value, int | float) else 0.0
            if "cost_usd" in usage:
                price = usage["cost_usd"]
                if isinstance(price, int | float) and not isinstance(price, bool):
                    cost += float(price)
                else:
                    cost_known = False
    tokens = {key: sums[key] for key in TOKEN_FIELDS}
    tokens["total"] = sum(tokens.values())
    return {
        "tokens": tokens,
        "calls": {key: sums[key] for key in CALL_FIELDS},
        "latency_s": latency,
        "cost_usd": cost if cost_known else None,
    }
