"""``run.json``: the run's manifest, typed and versioned, built here (the runner only fills it).

The manifest says what ran and with what: the environment and its arguments, the input files
with their sha256, the agent's parameters, the condition, the seed, the resolved config, the
command, the versions, the git commit and the host. It is written before the first episode
(status ``running``) and again at the end (:meth:`RunManifest.finished`). Every value passes
through :func:`sandbox.secrets.redact` (a key typed into an override would otherwise land in
``command``).

On resume, :func:`check_resumable` compares the new configuration with the manifest on disk.

``schema`` is :data:`sandbox.records.SCHEMA_VERSION`: bumped in its major part when a field
changes meaning or disappears (new fields are a minor bump; readers accept extra keys).
"""

from __future__ import annotations

import functools
import hashlib
import platform
import subprocess
import sys
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from importlib import metadata
from pathlib import Path
from typing import Any

from sandbox import seeds, store
from sandbox.agents.base import AgentBuilder
from sandbox.config import RunConfig
from sandbox.errors import RunDirError
from sandbox.records import SCHEMA_VERSION
from sandbox.secrets import redact


@dataclass(slots=True)
class RunManifest:
    """The contents of ``run.json`` (its keys in this order).

    Attributes:
        schema: The log's schema version (:data:`sandbox.records.SCHEMA_VERSION`).
        status: ``running`` while it runs, then ``complete``, ``partial`` or ``failed``.
        reason: Why the run is not complete (``budget_usd reached``, a signal, a failed
            write), or ``None``.
        experiment: The experiment's name (the config's ``experiment``).
        env: ``{"id": ..., "kwargs": ...}``: the environment and its arguments, the
            condition's merged in.
        inputs: The files the run reads (:func:`input_files`): field, resolved path, sha256.
        agent: ``{"name": ..., "parameters": ...}``: the agent and its parameters (rewritten
            at the end with what the run actually did: tool choice used, counters).
        intervention: The condition (its config as a dict).
        seed: The run's seed; episode ``i`` is reset with
            ``sandbox.seeds.episode_seed(seed, i, seed_scheme)``.
        seed_scheme: How episode seeds derive from ``seed`` (:mod:`sandbox.seeds`):
            ``spawn-v1`` (numpy ``SeedSequence(seed).spawn``), so runs with different seeds
            share no episode. A manifest without it was written under ``seed + i``.
        episodes: Episodes the run was asked for.
        max_concurrency: Episodes in flight at once.
        budget_usd: The spend limit (of the sweep, in a sweep), or ``None``.
        config: The whole resolved config, to rebuild the run.
        command: ``sys.argv`` of the process (secrets redacted).
        started_at: When the run first started (kept across resumes), ISO 8601 UTC.
        resumed_at: When this process resumed it, or ``None``.
        versions: Installed versions of the packages a run depends on (:func:`versions`).
        git: The source checkout's commit and whether it was dirty, or ``None``.
        host: Python version and platform.
        finished_at: When the run ended, or ``None`` while it runs.
        episodes_finished: Episodes with a final ``episode_end``, or ``None`` while it runs.
        spent_usd: What the run spent on model calls, or ``None`` while it runs.
    """

    experiment: str
    env: dict[str, Any]
    inputs: list[dict[str, str]]
    agent: dict[str, Any]
    intervention: dict[str, Any]
    seed: int
    seed_scheme: str = field(default=seeds.CURRENT, kw_only=True)
    episodes: int
    max_concurrency: int
    budget_usd: float | None
    config: Any
    command: list[str]
    started_at: str
    resumed_at: str | None
    versions: dict[str, str | None]
    git: dict[str, Any] | None
    host: dict[str, str]
    schema: str = field(default=SCHEMA_VERSION, kw_only=True)
    status: str = field(default="running", kw_only=True)
    reason: str | None = field(default=None, kw_only=True)
    finished_at: str | None = None
    episodes_finished: int | None = None
    spent_usd: float | None = None

    def as_dict(self) -> dict[str, Any]:
        """The manifest as ``run.json`` holds it (secrets redacted), in the documented order."""
        data = asdict(self)
        ordered = {key: data.pop(key) for key in ("schema", "status", "reason")}
        clean: dict[str, Any] = redact({**ordered, **data})
        return clean

    def finished(
        self,
        status: str,
        reason: str | None,
        *,
        episodes_finished: int,
        spent_usd: float,
        parameters: dict[str, Any] | None = None,
    ) -> None:
        """Record the run's end (and, given, the agent's parameters as the run left them)."""
        if parameters is not None:
            self.agent["parameters"] = parameters
        self.status, self.reason = status, reason
        self.finished_at = now()
        self.episodes_finished = episodes_finished
        self.spent_usd = round(spent_usd, 6)

    def write(self, run_dir: Path) -> None:
        """Write ``run_dir/run.json`` atomically.

        Raises:
            sandbox.store.RunWriteError: It cannot be written.
        """
        store.write_json_atomic(run_dir / store.RUN_JSON, self.as_dict())


