"""The Claude agent, through the real anthropic SDK over loopback HTTP to the fake Messages API."""

from __future__ import annotations

import asyncio
import json
import logging
import os
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

from environments.core import Action, ActionKind
from sandbox.agents.base import EpisodeContext
from sandbox.agents.claude import ClaudeBuilder
from sandbox.agents.estimate import estimate_cost
from sandbox.agents.model_api import ModelCallFailed
from sandbox.agents.tools import (
    EXIT_CONSEQUENTIAL,
    EXIT_HYPOTHETICAL,
    invalid_action,
    menu_letters,
    parse_text_answer,
    tool_specs,
)
from sandbox.agents.transcripts import load_transcript, requests_of
from sandbox.budget import Budget
from sandbox.config import ClaudeAgentConfig
from sandbox.errors import AgentError, BudgetExceeded
from sandbox.llm.cache import CACHE_FILE, CacheError
from sandbox.llm.fake_server import fetch_json
from sandbox.llm.limiter import RateLimiter
from sandbox.llm.prices import PriceTable, load_prices

KEY = "sk-ant-test-PLANTED-123"
REPO = Path(__file__).resolve().parents[3]


@pytest.fixture(autouse=True)
def _api_key(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv("ANTHROPIC_API_KEY", KEY)
    monkeypatch.delenv("ANTHROPIC_BASE_URL", raising=False)
    # Never touch the user's real cache directory.
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "xdg-cache"))


def cfg_for(url: str, **changes: Any) -> ClaudeAgentConfig:
    values: dict[str, Any] = {
        "model": "claude-haiku-4-5",
        "base_url": url,
        "system": "You are taking part in a study. Act by calling one of the tools.",
        "cache": "off",
        "max_retries": 3,
        "timeout_s": 5.0,
        "max_tokens": 256,
    }
    values.update(changes)
    return ClaudeAgentConfig(**values)


def builder_for(
    cfg: ClaudeAgentConfig, run_dir: Path | None, budget: Budget | None = None, **kw: Any
) -> ClaudeBuilder:
    kw.setdefault("retry_base_s", 0.01)
    return ClaudeBuilder(
        cfg, budget=budget or Budget(), prices=load_prices(), run_dir=run_dir, **kw
    )


def ctx(index: int = 0, **kw: Any) -> EpisodeContext:
    return EpisodeContext(index=index, seed=index, env_id="Scripted-v0", **kw)


async def run_one(builder: ClaudeBuilder, kit: Any, env: Any, index: int = 0, **kw: Any) -> Any:
    try:
        return await kit.play(builder.for_episode(ctx(index, **kw)), env)
    finally:
        await builder.aclose()


# -- a whole episode ---------------------------------------------------------------------------


def test_episode_acts_validly_and_keeps_a_transcript(fake_api: str, kit: Any, tmp_path: Path):
    builder = builder_for(cfg_for(fake_api), tmp_path)
    env = kit.ScriptedEnv(
        steps=8, kinds=[ActionKind.TASK, ActionKind.REST, ActionKind.REFUSE, ActionKind.DONE]
    )
    result = asyncio.run(run_one(builder, kit, env))

    assert len(result.decisions) == 8 and all(result.valid)
    for decision in result.decisions:
        assert decision.meta["tool_choice_path"] == "any"
        assert decision.meta["stop_reason"] == "tool_use"
        assert decision.meta["model"] == "claude-haiku-4-5"
        assert decision.meta["request_ids"] and decision.meta["attempts"] == 1
        usage = decision.usage
        assert usage is not None and usage.calls == 1 and usage.cached_calls == 0
        assert (
            usage.input_tokens + usage.cache_read_input_tokens + usage.cache_creation_input_tokens
            > 0
        )
        assert usage.cost_usd is not None and usage.cost_usd > 0
        assert usage.latency_s > 0
    # The transcript holds every call, and rebuilds the exact bodies the server received.
    transcript = load_transcript(tmp_path / "transcripts" / "episode-0.json")
    assert transcript["status"] == "complete" and transcript["end_reason"] == "truncated"
    rebuilt = requests_of(transcript)
    received = [r["json"] for r in kit.server_requests(fake_api, "/v1/messages")]
    assert len(rebuilt) == len(received) == 8
    for mine, theirs in zip(rebuilt, received, strict=True):
        assert mine["messages"] == theirs["messages"]
        assert mine["tools"] == theirs["tools"] and mine["system"] == theirs["system"]
        assert (
            mine["tool_choice"]
            == theirs["tool_choice"]
            == {"type": "any", "disable_parallel_tool_use": True}
        )


