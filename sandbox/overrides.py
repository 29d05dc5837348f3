"""``wsb run``'s arguments: checked before Hydra runs anything, and its ``--help``.

Hydra names the key of a bad override but exits 1 with several lines. ``wsb run`` first checks
the arguments' shape and composes the config with the same overrides (for a sweep, each option
of a swept group), and turns a failure into one :class:`~sandbox.errors.ConfigError` that says
what was expected, what came, and the fix (the choices, "did you mean"), so the CLI can exit 2
without a traceback. :func:`run_help` writes ``wsb run --help`` from ``conf/`` itself.
"""

from __future__ import annotations

import dataclasses
import difflib
import os
import re
from pathlib import Path
from typing import Any

from sandbox.composition import mode_override
from sandbox.errors import ConfigError

#: Flags of the Hydra app that take no value.
_FLAGS = {"-m", "--multirun", "--resolve"}
#: Flags of the Hydra app followed by a value (``--cfg job`` prints the config, runs nothing).
_VALUE_FLAGS = {"--cfg", "-c", "--package", "-p", "--experimental-rerun"}
#: Flags after which Hydra does not run the task (or reads another primary config): no check.
_NO_CHECK_FLAGS = {
    "--help", "-h", "--hydra-help", "--info", "-i", "--shell-completion", "-sc",
    "--version", "--config-path", "-cp", "--config-name", "-cn", "--config-dir", "-cd",
}  # fmt: skip


def check_overrides(config_dir: Path, args: list[str], job_name: str = "app") -> None:
    """Check ``wsb run``'s arguments before Hydra runs anything; raise a helpful ConfigError.

    In order: every argument is a flag of the Hydra app or a ``key=value`` override (not
    ``--episodes 5``, not ``intervention exit_option``, not a path with an unquoted space);
    several values of one key only with ``-m``; the config composes with the overrides (each
    option of a swept config group, each further value of a swept plain key on a copy); a
    ``+key`` adds only to a dict-valued field (``env.kwargs``), never a field the run config
    lacks (a typo); no required value is missing (``agent.model`` of ``agent=openai_compat``);
    and the run (or sweep) directory can be written. A single run's config is composed from
    the overrides Hydra's run composes (``job_name`` is Hydra's ``hydra.job.name``), so that
    inside :func:`sandbox.composition.compose_once` Hydra reuses it.
    """
    if any(a.split("=", 1)[0] in _NO_CHECK_FLAGS for a in args):
        return
    multirun = any(a in ("-m", "--multirun", "hydra.mode=MULTIRUN") for a in args)
    overrides = _overrides_only(args, config_dir)
    parsed = _parse(overrides, config_dir)
    if not multirun:
        for override, text in zip(parsed, overrides, strict=True):
            if override.is_sweep_override():
                key = text.split("=", 1)[0]
                raise ConfigError(
                    f"{text} gives several values, which is a sweep, but -m is missing: add -m "
                    f"to sweep (wsb run -m {text} ...), or quote one value that holds a comma "
                    f"({key}='...')"
                )
    base, extra_groups, extra_values = _variants(overrides, parsed, config_dir)
    hydra_base = [
        text
        for override, text in zip(parsed, overrides, strict=True)
        if _is_hydra(text) and not override.is_sweep_override()
    ]
    if not multirun:  # what Hydra's run composes: the overrides as given, and the mode
        base, hydra_base = overrides, [] if mode_override(overrides) else ["hydra.mode=RUN"]
    from hydra import compose, initialize_config_dir
    from hydra.core.config_store import ConfigStore
    from hydra.core.global_hydra import GlobalHydra
    from omegaconf import open_dict

    from sandbox.config import register_configs, to_typed

    if "run_schema.yaml" not in ConfigStore.instance().repo:  # wsb run has (again: ~50 ms)
        register_configs()
    GlobalHydra.instance().clear()
    try:
        with initialize_config_dir(
            config_dir=str(config_dir), version_base="1.3", job_name=job_name
        ):
            # A config group's options are files: each needs a composition. A plain value of a
            # swept key only replaces one value: it is checked on a copy of the base config (a
            # 200-value seed sweep would otherwise spend seconds composing before it starts).
            base_cfg = None
            for i, group_overrides in enumerate([base, *extra_groups]):
                try:
                    cfg = compose(
                        config_name="config",
                        overrides=[*group_overrides, *hydra_base] if i == 0 else group_overrides,
                        return_hydra_config=i == 0,
                    )
                except Exception as exc:  # Hydra and OmegaConf raise several types
                    raise ConfigError(explain(exc, config_dir)) from None
                if i == 0:
                    output = _output_dir(cfg, multirun)
                    with open_dict(cfg):
                        del cfg["hydra"]
                _check_added_keys(cfg, group_overrides, config_dir)
                _check_missing(cfg)
                to_typed(cfg)
                base_cfg = cfg if base_cfg is None else base_cfg
            for key, value in extra_values:
                _check_value(base_cfg, key, value, config_dir)
    finally:
        GlobalHydra.instance().clear()
    if any(a.split("=", 1)[0] in ("--cfg", "-c") for a in args):
        return  # the config is printed; nothing is written
    key = "hydra.sweep.dir" if multirun else "hydra.run.dir"
    check_writable(Path(output), f"the {'sweep' if multirun else 'run'} directory", f"{key}=PATH")


