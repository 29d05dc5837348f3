"""The loopback fake Messages API: shapes, auth, policies, faults, prompt-cache usage, load."""

from __future__ import annotations

import asyncio
import json
import subprocess
import sys
import time
from pathlib import Path
from typing import Any
from urllib.error import HTTPError
from urllib.request import Request, urlopen

import pytest
from anthropic._constants import ANTHROPIC_API_VERSION

from sandbox.llm.fake_server import (
    FakeOptions,
    FakeState,
    fake_input,
    fetch_json,
    load_script,
    start_in_thread,
)

REPO = Path(__file__).resolve().parents[3]
TOOLS = [
    {
        "name": "take_task",
        "description": "Take a task.",
        "input_schema": {
            "type": "object",
            "properties": {"option": {"type": "string", "enum": ["A", "B", "D"]}},
            "required": ["option"],
        },
    },
    {
        "name": "report_wellbeing",
        "description": "Rate.",
        "input_schema": {
            "type": "object",
            "properties": {
                "rating": {"type": "integer", "minimum": 1, "maximum": 7},
                "note": {"type": "string"},
            },
            "required": ["rating"],
        },
    },
    {
        "name": "refuse",
        "description": "Decline.",
        "input_schema": {
            "type": "object",
            "properties": {
                "option": {"type": "string", "enum": ["A", "B", "D"]},
                "reason": {"type": "string"},
            },
            "required": ["option", "reason"],
        },
    },
]


def post(
    url: str, body: Any, headers: dict[str, str] | None = None
) -> tuple[int, dict[str, str], Any]:
    data = json.dumps(body).encode() if not isinstance(body, bytes) else body
    request = Request(
        url,
        data=data,
        method="POST",
        headers={
            "content-type": "application/json",
            "anthropic-version": ANTHROPIC_API_VERSION,
            **(headers or {}),
        },
    )
    try:
        with urlopen(request, timeout=10) as response:
            return response.status, dict(response.headers), response.read()
    except HTTPError as error:
        return error.code, dict(error.headers), error.read()


def body(**changes: Any) -> dict[str, Any]:
    return {
        "model": "claude-haiku-4-5",
        "max_tokens": 100,
        "messages": [{"role": "user", "content": "Pick one."}],
        "tools": TOOLS,
        "tool_choice": {"type": "any"},
        **changes,
    }


AUTH = {"authorization": "Bearer k"}


def test_missing_credentials_get_a_401_in_the_api_shape(fake_api: str):
    status, _, raw = post(fake_api + "/v1/messages", body())
    assert status == 401
    error = json.loads(raw)
    assert error["type"] == "error" and error["error"]["type"] == "authentication_error"
    for headers in ({"x-api-key": "k"}, AUTH):
        assert post(fake_api + "/v1/messages", body(), headers)[0] == 200


def test_answers_are_valid_for_the_schemas(fake_api: str):
    seen: set[str] = set()
    for i in range(40):
        messages = [{"role": "user", "content": f"Pick one ({i})."}]
        status, headers, raw = post(fake_api + "/v1/messages", body(messages=messages), AUTH)
        assert status == 200 and headers["request-id"].startswith("req_")
        message = json.loads(raw)
        assert message["type"] == "message" and message["stop_reason"] == "tool_use"
        (block,) = message["content"]
        seen.add(block["name"])
        args = block["input"]
        if block["name"] in ("take_task", "refuse"):
            assert args["option"] in ("A", "B", "D")
        if block["name"] == "refuse":
            assert isinstance(args["reason"], str) and args["reason"]
        if block["name"] == "report_wellbeing":
            assert isinstance(args["rating"], int) and 1 <= args["rating"] <= 7
    assert seen == {"take_task", "report_wellbeing", "refuse"}


def test_same_request_same_answer_and_forced_tool(fake_api: str):
    a = json.loads(post(fake_api + "/v1/messages", body(), AUTH)[2])
    b = json.loads(post(fake_api + "/v1/messages", body(), AUTH)[2])
    assert a["content"] == b["content"]
    forced = body(tool_choice={"type": "tool", "name": "refuse"})
    assert (
        json.loads(post(fake_api + "/v1/messages", forced, AUTH)[2])["content"][0]["name"]
        == "refuse"
    )
    none = body(tool_choice={"type": "none"})
    assert (
        json.loads(post(fake_api + "/v1/messages", none, AUTH)[2])["content"][0]["type"] == "text"
    )


def test_first_policy(make_fake_api: Any):
    url = make_fake_api(policy="first")
    message = json.loads(post(url + "/v1/messages", body(), AUTH)[2])
    assert message["content"][0]["name"] == "take_task"
    assert message["content"][0]["input"] == {"option": "A"}