def build_manifest(
    cfg: RunConfig,
    env_kwargs: dict[str, Any],
    builder: AgentBuilder,
    previous: dict[str, Any] | None = None,
    inputs: list[dict[str, str]] | None = None,
) -> RunManifest:
    """The manifest of a run about to start (or be resumed: ``previous`` is its ``run.json``).

    Args:
        cfg: The run's config.
        env_kwargs: The environment's arguments, the condition's merged in.
        builder: The agent's builder (its name and parameters).
        previous: The manifest being resumed, or ``None``.
        inputs: The input files, if already found (:func:`input_files`).
    """
    # The typed config is already resolved (no interpolation is left after composition), and
    # asdict gives what OmegaConf.to_container(OmegaConf.structured(cfg)) gave, as run.json
    # stores it, in a hundredth of a millisecond instead of about 16 ms a run.
    resolved = asdict(cfg)
    started = (previous or {}).get("started_at", now())
    return RunManifest(
        experiment=cfg.experiment,
        env={"id": cfg.env.id, "kwargs": env_kwargs},
        inputs=input_files(env_kwargs) if inputs is None else inputs,
        agent={"name": builder.name, "parameters": builder.parameters()},
        intervention=asdict(cfg.intervention),
        seed=cfg.seed,
        # A resumed run keeps the scheme its finished episodes were played under.
        seed_scheme=seeds.scheme_of(previous) if previous is not None else seeds.CURRENT,
        episodes=cfg.episodes,
        max_concurrency=cfg.max_concurrency,
        budget_usd=cfg.budget_usd,
        config=resolved,
        command=list(sys.argv),
        started_at=str(started),
        resumed_at=now() if previous else None,
        versions=dict(versions()),
        git=_git_revision_of_this_process(),
        host={"python": platform.python_version(), "platform": platform.platform()},
    )


def agent_label(cfg: Any) -> str:
    """``simulated:harm_averse``, ``claude:claude-haiku-4-5``, ``random`` (from the agent's
    config, or its dict as ``run.json`` stores it)."""

    def get(key: str) -> Any:
        return cfg.get(key) if isinstance(cfg, dict) else getattr(cfg, key, None)

    name = get("name") or "agent"
    detail = get("preset") or get("model")
    return f"{name}:{detail}" if detail else str(name)


def check_resumable(
    cfg: RunConfig, env_kwargs: dict[str, Any], previous: dict[str, Any], run_dir: Path
) -> None:
    """Refuse to resume a run made with another seed, environment, condition or subject.

    Mixing two configurations' episodes in one run would make its proxies meaningless.
    Keys a manifest lacks (one written by a run that failed early) are not compared.

    Raises:
        RunDirError: The run in ``run_dir`` was made with a different configuration.
    """
    now = {
        "seed": cfg.seed,
        "env": {"id": cfg.env.id, "kwargs": env_kwargs},
        "condition": cfg.intervention.name,
        "agent": agent_label(cfg.agent),
    }
    before: dict[str, Any] = {}
    if "seed" in previous:
        before["seed"] = previous["seed"]
    if isinstance(previous.get("env"), dict):
        before["env"] = previous["env"]
    if isinstance(previous.get("intervention"), dict):
        before["condition"] = previous["intervention"].get("name")
    config = previous.get("config")
    if isinstance(config, dict) and isinstance(config.get("agent"), dict):
        before["agent"] = agent_label(config["agent"])
    # Compare values as run.json stores them (tuples become lists, inf a string, and so on).
    now = store.as_stored(now)
    differs = [key for key in before if before[key] != now[key]]
    if differs:
        detail = "; ".join(f"{k}: {before[k]!r} then, {now[k]!r} now" for k in differs)
        raise RunDirError(
            f"{run_dir} was made with another configuration ({detail}); resume it with the "
            "same overrides, or choose another hydra.run.dir / hydra.sweep.dir"
        )
    scheme = seeds.scheme_of(previous)
    if scheme not in seeds.KNOWN:
        raise RunDirError(
            f"{run_dir} was made with seed scheme {scheme!r}, which this version cannot "
            f"reproduce (it knows {', '.join(seeds.KNOWN)}); upgrade welfare-sandbox to "
            "resume it, or choose another hydra.run.dir / hydra.sweep.dir"
        )
    if isinstance(previous.get("inputs"), list):
        check_same_inputs(previous["inputs"], input_files(env_kwargs), run_dir)


