"""Reading a step record for the proxies, and the proxies pooled over menu choices and exits.

Records are the dicts of ``episodes.jsonl`` (see :mod:`sandbox.records`). :func:`read_step`
tolerates missing or malformed keys: an environment that does not log what a proxy needs gets
``n == 0`` and ``None`` values for that proxy, never an exception. The counting itself, one
record at a time, is :mod:`sandbox.metrics.tally`'s.

Conventions shared by the proxies (docs/science.md, "Welfare proxies"):

- Only finished episodes count (those with an ``episode_end``); the run's tally
  (:class:`~sandbox.metrics.tally.RunTally`) drops the rest, since a resumed run re-runs them
  from the start.
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

from collections import Counter
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from sandbox.metrics.clustered import ClusterSums
from sandbox.metrics.stats import Rate, Survival, kaplan_meier, wilson
from sandbox.records import as_dict, as_int

Record = Mapping[str, Any]

#: Kinds whose availability makes a step a decision point.
DECISION_KINDS = frozenset({"TASK", "REST", "REFUSE", "EXIT"})
#: Outcomes of a step (see the conventions above).
OUTCOMES = ("action", "api_refusal", "truncated")


@dataclass(slots=True)  # not frozen: a frozen __init__ costs each reader ~1 µs a step
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


#: The rates every run reports at the top of ``metrics.json`` (value, interval, n): the sweep
#: summary's columns and the report's proportions both read this one list.
HEADLINE_RATES = (
    "refusal_rate",
    "work_refusal_rate",
    "rest_rate",
    "exit_rate",
    "invalid_action_rate",
    "api_refusal_rate",
    "any_refusal_rate",
    "truncation_rate",
)


def _read_mask(raw: Any, cache: dict[tuple[Any, ...], frozenset[str]]) -> frozenset[str]:
    """The mask as a set of upper-case names; a run repeats a few masks, so they are cached."""
    if not isinstance(raw, list):
        return frozenset()
    try:
        key = tuple(raw)
        mask = cache.get(key)  # a mask seen before was checked then
    except TypeError:  # an unhashable entry: a damaged record
        key, mask = None, None
    if mask is not None:
        return mask
    if not all(isinstance(k, str) for k in raw):  # a damaged record: names only
        return frozenset(str(k).upper() for k in raw if isinstance(k, str))
    mask = cache[key] = frozenset(k.upper() for k in raw)  # type: ignore[index]
    return mask


def step_outcome(record: Record) -> str:
    """The step's outcome: ``agent["outcome"]``, else read from older agent keys."""
    agent = as_dict(record.get("agent"))
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
    info = as_dict(record.get("info"))
    action = as_dict(record.get("action"))
    raw_kind = action.get("kind")
    mask = _read_mask(record.get("mask"), {} if masks is None else masks)
    raw_menu = info.get("menu")
    menu = None
    if isinstance(raw_menu, list) and raw_menu:
        menu = tuple(
            str(o["category"]) if isinstance(o, dict) and o.get("category") is not None else None
            for o in raw_menu
        )
    position = as_int(info.get("position"))
    if position is None and "position" not in info:
        position = as_int(action.get("target"))
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


def choice_share(
    episodes: Sequence[Sequence[MenuChoice]], categories: Sequence[str]
) -> dict[str, Rate]:
    """Share of task choices going to each category, its interval clustered by episode.

    Definition: valid ``TASK`` choices of an option in category ``c`` ÷ valid ``TASK`` choices
    whose category is known, pooled over episodes (``n``: choices; ``n_episodes``: episodes
    with one). Categories seen on a menu but never chosen get a rate of 0.

    Args:
        episodes: Each episode's task choices.
        categories: Categories to report besides those chosen.
    """
    known = [[c.category for c in choices if c.category is not None] for choices in episodes]
    counts = [Counter(cats) for cats in known]
    chosen = set().union(*counts) if counts else set()
    return {
        cat: ClusterSums.of((n[cat], len(k)) for n, k in zip(counts, known, strict=True)).rate()
        for cat in sorted(set(categories) | chosen)
    }


def position_bias(episodes: Sequence[Sequence[MenuChoice]]) -> dict[str, Any]:
    """Excess share of first-listed choices over chance.

    Definition: over task choices from menus of ``k >= 2`` options with a recorded position,
    ``P(first listed chosen) - mean(1/k)``, pooled over episodes. The interval is the share's
    interval clustered by episode (:mod:`sandbox.metrics.clustered`: an episode's choices may
    share a position preference) shifted by the same chance level; it excludes 0 when the test
    of no bias rejects at 5%. A menu order that is not random makes this naive measure
    confound position with content; the conditional-logit coefficient does not.

    Args:
        episodes: Each episode's task choices.

    Returns:
        ``value``, ``ci_low``, ``ci_high``, ``n`` (choices), ``n_episodes``, ``method``,
        ``first_share`` (a rate) and ``chance``; values ``None`` when ``n == 0``.
    """
    usable = [
        [c for c in choices if c.position is not None and len(c.menu) >= 2] for choices in episodes
    ]
    share = ClusterSums.of((sum(c.position == 0 for c in u), len(u)) for u in usable).rate()
    flat = [c for u in usable for c in u]
    unit = {"n_episodes": share.get("n_episodes"), "method": share.get("method")}
    if not flat:
        none = {"value": None, "ci_low": None, "ci_high": None}
        return {**none, "n": 0, **unit, "first_share": share, "chance": None}
    chance = sum(1.0 / len(c.menu) for c in flat) / len(flat)
    assert share["value"] is not None
    low, high = share["ci_low"], share["ci_high"]
    return {
        "value": share["value"] - chance,
        "ci_low": low - chance if low is not None else None,
        "ci_high": high - chance if high is not None else None,
        "n": len(flat),
        **unit,
        "first_share": share,
        "chance": chance,
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


def exit_rate_by_mode(histories: Sequence[ExitHistory]) -> dict[str, Rate]:
    """Exit rate split by the mode of the first exit (``consequential``/``hypothetical``).

    Definition: episodes whose first exit had mode ``m`` ÷ episodes where ``EXIT`` was offered.
    The log names the mode only on the exit step, so the denominator is shared and the modes'
    rates sum to :func:`exit_rate`.
    """
    offered = [h for h in histories if h.offered]
    modes = Counter(h.mode for h in offered if h.at is not None and h.mode is not None)
    n = len(offered)
    return {mode: wilson(modes[mode], n, n_episodes=n) for mode in sorted(modes)}


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


#: Usage fields summed into ``tokens``.
TOKEN_FIELDS = (
    "input_tokens",
    "output_tokens",
    "cache_read_input_tokens",
    "cache_creation_input_tokens",
)