def _output_dir(cfg: Any, multirun: bool) -> str:
    """The run (or sweep) directory Hydra will make, resolved as Hydra resolves it."""
    key = "sweep" if multirun else "run"
    try:
        return str(cfg.hydra[key].dir)
    except Exception as exc:  # OmegaConf's interpolation errors: Hydra would fail the same way
        raise ConfigError(
            f"hydra.{key}.dir cannot be resolved ({_first_line(exc)}); give a path that needs "
            f"nothing known only inside a job, e.g. hydra.{key}.dir=runs/NAME"
        ) from None


def _is_hydra(text: str) -> bool:
    return text.lstrip("+~").startswith("hydra")


def _overrides_only(args: list[str], config_dir: Path) -> list[str]:
    """The overrides among ``args``, after checking each argument's shape."""
    out: list[str] = []
    skip = False
    for i, arg in enumerate(args):
        if skip:
            skip = False
            continue
        nxt = args[i + 1] if i + 1 < len(args) else None
        if arg in _FLAGS:
            continue
        if arg.split("=", 1)[0] in _VALUE_FLAGS:
            skip = "=" not in arg
            continue
        if arg.startswith("-"):
            name, eq, value = arg.lstrip("-").partition("=")
            if not eq and nxt is not None and "=" not in nxt and not nxt.startswith("-"):
                value = nxt
            shown = f"{arg} {value}" if value and not eq else arg
            raise ConfigError(
                f"wsb run takes overrides as key=value, not options: got {shown!r}; write "
                f"{name}={value or 'VALUE'} (the flags are -m and --help)"
            )
        if "=" in arg or arg.startswith("~"):
            out.append(arg)
            continue
        raise ConfigError(_no_equals(arg, args[i - 1] if i else None, args[i + 1 :], config_dir))
    return out


def _no_equals(arg: str, prev: str | None, rest: list[str], config_dir: Path) -> str:
    """The message for an argument without ``=`` (two words, or a path with a space)."""
    key = arg.lstrip("+")
    from sandbox.config import RunConfig

    is_key = (config_dir / key).is_dir() or key in {f.name for f in dataclasses.fields(RunConfig)}
    if is_key:
        words = rest[1:] if rest[:1] == ["="] else rest  # `key = value`
        nxt = words[0] if words else None
        value = nxt if nxt and "=" not in nxt and not nxt.startswith("-") else None
        if value is None:
            options = _group_options(config_dir, key)
            hint = f" (options: {', '.join(options)})" if options else ""
            return (
                f"expected key=value, got {arg!r} alone; write "
                f"{key}={'OPTION' if options else 'VALUE'}{hint}"
            )
        return (
            f"expected key=value, got {arg!r} and {value!r} as two arguments; write "
            f"{key}={value} (no spaces around =)"
        )
    if prev is not None and "=" in prev and not prev.startswith("-"):
        return (
            f"expected key=value, got {arg!r} after {prev!r}: a value with a space must be "
            f'quoted; write "{prev} {arg}"'
        )
    return f"expected key=value, got {arg!r}; overrides look like episodes=5 (see wsb run --help)"


