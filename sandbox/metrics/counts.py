"""The counts behind every view's figures, each mergeable.

:class:`Usage` holds tokens and cost; :class:`Counts` the rates, choice shares and
self-reports. :mod:`sandbox.metrics.tally` fills them one record at a time.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field
from fractions import Fraction
from typing import Any

from sandbox.metrics.clustered import ClusterSums
from sandbox.metrics.rates import TOKEN_FIELDS
from sandbox.metrics.stats import Rate, wilson
from sandbox.records import as_int, as_num

#: The usage field of tokens served from the prompt cache (the other token fields are uncached).
CACHED_TOKENS = "cache_read_input_tokens"
#: Usage fields summed into ``calls``.
CALL_FIELDS = ("calls", "cached_calls")


@dataclass(slots=True)
class Usage:
    """Tokens, calls, latency and cost summed over usage dicts, as ``metrics.json`` counts them.

    Attributes:
        tokens: Each field of :data:`TOKEN_FIELDS` summed.
        calls: ``calls`` and ``cached_calls`` summed.
        latency_s: Seconds waiting for the model.
        cost: The exact sum of the known costs (a fraction: summing in any order gives the
            same float).
        cost_known: No usage named a cost that was not a number.
    """

    tokens: dict[str, int] = field(default_factory=lambda: dict.fromkeys(TOKEN_FIELDS, 0))
    calls: dict[str, int] = field(default_factory=lambda: dict.fromkeys(CALL_FIELDS, 0))
    latency_s: float = 0.0
    cost: Fraction = field(default_factory=Fraction)
    cost_known: bool = True

    def add(self, usage: Any) -> None:
        """Count one usage dict (anything else counts nothing)."""
        if not isinstance(usage, dict):
            return
        for key in TOKEN_FIELDS:
            self.tokens[key] += as_int(usage.get(key)) or 0
        for key in CALL_FIELDS:
            self.calls[key] += as_int(usage.get(key)) or 0
        latency = usage.get("latency_s")
        self.latency_s += float(latency) if isinstance(latency, int | float) else 0.0
        if "cost_usd" in usage:
            price = as_num(usage["cost_usd"])
            if price is None:
                self.cost_known = False
            else:
                self.cost += Fraction(price)

    def merge(self, other: Usage) -> None:
        """Add ``other``'s sums."""
        for key in TOKEN_FIELDS:
            self.tokens[key] += other.tokens[key]
        for key in CALL_FIELDS:
            self.calls[key] += other.calls[key]
        self.latency_s += other.latency_s
        self.cost += other.cost
        self.cost_known = self.cost_known and other.cost_known

    @property
    def cached_tokens(self) -> int:
        """Input tokens read from the prompt cache."""
        return self.tokens[CACHED_TOKENS]

    @property
    def uncached_tokens(self) -> int:
        """Every other token (input, output, prompt-cache writes)."""
        return sum(v for k, v in self.tokens.items() if k != CACHED_TOKENS)

    @property
    def cost_usd(self) -> float | None:
        """The summed cost, ``None`` when a price was unknown."""
        return float(self.cost) if self.cost_known else None


