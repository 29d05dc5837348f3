"""Reports of runs and sweeps: every proxy with its interval, effects against a control.

:func:`build_report` reads a run directory (one condition) or a sweep directory (one condition
per job) and returns a :class:`Report`:

- For each condition, every proxy found in ``metrics.json`` (computed from the records when a
  run has not written it yet) with its interval and n, as :class:`Estimate` rows.
- For a sweep, the effect of each condition against the control (by default the job whose
  intervention is ``none``): the difference of per-episode means with a percentile bootstrap
  95% interval over episodes, and the minimum detectable effect at the sweep's n. Per-episode
  values come from ``episodes.jsonl`` (:func:`episode_values`): an episode's refusal share,
  rest share, invalid share, its exit indicator, its mean self-report, its share of task
  choices per category, its total reward.
- Any ``published`` block that a design writes into ``metrics.json`` (e.g.
  ``metrics["pairwise"]["published"]``), shown beside our figure for the same key, labelled
  with its source. The blocks are read generically: nothing here knows their contents.

:func:`render` turns a report into ``md``, ``csv``, ``json`` or ``html`` text (``table`` is
the rich view in :mod:`sandbox.display.report_view`). Every piece of text that came from a run
(condition names built from overrides, published sources, notes) is untrusted: ``md`` escapes
it, ``html`` passes it through :func:`html.escape`, and both drop control sequences first.

The JSON format's keys are stable (``REPORT_SCHEMA``); see ``notes/watch_report.md``.
"""

from __future__ import annotations

import csv
import html
import io
import json
import math
import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from sandbox import store
from sandbox.display.safe import clean, one_line
from sandbox.errors import SandboxError
from sandbox.metrics.rates import Episode, any_refusal_rate, api_refusal_rate, group_episodes
from sandbox.metrics.stats import bootstrap_diff, min_detectable_effect, norm_ppf

#: Version of the report's JSON shape; the major part changes when a key changes meaning.
REPORT_SCHEMA = "report/1.0"
FORMATS = ("table", "md", "csv", "json", "html")
PLOTS_HINT = "pip install 'welfare-sandbox[plots]'"

_Z = 1.959963984540054
#: Subtrees of metrics.json that are not proxies (curves, distributions, fit diagnostics).
_SKIP_KEYS = frozenset(
    {
        "published",
        "trajectory",
        "curve",
        "distribution",
        "per_episode",
        "heldout",
        "utility_fit",
        "distress_terms",
        "positive_terms",
        "end_reasons",
        "schema",
        "lexicon_version",
        "run_status",
        "condition",
    }
)
#: Keys of a published block that name where its figures come from.
_SOURCE_KEYS = ("source", "citation", "reference", "paper", "label")


class ReportError(SandboxError):
    """A report cannot be made: bad path, unknown control, unknown format."""


class PlotsUnavailable(ReportError):
    """Plots were asked for but matplotlib is not installed."""

    def __init__(self) -> None:
        super().__init__(f"plots need matplotlib, which is not installed: {PLOTS_HINT}")


# ---------------------------------------------------------------------------------------------
# The report's pieces


@dataclass(slots=True)
class Estimate:
    """One proxy of one condition.

    Attributes:
        proxy: Dotted path of the proxy in ``metrics.json`` (``refusal_rate``,
            ``choice_share.creative``, ``self_report``, ``pairwise.below_opt_out``).
        value: The estimate (a proportion for rates, a mean for means); ``None`` when n is 0.
        ci_low: Lower end of its 95% interval (Wilson for rates; mean ± 1.96 se for means);
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
        per_episode: Proxy -> one value per finished episode (where the proxy applied).
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
    per_episode: dict[str, list[float]] = field(default_factory=dict)


@dataclass(slots=True)
class Effect:
    """A condition's difference from the control on one per-episode proxy.

    Attributes:
        condition: The condition's name.
        control: The control's name.
        proxy: The per-episode proxy (see :func:`episode_values`).
        diff: Mean over the condition's episodes minus mean over the control's; ``None`` when
            either side has no episode where the proxy applied.
        ci_low: Lower end of the percentile bootstrap 95% interval (episodes resampled).
        ci_high: Upper end.
        n: Episodes of the condition where the proxy applied.
        n_control: Episodes of the control where the proxy applied.
        mde: Minimum detectable effect (absolute, 80% power, two-sided 5%) at these n.
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


# ---------------------------------------------------------------------------------------------
# Proxies from metrics.json


def _num(value: Any) -> float | None:
    if isinstance(value, bool) or not isinstance(value, int | float):
        return None
    value = float(value)
    return value if math.isfinite(value) else None


def _count(value: Any) -> int | None:
    return value if isinstance(value, int) and not isinstance(value, bool) else None


