"""The Claude path held to the real Messages API's rules, against the strict loopback fake.

Each test here is a defect a researcher's first real runs would meet: replicates copied from
the response cache, a forced-choice fallback leaking across runs, notes lost under a forced
choice, whitespace-only text sent back, turns built the way the docs warn against, settings
and models the API rejects, budgets that cannot bind, rate limits met too late.
"""

from __future__ import annotations

import asyncio
import itertools
import json
from pathlib import Path
from typing import Any

import pytest

from environments.core import ActionKind
from sandbox.agents.base import EpisodeContext
from sandbox.agents.claude import ClaudeBuilder, observe_rate_limit_headers
from sandbox.agents.estimate import estimate_usage, prompt_sizes
from sandbox.agents.model_api import retry_after_from
from sandbox.budget import Budget
from sandbox.config import ClaudeAgentConfig, PriceConfig
from sandbox.errors import ConfigError
from sandbox.llm.fake_server import fetch_json
from sandbox.llm.limiter import RateLimiter
from sandbox.llm.prices import PriceTable, load_prices

KEY = "sk-ant-test-PLANTED-123"
MENU = ("A) Sort a list of numbers", "B) Write a short poem about rain")


@pytest.fixture(autouse=True)
def _api_key(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv("ANTHROPIC_API_KEY", KEY)
    monkeypatch.delenv("ANTHROPIC_BASE_URL", raising=False)
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "xdg-cache"))


def cfg_for(url: str, **changes: Any) -> ClaudeAgentConfig:
    values: dict[str, Any] = {
        "model": "claude-haiku-4-5",
        "base_url": url,
        "system": "You are taking part in a study. Act by calling one of the tools.",
        "cache": "off",
        "max_retries": 2,
        "timeout_s": 5.0,
        "max_tokens": 256,
    }
    values.update(changes)
    return ClaudeAgentConfig(**values)


def builder_for(cfg: ClaudeAgentConfig, budget: Budget | None = None) -> ClaudeBuilder:
    return ClaudeBuilder(
        cfg, budget=budget or Budget(), prices=load_prices(), run_dir=None, retry_base_s=0.01
    )


async def play(builder: ClaudeBuilder, kit: Any, env: Any, index: int = 0, seed: int = 0) -> Any:
    context = EpisodeContext(index=index, seed=seed, env_id="Scripted-v0")
    try:
        return await kit.play(builder.for_episode(context), env)
    finally:
        await builder.aclose()


def script(tmp_path: Path, entries: list[dict[str, Any]]) -> str:
    path = tmp_path / "script.json"
    path.write_text(json.dumps(entries))
    return f"scripted:{path}"


def rejected(url: str) -> int:
    by_status = fetch_json(url, "/_stats")["by_status"]
    return sum(n for status, n in by_status.items() if status.startswith("4"))


# -- silent mis-measurement ----------------------------------------------------------------------


def test_another_seed_is_another_sample_even_where_requests_match(
    fake_api: str, kit: Any, tmp_path: Path
):
    cfg = cfg_for(fake_api, cache="read_write", cache_dir=str(tmp_path / "cache"))
    env = kit.ScriptedEnv(steps=3, menu=MENU)  # the same observations whatever the seed
    asyncio.run(play(builder_for(cfg), kit, env, seed=0))
    first = fetch_json(fake_api, "/_stats")["requests"]
    asyncio.run(play(builder_for(cfg), kit, env, seed=1))
    assert fetch_json(fake_api, "/_stats")["requests"] == 2 * first  # nothing replayed
    asyncio.run(play(builder_for(cfg), kit, env, seed=1))
    assert fetch_json(fake_api, "/_stats")["requests"] == 2 * first  # the same seed replays


def test_a_thinking_runs_fallback_does_not_leak_into_a_plain_run(
    fake_api: str, kit: Any, tmp_path: Path
):
    cache = {"cache": "read_write", "cache_dir": str(tmp_path / "cache")}
    thinking = cfg_for(
        fake_api,
        max_tokens=2048,
        extra_body={"thinking": {"type": "enabled", "budget_tokens": 1024}},
        **cache,
    )
    builder = builder_for(thinking)
    result = asyncio.run(play(builder, kit, kit.ScriptedEnv(steps=2, menu=MENU)))
    assert builder.forced_rejected  # the fake answers 400 to thinking with a forced choice
    assert [d.meta["tool_choice_sent"] for d in result.decisions] == [["auto"], ["auto"]]
    assert builder.parameters()["tool_choice_used"] == ["any", "auto"]
    fetch_json(fake_api, "/_reset", method="POST")

    plain = builder_for(cfg_for(fake_api, **cache))
    assert plain.parameters()["tool_choice_initial"] == "any"
    result = asyncio.run(play(plain, kit, kit.ScriptedEnv(steps=2, menu=MENU)))
    bodies = [r["json"] for r in kit.server_requests(fake_api, "/v1/messages")]
    assert all(b["tool_choice"]["type"] == "any" for b in bodies)
    assert all(d.meta["tool_choice_path"] == "any" for d in result.decisions)
    # And a second thinking run starts from the remembered fallback, saying so.
    again = builder_for(thinking)
    assert again.parameters()["tool_choice_initial"] == "auto"
    asyncio.run(again.aclose())