@pytest.mark.parametrize("suffix", ["json", "yaml"])
def test_scripted_policy_cycles(make_fake_api: Any, tmp_path: Path, suffix: str):
    entries = [
        {"tool": "refuse", "input": {"option": "B", "reason": "no"}},
        {"text": "I choose A."},
    ]
    path = tmp_path / f"script.{suffix}"
    if suffix == "json":
        path.write_text(json.dumps(entries))
    else:
        import yaml

        path.write_text(yaml.safe_dump(entries))
    url = make_fake_api(policy=f"scripted:{path}")
    got = [json.loads(post(url + "/v1/messages", body(), AUTH)[2])["content"][0] for _ in range(3)]
    assert got[0]["name"] == "refuse" and got[0]["input"] == {"option": "B", "reason": "no"}
    assert got[1] == {"type": "text", "text": "I choose A."}
    assert got[2]["name"] == "refuse"


def test_bad_scripts_and_options_are_refused(tmp_path: Path):
    path = tmp_path / "bad.json"
    path.write_text(json.dumps([{"nothing": 1}]))
    with pytest.raises(ValueError, match="none of tool, text, fault"):
        load_script(str(path))
    with pytest.raises(ValueError, match="unknown fault"):
        FakeOptions(faults=("404",))
    with pytest.raises(ValueError, match="policy"):
        FakeOptions(policy="clever")


@pytest.mark.parametrize(
    ("fault", "status", "error_type"),
    [("429", 429, "rate_limit_error"), ("529", 529, "overloaded_error"), ("500", 500, "api_error")],
)
def test_error_faults_use_the_api_error_shape(
    make_fake_api: Any, fault: str, status: int, error_type: str
):
    url = make_fake_api(faults=fault, fault_rate=1.0, retry_after_s=7)
    code, headers, raw = post(url + "/v1/messages", body(), AUTH)
    assert code == status
    assert json.loads(raw) == {
        "type": "error",
        "error": {"type": error_type, "message": json.loads(raw)["error"]["message"]},
        "request_id": headers["request-id"],
    }
    if status == 429:
        assert headers["retry-after"] == "7"


def test_answer_shaping_faults(make_fake_api: Any):
    url = make_fake_api(faults="refusal", fault_rate=1.0)
    message = json.loads(post(url + "/v1/messages", body(), AUTH)[2])
    assert message["stop_reason"] == "refusal" and message["content"] == []
    url = make_fake_api(faults="max_tokens", fault_rate=1.0)
    message = json.loads(post(url + "/v1/messages", body(), AUTH)[2])
    assert message["stop_reason"] == "max_tokens" and message["usage"]["output_tokens"] == 100
    url = make_fake_api(faults="text_only", fault_rate=1.0)
    message = json.loads(post(url + "/v1/messages", body(), AUTH)[2])
    assert message["stop_reason"] == "end_turn" and message["content"][0]["type"] == "text"
    url = make_fake_api(faults="malformed", fault_rate=1.0)
    status, _, raw = post(url + "/v1/messages", body(), AUTH)
    assert status == 200
    with pytest.raises(json.JSONDecodeError):
        json.loads(raw)


def test_reject_forced_tool_choice_is_not_random(make_fake_api: Any):
    url = make_fake_api(faults="reject_forced_tool_choice")
    for choice in ({"type": "any"}, {"type": "tool", "name": "refuse"}):
        status, _, raw = post(url + "/v1/messages", body(tool_choice=choice), AUTH)
        error = json.loads(raw)["error"]
        assert (
            status == 400
            and error["type"] == "invalid_request_error"
            and "tool_choice" in error["message"]
        )
    assert post(url + "/v1/messages", body(tool_choice={"type": "auto"}), AUTH)[0] == 200
    status, _, raw = post(
        url + "/v1/chat/completions",
        {"model": "m", "messages": [{"role": "user", "content": "hi"}], "tool_choice": "required"},
        AUTH,
    )
    assert status == 400 and "tool_choice" in json.loads(raw)["error"]["message"]