def metric_estimates(metrics: Mapping[str, Any]) -> list[Estimate]:
    """Every proxy in ``metrics`` as an :class:`Estimate`, in the file's order.

    The walk is generic, so design blocks written by any environment are included: a dict
    with ``value`` (and usually ``n``) is a rate; a dict with ``mean`` and ``n`` is a mean
    (its interval from ``ci_low``/``ci_high`` if given, else mean ± 1.96 sd/√n). Curves,
    distributions, fit diagnostics and ``published`` blocks are skipped. A few scalar counts
    (episodes, steps, exposure, tokens, cost) are added.
    """
    out: list[Estimate] = []
    for key in ("episodes", "steps", "unfinished_episodes", "api_refusals"):
        if _count(metrics.get(key)) is not None:
            out.append(Estimate(key, float(metrics[key]), None, None, None, "count"))
    _walk(metrics, "", out)
    exposure = metrics.get("exposure")
    if isinstance(exposure, Mapping):
        for key in ("shown", "engaged", "over_cap"):
            if _count(exposure.get(key)) is not None:
                n = _count(exposure.get("n"))
                out.append(
                    Estimate(f"exposure.{key}", float(exposure[key]), None, None, n, "count")
                )
    survival = metrics.get("time_to_exit")
    if isinstance(survival, Mapping) and _count(survival.get("n")):
        median = _num(survival.get("median"))
        out.append(Estimate("time_to_exit.median", median, None, None, survival["n"], "mean"))
    tokens = metrics.get("tokens")
    if isinstance(tokens, Mapping) and _count(tokens.get("total")):
        out.append(Estimate("tokens.total", float(tokens["total"]), None, None, None, "count"))
    cost = _num(metrics.get("cost_usd"))
    if cost:
        out.append(Estimate("cost_usd", cost, None, None, None, "mean"))
    return out


def _walk(node: Mapping[str, Any], prefix: str, out: list[Estimate]) -> None:
    for key, value in node.items():
        if not isinstance(value, Mapping) or key in _SKIP_KEYS:
            continue
        path = f"{prefix}{key}"
        est = _estimate(path, value)
        if est is not None:
            out.append(est)
        _walk(value, f"{path}.", out)


def _estimate(path: str, node: Mapping[str, Any]) -> Estimate | None:
    n = _count(node.get("n"))
    if "value" in node and (n is not None or "ci_low" in node):
        if _num(node.get("value")) is None and node.get("value") is not None:
            return None
        # A rate has an n; a bare value with an interval (a fitted coefficient) is a mean.
        return Estimate(
            path,
            _num(node.get("value")),
            _num(node.get("ci_low")),
            _num(node.get("ci_high")),
            n,
            "rate" if n is not None else "mean",
        )
    if "mean" in node and n is not None:
        mean = _num(node.get("mean"))
        low, high = _num(node.get("ci_low")), _num(node.get("ci_high"))
        sd = _num(node.get("sd"))
        if low is None and mean is not None and sd is not None and n > 1:
            half = _Z * sd / math.sqrt(n)
            low, high = mean - half, mean + half
        note = None
        if node.get("boundary") is True and isinstance(node.get("bound"), str):
            note = f"{node['bound']} every other (no finite estimate)"
        return Estimate(path, mean, low, high, n, "mean", note)
    return None


# ---------------------------------------------------------------------------------------------
# Per-episode values (the units of the bootstrap)

#: Per-episode proxies whose values are proportions (0-1), for the minimum detectable effect.
_PROPORTIONS = (
    "refusal_rate",
    "rest_rate",
    "exit_rate",
    "invalid_action_rate",
    "api_refusal_rate",
    "any_refusal_rate",
)


def episode_values(episode: Episode, categories: Sequence[str]) -> dict[str, float]:
    """The per-episode proxies of one finished episode (a key is absent where it did not apply).

    - ``refusal_rate`` / ``rest_rate``: valid REFUSE (REST) steps ÷ valid steps where it was
      offered, within the episode.
    - ``exit_rate``: 1 if the episode had a valid EXIT, 0 if exit was offered and never taken.
    - ``invalid_action_rate``: invalid actions ÷ steps whose outcome is an action (an API
      refusal or a truncation is neither, see :mod:`sandbox.metrics.rates`).
    - ``api_refusal_rate`` / ``any_refusal_rate``: as in ``metrics.json``, within the episode
      (model agents only: episodes whose steps record an ``outcome``).
    - ``self_report``: the mean of the episode's 1-7 ratings.
    - ``choice_share.<category>``: the episode's valid task choices of that category ÷ its
      valid task choices with a known category.
    - ``reward``: the episode's total reward.
    """
    offered = {"REFUSE": 0, "REST": 0}
    taken = {"REFUSE": 0, "REST": 0}
    exit_offered = exited = False
    invalid = 0
    ratings: list[int] = []
    chosen: dict[str, int] = {}
    actions = 0
    for step in episode.steps:
        actions += step.outcome == "action"
        if not step.valid:
            invalid += step.outcome == "action"
            continue
        for kind in offered:
            if kind in step.mask:
                offered[kind] += 1
                taken[kind] += step.kind == kind
        if "EXIT" in step.mask:
            exit_offered = True
            exited = exited or step.kind == "EXIT"
        rating = step.info.get("rating")
        if not isinstance(rating, int) or isinstance(rating, bool):
            target = (step.record.get("action") or {}).get("target")
            rating = target if step.kind == "REPORT" else None
        if isinstance(rating, int) and 1 <= rating <= 7:
            ratings.append(rating)
        if (
            step.kind == "TASK"
            and step.info.get("phase", "decide") == "decide"
            and step.category is not None
        ):
            chosen[step.category] = chosen.get(step.category, 0) + 1
    values: dict[str, float] = {}
    if offered["REFUSE"]:
        values["refusal_rate"] = taken["REFUSE"] / offered["REFUSE"]
    if offered["REST"]:
        values["rest_rate"] = taken["REST"] / offered["REST"]
    if exit_offered:
        values["exit_rate"] = float(exited)
    if actions:
        values["invalid_action_rate"] = invalid / actions
    if any(isinstance(a := s.record.get("agent"), dict) and "outcome" in a for s in episode.steps):
        for key, measure in (
            ("api_refusal_rate", api_refusal_rate),
            ("any_refusal_rate", any_refusal_rate),
        ):
            rate = measure([episode])
            if rate["value"] is not None:
                values[key] = rate["value"]
    if ratings:
        values["self_report"] = sum(ratings) / len(ratings)
    total = sum(chosen.values())
    if total:
        for cat in categories:
            values[f"choice_share.{cat}"] = chosen.get(cat, 0) / total
    reward = _num(episode.end.get("total_reward"))
    if reward is not None:
        values["reward"] = reward
    return values


