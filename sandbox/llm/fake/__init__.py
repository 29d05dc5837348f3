"""A loopback fake of the Anthropic Messages API (and of chat completions), for offline use.

It is a real HTTP server on 127.0.0.1, so the real ``anthropic`` (and ``openai``) SDK talks to
it exactly as to the real service: nothing in the client is mocked. Endpoints:

- ``POST /v1/messages``: JSON, or server-sent events when ``"stream": true`` (the real event
  sequence: ``message_start``, ``content_block_start``, ``ping``, ``content_block_delta``,
  ``content_block_stop``, ``message_delta``, ``message_stop``).
- ``POST /v1/messages/count_tokens``: ``{"input_tokens": n}``.
- ``POST /v1/chat/completions``: the OpenAI-compatible shape (function tools).
- ``GET /_stats``: ``{"requests": n, "by_path": {...}, "by_status": {...}, "faults": {...},
  "notes": {...}}``; ``GET /_requests``: the request bodies received (never headers);
  ``POST /_reset``; ``POST /_clock`` ``{"advance_s": s}`` ages the prompt cache.

It is at least as strict as the real API. Every Messages request is checked by
:func:`check_messages_request` against the rules of the docs (Messages, tool use, prompt
caching, extended thinking, versioning) and the model table of :mod:`sandbox.llm.models`, and
refused with the real status and error shape (``{"type": "error", "error": {...},
"request_id": ...}`` plus a ``request-id`` header): 404 ``not_found_error`` for an unknown or
retired model; 400 ``invalid_request_error`` for ``max_tokens`` above the model's limit, a
first turn that is not the user's, a ``tool_use`` not answered by ``tool_result`` blocks first in
the next turn (or a result answering no call), tool blocks without ``tools``, a tool name
outside ``^[a-zA-Z0-9_-]{1,64}$`` or a non-object ``input_schema``, a ``tool_choice`` that does
not fit the tools (or forces a tool on a model that refuses that), thinking with a forced choice,
more than 4 ``cache_control`` breakpoints, an empty or whitespace-only text block, sampling fields
the ``anthropic-version`` or the model rejects, unknown top-level fields, a missing
``anthropic-version``. Consecutive turns of one role are merged, as the API does, and counted in
``/_stats`` ``notes`` (with ``text_after_tool_result``, the pattern the docs say brings empty
answers).

The answer is a tool call chosen by a policy among the tools offered, with input valid for the
tool's schema (enums, integer ranges, required strings). Under a forced choice (``any``/``tool``)
no text comes before the call, as with real models; under ``auto`` the random policy writes a
sentence first for about half the requests. Policies:

- ``random``: seeded by ``--seed`` and the request itself, so the same request always gets the
  same answer whatever the order requests arrive in;
- ``first``: the first tool, its first choices;
- ``scripted:FILE``: a JSON or YAML list of ``{tool, input}``, ``{text}`` or ``{fault}``
  entries, used in turn and cycled.

Usage is plausible: about one token per four characters of JSON. Prompt caching is accounted
as the docs describe (:meth:`FakeState.cache_usage`): a prefix (tools, system, messages, in that
order; ``tool_choice`` and ``thinking`` changes invalidate the messages) is read back only when
byte-identical up to a breakpoint found within 20 blocks, at least the model's minimum cacheable
length (``min_cache_tokens`` overrides it), and younger than its TTL (5 minutes, or 1 hour;
reads refresh it); writes are ``cache_creation_input_tokens``, split by TTL in
``usage.cache_creation``. Caches are per model.

Faults (``--faults``, each request drawing one with probability ``--fault-rate``): ``429``
(with ``retry-after``), ``529``, ``500``, ``timeout`` (holds the request, then drops it),
``text_only`` (answers in words), ``refusal``, ``max_tokens``, ``blank_text`` (an answer of only
``"\\n\\n"``, as real models sometimes give), ``empty_turn`` (no content, ``end_turn``),
``malformed`` (a broken body). Two are not random but follow from the request:
``reject_forced_tool_choice`` (like newer models, every forced tool choice gets a 400; also
``required`` on chat completions) and ``text_after_tool_result`` (a turn with text right after
tool results gets an empty ``end_turn`` answer, as the stop-reasons docs warn).

Rate limits (``--rpm``, ``--itpm``): token buckets replenished continuously, as the rate-limits
docs describe; every Messages answer then carries ``anthropic-ratelimit-*`` headers and a request
past a limit gets a 429 with ``retry-after`` (in seconds, or as an HTTP date with
``--retry-after-date``).

Run it with ``wsb fake-api --port 8765`` or ``python -m sandbox.llm.fake_server --port 8765``;
tests and benchmarks use :func:`start_in_thread`.

The package, one idea a module: :mod:`~sandbox.llm.fake.options` (options, fault names),
:mod:`~sandbox.llm.fake.messages_rules` (the Messages API's request rules, with their sources),
:mod:`~sandbox.llm.fake.prompt_cache` (prompt-cache accounting),
:mod:`~sandbox.llm.fake.answers` (policies, text answers, answer faults),
:mod:`~sandbox.llm.fake.rate_limits`, :mod:`~sandbox.llm.fake.state` (what handler threads
share), :mod:`~sandbox.llm.fake.endpoint` (HTTP plumbing), :mod:`~sandbox.llm.fake.messages`
and :mod:`~sandbox.llm.fake.chat` (the endpoints), :mod:`~sandbox.llm.fake.server` (server,
routes, CLI). :mod:`sandbox.llm.fake_server` re-exports the public names.
"""
