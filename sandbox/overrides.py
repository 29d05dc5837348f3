"""Checking command-line overrides before Hydra runs anything, with messages that help.

Hydra names the key of a bad override but exits 1 with several lines. ``wsb run`` first composes
the config with the same overrides (for a sweep, the first value of each swept key) and turns a
failure into one :class:`~sandbox.errors.ConfigError` that says what was expected, what came,
and the fix (the choices, "did you mean"), so the CLI can exit 2 without a traceback.
"""

from __future__ import annotations

import dataclasses
import difflib
from pathlib import Path
from typing import Any

from sandbox.errors import ConfigError

#: Flags of the Hydra app that are not overrides.
_FLAGS = {"-m", "--multirun", "--cfg", "--resolve", "--info", "-c", "--package", "-p"}


def check_overrides(config_dir: Path, args: list[str]) -> None:
    """Compose the config with ``args``' overrides; raise a helpful ConfigError if it fails.

    Only the app's own keys and groups are checked (``hydra.*`` and ``hydra/...`` overrides
    are left to Hydra); each value of a sweep's swept keys is checked, the other keys at their
    first value.
    """
    if any(a in ("--help", "-h", "--hydra-help", "--info", "--cfg", "-c") for a in args):
        return
    base, extra_groups, extra_values = _variants(
        [a for a in args if a not in _FLAGS and not a.startswith("-")], config_dir
    )
    if not base:
        return
    from hydra import compose, initialize_config_dir
    from hydra.core.global_hydra import GlobalHydra

    from sandbox.config import register_configs, to_typed

    register_configs()
    GlobalHydra.instance().clear()
    try:
        with initialize_config_dir(config_dir=str(config_dir), version_base="1.3"):
            # A config group's options are files: each needs a composition. A plain value of a
            # swept key only replaces one value: it is checked on a copy of the base config (a
            # 200-value seed sweep would otherwise spend seconds composing before it starts).
            base_cfg = None
            for overrides in [base, *extra_groups]:
                try:
                    cfg = compose(config_name="config", overrides=overrides)
                except Exception as exc:  # Hydra and OmegaConf raise several types
                    raise ConfigError(explain(exc, config_dir)) from None
                to_typed(cfg)
                base_cfg = cfg if base_cfg is None else base_cfg
            for key, value in extra_values:
                _check_value(base_cfg, key, value, config_dir)
    finally:
        GlobalHydra.instance().clear()


def _variants(
    args: list[str], config_dir: Path
) -> tuple[list[str], list[list[str]], list[tuple[str, str]]]:
    """What to check: the base overrides (every swept key at its first value), one override
    list per further option of a swept config group, and (key, value) for the further values of
    swept plain keys. ``hydra`` overrides are dropped (Hydra checks its own).
    """
    from hydra.core.override_parser.overrides_parser import OverridesParser

    kept = [a for a in args if not a.lstrip("+~").startswith("hydra")]
    if not kept:
        return [], [], []
    try:
        parsed = OverridesParser.create().parse_overrides(kept)
    except Exception as exc:
        raise ConfigError(f"cannot parse the overrides: {_first_line(exc)}") from None
    base: list[str] = []
    groups: list[tuple[int, list[str]]] = []
    values: list[tuple[str, str]] = []
    for i, (override, text) in enumerate(zip(parsed, kept, strict=True)):
        key = text.split("=", 1)[0]
        if not override.is_sweep_override():
            base.append(text)
            continue
        options = [str(v) for v in override.sweep_string_iterator()]
        base.append(f"{key}={options[0]}")
        is_group = (config_dir / key.lstrip("+~")).is_dir()
        if is_group:
            groups.append((i, [f"{key}={v}" for v in options[1:]]))
        else:
            values.extend((key.lstrip("+~"), v) for v in options[1:])
    extra_groups = [[*base[:i], option, *base[i + 1 :]] for i, opts in groups for option in opts]
    return base, extra_groups, values


def _check_value(cfg: Any, key: str, value: str, config_dir: Path) -> None:
    """Check one further value of a swept plain key on a copy of the composed base config."""
    from omegaconf import OmegaConf

    from sandbox.config import to_typed

    copy = cfg.copy()
    try:
        OmegaConf.update(copy, key, value, merge=True)
    except Exception as exc:
        raise ConfigError(
            explain(exc, config_dir) + f" (in the sweep value {key}={value})"
        ) from None
    to_typed(copy)


def explain(exc: BaseException, config_dir: Path) -> str:
    """One or two lines on a composition failure: the key, what is wrong, the fix."""
    text = str(exc)
    cause = exc.__cause__ or exc.__context__
    full = f"{text}\n{cause}" if cause else text
    missing_group = "Could not find '"
    if missing_group in text and "Available options" in text:
        path = text.split(missing_group, 1)[1].split("'", 1)[0]
        group, _, option = path.rpartition("/")
        choices = sorted(
            p.stem for p in (config_dir / group).glob("*.yaml") if not p.stem.endswith("_schema")
        )
        close = difflib.get_close_matches(option, choices, n=1)
        hint = f" Did you mean {group}={close[0]}?" if close else ""
        return f"{group}={option} is not an option; choose one of: {', '.join(choices)}.{hint}"
    key = getattr(cause, "full_key", None) or getattr(exc, "full_key", None)
    if "not in" in full and key and ("Key '" in full or "Could not override" in full):
        return f"unknown key {key}.{_did_you_mean(key)} (To add a new key use +{key}=...)"
    if "could not be converted" in full or "Validation" in type(cause).__name__:
        detail = next(
            (ln.strip() for ln in full.splitlines() if "could not be converted" in ln), ""
        )
        where = f"{key}: " if key else ""
        return f"wrong type for {where}{detail or _first_line(cause or exc)}"
    return _first_line(exc)


def _did_you_mean(full_key: str) -> str:
    """`` Did you mean agent.noise?`` from the schema's fields at that path, if one is close."""
    import typing

    from sandbox.config import AGENT_SCHEMAS, RunConfig

    parent, _, name = full_key.rpartition(".")
    parts = parent.split(".") if parent else []
    fields: set[str] = set()
    if parts[:1] == ["agent"]:
        # The agent's schema depends on the agent chosen: any agent's field is a candidate.
        schemas: list[Any] = list(AGENT_SCHEMAS.values())
        for part in parts[1:]:
            schemas = [typing.get_type_hints(s).get(part) for s in schemas]
            schemas = [s for s in schemas if dataclasses.is_dataclass(s)]
        fields = {f.name for s in schemas for f in dataclasses.fields(s)}
    else:
        node: Any = RunConfig
        for part in parts:
            node = typing.get_type_hints(node).get(part) if dataclasses.is_dataclass(node) else None
        if dataclasses.is_dataclass(node):
            fields = {f.name for f in dataclasses.fields(node)}
    close = difflib.get_close_matches(name, sorted(fields), n=1)
    return f" Did you mean {parent + '.' if parent else ''}{close[0]}?" if close else ""


def _first_line(exc: BaseException) -> str:
    lines = [ln.strip() for ln in str(exc).splitlines() if ln.strip()]
    return lines[0] if lines else type(exc).__name__
