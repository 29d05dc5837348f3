"""The fake Messages API refuses what the real one refuses, through the real ``anthropic`` SDK.

Each test sends one request that breaks one rule of the Messages API (docs: Messages, tool use,
prompt caching, extended thinking, versioning, errors) and checks the status, the error type and
the message, as a client would see them.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any
from urllib.error import HTTPError
from urllib.request import Request, urlopen

import anthropic
import pytest

from sandbox.llm.fake_server import fetch_json, start_in_thread

MODEL = "claude-haiku-4-5"
TOOLS: list[dict[str, Any]] = [
    {
        "name": "take_task",
        "description": "Take a task.",
        "input_schema": {
            "type": "object",
            "properties": {"option": {"type": "string", "enum": ["A", "B"]}},
            "required": ["option"],
        },
    },
    {
        "name": "rest",
        "description": "Rest.",
        "input_schema": {"type": "object", "properties": {}},
    },
]
CALL = {"type": "tool_use", "id": "toolu_01", "name": "take_task", "input": {"option": "A"}}
RESULT = {"type": "tool_result", "tool_use_id": "toolu_01", "content": "You did task A."}


@pytest.fixture(scope="module")
def url() -> Iterator[str]:
    base, stop = start_in_thread()
    try:
        yield base
    finally:
        stop()


def client(url: str, **kwargs: Any) -> anthropic.Anthropic:
    return anthropic.Anthropic(api_key="k", base_url=url, max_retries=0, **kwargs)


def request(**changes: Any) -> dict[str, Any]:
    out: dict[str, Any] = {
        "model": MODEL,
        "max_tokens": 200,
        "messages": [{"role": "user", "content": "Pick one."}],
        "tools": TOOLS,
        "tool_choice": {"type": "any"},
    }
    out.update(changes)
    return {k: v for k, v in out.items() if v is not None}


def history(*later: dict[str, Any]) -> list[dict[str, Any]]:
    """A first turn, the model's call, then ``later`` messages."""
    return [
        {"role": "user", "content": "Pick one."},
        {"role": "assistant", "content": [CALL]},
        *later,
    ]


def rejected(url: str, *, sdk: anthropic.Anthropic | None = None, **kwargs: Any) -> str:
    """Send a request that must get a 400 invalid_request_error; its message."""
    with pytest.raises(anthropic.BadRequestError) as info:
        (sdk or client(url)).messages.create(**kwargs)
    error = info.value
    assert error.status_code == 400
    assert isinstance(error.body, dict)
    assert error.body["type"] == "error"
    assert error.body["error"]["type"] == "invalid_request_error"
    assert error.request_id and error.body["request_id"] == error.request_id
    return str(error.body["error"]["message"])


def ok(url: str, *, sdk: anthropic.Anthropic | None = None, **kwargs: Any) -> Any:
    return (sdk or client(url)).messages.create(**kwargs)


# -- models and limits ---------------------------------------------------------------------------


@pytest.mark.parametrize("model", ["claude-opus-9", "claude-sonnet-4-5", "claude-3-5-haiku"])
def test_unknown_or_retired_model_is_a_404_not_found_error(url: str, model: str):
    with pytest.raises(anthropic.NotFoundError) as info:
        client(url).messages.create(**request(model=model))
    assert info.value.status_code == 404
    assert isinstance(info.value.body, dict)
    assert info.value.body["error"] == {"type": "not_found_error", "message": f"model: {model}"}


def test_max_tokens_above_the_models_limit(url: str):
    # The SDK insists on streaming for large max_tokens, as a real client must.
    message = rejected(url, **request(max_tokens=64_001, stream=True))
    assert message == (
        "max_tokens: 64001 > 64000, which is the maximum allowed number of output tokens for "
        "claude-haiku-4-5"
    )
    events = list(ok(url, **request(max_tokens=64_000, stream=True)))
    assert events[-1].type == "message_stop"
    # A model with a larger limit takes it.
    assert list(ok(url, **request(model="claude-sonnet-5", max_tokens=128_000, stream=True)))


def test_missing_max_tokens_and_unknown_top_level_fields(url: str):
    raw = dict(request())
    raw.pop("max_tokens")
    assert rejected(url, **raw, max_tokens=100, extra_body={"frobnicate": 1}) == (
        "frobnicate: Extra inputs are not permitted"
    )