def _group_options(config_dir: Path, group: str) -> list[str]:
    """The options of a config group in ``conf/`` (without the ``*_schema`` entries)."""
    folder = config_dir / group
    if not folder.is_dir():
        return []
    return sorted(p.stem for p in folder.glob("*.yaml") if not p.stem.endswith("_schema"))


def _parse(overrides: list[str], config_dir: Path) -> list[Any]:
    """Hydra's parse of each override; a ConfigError naming the one that does not parse."""
    from hydra.core.override_parser.overrides_parser import OverridesParser

    parser = OverridesParser.create()
    parsed = []
    for text in overrides:
        try:
            parsed.extend(parser.parse_overrides([text]))
        except Exception as exc:
            key = text.split("=", 1)[0]
            raise ConfigError(
                f"cannot read the override {text!r} ({_first_line(exc)}); quote a value with "
                f"special characters: {key}='...'"
            ) from None
    return parsed


def _check_added_keys(cfg: Any, overrides: list[str], config_dir: Path) -> None:
    """Refuse ``+key=...`` / ``++key=...`` where the run config has no such field.

    Hydra adds any key after a ``+``; the typed config then drops it without a word, so a typo
    (``+episods=5``) would run with the default. A ``+`` is meant for dict-valued fields
    (``+env.kwargs.menu_size=4``, ``++agent.conversation.exit_rates.x=0.3``): those accept
    new keys.
    """
    for text in overrides:
        key = text.split("=", 1)[0]
        if not key.startswith("+") or _is_hydra(key):
            continue
        key = key.lstrip("+").split("@", 1)[0]
        if "/" in key or (config_dir / key).is_dir():
            continue  # a config group: Hydra checks its options
        unknown = _first_unknown(cfg, key)
        if unknown is not None:
            path, fields = unknown
            close = difflib.get_close_matches(path.rpartition(".")[2], sorted(fields), n=1)
            parent = path.rpartition(".")[0]
            hint = f" Did you mean {parent + '.' if parent else ''}{close[0]}?" if close else _KEYS
            agent = cfg.agent.get("name") if path.startswith("agent.") else None
            which = f" with agent={agent}" if agent else ""
            raise ConfigError(
                f"unknown key {path} in {text}: the run config{which} has no field {path}, and "
                f"a + adds keys only to dict-valued fields such as env.kwargs.{hint}"
            )


def _first_unknown(cfg: Any, key: str) -> tuple[str, set[str]] | None:
    """The first part of ``key`` that a typed node of ``cfg`` lacks, with that node's fields."""
    from omegaconf import DictConfig, OmegaConf

    node = cfg
    parts = key.split(".")
    for i, part in enumerate(parts):
        schema = OmegaConf.get_type(node)
        if not (isinstance(schema, type) and dataclasses.is_dataclass(schema)):
            return None  # a plain dict: new keys are welcome
        fields = {f.name for f in dataclasses.fields(schema)}
        if part not in fields:
            return ".".join(parts[: i + 1]), fields
        child = node._get_node(part)
        if not isinstance(child, DictConfig):
            return None  # a value or a list: Hydra says what is wrong
        node = child
    return None


def _check_missing(cfg: Any) -> None:
    """Refuse a config with a required value left out (``???``), naming the override."""
    from omegaconf import OmegaConf

    missing = sorted(OmegaConf.missing_keys(cfg))
    if not missing:
        return
    key = missing[0]
    agent = cfg.agent.get("name") if "agent" in cfg else None
    value = "NAME" if key.endswith(".model") else "VALUE"
    who = f"agent={agent} needs it" if key.startswith("agent.") and agent else "it is required"
    raise ConfigError(f"{key} has no value and {who}; add {key}={value} to the command")


