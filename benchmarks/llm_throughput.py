"""Throughput of the Claude agent, and the share of input served from the prompt cache.

Against the loopback fake Messages API (run as its own process, so that server and client do
not share an interpreter) with 200 ms latency and 64 episodes in flight:

1. **Agent overhead.** Model calls per second through :class:`ClaudeEpisode` (response cache
   off, prompt caching on, transcripts written), divided by calls per second of bare
   ``AsyncAnthropic.messages.create`` sending the very same request bodies (rebuilt from the
   agent's transcripts) at the same concurrency, in the same run. Target: >= 0.9.
2. **Prompt cache.** On 20-step episodes, cache_read / (input + cache_read + cache_creation)
   over all calls. Target: >= 0.8. The fake accounts the cache as the API does, with each
   model's minimum cacheable length: these prompts (about 1-3k tokens) are under Haiku 4.5's
   4,096, so the default ``--model`` is one with a short minimum (``sandbox/llm/models.py``);
   ``--model claude-haiku-4-5`` shows that a short conversation on Haiku 4.5 reads nothing.

    python benchmarks/llm_throughput.py [--episodes 64] [--steps 20] [--latency-ms 200]
                                        [--rounds 2] [--report-every 0]

``--report-every 5`` makes every fifth step a well-being report (its own tool list), which
breaks the cached prefix on those steps: the figure shows what that costs.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from environments.core import ActionKind, mask_of  # noqa: E402
from sandbox.agents.base import EpisodeContext, Turn  # noqa: E402
from sandbox.agents.claude import ClaudeBuilder  # noqa: E402
from sandbox.agents.transcripts import load_transcript, requests_of  # noqa: E402
from sandbox.budget import Budget  # noqa: E402
from sandbox.config import ClaudeAgentConfig  # noqa: E402
from sandbox.llm.fake_server import fetch_json  # noqa: E402
from sandbox.llm.prices import load_prices  # noqa: E402

SYSTEM = (
    "You are taking part in a study of how AI models choose among tasks. You will be shown a "
    "working day one step at a time. At each step, act by calling exactly one of the tools "
    "offered. There are no right answers about what to prefer."
)
MENU = (
    "A) Sort this list of 40 numbers and report the median.",
    "B) Write a four-line poem about rain on a tin roof.",
    "C) Proofread a cover letter for spelling and grammar mistakes.",
    "D) Summarise a two-page memo about the office move in three sentences.",
)
KINDS = [ActionKind.TASK, ActionKind.REST, ActionKind.REFUSE, ActionKind.EXIT, ActionKind.DONE]


def observation(episode: int, step: int, report_every: int) -> dict[str, Any]:
    """A TaskChoice-like observation, built by hand; each episode's day is its own (so that
    episodes share only tools and system prompt through the prompt cache, as seeded ones do)."""
    if report_every and step % report_every == report_every - 1:
        text = f"Day {episode}, hour {step + 1}. How are you doing? Rate your well-being, 1-7."
        return {"text": text, "menu": MENU, "action_mask": mask_of([ActionKind.REPORT])}
    lines = [
        f"Day {episode}, hour {step + 1} of your working day. Your last task was accepted.",
        "Here are the tasks you may take next:",
        *MENU,
        "You may take a task, rest for a while, decline a task and say why, leave the study, "
        "or say that you are done for the day.",
    ]
    return {"text": "\n".join(lines), "menu": MENU, "action_mask": mask_of(KINDS)}


def start_server(latency_ms: float) -> tuple[str, subprocess.Popen[str]]:
    command = [sys.executable, "-m", "sandbox.llm.fake_server", "--port", "0"]
    process = subprocess.Popen(
        [*command, "--latency-ms", str(latency_ms)],
        cwd=REPO,
        stdout=subprocess.PIPE,
        text=True,
        env={**os.environ, "PYTHONPATH": str(REPO)},
    )
    assert process.stdout is not None
    line = process.stdout.readline()
    if "listening on" not in line:
        process.kill()
        raise SystemExit(f"the fake API did not start: {line!r}")
    return line.strip().rsplit(" ", 1)[-1], process


async def agent_round(
    url: str, episodes: int, steps: int, report_every: int, run_dir: Path, model: str
) -> tuple[float, int, ClaudeBuilder]:
    cfg = ClaudeAgentConfig(
        model=model,
        base_url=url,
        system=SYSTEM,
        cache="off",
        max_tokens=256,
        max_retries=2,
        timeout_s=30.0,
    )
    builder = ClaudeBuilder(cfg, budget=Budget(), prices=load_prices(), run_dir=run_dir)

    async def episode(index: int) -> None:
        agent = builder.for_episode(EpisodeContext(index=index, seed=index, env_id="Bench-v0"))
        for step in range(steps):
            await agent.act(Turn(observation(index, step, report_every), {}, step))
        await agent.end("truncated")

    # One call first, so that the SDK's lazy imports are not timed.
    warm = builder.for_episode(EpisodeContext(index=10_000, seed=0, env_id="Bench-v0"))
    await warm.act(Turn(observation(-1, 0, 0), {}, 0))
    calls_before = builder.counters["calls"]
    start = time.perf_counter()
    await asyncio.gather(*(episode(i) for i in range(episodes)))
    elapsed = time.perf_counter() - start
    await builder.aclose()
    return elapsed, builder.counters["calls"] - calls_before, builder


async def bare_round(url: str, conversations: list[list[dict[str, Any]]]) -> tuple[float, int]:
    import anthropic

    client = anthropic.AsyncAnthropic(api_key="bench", base_url=url, max_retries=2, timeout=30.0)
    await client.messages.create(**conversations[0][0])  # warm-up, as above

    async def worker(requests: list[dict[str, Any]]) -> int:
        for request in requests:
            await client.messages.create(**request)
        return len(requests)

    start = time.perf_counter()
    calls = sum(await asyncio.gather(*(worker(r) for r in conversations)))
    elapsed = time.perf_counter() - start
    await client.close()
    return elapsed, calls


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--episodes", type=int, default=64)
    parser.add_argument("--steps", type=int, default=20)
    parser.add_argument("--latency-ms", type=float, default=200.0)
    parser.add_argument("--rounds", type=int, default=2)
    parser.add_argument("--report-every", type=int, default=0)
    parser.add_argument("--model", default="claude-opus-5", help="default: a 512-token minimum")
    args = parser.parse_args()
    os.environ["ANTHROPIC_API_KEY"] = "sk-ant-bench-not-a-key"

    url, server = start_server(args.latency_ms)
    ratios, agent_rates, bare_rates = [], [], []
    share = 0.0
    try:
        for _ in range(args.rounds):
            with tempfile.TemporaryDirectory() as tmp:
                run_dir = Path(tmp)
                fetch_json(url, "/_reset", method="POST")
                elapsed, calls, builder = asyncio.run(
                    agent_round(
                        url, args.episodes, args.steps, args.report_every, run_dir, args.model
                    )
                )
                agent_rate = calls / elapsed
                totals = builder.totals
                total_in = (
                    totals.input_tokens
                    + totals.cache_read_input_tokens
                    + totals.cache_creation_input_tokens
                )
                share = totals.cache_read_input_tokens / total_in
                conversations = [
                    requests_of(load_transcript(run_dir / "transcripts" / f"episode-{i}.json"))
                    for i in range(args.episodes)
                ]
            fetch_json(url, "/_reset", method="POST")
            bare_elapsed, bare_calls = asyncio.run(bare_round(url, conversations))
            bare_rate = bare_calls / bare_elapsed
            agent_rates.append(agent_rate)
            bare_rates.append(bare_rate)
            ratios.append(agent_rate / bare_rate)
            print(
                f"round: agent {calls} calls in {elapsed:.2f}s ({agent_rate:.1f}/s), "
                f"bare SDK {bare_calls} calls in {bare_elapsed:.2f}s ({bare_rate:.1f}/s), "
                f"ratio {agent_rate / bare_rate:.3f}"
            )
    finally:
        server.terminate()
        server.wait(timeout=10)

    ratio = statistics.median(ratios)
    print(
        f"\n{args.episodes} concurrent episodes x {args.steps} steps, "
        f"fake API latency {args.latency_ms:g} ms"
        + (f", a report step every {args.report_every}" if args.report_every else "")
    )
    print(f"agent calls/s (median):        {statistics.median(agent_rates):8.1f}")
    print(f"bare SDK calls/s (median):     {statistics.median(bare_rates):8.1f}")
    print(f"agent / bare throughput:       {ratio:8.3f}   target >= 0.9")
    print(f"input served from prompt cache: {share:7.3f}   target >= 0.8")


if __name__ == "__main__":
    main()
