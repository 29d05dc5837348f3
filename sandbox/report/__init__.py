"""Reports of runs and sweeps: every proxy with its interval, effects against a control.

:func:`build_report` reads a run directory (one condition) or a sweep directory (one condition
per job) and returns a :class:`Report`:

- For each condition, every proxy found in ``metrics.json`` (computed from the records when a
  run has not written it yet) with its interval and n, as :class:`Estimate` rows.
- For a sweep, the effect of each condition against the control (by default the job whose
  intervention is ``none``): the difference of per-episode means with a percentile bootstrap
  95% interval over episodes (paired by seed when the two conditions share their episodes'
  seeds), the minimum detectable effect both ways, and Holm's correction over every effect.
  Per-episode values come from ``episodes.jsonl``, streamed into the run's tally
  (:mod:`.reading`): an episode's refusal share, rest share, invalid share, its exit
  indicator, its mean self-report, its share of task choices per category, its total reward,
  and each design's headlines (:mod:`.headlines`: the bail exit per episode, the Think Tank's
  read shares and incentive-override index, fitted switch points and utilities).
- Any ``published`` block that a design writes into ``metrics.json`` (e.g.
  ``metrics["pairwise"]["published"]``), shown beside our figure for the same key, labelled
  with its source. The blocks are read generically: nothing here knows their contents.

:func:`render` turns a report into ``md``, ``csv``, ``json`` or ``html`` text (``table`` is
the rich view in :mod:`sandbox.report.view`). Every piece of text that came from a run
(condition names built from overrides, published sources, notes) is untrusted: ``md`` escapes
it, ``html`` passes it through :func:`html.escape`, and both drop control sequences first.

The JSON format's keys are stable (``REPORT_SCHEMA``); see ``notes/watch_report.md``.

The package: :mod:`.model` (the report's pieces), :mod:`.build` (runs and sweeps, row names),
:mod:`.reading` (a job's log streamed into the tally), :mod:`.proxies` (the walk of
``metrics.json``), :mod:`.effects` (per-episode values, effects), :mod:`.headlines` (design
headlines), :mod:`.resample` (bootstrap, MOVER, MDE, Holm), :mod:`.cells` (text of one cell),
:mod:`.formats` (md, csv, json, html), :mod:`.view` (the rich table) and :mod:`.plots`
(matplotlib figures). This module re-exports the public names.
"""

from __future__ import annotations

from sandbox.report.build import build_report, metric_estimates
from sandbox.report.cells import (
    EFFECT_LABELS,
    effect_label,
    effects_by_proxy,
    estimates_by_condition,
    fmt_any,
    fmt_cell,
    fmt_diff,
    fmt_effect,
    fmt_interval,
    fmt_mde,
    fmt_value,
    mde_line,
)
from sandbox.report.effects import effects_against, episode_values, per_episode_values
from sandbox.report.formats import (
    CSV_COLUMNS,
    emit,
    h,
    md_escape,
    render,
    require_plots,
    to_csv,
    to_dict,
    to_html,
    to_json,
    to_markdown,
    write_plots,
)
from sandbox.report.model import (
    FORMATS,
    PLOTS_HINT,
    REPORT_SCHEMA,
    Condition,
    Effect,
    Estimate,
    PlotsUnavailable,
    Published,
    PublishedRow,
    Report,
    ReportError,
    is_note,
)

__all__ = [
    "CSV_COLUMNS",
    "EFFECT_LABELS",
    "FORMATS",
    "PLOTS_HINT",
    "REPORT_SCHEMA",
    "Condition",
    "Effect",
    "Estimate",
    "PlotsUnavailable",
    "Published",
    "PublishedRow",
    "Report",
    "ReportError",
    "build_report",
    "effect_label",
    "effects_against",
    "effects_by_proxy",
    "emit",
    "episode_values",
    "estimates_by_condition",
    "fmt_any",
    "fmt_cell",
    "fmt_diff",
    "fmt_effect",
    "fmt_interval",
    "fmt_mde",
    "fmt_value",
    "h",
    "is_note",
    "md_escape",
    "mde_line",
    "metric_estimates",
    "per_episode_values",
    "render",
    "require_plots",
    "to_csv",
    "to_dict",
    "to_html",
    "to_json",
    "to_markdown",
    "write_plots",
]