def test_prompt_cache_usage():
    state = FakeState(FakeOptions(min_cache_tokens=0))
    tools = [(f"tool{i}" * 40, i == 2) for i in range(3)]
    first = [*tools, ("user:" + "x" * 400, True)]
    inp, creation, read, _ = state.cache_usage(first)
    assert read == 0 and creation > 0 and inp == 0
    second = [
        *first[:-1],
        ("user:" + "x" * 400, False),
        ("assistant:" + "y" * 200, False),
        ("user:" + "z" * 400, True),
    ]
    inp2, creation2, read2, _ = state.cache_usage(second)
    total = sum(max(1, len(t) // 4) for t, _ in second)
    assert read2 == creation and creation2 == total - read2 and inp2 == 0
    # Without a breakpoint nothing is cached.
    assert state.cache_usage([(t, False) for t, _ in second]) == (total, 0, 0, 0)
    # A changed tool list invalidates the prefix.
    changed = [("other" * 40, False), *second[1:]]
    assert state.cache_usage(changed)[2] == 0
    # The minimum cacheable length is honoured.
    tiny = FakeState(FakeOptions(min_cache_tokens=10**6))
    assert tiny.cache_usage(first) == (sum(max(1, len(t) // 4) for t, _ in first), 0, 0, 0)


def test_count_tokens_and_stats(fake_api: str):
    status, _, raw = post(
        fake_api + "/v1/messages/count_tokens",
        {"model": "claude-haiku-4-5", "messages": body()["messages"], "tools": TOOLS},
        AUTH,
    )
    assert status == 200 and json.loads(raw)["input_tokens"] > 10
    post(fake_api + "/v1/messages", body(), AUTH)
    stats = fetch_json(fake_api, "/_stats")
    assert stats["requests"] == 2
    assert stats["by_path"] == {"/v1/messages/count_tokens": 1, "/v1/messages": 1}
    requests = fetch_json(fake_api, "/_requests")["requests"]
    assert [r["path"] for r in requests] == ["/v1/messages/count_tokens", "/v1/messages"]
    fetch_json(fake_api, "/_reset", method="POST")
    assert fetch_json(fake_api, "/_stats")["requests"] == 0


def test_fake_input_covers_schema_types():
    import random

    schema = {
        "type": "object",
        "properties": {
            "n": {"type": "integer", "minimum": 3, "maximum": 4},
            "x": {"type": "number", "minimum": 0, "maximum": 1},
            "flag": {"type": "boolean"},
            "items": {"type": "array"},
            "nested": {
                "type": "object",
                "properties": {"e": {"enum": ["p", "q"]}},
                "required": ["e"],
            },
            "text": {"type": "string"},
        },
        "required": ["n", "x", "flag", "items", "nested", "text"],
    }
    value = fake_input(schema, random.Random(0), first=False)
    assert value["n"] in (3, 4) and 0 <= value["x"] <= 1 and isinstance(value["flag"], bool)
    assert value["items"] == [] and value["nested"]["e"] in ("p", "q") and value["text"]
    assert fake_input(schema, random.Random(0), first=True)["n"] == 3


def test_64_concurrent_connections_with_latency(make_fake_api: Any):
    import anthropic

    url = make_fake_api(latency_ms=200)

    async def main() -> float:
        client = anthropic.AsyncAnthropic(api_key="k", base_url=url, max_retries=0)
        await client.messages.create(**body())  # warm-up: the SDK's first call imports a lot
        start = time.perf_counter()
        try:
            await asyncio.gather(
                *(
                    client.messages.create(**body(messages=[{"role": "user", "content": str(i)}]))
                    for i in range(64)
                )
            )
        finally:
            await client.close()
        return time.perf_counter() - start

    elapsed = asyncio.run(main())
    # Served in parallel: about one latency, far from 64 of them.
    assert elapsed < 2.0, elapsed
    assert fetch_json(url, "/_stats")["by_status"]["200"] == 65


def test_timeout_fault_holds_then_drops(make_fake_api: Any):
    import anthropic

    url = make_fake_api(faults="timeout", fault_rate=1.0, hang_s=5)

    async def main() -> None:
        client = anthropic.AsyncAnthropic(api_key="k", base_url=url, max_retries=0, timeout=0.3)
        try:
            await client.messages.create(**body())
        finally:
            await client.close()

    with pytest.raises(anthropic.APITimeoutError):
        asyncio.run(main())


def test_module_runs_as_a_program():
    process = subprocess.Popen(
        [sys.executable, "-m", "sandbox.llm.fake_server", "--port", "0", "--seed", "1"],
        cwd=REPO,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env={"PYTHONPATH": str(REPO), "PATH": "/usr/bin:/bin"},
    )
    try:
        assert process.stdout is not None
        line = process.stdout.readline()
        assert "listening on http://127.0.0.1:" in line
        url = line.strip().rsplit(" ", 1)[-1]
        assert post(url + "/v1/messages", body(), AUTH)[0] == 200
    finally:
        process.terminate()
        process.communicate(timeout=10)


def test_start_in_thread_binds_loopback_only():
    url, stop = start_in_thread()
    try:
        assert url.startswith("http://127.0.0.1:")
    finally:
        stop()
