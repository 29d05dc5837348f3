"""Stated-versus-revealed concordance recovered on the simulated subject, against its truth.

    python benchmarks/interview_concordance.py [--seeds 10] [--episodes 336] [--plot FILE.png]

For each seed, an interview run (``experiment=interview``, the shipped 168 items, one per
episode) and a ``task_preferences`` run (``Pairwise-v0``, 20 episodes x 60 comparisons) of the
same simulated subject, and a ``workday`` run for the first subject; then
:func:`sandbox.metrics.concordance.concordance` of the two. Subjects:

- ``harm_averse``: the default preset (creative 1.5, analytical 1.0, routine and emotionally
  heavy -0.5, hostile -1.0, harmful -3.0: a tie, so the best Spearman against it is 0.986);
- ``distinct``: six distinct utilities 1.5, 1.0, -0.25, -0.75, -1.25, -3.0 (no tie);
- ``says_opposite``: ``distinct`` in what it does, the reverse in what it states (a negative
  control: concordance should be -1).

Printed per subject: the median and range over seeds of Spearman(stated, true),
Spearman(revealed, true), Spearman(stated, revealed) with its exact one-sided p (720
orderings), and the pair section's retest / order / paraphrase agreement (pooled over seeds).
``--plot`` draws, per subject, each seed's stated and revealed utilities (centred) against the
true ones (needs matplotlib: the ``plots`` extra).
"""

from __future__ import annotations

import argparse
import statistics
import tempfile
from pathlib import Path
from typing import Any

from hydra import compose, initialize_config_dir
from hydra.core.global_hydra import GlobalHydra

from sandbox import runner
from sandbox.config import register_configs, to_typed
from sandbox.display.base import NullDisplay
from sandbox.metrics.concordance import concordance
from sandbox.paths import config_dir

DISTINCT = {
    "creative": 1.5,
    "analytical": 1.0,
    "routine": -0.25,
    "emotionally_heavy": -0.75,
    "hostile_requester": -1.25,
    "harmful_request": -3.0,
}
SUBJECTS: dict[str, list[str]] = {
    "harm_averse": [],
    "distinct": [f"agent.utilities.{c}={u}" for c, u in DISTINCT.items()],
    "says_opposite": [f"agent.utilities.{c}={u}" for c, u in DISTINCT.items()]
    + [f"+agent.interview.stated_utilities.{c}={-u}" for c, u in DISTINCT.items()],
}


class Silent(NullDisplay):
    def run_ended(self, status: Any, metrics: Any) -> None:
        return None


def run(out: Path, *overrides: str) -> tuple[dict[str, Any], dict[str, Any]]:
    cfg = to_typed(compose(config_name="config", overrides=["display=none", *overrides]))
    result = runner.run(cfg, out, Silent())
    import json

    return result.metrics, json.loads((out / "run.json").read_text("utf-8"))


def fmt(values: list[float]) -> str:
    return f"{statistics.median(values):.3f} [{min(values):.3f}, {max(values):.3f}]"


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--seeds", type=int, default=10)
    parser.add_argument("--episodes", type=int, default=336)
    parser.add_argument("--plot", type=Path, help="write the figure here (PNG)")
    args = parser.parse_args()
    points: dict[str, list[tuple[float, float, float]]] = {}
    register_configs()
    GlobalHydra.instance().clear()
    with initialize_config_dir(config_dir=str(config_dir()), version_base="1.3"):
        tmp = Path(tempfile.mkdtemp(prefix="interview-bench-"))
        for name, subject in SUBJECTS.items():
            rows: dict[str, list[float]] = {k: [] for k in ("st", "rt", "sr", "p", "wd")}
            agree: dict[str, list[int]] = {k: [0, 0] for k in ("retest", "order", "paraphrase")}
            for seed in range(args.seeds):
                base = [f"seed={seed}", *subject]
                iv, manifest = run(
                    tmp / f"{name}-iv-{seed}",
                    "experiment=interview",
                    f"episodes={args.episodes}",
                    *base,
                )
                tp, _ = run(tmp / f"{name}-tp-{seed}", "experiment=task_preferences", *base)
                result = concordance(iv, tp, manifest)
                points.setdefault(name, []).extend(_points(result, manifest))
                truth = result["truth"]
                rows["st"].append(truth["stated_vs_true"])
                rows["rt"].append(truth["revealed_vs_true"])
                rows["sr"].append(result["spearman"])
                rows["p"].append(result["p_greater"])
                if name == "harm_averse":
                    wd, _ = run(tmp / f"{name}-wd-{seed}", "experiment=workday", *base)
                    rows["wd"].append(concordance(iv, wd, manifest)["spearman"])
                for kind, rate in iv["interview"]["consistency"]["pair"].items():
                    if rate["n"]:
                        agree[kind][0] += round(rate["value"] * rate["n"])
                        agree[kind][1] += rate["n"]
            print(f"{name} ({args.seeds} seeds, {args.episodes} interview episodes each):")
            print(f"  Spearman(stated, true)        {fmt(rows['st'])}")
            print(f"  Spearman(revealed, true)      {fmt(rows['rt'])}")
            print(f"  Spearman(stated, revealed)    {fmt(rows['sr'])}   (task_preferences)")
            print(f"  one-sided exact p             {fmt(rows['p'])}")
            if rows["wd"]:
                print(f"  Spearman(stated, workday)     {fmt(rows['wd'])}")
            pooled = ", ".join(f"{k} {hits / n:.3f} (n={n})" for k, (hits, n) in agree.items() if n)
            print(f"  pair agreement: {pooled}")
    GlobalHydra.instance().clear()
    if args.plot is not None:
        _plot(points, args.plot)
        print(f"wrote {args.plot}")


def _points(result: dict[str, Any], manifest: dict[str, Any]) -> list[tuple[float, float, float]]:
    """(true, stated, revealed) per category, each side centred to mean 0."""
    true = manifest["agent"]["parameters"]["utilities"]
    rows = [r for r in result["rows"] if r["revealed"] is not None]
    cols = [[float(true[r["category"]]) for r in rows], [r["stated"] for r in rows]]
    cols.append([r["revealed"] for r in rows])
    centred = [[v - sum(c) / len(c) for v in c] for c in cols]
    return list(zip(*centred, strict=True))


def _plot(points: dict[str, list[tuple[float, float, float]]], path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(1, len(points), figsize=(4 * len(points), 4), sharey=True)
    for ax, (name, pts) in zip(axes, points.items(), strict=True):
        t, s, r = zip(*pts, strict=True)
        ax.scatter(t, r, s=12, alpha=0.5, label="revealed (task_preferences)", marker="s")
        ax.scatter(t, s, s=12, alpha=0.6, label="stated (interview)")
        lo, hi = min(t) - 0.5, max(t) + 0.5
        ax.plot([lo, hi], [lo, hi], color="grey", linewidth=0.8)
        ax.set_title(name)
        ax.set_xlabel("true utility (centred)")
    axes[0].set_ylabel("estimated utility (centred; case-V units)")
    axes[0].legend(fontsize=8)
    fig.suptitle("Interview: stated and revealed utilities of the simulated subject vs its truth")
    fig.tight_layout()
    fig.savefig(path, dpi=120)


if __name__ == "__main__":
    main()
