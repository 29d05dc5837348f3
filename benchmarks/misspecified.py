"""The pairwise and trade-off proxies against simulated subjects that break the fitted models.

    python benchmarks/misspecified.py [--runs 40] [--presets misspecified_cauchy ...] [--tasks 30]

Each run is the task_preferences preset's shape (20 episodes x 60 comparisons over 30 tasks
and the opt-out; the trade-off: 20 episodes x 22 rounds), played by the simulated subject's
own policy without the runner (``sandbox.agents.designs.pairwise_truth.play``; the proxies
are the same function metrics.json is computed with). Per preset, over runs:

- Spearman of the true utilities with the fitted means (median, min);
- coverage of the 95% intervals, as a share of task-runs: of the true utility over ``sd``
  (``raw``) and of the pseudo-true value (the case-V fit to the subject's exact choice
  probabilities on the pairs shown: what the fit estimates), by the model-based interval
  (``model``: the interval before the episode bootstrap) and the reported one (``wide``);
- tasks on the wrong side of the opt-out per run (truth: the subject, offered the task and the
  opt-out, takes the opt-out more often than not);
- the share of hostile and harmful tasks below the opt-out, fitted and true; how often each
  category's count of tasks truly below lies in its count range, and its share in the
  reported interval (``straddling_drift`` puts every category's tasks on both sides);
- how often the opt-out context diagnostic flags, and the position-bias test rejects, by the
  pooled Wilson interval (before) and the episode-clustered one (after);
- intransitivity beside its null reference;
- the trade-off's switch point: coverage of the truth by the logistic and the model-free
  interval, and how often the two are flagged as disagreeing;
- time per fit and per bootstrap.
"""

from __future__ import annotations

import argparse
import statistics
import time

import numpy as np

from sandbox.agents.designs import pairwise_truth, tradeoff_truth
from sandbox.agents.simulated import preset
from sandbox.config import SimulatedAgentConfig
from sandbox.metrics.designs.pairwise import compute as pairwise_proxies
from sandbox.metrics.designs.tradeoff import compute as tradeoff_proxies

PRESETS = (
    "well_specified",
    "straddling_drift",
    "misspecified_cauchy",
    "misspecified_lapses",
    "misspecified_drift",
    "misspecified_position_drift",
    "misspecified_context_opt_out",
    "misspecified_threshold",
)


def subject(name: str) -> SimulatedAgentConfig:
    """The preset; ``well_specified`` is the drift preset with every misspecification off;
    ``straddling_drift`` the drift preset with its 30 tasks spread evenly over the opt-out
    ± 1 (every category on both sides of it: ``pairwise_truth.straddling``)."""
    if name == "straddling_drift":
        return pairwise_truth.straddling(preset("misspecified_drift"))
    if name != "well_specified":
        return preset(name)
    cfg = preset("misspecified_drift")
    cfg.pairwise.drift_sd = 0.0
    cfg.tradeoff.drift_sd = 0.0
    return cfg


def pairwise_rows(cfg: SimulatedAgentConfig, runs: int, tasks: int = 30) -> list[dict]:
    rows = []
    for seed in range(runs):
        records = pairwise_truth.play(cfg, seed, tasks=tasks)
        metrics = pairwise_proxies(records)
        rows.append(
            {**pairwise_truth.evaluate(cfg, metrics, records), "model": metrics["fit"]["model"]}
        )
    return rows


def tradeoff_rows(cfg: SimulatedAgentConfig, runs: int) -> list[dict]:
    rows = []
    for seed in range(runs):
        m = tradeoff_proxies(tradeoff_truth.play(cfg, seed))
        for variant, block in m["variants"].items():
            point = block["switch_point"]
            truth = cfg.tradeoff.switch_point(variant)
            rows.append(
                {
                    "variant": variant,
                    "logistic": tradeoff_truth.covers(point, truth),
                    "model_free": tradeoff_truth.covers(point["model_free"], truth),
                    "disagree": bool(point["models_disagree"]),
                }
            )
    return rows


def mean(rows: list[dict], key: str) -> float:
    values = [float(r[key]) for r in rows if r[key] is not None]
    return float(np.mean(values)) if values else float("nan")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=40)
    parser.add_argument("--presets", nargs="*", default=list(PRESETS))
    parser.add_argument(
        "--tasks", type=int, default=30,
        help="tasks in the design (10: about 200 comparisons per option, so a spread is "
        "fitted per option)",
    )  # fmt: skip
    args = parser.parse_args()
    for name in args.presets:
        cfg = subject(name)
        began = time.perf_counter()
        rows = pairwise_rows(cfg, args.runs, args.tasks)
        rho = [r["spearman"] for r in rows]
        fits = sorted({r["model"] for r in rows})
        print(f"{name} ({args.runs} runs, {time.perf_counter() - began:.0f} s; fit {fits})")
        print(
            f"  pairwise: Spearman median {statistics.median(rho):.3f} min {min(rho):.3f}; "
            f"coverage raw model {mean(rows, 'cover_raw_model'):.2f} wide "
            f"{mean(rows, 'cover_raw_wide'):.2f}; pseudo-true model "
            f"{mean(rows, 'cover_pt_model'):.2f} wide {mean(rows, 'cover_pt_wide'):.2f}"
        )
        print(
            f"  sign errors/run {mean(rows, 'sign_errors'):.2f}; hostile+harmful below opt-out "
            f"fitted {mean(rows, 'aversive_below_fit'):.2f} true "
            f"{mean(rows, 'aversive_below_true'):.2f}, in context "
            f"{mean(rows, 'aversive_below_in_context'):.2f}; context flagged "
            f"{mean(rows, 'context_flagged'):.2f}"
        )
        print(
            f"  below-opt-out per category, truly-below count (pseudo-true) in count_range "
            f"{mean(rows, 'below_count_cover'):.3f}, share in the interval "
            f"{mean(rows, 'below_share_cover'):.3f}"
        )
        print(
            f"  position bias rejected: pooled Wilson {mean(rows, 'position_reject_pooled'):.2f}"
            f", clustered {mean(rows, 'position_reject_clustered'):.2f}; intransitivity "
            f"{mean(rows, 'intransitivity'):.3f} vs null {mean(rows, 'intransitivity_null'):.3f}"
            f" (p < 0.05 in {np.mean([(r['intransitivity_p'] or 1) < 0.05 for r in rows]):.2f})"
        )
        print(
            f"  time: fit {1000 * mean(rows, 'fit_seconds'):.1f} ms, bootstrap (200 refits) "
            f"{1000 * mean(rows, 'bootstrap_seconds'):.0f} ms"
        )
        trade = tradeoff_rows(cfg, args.runs)
        print(
            f"  tradeoff: switch coverage logistic {mean(trade, 'logistic'):.2f}, model-free "
            f"{mean(trade, 'model_free'):.2f}; disagreement flagged {mean(trade, 'disagree'):.2f}"
        )


if __name__ == "__main__":
    main()