@dataclass(slots=True)
class Counts:
    """The figures every view shows, over one episode or merged over many.

    Definitions are those of ``metrics.json`` (:mod:`sandbox.metrics.rates`): refusal counts
    valid menu decisions where ``REFUSE`` was offered (``refusable``; a refusal at a work step,
    abandoning a task already taken, is counted apart in ``work_refusable``), rest valid steps
    where ``REST`` was offered; ``invalid`` counts invalid actions among steps whose outcome is
    an action; exit counts episodes (offered at least once, exited at least once); choice
    shares count valid ``TASK`` choices at decision time with a known category; ratings are the
    valid 1-7 self-reports in file order.

    The rates pooled over decisions have an interval clustered by episode
    (:mod:`sandbox.metrics.clustered`): :meth:`close_episode` turns one episode's counts into
    the per-episode sums it needs (``sums``, ``share_sq``, ``share_cross``), which merge exactly.
    """

    episodes: int = 0
    steps: int = 0
    actions: int = 0
    invalid: int = 0
    refusable: int = 0
    refusals: int = 0
    restable: int = 0
    rests: int = 0
    work_refusable: int = 0
    work_refusals: int = 0
    exit_offered: int = 0
    exited: int = 0
    tasks: Counter[str] = field(default_factory=Counter)
    ratings: list[int] = field(default_factory=list)
    usage: Usage = field(default_factory=Usage)
    sums: dict[str, ClusterSums] = field(default_factory=dict)
    share_sq: Counter[str] = field(default_factory=Counter)
    share_cross: Counter[str] = field(default_factory=Counter)

    def close_episode(self) -> None:
        """Fill the per-episode sums from this one episode's counts (once, at its end)."""
        self.sums = {
            name: ClusterSums.of([pair])
            for name, pair in (
                ("refusal", (self.refusals, self.refusable)),
                ("work_refusal", (self.work_refusals, self.work_refusable)),
                ("rest", (self.rests, self.restable)),
                ("invalid", (self.invalid, self.actions)),
            )
        }
        total = sum(self.tasks.values())
        self.sums["tasks"] = ClusterSums.of([(total, total)])
        self.share_sq = Counter({c: k * k for c, k in self.tasks.items()})
        self.share_cross = Counter({c: k * total for c, k in self.tasks.items()})

    def merge(self, other: Counts) -> None:
        """Add ``other``'s counts."""
        for name, sums in other.sums.items():
            self.sums.setdefault(name, ClusterSums()).merge(sums)
        self.share_sq.update(other.share_sq)
        self.share_cross.update(other.share_cross)
        self.work_refusable += other.work_refusable
        self.work_refusals += other.work_refusals
        self.episodes += other.episodes
        self.steps += other.steps
        self.actions += other.actions
        self.invalid += other.invalid
        self.refusable += other.refusable
        self.refusals += other.refusals
        self.restable += other.restable
        self.rests += other.rests
        self.exit_offered += other.exit_offered
        self.exited += other.exited
        self.tasks.update(other.tasks)
        self.ratings.extend(other.ratings)
        self.usage.merge(other.usage)

    # The proxies as metrics.json gives them.
    def _pooled(self, name: str) -> Rate:
        return self.sums.get(name, ClusterSums()).rate()

    def refusal_rate(self) -> Rate:
        """``refusal_rate``: refusals per menu decision, clustered by episode."""
        return self._pooled("refusal")

    def work_refusal_rate(self) -> Rate:
        """``work_refusal_rate``: tasks abandoned per work step, clustered by episode."""
        return self._pooled("work_refusal")

    def rest_rate(self) -> Rate:
        """``rest_rate``, clustered by episode."""
        return self._pooled("rest")

    def exit_rate(self) -> Rate:
        """``exit_rate``: one indicator per episode, so the plain Wilson."""
        return wilson(self.exited, self.exit_offered, n_episodes=self.exit_offered)

    def invalid_rate(self) -> Rate:
        """``invalid_action_rate``, clustered by episode."""
        return self._pooled("invalid")

    def share_rate(self, category: str) -> Rate:
        """``choice_share[category]``, clustered by episode."""
        tasks = self.sums.get("tasks", ClusterSums())
        return ClusterSums(
            hits=self.tasks.get(category, 0),
            trials=tasks.trials,
            clusters=tasks.clusters,
            hits2=self.share_sq.get(category, 0),
            cross=self.share_cross.get(category, 0),
            trials2=tasks.trials2,
        ).rate()

    def choice_share(self) -> dict[str, Rate]:
        """``choice_share`` over the categories chosen, most chosen first."""
        return {cat: self.share_rate(cat) for cat, _ in self.tasks.most_common()}

    def self_report_mean(self) -> float | None:
        """``self_report.mean``."""
        return sum(self.ratings) / len(self.ratings) if self.ratings else None

    @property
    def tokens(self) -> int:
        """``tokens.total``: every token field, cached or not."""
        return sum(self.usage.tokens.values())

    @property
    def cached_tokens(self) -> int:
        """Tokens read from the prompt cache."""
        return self.usage.cached_tokens

    @property
    def uncached_tokens(self) -> int:
        """Tokens processed anew (input, output, prompt-cache writes)."""
        return self.usage.uncached_tokens

    @property
    def cost_usd(self) -> float | None:
        """``cost_usd``."""
        return self.usage.cost_usd