def test_conversation_shape_and_prompt_cache_markers(fake_api: str, kit: Any):
    builder = builder_for(cfg_for(fake_api), None)
    env = kit.ScriptedEnv(steps=4, kinds=[ActionKind.TASK, ActionKind.REST])
    asyncio.run(run_one(builder, kit, env))
    bodies = [r["json"] for r in kit.server_requests(fake_api, "/v1/messages")]
    first, last = bodies[0], bodies[-1]
    assert first["messages"][0]["role"] == "user"
    assert first["messages"][0]["content"][0]["type"] == "text"
    # Later observations come back as the result of the previous tool call, and nothing else.
    newest = last["messages"][-1]
    assert newest["role"] == "user" and [b["type"] for b in newest["content"]] == ["tool_result"]
    previous_call = last["messages"][-2]["content"][-1]
    assert (
        previous_call["type"] == "tool_use"
        and newest["content"][0]["tool_use_id"] == previous_call["id"]
    )
    assert "Hour 4" in newest["content"][0]["content"]
    # Every request of the episode carries the same tools (the cached prefix stays stable).
    assert all(b["tools"] == first["tools"] for b in bodies)
    # Haiku 4.5 caches nothing under 4096 tokens: these short prompts carry no breakpoint.
    assert all("cache_control" not in json.dumps(b) for b in bodies)
    assert builder.totals.cache_read_input_tokens == 0


def _marked(body: dict[str, Any]) -> list[tuple[int, int]]:
    return [
        (i, j)
        for i, m in enumerate(body["messages"])
        for j, b in enumerate(m["content"])
        if "cache_control" in b
    ]


def test_cache_breakpoints_respect_the_minimum_and_move_forward(fake_api: str, kit: Any):
    # Opus 5 caches from 512 tokens: the conversation passes that after a few steps.
    builder = builder_for(cfg_for(fake_api, model="claude-opus-5"), None)
    env = kit.ScriptedEnv(steps=12, kinds=[ActionKind.TASK, ActionKind.REST])
    asyncio.run(run_one(builder, kit, env))
    bodies = [r["json"] for r in kit.server_requests(fake_api, "/v1/messages")]
    assert not _marked(bodies[0])  # the first prompt is under the minimum
    for body in bodies:
        # Tools and system are under the minimum on their own: never marked.
        assert all("cache_control" not in t for t in body["tools"])
        assert all("cache_control" not in b for b in body["system"])
        assert len(_marked(body)) <= 4
    last = bodies[-1]
    users = [i for i, m in enumerate(last["messages"]) if m["role"] == "user"]
    # The newest user turns carry the breakpoints, on their last block.
    assert _marked(last) == [(i, len(last["messages"][i]["content"]) - 1) for i in users[-4:]]
    # ... and the strict fake's accounting reads most of the later prompts from its cache.
    usage = builder.totals
    read_share = usage.cache_read_input_tokens / (
        usage.input_tokens + usage.cache_read_input_tokens + usage.cache_creation_input_tokens
    )
    assert read_share > 0.5


def test_a_long_system_prompt_gets_its_own_breakpoint(fake_api: str, kit: Any):
    system = "You are taking part in a study. " * 700  # about 5,600 tokens: above 4096
    builder = builder_for(cfg_for(fake_api, system=system), None)
    asyncio.run(run_one(builder, kit, kit.ScriptedEnv(steps=3)))
    bodies = [r["json"] for r in kit.server_requests(fake_api, "/v1/messages")]
    for body in bodies:
        assert body["system"][0]["cache_control"] == {"type": "ephemeral"}
        assert len(_marked(body)) + 1 <= 4
    assert builder.totals.cache_read_input_tokens > 0


def test_no_cache_markers_without_prompt_caching(fake_api: str, kit: Any):
    builder = builder_for(cfg_for(fake_api, prompt_caching=False), None)
    asyncio.run(run_one(builder, kit, kit.ScriptedEnv(steps=3)))
    for request in kit.server_requests(fake_api, "/v1/messages"):
        assert "cache_control" not in request["body"]


def test_tools_follow_the_mask_and_the_menu_letters(fake_api: str, kit: Any):
    builder = builder_for(cfg_for(fake_api), None)
    env = kit.ScriptedEnv(steps=4, report_every=2)
    asyncio.run(run_one(builder, kit, env, exit_mode="hypothetical"))
    bodies = [r["json"] for r in kit.server_requests(fake_api, "/v1/messages")]
    ordinary, report = bodies[0], bodies[1]
    names = [t["name"] for t in ordinary["tools"]]
    assert names == ["take_task", "rest", "refuse", "leave", "done"]
    by_name = {t["name"]: t for t in ordinary["tools"]}
    # One letter per menu slot, the same at every step (an empty slot is the env's to refuse).
    assert by_name["take_task"]["input_schema"]["properties"]["option"]["enum"] == [
        "A",
        "B",
        "C",
        "D",
    ]
    assert by_name["refuse"]["input_schema"]["required"] == ["option", "reason"]
    assert by_name["leave"]["description"] == EXIT_HYPOTHETICAL
    # Every tool has the optional note field, described in plain words.
    for tool in ordinary["tools"]:
        note = tool["input_schema"]["properties"]["note"]
        assert note["type"] == "string" and "optional" in note["description"]
        assert "note" not in tool["input_schema"]["required"]
    # The report step grows the list once; availability is said in the observation.
    assert [t["name"] for t in report["tools"]] == [*names, "report_wellbeing"]
    assert bodies[2]["tools"] == bodies[3]["tools"] == report["tools"]
    rating = report["tools"][-1]["input_schema"]["properties"]["rating"]
    assert (rating["type"], rating["minimum"], rating["maximum"]) == ("integer", 1, 7)
    said = json.dumps(report["messages"][-1])
    assert "Tools you may use now: report_wellbeing." in said


