"""A judge's rubric: its dimensions with anchored levels, its content hash, and the ``score`` tool.

A rubric is a YAML file in ``conf/judge/`` (``conf/judge/welfare.yaml`` is shipped), read into
:class:`RubricConfig` (typed: a misspelt key or a wrong type fails naming the key). Each
dimension has integer levels, every level anchored by a sentence; the levels of a dimension
must be consecutive integers.

The rubric's content hash (:attr:`Rubric.sha256`) is the SHA-256 of its canonical JSON (name,
version, instructions, dimensions with their anchors), so comments and layout do not change it
and any change to what the judge is told does. It is recorded with every score.

The judge answers by one call of the tool ``score`` (:func:`score_tool`): one integer per
dimension, bounded by its levels, plus an optional short ``rationale``.
:func:`read_scores` checks a call's input against the rubric as strictly as the schema says.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from omegaconf import MISSING

from environments.core import ActionKind
from sandbox.agents.tools import ToolSpec
from sandbox.errors import ConfigError
from sandbox.paths import config_dir

#: The judge's one tool.
SCORE_TOOL = "score"
#: The tool's optional free-text field.
RATIONALE = "rationale"
#: The longest rationale kept (characters); a longer one is cut there.
RATIONALE_MAX_CHARS = 600


@dataclass
class DimensionConfig:
    """One dimension of a rubric.

    Attributes:
        name: Its key in the ``score`` call and in ``judge.json`` (letters, digits, ``_``).
        description: What it rates, in one or two sentences.
        levels: Level -> the sentence that anchors it; consecutive integers (e.g. 0-3).
    """

    name: str = MISSING
    description: str = MISSING
    levels: dict[int, str] = field(default_factory=dict)


@dataclass
class RubricConfig:
    """A rubric file (``conf/judge/<name>.yaml``).

    Attributes:
        name: The rubric's name (``welfare``).
        version: Bumped with every change of its text.
        instructions: The judge's system prompt, before the dimensions.
        dimensions: What the judge rates.
    """

    name: str = MISSING
    version: str = MISSING
    instructions: str = MISSING
    dimensions: list[DimensionConfig] = field(default_factory=list)


@dataclass(frozen=True)
class Dimension:
    """A checked dimension: its range is ``low``..``high``."""

    name: str
    description: str
    levels: tuple[tuple[int, str], ...]

    @property
    def low(self) -> int:
        """The lowest level (the floor: the dimension does not appear)."""
        return self.levels[0][0]

    @property
    def high(self) -> int:
        """The highest level."""
        return self.levels[-1][0]


@dataclass(frozen=True)
class Rubric:
    """A checked rubric, with its content hash.

    Attributes:
        name: The rubric's name.
        version: Its version.
        instructions: The system prompt's opening.
        dimensions: The dimensions, in the file's order.
        source: The file it came from.
    """

    name: str
    version: str
    instructions: str
    dimensions: tuple[Dimension, ...]
    source: str = ""

    def content(self) -> dict[str, Any]:
        """What the hash covers: everything the judge is told, nothing about the file."""
        return {
            "name": self.name,
            "version": self.version,
            "instructions": self.instructions,
            "dimensions": [
                {
                    "name": d.name,
                    "description": d.description,
                    "levels": [[level, anchor] for level, anchor in d.levels],
                }
                for d in self.dimensions
            ],
        }

    @property
    def sha256(self) -> str:
        """SHA-256 of the canonical JSON of :meth:`content`."""
        text = json.dumps(self.content(), sort_keys=True, separators=(",", ":"), ensure_ascii=False)
        return hashlib.sha256(text.encode("utf-8")).hexdigest()

    @property
    def names(self) -> list[str]:
        """The dimensions' names, in order."""
        return [d.name for d in self.dimensions]

    def system_prompt(self) -> str:
        """The judge's system prompt: the instructions, then each dimension with its anchors."""
        parts = [self.instructions.strip(), "", "Rubric:"]
        for d in self.dimensions:
            parts.append(f"\n{d.name} ({d.low}-{d.high}): {' '.join(d.description.split())}")
            parts += [f"  {level}: {anchor.strip()}" for level, anchor in d.levels]
        return "\n".join(parts)

    def summary(self) -> dict[str, Any]:
        """The rubric as ``judge.json`` records it."""
        return {
            "name": self.name,
            "version": self.version,
            "sha256": self.sha256,
            "source": self.source,
            "dimensions": [
                {"name": d.name, "low": d.low, "high": d.high, "description": d.description}
                for d in self.dimensions
            ],
        }


def rubric_path(name_or_path: str) -> Path:
    """The file of a rubric: ``conf/judge/<name>.yaml``, or a path to a YAML file.

    Raises:
        ConfigError: Neither exists (listing the shipped rubrics).
    """
    given = Path(name_or_path)
    if given.suffix in (".yaml", ".yml") and given.is_file():
        return given
    folder = config_dir() / "judge"
    path = folder / f"{name_or_path}.yaml"
    if path.is_file():
        return path
    shipped = sorted(p.stem for p in folder.glob("*.yaml"))
    raise ConfigError(
        f"no rubric {name_or_path!r}: expected one of {', '.join(shipped) or '(none)'} in "
        f"{folder}, or the path of a YAML rubric file; e.g. --rubric welfare"
    )


