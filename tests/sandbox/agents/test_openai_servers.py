"""The OpenAI-compatible adapter against servers as they really are.

Errors are the real SDK's exceptions: a loopback server answers with the status and body that
vLLM, llama.cpp's llama-server and Ollama send (their sources: vLLM
``entrypoints/openai/serving_chat.py`` and ``create_error_response``; llama.cpp
``oaicompat_chat_params_parse``, whose ``std::runtime_error`` the server answers as a 500
``server_error``; Ollama's ``... does not support tools``), and the ``openai`` SDK turns it into
the exception that :meth:`OpenAIChatAdapter.classify` reads.
"""

from __future__ import annotations

import importlib.util
import json
import threading
from collections.abc import Callable, Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import pytest

from environments.core import ActionKind
from sandbox.agents.tools import menu_letters, parse_text_answer, tool_specs
from sandbox.config import OpenAICompatAgentConfig

pytestmark = pytest.mark.skipif(
    importlib.util.find_spec("openai") is None,
    reason="the openai package is not installed (pip install 'welfare-sandbox[openai]')",
)

VLLM_AUTO = '"auto" tool choice requires --enable-auto-tool-choice and --tool-call-parser to be set'
VLLM_REQUIRED = 'tool_choice="required" requires --tool-call-parser to be set'
VLLM_OLD_REQUIRED = 'tool_choice = "required" is not supported!'
LLAMACPP = "tools param requires --jinja flag"
OLLAMA = "registry.ollama.ai/library/gemma3:1b does not support tools"


def vllm_body(message: str, wrapped: bool = True) -> dict[str, Any]:
    """vLLM's ErrorResponse: wrapped in ``error`` in newer versions, flat in older ones."""
    error = {"message": message, "type": "BadRequestError", "param": None, "code": 400}
    return {"error": error} if wrapped else {"object": "error", **error}


@pytest.fixture
def answering() -> Iterator[Callable[[int, dict[str, Any]], str]]:
    """Start loopback servers that answer every POST with one status and JSON body."""
    servers: list[ThreadingHTTPServer] = []

    def start(status: int, body: dict[str, Any]) -> str:
        payload = json.dumps(body).encode()

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                self.rfile.read(int(self.headers.get("content-length") or 0))
                self.send_response(status)
                self.send_header("content-type", "application/json")
                self.send_header("content-length", str(len(payload)))
                self.end_headers()
                self.wfile.write(payload)

            def log_message(self, format: str, *args: Any) -> None:
                return None

        server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        threading.Thread(target=server.serve_forever, args=(0.02,), daemon=True).start()
        servers.append(server)
        return f"http://127.0.0.1:{server.server_address[1]}/v1"

    yield start
    for server in servers:
        server.shutdown()
        server.server_close()


def sdk_error(url: str) -> BaseException:
    """The exception the real SDK raises for the server's answer to a tool request."""
    import openai

    client = openai.OpenAI(api_key="not-needed", base_url=url, max_retries=0, timeout=5.0)
    try:
        client.chat.completions.create(
            model="m",
            messages=[{"role": "user", "content": "hi"}],
            tools=[{"type": "function", "function": {"name": "rest", "parameters": {}}}],
            tool_choice="auto",
        )
    except openai.APIError as exc:
        return exc
    finally:
        client.close()
    raise AssertionError("the server was expected to answer with an error")


def adapter() -> Any:
    from sandbox.agents.openai_compat import OpenAIChatAdapter

    return OpenAIChatAdapter()


@pytest.mark.parametrize(
    ("status", "body"),
    [
        (400, vllm_body(VLLM_AUTO)),
        (400, vllm_body(VLLM_AUTO, wrapped=False)),
        (400, vllm_body(VLLM_REQUIRED)),
        (500, {"error": {"code": 500, "message": LLAMACPP, "type": "server_error"}}),
        (400, {"error": {"message": OLLAMA, "type": "api_error", "param": None, "code": None}}),
    ],
    ids=["vllm-auto", "vllm-auto-old-shape", "vllm-required", "llamacpp-no-jinja", "ollama"],
)
def test_a_server_without_tools_is_recognised_and_not_retried(answering, status, body):
    failure = adapter().classify(sdk_error(answering(status, body)))
    assert failure.status == status
    assert failure.rejects_tools is True
    assert failure.retryable is False  # llama.cpp's 500 used to be retried max_retries times
    assert failure.rejects_forced_tool_choice is False
    assert failure.message == (body.get("error") or body)["message"]


def test_a_rejected_forced_choice_alone_falls_back_to_auto_first(answering):
    failure = adapter().classify(sdk_error(answering(400, vllm_body(VLLM_OLD_REQUIRED))))
    assert failure.rejects_forced_tool_choice is True and failure.rejects_tools is False