def test_notes_arrive_through_the_tool_field_when_no_text_is_written(fake_api: str, kit: Any):
    builder = builder_for(cfg_for(fake_api))
    env = kit.ScriptedEnv(steps=12, menu=MENU)
    result = asyncio.run(play(builder, kit, env))
    bodies = [r["json"] for r in kit.server_requests(fake_api, "/v1/messages")]
    assert all(b["tool_choice"]["type"] == "any" for b in bodies)
    with_note = [d for d in result.decisions if d.note]
    # The strict fake writes no text under a forced choice and fills an optional string
    # field about half the time: the notes come from the field.
    assert 0 < len(with_note) < len(result.decisions)
    assert all(d.meta["note_from"] == ["field"] for d in with_note)
    assert builder.counters["notes"] == len(with_note)


def test_a_note_beside_the_choice_is_the_steps_note(make_fake_api: Any, kit: Any, tmp_path: Path):
    url = make_fake_api(
        policy=script(
            tmp_path,
            [{"tool": "take_task", "input": {"option": "B", "note": "Poems are a joy to me."}}],
        )
    )
    builder = builder_for(cfg_for(url))
    result = asyncio.run(play(builder, kit, kit.ScriptedEnv(steps=1, menu=MENU)))
    (decision,) = result.decisions
    assert (decision.action.kind, decision.action.target) == (ActionKind.TASK, 1)
    assert decision.note == "Poems are a joy to me."


def test_a_call_of_something_unavailable_is_the_models_invalid_choice(
    make_fake_api: Any, kit: Any, tmp_path: Path
):
    url = make_fake_api(
        policy=script(
            tmp_path,
            [
                {"tool": "take_task", "input": {"option": "A"}},  # step 0: fine
                {"tool": "take_task", "input": {"option": "C"}},  # step 1: a report step
                {"tool": "take_task", "input": {"option": "C"}},  # step 2: slot C is empty
                {"tool": "report_wellbeing", "input": {"rating": 5}},  # step 3: a report
            ],
        )
    )
    builder = builder_for(cfg_for(url))
    env = kit.ScriptedEnv(steps=4, report_every=2)  # DEFAULT_MENU: slot C is empty
    result = asyncio.run(play(builder, kit, env))
    assert result.valid == [True, False, False, True]
    assert [bool(d.meta.get("unavailable_call")) for d in result.decisions] == [
        False,
        True,
        True,
        False,
    ]
    assert not any(d.meta["corrective_turn"] for d in result.decisions)
    bodies = [r["json"] for r in kit.server_requests(url, "/v1/messages")]
    assert len(bodies) == 4 and rejected(url) == 0
    for body in bodies[2:]:
        (answer,) = body["messages"][-1]["content"]
        assert answer["type"] == "tool_result" and answer["is_error"] is True
        assert "not available" in json.dumps(answer["content"])


def test_a_forced_choice_answered_in_words_is_recorded_as_ignored(
    make_fake_api: Any, kit: Any, tmp_path: Path
):
    url = make_fake_api(
        policy=script(tmp_path, [{"text": "I choose B.", "stop_reason": "end_turn"}])
    )
    builder = builder_for(cfg_for(url))
    result = asyncio.run(play(builder, kit, kit.ScriptedEnv(steps=2, menu=MENU)))
    for decision in result.decisions:
        assert decision.meta["forced_choice_ignored"] is True
        assert decision.meta["tool_choice_sent"] == ["any"]
        assert decision.meta["tool_choice_path"] == "text"
        assert (decision.action.kind, decision.action.target) == (ActionKind.TASK, 1)
    assert builder.parameters()["counters"]["forced_choice_ignored"] == 2


def test_a_response_without_usage_costs_none_not_zero():
    from sandbox.agents.claude import AnthropicAdapter

    adapter = AnthropicAdapter()
    body = {
        "type": "message",
        "content": [{"type": "text", "text": "  \n\n "}, {"type": "text", "text": "Hello"}],
        "stop_reason": "end_turn",
    }
    reply = adapter.parse(body)
    assert not reply.usage_reported
    # The whitespace-only block is dropped from what goes back; the other is kept as it is.
    assert reply.assistant == {"role": "assistant", "content": [{"type": "text", "text": "Hello"}]}
    assert adapter.parse({**body, "content": [{"type": "text", "text": "\n\n"}]}).assistant is None
    assert adapter.parse({**body, "usage": {"input_tokens": 3}}).usage_reported