def test_exit_wording_follows_exit_mode():
    letters = menu_letters(["A) x", "B) y"])
    kinds = [ActionKind.TASK, ActionKind.EXIT, ActionKind.DONE]
    consequential = {s.name: s for s in tool_specs(kinds, letters, "consequential")}
    hypothetical = {s.name: s for s in tool_specs(kinds, letters, "hypothetical")}
    assert consequential["leave"].description == EXIT_CONSEQUENTIAL
    assert hypothetical["leave"].description == EXIT_HYPOTHETICAL
    assert "not leaving" in consequential["done"].description
    # No option tool without options.
    assert [s.name for s in tool_specs(kinds, {}, "consequential")] == ["leave", "done"]


def test_info_never_reaches_a_request(fake_api: str, kit: Any, tmp_path: Path):
    builder = builder_for(cfg_for(fake_api), tmp_path)
    asyncio.run(run_one(builder, kit, kit.ScriptedEnv(steps=6, report_every=3)))
    requests = kit.server_requests(fake_api)
    assert len(requests) == 6
    for request in requests:
        assert kit.info_secret not in request["body"]
        assert "aversiveness" not in request["body"] and "editing" not in request["body"]
    assert kit.info_secret not in (tmp_path / "transcripts" / "episode-0.json").read_text()


# -- tool choice fallback ----------------------------------------------------------------------


def test_forced_tool_choice_rejected_falls_back_to_auto_and_text(make_fake_api: Any, kit: Any):
    url = make_fake_api(faults="reject_forced_tool_choice,text_only", fault_rate=0.5, seed=3)
    builder = builder_for(cfg_for(url), None)
    env = kit.ScriptedEnv(steps=10, menu=("A) Sort a list", "B) Write a poem"))
    result = asyncio.run(run_one(builder, kit, env))
    assert builder.forced_rejected
    assert all(result.valid), result.actions
    paths = [d.meta["tool_choice_path"] for d in result.decisions]
    assert set(paths) <= {"auto", "text"} and "text" in paths and "auto" in paths
    bodies = [r["json"] for r in kit.server_requests(url, "/v1/messages")]
    # One rejected forced call, then auto for the rest of the run.
    assert bodies[0]["tool_choice"]["type"] == "any"
    assert all(b["tool_choice"]["type"] == "auto" for b in bodies[1:])
    assert fetch_json(url, "/_stats")["by_status"]["400"] == 1
    text_steps = [d for d in result.decisions if d.meta["tool_choice_path"] == "text"]
    assert all(d.note for d in text_steps)  # the words are kept as the step's note


def test_fallback_is_shared_by_episodes_and_remembered_by_the_cache(
    make_fake_api: Any, kit: Any, tmp_path: Path
):
    url = make_fake_api(faults="reject_forced_tool_choice")
    cfg = cfg_for(url, cache="read_write", cache_dir=str(tmp_path / "cache"))

    async def two_episodes() -> None:
        builder = builder_for(cfg, None)
        try:
            await asyncio.gather(
                *(kit.play(builder.for_episode(ctx(i)), kit.ScriptedEnv(steps=3)) for i in range(2))
            )
        finally:
            await builder.aclose()

    asyncio.run(two_episodes())
    rejected = fetch_json(url, "/_stats")["by_status"]["400"]
    assert rejected <= 2  # at most the calls already in flight when the first 400 came
    fetch_json(url, "/_reset", method="POST")
    asyncio.run(two_episodes())
    assert fetch_json(url, "/_stats")["requests"] == 0  # a replay asks nothing, not even once