def _per_episode(episodes: Sequence[Episode], categories: Sequence[str]) -> dict[str, list[float]]:
    out: dict[str, list[float]] = {}
    for episode in episodes:
        for key, value in episode_values(episode, categories).items():
            out.setdefault(key, []).append(value)
    return out


def _effect_proxies(conditions: Sequence[Condition]) -> list[str]:
    keys: list[str] = []
    fixed = [
        "refusal_rate",
        "api_refusal_rate",
        "any_refusal_rate",
        "rest_rate",
        "exit_rate",
        "invalid_action_rate",
        "self_report",
    ]
    shares = sorted({k for c in conditions for k in c.per_episode if k.startswith("choice_")})
    for key in [*fixed, *shares, "reward"]:
        if any(key in c.per_episode for c in conditions):
            keys.append(key)
    return keys


def _mde(proxy: str, control: Sequence[float], other: Sequence[float]) -> float | None:
    """Minimum detectable effect for ``proxy`` at these n (80% power, two-sided 5%).

    Binary per-episode proxies (exit) use the two-proportion power equation at the control's
    rate; other proxies the normal approximation with the pooled per-episode sd.
    """
    n_c, n_o = len(control), len(other)
    if n_c < 2 or n_o < 2:
        return None
    if proxy == "exit_rate":  # an indicator per episode: the two-proportion equation
        p = float(np.mean(control))
        return min_detectable_effect(n_c, n_o, p=p if 0.0 < p < 1.0 else 0.5)
    var_c = float(np.var(control, ddof=1))
    var_o = float(np.var(other, ddof=1))
    sd = math.sqrt(((n_c - 1) * var_c + (n_o - 1) * var_o) / (n_c + n_o - 2))
    if sd > 0:
        return (norm_ppf(0.975) + norm_ppf(0.8)) * sd * math.sqrt(1 / n_c + 1 / n_o)
    return None


# ---------------------------------------------------------------------------------------------
# Building a report


def build_report(
    path: Path | str,
    *,
    control: str | None = None,
    n_boot: int = 2000,
    seed: int = 0,
) -> Report:
    """The report of a run directory or a sweep directory.

    Args:
        path: A run directory (``run.json``) or a sweep directory (job directories).
        control: The control condition of a sweep: its name, job directory name or job
            number; default the job whose intervention is ``none``.
        n_boot: Bootstrap resamples per effect.
        seed: Seed of the bootstrap (reports are reproducible).

    Raises:
        ReportError: ``path`` is neither, or ``control`` names no condition.
        RunDirError: A run's files are damaged.
    """
    path = Path(path)
    if not path.is_dir():
        raise ReportError(f"{path} is not a directory; pass a run or a sweep directory")
    if store.is_run_dir(path):
        if control is not None:
            raise ReportError("--control applies to a sweep; this is a single run")
        cond = _load_condition(path, job=None, overrides=[], categories=None)
        cond.name = cond.intervention or path.name
        report = Report("run", str(path), [cond], n_boot=n_boot, seed=seed)
        report.published = _published(report.conditions)
        return report
    from sandbox.sweep import job_dirs

    jobs = job_dirs(path)
    if not jobs:
        raise ReportError(
            f"{path} holds no run.json and no job directories: not a run or a sweep directory"
        )
    conditions = [
        _load_condition(job, job=job.relative_to(path).as_posix(), overrides=_overrides(job))
        for job in jobs
    ]
    # Per-episode choice shares over the same categories in every condition.
    categories = sorted(
        {k.split(".", 1)[1] for c in conditions for k in c.per_episode if k.startswith("choice_")}
    )
    for cond in conditions:
        for cat in categories:
            cond.per_episode.setdefault(f"choice_share.{cat}", [])
    _name_conditions(conditions)
    report = Report("sweep", str(path), conditions, n_boot=n_boot, seed=seed)
    ctrl = _choose_control(conditions, control, report.notes)
    report.control = ctrl.name
    for i, cond in enumerate(conditions):
        if cond is ctrl:
            continue
        for j, proxy in enumerate(_effect_proxies(conditions)):
            a, b = cond.per_episode.get(proxy, []), ctrl.per_episode.get(proxy, [])
            # One stream per (condition, proxy): adding a proxy does not move the others.
            rng = np.random.default_rng([seed, i, j])
            diff = bootstrap_diff(a, b, rng, n_boot=n_boot)
            report.effects.append(
                Effect(
                    condition=cond.name,
                    control=ctrl.name,
                    proxy=proxy,
                    diff=diff["diff"],
                    ci_low=diff["ci_low"],
                    ci_high=diff["ci_high"],
                    n=len(a),
                    n_control=len(b),
                    mde=_mde(proxy, b, a),
                )
            )
    sizes = [c.episodes for c in conditions if c.episodes]
    if sizes and ctrl.episodes:
        report.mde = min_detectable_effect(ctrl.episodes, min(sizes), p=0.5)
    report.published = _published(conditions)
    return report


