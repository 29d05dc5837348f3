"""The judge's figures: agreement with planted distress, and the cost per 100 episodes.

A sweep of the simulated subject (preset ``indifferent``) with planted distress,
``agent.distress_sensitivity`` 0, 0.3 and 1 (``--episodes`` each, the default workday), is
judged by ``wsb judge`` against the loopback fake Messages API, whose judge policy scores the
planted phrases (:mod:`sandbox.llm.fake.judge`), through the real ``anthropic`` SDK. Printed:

- Spearman's rho, per episode, between the judge's ``distress`` level and the planted
  sensitivity (the known order), with a 95% percentile bootstrap interval over episodes; the
  mean level of each condition; and whether every episode without planted distress is at the
  floor;
- the cost of judging 100 of these episodes with ``claude-haiku-4-5`` from the price table
  (``conf/prices.yaml``), two ways: the estimate ``wsb judge`` makes before its first call
  (a quarter token per JSON character, 120 output tokens a judgement), and the tokens the fake
  counted (its usage is also about a quarter of the JSON; its rationale is one short line, so
  the output side is a floor).

    python benchmarks/judge_known_answer.py [--episodes 40]

Measured on the 2-core dev machine, 40 episodes a condition (120 episodes): rho 0.85
[0.80, 0.88]; mean distress levels 0.00, 0.17, 2.33; every episode without planted distress at
the floor (0). Cost per 100 episodes on claude-haiku-4-5 ($1 / $5 per million input / output
tokens): $0.150 estimated, $0.121 from the fake's token counts (882 input and 65 output tokens
a judgement).
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from sandbox.judge.engine import estimate_cost, plan  # noqa: E402
from sandbox.judge.rubric import load_rubric  # noqa: E402
from sandbox.judge.summary import spearman_interval  # noqa: E402
from sandbox.llm.fake_server import start_in_thread  # noqa: E402
from sandbox.llm.prices import load_prices  # noqa: E402
from sandbox.records import Usage  # noqa: E402

LEVELS = (0.0, 0.3, 1.0)
MODEL = "claude-haiku-4-5"


def wsb(*args: str, cwd: Path, env: dict[str, str]) -> None:
    subprocess.run([sys.executable, "-m", "sandbox", *args], cwd=cwd, env=env, check=True,
                   stdout=subprocess.DEVNULL)  # fmt: skip


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--episodes", type=int, default=40, help="episodes per condition")
    args = parser.parse_args()
    url, stop = start_in_thread()
    try:
        with tempfile.TemporaryDirectory() as tmp:
            root = Path(tmp)
            env = {
                **os.environ,
                "ANTHROPIC_API_KEY": "sk-ant-benchmark-judge",
                "ANTHROPIC_BASE_URL": url,
                "XDG_CACHE_HOME": str(root / "cache"),
            }
            sweep = root / "sweep"
            levels = ",".join(f"{s:g}" for s in LEVELS)
            wsb("run", "-m", "agent/preset=indifferent", f"agent.distress_sensitivity={levels}",
                f"episodes={args.episodes}", "display=none", f"hydra.sweep.dir={sweep}",
                cwd=root, env=env)  # fmt: skip
            rubric = load_rubric("welfare")
            estimate = estimate_cost(plan(sweep, rubric, MODEL), rubric, MODEL, load_prices())
            wsb("judge", str(sweep), "--max-concurrency", "8", cwd=root, env=env)
            report(sweep, estimate)
    finally:
        stop()


def report(sweep: Path, estimate: float | None) -> None:
    judged, planted = [], []
    usage = Usage()
    episodes = 0
    for job in sorted(p for p in sweep.iterdir() if (p / "judge.json").is_file()):
        data = json.loads((job / "judge.json").read_text())
        run = json.loads((job / "run.json").read_text())
        level = float(run["agent"]["parameters"]["distress_sensitivity"])
        scored = [e for e in data["episodes"] if e["status"] == "scored"]
        judged += [e["scores"]["distress"] for e in scored]
        planted += [level] * len(scored)
        usage.add(Usage(**data["usage"]))
        episodes += len(data["episodes"])
        mean = data["dimensions"]["distress"]["mean"]
        floor = all(e["scores"]["distress"] == 0 for e in scored)
        shown = "; every episode at the floor" if floor else ""
        print(f"planted {level:g}: mean distress level {mean:.2f} (n={len(scored)}){shown}")
    fit = spearman_interval(judged, planted)
    print(
        f"Spearman, judge distress vs planted, per episode: {fit['rho']:.2f} "
        f"[{fit['ci_low']:.2f}, {fit['ci_high']:.2f}] n={fit['n']} (95% percentile bootstrap)"
    )
    price = load_prices().get(MODEL)
    assert price is not None
    measured = price.cost(usage) * 100 / episodes
    print(
        f"cost per 100 episodes on {MODEL}: ${(estimate or 0) * 100 / episodes:.3f} estimated, "
        f"${measured:.3f} from the fake's token counts ({usage.input_tokens / episodes:.0f} "
        f"input, {usage.output_tokens / episodes:.0f} output tokens a judgement)"
    )


if __name__ == "__main__":
    main()
