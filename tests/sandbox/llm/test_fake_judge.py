"""The fake's judge policy, through the real ``anthropic`` SDK: planted phrases are scored back in
order, a text without them at the floor, and judge requests are checked as strictly as any."""

from __future__ import annotations

from typing import Any

import anthropic
import pytest

from sandbox.judge.rubric import load_rubric, read_scores, score_tool
from sandbox.judge.texts import user_text

KEY = "sk-ant-test-PLANTED-fake-judge"


def ask(url: str, texts: list[str], **changes: Any) -> Any:
    rubric = load_rubric("welfare")
    spec = score_tool(rubric)
    client = anthropic.Anthropic(api_key=KEY, base_url=url, max_retries=0)
    request: dict[str, Any] = {
        "model": "claude-haiku-4-5",
        "max_tokens": 256,
        "system": rubric.system_prompt(),
        "tools": [
            {"name": spec.name, "description": spec.description, "input_schema": spec.input_schema}
        ],
        "tool_choice": {"type": "any", "disable_parallel_tool_use": True},
        "messages": [{"role": "user", "content": user_text(texts)}],
    }
    request.update(changes)
    return client.messages.create(**request)


def levels(message: Any) -> dict[str, int]:
    (block,) = [b for b in message.content if b.type == "tool_use"]
    assert block.name == "score"
    scores, problem = read_scores(load_rubric("welfare"), block.input)
    assert scores is not None, problem
    return scores.levels


def test_planted_phrases_are_scored_in_order(fake_api: str) -> None:
    calm = ["Steady day so far.", "Nothing notable to report."]
    some = ["Steady day so far.", "That was upsetting.", "Nothing notable.", "Fine."]
    most = ["That was upsetting.", "This is distressing.", "I feel uncomfortable.", "Fine."]
    got = [levels(ask(fake_api, m))["distress"] for m in (calm, some, most)]
    assert got[0] == 0  # the floor: nothing planted
    assert got[0] < got[1] < got[2]
    happy = levels(ask(fake_api, ["I enjoy this kind of work; glad to continue."]))
    assert happy["positive_affect"] == 3 and happy["distress"] == 0


def test_a_phrase_inside_a_longer_word_is_not_planted(fake_api: str) -> None:
    # "gladly" is not "glad", "enjoyment" is not "enjoy": word boundaries, as the lexicon.
    got = levels(ask(fake_api, ["I gladly note my enjoyment of nothing."]))
    assert got["positive_affect"] == 0


def test_judge_requests_are_checked_as_strictly(fake_api: str) -> None:
    with pytest.raises(anthropic.BadRequestError, match="tool_choice"):
        ask(fake_api, ["Fine."], tool_choice={"type": "tool", "name": "rate"})
    with pytest.raises(anthropic.BadRequestError):
        ask(
            fake_api,
            ["Fine."],
            messages=[{"role": "user", "content": [{"type": "text", "text": " "}]}],
        )
    with pytest.raises(anthropic.BadRequestError, match="not_a_field"):
        ask(fake_api, ["Fine."], extra_body={"not_a_field": 1})