def _load_condition(
    path: Path, *, job: str | None, overrides: list[str], categories: Sequence[str] | None = None
) -> Condition:
    loaded = store.load_run(path)
    metrics = loaded.metrics
    episodes, _ = group_episodes(loaded.records)
    if metrics is None:
        from sandbox.metrics import compute_metrics

        metrics = compute_metrics(loaded.records, run=loaded.manifest) if loaded.records else {}
    cats = categories
    if cats is None:
        cats = sorted((metrics.get("choice_share") or {}).keys())
        if not cats:
            cats = sorted({s.category for e in episodes for s in e.steps if s.category})
    intervention = (loaded.manifest.get("intervention") or {}).get("name")
    return Condition(
        name=str(intervention or job or path.name),
        job=job,
        path=str(path),
        status=str(loaded.manifest.get("status", "unknown")),
        intervention=str(intervention) if intervention is not None else None,
        overrides=overrides,
        episodes=len(episodes),
        metrics=dict(metrics),
        proxies=metric_estimates(metrics),
        per_episode=_per_episode(episodes, cats),
    )


def _overrides(job: Path) -> list[str]:
    from sandbox.sweep import _overrides as read_overrides

    try:
        return read_overrides(job)
    except Exception:  # a damaged overrides.yaml only loses the label
        return []


def _name_conditions(conditions: list[Condition]) -> None:
    """Give each condition a unique, readable name.

    The intervention's name when those are unique; else the overrides that differ between
    jobs (``agent/preset=content,intervention=none``); else the job directory's name.
    """
    names = [c.intervention for c in conditions]
    if all(names) and len(set(names)) == len(names):
        for cond, name in zip(conditions, names, strict=True):
            cond.name = str(name)
        return
    common = set.intersection(*(set(c.overrides) for c in conditions)) if conditions else set()
    labels = [",".join(o for o in c.overrides if o not in common) for c in conditions]
    if all(labels) and len(set(labels)) == len(labels):
        for cond, label in zip(conditions, labels, strict=True):
            cond.name = label
        return
    for cond in conditions:
        cond.name = cond.job or cond.path


def _choose_control(conditions: list[Condition], wanted: str | None, notes: list[str]) -> Condition:
    if wanted is not None:
        for cond in conditions:
            number = (cond.job or "").split("-", 1)[0]
            if wanted in (cond.name, cond.job, cond.intervention) or wanted == number:
                return cond
        known = ", ".join(one_line(c.name, 60) for c in conditions)
        raise ReportError(f"--control {wanted!r} names no condition of this sweep; known: {known}")
    nones = [c for c in conditions if c.intervention == "none"]
    if nones:
        if len(nones) > 1:
            notes.append(
                f"{len(nones)} jobs have intervention none; the first ({nones[0].name}) is the "
                "control (choose another with --control)"
            )
        return nones[0]
    notes.append(
        f"no job has intervention none; the first job ({conditions[0].name}) is the control "
        "(choose another with --control)"
    )
    return conditions[0]


# ---------------------------------------------------------------------------------------------
# Published figures


def _published(conditions: Sequence[Condition]) -> list[Published]:
    found: list[Published] = []
    for cond in conditions:
        for design, block in _published_blocks(cond.metrics):
            published = block["published"]
            source = None
            rows: list[PublishedRow] = []
            mapping: Mapping[str, Any] = {}
            if isinstance(published, Mapping):
                for key in _SOURCE_KEYS:
                    if isinstance(published.get(key), str):
                        source = str(published[key])
                        break
                if isinstance(published.get("ours"), Mapping):
                    mapping = published["ours"]
                skip = {*_SOURCE_KEYS, "ours"}
                items = [(k, v) for k, v in published.items() if k not in skip]
            else:
                items = [("value", published)]
            ours_block = {k: v for k, v in block.items() if k != "published"}
            for key, value in _flatten(items):
                # Ours: the path the block's "ours" map names for this key, else the same path.
                where = mapping.get(key)
                ours = _lookup(ours_block, str(where)) if isinstance(where, str) else None
                rows.append(
                    PublishedRow(key, value, ours if ours is not None else _lookup(ours_block, key))
                )
            found.append(Published(design, cond.name, source, rows))
    return found


