"""The fake chat-completions endpoint: strict like OpenAI's API, or like real local servers.

Through the real ``openai`` SDK: ``chat_mode="openai"`` refuses what OpenAI refuses;
``vllm_no_parser``, ``llamacpp_no_jinja`` and ``ollama`` behave like those servers started
without tool support (or, for Ollama, ignoring ``tool_choice``); ``chat_usage=False`` leaves
``usage`` out.
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

openai = pytest.importorskip("openai")

REPO = Path(__file__).resolve().parents[3]
TOOLS: list[dict[str, Any]] = [
    {
        "type": "function",
        "function": {
            "name": "take_task",
            "description": "Take a task.",
            "parameters": {
                "type": "object",
                "properties": {"option": {"type": "string", "enum": ["A", "B"]}},
                "required": ["option"],
            },
        },
    },
    {
        "type": "function",
        "function": {"name": "rest", "description": "Rest.", "parameters": {"type": "object"}},
    },
]
MENU = "Hour 1.\nA) Sort a list\nB) Write a poem\nPick one."
CALL = {
    "id": "call_01",
    "type": "function",
    "function": {"name": "take_task", "arguments": '{"option": "A"}'},
}


def sdk(url: str) -> Any:
    return openai.OpenAI(api_key="k", base_url=url + "/v1", max_retries=0)


def ask(url: str, client: Any = None, **changes: Any) -> Any:
    request: dict[str, Any] = {
        "model": "local-model",
        "messages": [{"role": "user", "content": MENU}],
        "tools": TOOLS,
        "tool_choice": "required",
    }
    request.update(changes)
    request = {k: v for k, v in request.items() if v is not None}
    return (client or sdk(url)).chat.completions.create(**request)


def refused(url: str, error: type, **changes: Any) -> Any:
    with pytest.raises(error) as info:
        ask(url, **changes)
    return info.value


# -- openai (the default) -----------------------------------------------------------------------


def test_openai_mode_answers_a_forced_choice_with_a_tool_call(make_fake_api: Any):
    answer = ask(make_fake_api())
    choice = answer.choices[0]
    assert choice.finish_reason == "tool_calls" and choice.message.content is None
    assert choice.message.tool_calls[0].function.name in ("take_task", "rest")
    assert answer.usage is not None and answer.usage.prompt_tokens > 0


def test_openai_mode_requires_tool_messages_for_every_call(make_fake_api: Any):
    url = make_fake_api()
    messages = [
        {"role": "user", "content": MENU},
        {"role": "assistant", "content": None, "tool_calls": [CALL]},
        {"role": "user", "content": "Next hour."},
    ]
    error = refused(url, openai.BadRequestError, messages=messages)
    assert error.status_code == 400
    assert error.body["message"] == (
        "An assistant message with 'tool_calls' must be followed by tool messages responding to "
        "each 'tool_call_id'. The following tool_call_ids did not have response messages: call_01"
    )
    answered = [
        *messages[:2],
        {"role": "tool", "tool_call_id": "call_01", "content": "You did task A."},
        messages[2],
    ]
    assert ask(url, messages=answered).choices[0].finish_reason == "tool_calls"


def test_openai_mode_refuses_a_tool_message_answering_nothing(make_fake_api: Any):
    messages = [
        {"role": "user", "content": MENU},
        {"role": "tool", "tool_call_id": "call_77", "content": "Done."},
    ]
    error = refused(make_fake_api(), openai.BadRequestError, messages=messages)
    assert "must be a response to a preceeding message with 'tool_calls'" in error.body["message"]


def test_openai_mode_tool_choice_must_fit_the_tools(make_fake_api: Any):
    url = make_fake_api()
    error = refused(url, openai.BadRequestError, tools=None)
    assert error.body["message"] == (
        "Invalid value for 'tool_choice': 'tool_choice' is only allowed when 'tools' are specified."
    )
    named = {"type": "function", "function": {"name": "leave"}}
    error = refused(url, openai.BadRequestError, tool_choice=named)
    assert "function 'leave' not found in 'tools'" in error.body["message"]
    bad_name = [{**TOOLS[0], "function": {**TOOLS[0]["function"], "name": "take task"}}]
    error = refused(url, openai.BadRequestError, tools=bad_name, tool_choice="auto")
    assert "does not match pattern" in error.body["message"]


def test_openai_mode_refuses_bad_roles_and_unknown_fields(make_fake_api: Any):
    url = make_fake_api()
    error = refused(url, openai.BadRequestError, messages=[{"role": "robot", "content": "hi"}])
    assert error.body["param"] == "messages[0].role"
    error = refused(url, openai.BadRequestError, extra_body={"top_k": 5})
    assert error.body["message"] == "Unrecognized request argument supplied: top_k"


# -- local servers --------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("choice", "message"),
    [
        (
            "auto",
            '"auto" tool choice requires --enable-auto-tool-choice and --tool-call-parser to be '
            "set",
        ),
        (None, '"auto" tool choice requires --enable-auto-tool-choice'),
        ("required", 'tool_choice="required" requires --tool-call-parser to be set'),
    ],
)
def test_vllm_without_a_parser_refuses_tool_choice(
    make_fake_api: Any, choice: str | None, message: str
):
    url = make_fake_api(chat_mode="vllm_no_parser")
    error = refused(url, openai.BadRequestError, tool_choice=choice)
    assert error.status_code == 400
    assert error.body["message"].startswith(message)
    assert error.body["type"] == "BadRequestError"


def test_vllm_without_a_parser_answers_plain_text_requests(make_fake_api: Any):
    url = make_fake_api(chat_mode="vllm_no_parser")
    answer = ask(url, tools=None, tool_choice=None)
    assert answer.choices[0].finish_reason == "stop"
    assert answer.choices[0].message.content in ("I choose A.", "I choose B.")
    # vLLM takes its sampling extras.
    assert ask(url, tools=None, tool_choice=None, extra_body={"top_k": 5}).choices


def test_text_answers_pick_an_action_the_prompt_offers(make_fake_api: Any):
    url = make_fake_api(chat_mode="llamacpp_no_jinja")
    client = sdk(url)
    prompt = (
        "Your task: write a poem.\nActions available now:\n- SUBMIT with your work as text: "
        "hand it in.\n- REFUSE with your reason as text: set it aside."
    )
    seen = set()
    for i in range(12):
        messages = [{"role": "user", "content": f"({i}) {prompt}"}]
        answer = ask(url, client, messages=messages, tools=None, tool_choice=None)
        content = answer.choices[0].message.content
        assert content.startswith(("SUBMIT:", "REFUSE ")), content
        seen.add(content.split()[0])
    assert seen == {"SUBMIT:", "REFUSE"}


def test_llamacpp_without_jinja_is_a_500_that_names_the_flag(make_fake_api: Any):
    url = make_fake_api(chat_mode="llamacpp_no_jinja")
    for choice in ("required", "auto", None):
        error = refused(url, openai.InternalServerError, tool_choice=choice)
        assert error.status_code == 500
        assert error.body["message"] == "tools param requires --jinja flag"
        assert error.body["type"] == "server_error"
    answer = ask(url, tools=None, tool_choice=None)
    assert answer.choices[0].message.content in ("I choose A.", "I choose B.")


def test_ollama_takes_tools_but_ignores_a_forced_choice(make_fake_api: Any):
    url = make_fake_api(chat_mode="ollama")
    client = sdk(url)
    words = calls = 0
    for i in range(24):
        messages = [{"role": "user", "content": f"{MENU} ({i})"}]
        choice = ask(url, client, messages=messages).choices[0]
        if choice.message.tool_calls:
            calls += 1
        else:
            words += 1
            assert choice.finish_reason == "stop" and choice.message.content
    assert words >= 3 and calls >= 3


def test_no_usage_leaves_usage_out(make_fake_api: Any):
    answer = ask(make_fake_api(chat_usage=False))
    assert answer.usage is None
    assert answer.choices[0].message.tool_calls


def test_bad_chat_mode_is_refused_and_the_cli_takes_the_flags():
    from sandbox.llm.fake_server import FakeOptions

    with pytest.raises(ValueError, match="chat_mode must be one of"):
        FakeOptions(chat_mode="tgi")
    process = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "sandbox.llm.fake_server",
            "--port",
            "0",
            "--chat-mode",
            "vllm_no_parser",
            "--no-usage",
        ],
        cwd=REPO,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env={"PYTHONPATH": str(REPO), "PATH": "/usr/bin:/bin"},
    )
    try:
        assert process.stdout is not None
        url = process.stdout.readline().strip().rsplit(" ", 1)[-1]
        with pytest.raises(openai.BadRequestError):
            ask(url, tool_choice="auto")
        assert ask(url, tools=None, tool_choice=None).usage is None
    finally:
        process.terminate()
        process.communicate(timeout=10)


def test_openai_mode_answers_malformed_types_with_a_400_not_a_dropped_connection(
    make_fake_api: Any,
):
    # Every field here is checked by OpenAI's schema before anything else; the fake used to
    # crash its handler thread on them, so a client saw a dropped connection and retried.
    url = make_fake_api(faults="max_tokens", fault_rate=1.0)
    err = refused(url, openai.BadRequestError, max_tokens="100")
    assert "Invalid type for 'max_tokens': expected an integer, but got a string" in str(err)
    err = refused(
        url,
        openai.BadRequestError,
        messages=[
            {"role": "user", "content": MENU},
            {"role": "assistant", "content": None, "tool_calls": "take_task"},
            {"role": "user", "content": "Again."},
        ],
    )
    assert "Invalid type for 'messages[1].tool_calls': expected an array" in str(err)