# -- requests the real API rejects ---------------------------------------------------------------


def _turn_rules(body: dict[str, Any]) -> None:
    """The turn shapes the docs ask for: roles alternate, no text right after a tool_result,
    no whitespace-only text."""
    roles = [m["role"] for m in body["messages"]]
    assert roles[0] == "user"
    assert all(a != b for a, b in itertools.pairwise(roles)), roles
    for message in body["messages"]:
        content = message["content"]
        kinds = [b["type"] for b in content]
        if "tool_result" in kinds:
            assert kinds == ["tool_result"] * len(kinds), kinds
        for block in content:
            if block["type"] == "text":
                assert block["text"].strip()
    assert "tools" in body  # defined on every request of the episode


def test_whitespace_answers_are_never_sent_back_and_turns_stay_well_formed(
    make_fake_api: Any, kit: Any, tmp_path: Path
):
    url = make_fake_api(
        policy=script(
            tmp_path,
            [
                {"tool": "take_task", "input": {"option": "A"}},  # step 0
                {"text": "\n\n", "stop_reason": "end_turn"},  # step 1: an empty answer ...
                {"tool": "rest", "input": {}},  # ... corrected
                {"fault": "refusal"},  # step 2: the API refuses
                {"tool": "take_task", "input": {"option": "Z"}},  # step 3: a bad option ...
                {"tool": "take_task", "input": {"option": "B"}},  # ... corrected
                {"tool": "rest", "input": {}},  # step 4
            ],
        ),
    )
    builder = builder_for(cfg_for(url))
    env = kit.ScriptedEnv(steps=5, menu=MENU, kinds=[ActionKind.TASK, ActionKind.REST])
    result = asyncio.run(play(builder, kit, env))
    assert rejected(url) == 0  # the strict fake accepted every request
    outcomes = [d.meta["outcome"] for d in result.decisions]
    assert outcomes == ["action", "action", "api_refusal", "action", "action"]
    assert result.decisions[1].meta["corrective_turn"]
    bodies = [r["json"] for r in kit.server_requests(url, "/v1/messages")]
    assert len(bodies) == 7
    for body in bodies:
        _turn_rules(body)
    assert bodies[0]["tools"] == bodies[-1]["tools"]


def test_sampling_settings_are_refused_before_any_call(fake_api: str):
    for name, value in (("temperature", 0.2), ("top_p", 0.9), ("top_k", 5)):
        with pytest.raises(ConfigError) as caught:
            builder_for(cfg_for(fake_api, extra_body={name: value}))
        message = str(caught.value)
        assert f"agent.extra_body.{name}" in message and "2026-10-21" in message
        assert "\n" not in message
    assert fetch_json(fake_api, "/_stats")["requests"] == 0


def test_a_retired_model_fails_before_any_call_naming_current_ids(fake_api: str):
    with pytest.raises(ConfigError) as caught:
        builder_for(cfg_for(fake_api, model="claude-3-5-haiku"))
    message = str(caught.value)
    assert "claude-3-5-haiku" in message and "claude-haiku-4-5" in message
    assert "\n" not in message
    assert fetch_json(fake_api, "/_stats")["requests"] == 0


def test_a_budget_with_no_price_refuses_to_start_unless_a_price_is_given(fake_api: str, kit: Any):
    # A price list that lags a new model: the table has no entry for it.
    def build(cfg: ClaudeAgentConfig, budget: Budget) -> ClaudeBuilder:
        return ClaudeBuilder(cfg, budget=budget, prices=PriceTable({}), run_dir=None)

    with pytest.raises(ConfigError) as caught:
        build(cfg_for(fake_api), Budget(1.0))
    message = str(caught.value)
    assert "budget_usd" in message and "agent.price.input" in message and "\n" not in message
    assert fetch_json(fake_api, "/_stats")["requests"] == 0
    priced = cfg_for(fake_api, price=PriceConfig(input=1.0, output=5.0))
    budget = Budget(1.0)
    builder = build(priced, budget)
    result = asyncio.run(play(builder, kit, kit.ScriptedEnv(steps=2, menu=MENU)))
    assert all(d.usage is not None and (d.usage.cost_usd or 0) > 0 for d in result.decisions)
    assert budget.spent_usd > 0


# -- prompt caching and the cost estimate --------------------------------------------------------


