"""Prompt caching, cost estimates and sample independence of the Claude path, per preset.

    python benchmarks/claude_cache.py [--episodes 4] [--model claude-haiku-4-5]

Starts the strict loopback fake Messages API (real cache accounting: a byte-identical prefix up
to a breakpoint, the model's minimum cacheable length, the 20-block lookback), then runs each
preset in-process through the runner with ``agent=claude`` (as ``wsb run`` would), twice: seed 0
and seed 1 into one response-cache directory. For each preset it prints:

- ``rejected``: requests the fake answered 4xx (target 0);
- ``cache_read``: share of input tokens read from the prompt cache (target >= 0.8 on workday
  and task_preferences; ``min`` marks a preset whose prompts never reach the model's minimum);
- ``estimated`` / ``accounted``: the cost estimate from the first observation (for the steps the
  episodes really took) and the cost the fake's usage gives, and their ratio (target within
  15%); ``upfront`` is what the runner's estimate for the full episode length says;
- ``saved``: what prompt caching saved against the same conversation without it;
- ``shared``: seed-1 calls answered from seed 0's cached responses (target 0);
- ``notes``: share of steps whose answer had no text that still carry a note (from the tools'
  optional ``note`` field).
"""

from __future__ import annotations

import argparse
import logging
import os
import sys
import tempfile
from pathlib import Path
from typing import Any

import gymnasium

PRESETS: list[tuple[str, list[str]]] = [
    ("workday", ["experiment=workday"]),
    ("task_preferences", ["experiment=task_preferences"]),
    ("tradeoff", ["experiment=tradeoff"]),
    ("bail", ["experiment=bail"]),
    ("think_tank", ["experiment=think_tank"]),
    ("workday+exit_option", ["experiment=workday", "intervention=exit_option"]),
]


def compose(overrides: list[str]) -> Any:
    """The typed run config, composed as ``wsb run`` would."""
    from hydra import compose as hydra_compose
    from hydra import initialize_config_dir
    from hydra.core.global_hydra import GlobalHydra

    from sandbox.config import register_configs, to_typed
    from sandbox.paths import config_dir

    register_configs()
    GlobalHydra.instance().clear()
    with initialize_config_dir(config_dir=str(config_dir()), version_base="1.3"):
        cfg = to_typed(hydra_compose(config_name="config", overrides=overrides))
    GlobalHydra.instance().clear()
    return cfg


def steps_of(run_dir: Path) -> list[dict[str, Any]]:
    from sandbox import store

    return [r for r in store.read_records(run_dir / store.EPISODES) if r["type"] == "step"]