@pytest.mark.parametrize(
    ("status", "message", "retryable"),
    [
        (500, "llama_decode failed", True),
        (503, "Loading model", True),
        (400, "This model's maximum context length is 4096 tokens", False),
    ],
)
def test_other_errors_keep_their_meaning(answering, status, message, retryable):
    body = {"error": {"message": message, "type": "server_error", "code": status}}
    failure = adapter().classify(sdk_error(answering(status, body)))
    assert failure.rejects_tools is False and failure.rejects_forced_tool_choice is False
    assert failure.retryable is retryable


MENU = ["A) Sort a list of numbers", "B) Write a poem", "", "D) Proofread a letter"]
KINDS = [ActionKind.TASK, ActionKind.REST, ActionKind.REFUSE, ActionKind.EXIT, ActionKind.DONE]


def history() -> list[dict[str, Any]]:
    """A conversation that already holds a tool call and its result (a mid-episode switch)."""
    call = {"id": "c1", "type": "function", "function": {"name": "rest", "arguments": "{}"}}
    return [
        {"role": "system", "content": "You are in a study."},
        {"role": "user", "content": "Morning. A) ... B) ..."},
        {"role": "assistant", "content": None, "tool_calls": [call]},
        {"role": "tool", "tool_call_id": "c1", "content": "You rested. Next menu."},
    ]


def test_text_mode_sends_no_tools_and_asks_for_a_readable_answer():
    cfg = OpenAICompatAgentConfig(model="m", base_url="http://127.0.0.1:1/v1")
    letters = menu_letters(MENU)
    specs = tool_specs(KINDS, letters)
    messages = history()
    request, markers = adapter().build_request(
        cfg=cfg, system="", specs=specs, mode="text", messages=messages, caching=False
    )
    assert "tools" not in request and "tool_choice" not in request and markers == []
    sent = request["messages"]
    # No tool turns (a server without tool support cannot template them), roles alternate.
    assert [m["role"] for m in sent] == ["system", "user", "assistant", "user"]
    assert all(set(m) == {"role", "content"} and isinstance(m["content"], str) for m in sent)
    assert "rest" in sent[2]["content"]
    assert sent[3]["content"].startswith("You rested. Next menu.")
    for line in ("TAKE A", "REST", "REFUSE A because ...", "LEAVE", "DONE"):
        assert f"- {line}: " in sent[3]["content"]
    assert messages == history()  # the conversation itself is not changed
    # An answer in the form asked for is read as the action it names.
    action = parse_text_answer("I would like this one.\nTAKE D", KINDS, letters)
    assert action is not None and (action.kind, action.target) == (ActionKind.TASK, 3)


def test_tool_modes_still_send_tools():
    cfg = OpenAICompatAgentConfig(model="m", base_url="http://127.0.0.1:1/v1")
    specs = tool_specs(KINDS, menu_letters(MENU))
    for mode, choice in (("any", "required"), ("auto", "auto")):
        request, _ = adapter().build_request(
            cfg=cfg, system="", specs=specs, mode=mode, messages=history(), caching=False
        )
        assert request["tool_choice"] == choice and len(request["tools"]) == len(specs)
        assert request["messages"] == history()


def completion(message: dict[str, Any], finish: str, usage: bool = True) -> dict[str, Any]:
    data: dict[str, Any] = {
        "id": "chatcmpl-1",
        "object": "chat.completion",
        "created": 0,
        "model": "m",
        "choices": [{"index": 0, "message": message, "finish_reason": finish}],
    }
    if usage:
        data["usage"] = {"prompt_tokens": 10, "completion_tokens": 2, "total_tokens": 12}
    return data


def test_a_response_without_usage_is_unreported_not_zero():
    reply = adapter().parse(completion({"role": "assistant", "content": "REST"}, "stop", False))
    assert reply.usage_reported is False
    reported = adapter().parse(completion({"role": "assistant", "content": "REST"}, "stop"))
    assert reported.usage_reported is True and reported.usage.input_tokens == 10


@pytest.mark.parametrize(
    ("message", "finish", "stop"),
    [
        # OpenAI: a refusal string on the message, finish_reason "stop", no content.
        ({"role": "assistant", "content": None, "refusal": "I can't help."}, "stop", "refusal"),
        # "content_filter": content omitted by a content filter.
        ({"role": "assistant", "content": None}, "content_filter", "refusal"),
        ({"role": "assistant", "content": "Let me think"}, "length", "max_tokens"),
    ],
)
def test_refusals_and_truncations_are_read_as_such(message, finish, stop):
    assert adapter().parse(completion(message, finish)).stop_reason == stop
