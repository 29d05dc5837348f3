"""Stated-versus-revealed concordance across runs: an interview's ranking beside behaviour.

An interview run (``experiment=interview``) states a ranking of the task categories
(``metrics["interview"]["stated"]``); a behavioural run of the same model reveals one:

- a ``task_preferences`` run (``Pairwise-v0``): ``metrics["pairwise"]["categories"][c]["mean"]``,
  each category's Thurstonian mean relative to the opt-out;
- a ``workday`` run (``TaskChoice-v0``): ``metrics["utilities"][c]["mean"]``, the conditional
  logit's category utilities (a category at a boundary, never or always chosen, ranks below or
  above every interior one).

:func:`concordance` puts the two side by side over the categories both have, with Spearman's
rank correlation and a permutation p-value of it: exact (all ``k!`` orderings of the revealed
ranks, ties kept) for ``k <= 8`` categories, else Monte Carlo (100,000 seeded permutations,
``p = (1 + hits) / (1 + N)``). ``p_greater`` is one-sided (the alternative that stated and
revealed rankings agree, the hypothesis of interest); ``p_two_sided`` counts ``|ρ|``. The unit
is the category: with 6 categories the smallest one-sided p is 1/720.

When the interview's subject is the simulated one, its true utilities are in its ``run.json``,
and ``truth`` holds the stated and revealed rankings' Spearman against them (the known answer
of the recovery).

Command line: ``wsb report INTERVIEW_RUN --revealed OTHER_RUN`` (the report's notes and
proxies), or ``python -m sandbox.metrics.concordance INTERVIEW_RUN OTHER_RUN [--json]``.
"""

from __future__ import annotations

import argparse
import itertools
import json
import math
import sys
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from sandbox.errors import SandboxError
from sandbox.metrics.stats import rankdata, spearman

#: Largest number of categories whose permutations are enumerated (8! = 40,320).
EXACT_MAX = 8
#: Permutations of the Monte Carlo test above :data:`EXACT_MAX`.
MONTE_CARLO = 100_000
_EPS = 1e-12


class ConcordanceError(SandboxError):
    """The runs cannot be compared: not an interview, no revealed utilities, too few in common."""


def permutation_test(
    x: Sequence[float], y: Sequence[float], *, seed: int = 0, n_mc: int = MONTE_CARLO
) -> dict[str, Any]:
    """Spearman's ρ of ``x`` and ``y`` with its permutation p-values (see the module docstring).

    Returns:
        ``{"spearman", "p_greater", "p_two_sided", "k", "method", "permutations"}``; ``None``
        figures when ρ is undefined (fewer than 2 values, or one side constant).
    """
    k = len(x)
    rho = spearman(x, y)
    out: dict[str, Any] = {"spearman": rho, "p_greater": None, "p_two_sided": None, "k": k}
    if rho is None:
        return {**out, "method": None, "permutations": 0}
    rx = rankdata(x) - (k + 1) / 2.0
    ry = rankdata(y) - (k + 1) / 2.0
    denom = math.sqrt(float(rx @ rx) * float(ry @ ry))
    if k <= EXACT_MAX:
        perms = np.array(list(itertools.permutations(range(k))), dtype=np.int64)
        rhos = (ry[perms] @ rx) / denom
        greater = int(np.sum(rhos >= rho - _EPS))
        both = int(np.sum(np.abs(rhos) >= abs(rho) - _EPS))
        n = len(perms)
        return {
            **out,
            "p_greater": greater / n,
            "p_two_sided": both / n,
            "method": f"exact permutation test over all {n} orderings",
            "permutations": n,
        }
    rng = np.random.default_rng(seed)
    perms = rng.permuted(np.tile(np.arange(k), (n_mc, 1)), axis=1)
    rhos = (ry[perms] @ rx) / denom
    greater = int(np.sum(rhos >= rho - _EPS))
    both = int(np.sum(np.abs(rhos) >= abs(rho) - _EPS))
    return {
        **out,
        "p_greater": (1 + greater) / (1 + n_mc),
        "p_two_sided": (1 + both) / (1 + n_mc),
        "method": f"Monte Carlo permutation test, {n_mc} permutations (seed {seed})",
        "permutations": n_mc,
    }


def stated_utilities(metrics: Mapping[str, Any]) -> dict[str, float]:
    """Category -> stated utility of an interview run's ``metrics.json``.

    Raises:
        ConcordanceError: The metrics are not an interview's, or it stated no ranking.
    """
    block = metrics.get("interview")
    if not isinstance(block, Mapping):
        raise ConcordanceError(
            "the first run is not an interview (its metrics.json has no 'interview' block); "
            "expected a run of experiment=interview, e.g. wsb report INTERVIEW_RUN --revealed "
            "OTHER_RUN"
        )
    utilities = (block.get("stated") or {}).get("utilities") or {}
    out = {c: float(v["mean"]) for c, v in utilities.items() if _finite(v.get("mean"))}
    if not out:
        raise ConcordanceError(
            "the interview run stated no ranking (no valid pair answers); run more episodes, "
            "with the pair section (env.kwargs.sections=null)"
        )
    return out