def check_writable(path: Path, what: str, fix: str) -> None:
    """Raise a ConfigError unless ``path`` is, or can be made, a directory this user can write.

    Args:
        path: The directory (made with its parents if missing).
        what: What it is, for the message ("the run directory").
        fix: The override or option that chooses another ("hydra.run.dir=PATH").
    """
    target = Path(path).absolute()
    probe = target
    while not probe.exists() and probe != probe.parent:
        probe = probe.parent
    if not probe.is_dir():
        raise ConfigError(
            f"{what} {path} cannot be made: {probe} is a file, not a directory; choose "
            f"another with {fix}"
        )
    for folder in (probe, target / ".hydra"):
        if folder.is_dir() and not os.access(folder, os.W_OK | os.X_OK):
            raise ConfigError(
                f"{what} {path} is not writable: {folder} is read-only for this user; choose "
                f"a writable place with {fix}"
            )


def _variants(
    overrides: list[str], parsed: list[Any], config_dir: Path
) -> tuple[list[str], list[list[str]], list[tuple[str, str]]]:
    """What to check: the base overrides (every swept key at its first value), one override
    list per further option of a swept config group, and (key, value) for the further values of
    swept plain keys. ``hydra`` overrides are left out (they are checked with the base).
    """
    pairs = [(o, t) for o, t in zip(parsed, overrides, strict=True) if not _is_hydra(t)]
    parsed = [o for o, _ in pairs]
    kept = [t for _, t in pairs]
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
        choices = _listed_options(text) or _group_options(config_dir, group)
        close = difflib.get_close_matches(option, choices, n=1)
        hint = f" Did you mean {group}={close[0]}?" if close else ""
        return f"{group}={option} is not an option; choose one of: {', '.join(choices)}.{hint}"
    if "An item is already at '" in text:
        at = text.split("An item is already at '", 1)[1].split("'", 1)[0]
        return f"+{at} adds a key, but {at} exists already; set it without the +: {at}=VALUE"
    if text.startswith("Multiple values for "):
        group = text.removeprefix("Multiple values for ").split(".", 1)[0].strip()
        return f"+{group}=... adds {group}, but {group} is chosen already; write {group}=OPTION"
    key = getattr(cause, "full_key", None) or getattr(exc, "full_key", None)
    if "not in" in full and key and ("Key '" in full or "Could not override" in full):
        parent, _, name = key.rpartition(".")
        if getattr(cause, "object_type", None) is dict:
            # A dict-valued field (env.kwargs, agent.conversation.exit_rates): a + adds a key.
            return (
                f"{parent} has no key {name!r} yet; to add one write +{key}=VALUE "
                f"(it must be a key that {parent} accepts)"
            )
        if key.startswith("hydra.launcher."):
            return (
                f"unknown key {key}: the launcher chosen has no such setting; choose the "
                f"launcher first (e.g. hydra/launcher=joblib hydra.launcher.n_jobs=4)"
            )
        schema = getattr(cause, "object_type", None)
        fields = (
            {f.name for f in dataclasses.fields(schema)}
            if isinstance(schema, type) and dataclasses.is_dataclass(schema)
            else set()
        )
        close = difflib.get_close_matches(name, sorted(fields), n=1)
        hint = f" Did you mean {parent}.{close[0]}?" if close and parent else ""
        hint = hint or _did_you_mean(key)
        if key.startswith("hydra."):
            hint = hint or " wsb run --cfg hydra prints Hydra's settings."
            return f"unknown key {key}: Hydra has no such setting.{hint}"
        return f"unknown key {key}: the run config has no such field.{hint or _KEYS}"
    if "could not be converted" in full or "Validation" in type(cause).__name__:
        detail = next(
            (ln.strip() for ln in full.splitlines() if "could not be converted" in ln), ""
        )
        where = f"{key}: " if key else ""
        return f"wrong type for {where}{detail or _first_line(cause or exc)}"
    return _first_line(exc)