def test_count_tokens_is_held_to_the_same_rules(url: str):
    with pytest.raises(anthropic.NotFoundError):
        client(url).messages.count_tokens(
            model="claude-opus-4-1", messages=[{"role": "user", "content": "hi"}]
        )
    with pytest.raises(anthropic.BadRequestError):
        client(url).messages.count_tokens(model=MODEL, messages=[{"role": "user", "content": ""}])
    counted = client(url).messages.count_tokens(
        model=MODEL,
        messages=[{"role": "user", "content": "hi"}],
        tools=TOOLS,  # type: ignore[arg-type]
    )
    assert counted.input_tokens > 10


def test_the_anthropic_version_header_is_required(url: str):
    body = json.dumps(request()).encode()
    raw = Request(
        url + "/v1/messages",
        data=body,
        method="POST",
        headers={"content-type": "application/json", "x-api-key": "k"},
    )
    with pytest.raises(HTTPError) as info:
        urlopen(raw, timeout=10)
    assert info.value.code == 400
    assert json.loads(info.value.read())["error"]["message"] == (
        "anthropic-version: header is required"
    )


# -- sampling fields by API version and model -------------------------------------------------


def test_the_sdks_api_version_rejects_sampling_fields_even_at_defaults(url: str):
    for name, value in (("temperature", 1.0), ("top_p", 0.9), ("top_k", 5)):
        assert rejected(url, **request(), extra_body={name: value}) == (
            f"{name}: Extra inputs are not permitted"
        )


def test_the_old_api_version_allows_sampling_except_on_models_that_removed_it(url: str):
    old = client(url, default_headers={"anthropic-version": "2023-06-01"})
    assert ok(url, sdk=old, **request(), extra_body={"temperature": 0.3}).content
    message = rejected(
        url, sdk=old, **request(model="claude-opus-4-7"), extra_body={"temperature": 0.3}
    )
    assert message.startswith("temperature: sampling parameters are not supported for claude-opus")
    # The default value is still accepted there.
    assert ok(url, sdk=old, **request(model="claude-opus-4-7"), extra_body={"temperature": 1.0})


# -- turns and content ---------------------------------------------------------------------------


def test_first_message_must_be_user(url: str):
    messages = [{"role": "assistant", "content": "Hi."}, {"role": "user", "content": "Pick."}]
    assert rejected(url, **request(messages=messages)) == (
        'messages: first message must use the "user" role'
    )


def test_consecutive_user_turns_are_merged_and_counted(make_fake_api: Any):
    base = make_fake_api()
    messages = [{"role": "user", "content": "Hello."}, {"role": "user", "content": "Pick one."}]
    assert ok(base, **request(messages=messages)).stop_reason == "tool_use"
    assert fetch_json(base, "/_stats")["notes"] == {"merged_turns": 1}


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("", "text content blocks must be non-empty"),
        ("\n\n", "text content blocks must contain non-whitespace text"),
        ("  ", "text content blocks must contain non-whitespace text"),
    ],
)
def test_empty_or_whitespace_text_blocks_are_rejected(url: str, text: str, expected: str):
    # The real failure: a model answered "\n\n", and the client sent that back as its turn.
    messages = [
        {"role": "user", "content": "Pick one."},
        {"role": "assistant", "content": [{"type": "text", "text": text}]},
        {"role": "user", "content": "Please pick one."},
    ]
    assert rejected(url, **request(messages=messages)) == f"messages.1.content.0: {expected}"
    system = [{"type": "text", "text": text}]
    assert rejected(url, **request(system=system)) == f"system.0: {expected}"


def test_empty_user_content_is_rejected(url: str):
    message = rejected(url, **request(messages=[{"role": "user", "content": []}]))
    assert message == (
        "messages.0: all messages must have non-empty content except for the optional final "
        "assistant message"
    )


# -- tool use ------------------------------------------------------------------------------------


def test_tool_use_must_be_answered_in_the_next_turn(url: str):
    message = rejected(url, **request(messages=history({"role": "user", "content": "Go on."})))
    assert message == (
        "messages.1: `tool_use` ids were found without `tool_result` blocks immediately after: "
        "toolu_01. Each `tool_use` block must have a corresponding `tool_result` block in the "
        "next message."
    )