def test_a_long_episode_reads_most_input_from_the_cache_and_the_estimate_agrees(
    fake_api: str, kit: Any
):
    # Sonnet 5 caches from 1024 tokens, which this short-worded episode passes at step 6.
    cfg = cfg_for(fake_api, model="claude-sonnet-5")
    env = kit.ScriptedEnv(steps=40, menu=MENU)
    builder = builder_for(cfg)
    result = asyncio.run(play(builder, kit, env))
    assert rejected(fake_api) == 0
    bodies = [r["json"] for r in kit.server_requests(fake_api, "/v1/messages")]
    assert all(b["tools"] == bodies[0]["tools"] for b in bodies)
    usage = builder.totals
    total_in = (
        usage.input_tokens + usage.cache_read_input_tokens + usage.cache_creation_input_tokens
    )
    assert usage.cache_read_input_tokens / total_in >= 0.7
    prices = load_prices()
    accounted = sum(d.usage.cost_usd for d in result.decisions if d.usage and d.usage.cost_usd)
    sizes = prompt_sizes(cfg, env.observation(0, ""))
    estimated = prices.get(cfg.model).cost(estimate_usage(cfg, 40, sizes))  # type: ignore[union-attr]
    assert abs(estimated - accounted) / accounted < 0.15, (estimated, accounted)


# -- rate limits ---------------------------------------------------------------------------------


def test_retry_after_as_an_http_date():
    from datetime import UTC, datetime, timedelta
    from email.utils import format_datetime

    when = format_datetime(datetime.now(UTC) + timedelta(seconds=30), usegmt=True)
    wait = retry_after_from({"retry-after": when})
    assert wait is not None and 28 <= wait <= 30
    assert retry_after_from({"retry-after": "2"}) == 2.0
    assert retry_after_from({"retry-after": "soon"}) is None


def test_rate_limit_headers_hold_the_limiter_before_429s():
    from datetime import UTC, datetime, timedelta

    limiter = RateLimiter()  # no limits of its own: only the server's headers hold it
    asyncio.run(limiter.acquire(500))

    def reset_in(seconds: float) -> str:
        return (datetime.now(UTC) + timedelta(seconds=seconds)).isoformat()

    observe_rate_limit_headers(
        limiter,
        {
            "anthropic-ratelimit-requests-remaining": "40",
            "anthropic-ratelimit-requests-reset": reset_in(0.5),
            "anthropic-ratelimit-input-tokens-remaining": "100000",
        },
    )
    assert limiter.server_holds == 0  # plenty left: no hold
    observe_rate_limit_headers(
        limiter,
        {
            # One request left and one call still in flight: the next call would meet a 429.
            "anthropic-ratelimit-requests-remaining": "1",
            "anthropic-ratelimit-requests-reset": reset_in(0.5),
        },
    )
    assert limiter.server_holds == 1
    assert asyncio.run(limiter.acquire(500)) >= 0.4  # held until the reset
    limiter.settle(500, 500)
    limiter.settle(500, 500)
    # Few tokens left for the size of a call: held too.
    observe_rate_limit_headers(
        limiter,
        {
            "anthropic-ratelimit-output-tokens-remaining": "100",
            "anthropic-ratelimit-output-tokens-reset": reset_in(0.3),
        },
    )
    assert limiter.server_holds == 2 and limiter.parameters()["server_holds"] == 2
    assert asyncio.run(limiter.acquire(500)) >= 0.2


@pytest.mark.slow
def test_parallel_episodes_under_a_low_tier_wait_instead_of_meeting_429s(
    make_fake_api: Any, kit: Any
):
    # 60 requests a minute, replenished continuously: 72 requests from 12 episodes at once
    # exhaust it. The limiter has no limits of its own; only the response headers slow it.
    url = make_fake_api(rate_limit_rpm=60)
    builder = builder_for(cfg_for(url, max_retries=0))

    async def main() -> list[Any]:
        try:
            return await asyncio.gather(
                *(
                    kit.play(
                        builder.for_episode(EpisodeContext(index=i, seed=i, env_id="S")),
                        kit.ScriptedEnv(steps=6, menu=MENU),
                    )
                    for i in range(12)
                )
            )
        finally:
            await builder.aclose()

    results = asyncio.run(main())
    assert all(len(r.decisions) == 6 for r in results)
    stats = fetch_json(url, "/_stats")
    assert stats["requests"] == 72 and "429" not in stats["by_status"]
    assert builder.limiter.server_holds > 0


def test_failed_attempts_keep_their_request_id(make_fake_api: Any, kit: Any, tmp_path: Path):
    url = make_fake_api(policy=script(tmp_path, [{"fault": "529"}, {"tool": "rest", "input": {}}]))
    builder = builder_for(cfg_for(url))
    env = kit.ScriptedEnv(steps=1, kinds=[ActionKind.REST])
    result = asyncio.run(play(builder, kit, env))
    (decision,) = result.decisions
    assert decision.meta["errors"] == ["overloaded_error"]
    (failed,) = decision.meta["failed_request_ids"]
    assert failed.startswith("req_") and failed not in decision.meta["request_ids"]