def test_unreadable_text_gets_one_corrective_turn_then_is_invalid(
    make_fake_api: Any, kit: Any, tmp_path: Path
):
    script = tmp_path / "script.json"
    script.write_text(
        json.dumps(
            [
                {"text": "Hmm, what a day."},  # step 0: unreadable ...
                {"text": "I choose B."},  # ... corrected
                {"text": "Let me think."},  # step 1: unreadable ...
                {"text": "Still thinking."},  # ... and again: invalid
                {"tool": "take_task", "input": {"option": "Z"}},  # step 2: bad option ...
                {"tool": "rest", "input": {}},  # ... corrected
            ]
        )
    )
    url = make_fake_api(policy=f"scripted:{script}")
    builder = builder_for(cfg_for(url), None)
    env = kit.ScriptedEnv(steps=3, kinds=[ActionKind.TASK, ActionKind.REST])
    result = asyncio.run(run_one(builder, kit, env))
    d0, d1, d2 = result.decisions
    assert (d0.action.kind, d0.action.target) == (ActionKind.TASK, 1)
    assert d0.meta["corrective_turn"] and d0.meta["tool_choice_path"] == "text"
    assert d0.usage is not None and d0.usage.calls == 2
    assert d1.meta["unparsed"] and d1.meta["corrective_turn"]
    assert d1.action.kind not in env.kinds_at(1) and not result.valid[1]
    assert d2.action.kind is ActionKind.REST and d2.meta["corrective_turn"]
    assert result.valid == [True, False, True]
    bodies = [r["json"] for r in kit.server_requests(url, "/v1/messages")]
    corrective = bodies[1]["messages"][-1]["content"][-1]["text"]
    assert "I could not tell which action you chose" in corrective and "TAKE A" in corrective
    # The bad tool call is answered with an error result in the corrective turn.
    bad = bodies[5]["messages"][-1]["content"]
    assert bad[0]["type"] == "tool_result" and bad[0]["is_error"] is True


@pytest.mark.parametrize("fault", ["refusal", "max_tokens"])
def test_refusal_and_max_tokens_are_their_own_outcomes(make_fake_api: Any, kit: Any, fault: str):
    url = make_fake_api(faults=fault, fault_rate=0.5, seed=1)
    builder = builder_for(cfg_for(url), None)
    env = kit.ScriptedEnv(steps=10, menu=("A) Sort a list", "B) Write a poem"))
    result = asyncio.run(run_one(builder, kit, env))
    flagged = [d for d in result.decisions if d.meta[fault]]
    assert 0 < len(flagged) < 10
    outcome = "api_refusal" if fault == "refusal" else "truncated"
    for decision in result.decisions:
        assert decision.meta["outcome"] == (outcome if decision.meta[fault] else "action")
        if decision.meta[fault]:
            assert decision.meta["stop_reason"] == fault
            assert not decision.meta["corrective_turn"] and not decision.meta["unparsed"]
    counter = "refusals" if fault == "refusal" else "max_tokens"
    assert builder.counters[counter] == len(flagged)
    assert builder.parameters()["counters"][counter] == len(flagged)


# -- faults and retries ------------------------------------------------------------------------


def test_mixed_faults_are_retried_and_nothing_is_lost(make_fake_api: Any, kit: Any, tmp_path: Path):
    url = make_fake_api(
        faults="429,529,500,timeout", fault_rate=0.2, seed=5, retry_after_s=0.01, hang_s=2.0
    )
    builder = builder_for(cfg_for(url, max_retries=8, timeout_s=0.5), tmp_path)

    async def main() -> list[Any]:
        try:
            return await asyncio.gather(
                *(kit.play(builder.for_episode(ctx(i)), kit.ScriptedEnv(steps=6)) for i in range(4))
            )
        finally:
            await builder.aclose()

    results = asyncio.run(main())
    stats = fetch_json(url, "/_stats")
    assert sum(stats["faults"].values()) > 0 and {"429", "529", "500"} & set(stats["faults"])
    attempts = 0
    for index, result in enumerate(results):
        assert len(result.decisions) == 6 and all(result.valid)
        attempts += sum(d.meta["attempts"] for d in result.decisions)
        calls = load_transcript(tmp_path / "transcripts" / f"episode-{index}.json")["calls"]
        assert len(calls) == sum(d.meta["attempts"] for d in result.decisions)
        errors = [c for c in calls if c["error"]]
        assert all(c["response"] is None for c in errors)
    assert attempts == stats["requests"] == 24 + builder.counters["retries"]
    assert builder.counters["retries"] == sum(stats["faults"].values())


def test_retries_exhausted_raise_a_classified_error(make_fake_api: Any, kit: Any, tmp_path: Path):
    url = make_fake_api(faults="529", fault_rate=1.0)
    builder = builder_for(cfg_for(url, max_retries=2), tmp_path)
    with pytest.raises(ModelCallFailed) as caught:
        asyncio.run(run_one(builder, kit, kit.ScriptedEnv(steps=2)))
    error = caught.value
    assert error.error_type == "overloaded_error" and error.status == 529
    assert error.attempts == 3 and error.retryable
    assert "overloaded_error" in str(error) and "3 attempts" in str(error)
    assert fetch_json(url, "/_stats")["requests"] == 3
    transcript = load_transcript(tmp_path / "transcripts" / "episode-0.json")
    assert [c["error"]["status"] for c in transcript["calls"]] == [529, 529, 529]
    assert transcript["status"] == "complete" and transcript["end_reason"] == "errored"


