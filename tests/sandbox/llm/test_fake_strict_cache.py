"""The fake's prompt-cache accounting follows the prompt-caching docs, seen through the SDK.

A read needs a byte-identical prefix (tools, then system, then messages) up to a breakpoint, at
least the model's minimum cacheable length, within the 20-block lookback and the TTL; writes
are billed as ``cache_creation_input_tokens``; caches are per model.
"""

from __future__ import annotations

import asyncio
from typing import Any

import anthropic
import pytest

from sandbox.llm.fake_server import fetch_json

TOOLS: list[dict[str, Any]] = [
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
#: About 5,000 tokens at the fake's four characters a token: above every model's minimum.
LONG = "You are taking part in a study of how models choose among tasks. " * 300
#: About 2,000 tokens: above Opus 5's 512, below Haiku 4.5's 4,096.
MEDIUM = "Pick the task you like best, or rest, or leave when you wish to. " * 120


def sdk(url: str) -> anthropic.Anthropic:
    return anthropic.Anthropic(api_key="k", base_url=url, max_retries=0)


def ask(
    client: anthropic.Anthropic,
    *,
    system_text: str = LONG,
    ttl: str | None = None,
    model: str = "claude-haiku-4-5",
    user: str = "Hour 1.",
    tools: list[dict[str, Any]] = TOOLS,
    tool_choice: dict[str, Any] | None = None,
) -> Any:
    control: dict[str, Any] = {"type": "ephemeral"}
    if ttl:
        control["ttl"] = ttl
    response = client.messages.create(
        model=model,
        max_tokens=100,
        system=[{"type": "text", "text": system_text, "cache_control": control}],  # type: ignore[list-item]
        messages=[{"role": "user", "content": user}],
        tools=tools,  # type: ignore[arg-type]
        tool_choice=tool_choice or {"type": "any"},  # type: ignore[arg-type]
    )
    return response.usage


def advance(url: str, seconds: float) -> None:
    fetch_json(url, "/_clock", method="POST", payload={"advance_s": seconds})


def test_a_prefix_below_the_models_minimum_is_never_cached(make_fake_api: Any):
    url = make_fake_api()
    client = sdk(url)
    for _ in range(2):
        usage = ask(client, system_text=MEDIUM)  # Haiku 4.5: 4,096 minimum
        assert usage.cache_creation_input_tokens == 0 and usage.cache_read_input_tokens == 0
    # The same prompt caches on a model with a lower minimum (Opus 5: 512) ...
    first = ask(client, system_text=MEDIUM, model="claude-opus-5")
    second = ask(client, system_text=MEDIUM, model="claude-opus-5", user="Hour 2.")
    assert first.cache_creation_input_tokens > 500
    assert second.cache_read_input_tokens == first.cache_creation_input_tokens
    # ... and on Haiku when the minimum is overridden.
    client0 = sdk(make_fake_api(min_cache_tokens=0))
    ask(client0, system_text=MEDIUM)
    assert ask(client0, system_text=MEDIUM, user="Hour 2.").cache_read_input_tokens > 0


def test_identical_prefix_is_read_and_writes_are_billed(make_fake_api: Any):
    client = sdk(make_fake_api())
    first = ask(client)
    assert first.cache_read_input_tokens == 0 and first.cache_creation_input_tokens > 4096
    assert first.cache_creation.ephemeral_5m_input_tokens == first.cache_creation_input_tokens
    second = ask(client, user="Hour 2, a different question.")
    assert second.cache_read_input_tokens == first.cache_creation_input_tokens
    assert second.cache_creation_input_tokens == 0
    assert second.input_tokens > 0  # the new user turn, after the breakpoint


def test_entries_expire_after_their_ttl_and_reads_refresh_them(make_fake_api: Any):
    url = make_fake_api()
    client = sdk(url)
    written = ask(client).cache_creation_input_tokens
    advance(url, 200)
    assert ask(client).cache_read_input_tokens == written  # read at 200 s: refreshed
    advance(url, 200)
    assert (
        ask(client).cache_read_input_tokens == written
    )  # 400 s after the write, 200 after the read
    advance(url, 301)
    expired = ask(client)
    assert expired.cache_read_input_tokens == 0 and expired.cache_creation_input_tokens == written


def test_a_1h_entry_outlives_five_minutes_and_is_billed_as_such(make_fake_api: Any):
    url = make_fake_api()
    client = sdk(url)
    first = ask(client, ttl="1h")
    assert first.cache_creation.ephemeral_1h_input_tokens == first.cache_creation_input_tokens
    advance(url, 1800)
    assert ask(client, ttl="1h").cache_read_input_tokens == first.cache_creation_input_tokens
    advance(url, 3601)
    assert ask(client, ttl="1h").cache_read_input_tokens == 0


def test_changing_tools_invalidates_everything_and_tool_choice_the_messages(make_fake_api: Any):
    client = sdk(make_fake_api())
    written = ask(client).cache_creation_input_tokens
    other_tools = [{**TOOLS[0], "description": "Take one task."}]
    assert ask(client, tools=other_tools).cache_read_input_tokens == 0
    # The system breakpoint sits before the messages: tool_choice leaves it valid.
    assert ask(client, tool_choice={"type": "auto"}).cache_read_input_tokens == written


def test_caches_are_per_model(make_fake_api: Any):
    client = sdk(make_fake_api())
    ask(client)
    assert ask(client, model="claude-haiku-4-5-20251001").cache_read_input_tokens == 0


def _conversation(turns: int) -> list[dict[str, Any]]:
    messages: list[dict[str, Any]] = []
    for i in range(turns):
        messages.append({"role": "user", "content": [{"type": "text", "text": f"Hour {i}."}]})
        messages.append({"role": "assistant", "content": [{"type": "text", "text": f"Task {i}."}]})
    messages.append({"role": "user", "content": [{"type": "text", "text": "Next."}]})
    return messages


@pytest.mark.parametrize(("grown", "hit"), [(9, True), (11, False)])
def test_the_20_block_lookback(make_fake_api: Any, grown: int, hit: bool):
    """A breakpoint on the last message finds the earlier entry only within 20 blocks."""
    client = sdk(make_fake_api())

    def send(messages: list[dict[str, Any]]) -> Any:
        marked = [dict(m) for m in messages]
        last = dict(marked[-1]["content"][0], cache_control={"type": "ephemeral"})
        marked[-1] = {"role": "user", "content": [last]}
        return client.messages.create(
            model="claude-haiku-4-5",
            max_tokens=100,
            system=LONG,
            messages=marked,  # type: ignore[arg-type]
        ).usage

    start = _conversation(1)
    first = send(start)
    assert first.cache_creation_input_tokens > 4096
    # Keep the old turns byte-identical and grow by 2 blocks a turn: 9 turns put the old
    # breakpoint 18 blocks back, 11 turns 22.
    later = list(start)
    for i in range(grown):
        later.append({"role": "assistant", "content": [{"type": "text", "text": f"Ok {i}."}]})
        later.append({"role": "user", "content": [{"type": "text", "text": f"More {i}."}]})
    usage = send(later)
    assert (usage.cache_read_input_tokens > 0) is hit


def test_requests_sent_together_all_pay_for_the_prefix(make_fake_api: Any):
    """The docs: an entry is readable once the response that writes it has begun, so parallel
    requests with one new prefix all write it; a later one reads it."""
    url = make_fake_api(latency_ms=300)

    async def together() -> list[Any]:
        client = anthropic.AsyncAnthropic(api_key="k", base_url=url, max_retries=0)
        try:
            return list(
                await asyncio.gather(
                    *(
                        client.messages.create(
                            model="claude-haiku-4-5",
                            max_tokens=100,
                            system=[
                                {
                                    "type": "text",
                                    "text": LONG,
                                    "cache_control": {"type": "ephemeral"},
                                }
                            ],
                            messages=[{"role": "user", "content": f"Hour {i}."}],
                        )
                        for i in range(3)
                    )
                )
            )
        finally:
            await client.close()

    usages = [r.usage for r in asyncio.run(together())]
    assert all(u.cache_read_input_tokens == 0 for u in usages)
    assert all(u.cache_creation_input_tokens > 4096 for u in usages)
    later = sdk(url).messages.create(
        model="claude-haiku-4-5",
        max_tokens=100,
        system=[{"type": "text", "text": LONG, "cache_control": {"type": "ephemeral"}}],
        messages=[{"role": "user", "content": "Hour 9."}],
    )
    assert later.usage.cache_read_input_tokens == usages[0].cache_creation_input_tokens
