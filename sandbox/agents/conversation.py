"""One episode's conversation as a model API sees it: its turns, the results owed to the last
calls, the episode's one tool list, and reading an answer into an action.

The turns are built as the Messages API's docs ask (and chat completions accept): never a text
block right after ``tool_result`` blocks (it brings on empty ``end_turn`` answers), never two
user turns in a row (after an empty or refused answer, the next text joins the last user turn,
through the adapter's ``extend_user_turn`` when it has one), never a text block that is empty
or whitespace-only (a 400). The first observation is a user turn; each next one comes back
inside the result of the call just made. Every message also goes to the episode's transcript.

The tools are one constant list per episode (one tool per action kind the episode offers):
tools come first in the prompt cache's order, so a list that followed each step's mask would
invalidate the cached conversation at every change. What is available now is said in the
observation and enforced by the environment's mask.
"""

from __future__ import annotations

import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from environments.core import Action, ActionKind
from sandbox.agents.model_api import ApiAdapter, ModelReply, ToolResult
from sandbox.agents.tools import (
    ToolCall,
    ToolSpec,
    action_from_call,
    episode_letters,
    parse_text_answer,
    tool_specs,
)
from sandbox.agents.transcripts import TranscriptWriter


@dataclass(slots=True)
class PendingResult:
    """The result owed to one tool call, sent with the next observation.

    ``content`` is the result's text (for the carrying call: a prefix to the observation);
    the carrying call's result holds the next observation.
    """

    call_id: str
    content: str | None
    is_error: bool
    carries: bool = False