#: The fix when no key is close to a mistyped one.
_KEYS = " wsb run --cfg job prints every key."


def _listed_options(text: str) -> list[str]:
    """The options Hydra lists after "Available options in '...':" (plugins' included)."""
    if "Available options in" not in text:
        return []
    listed = text.split("Available options in", 1)[1].splitlines()[1:]
    options = []
    for line in listed:
        if not line.startswith("\t"):
            break
        options.append(line.strip())
    return sorted(o for o in options if o and not o.endswith("_schema"))


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


# ---------------------------------------------------------------------------------------------
# wsb run --help

#: Config groups in the order the help shows them, each with what choosing one means.
_GROUPS = {
    "experiment": "a study design (sets the environment, subject and episodes)",
    "env": "the environment; its arguments: env.kwargs.NAME=VALUE",
    "agent": "the subject that acts; its settings: agent.NAME=VALUE",
    "agent/preset": "true parameters of the simulated subject (with agent=simulated)",
    "intervention": "the condition (none is the control)",
    "display": "how a run is shown while it runs",
}

#: Launchers that come from Hydra plugins, not from conf/hydra/launcher.
_PLUGIN_LAUNCHERS = {
    "basic": "the default: the jobs of a sweep one after another, in this process",
    "joblib": "jobs in parallel processes on this machine; hydra.launcher.n_jobs=N",
    "ray": "hydra-ray-launcher's own config (the welfare-sandbox[ray] extra)",
}

#: The keys of the run config itself, in the help's order.
_GLOBAL_KEYS = ("seed", "episodes", "max_concurrency", "budget_usd", "resume")


def run_help(config_dir: Path) -> str:
    """The text of ``wsb run --help``: what it does, the groups and options found in
    ``config_dir``, the launchers, the global keys, examples, and where the outputs go."""
    import yaml

    primary = yaml.safe_load((config_dir / "config.yaml").read_text(encoding="utf-8")) or {}
    defaults: dict[str, str] = {}
    for item in primary.get("defaults") or []:
        if isinstance(item, dict):
            defaults.update({str(k): str(v) for k, v in item.items()})
    lines = [
        "wsb run: run an experiment, episode by episode, and write its records, metrics and",
        "config to a run directory. With -m, a sweep: one run (job) per combination of values.",
        "",
        "usage: wsb run [-m] [KEY=VALUE ...]",
        "  Overrides are KEY=VALUE with no spaces around =; quote a value that holds a space",
        '  ("env.kwargs.bank=/my data/bank.csv"). Give several values only with -m',
        "  (intervention=none,exit_option). +KEY=VALUE adds a key to a dict such as env.kwargs.",
        "",
        "Config groups (GROUP=OPTION; each option is conf/GROUP/OPTION.yaml):",
    ]
    for group, what in _GROUPS.items():
        options = _group_options(config_dir, group)
        if not options:
            continue
        default = f" [default {defaults[group]}]" if group in defaults else ""
        lines.append(f"  {group}: {what}{default}")
        width = max(len(o) for o in options) + 2
        for option in options:
            text = _summary(config_dir / group / f"{option}.yaml", group, 94 - width)
            lines.append(f"    {option:<{width}}{text}".rstrip())
    lines += ["", "Launchers of a sweep (-m hydra/launcher=NAME):"]
    launchers = dict(_PLUGIN_LAUNCHERS)
    for option in _group_options(config_dir, "hydra/launcher"):
        launchers[option] = _summary(config_dir / "hydra/launcher" / f"{option}.yaml", "", 80)
    installed = _installed_launchers(config_dir)
    width = max(len(n) for n in launchers) + 2
    for name, text in launchers.items():
        missing = "" if installed is None or name in installed else " [not installed]"
        lines.append(f"  {name:<{width}}{text}{missing}")
    lines += ["", "Global keys (KEY=VALUE; default in brackets):"]
    docs = _attribute_docs()
    width = max(len(k) for k in _GLOBAL_KEYS) + 2
    for key in _GLOBAL_KEYS:
        value = primary.get(key)
        shown = "null" if value is None else str(value).lower()
        lines.append(f"  {key:<{width}}{docs.get(key, '')} [{shown}]")
    lines += [
        "  Every other key: wsb run --cfg job [OVERRIDES] prints the composed config.",
        "",
        "Examples:",
        "  wsb run episodes=5",
        "      five episodes of the default experiment (workday), offline, in seconds",
        "  wsb run -m intervention=none,exit_option,rest_breaks episodes=50 seed=0,1",
        "      a sweep of 3 conditions x 2 seeds; then: wsb report runs/multirun/DATE/TIME",
        "  wsb run experiment=bail agent=claude budget_usd=5",
        "      the bail design with Claude (ANTHROPIC_API_KEY), stopping at $5 of spend",
        "",
        "Outputs: a run writes runs/DATE/TIME-EXPERIMENT/ (choose with hydra.run.dir=PATH):",
        "run.json (status, inputs), episodes.jsonl (every step), metrics.json (the proxies with",
        "intervals), run.log and .hydra/ (the config as composed). A sweep writes",
        "runs/multirun/DATE/TIME/ (hydra.sweep.dir=PATH): a directory per job and summary.csv.",
        "Read them with wsb watch PATH, wsb replay RUN_DIR and wsb report PATH.",
        "Interrupted or over budget: run the same command again with resume=true and the same",
        "hydra.run.dir (or hydra.sweep.dir).",
        "",
    ]
    return "\n".join(lines)