def _published_blocks(
    metrics: Mapping[str, Any], prefix: str = "", depth: int = 0
) -> Iterable[tuple[str, Mapping[str, Any]]]:
    """``(path, block)`` for each dict in ``metrics`` (up to 3 levels) with a ``published`` key."""
    if depth > 3:
        return
    for key, value in metrics.items():
        if not isinstance(value, Mapping):
            continue
        path = f"{prefix}{key}"
        if "published" in value:
            yield path, value
        yield from _published_blocks(value, f"{path}.", depth + 1)


def _flatten(items: Iterable[tuple[str, Any]], prefix: str = "") -> list[tuple[str, Any]]:
    out: list[tuple[str, Any]] = []
    for key, value in items:
        path = f"{prefix}{key}"
        if isinstance(value, Mapping):
            out.extend(_flatten(value.items(), f"{path}."))
        else:
            out.append((path, value))
    return out


def _lookup(block: Mapping[str, Any], key: str) -> Any:
    node: Any = block
    for part in key.split("."):
        if not isinstance(node, Mapping) or part not in node:
            return None
        node = node[part]
    if isinstance(node, Mapping):
        for field_name in ("value", "mean", "estimate"):
            if field_name in node:
                return node[field_name]
        return None
    return node


# ---------------------------------------------------------------------------------------------
# Formatting helpers shared by the formats


def fmt_value(est: Estimate | None) -> str:
    """``12.3%`` for a rate, ``4.12`` for a mean, ``30`` for a count, ``n/a`` for none."""
    if est is None or est.value is None:
        return f"n/a ({est.note})" if est is not None and est.note else "n/a"
    if est.kind == "rate":
        return f"{est.value:.1%}"
    if est.kind == "count":
        return f"{est.value:,.0f}"
    return f"{est.value:.3g}" if abs(est.value) < 100 else f"{est.value:,.1f}"


def fmt_interval(est: Estimate | None) -> str:
    """``[10.1%, 14.8%]`` (rates) or ``[3.9, 4.3]`` (means); empty when there is none."""
    if est is None or est.ci_low is None or est.ci_high is None:
        return ""
    if est.kind == "rate":
        return f"[{est.ci_low:.1%}, {est.ci_high:.1%}]"
    return f"[{est.ci_low:.3g}, {est.ci_high:.3g}]"


def fmt_cell(est: Estimate | None) -> str:
    """Value, interval and n in one cell."""
    if est is None:
        return ""
    parts = [fmt_value(est)]
    if fmt_interval(est):
        parts.append(fmt_interval(est))
    if est.n is not None:
        parts.append(f"n={est.n}")
    return " ".join(parts)


def _is_share(proxy: str) -> bool:
    return proxy in _PROPORTIONS or proxy.startswith("choice_share.")


def fmt_diff(value: float | None, proxy: str) -> str:
    """A difference in percentage points (shares) or in the proxy's units."""
    if value is None:
        return "n/a"
    if _is_share(proxy):
        return f"{value * 100:+.1f} pp"
    return f"{value:+.3g}"


def fmt_effect(effect: Effect) -> str:
    """``+5.1 pp [+2.0, +8.3]`` (or ``n/a`` with the reason)."""
    if effect.diff is None:
        if effect.n_control == 0 and effect.n:
            return "n/a (not in control)"
        return "n/a"
    scale = 100 if _is_share(effect.proxy) else 1
    unit = " pp" if scale == 100 else ""
    low = effect.ci_low * scale if effect.ci_low is not None else float("nan")
    high = effect.ci_high * scale if effect.ci_high is not None else float("nan")
    return f"{effect.diff * scale:+.1f}{unit} [{low:+.1f}, {high:+.1f}]"


def fmt_mde(effect: Effect) -> str:
    """The minimum detectable effect in the proxy's units, or ``n/a``."""
    if effect.mde is None:
        return "n/a"
    if _is_share(effect.proxy):
        return f"{effect.mde * 100:.1f} pp"
    return f"{effect.mde:.3g}"


def fmt_any(value: Any) -> str:
    """A published or our value as text (numbers to 3 significant digits)."""
    if value is None:
        return "—"
    if isinstance(value, float):
        return f"{value:.3g}"
    if isinstance(value, list | tuple):
        return ", ".join(fmt_any(v) for v in value)
    return str(value)


#: Labels of the per-episode proxies in effect tables.
EFFECT_LABELS = {
    "refusal_rate": "refusal share",
    "rest_rate": "rest share",
    "exit_rate": "exit (per episode)",
    "invalid_action_rate": "invalid share",
    "api_refusal_rate": "API refusal share",
    "any_refusal_rate": "any refusal share",
    "self_report": "mean self-report",
    "reward": "total reward",
}


def effect_label(proxy: str) -> str:
    """A readable label of a per-episode proxy."""
    if proxy.startswith("choice_share."):
        return f"choice share {proxy.split('.', 1)[1]}"
    return EFFECT_LABELS.get(proxy, proxy)