def test_tool_results_come_first_in_the_user_turn(url: str):
    late = {"role": "user", "content": [{"type": "text", "text": "Here:"}, RESULT]}
    assert rejected(url, **request(messages=history(late))) == (
        "messages.2: Did not find 1 tool_result block(s) at the beginning of this message. "
        "Messages following tool_use blocks must begin with a matching number of tool_result "
        "blocks."
    )
    first = {"role": "user", "content": [RESULT, {"type": "text", "text": "Next hour."}]}
    assert ok(url, **request(messages=history(first))).content


def test_tool_result_ids_must_match_a_call(url: str):
    wrong = {"role": "user", "content": [{**RESULT, "tool_use_id": "toolu_99"}]}
    assert rejected(url, **request(messages=history(wrong))).startswith(
        "messages.2.content.0: unexpected `tool_use_id` found in `tool_result` blocks: toolu_99."
    )
    orphan = [{"role": "user", "content": [RESULT]}]
    assert "unexpected `tool_use_id`" in rejected(url, **request(messages=orphan))


def test_a_history_with_tool_blocks_must_define_tools(url: str):
    messages = history({"role": "user", "content": [RESULT]})
    assert rejected(url, **request(messages=messages, tools=None, tool_choice=None)) == (
        "Requests which include `tool_use` or `tool_result` blocks must define tools."
    )


@pytest.mark.parametrize("name", ["take task", "x" * 65, "", "tâche"])
def test_tool_names_follow_the_pattern(url: str, name: str):
    tools = [{**TOOLS[0], "name": name}]
    assert rejected(url, **request(tools=tools)) == (
        "tools.0.name: String should match pattern '^[a-zA-Z0-9_-]{1,64}$'"
    )
    assert ok(url, **request(tools=[{**TOOLS[0], "name": "a" * 64}])).content


def test_input_schemas_are_objects_and_names_unique(url: str):
    tools = [{**TOOLS[0], "input_schema": {"type": "array"}}]
    assert rejected(url, **request(tools=tools)) == (
        "tools.0.input_schema.type: Input should be 'object'"
    )
    assert (
        rejected(url, **request(tools=[TOOLS[0], TOOLS[0]])) == "tools: Tool names must be unique."
    )


def test_tool_choice_must_fit_the_tools(url: str):
    for choice in ({"type": "any"}, {"type": "tool", "name": "rest"}):
        assert rejected(url, **request(tools=None, tool_choice=choice)) == (
            "tool_choice: tool_choice may only be specified while providing tools."
        )
    assert rejected(url, **request(tool_choice={"type": "tool", "name": "leave"})) == (
        "tool_choice.tool.name: Tool 'leave' not found in tools"
    )


def test_models_that_refuse_forced_tool_choice(url: str):
    for choice in ({"type": "any"}, {"type": "tool", "name": "rest"}):
        message = rejected(url, **request(model="claude-sonnet-5-5", tool_choice=choice))
        assert message.startswith(f"tool_choice.type '{choice['type']}' is not supported")
    assert ok(url, **request(model="claude-sonnet-5-5", tool_choice={"type": "auto"})).content


def test_thinking_with_a_forced_tool_choice_is_rejected(url: str):
    thinking = {"type": "enabled", "budget_tokens": 1024}
    for choice in ({"type": "any"}, {"type": "tool", "name": "rest"}):
        assert rejected(url, **request(max_tokens=2000, thinking=thinking, tool_choice=choice)) == (
            "Thinking may not be enabled when tool_choice forces tool use."
        )
    auto = request(max_tokens=2000, thinking=thinking, tool_choice={"type": "auto"})
    assert ok(url, **auto).content
    assert "budget_tokens" in rejected(url, **{**auto, "max_tokens": 1000})


# -- cache_control -----------------------------------------------------------------------------


def test_at_most_four_cache_breakpoints(url: str):
    marked = {"type": "ephemeral"}
    tools = [{**TOOLS[0], "cache_control": marked}, {**TOOLS[1], "cache_control": marked}]
    system = [
        {"type": "text", "text": "Rules.", "cache_control": marked},
        {"type": "text", "text": "More rules.", "cache_control": marked},
    ]
    four = request(tools=tools, system=system)
    assert ok(url, **four).content
    messages = [
        {"role": "user", "content": [{"type": "text", "text": "Pick.", "cache_control": marked}]}
    ]
    assert rejected(url, **{**four, "messages": messages}) == (
        "A maximum of 4 blocks with cache_control may be provided. Found 5."
    )
    # The top-level (automatic) breakpoint takes one of the four.
    assert "Found 5." in rejected(url, **four, extra_body={"cache_control": marked})