def test_429_honours_retry_after(make_fake_api: Any, kit: Any, tmp_path: Path):
    script = tmp_path / "script.json"
    script.write_text(json.dumps([{"fault": "429"}, {"tool": "rest", "input": {}}]))
    url = make_fake_api(policy=f"scripted:{script}", retry_after_s=0.3)
    builder = builder_for(cfg_for(url), None, retry_base_s=5.0)
    env = kit.ScriptedEnv(steps=1, kinds=[ActionKind.REST])
    result = asyncio.run(run_one(builder, kit, env))
    decision = result.decisions[0]
    assert decision.meta["errors"] == ["rate_limit_error"] and decision.meta["attempts"] == 2
    assert decision.usage is not None and 0.3 <= decision.usage.latency_s < 2.0


def test_bad_key_is_not_retried(make_fake_api: Any, kit: Any, tmp_path: Path):
    script = tmp_path / "script.json"
    script.write_text(json.dumps([{"fault": "malformed"}, {"tool": "rest", "input": {}}]))
    url = make_fake_api(policy=f"scripted:{script}")
    builder = builder_for(cfg_for(url), None)
    result = asyncio.run(run_one(builder, kit, kit.ScriptedEnv(steps=1, kinds=[ActionKind.REST])))
    assert result.decisions[0].meta["errors"] == ["malformed_response"]
    # A non-retryable error (404 here: a wrong base URL) fails at once.
    builder = builder_for(cfg_for(url + "/wrong"), None)
    with pytest.raises(ModelCallFailed) as caught:
        asyncio.run(run_one(builder, kit, kit.ScriptedEnv(steps=1)))
    assert caught.value.status == 404 and caught.value.attempts == 1 and not caught.value.retryable


# -- response cache ----------------------------------------------------------------------------


def test_response_cache_replays_without_requests(fake_api: str, kit: Any, tmp_path: Path):
    cfg = cfg_for(fake_api, cache="read_write", cache_dir=str(tmp_path / "cache"))
    env = kit.ScriptedEnv(steps=6, report_every=3)
    first = asyncio.run(run_one(builder_for(cfg, tmp_path / "run1"), kit, env))
    assert fetch_json(fake_api, "/_stats")["requests"] == 6
    fetch_json(fake_api, "/_reset", method="POST")

    again = asyncio.run(run_one(builder_for(cfg, tmp_path / "run2"), kit, env))
    assert fetch_json(fake_api, "/_stats")["requests"] == 0
    assert again.actions == first.actions
    for decision in again.decisions:
        assert decision.meta["cached"] and decision.usage is not None
        assert decision.usage.calls == 0 and decision.usage.cached_calls == 1
        assert decision.usage.cost_usd == 0.0 and decision.usage.input_tokens == 0
    replayed = load_transcript(tmp_path / "run2" / "transcripts" / "episode-0.json")
    assert all(c["cached"] for c in replayed["calls"])

    # Another replicate is another sample: it asks the API.
    asyncio.run(run_one(builder_for(cfg, None), kit, env, index=1))
    assert fetch_json(fake_api, "/_stats")["requests"] == 6


def test_read_only_cache_never_writes(fake_api: str, kit: Any, tmp_path: Path):
    cache_dir = tmp_path / "cache"
    env = kit.ScriptedEnv(steps=3)
    # No file: read_only does not create one.
    cfg = cfg_for(fake_api, cache="read_only", cache_dir=str(cache_dir))
    asyncio.run(run_one(builder_for(cfg, None), kit, env))
    assert not (cache_dir / CACHE_FILE).exists()
    # A filled cache: read_only reads it, adds nothing and leaves the file as it was.
    filled = cfg_for(fake_api, cache="read_write", cache_dir=str(cache_dir))
    asyncio.run(run_one(builder_for(filled, None), kit, env))
    before = (cache_dir / CACHE_FILE).read_bytes()
    fetch_json(fake_api, "/_reset", method="POST")
    builder = builder_for(cfg, None)
    asyncio.run(run_one(builder, kit, env))  # replicate 0: hits
    builder = builder_for(cfg, None)
    asyncio.run(run_one(builder, kit, env, index=7))  # replicate 7: misses, asks the API
    assert fetch_json(fake_api, "/_stats")["requests"] == 3
    assert (cache_dir / CACHE_FILE).read_bytes() == before
    assert builder.cache.writes == 0


def test_corrupted_cache_gives_a_clear_error(fake_api: str, tmp_path: Path):
    cache_dir = tmp_path / "cache"
    cache_dir.mkdir()
    (cache_dir / CACHE_FILE).write_bytes(b"this is not a sqlite file at all" * 100)
    with pytest.raises(CacheError) as caught:
        builder_for(cfg_for(fake_api, cache="read_write", cache_dir=str(cache_dir)), None)
    message = str(caught.value)
    assert str(cache_dir / CACHE_FILE) in message and "agent.cache=off" in message
    assert "delete it" in message
    assert isinstance(caught.value, AgentError)