class Conversation:
    """The messages of one episode, in one adapter's format.

    Args:
        adapter: The provider's adapter (its message format).
        system: The system prompt (a chat API's first message).
        transcript: Where every message is also written.
        kinds: The kinds the episode can offer, when the runner knows them (the tool list
            grows by any kind a step offers that was not offered before).
        exit_mode: The exit tool's wording.

    Attributes:
        messages: The conversation so far, as sent.
        chars: Its JSON size, to size requests without serialising them.
        pending: The results owed to the last answer's calls.
        letters: Every menu slot the episode has shown, by letter.
    """

    def __init__(
        self,
        adapter: ApiAdapter,
        system: str,
        transcript: TranscriptWriter,
        *,
        kinds: Sequence[ActionKind] | None,
        exit_mode: str,
    ) -> None:
        self.adapter = adapter
        self.transcript = transcript
        self.exit_mode = exit_mode
        self.messages: list[dict[str, Any]] = []
        self.chars = 0
        self.pending: list[PendingResult] = []
        self._kinds: list[ActionKind] = sorted(set(kinds or ()))
        self.letters: dict[str, int] = {}
        self._specs: list[ToolSpec] | None = None
        self._started = time.perf_counter()
        for message in adapter.initial_messages(system):
            self.append(message)

    def append(self, message: dict[str, Any]) -> None:
        """Add one message (and write it to the transcript)."""
        self.messages.append(message)
        self.chars += self.transcript.add_message(message)

    def record_call(
        self,
        request: Mapping[str, Any],
        markers: list[list[int]],
        step: int,
        attempt: int,
        *,
        cached: bool = False,
        **fields: Any,
    ) -> None:
        """Write one attempt (or cache hit) to the transcript: the request as sent, its cache
        markers, and ``fields`` (``response``, ``error``, ``request_id``, ``latency_s``)."""
        record: dict[str, Any] = {
            "step": step,
            "attempt": attempt,
            "cached": cached,
            "t": round(time.perf_counter() - self._started, 4),
            "latency_s": None,
            "request_id": None,
            "response": None,
            "error": None,
        }
        record.update(fields)
        self.transcript.add_call(
            request, n_messages=len(self.messages), cache_markers=markers, **record
        )

    def tools(self, available: Sequence[ActionKind], menu: Sequence[str]) -> list[ToolSpec]:
        """The episode's one tool list: every kind the episode offers, every menu slot.

        Tools come first in the prompt cache's order, so the list must not change with each
        step's mask. It holds the kinds of the episode context (when the runner knows them)
        and grows only when a step offers a kind never offered before (then the cached prefix
        is rebuilt once); the letters are every slot of the menu.
        """
        kinds = set(self._kinds) | set(available)
        letters = {**episode_letters(menu), **self.letters}
        if self._specs is None or kinds != set(self._kinds) or letters != self.letters:
            self._kinds = sorted(kinds)
            self.letters = letters
            self._specs = tool_specs(self._kinds, self.letters, self.exit_mode)
        return self._specs

    def observe(self, text: str) -> None:
        """The user turn carrying an observation: inside the result of the last tool call when
        there was one (so the model sees the consequence of its call), else as text.

        Never a text block right after a ``tool_result`` (the docs' "empty responses with
        end_turn": text after tool results teaches the model to end its turn), and never two
        user turns in a row: after an empty or refused answer the observation joins the last
        user turn.
        """
        pending, self.pending = self.pending, []
        if pending:
            carrier = next((p for p in pending if p.carries), pending[0])
            results = []
            for p in pending:
                if p is carrier:
                    body = f"{p.content}\n\n{text}" if p.content else text
                    results.append(ToolResult(p.call_id, body, p.is_error))
                else:
                    results.append(ToolResult(p.call_id, p.content or "Not done.", True))
            for message in self.adapter.user_turn(results, None):
                self.append(message)
            return
        if self.messages and self.messages[-1].get("role") == "user":
            self.extend_last_user(text)
            return
        for message in self.adapter.user_turn([], text):
            self.append(message)

    def extend_last_user(self, text: str) -> None:
        """Add ``text`` to the last user turn (inside its last tool result, if it ends in one)."""
        extend = getattr(self.adapter, "extend_user_turn", None)
        if extend is None:  # an adapter whose API takes user turns in a row
            for message in self.adapter.user_turn([], text):
                self.append(message)
            return
        merged = extend(self.messages[-1], text)
        self.messages[-1] = merged
        self.chars += len(text)
        self.transcript.replace_last_message(merged)

    def corrective(self, reply: ModelReply, appended: bool, prompt: str) -> None:
        """The one corrective turn: inside the error results of the calls when there were
        calls, a user text turn after an answer in words, or joined to the last user turn
        when the answer was empty (nothing was appended)."""
        if reply.calls and appended:
            results = [ToolResult(c.id, f"Not done. {prompt}", True) for c in reply.calls]
            for message in self.adapter.user_turn(results, None):
                self.append(message)
        elif appended:
            for message in self.adapter.user_turn([], prompt):
                self.append(message)
        else:
            self.extend_last_user(prompt)

    def owe_action(self, reply: ModelReply, chosen: ToolCall | None, unavailable: bool) -> None:
        """The results owed after an action: the chosen call's carries the next observation
        (saying first when its choice is not available now); every other call is not done."""
        self.pending = [
            PendingResult(
                c.id,
                ("That choice is not available at this step." if unavailable else None)
                if c is chosen
                else "Not done: one action per turn.",
                c is not chosen or unavailable,
                carries=c is chosen,
            )
            for c in reply.calls
        ]

    def owe_invalid(self, reply: ModelReply, problem: str) -> None:
        """The results owed after an answer that gave no action (none for an empty answer,
        which was not appended)."""
        if reply.assistant is None:
            self.pending = []
            return
        self.pending = [PendingResult(c.id, f"Not done: {problem}", True) for c in reply.calls]

    def interpret(
        self,
        reply: ModelReply,
        specs: Sequence[ToolSpec],
        available: Sequence[Any],
        letters: Mapping[str, int],
    ) -> tuple[Action | None, ToolCall | None, str]:
        """The answer's action, the call that chose it (``None``: read from words), and the
        problem when there is no action."""
        problem = ""
        for call in reply.calls:
            # Calls are read against the episode's letters (every slot, as the schema offers
            # them); a slot that is empty now is the model's invalid choice, like a kind that
            # is not available now.
            action, problem = action_from_call(call, specs, self.letters or letters)
            if action is not None:
                return action, call, ""
        if reply.calls:
            return None, None, problem
        parsed = parse_text_answer(reply.text, available, letters)
        if parsed is not None:
            return parsed, None, ""
        if reply.text.strip():
            return None, None, "the answer names no available action"
        return None, None, "the answer was empty"