def _summary(path: Path, group: str, width: int) -> str:
    """A config file's one-line summary: its leading comment to the first full stop, or else
    the values it sets (``display.mode=none``); at most ``width`` characters."""
    comment: list[str] = []
    text = path.read_text(encoding="utf-8")
    for line in text.splitlines():
        if line.startswith("# @package"):
            continue
        if not line.startswith("#") or line.startswith("#  "):
            break
        comment.append(line.lstrip("#").strip())
    if comment:
        # The first sentence (a full stop after a word, not after "et al.").
        text = re.split(r"(?<! al)(?<=[a-z)\]'\"])\. ", " ".join(comment) + " ", maxsplit=1)[0]
        # Where the code is matters less here than what the option is.
        text = re.sub(r"\s*\((?:sandbox|environments)/[^)]*\)", "", text)
        text = re.sub(r":? (?:sandbox|environments)/\S+.*$", "", text)
        text = text.strip().rstrip(".:")
    else:
        import yaml

        values = yaml.safe_load(text) or {}
        text = " ".join(f"{group}.{k}={v}" for k, v in values.items() if k != "defaults")
    if len(text) > width:
        text = text[: width - 3].rsplit(" ", 1)[0] + "..."
    return text


def _installed_launchers(config_dir: Path) -> set[str] | None:
    """The launchers Hydra finds (its plugins' and conf/'s), or ``None`` if that fails."""
    from hydra import initialize_config_dir
    from hydra.core.global_hydra import GlobalHydra

    GlobalHydra.instance().clear()
    try:
        with initialize_config_dir(config_dir=str(config_dir), version_base="1.3"):
            return set(GlobalHydra.instance().config_loader().get_group_options("hydra/launcher"))
    except Exception:  # the help is still worth showing without the "not installed" marks
        return None
    finally:
        GlobalHydra.instance().clear()


def _attribute_docs() -> dict[str, str]:
    """``RunConfig``'s attribute descriptions from its docstring (one line each)."""
    from sandbox.config import RunConfig

    docs: dict[str, str] = {}
    current = None
    for line in (RunConfig.__doc__ or "").split("Attributes:", 1)[-1].splitlines():
        match = re.match(r"\s{8}(\w+): (.*)", line)
        if match:
            current = match.group(1)
            docs[current] = match.group(2).strip()
        elif current and line.startswith(" " * 12):
            docs[current] += " " + line.strip()
    return {k: v.replace("``None``", "null").replace("``", "") for k, v in docs.items()}