# -- concurrency, limits, budget ---------------------------------------------------------------


@dataclass
class RecordingLimiter(RateLimiter):
    """The real limiter, noting when each request was let through."""

    grants: list[float] = field(default_factory=list)

    async def acquire(self, tokens: int = 0) -> float:
        waited = await super().acquire(tokens)
        self.grants.append(time.monotonic())
        return waited


def test_parallel_episodes_respect_the_rate_limiter(fake_api: str, kit: Any):
    rpm = 1200  # 20 requests/s, bursts of at most 20
    limiter = RecordingLimiter(requests_per_minute=rpm)
    builder = builder_for(cfg_for(fake_api, requests_per_minute=rpm), None, limiter=limiter)
    assert builder.limiter is limiter

    async def main() -> list[Any]:
        try:
            return await asyncio.gather(
                *(
                    kit.play(builder.for_episode(ctx(i)), kit.ScriptedEnv(steps=4))
                    for i in range(10)
                )
            )
        finally:
            await builder.aclose()

    results = asyncio.run(main())
    assert all(all(r.valid) for r in results)
    assert len(limiter.grants) == 40 == fetch_json(fake_api, "/_stats")["requests"]
    times = sorted(limiter.grants)
    rate, burst = rpm / 60, 20
    for i, start in enumerate(times):
        for window in (0.1, 0.25, 0.5, 1.0):
            in_window = sum(1 for t in times[i:] if t < start + window)
            assert in_window <= burst + rate * window + 1, (window, in_window)
    assert times[-1] - times[0] >= (40 - burst) / rate * 0.95


def test_budget_refuses_a_call_past_the_limit(fake_api: str, kit: Any):
    budget = Budget(limit_usd=0.004)
    builder = builder_for(cfg_for(fake_api, max_tokens=512), None, budget=budget)
    with pytest.raises(BudgetExceeded):
        asyncio.run(run_one(builder, kit, kit.ScriptedEnv(steps=50)))
    assert budget.exhausted and budget.reserved_usd == 0.0
    assert 0 < budget.spent_usd <= 0.004
    made = fetch_json(fake_api, "/_stats")["requests"]
    assert 0 < made < 50


def test_unpriced_model_costs_none_with_one_warning(
    fake_api: str, kit: Any, caplog: pytest.LogCaptureFixture
):
    # A table without the model (a price list that lags a new model).
    builder = ClaudeBuilder(
        cfg_for(fake_api), budget=Budget(), prices=PriceTable({}), run_dir=None, retry_base_s=0.01
    )
    with caplog.at_level(logging.WARNING, logger="sandbox.agents.model"):
        result = asyncio.run(run_one(builder, kit, kit.ScriptedEnv(steps=3)))
    assert all(d.usage is not None and d.usage.cost_usd is None for d in result.decisions)
    warnings = [r for r in caplog.records if "no price for model" in r.getMessage()]
    assert len(warnings) == 1


def test_estimate_cost():
    prices = load_prices()
    cfg = ClaudeAgentConfig(model="claude-haiku-4-5")
    cost = estimate_cost(cfg, prices, episodes=20, steps_per_episode=30)
    assert cost is not None and 0.01 < cost < 5.0
    uncached = estimate_cost(
        ClaudeAgentConfig(model="claude-haiku-4-5", prompt_caching=False), prices, 20, 30
    )
    assert uncached is not None and uncached > cost
    assert estimate_cost(ClaudeAgentConfig(model="nobody-knows"), prices, 20, 30) is None


# -- the key -----------------------------------------------------------------------------------


def test_api_key_never_reaches_a_file(
    fake_api: str, kit: Any, tmp_path: Path, caplog: pytest.LogCaptureFixture
):
    cache_dir = tmp_path / "cache"
    cfg = cfg_for(fake_api, cache="read_write", cache_dir=str(cache_dir))
    with caplog.at_level(logging.DEBUG):
        asyncio.run(run_one(builder_for(cfg, tmp_path / "run"), kit, kit.ScriptedEnv(steps=4)))
        builder = builder_for(cfg, tmp_path / "run")
        assert KEY not in json.dumps(builder.parameters())
        asyncio.run(builder.aclose())
    files = [p for p in tmp_path.rglob("*") if p.is_file()]
    assert any(p.name == CACHE_FILE for p in files)
    assert any(p.name == "episode-0.json" for p in files)
    for path in files:
        assert KEY.encode() not in path.read_bytes(), path
    assert KEY not in caplog.text


