"""The catalogue of Anthropic models: which ids are current, their limits, and what each rejects.

One table, read by the Claude agent (to refuse a retired id or a rejected setting before the
first call), by the cost estimate (the minimum cacheable length) and by the fake server (to
answer as the real API does). When Anthropic ships or retires a model, edit this file.

Sources (read 2026-12-01):

- Models overview and the per-model pages, ``https://platform.claude.com/docs/en/models/overview``
  and ``.../models/<model>/overview`` (context window, max output), e.g. Claude Haiku 5.5
  (released 2026-10-07: 1M context, 128K output), Claude Sonnet 5.5 and Opus 5.5 (1M, 128K),
  Claude Opus 5 / Sonnet 5 / Fable 5 (legacy, 1M, 128K), Claude Haiku 4.5 (200K, 64K).
- Model deprecations, ``https://platform.claude.com/docs/en/about-claude/model-deprecations``
  (retirement dates and replacements; Claude Sonnet 4.5 retires 2026-11-30; Opus 4.5 is
  deprecated with a tentative retirement of 2027-01-22, so still current here).
- Prompt caching, ``https://platform.claude.com/docs/en/build-with-claude/prompt-caching``
  (minimum cacheable prompt length per model, max 4 breakpoints, 20-block lookback, TTL) and
  Anthropic's own ``anthropics/skills`` ``claude-api/shared/models.md`` and
  ``prompt-caching.md``. The docs' table was not readable whole here; the minimums below come
  from the excerpts that were: 4096 for Haiku 4.5, Opus 4.5/4.6/4.7 and Mythos Preview; 1024
  for Opus 4.8 and Sonnet 5; 512 for Opus 5 ("down from 1024 on Opus 4.8"); 2048 for Fable 5
  and Sonnet 4.6 (sources say 1024-2048 for Sonnet 4.6; the larger is kept, so that the fake
  is no kinder than the API). Where no page gave a number (Fable 5.1/5.2, Mythos 5.1/5.2,
  Opus 5.5, Sonnet 5.5, Haiku 5.5) the predecessor's is used; see ``_ASSUMED_MIN_CACHE``.
- API versions, ``https://platform.claude.com/docs/en/api/versioning``: ``2026-10-21`` (sent by
  default by the Python SDK 2.x, ``anthropic/_constants.py``: ``ANTHROPIC_API_VERSION``) removes
  ``temperature``, ``top_p`` and ``top_k``: a 400 even at their default values. Under
  ``2023-06-01``, Opus 4.7 and later, Sonnet 5 and later, Haiku 5.5, Fable and Mythos reject
  non-default sampling values (their migration guides).
- Sonnet 5.5 and Opus 5.5 migration guides: forced tool choice (``tool_choice`` ``any`` or
  ``tool``) returns a 400 on these models, and so does ``thinking: {"type": "disabled"}``;
  Sonnet 5.5 also refuses assistant prefill. Fable and Mythos 5.x (Anthropic's model notes):
  no assistant prefill, and an explicit ``thinking`` ``disabled`` is a 400.
- The installed SDK's ``anthropic/types/model_param.py`` (20 ids, all listed here as current).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from types import MappingProxyType

from sandbox.errors import ConfigError

#: The request fields that set sampling; removed by newer API versions and models.
SAMPLING_FIELDS: tuple[str, ...] = ("temperature", "top_p", "top_k")
#: The ``anthropic-version`` from which sampling fields are rejected for every model.
SAMPLING_REMOVED_IN = "2026-10-21"
#: The API version that SDKs before 2.0 send.
LEGACY_API_VERSION = "2023-06-01"


@dataclass(frozen=True)
class ModelInfo:
    """Facts about one current model id.

    Attributes:
        id: Canonical id (an alias or a dated id).
        max_output_tokens: The largest ``max_tokens`` the API accepts for this model.
        min_cache_tokens: Minimum cacheable prompt length: a prefix shorter than this is not
            cached (no error, just no cache tokens).
        context_window: Input plus output tokens the model can hold.
        family: ``opus``, ``sonnet``, ``haiku``, ``fable`` or ``mythos``.
        sampling_removed: True when the model rejects non-default ``temperature``, ``top_p``,
            ``top_k`` whatever the API version.
        rejects_forced_tool_choice: True when ``tool_choice`` ``any``/``tool`` is a 400.
        rejects_prefill: True when a request ending with an assistant turn (prefill) is a 400.
        rejects_thinking_disabled: True when ``thinking: {"type": "disabled"}`` is a 400.
    """

    id: str
    max_output_tokens: int
    min_cache_tokens: int
    context_window: int
    family: str
    sampling_removed: bool = False
    rejects_forced_tool_choice: bool = False
    rejects_prefill: bool = False
    rejects_thinking_disabled: bool = False


_K = 1000
_M = 1_000_000


def _m(
    model_id: str,
    family: str,
    *,
    out: int = 128 * _K,
    ctx: int = _M,
    cache: int,
    sampling_removed: bool = True,
    no_forced: bool = False,
    no_prefill: bool = False,
    no_disabled: bool = False,
) -> ModelInfo:
    return ModelInfo(
        model_id, out, cache, ctx, family, sampling_removed, no_forced, no_prefill, no_disabled
    )


def _m_4_5(model_id: str, family: str) -> ModelInfo:
    """A 4.5-generation model (or its dated snapshot): 64K output tokens, a 200K context, a
    4,096-token cache minimum, and sampling parameters still taken."""
    return _m(model_id, family, out=64 * _K, ctx=200 * _K, cache=4096, sampling_removed=False)


_TABLE: tuple[ModelInfo, ...] = (
    _m("claude-fable-5-2", "fable", cache=2048, no_prefill=True, no_disabled=True),
    _m("claude-mythos-5-2", "mythos", cache=2048, no_prefill=True, no_disabled=True),
    _m("claude-fable-5-1", "fable", cache=2048, no_prefill=True, no_disabled=True),
    _m("claude-mythos-5-1", "mythos", cache=2048, no_prefill=True, no_disabled=True),
    _m("claude-fable-5", "fable", cache=2048, no_prefill=True, no_disabled=True),
    _m("claude-mythos-5", "mythos", cache=2048, no_prefill=True, no_disabled=True),
    _m("claude-opus-5-5", "opus", cache=512, no_forced=True, no_disabled=True),
    _m("claude-opus-5", "opus", cache=512),
    _m("claude-opus-4-8", "opus", cache=1024),
    _m("claude-opus-4-7", "opus", cache=4096),
    _m("claude-opus-4-6", "opus", cache=4096, sampling_removed=False),
    _m_4_5("claude-opus-4-5", "opus"),
    _m_4_5("claude-opus-4-5-20251101", "opus"),
    _m(
        "claude-sonnet-5-5", "sonnet", cache=1024, no_forced=True, no_prefill=True, no_disabled=True
    ),
    _m("claude-sonnet-5", "sonnet", cache=1024),
    _m("claude-sonnet-4-6", "sonnet", cache=2048, sampling_removed=False),
    _m("claude-haiku-5-5", "haiku", cache=4096),
    _m_4_5("claude-haiku-4-5", "haiku"),
    _m_4_5("claude-haiku-4-5-20251001", "haiku"),
)

#: Ids whose minimum cacheable length no page read gave; taken from the predecessor.
_ASSUMED_MIN_CACHE: frozenset[str] = frozenset(
    {
        "claude-fable-5-2",
        "claude-mythos-5-2",
        "claude-fable-5-1",
        "claude-mythos-5-1",
        "claude-opus-5-5",
        "claude-sonnet-5-5",
        "claude-haiku-5-5",
    }
)

#: Every current id and alias.
CURRENT_MODELS: Mapping[str, ModelInfo] = MappingProxyType({m.id: m for m in _TABLE})

_S45 = "retired 2026-11-30; use claude-sonnet-5-5"
_O41 = "retired 2026-08-05; use claude-opus-5-5"
_S40 = "retired 2026-06-15; use claude-sonnet-5-5"
_O40 = "retired 2026-06-15; use claude-opus-5-5"
_H3 = "retired 2026-04-19; use claude-haiku-4-5"
_S37 = "retired 2026-02-19; use claude-sonnet-5-5"
_H35 = "retired 2026-02-19; use claude-haiku-4-5"
_OP3 = "retired 2026-01-05; use claude-opus-5-5"
_S35 = "retired 2025-10-28; use claude-sonnet-5-5"
_OLD = "retired 2025-07-21; use claude-sonnet-5-5"

#: Retired id -> why it fails (retirement date and a replacement id).
RETIRED_MODELS: Mapping[str, str] = MappingProxyType(
    {
        # End of life from the installed SDK's table (anthropic/_data/deprecated_models.py).
        "claude-mythos-preview": "end of life 2026-06-30; use claude-mythos-5-2",
        "claude-sonnet-4-5": _S45,
        "claude-sonnet-4-5-20250929": _S45,
        "claude-opus-4-1": _O41,
        "claude-opus-4-1-20250805": _O41,
        "claude-sonnet-4-0": _S40,
        "claude-sonnet-4-20250514": _S40,
        "claude-opus-4-0": _O40,
        "claude-opus-4-20250514": _O40,
        "claude-3-haiku": _H3,
        "claude-3-haiku-20240307": _H3,
        "claude-3-7-sonnet": _S37,
        "claude-3-7-sonnet-latest": _S37,
        "claude-3-7-sonnet-20250219": _S37,
        "claude-3-5-haiku": _H35,
        "claude-3-5-haiku-latest": _H35,
        "claude-3-5-haiku-20241022": _H35,
        "claude-3-opus-20240229": _OP3,
        "claude-3-opus-latest": _OP3,
        "claude-3-5-sonnet-20241022": _S35,
        "claude-3-5-sonnet-20240620": _S35,
        "claude-3-5-sonnet-latest": _S35,
        "claude-3-sonnet-20240229": _OLD,
        "claude-2.1": _OLD,
        "claude-2.0": _OLD,
    }
)

#: The model ``conf/agent/claude.yaml`` uses (current: Haiku 4.5, the cheapest tool-forcing one).
DEFAULT_MODEL = "claude-haiku-4-5"

#: A short list of current ids to suggest in error messages.
SUGGESTED_MODELS: tuple[str, ...] = (
    "claude-haiku-4-5",
    "claude-haiku-5-5",
    "claude-sonnet-5-5",
    "claude-opus-5-5",
    "claude-fable-5-2",
)


def model_info(model: str) -> ModelInfo | None:
    """The facts about a current model id or alias; None for a retired or unknown id."""
    return CURRENT_MODELS.get(model)


def min_cache_is_assumed(model: str) -> bool:
    """True when ``model``'s minimum cacheable length is taken from its predecessor."""
    return model in _ASSUMED_MIN_CACHE


