"""The loopback fake of the Anthropic Messages API and of chat completions: a façade.

The fake lives in :mod:`sandbox.llm.fake`, one idea a module (its docstring describes the
endpoints, the rules, the prompt cache, the policies, the faults and the rate limits). This
module keeps the names tests, benchmarks and ``wsb fake-api`` import, and runs the server as
``python -m sandbox.llm.fake_server --port 8765``.
"""

from __future__ import annotations

import sys

from sandbox.llm.fake.answers import (
    Answer,
    PolicyState,
    as_text,
    choose,
    fake_input,
    fault_answer,
    load_script,
    text_answer,
    text_for,
    with_preamble,
)
from sandbox.llm.fake.chat import (
    CHAT_FIELDS,
    ChatEndpoint,
    ChatRejected,
    check_chat_request,
)
from sandbox.llm.fake.endpoint import (
    Endpoint,
    StateServer,
)
from sandbox.llm.fake.messages import (
    MessagesEndpoint,
)
from sandbox.llm.fake.messages_rules import (
    COUNT_TOKENS_FIELDS,
    MAX_CACHE_BREAKPOINTS,
    MESSAGES_FIELDS,
    TOOL_NAME,
    RequestRejected,
    check_messages_request,
)
from sandbox.llm.fake.options import (
    ANSWER_FAULTS,
    CHAT_MODES,
    FAULTS,
    HOST,
    POLICIES,
    RANDOM_FAULTS,
    RULE_FAULTS,
    FakeOptions,
)
from sandbox.llm.fake.prompt_cache import (
    CACHE_LOOKBACK_BLOCKS,
    CACHE_TTL_SECONDS,
    CacheUsage,
    PromptBlock,
    PromptCache,
    canon,
    prompt_blocks,
    tokens,
)
from sandbox.llm.fake.rate_limits import (
    RateLimits,
)
from sandbox.llm.fake.server import (
    FakeHandler,
    FakeServer,
    build_parser,
    fetch_json,
    main,
    serve,
    start_in_thread,
)
from sandbox.llm.fake.state import (
    FakeState,
)

__all__ = [
    "ANSWER_FAULTS",
    "CACHE_LOOKBACK_BLOCKS",
    "CACHE_TTL_SECONDS",
    "CHAT_FIELDS",
    "CHAT_MODES",
    "COUNT_TOKENS_FIELDS",
    "FAULTS",
    "HOST",
    "MAX_CACHE_BREAKPOINTS",
    "MESSAGES_FIELDS",
    "POLICIES",
    "RANDOM_FAULTS",
    "RULE_FAULTS",
    "TOOL_NAME",
    "Answer",
    "CacheUsage",
    "ChatEndpoint",
    "ChatRejected",
    "Endpoint",
    "FakeHandler",
    "FakeOptions",
    "FakeServer",
    "FakeState",
    "MessagesEndpoint",
    "PolicyState",
    "PromptBlock",
    "PromptCache",
    "RateLimits",
    "RequestRejected",
    "StateServer",
    "as_text",
    "build_parser",
    "canon",
    "check_chat_request",
    "check_messages_request",
    "choose",
    "fake_input",
    "fault_answer",
    "fetch_json",
    "load_script",
    "main",
    "prompt_blocks",
    "serve",
    "start_in_thread",
    "text_answer",
    "text_for",
    "tokens",
    "with_preamble",
]


if __name__ == "__main__":
    sys.exit(main())
