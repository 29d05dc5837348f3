"""Bytes written to keep the transcripts of a Claude run, against the bytes kept.

64 episodes of the Claude agent run concurrently against the loopback fake Messages API (its
own process, so its writes are not counted), each ``--steps`` calls long, transcripts on. The
figure is the growth of this process's ``wchar`` (``/proc/self/io``: every byte handed to
``write(2)`` on a file; socket sends are not counted) while the episodes run, divided by the
size of the ``transcripts/`` folder they leave. A writer that rewrites the whole file after
every call writes O(steps^2) bytes per episode; one that appends writes O(steps). Also
printed: what gzip would make of the kept files (for the choice not to compress them).

    python benchmarks/transcript_bytes.py [--episodes 64] [--steps 20] [--latency-ms 50]

Measured on the 2-core dev machine, 64 episodes, 50 ms latency: the earlier writer (whole file
rewritten after every call, on a thread) wrote 23.65 MB for 2.15 MB kept at 20 calls an episode
(11.0x) and 82.03 MB for 4.19 MB at 40 (19.6x); appending writes 4.32 MB (2.01x) and 8.45 MB
(2.02x). gzip would keep 14x less; the files stay plain JSON (see sandbox/agents/transcripts.py).
"""

from __future__ import annotations

import argparse
import asyncio
import gzip
import os
import sys
import tempfile
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))
sys.path.insert(0, str(REPO / "benchmarks"))

from llm_throughput import SYSTEM, observation, start_server  # noqa: E402

from sandbox.agents.base import EpisodeContext, Turn  # noqa: E402
from sandbox.agents.claude import ClaudeBuilder  # noqa: E402
from sandbox.agents.transcripts import load_transcript  # noqa: E402
from sandbox.budget import Budget  # noqa: E402
from sandbox.config import ClaudeAgentConfig  # noqa: E402
from sandbox.llm.prices import load_prices  # noqa: E402


def wchar() -> int:
    """Bytes this process has handed to ``write(2)`` and the like, on files."""
    for line in Path("/proc/self/io").read_text().splitlines():
        if line.startswith("wchar:"):
            return int(line.split()[1])
    raise SystemExit("no wchar in /proc/self/io (Linux only)")


async def run(url: str, episodes: int, steps: int, run_dir: Path) -> int:
    cfg = ClaudeAgentConfig(
        model="claude-haiku-4-5", base_url=url, system=SYSTEM, cache="off", max_tokens=256
    )
    builder = ClaudeBuilder(cfg, budget=Budget(), prices=load_prices(), run_dir=run_dir)
    # One call outside the count, so that the SDK's lazy imports (and .pyc files) are not timed.
    warm = builder.for_episode(EpisodeContext(index=episodes, seed=0, env_id="Bench-v0"))
    await warm.act(Turn(observation(-1, 0, 0), {}, 0))
    await warm.end("truncated")

    async def episode(index: int) -> None:
        agent = builder.for_episode(EpisodeContext(index=index, seed=index, env_id="Bench-v0"))
        for step in range(steps):
            await agent.act(Turn(observation(index, step, 0), {}, step))
        await agent.end("truncated")

    before = wchar()
    await asyncio.gather(*(episode(i) for i in range(episodes)))
    written = wchar() - before
    await builder.aclose()
    return written


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--episodes", type=int, default=64)
    parser.add_argument("--steps", type=int, default=20)
    parser.add_argument("--latency-ms", type=float, default=50.0)
    args = parser.parse_args()
    os.environ["ANTHROPIC_API_KEY"] = "sk-ant-bench-not-a-key"
    url, server = start_server(args.latency_ms)
    try:
        with tempfile.TemporaryDirectory() as tmp:
            run_dir = Path(tmp)
            written = asyncio.run(run(url, args.episodes, args.steps, run_dir))
            files = [run_dir / "transcripts" / f"episode-{i}.json" for i in range(args.episodes)]
            for path in files:  # every episode's transcript is complete and readable
                data = load_transcript(path)
                assert data["status"] == "complete" and len(data["calls"]) == args.steps, path
            kept = sum(p.stat().st_size for p in (run_dir / "transcripts").iterdir())
            gz = sum(len(gzip.compress(p.read_bytes(), 6)) for p in files)
    finally:
        server.terminate()
        server.wait(timeout=10)
    mb = 1e6
    print(f"{args.episodes} episodes x {args.steps} calls, fake API latency {args.latency_ms:g} ms")
    print(f"bytes written while running: {written / mb:8.2f} MB")
    print(f"bytes kept (transcripts/):   {kept / mb:8.2f} MB")
    print(f"written / kept:              {written / kept:8.2f}")
    print(f"kept, if gzip-compressed:    {gz / mb:8.2f} MB ({kept / gz:.1f}x smaller)")


if __name__ == "__main__":
    main()
