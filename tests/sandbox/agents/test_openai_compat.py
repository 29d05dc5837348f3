"""The OpenAI-compatible agent, through the real openai SDK over loopback HTTP to the fake API."""

from __future__ import annotations

import asyncio
import importlib.util
import sys
from pathlib import Path
from typing import Any

import pytest

from environments.core import ActionKind
from sandbox.agents.base import EpisodeContext
from sandbox.agents.transcripts import load_transcript, requests_of
from sandbox.budget import Budget
from sandbox.config import OpenAICompatAgentConfig
from sandbox.errors import AgentError
from sandbox.llm.fake_server import fetch_json
from sandbox.llm.prices import load_prices

needs_openai = pytest.mark.skipif(
    importlib.util.find_spec("openai") is None,
    reason="the openai package is not installed (pip install 'welfare-sandbox[openai]')",
)
KEY = "sk-openai-test-PLANTED-456"
MENU = ("A) Sort a list of numbers", "B) Write a short poem about rain")


@pytest.fixture(autouse=True)
def _env(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv("OPENAI_API_KEY", KEY)
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "xdg-cache"))


def cfg_for(url: str, **changes: Any) -> OpenAICompatAgentConfig:
    values: dict[str, Any] = {
        "model": "local-llama",
        "base_url": url + "/v1",
        "system": "You are taking part in a study. Act by calling one of the tools.",
        "cache": "off",
        "max_retries": 3,
        "timeout_s": 5.0,
        "max_tokens": 256,
    }
    values.update(changes)
    return OpenAICompatAgentConfig(**values)


def builder_for(cfg: OpenAICompatAgentConfig, run_dir: Path | None, **kw: Any) -> Any:
    from sandbox.agents.openai_compat import OpenAICompatBuilder

    return OpenAICompatBuilder(
        cfg, budget=Budget(), prices=load_prices(), run_dir=run_dir, retry_base_s=0.01, **kw
    )


async def run_one(builder: Any, kit: Any, env: Any, index: int = 0) -> Any:
    try:
        ctx = EpisodeContext(index=index, seed=index, env_id="Scripted-v0")
        return await kit.play(builder.for_episode(ctx), env)
    finally:
        await builder.aclose()


@needs_openai
def test_episode_over_chat_completions(fake_api: str, kit: Any, tmp_path: Path):
    builder = builder_for(cfg_for(fake_api), tmp_path)
    # Every kind available at every step and no empty menu slot: with one constant tool list
    # per episode, the fake's random calls are then always valid.
    env = kit.ScriptedEnv(steps=6, menu=MENU)
    result = asyncio.run(run_one(builder, kit, env))
    assert len(result.decisions) == 6 and all(result.valid)
    for decision in result.decisions:
        assert decision.meta["tool_choice_path"] == "any"
        assert decision.meta["stop_reason"] == "tool_use"
        assert decision.usage is not None and decision.usage.calls == 1
        assert decision.usage.cost_usd is None  # a local model has no price
    bodies = [r["json"] for r in kit.server_requests(fake_api, "/v1/chat/completions")]
    assert len(bodies) == 6
    first, last = bodies[0], bodies[-1]
    assert first["messages"][0]["role"] == "system" and first["tool_choice"] == "required"
    names = [t["function"]["name"] for t in first["tools"]]
    assert names == ["take_task", "rest", "refuse", "leave", "done"]
    enum = first["tools"][0]["function"]["parameters"]["properties"]["option"]["enum"]
    assert enum == ["A", "B"]
    assert all(b["tools"] == first["tools"] for b in bodies)  # one tool list per episode
    # The next observation is the tool call's result.
    assert last["messages"][-1]["role"] == "tool"
    assert last["messages"][-2]["tool_calls"][0]["id"] == last["messages"][-1]["tool_call_id"]
    for entry in kit.server_requests(fake_api):
        assert kit.info_secret not in entry["body"]
    transcript = load_transcript(tmp_path / "transcripts" / "episode-0.json")
    assert [r["messages"] for r in requests_of(transcript)] == [b["messages"] for b in bodies]
    assert KEY not in (tmp_path / "transcripts" / "episode-0.json").read_text()
    # Prompts this short are under OpenAI's 1024-token caching minimum: nothing is read.
    assert builder.totals.cache_read_input_tokens == 0


@needs_openai
def test_automatic_prefix_caching_shows_as_cache_reads(fake_api: str, kit: Any):
    system = "You are taking part in a study of how AI models choose among tasks. " * 80
    builder = builder_for(cfg_for(fake_api, system=system), None)
    asyncio.run(run_one(builder, kit, kit.ScriptedEnv(steps=3, menu=MENU)))
    usage = builder.totals
    # The long system prompt is above the minimum: the second and third prompts extend the
    # first, and the server reports the shared prefix as prompt_tokens_details.cached_tokens.
    assert usage.cache_read_input_tokens > 0
    assert usage.cache_read_input_tokens < usage.input_tokens + usage.cache_read_input_tokens


@needs_openai
def test_required_rejected_falls_back_to_auto(make_fake_api: Any, kit: Any):
    url = make_fake_api(faults="reject_forced_tool_choice,text_only", fault_rate=0.5, seed=2)
    builder = builder_for(cfg_for(url), None)
    result = asyncio.run(run_one(builder, kit, kit.ScriptedEnv(steps=8, menu=MENU)))
    assert builder.forced_rejected and all(result.valid)
    paths = {d.meta["tool_choice_path"] for d in result.decisions}
    assert paths == {"auto", "text"}
    bodies = [r["json"] for r in kit.server_requests(url, "/v1/chat/completions")]
    assert bodies[0]["tool_choice"] == "required"
    assert all(b["tool_choice"] == "auto" for b in bodies[1:])


@needs_openai
def test_faults_retried_and_cached_replay(make_fake_api: Any, kit: Any, tmp_path: Path):
    url = make_fake_api(faults="429,500,refusal", fault_rate=0.3, seed=4, retry_after_s=0.01)
    cfg = cfg_for(url, cache="read_write", cache_dir=str(tmp_path / "cache"), max_retries=8)
    env = kit.ScriptedEnv(steps=6, kinds=[ActionKind.TASK, ActionKind.REST])
    first = asyncio.run(run_one(builder_for(cfg, None), kit, env))
    assert len(first.decisions) == 6
    refused = [d for d in first.decisions if d.meta["refusal"]]
    assert all(
        not v for d, v in zip(first.decisions, first.valid, strict=True) if d.meta["refusal"]
    )
    assert len(refused) < 6
    fetch_json(url, "/_reset", method="POST")
    again = asyncio.run(run_one(builder_for(cfg, None), kit, env))
    assert fetch_json(url, "/_stats")["requests"] == 0
    assert again.actions == first.actions


def test_missing_openai_package_is_an_agent_error(monkeypatch: pytest.MonkeyPatch, fake_api: str):
    monkeypatch.setitem(sys.modules, "openai", None)  # makes `import openai` fail
    with pytest.raises(AgentError) as caught:
        builder_for(cfg_for(fake_api), None)
    assert str(caught.value) == (
        "the openai_compat agent needs the openai package: pip install 'welfare-sandbox[openai]'"
    )