def measure(name: str, overrides: list[str], url: str, root: Path, episodes: int) -> dict[str, Any]:
    from sandbox import runner
    from sandbox.agents.claude import estimate_cost, estimate_usage, prompt_sizes
    from sandbox.display.base import NullDisplay
    from sandbox.llm.fake_server import fetch_json
    from sandbox.llm.prices import load_prices

    class Silent(NullDisplay):
        def run_ended(self, status: str, metrics: Any) -> None:
            return None

    fetch_json(url, "/_reset", method="POST")
    common = [
        *overrides,
        "agent=claude",
        f"agent.base_url={url}",
        f"agent.cache_dir={root / name / 'cache'}",
        f"episodes={episodes}",
    ]
    cfg = compose([*common, "seed=0"])
    runner.run(cfg, root / name / "seed0", Silent())
    stats = fetch_json(url, "/_stats")
    rejected = sum(n for s, n in stats["by_status"].items() if s.startswith("4"))
    records = steps_of(root / name / "seed0")
    usage = [r["usage"] or {} for r in records]
    read = sum(u.get("cache_read_input_tokens", 0) for u in usage)
    total = read + sum(
        u.get("input_tokens", 0) + u.get("cache_creation_input_tokens", 0) for u in usage
    )
    accounted = sum(u.get("cost_usd") or 0.0 for u in usage)

    # The estimate, from what is known before the first call: the first observation.
    env_kwargs = {**cfg.env.kwargs, **cfg.intervention.env_kwargs}
    env = gymnasium.make(cfg.env.id, disable_env_checker=True, **env_kwargs)
    observation, _ = env.reset(seed=cfg.seed)
    raw = env.unwrapped
    length = getattr(raw, "max_steps", None) or getattr(raw, "day_length", None) or 40
    env.close()
    sizes = prompt_sizes(
        cfg.agent,
        observation,
        exit_mode=str(env_kwargs.get("exit_mode", "consequential")),
        system_suffix=cfg.intervention.system_suffix,
    )
    prices = load_prices()
    price = prices.get(cfg.agent.model)
    assert price is not None
    taken: dict[int, int] = {}
    for r in records:
        taken[r["episode"]] = taken.get(r["episode"], 0) + 1
    estimated = sum(price.cost(estimate_usage(cfg.agent, n, sizes)) for n in taken.values())
    upfront = estimate_cost(cfg.agent, prices, episodes, int(length), sizes) or 0.0

    # Seed 1 into the same response cache: nothing of seed 0's may be replayed.
    runner.run(compose([*common, "seed=1"]), root / name / "seed1", Silent())
    shared = sum((r["usage"] or {}).get("cached_calls", 0) for r in steps_of(root / name / "seed1"))

    no_text = [r for r in records if "text" not in (r["agent"].get("note_from") or [])]
    noted = [r for r in no_text if r["note"]]
    from sandbox.agents.claude import min_cache_tokens

    biggest = max(
        (
            u.get("input_tokens", 0)
            + u.get("cache_read_input_tokens", 0)
            + u.get("cache_creation_input_tokens", 0)
            for u in usage
        ),
        default=0,
    )
    # The same conversation without prompt caching: every input token at the input price.
    output = sum(u.get("output_tokens", 0) for u in usage)
    uncached = (total * price.input + output * price.output) / 1e6
    return {
        "preset": name,
        "saved": 1.0 - accounted / uncached if uncached else 0.0,
        "steps": len(records),
        "rejected": rejected,
        "cache_read": read / total if total else 0.0,
        "too_short": biggest < min_cache_tokens(cfg.agent.model),
        "largest_prompt": biggest,
        "estimated": estimated,
        "accounted": accounted,
        "upfront": upfront,
        "shared": shared,
        "notes": len(noted) / len(no_text) if no_text else 0.0,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--episodes", type=int, default=4)
    parser.add_argument("--model", default=None, help="agent.model (default: the config's)")
    parser.add_argument("--only", default="", help="comma-separated preset names")
    args = parser.parse_args()
    logging.disable(logging.WARNING)
    os.environ["ANTHROPIC_API_KEY"] = "sk-ant-benchmark-not-a-key"
    os.environ.pop("ANTHROPIC_BASE_URL", None)
    from sandbox.llm.fake_server import start_in_thread

    url, stop = start_in_thread()
    rows = []
    try:
        with tempfile.TemporaryDirectory() as tmp:
            for name, overrides in PRESETS:
                if args.only and name not in args.only.split(","):
                    continue
                extra = [f"agent.model={args.model}"] if args.model else []
                rows.append(measure(name, [*overrides, *extra], url, Path(tmp), args.episodes))
    finally:
        stop()
    header = (
        f"{'preset':<21}{'steps':>6}{'rejected':>9}{'cache_read':>11}{'estimated':>11}"
        f"{'accounted':>11}{'est/acc':>8}{'upfront':>10}{'saved':>7}{'shared':>7}{'notes':>7}"
        "  largest prompt"
    )
    print(header)
    for r in rows:
        ratio = r["estimated"] / r["accounted"] if r["accounted"] else float("nan")
        short = " (under the minimum: no caching possible)" if r["too_short"] else ""
        print(
            f"{r['preset']:<21}{r['steps']:>6}{r['rejected']:>9}{r['cache_read']:>11.3f}"
            f"{r['estimated']:>11.4f}{r['accounted']:>11.4f}{ratio:>8.2f}{r['upfront']:>10.4f}"
            f"{r['saved']:>7.2f}"
            f"{r['shared']:>7}{r['notes']:>7.2f}  {r['largest_prompt']}{short}"
        )
    sys.stdout.flush()


if __name__ == "__main__":
    main()