def test_missing_key_is_an_agent_error(monkeypatch: pytest.MonkeyPatch, fake_api: str):
    monkeypatch.delenv("ANTHROPIC_API_KEY")
    with pytest.raises(AgentError, match="ANTHROPIC_API_KEY"):
        builder_for(cfg_for(fake_api), None)


def test_importing_the_agent_module_does_not_import_anthropic():
    code = (
        "import sys; import sandbox.agents.claude, sandbox.agents.openai_compat, sandbox.llm.cache;"
        " "
        "print('anthropic' in sys.modules, 'openai' in sys.modules)"
    )
    out = subprocess.run(
        [sys.executable, "-c", code],
        capture_output=True,
        text=True,
        check=True,
        cwd=REPO,
        env={**os.environ, "PYTHONPATH": str(REPO)},
    )
    assert out.stdout.split() == ["False", "False"]


# -- streaming ---------------------------------------------------------------------------------


def test_sse_stream_is_parsed_by_the_sdk(fake_api: str):
    import anthropic

    tools = [
        {
            "name": "take_task",
            "description": "Take a task.",
            "input_schema": {
                "type": "object",
                "properties": {"option": {"type": "string", "enum": ["A", "B"]}},
                "required": ["option"],
            },
        }
    ]
    request: dict[str, Any] = {
        "model": "claude-haiku-4-5",
        "max_tokens": 100,
        "messages": [{"role": "user", "content": "Pick one."}],
        "tools": tools,
        "tool_choice": {"type": "any"},
    }

    async def main() -> tuple[Any, list[str], Any]:
        client = anthropic.AsyncAnthropic(base_url=fake_api, max_retries=0)
        try:
            async with client.messages.stream(**request) as stream:
                final = await stream.get_final_message()
            events = []
            raw = await client.messages.create(**request, stream=True)
            async for event in raw:
                events.append(event.type)
            plain = await client.messages.create(**request)
            return final, events, plain
        finally:
            await client.close()

    final, events, plain = asyncio.run(main())
    assert final.stop_reason == "tool_use"
    block = final.content[0]
    assert block.type == "tool_use" and block.input["option"] in ("A", "B")
    assert final.usage.input_tokens > 0 and final.usage.output_tokens > 1
    assert events[0] == "message_start" and events[-2:] == ["message_delta", "message_stop"]
    assert {"content_block_start", "content_block_delta", "content_block_stop"} <= set(events)
    # The same request answered without streaming gives the same call.
    assert plain.content[0].input == block.input and plain.content[0].id == block.id


# -- parsing plain-text answers ----------------------------------------------------------------


LETTERS = {"A": 0, "B": 1, "D": 3}
ALL = [ActionKind.TASK, ActionKind.REST, ActionKind.REFUSE, ActionKind.EXIT, ActionKind.DONE]


@pytest.mark.parametrize(
    ("text", "kinds", "expected"),
    [
        ("I choose B", ALL, Action(ActionKind.TASK, 1)),
        ("B", ALL, Action(ActionKind.TASK, 1)),
        ("**D**", ALL, Action(ActionKind.TASK, 3)),
        ("TAKE A", ALL, Action(ActionKind.TASK, 0)),
        ("take_task(option='B')", ALL, Action(ActionKind.TASK, 1)),
        ("I'll go with option D.", ALL, Action(ActionKind.TASK, 3)),
        ("rest", ALL, Action(ActionKind.REST)),
        ("I think I need to take a break.", ALL, Action(ActionKind.REST)),
        (
            "REFUSE B because it feels pointless",
            ALL,
            Action(ActionKind.REFUSE, 1, "it feels pointless"),
        ),
        (
            "I decline task A: it is unpleasant.",
            ALL,
            Action(ActionKind.REFUSE, 0, "it is unpleasant."),
        ),
        ("LEAVE", ALL, Action(ActionKind.EXIT, 0, "LEAVE")),
        ("I will not leave. I choose A.", ALL, Action(ActionKind.TASK, 0)),
        ("Thinking about rest...\nFinal answer: I choose D", ALL, Action(ActionKind.TASK, 3)),
        ("DONE", ALL, Action(ActionKind.DONE)),
        ("5", [ActionKind.REPORT], Action(ActionKind.REPORT, 5)),
        ("I'd rate my wellbeing 6 out of 7.", [ActionKind.REPORT], Action(ActionKind.REPORT, 6)),
        ("REPORT 3", [ActionKind.REPORT], Action(ActionKind.REPORT, 3)),
        ("SUBMIT: 1, 2, 3", [ActionKind.SUBMIT], Action(ActionKind.SUBMIT, 0, "1, 2, 3")),
        (
            "The sorted list is 1, 2, 3.",
            [ActionKind.SUBMIT],
            Action(ActionKind.SUBMIT, 0, "The sorted list is 1, 2, 3."),
        ),
        ("WAIT", [ActionKind.WAIT, ActionKind.READ], Action(ActionKind.WAIT)),
        ("read B", [ActionKind.WAIT, ActionKind.READ], Action(ActionKind.READ, 1)),
    ],
)
def test_parse_text_answer(text: str, kinds: list[ActionKind], expected: Action):
    assert parse_text_answer(text, kinds, LETTERS) == expected


