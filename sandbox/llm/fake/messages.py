"""``POST /v1/messages``: the Messages API's answer, as JSON or as server-sent events.

Streamed answers follow the real event sequence: ``message_start``, ``content_block_start``,
``ping``, ``content_block_delta``, ``content_block_stop``, ``message_delta``, ``message_stop``.
Usage is plausible: about one token per four characters of JSON, with prompt caching accounted
as :mod:`sandbox.llm.fake.prompt_cache` describes.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any

from sandbox.llm.fake.answers import as_text, choose, fault_answer, with_preamble
from sandbox.llm.fake.endpoint import Endpoint
from sandbox.llm.fake.messages_rules import RequestRejected, check_messages_request
from sandbox.llm.fake.options import ANSWER_FAULTS
from sandbox.llm.fake.prompt_cache import canon, prompt_blocks


class MessagesEndpoint(Endpoint):
    """The Messages endpoint of a connection."""

    def _messages(self, body: dict[str, Any], text: str) -> None:
        state = self.state
        try:
            notes = check_messages_request(body, self._api_version())
        except RequestRejected as rejected:
            self._reject(rejected)
            return
        self._note(notes)
        tool_choice = body.get("tool_choice") or {"type": "auto"}
        choice_type = tool_choice.get("type")
        forced = choice_type in ("any", "tool")
        if self._rejected_forced_choice(
            forced,
            f"tool_choice.type '{choice_type}' is not supported for this model; use "
            'tool_choice {"type": "auto"}',
            openai=False,
        ):
            return
        tools = [t for t in body.get("tools") or [] if isinstance(t, Mapping)]
        # Streamed or not, the same request gets the same answer.
        seed_text = canon({k: v for k, v in body.items() if k != "stream"})
        answer = choose(
            state,
            tools,
            tool_choice.get("name") if choice_type == "tool" else None,
            choice_type != "none",
            seed_text,
        )
        if choice_type == "auto" and answer.fault is None:
            answer = with_preamble(state, answer, seed_text)
        fault = answer.fault or state.draw_fault()
        if (
            fault is None
            and "text_after_tool_result" in state.options.faults
            and notes["text_after_tool_result"]
        ):
            fault = "empty_turn"
        if fault is not None and self._play_transport_fault(fault, openai=False):
            return
        # text_only keeps the policy's answer, in words; the other answer faults replace it.
        answer = as_text(answer) if fault == "text_only" else fault_answer(fault) or answer
        if fault in ANSWER_FAULTS:
            self._fault_counted(fault)
        model = str(body["model"])
        usage = state.cache_usage(prompt_blocks(body), model=model, arrived=self.arrived)
        state.spend_input_tokens(usage.input_tokens + usage.cache_creation_input_tokens)
        output = min(int(body["max_tokens"]), max(1, len(canon(answer.content)) // 4 + 8))
        if answer.stop_reason == "max_tokens":
            output = int(body["max_tokens"])
        if not answer.content:
            output = min(int(body["max_tokens"]), 3)
        message: dict[str, Any] = {
            "id": f"msg_fake_{state.next_id():08d}",
            "type": "message",
            "role": "assistant",
            "model": model,
            "content": answer.content,
            "stop_reason": answer.stop_reason,
            "stop_sequence": None,
            "usage": {
                "input_tokens": usage.input_tokens,
                "output_tokens": output,
                "cache_creation_input_tokens": usage.cache_creation_input_tokens,
                "cache_read_input_tokens": usage.cache_read_input_tokens,
                "cache_creation": {
                    "ephemeral_5m_input_tokens": usage.cache_creation_input_tokens
                    - usage.cache_creation_1h,
                    "ephemeral_1h_input_tokens": usage.cache_creation_1h,
                },
            },
        }
        if answer.stop_reason == "refusal":
            message["stop_details"] = {"type": "refusal", "category": None, "explanation": None}
        if body.get("stream"):
            self._stream(message)
        else:
            self._send(200, message)

    def _stream(self, message: dict[str, Any]) -> None:
        """Send ``message`` as the Messages API's server-sent events."""
        self.send_response(200)
        self.send_header("content-type", "text/event-stream")
        self.send_header("cache-control", "no-cache")
        self.send_header("request-id", f"req_fake_{self.state.next_id():08d}")
        self.send_header("connection", "close")
        self.end_headers()
        self.close_connection = True
        with self.state.lock:
            self.state.by_status["200"] += 1

        def event(name: str, data: Mapping[str, Any]) -> None:
            self.wfile.write(f"event: {name}\ndata: {json.dumps(data)}\n\n".encode())
            self.wfile.flush()

        usage = message["usage"]
        start = {**message, "content": [], "stop_reason": None, "stop_sequence": None}
        start["usage"] = {**usage, "output_tokens": 1}
        start.pop("stop_details", None)
        event("message_start", {"type": "message_start", "message": start})
        for index, block in enumerate(message["content"]):
            deltas: list[dict[str, Any]]
            if block["type"] == "tool_use":
                opening = {**block, "input": {}}
                raw = json.dumps(block["input"])
                deltas = [
                    {"type": "input_json_delta", "partial_json": raw[i : i + 16]}
                    for i in range(0, len(raw), 16)
                ]
            else:
                opening = {"type": "text", "text": ""}
                words = block.get("text", "").split(" ")
                deltas = [
                    {"type": "text_delta", "text": word if i == 0 else " " + word}
                    for i, word in enumerate(words)
                ]
            event(
                "content_block_start",
                {"type": "content_block_start", "index": index, "content_block": opening},
            )
            if index == 0:
                event("ping", {"type": "ping"})
            for delta in deltas:
                event(
                    "content_block_delta",
                    {"type": "content_block_delta", "index": index, "delta": delta},
                )
            event("content_block_stop", {"type": "content_block_stop", "index": index})
        final: dict[str, Any] = {"stop_reason": message["stop_reason"], "stop_sequence": None}
        if "stop_details" in message:
            final["stop_details"] = message["stop_details"]
        event(
            "message_delta",
            {
                "type": "message_delta",
                "delta": final,
                "usage": {"output_tokens": usage["output_tokens"]},
            },
        )
        event("message_stop", {"type": "message_stop"})