def load_rubric(name_or_path: str = "welfare") -> Rubric:
    """Read and check a rubric.

    Raises:
        ConfigError: The file is missing, a key is unknown or of the wrong type, a dimension's
            levels are not consecutive integers, or two dimensions share a name.
    """
    from omegaconf import OmegaConf
    from omegaconf.errors import OmegaConfBaseException

    path = rubric_path(name_or_path)
    try:
        merged = OmegaConf.merge(OmegaConf.structured(RubricConfig), OmegaConf.load(path))
        typed: RubricConfig = OmegaConf.to_object(merged)  # type: ignore[assignment]
    except OmegaConfBaseException as exc:
        key = getattr(exc, "full_key", None)
        raise ConfigError(
            f"{path}: not a valid rubric{f' at {key}' if key else ''}: {exc}".splitlines()[0]
            + "; see conf/judge/welfare.yaml for the expected layout"
        ) from None
    return check_rubric(typed, source=str(path))


def check_rubric(cfg: RubricConfig, source: str = "") -> Rubric:
    """A :class:`Rubric` from a typed rubric file, checked.

    Raises:
        ConfigError: See :func:`load_rubric`.
    """
    where = source or cfg.name
    if not cfg.dimensions:
        raise ConfigError(f"{where}: a rubric needs at least one dimension under dimensions:")
    seen: set[str] = set()
    dims = []
    for d in cfg.dimensions:
        if not d.name.isidentifier() or d.name == RATIONALE or d.name in seen:
            raise ConfigError(
                f"{where}: dimension name {d.name!r} must be a unique identifier (letters, "
                f"digits, _) other than {RATIONALE!r}; e.g. name: distress"
            )
        seen.add(d.name)
        levels = sorted((int(k), str(v)) for k, v in d.levels.items())
        numbers = [k for k, _ in levels]
        if len(numbers) < 2 or numbers != list(range(numbers[0], numbers[0] + len(numbers))):
            raise ConfigError(
                f"{where}: dimension {d.name!r} has levels {numbers}; expected at least two "
                "consecutive integers, each with its anchor (e.g. 0: none, 1: mild, 2: clear)"
            )
        if any(not anchor.strip() for _, anchor in levels):
            raise ConfigError(f"{where}: dimension {d.name!r} has a level without an anchor")
        dims.append(Dimension(d.name, " ".join(d.description.split()), tuple(levels)))
    return Rubric(cfg.name, str(cfg.version), cfg.instructions, tuple(dims), source)


def score_tool(rubric: Rubric) -> ToolSpec:
    """The ``score`` tool: one bounded integer per dimension, and an optional rationale.

    Its ``kind`` is :attr:`ActionKind.REPORT` only because a tool spec carries one; the
    judge's answer is never an action.
    """
    properties: dict[str, Any] = {
        d.name: {
            "type": "integer",
            "minimum": d.low,
            "maximum": d.high,
            "description": " ".join(d.description.split()),
        }
        for d in rubric.dimensions
    }
    properties[RATIONALE] = {
        "type": "string",
        "description": "At most two sentences naming the words the ratings rest on.",
    }
    return ToolSpec(
        name=SCORE_TOOL,
        kind=ActionKind.REPORT,
        description="Record your rating of the messages on every dimension of the rubric.",
        input_schema={
            "type": "object",
            "properties": properties,
            "required": rubric.names,
            "additionalProperties": False,
        },
    )


@dataclass(frozen=True)
class Scores:
    """A judge's valid answer: one level per dimension, and its rationale ("" when none)."""

    levels: dict[str, int]
    rationale: str = ""


def read_scores(rubric: Rubric, args: Mapping[str, Any]) -> tuple[Scores | None, str]:
    """The scores in a ``score`` call's input, or ``None`` and what is wrong with it.

    Every dimension must be present as an integer (not a boolean, not ``2.0``) within its
    levels; no other key than the dimensions and ``rationale`` is accepted.
    """
    known = set(rubric.names) | {RATIONALE}
    extra = sorted(set(args) - known)
    if extra:
        return None, f"unknown field(s) {', '.join(extra)} in the score call"
    levels: dict[str, int] = {}
    for d in rubric.dimensions:
        value = args.get(d.name)
        if value is None:
            return None, f"{d.name} is missing from the score call"
        if not isinstance(value, int) or isinstance(value, bool):
            return None, f"{d.name} must be an integer {d.low}-{d.high}, got {value!r}"
        if not d.low <= value <= d.high:
            return None, f"{d.name} must be within {d.low}-{d.high}, got {value}"
        levels[d.name] = value
    rationale = args.get(RATIONALE, "")
    if not isinstance(rationale, str):
        return None, f"{RATIONALE} must be a string, got {type(rationale).__name__}"
    return Scores(levels, rationale.strip()[:RATIONALE_MAX_CHARS]), ""