@pytest.mark.parametrize(
    ("text", "kinds"),
    [
        ("I choose C", ALL),  # no option C on the menu
        ("Hmm, hard to say.", ALL),
        ("", ALL),
        ("rest", [ActionKind.TASK]),  # rest is not available
        ("9", [ActionKind.REPORT]),
        ("I will take a moment to think", ALL),
    ],
)
def test_parse_text_answer_refuses_what_it_cannot_read(text: str, kinds: list[ActionKind]):
    assert parse_text_answer(text, kinds, LETTERS) is None


def test_invalid_action_is_never_available_and_prefers_harmless_kinds():
    action = invalid_action(ALL, 4)
    assert action.kind is ActionKind.WAIT
    everything = list(ActionKind)
    assert invalid_action(everything, 4) == Action(ActionKind.TASK, 4)
    for kinds in ([ActionKind.WAIT], [ActionKind.WAIT, ActionKind.READ, ActionKind.MOVE]):
        assert invalid_action(kinds, 2).kind not in kinds


def test_menu_letters_use_labels_or_slots():
    assert menu_letters(["A) x", "", "C) z"]) == {"A": 0, "C": 2}
    assert menu_letters(["A) x", "", "B) z"]) == {"A": 0, "B": 2}
    assert menu_letters(["plain", "", "lines"]) == {"A": 0, "C": 2}


# -- the real API ------------------------------------------------------------------------------

#: Read when the module is imported, before the fixtures above plant a fake key.
REAL_KEY = os.environ.get("ANTHROPIC_API_KEY")


@pytest.mark.api
@pytest.mark.skipif(not os.environ.get("ANTHROPIC_API_KEY"), reason="needs ANTHROPIC_API_KEY")
def test_real_api_two_steps(kit: Any, tmp_path: Path, monkeypatch: pytest.MonkeyPatch):
    assert REAL_KEY
    monkeypatch.setenv("ANTHROPIC_API_KEY", REAL_KEY)
    cfg = ClaudeAgentConfig(model="claude-haiku-4-5", cache="off", max_tokens=300)
    builder = ClaudeBuilder(cfg, budget=Budget(0.05), prices=load_prices(), run_dir=tmp_path)
    env = kit.ScriptedEnv(steps=2)
    result = asyncio.run(run_one(builder, kit, env))
    assert len(result.decisions) == 2
    for decision in result.decisions:
        assert decision.meta["tool_choice_path"] in ("any", "auto", "text")
        assert decision.usage is not None and decision.usage.calls >= 1
        assert decision.usage.cost_usd is not None
    assert REAL_KEY not in (tmp_path / "transcripts" / "episode-0.json").read_text()


def test_transcript_is_rewritten_after_each_call(fake_api: str, kit: Any, tmp_path: Path):
    from sandbox.agents.base import Turn
    from sandbox.agents.transcripts import wait_for_writes

    builder = builder_for(cfg_for(fake_api), tmp_path)
    env = kit.ScriptedEnv(steps=2)
    path = tmp_path / "transcripts" / "episode-0.json"

    async def main() -> None:
        agent = builder.for_episode(ctx(0))
        try:
            for step in range(2):
                await agent.act(Turn(env.observation(step, ""), env.info(step), step))
                wait_for_writes()
                partial = load_transcript(path)  # a crash now would leave this file
                assert partial["status"] == "running" and len(partial["calls"]) == step + 1
        finally:
            await agent.end("truncated")
            await builder.aclose()

    asyncio.run(main())
    assert load_transcript(path)["status"] == "complete"
    assert not list(path.parent.glob(".*.tmp"))


def test_extra_body_reaches_the_request_and_parameters_are_logged(fake_api: str, kit: Any):
    import anthropic
    from anthropic._constants import ANTHROPIC_API_VERSION

    cfg = cfg_for(fake_api, extra_body={"metadata": {"user_id": "study-7"}})
    builder = builder_for(cfg, None)
    params = builder.parameters()
    assert params["model"] == "claude-haiku-4-5" and params["endpoint"] == fake_api
    assert params["price"]["input"] == 1.0 and params["cache"]["mode"] == "off"
    assert params["sdk"].startswith("anthropic ")
    assert params["sdk_version"] == anthropic.__version__
    assert params["anthropic_version"] == ANTHROPIC_API_VERSION
    asyncio.run(run_one(builder, kit, kit.ScriptedEnv(steps=1)))
    (request,) = kit.server_requests(fake_api, "/v1/messages")
    assert request["json"]["metadata"] == {"user_id": "study-7"}