def effects_by_proxy(report: Report) -> dict[str, dict[str, Effect]]:
    """Effects indexed ``[proxy][condition]``."""
    table: dict[str, dict[str, Effect]] = {}
    for effect in report.effects:
        table.setdefault(effect.proxy, {})[effect.condition] = effect
    return table


def estimates_by_condition(report: Report) -> dict[str, dict[str, Estimate]]:
    """Estimates indexed ``[condition][proxy]``."""
    return {c.name: {e.proxy: e for e in c.proxies} for c in report.conditions}


def mde_line(report: Report) -> str | None:
    """One sentence on the sweep's power, or ``None``."""
    if report.kind != "sweep" or not report.conditions:
        return None
    sizes = ", ".join(f"{one_line(c.name, 40)} {c.episodes}" for c in report.conditions)
    line = f"episodes per condition: {sizes}."
    if report.mde is not None:
        line += (
            f" Minimum detectable difference of an episode-level rate at this n (baseline 50%, "
            f"80% power, two-sided 5%): {report.mde * 100:.1f} pp."
        )
    return line


# ---------------------------------------------------------------------------------------------
# Formats


def render(report: Report, fmt: str) -> str:
    """The report as ``md``, ``csv``, ``json`` or ``html`` text.

    Raises:
        ReportError: Unknown format (``table`` is rendered by the rich view, not here).
        PlotsUnavailable: ``html`` without matplotlib.
    """
    if fmt == "json":
        return to_json(report)
    if fmt == "csv":
        return to_csv(report)
    if fmt == "md":
        return to_markdown(report)
    if fmt == "html":
        return to_html(report)
    if fmt == "table":
        from sandbox.display.report_view import render_text

        return render_text(report)
    raise ReportError(f"--format must be one of {', '.join(FORMATS)}, got {fmt!r}")


def to_dict(report: Report) -> dict[str, Any]:
    """The report as JSON-ready data with stable keys (see ``notes/watch_report.md``)."""
    conditions = []
    for cond in report.conditions:
        conditions.append(
            {
                "name": cond.name,
                "job": cond.job,
                "path": cond.path,
                "status": cond.status,
                "intervention": cond.intervention,
                "overrides": cond.overrides,
                "episodes": cond.episodes,
                "proxies": {
                    e.proxy: {
                        "value": e.value,
                        "ci_low": e.ci_low,
                        "ci_high": e.ci_high,
                        "n": e.n,
                        "kind": e.kind,
                        "note": e.note,
                    }
                    for e in cond.proxies
                },
            }
        )
    return {
        "schema": REPORT_SCHEMA,
        "kind": report.kind,
        "path": report.path,
        "control": report.control,
        "conditions": conditions,
        "effects": [asdict(e) for e in report.effects],
        "mde": report.mde,
        "published": [
            {
                "design": p.design,
                "condition": p.condition,
                "source": p.source,
                "rows": [asdict(r) for r in p.rows],
            }
            for p in report.published
        ],
        "bootstrap": {"n_boot": report.n_boot, "seed": report.seed, "level": 0.95},
        "notes": report.notes,
    }


def to_json(report: Report) -> str:
    """The report as indented JSON (NaN and infinities as ``null``)."""
    return json.dumps(_finite(to_dict(report)), indent=2, ensure_ascii=False, default=str) + "\n"