def test_a_1h_breakpoint_may_not_follow_a_5m_one(url: str):
    system = [
        {"type": "text", "text": "Rules.", "cache_control": {"type": "ephemeral"}},
        {"type": "text", "text": "More.", "cache_control": {"type": "ephemeral", "ttl": "1h"}},
    ]
    assert "ttl='1h'" in rejected(url, **request(system=system))
    assert ok(url, **request(system=system[::-1])).content


# -- answers shaped like a real model's ---------------------------------------------------------


def test_no_text_before_the_call_under_a_forced_choice_and_some_under_auto(url: str):
    forced_text = auto_text = 0
    sdk = client(url)
    for i in range(24):
        messages = [{"role": "user", "content": f"Hour {i}: pick one."}]
        forced = ok(url, sdk=sdk, **request(messages=messages))
        forced_text += sum(b.type == "text" for b in forced.content)
        auto = ok(url, sdk=sdk, **request(messages=messages, tool_choice={"type": "auto"}))
        assert auto.content[-1].type == "tool_use"
        auto_text += auto.content[0].type == "text"
    assert forced_text == 0
    assert 4 < auto_text < 20


def test_a_blank_answer_sent_back_is_a_400(make_fake_api: Any):
    base = make_fake_api(faults="blank_text", fault_rate=1.0)
    answer = ok(base, **request(tool_choice={"type": "auto"}))
    assert answer.stop_reason == "end_turn"
    assert [b.model_dump() for b in answer.content] == [
        {"type": "text", "text": "\n\n", "citations": None}
    ]
    messages = [
        {"role": "user", "content": "Pick one."},
        {"role": "assistant", "content": [{"type": "text", "text": answer.content[0].text}]},
        {"role": "user", "content": "Please pick one."},
    ]
    message = rejected(base, **request(messages=messages))
    assert message.endswith("text content blocks must contain non-whitespace text")


def test_text_after_tool_results_brings_an_empty_end_turn_when_asked(make_fake_api: Any):
    base = make_fake_api(faults="text_after_tool_result")
    after = {"role": "user", "content": [RESULT, {"type": "text", "text": "Next hour."}]}
    answer = ok(base, **request(messages=history(after), tool_choice={"type": "auto"}))
    assert answer.stop_reason == "end_turn" and answer.content == []
    assert answer.usage.output_tokens <= 3
    only = {"role": "user", "content": [RESULT]}
    assert ok(base, **request(messages=history(only))).stop_reason == "tool_use"
    stats = fetch_json(base, "/_stats")
    assert stats["notes"]["text_after_tool_result"] == 1
    assert stats["faults"] == {"empty_turn": 1}


def test_refusal_and_max_tokens_answers(make_fake_api: Any):
    refusal = ok(make_fake_api(faults="refusal", fault_rate=1.0), **request())
    assert refusal.stop_reason == "refusal" and refusal.content == []
    truncated = ok(make_fake_api(faults="max_tokens", fault_rate=1.0), **request())
    assert truncated.stop_reason == "max_tokens" and truncated.usage.output_tokens == 200
    empty = ok(make_fake_api(faults="empty_turn", fault_rate=1.0), **request())
    assert empty.stop_reason == "end_turn" and empty.content == []


def test_models_without_prefill_or_a_disabled_thinking(url: str):
    prefill = [{"role": "user", "content": "Pick."}, {"role": "assistant", "content": "I pick"}]
    assert ok(url, **request(messages=prefill, tools=None, tool_choice=None)).content
    message = rejected(
        url, **request(model="claude-fable-5-2", messages=prefill, tools=None, tool_choice=None)
    )
    assert message.startswith("Prefilling assistant messages is not supported for claude-fable")
    disabled = request(model="claude-sonnet-5-5", tool_choice={"type": "auto"})
    assert '"thinking.type.disabled" is not supported' in rejected(
        url, **disabled, thinking={"type": "disabled"}
    )
    assert ok(url, **request(), thinking={"type": "disabled"}).content