def revealed_utilities(metrics: Mapping[str, Any]) -> tuple[dict[str, float], str]:
    """Category -> revealed utility of a behavioural run's ``metrics.json``, and its source.

    Raises:
        ConcordanceError: Neither a pairwise block nor task-choice utilities are there.
    """
    pairwise = metrics.get("pairwise")
    if isinstance(pairwise, Mapping) and pairwise.get("categories"):
        cats = pairwise["categories"]
        out = {c: float(v["mean"]) for c, v in cats.items() if _finite(v.get("mean"))}
        if out:
            return out, "pairwise.categories (Thurstonian mean, opt-out = 0)"
    utilities = metrics.get("utilities")
    if isinstance(utilities, Mapping) and utilities and "interview" not in metrics:
        out = {}
        for c, v in utilities.items():
            if not isinstance(v, Mapping):
                continue
            if _finite(v.get("mean")):
                out[c] = float(v["mean"])
            elif v.get("bound") in ("below", "above"):
                out[c] = -math.inf if v["bound"] == "below" else math.inf
        if out:
            return (
                out,
                "utilities (conditional logit of task choices; boundaries ranked last/first)",
            )
    raise ConcordanceError(
        "the revealed run has no revealed utilities (expected a task_preferences run, with "
        "metrics.json['pairwise']['categories'], or a workday run, with metrics.json['utilities'])"
    )


def true_utilities(manifest: Mapping[str, Any]) -> tuple[dict[str, float], dict[str, float]] | None:
    """A simulated subject's true (revealed, stated) utilities from its ``run.json``, else None."""
    agent = manifest.get("agent")
    if not isinstance(agent, Mapping) or agent.get("name") != "simulated":
        return None
    params = agent.get("parameters")
    if not isinstance(params, Mapping) or not isinstance(params.get("utilities"), Mapping):
        return None
    true = {str(c): float(u) for c, u in params["utilities"].items()}
    interview = params.get("interview") if isinstance(params.get("interview"), Mapping) else {}
    said = (interview or {}).get("stated_utilities") or {}
    stated = {c: float(said.get(c, u)) for c, u in true.items()}
    return true, stated


def concordance(
    interview: Mapping[str, Any],
    revealed: Mapping[str, Any],
    manifest: Mapping[str, Any] | None = None,
) -> dict[str, Any]:
    """The stated ranking beside the revealed utilities, with Spearman and its p-values.

    Args:
        interview: The interview run's ``metrics.json``.
        revealed: The behavioural run's ``metrics.json``.
        manifest: The interview run's ``run.json`` (for a simulated subject's truth).

    Raises:
        ConcordanceError: Either run lacks its utilities, or fewer than 3 categories in common.
    """
    stated = stated_utilities(interview)
    shown, source = revealed_utilities(revealed)
    common = [c for c in sorted(stated) if c in shown]
    if len(common) < 3:
        raise ConcordanceError(
            f"the runs have {len(common)} categories in common ({', '.join(common) or 'none'}); "
            "expected at least 3: ask about the same task bank's categories in both runs"
        )
    xs, ys = [stated[c] for c in common], [shown[c] for c in common]
    rank_s, rank_r = _ranks(xs), _ranks(ys)
    out: dict[str, Any] = {
        **permutation_test(xs, ys),
        "categories": common,
        "rows": [
            {
                "category": c,
                "stated": stated[c],
                "stated_rank": rank_s[i],
                "revealed": shown[c] if math.isfinite(shown[c]) else None,
                "revealed_rank": rank_r[i],
            }
            for i, c in enumerate(common)
        ],
        "revealed_source": source,
        "unit": "category",
        "truth": None,
    }
    truth = true_utilities(manifest) if manifest is not None else None
    if truth is not None:
        true, true_stated = truth
        inner = [c for c in common if c in true]
        t = [true[c] for c in inner]
        out["truth"] = {
            "stated_vs_true": spearman([stated[c] for c in inner], t),
            "revealed_vs_true": spearman([shown[c] for c in inner], t),
            "true_stated_vs_true": spearman([true_stated[c] for c in inner], t),
            "note": "Spearman against the simulated subject's true utilities (its run.json)",
        }
    return out


def between_runs(interview_dir: Path, revealed_dir: Path) -> dict[str, Any]:
    """:func:`concordance` of two run directories (their ``metrics.json`` and ``run.json``).

    Raises:
        ConcordanceError: A run has no ``metrics.json`` yet, or either lacks its utilities.
    """
    data = [_read(d, "metrics.json") for d in (interview_dir, revealed_dir)]
    manifests = [_read(d, "run.json", required=False) for d in (interview_dir, revealed_dir)]
    out = concordance(data[0], data[1], manifests[0])
    out["runs"] = {"interview": str(interview_dir), "revealed": str(revealed_dir)}
    models = [_agent_label(m) for m in manifests]
    out["agents"] = {"interview": models[0], "revealed": models[1]}
    out["same_agent"] = None if None in models else models[0] == models[1]
    return out