def check_model(model: str) -> None:
    """Refuse a model id the API would answer with 404.

    Raises:
        ConfigError: One line, for a retired id (with its date and replacement) or an id not
            in the catalogue (naming current ids; add a new model to ``sandbox/llm/models.py``).
    """
    if model in CURRENT_MODELS:
        return
    suggested = ", ".join(SUGGESTED_MODELS)
    if model in RETIRED_MODELS:
        raise ConfigError(
            f"model {model!r} is {RETIRED_MODELS[model]} (the API answers 404); "
            f"set model= to a current id such as {suggested}"
        )
    raise ConfigError(
        f"model {model!r} is not a current Claude model id; expected one of {suggested} "
        f"(all: {', '.join(sorted(CURRENT_MODELS))}); a newer model can be added to "
        "sandbox/llm/models.py"
    )


def rejected_request_fields(api_version: str, model: str) -> tuple[str, ...]:
    """The sampling fields a request with this ``anthropic-version`` and model may not carry.

    From ``2026-10-21`` every sampling field is rejected even at its default value. Under an
    older version, models with ``sampling_removed`` reject non-default values (the fake server
    and the agent treat any explicit value as rejected, except ``temperature: 1.0``, the
    default). Unknown models are judged by the version alone.

    Args:
        api_version: The ``anthropic-version`` header (``YYYY-MM-DD``).
        model: The model id.
    """
    if api_version >= SAMPLING_REMOVED_IN:
        return SAMPLING_FIELDS
    info = CURRENT_MODELS.get(model)
    if info is not None and info.sampling_removed:
        return SAMPLING_FIELDS
    return ()