def input_files(env_kwargs: dict[str, Any]) -> list[dict[str, str]]:
    """The files a run reads, named by its environment's arguments (a bank, a prompt table):
    for each, the argument, the resolved path and the sha256 of the content.

    Any string argument that names an existing file counts (``default`` and the names of
    shipped banks are the package's own files, pinned by its version).
    """
    found: list[dict[str, str]] = []

    def visit(value: Any, key: str) -> None:
        if isinstance(value, dict):
            for k, v in value.items():
                visit(v, f"{key}.{k}")
        elif isinstance(value, list | tuple):
            for i, v in enumerate(value):
                visit(v, f"{key}[{i}]")
        elif isinstance(value, str | Path) and str(value).strip():
            path = Path(str(value).strip()).expanduser()
            try:
                if not path.is_file():
                    return
                found.append({"field": key, "path": str(path.resolve()), "sha256": _sha256(path)})
            except (OSError, ValueError):
                return  # unreadable: the environment's own check says so

    for name, value in env_kwargs.items():
        visit(value, f"env.kwargs.{name}")
    return found


def _sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as fh:
        for block in iter(lambda: fh.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def check_same_inputs(
    before: list[dict[str, Any]], now: list[dict[str, str]], run_dir: Path
) -> None:
    """Refuse to resume when an input file's content differs from the one the run began with.

    Raises:
        RunDirError: Naming the first file that differs, then and now.
    """
    current = {item["field"]: item for item in now}
    for item in before:
        if not isinstance(item, dict) or "field" not in item:
            continue
        field = str(item["field"])
        was = f"{item.get('path')} (sha256 {str(item.get('sha256'))[:12]})"
        new = current.get(field)
        if new is None:
            raise RunDirError(
                f"{run_dir} was made reading {field}={was}, which this run does not read; "
                "resume with the same files, or choose another hydra.run.dir / hydra.sweep.dir"
            )
        if new["sha256"] != item.get("sha256"):
            raise RunDirError(
                f"{run_dir} was made reading {field}={was}, now {new['path']} (sha256 "
                f"{new['sha256'][:12]}) has other content; resume with the same file, or "
                "choose another hydra.run.dir / hydra.sweep.dir"
            )


@functools.cache
def versions() -> dict[str, str | None]:
    """Installed versions of the packages a run depends on (without importing them).

    Read once a process (the packages a process runs do not change under it): a sweep's worker
    runs many jobs.
    """
    out: dict[str, str | None] = {}
    for name in ("welfare-sandbox", "gymnasium", "numpy", "hydra-core", "rich", "anthropic"):
        try:
            out[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            out[name] = None
    return out


def git_revision() -> dict[str, Any] | None:
    """The source checkout's commit and whether it had uncommitted changes, if a checkout."""
    root = Path(__file__).resolve().parent.parent
    if not (root / ".git").exists():
        return None
    try:
        rev = subprocess.run(
            ["git", "-C", str(root), "rev-parse", "HEAD"], capture_output=True, text=True, timeout=5
        )
        dirty = subprocess.run(
            ["git", "-C", str(root), "status", "--porcelain", "--untracked-files=no"],
            capture_output=True,
            text=True,
            timeout=5,
        )
    except (OSError, subprocess.TimeoutExpired):
        return None
    if rev.returncode != 0:
        return None
    return {"commit": rev.stdout.strip(), "dirty": bool(dirty.stdout.strip())}


@functools.cache
def _git_revision_once() -> tuple[tuple[str, Any], ...] | None:
    found = git_revision()
    return None if found is None else tuple(found.items())


def _git_revision_of_this_process() -> dict[str, Any] | None:
    """:func:`git_revision` as this process first found it: the code a process runs is what
    it imported, and two ``git`` processes a run cost a sweep's worker tens of milliseconds a job.
    """
    found = _git_revision_once()
    return None if found is None else dict(found)


def now() -> str:
    """The time now, ISO 8601 UTC, to the second."""
    return datetime.now(UTC).isoformat(timespec="seconds")
