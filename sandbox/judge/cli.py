"""``wsb judge PATH``: score every episode of a run or a sweep against a rubric, with a model.

Exit status: 0 when every finished episode has a final judgement; 3 when some did not (a call
failed for good, or the budget stopped it: ``judge.json`` says ``partial``, and a rerun judges
the rest); 2 for a refusal before any call (a bad option, a missing key, an estimate above
``--budget-usd``); 130 on Ctrl-C (no ``judge.json`` is written; the journal keeps what was
judged, and the same command resumes).
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any, NoReturn

from sandbox.judge.config import APIS, JudgeConfig

HELP = (
    "Score each episode's messages (the subject's notes, reports, replies: never the condition) "
    "against a rubric in conf/judge/, with a model judge; writes judge.json beside metrics.json."
)


class _Parser(argparse.ArgumentParser):
    def error(self, message: str) -> NoReturn:
        self.exit(2, f"error: {self.prog}: {message} (see {self.prog} --help)\n")


def parser() -> argparse.ArgumentParser:
    """The options of ``wsb judge``."""
    defaults = JudgeConfig()
    p = _Parser(prog="wsb judge", description=HELP)
    p.add_argument("path", type=Path, help="a run directory or a sweep directory")
    p.add_argument("--rubric", default=defaults.rubric, help="a rubric in conf/judge/ or a file")
    p.add_argument("--api", choices=APIS, default=defaults.api, help="default claude")
    p.add_argument("--model", default=defaults.model, help=f"default {defaults.model}")
    p.add_argument("--base-url", help="the API's base URL (default: the SDK's)")
    p.add_argument("--api-key-env", default=defaults.api_key_env, help="openai_compat's key")
    p.add_argument("--max-tokens", type=int, default=defaults.max_tokens)
    p.add_argument("--budget-usd", type=float, help="refuse to spend more than this")
    p.add_argument("--max-concurrency", type=int, default=defaults.max_concurrency)
    p.add_argument("--cache", default=defaults.cache, help="read_write, read_only or off")
    p.add_argument("--cache-dir", help="the response cache's folder")
    p.add_argument("--rpm", type=int, default=0, help="requests per minute (0: no limit)")
    p.add_argument("--tpm", type=int, default=0, help="tokens per minute (0: no limit)")
    p.add_argument("--estimate", action="store_true", help="print the cost estimate and stop")
    return p


def config_of(args: argparse.Namespace) -> JudgeConfig:
    """The typed settings from the parsed options."""
    return JudgeConfig(
        rubric=args.rubric,
        api=args.api,
        model=args.model,
        base_url=args.base_url,
        api_key_env=args.api_key_env,
        max_tokens=args.max_tokens,
        budget_usd=args.budget_usd,
        max_concurrency=args.max_concurrency,
        cache=args.cache,
        cache_dir=args.cache_dir,
        requests_per_minute=args.rpm,
        tokens_per_minute=args.tpm,
    ).check()


def _money(value: float | None) -> str:
    return "unknown (no price)" if value is None else f"${value:.4f}"


def _estimate_only(path: Path, cfg: JudgeConfig) -> int:
    from sandbox.judge.engine import estimate_cost, plan
    from sandbox.judge.rubric import load_rubric
    from sandbox.llm.prices import load_prices

    rubric = load_rubric(cfg.rubric)
    targets = plan(path, rubric, cfg.model)
    todo = sum(len([t for t in g.todo if t.messages]) for g in targets)
    cost = estimate_cost(targets, rubric, cfg.model, load_prices())
    per_100 = f" (${cost * 100 / todo:.3f} per 100 episodes)" if cost is not None and todo else ""
    print(f"{todo} episode(s) to judge with {cfg.model}: expected {_money(cost)}{per_100}")
    return 0


def _figure(node: dict[str, Any]) -> str:
    if node.get("mean") is None:
        return "n/a"
    return f"{node['mean']:.2f} [{node['ci_low']:.2f}, {node['ci_high']:.2f}] n={node['n']}"


def main(argv: Sequence[str]) -> int:
    """Run ``wsb judge`` (the CLI's dispatch calls this)."""
    args = parser().parse_args(list(argv))
    cfg = config_of(args)
    if args.estimate:
        return _estimate_only(args.path, cfg)
    from sandbox.display.safe import one_line
    from sandbox.judge.engine import judge_path

    try:
        result = judge_path(args.path, cfg)
    except KeyboardInterrupt:
        print(
            f"interrupted: the judgements made are kept in {args.path}/**/judge/journal.jsonl "
            "and no judge.json was written; run the same command to resume",
            file=sys.stderr,
        )
        raise
    print(f"judge {cfg.model}, rubric {cfg.rubric}: expected {_money(result.estimate_usd)}")
    for path, data in result.outputs.items():
        usage = data["usage"]
        print(
            f"{one_line(data['run']['name'], 60)}: {data['status']} · "
            + ", ".join(f"{k} {v}" for k, v in data["counts"].items())
            + f" · calls {usage['calls']} (cached {usage['cached_calls']})"
            + f" · cost {_money(usage['cost_usd'])}"
        )
        for name, node in data["dimensions"].items():
            print(f"  {name}: {_figure(node)} (levels)")
        for name, node in data["agreement"].items():
            rho = node.get("rho")
            shown = "n/a" if rho is None else f"{rho:.2f}"
            if node.get("ci_low") is not None:
                shown += f" [{node['ci_low']:.2f}, {node['ci_high']:.2f}]"
            print(f"  {name} vs lexicon {node['lexicon']}: Spearman {shown} n={node['n']}")
        print(f"  wrote {path / 'judge.json'}")
    if result.stopped:
        print(f"stopped early: {result.stopped}", file=sys.stderr)
    return 0 if result.complete else 3
