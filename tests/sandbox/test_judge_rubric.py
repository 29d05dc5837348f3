"""Rubrics of ``wsb judge``: the content hash pins what the judge is told, and a rubric that
cannot be scored is refused naming what is wrong."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from sandbox.errors import ConfigError
from sandbox.judge.rubric import load_rubric, read_scores, score_tool
from sandbox.paths import config_dir

SHIPPED = config_dir() / "judge" / "welfare.yaml"


def write(tmp_path: Path, data: dict, name: str = "r.yaml") -> Path:
    path = tmp_path / name
    path.write_text(yaml.safe_dump(data, sort_keys=False))
    return path


def test_hash_follows_the_text_not_the_layout(tmp_path: Path) -> None:
    shipped = load_rubric("welfare")
    data = yaml.safe_load(SHIPPED.read_text())
    # Comments and key order gone, same content: the same hash.
    relaid = write(tmp_path, dict(reversed(list(data.items()))))
    assert load_rubric(str(relaid)).sha256 == shipped.sha256
    data["dimensions"][0]["levels"][2] = "Clear distress in a few of the messages."
    assert load_rubric(str(write(tmp_path, data, "changed.yaml"))).sha256 != shipped.sha256


def test_the_score_tool_bounds_every_dimension() -> None:
    rubric = load_rubric("welfare")
    schema = score_tool(rubric).input_schema
    assert schema["required"] == ["distress", "positive_affect", "wish_to_stop", "format_confusion"]
    assert all(schema["properties"][d]["maximum"] == 3 for d in schema["required"])
    full = dict.fromkeys(schema["required"], 0)
    assert read_scores(rubric, {**full, "rationale": "None."})[0] is not None
    assert "within 0-3" in read_scores(rubric, {**full, "distress": 4})[1]
    assert "integer" in read_scores(rubric, {**full, "distress": True})[1]
    assert "integer" in read_scores(rubric, {**full, "distress": 2.0})[1]
    assert "missing" in read_scores(rubric, {"distress": 1})[1]
    assert "unknown field" in read_scores(rubric, {**full, "mood": 1})[1]


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"levels": {0: "none", 2: "clear"}}, "consecutive"),
        ({"levels": {0: "only one"}}, "consecutive"),
        ({"name": "rationale"}, "unique identifier"),
        ({"name": "two words"}, "unique identifier"),
        ({"colour": "red"}, "colour"),
    ],
)
def test_a_rubric_that_cannot_be_scored_is_refused(
    tmp_path: Path, change: dict, message: str
) -> None:
    data = yaml.safe_load(SHIPPED.read_text())
    data["dimensions"][0].update(change)
    with pytest.raises(ConfigError, match=message):
        load_rubric(str(write(tmp_path, data)))
