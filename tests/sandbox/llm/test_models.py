"""The model catalogue: current ids match the installed SDK, retired ids fail in one line."""

from __future__ import annotations

import typing

import pytest
from anthropic._constants import ANTHROPIC_API_VERSION
from anthropic.types.model_param import ModelParam

from sandbox.errors import ConfigError
from sandbox.llm import models


def _sdk_model_ids() -> set[str]:
    literal = typing.get_args(ModelParam)[0]
    return set(typing.get_args(literal))


def test_every_model_the_installed_sdk_lists_is_current_or_retired():
    missing = _sdk_model_ids() - set(models.CURRENT_MODELS) - set(models.RETIRED_MODELS)
    assert not missing, f"models.py lacks SDK ids {sorted(missing)}"


def test_models_past_the_sdks_end_of_life_date_are_retired_here():
    import datetime
    import re

    from anthropic._data import DEPRECATED_MODELS  # the SDK's own end-of-life table

    today = datetime.date.today()
    past = set()
    for model, when in DEPRECATED_MODELS.items():
        day = datetime.datetime.strptime(re.sub(r"(\d)(st|nd|rd|th)", r"\1", when), "%B %d, %Y")
        if day.date() <= today:
            past.add(model)
    assert not past & set(models.CURRENT_MODELS), sorted(past & set(models.CURRENT_MODELS))


def test_no_id_is_both_current_and_retired():
    assert not set(models.CURRENT_MODELS) & set(models.RETIRED_MODELS)


@pytest.mark.parametrize(
    "retired",
    [
        "claude-3-7-sonnet",
        "claude-3-5-haiku",
        "claude-3-haiku",
        "claude-sonnet-4-0",
        "claude-opus-4-0",
        "claude-sonnet-4-20250514",
        "claude-opus-4-20250514",
        "claude-opus-4-1",
        "claude-sonnet-4-5",
    ],
)
def test_retired_ids_the_issue_names_fail_in_one_line_naming_current_ids(retired):
    with pytest.raises(ConfigError) as info:
        models.check_model(retired)
    message = str(info.value)
    assert "\n" not in message
    assert retired in message and "retired" in message
    assert "claude-haiku-4-5" in message
    # the replacement the reason names is itself current
    replacement = models.RETIRED_MODELS[retired].rsplit("use ", 1)[1]
    assert replacement in models.CURRENT_MODELS


def test_unknown_id_fails_listing_current_ids():
    with pytest.raises(ConfigError) as info:
        models.check_model("claude-opus-9")
    message = str(info.value)
    assert "\n" not in message
    assert "not a current Claude model id" in message
    assert "claude-sonnet-5-5" in message and "models.py" in message


def test_current_ids_pass_and_the_default_is_current():
    for model_id in models.CURRENT_MODELS:
        models.check_model(model_id)
    assert models.DEFAULT_MODEL in models.CURRENT_MODELS


def test_limits_from_the_docs():
    haiku = models.model_info("claude-haiku-4-5")
    assert haiku is not None
    assert (haiku.max_output_tokens, haiku.context_window, haiku.min_cache_tokens) == (
        64_000,
        200_000,
        4096,
    )
    assert models.model_info("claude-haiku-4-5-20251001") == models.ModelInfo(
        "claude-haiku-4-5-20251001", 64_000, 4096, 200_000, "haiku"
    )
    opus = models.model_info("claude-opus-5")
    assert opus is not None and opus.min_cache_tokens == 512 and opus.max_output_tokens == 128_000
    assert models.model_info("claude-sonnet-4-5") is None
    assert {m.family for m in models.CURRENT_MODELS.values()} == {
        "opus",
        "sonnet",
        "haiku",
        "fable",
        "mythos",
    }


def test_the_sdk_sends_the_version_that_removes_sampling():
    # If the SDK changes its default header, the rules below must be re-read.
    assert ANTHROPIC_API_VERSION >= models.SAMPLING_REMOVED_IN
    assert models.rejected_request_fields(ANTHROPIC_API_VERSION, "claude-haiku-4-5") == (
        "temperature",
        "top_p",
        "top_k",
    )


def test_sampling_under_the_old_version_depends_on_the_model():
    old = models.LEGACY_API_VERSION
    assert models.rejected_request_fields(old, "claude-haiku-4-5") == ()
    assert models.rejected_request_fields(old, "claude-sonnet-4-6") == ()
    assert models.rejected_request_fields(old, "claude-opus-4-7") == models.SAMPLING_FIELDS
    assert models.rejected_request_fields(old, "claude-sonnet-5-5") == models.SAMPLING_FIELDS
    assert models.rejected_request_fields(old, "not-a-model") == ()


def test_forced_tool_choice_rejected_only_where_the_docs_say():
    rejecting = {m.id for m in models.CURRENT_MODELS.values() if m.rejects_forced_tool_choice}
    assert rejecting == {"claude-sonnet-5-5", "claude-opus-5-5"}
