"""The report's pieces: a condition's proxies, the effects against a control, published blocks.

:mod:`sandbox.report.build` fills a :class:`Report`; :mod:`sandbox.report.formats` writes it.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any

from sandbox.errors import SandboxError
from sandbox.metrics.rates import HEADLINE_RATES
from sandbox.records import as_num

#: Version of the report's JSON shape; the major part changes when a key changes meaning.
REPORT_SCHEMA = "report/1.1"
FORMATS = ("table", "md", "csv", "json", "html")
PLOTS_HINT = "pip install 'welfare-sandbox[plots]'"

#: Per-episode proxies whose values are proportions (0-1), for the minimum detectable effect.
PROPORTIONS = HEADLINE_RATES


class ReportError(SandboxError):
    """A report cannot be made: bad path, unknown control, unknown format."""


class PlotsUnavailable(ReportError):
    """Plots were asked for but matplotlib is not installed."""

    def __init__(self) -> None:
        super().__init__(f"plots need matplotlib, which is not installed: {PLOTS_HINT}")


# ---------------------------------------------------------------------------------------------
# The report's pieces


#: What the proxies' intervals are, said at the top of every format.
INTERVALS_NOTE = (
    "Behavioural welfare proxies with 95% intervals and their n. The episode is the unit: "
    "rates pooled over decisions use Wilson on the effective n, clustered by episode (t on "
    "episodes - 1 df); rates of one indicator an episode use Wilson; the mean self-report is "
    "clustered by episode; fitted figures carry their fit's interval."
)


@dataclass(slots=True)
class Estimate:
    """One proxy of one condition.

    Attributes:
        proxy: Dotted path of the proxy in ``metrics.json`` (``refusal_rate``,
            ``choice_share.creative``, ``self_report``, ``pairwise.below_opt_out``).
        value: The estimate (a proportion for rates, a mean for means); ``None`` when n is 0.
        ci_low: Lower end of its 95% interval (as metrics.json gives it; :data:`INTERVALS_NOTE`);
            ``None`` when unknown.
        ci_high: Upper end.
        n: What the estimate is over (decisions, episodes, ratings: see the proxy's definition).
        kind: ``rate`` (a proportion, shown as a percentage), ``mean`` or ``count``.
        note: Why there is no value, when the metrics say (e.g. a utility at a boundary).
    """

    proxy: str
    value: float | None
    ci_low: float | None
    ci_high: float | None
    n: int | None
    kind: str
    note: str | None = None


@dataclass(slots=True)
class Condition:
    """One condition: a run, or a job of a sweep.

    Attributes:
        name: The condition's label in the report (the intervention's name when those are
            unique in the sweep, else the overrides that differ between jobs).
        job: The job directory's name (``None`` for a run report).
        path: The run directory.
        status: ``run.json`` status.
        intervention: The intervention's name.
        overrides: The job's Hydra overrides.
        episodes: Finished episodes.
        metrics: ``metrics.json`` (or metrics computed from the records).
        proxies: Every proxy found in ``metrics``.
        columns: Per-episode proxy -> one value per finished episode, in index order (NaN
            where the proxy did not apply to the episode).
        seeds: Each finished episode's seed (its ``episode_end``'s), in the same order.
        facts: What a design says of the condition as a whole (the bail method and mode, the
            Think Tank's economy and favoured rooms: :mod:`sandbox.report.headlines`).
    """

    name: str
    job: str | None
    path: str
    status: str
    intervention: str | None
    overrides: list[str]
    episodes: int
    metrics: dict[str, Any]
    proxies: list[Estimate]
    columns: dict[str, list[float]] = field(default_factory=dict)
    seeds: list[int | None] = field(default_factory=list)
    facts: dict[str, Any] = field(default_factory=dict)

    @property
    def per_episode(self) -> dict[str, list[float]]:
        """Proxy -> its values over the episodes where it applied (NaN left out)."""
        return {k: [v for v in vs if not math.isnan(v)] for k, vs in self.columns.items()}


@dataclass(slots=True)
class Effect:
    """A condition's difference from the control (or another reference) on one proxy.

    Attributes:
        condition: The condition's name.
        control: The reference's name (the control, except for a design's own comparisons).
        proxy: The proxy: a per-episode one (see :func:`episode_values`), a design's headline
            (:mod:`sandbox.report.headlines`).
        diff: The condition's estimate minus the reference's; ``None`` when either side has
            no episode where the proxy applied.
        ci_low: Lower end of its 95% interval (``method`` says how).
        ci_high: Upper end.
        n: Episodes of the condition where the proxy applied (for a fitted headline, its n).
        n_control: The same of the reference.
        mde: Minimum detectable effect (absolute, 80% power, two-sided 5%) at these n: the
            smaller of ``mde_down`` and ``mde_up``.
        label: How tables name the effect (``None``: from the proxy).
        method: How the interval was made (unit and method).
        paired: The two conditions' episodes were paired by seed.
        p: Two-sided p-value of no difference (for the multiple-comparison correction).
        holm: Whether the effect survives Holm's correction over every effect of the report
            at family-wise 5% (``None`` when it has no p-value).
        mde_down: Detectable decrease (a positive number), ``None`` when out of reach.
        mde_up: Detectable increase.
    """

    condition: str
    control: str
    proxy: str
    diff: float | None
    ci_low: float | None
    ci_high: float | None
    n: int
    n_control: int
    mde: float | None
    label: str | None = None
    method: str | None = None
    paired: bool = False
    p: float | None = None
    holm: bool | None = None
    mde_down: float | None = None
    mde_up: float | None = None


def is_note(value: Any) -> bool:
    """A published entry that is prose (shown under the table, not in a cell)."""
    return isinstance(value, str) and len(value) > 60


@dataclass(slots=True)
class PublishedRow:
    """One published figure beside ours.

    Attributes:
        key: Path of the figure inside the published block.
        published: The published value (number, text, or list as written).
        ours: Our value at the same path of the design block, when there is one.
    """

    key: str
    published: Any
    ours: Any


@dataclass(slots=True)
class Published:
    """A ``published`` block found in a condition's metrics.

    Attributes:
        design: Where the block sits in ``metrics.json`` (e.g. ``pairwise``).
        condition: The condition whose metrics hold it.
        source: The block's source label (its ``source``/``citation``/``reference`` entry).
        rows: Its figures, each beside ours where the design block has the same key.
    """

    design: str
    condition: str
    source: str | None
    rows: list[PublishedRow]


@dataclass(slots=True)
class Report:
    """A report on a run or a sweep.

    Attributes:
        kind: ``run`` or ``sweep``.
        path: The run or sweep directory.
        conditions: One per run / job, in job order.
        control: The control's name (sweeps), else ``None``.
        effects: Each non-control condition against the control, per per-episode proxy.
        mde: Minimum detectable difference of an episode-level rate at the sweep's smallest n
            (baseline 0.5, the most conservative), or ``None``.
        published: Published blocks found in the conditions' metrics.
        notes: Remarks on how the report was made (e.g. why a control was chosen).
        n_boot: Bootstrap resamples of each effect.
        seed: Seed of the bootstrap.
        comparisons: Effects with a p-value (the family of Holm's correction).
    """

    kind: str
    path: str
    conditions: list[Condition]
    control: str | None = None
    effects: list[Effect] = field(default_factory=list)
    mde: float | None = None
    published: list[Published] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    n_boot: int = 2000
    seed: int = 0
    comparisons: int = 0

    def condition(self, name: str) -> Condition:
        """The condition called ``name``."""
        for cond in self.conditions:
            if cond.name == name:
                return cond
        raise KeyError(name)

    def proxy_names(self) -> list[str]:
        """Every proxy of any condition, in first-seen order."""
        names: list[str] = []
        seen: set[str] = set()
        for cond in self.conditions:
            for est in cond.proxies:
                if est.proxy not in seen:
                    seen.add(est.proxy)
                    names.append(est.proxy)
        return names


def as_number(value: Any) -> float | None:
    """``value`` as a finite float, or ``None`` (booleans and non-numbers are not numbers; the
    record reader :func:`sandbox.records.as_num`, less NaN and infinities)."""
    number = as_num(value)
    return number if number is not None and math.isfinite(number) else None


def as_count(value: Any) -> int | None:
    """``value`` when it is an int (not a bool), else ``None``."""
    return value if isinstance(value, int) and not isinstance(value, bool) else None
