"""The text every view shares: the run's header and closing summary, tokens, the stopping line.

Plain strings only (no rich): the null, plain and live views and ``wsb watch`` print them.
"""

from __future__ import annotations

from typing import Any

from sandbox.display.events import RunHeader
from sandbox.display.headline import fmt_headline, headlines, legend, of_rate
from sandbox.display.safe import clean, one_line
from sandbox.metrics.rates import TOKEN_FIELDS

#: The usage field of tokens served from the prompt cache (the rest were processed anew).
CACHED_TOKENS = "cache_read_input_tokens"


def token_split(usage: Any) -> tuple[int, int]:
    """``(uncached, cached)`` tokens of one usage dict, as ``metrics.json`` counts them.

    ``metrics.json``'s ``tokens.total`` sums every field of
    :data:`sandbox.metrics.rates.TOKEN_FIELDS`; of those, ``cache_read_input_tokens`` were read
    from the prompt cache (cached) and the others (input, output, cache writes) were not.
    """
    if not isinstance(usage, dict):
        return 0, 0
    uncached = cached = 0
    for key in TOKEN_FIELDS:
        value = usage.get(key)
        if isinstance(value, int) and not isinstance(value, bool) and value > 0:
            if key == CACHED_TOKENS:
                cached += value
            else:
                uncached += value
    return uncached, cached


def tokens_cell(uncached: int, cached: int) -> str:
    """``823,284 (3,980 uncached, 819,304 cached)``: the total ``metrics.json`` reports."""
    return f"{uncached + cached:,} ({uncached:,} uncached, {cached:,} cached)"


def stopping_line(header: RunHeader | None, reason: str, finished: int) -> str:
    """What a view says at once when the run is stopping early."""
    where = f" in {header.run_dir}" if header is not None else ""
    return (
        f"{reason}: stopping now. Keeping the {finished} finished episodes; writing "
        f"metrics.json and run.json (status partial){where} ..."
    )


def header_lines(header: RunHeader) -> list[str]:
    """The run's header, printed as soon as the run starts: what runs, and where it writes
    (so that a second terminal can follow it with ``wsb watch`` at once)."""
    resumed = f", resuming after {header.done} finished" if header.done else ""
    lines = [
        f"{header.experiment}: {header.episodes} episodes of {header.env_id}, agent "
        f"{header.agent}, condition {header.condition}{resumed}",
        f"run directory: {header.run_dir} (to follow it: wsb watch {header.run_dir})",
    ]
    return [one_line(line, 1000) for line in lines]


def summary_lines(header: RunHeader, status: str, metrics: dict[str, Any] | None) -> list[str]:
    """The closing summary: status, headline figures with intervals, where the run is.

    The headline figures are the design's own (below-opt-out shares, exit rate by method,
    switch points, the aversive room's share of reads) and the generic rates that have data;
    see :mod:`sandbox.display.headline`.
    """
    lines = [f"run {status}: {header.experiment} · {header.agent} · condition {header.condition}"]
    if metrics:
        invalid = (metrics.get("invalid_action_rate") or {}).get("value") or 0
        lines.append(
            f"  episodes {metrics.get('episodes', 0)}, steps {metrics.get('steps', 0)}, "
            f"invalid actions {invalid:.1%}"
        )
        items = headlines(metrics)
        for item in items:
            lines.append("  " + fmt_headline(item))
        shares = metrics.get("choice_share") or {}
        if shares:
            parts = [
                f"{cat} {rate['value']:.0%}"
                for cat, rate in sorted(shares.items(), key=lambda kv: -(kv[1]["value"] or 0))
                if rate.get("value") is not None
            ]
            if parts:
                lines.append("  choice share: " + ", ".join(parts))
        report = metrics.get("self_report") or {}
        if report.get("n"):
            mean = of_rate(
                "self_report.mean", "self-report mean (1-7)", report, value_key="mean",
                unit="intensity",
            )  # fmt: skip
            items.append(mean)
            lines.append("  " + fmt_headline(mean))
        uncached, cached = token_split(metrics.get("tokens"))
        if uncached or cached:
            lines.append(f"  tokens {tokens_cell(uncached, cached)}")
        cost = metrics.get("cost_usd")
        if cost:
            lines.append(f"  cost ${cost:.4f}")
        key = legend(items)
        if key:
            lines.append(f"  {key}")
    lines.append(f"  run directory: {header.run_dir}")
    # Category names come from banks (untrusted): nothing here may reach a terminal raw.
    return [clean(line) for line in lines]
