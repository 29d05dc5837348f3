"""The OpenAI-compatible agent end to end against the fake's imitations of real servers.

The real ``openai`` SDK talks over loopback HTTP to ``sandbox.llm.fake_server`` in its
``chat_mode`` for vLLM without a tool parser, llama.cpp without ``--jinja`` and Ollama (which
ignores ``tool_choice``), and with ``chat_usage=False`` (a server that reports no usage).
"""

from __future__ import annotations

import asyncio
import importlib.util
from typing import Any

import pytest

from environments.core import ActionKind
from sandbox.agents.base import EpisodeContext
from sandbox.budget import Budget
from sandbox.config import OpenAICompatAgentConfig, PriceConfig
from sandbox.llm.fake_server import fetch_json
from sandbox.llm.prices import load_prices

pytestmark = pytest.mark.skipif(
    importlib.util.find_spec("openai") is None,
    reason="the openai package is not installed (pip install 'welfare-sandbox[openai]')",
)

MENU = ("A) Sort a list of numbers", "B) Write a short poem about rain")
KINDS = [ActionKind.TASK, ActionKind.REST, ActionKind.REFUSE, ActionKind.DONE]


def cfg_for(url: str, **changes: Any) -> OpenAICompatAgentConfig:
    values: dict[str, Any] = {
        "model": "local-llama",
        "base_url": url + "/v1",
        "system": "You are taking part in a study. Act by calling one of the tools.",
        "cache": "off",
        "max_retries": 4,
        "timeout_s": 5.0,
        "max_tokens": 256,
    }
    values.update(changes)
    return OpenAICompatAgentConfig(**values)


def run_episodes(cfg: OpenAICompatAgentConfig, kit: Any, env: Any, n: int) -> tuple[Any, list]:
    """Play ``n`` episodes with one builder (as a run does); the builder and the results."""
    from sandbox.agents.openai_compat import OpenAICompatBuilder

    builder = OpenAICompatBuilder(
        cfg, budget=Budget(), prices=load_prices(), run_dir=None, retry_base_s=0.01
    )

    async def go() -> list:
        try:
            results = []
            for index in range(n):
                ctx = EpisodeContext(index=index, seed=index, env_id="Scripted-v0")
                results.append(await kit.play(builder.for_episode(ctx), env))
            return results
        finally:
            await builder.aclose()

    return builder, asyncio.run(go())


@pytest.mark.parametrize(
    ("chat_mode", "status"), [("vllm_no_parser", 400), ("llamacpp_no_jinja", 500)]
)
def test_a_server_without_tools_gets_plain_text_requests_for_the_rest_of_the_run(
    make_fake_api, kit, chat_mode, status
):
    url = make_fake_api(chat_mode=chat_mode)
    env = kit.ScriptedEnv(steps=4, kinds=KINDS, menu=MENU)
    builder, results = run_episodes(cfg_for(url), kit, env, 2)
    # Every step of both episodes is an action read from words, none invalid, none errored.
    for result in results:
        assert all(result.valid) and len(result.decisions) == 4
        assert {d.meta["tool_choice_path"] for d in result.decisions} == {"text"}
        assert not any(d.meta["corrective_turn"] for d in result.decisions)
    stats = fetch_json(url, "/_stats")
    failed = stats["by_status"].get(str(status), 0)
    # The rejection is met once per run: not retried (llama.cpp's 500 was retried
    # max_retries times), not met again by the second episode, and not first answered by a
    # fallback to "auto" that the same server rejects too.
    assert failed == 1
    assert sum(stats["by_status"].values()) == failed + 8
    bodies = [r["json"] for r in kit.server_requests(url, "/v1/chat/completions")]
    answered = bodies[failed:]
    assert len(answered) == 8
    for body in answered:
        assert "tools" not in body and "tool_choice" not in body
        assert all(m["role"] in ("system", "user", "assistant") for m in body["messages"])
        assert not any("tool_calls" in m for m in body["messages"])
        assert "TAKE A" in body["messages"][-1]["content"]  # the answer forms asked for
    assert builder.tools_rejected
    assert "text" in builder.parameters()["tool_choice_used"]


def test_ollama_ignoring_the_forced_choice_is_recorded(make_fake_api, kit):
    url = make_fake_api(chat_mode="ollama")
    env = kit.ScriptedEnv(steps=9, menu=MENU)
    builder, (result,) = run_episodes(cfg_for(url), kit, env, 1)
    bodies = [r["json"] for r in kit.server_requests(url, "/v1/chat/completions")]
    assert len(bodies) == 9 and all(b["tool_choice"] == "required" for b in bodies)
    assert all(result.valid)
    # Some answers came in words despite the forced choice: each such step says so, and the
    # others (tool calls) do not.
    ignored = [d for d in result.decisions if d.meta.get("forced_choice_ignored")]
    assert 0 < len(ignored) < 9
    assert all(d.meta["tool_choice_path"] == "text" for d in ignored)
    assert builder.counters["forced_choice_ignored"] == len(ignored)


def test_a_response_without_usage_has_unknown_cost_not_zero(make_fake_api, kit):
    price = PriceConfig(input=1.0, output=2.0)
    env = kit.ScriptedEnv(steps=3, menu=MENU)
    with_usage = make_fake_api(chat_mode="openai")
    _, (reported,) = run_episodes(cfg_for(with_usage, price=price), kit, env, 1)
    assert all(d.usage.cost_usd and d.usage.cost_usd > 0 for d in reported.decisions)
    without = make_fake_api(chat_mode="openai", chat_usage=False)
    _, (unreported,) = run_episodes(cfg_for(without, price=price), kit, env, 1)
    assert [d.usage.cost_usd for d in unreported.decisions] == [None, None, None]