def lines(result: Mapping[str, Any]) -> list[str]:
    """The result as plain lines (the report's notes; untrusted text escaped by the report)."""
    rho, p, p2 = result["spearman"], result["p_greater"], result["p_two_sided"]
    head = (
        f"Stated vs revealed over {result['k']} task categories (revealed: "
        f"{result['revealed_source']}): Spearman {_num(rho)}, one-sided p = {_num(p, 4)}, "
        f"two-sided p = {_num(p2, 4)} ({result['method']}; the unit is the category)."
    )
    out = [head]
    if result.get("same_agent") is False:
        agents = result["agents"]
        out.append(
            f"Warning: the runs' agents differ ({agents['interview']} vs {agents['revealed']}): "
            "concordance is meant for two runs of the same model."
        )
    for row in sorted(result["rows"], key=lambda r: r["stated_rank"]):
        stated = f"stated {_num(row['stated'])} (rank {_num(row['stated_rank'], 1)})"
        shown = f"revealed {_num(row['revealed'])} (rank {_num(row['revealed_rank'], 1)})"
        out.append(f"  {row['category']}: {stated}, {shown}")
    truth = result.get("truth")
    if truth:
        out.append(
            "Against the simulated subject's true utilities: stated "
            f"{_num(truth['stated_vs_true'])}, revealed {_num(truth['revealed_vs_true'])} "
            "(Spearman)."
        )
    return out


def add_to_report(report: Any, interview_dir: Path, revealed_dir: Path) -> dict[str, Any]:
    """Put the concordance of two runs into a run report (``wsb report RUN --revealed OTHER``).

    The interview's condition gains the proxies ``concordance.spearman`` (n = categories)
    and ``concordance.p_greater`` / ``concordance.p_two_sided``, and the report's notes gain
    the side-by-side lines of :func:`lines`. Returns the result.

    Raises:
        ConcordanceError: As :func:`between_runs`.
    """
    from sandbox.report.model import Estimate

    result = between_runs(interview_dir, revealed_dir)
    if report.conditions:
        proxies = report.conditions[0].proxies
        k = result["k"]
        for key in ("spearman", "p_greater", "p_two_sided"):
            proxies.append(Estimate(f"concordance.{key}", result[key], None, None, k, "mean"))
        truth = result.get("truth") or {}
        for key in ("stated_vs_true", "revealed_vs_true"):
            if truth.get(key) is not None:
                proxies.append(Estimate(f"concordance.{key}", truth[key], None, None, k, "mean"))
        report.conditions[0].metrics["concordance"] = result
    report.notes.extend(lines(result))
    return result


def _ranks(values: Sequence[float]) -> list[float]:
    """Rank 1 = the largest value (ties share their average rank)."""
    return [float(r) for r in rankdata([-v for v in values])]


def _finite(value: Any) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool) and math.isfinite(value)


def _num(value: Any, digits: int = 2) -> str:
    return "n/a" if value is None else f"{value:.{digits}f}"


def _agent_label(manifest: Mapping[str, Any] | None) -> str | None:
    if not isinstance(manifest, Mapping):
        return None
    agent = manifest.get("agent")
    if not isinstance(agent, Mapping):
        return None
    params = agent.get("parameters") if isinstance(agent.get("parameters"), Mapping) else {}
    name = agent.get("name")
    model = (params or {}).get("model") or (params or {}).get("preset")
    return f"{name}:{model}" if model else str(name)


def _read(run: Path, name: str, *, required: bool = True) -> dict[str, Any]:
    path = Path(run) / name
    try:
        data = json.loads(path.read_text("utf-8"))
    except FileNotFoundError:
        if not required:
            return {}
        raise ConcordanceError(
            f"{path} does not exist: expected a finished run directory (wsb run writes "
            f"{name} at the end; wsb report {run} computes it for an unfinished run)"
        ) from None
    except (OSError, ValueError) as exc:
        raise ConcordanceError(f"{path} cannot be read as JSON: {exc}") from None
    if not isinstance(data, dict):
        raise ConcordanceError(f"{path}: expected a JSON object")
    return data


def main(argv: Sequence[str] | None = None) -> int:
    """``python -m sandbox.metrics.concordance INTERVIEW_RUN REVEALED_RUN [--json]``."""
    parser = argparse.ArgumentParser(
        prog="python -m sandbox.metrics.concordance", description=__doc__.splitlines()[0]
    )
    parser.add_argument("interview", type=Path, help="the interview run directory")
    parser.add_argument("revealed", type=Path, help="a task_preferences or workday run")
    parser.add_argument("--json", action="store_true", help="print the result as JSON")
    args = parser.parse_args(argv)
    try:
        result = between_runs(args.interview, args.revealed)
    except ConcordanceError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    from sandbox.display.safe import clean

    if args.json:
        print(json.dumps(result, indent=1, default=str))
    else:
        print("\n".join(clean(line) for line in lines(result)))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