def _finite(value: Any) -> Any:
    """JSON-safe values: NaN and infinities as ``None``; text with control sequences dropped
    (names and sources come from runs and may hold terminal escapes)."""
    if isinstance(value, float) and not math.isfinite(value):
        return None
    if isinstance(value, str):
        return clean(value)
    if isinstance(value, dict):
        return {clean(str(k)): _finite(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_finite(v) for v in value]
    return value


CSV_COLUMNS = ("condition", "proxy", "value", "ci_low", "ci_high", "n")


def to_csv(report: Report) -> str:
    """One row per condition × proxy; then one row per effect, with proxy ``effect:<proxy>``
    (value = difference from the control, interval = bootstrap, n = the condition's episodes).
    """
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    writer.writerow(CSV_COLUMNS)
    for cond in report.conditions:
        for est in cond.proxies:
            n = "" if est.n is None else est.n
            writer.writerow(
                [
                    _csv_text(cond.name),
                    _csv_text(est.proxy),
                    _g(est.value),
                    _g(est.ci_low),
                    _g(est.ci_high),
                    n,
                ]
            )
    for effect in report.effects:
        writer.writerow(
            [
                _csv_text(effect.condition),
                _csv_text(f"effect:{effect.proxy}"),
                _g(effect.diff),
                _g(effect.ci_low),
                _g(effect.ci_high),
                effect.n,
            ]
        )
    return buffer.getvalue()


def _g(value: float | None) -> str:
    return "" if value is None else repr(float(value))


def _csv_text(text: str) -> str:
    # A cell starting with = + - @ is a formula to a spreadsheet: prefix it (CSV injection).
    text = one_line(text, 500)
    return "'" + text if text[:1] in ("=", "+", "-", "@") else text


_MD_SPECIAL = re.compile(r"([\\`|*_\[\]<>#])")


def md_escape(text: str, max_chars: int = 200) -> str:
    """Untrusted text for a Markdown table cell: one line, control sequences dropped, and
    ``|``, backticks and other Markdown/HTML specials backslash-escaped."""
    return _MD_SPECIAL.sub(r"\\\1", one_line(str(text), max_chars))


def to_markdown(report: Report) -> str:
    """The report as Markdown: a proxies table, an effects table, published figures."""
    lines = [f"# Report: {md_escape(report.path)}", ""]
    lines.append(
        "Behavioural welfare proxies with 95% intervals (Wilson for rates, mean ± 1.96 se for "
        "means) and their n. Proxies describe behaviour; they say nothing about experience."
    )
    lines.append("")
    for note in report.notes:
        lines.append(f"> {md_escape(note, 400)}")
        lines.append("")
    names = [c.name for c in report.conditions]
    by_cond = estimates_by_condition(report)
    lines.append("## Proxies")
    lines.append("")
    if report.kind == "run":
        lines.append("| proxy | value | 95% interval | n |")
        lines.append("|---|---|---|---|")
        for est in report.conditions[0].proxies:
            n = "" if est.n is None else str(est.n)
            lines.append(
                f"| {md_escape(est.proxy)} | {fmt_value(est)} | {fmt_interval(est)} | {n} |"
            )
    else:
        lines.append("| proxy | " + " | ".join(md_escape(n, 80) for n in names) + " |")
        lines.append("|---" * (len(names) + 1) + "|")
        status = [f"{c.status}" for c in report.conditions]
        lines.append("| status | " + " | ".join(md_escape(s) for s in status) + " |")
        for proxy in report.proxy_names():
            cells = [fmt_cell(by_cond[n].get(proxy)) for n in names]
            lines.append(f"| {md_escape(proxy)} | " + " | ".join(cells) + " |")
    if report.effects:
        others = [n for n in names if n != report.control]
        lines += ["", f"## Effects against the control ({md_escape(report.control or '')})", ""]
        lines.append(
            "Difference of per-episode means (condition − control) with a percentile bootstrap "
            f"95% interval over episodes ({report.n_boot} resamples); MDE: minimum detectable "
            "effect at these n (80% power, two-sided 5%)."
        )
        lines.append("")
        header = "| proxy | " + " | ".join(f"{md_escape(n, 60)} | MDE" for n in others) + " |"
        lines.append(header)
        lines.append("|---" * (2 * len(others) + 1) + "|")
        for proxy, by_name in effects_by_proxy(report).items():
            cells = []
            for name in others:
                effect = by_name.get(name)
                cells += [fmt_effect(effect), fmt_mde(effect)] if effect else ["", ""]
            lines.append(f"| {md_escape(effect_label(proxy))} | " + " | ".join(cells) + " |")
        if mde_line(report):
            lines += ["", md_escape(mde_line(report) or "", 2000)]
    if report.published:
        lines += ["", "## Published figures beside ours", ""]
        for block in report.published:
            source = md_escape(block.source or "source not given", 300)
            lines.append(f"### {md_escape(block.design)} ({md_escape(block.condition)})")
            lines.append("")
            lines.append(f"Published: {source}")
            lines.append("")
            lines.append("| figure | published | ours |")
            lines.append("|---|---|---|")
            for row in block.rows:
                if is_note(row.published):
                    continue
                lines.append(
                    f"| {md_escape(row.key)} | {md_escape(fmt_any(row.published))} | "
                    f"{md_escape(fmt_any(row.ours))} |"
                )
            lines.append("")
            for row in block.rows:
                if is_note(row.published):
                    lines += [f"{md_escape(row.key)}: {md_escape(row.published, 2000)}", ""]
    return "\n".join(lines).rstrip() + "\n"


def h(text: Any, max_chars: int = 500) -> str:
    """Untrusted text for HTML: control sequences dropped, then :func:`html.escape`."""
    return html.escape(clean(str(text), max_chars), quote=True)


_CSS = """
body{font-family:system-ui,sans-serif;margin:2em;max-width:1200px;color:#222}
table{border-collapse:collapse;margin:1em 0;font-size:.9em}
th,td{border:1px solid #ccc;padding:.25em .5em;text-align:left;vertical-align:top}
th{background:#f3f3f3}.ci{color:#666}.note{color:#555}
figure{margin:1em 0}img{max-width:100%}
"""


def to_html(report: Report, figures: dict[str, bytes] | None = None) -> str:
    """One self-contained HTML file: tables and the figures inline as base64 PNGs.

    Raises:
        PlotsUnavailable: matplotlib is not installed.
    """
    import base64

    if figures is None:
        from sandbox.display.plots import make_figures

        figures = make_figures(report)
    names = [c.name for c in report.conditions]
    by_cond = estimates_by_condition(report)
    out = [
        "<!DOCTYPE html>",
        '<html lang="en"><head><meta charset="utf-8">',
        f"<title>Report: {h(report.path)}</title>",
        f"<style>{_CSS}</style></head><body>",
        f"<h1>Report: {h(report.path)}</h1>",
        '<p class="note">Behavioural welfare proxies with 95% intervals (Wilson for rates, '
        "mean ± 1.96 se for means) and their n. Proxies describe behaviour; they say nothing "
        "about experience.</p>",
    ]
    for note in report.notes:
        out.append(f'<p class="note">{h(note)}</p>')
    out.append("<h2>Proxies</h2><table><tr><th>proxy</th>")
    out += [f"<th>{h(n, 100)}</th>" for n in names]
    out.append("</tr>")
    if report.kind == "sweep":
        out.append("<tr><td>status</td>")
        out += [f"<td>{h(c.status)}</td>" for c in report.conditions]
        out.append("</tr>")
    for proxy in report.proxy_names():
        out.append(f"<tr><td>{h(proxy)}</td>")
        for name in names:
            est = by_cond[name].get(proxy)
            if est is None:
                out.append("<td></td>")
                continue
            n = "" if est.n is None else f" n={est.n}"
            out.append(
                f'<td>{h(fmt_value(est))} <span class="ci">{h(fmt_interval(est))}{n}</span></td>'
            )
        out.append("</tr>")
    out.append("</table>")
    if report.effects:
        others = [n for n in names if n != report.control]
        out.append(f"<h2>Effects against the control ({h(report.control or '')})</h2>")
        out.append(
            '<p class="note">Difference of per-episode means (condition − control) with a '
            f"percentile bootstrap 95% interval over episodes ({report.n_boot} resamples); MDE: "
            "minimum detectable effect at these n (80% power, two-sided 5%).</p>"
        )
        out.append("<table><tr><th>proxy</th>")
        out += [f"<th>{h(n, 100)}</th><th>MDE</th>" for n in others]
        out.append("</tr>")
        for proxy, by_name in effects_by_proxy(report).items():
            out.append(f"<tr><td>{h(effect_label(proxy))}</td>")
            for name in others:
                effect = by_name.get(name)
                if effect is None:
                    out.append("<td></td><td></td>")
                else:
                    out.append(f"<td>{h(fmt_effect(effect))}</td><td>{h(fmt_mde(effect))}</td>")
            out.append("</tr>")
        out.append("</table>")
        if mde_line(report):
            out.append(f'<p class="note">{h(mde_line(report), 4000)}</p>')
    if report.published:
        out.append("<h2>Published figures beside ours</h2>")
        for block in report.published:
            out.append(f"<h3>{h(block.design)} ({h(block.condition)})</h3>")
            out.append(f"<p>Published: {h(block.source or 'source not given')}</p>")
            out.append("<table><tr><th>figure</th><th>published</th><th>ours</th></tr>")
            for r in block.rows:
                if not is_note(r.published):
                    out.append(
                        f"<tr><td>{h(r.key)}</td><td>{h(fmt_any(r.published))}</td>"
                        f"<td>{h(fmt_any(r.ours))}</td></tr>"
                    )
            out.append("</table>")
            for r in block.rows:
                if is_note(r.published):
                    out.append(f'<p class="note">{h(r.key)}: {h(r.published, 2000)}</p>')
    if figures:
        out.append("<h2>Figures</h2>")
        for name, png in figures.items():
            data = base64.b64encode(png).decode("ascii")
            out.append(
                f'<figure><img alt="{h(name)}" src="data:image/png;base64,{data}">'
                f"<figcaption>{h(name)}</figcaption></figure>"
            )
    out.append("</body></html>")
    return "\n".join(out) + "\n"


def require_plots() -> None:
    """Fail early, with the install hint, when matplotlib is not installed.

    Raises:
        PlotsUnavailable: matplotlib cannot be imported.
    """
    import importlib.util

    try:
        found = importlib.util.find_spec("matplotlib") is not None
    except (ImportError, ValueError):
        found = False
    if not found:
        raise PlotsUnavailable()


def emit(report: Report, fmt: str, out: Path | None = None, stream: Any = None) -> None:
    """Write ``report`` in ``fmt`` to ``out``, or show it on ``stream`` (stdout).

    ``table`` on a terminal is drawn by rich (with colour); everywhere else it is plain text.
    """
    import sys

    stream = stream or sys.stdout
    if fmt == "table" and out is None:
        from rich.console import Console

        from sandbox.display.report_view import report_view

        Console(file=stream).print(report_view(report))
        return
    text = render(report, fmt)
    if out is None:
        stream.write(text)
        return
    # Atomic (temporary file, fsync, rename): a kill or a full disk leaves the old report whole.
    # An unwritable path is a RunWriteError: one line, status 2.
    store.write_text_atomic(out, text)


def write_plots(report: Report, directory: Path) -> list[Path]:
    """Write the report's figures as PNG files in ``directory``; returns their paths.

    Raises:
        PlotsUnavailable: matplotlib is not installed.
    """
    from sandbox.display.plots import make_figures

    figures = make_figures(report)
    directory.mkdir(parents=True, exist_ok=True)
    paths = []
    for name, png in figures.items():
        path = directory / f"{name}.png"
        path.write_bytes(png)
        paths.append(path)
    return paths
