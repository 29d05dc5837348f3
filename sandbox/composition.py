"""Compose ``wsb run``'s config once, not three times.

Left alone, one ``wsb run`` composes the same config three times: the pre-check of its
arguments (:func:`sandbox.overrides.check_overrides`), Hydra's ``get_mode`` (it composes only to
read ``hydra.mode``) and Hydra's ``run``. Each composition costs a fifth of a second or more.
Inside :func:`compose_once`:

- the pre-check's composition of a single run (through Hydra's compose API, with
  ``hydra.mode=RUN``) is kept, and Hydra's run, asking for one from the same inputs (config,
  overrides, run mode, search path, job name, working directory), gets it; the pre-check got
  a copy (each may change its own). A sweep's jobs compose as before;
- Hydra's ``get_mode`` reads ``hydra.mode`` from the overrides when ``wsb run`` gave it (it
  passes ``hydra.mode=RUN`` or ``hydra.mode=MULTIRUN``, which Hydra would add itself);
- under the basic launcher (a sweep's jobs in this process), the configs Hydra's sweeper
  composes to check that a batch composes are the ones the launcher then runs (up to
  :data:`KEEP_JOBS` of them, about a third of a megabyte each): each job is composed once;
- under another launcher (joblib, submitit: the jobs compose again where they run), the
  sweeper's check composes one job per distinct set of config-group choices and structural
  overrides, and applies each further job's plain ``key=value`` overrides to that
  composition with Hydra's own routine: the same errors, without composing 200 configs in
  the parent before a 200-seed sweep starts;
- each config file is read and parsed once, each defaults list merged once (a copy of the
  merge is handed out), and Hydra's per-composition copy of its repository is shallow (its
  deep copy took the whole ``ConfigStore``, about 8 ms): :func:`share_config_files`; a
  composition of ``wsb run``'s config takes about 25 ms instead of 75.

Nothing is kept after the block: the next command composes afresh. A sweep's worker process
(joblib) composes each of its jobs outside any block: :func:`cache_in_worker` turns on the
same file cache there, and a single scan of Hydra's plugins, for the worker's life.
"""

from __future__ import annotations

import contextlib
import copy
import os
from collections.abc import Callable, Iterator, Sequence
from typing import Any

#: The compositions made in the current block, by their inputs (``None`` outside a block).
_made: dict[tuple[Any, ...], Any] | None = None
#: Whether the basic sweeper is checking a batch (its compositions are kept for the launcher).
_checking_batch = False
#: At most this many of a batch's job configs are kept for the launcher.
KEEP_JOBS = 64


def mode_override(overrides: list[str]) -> str | None:
    """The value of the last ``hydra.mode=`` override, if any (``RUN`` or ``MULTIRUN``)."""
    found = None
    for text in overrides:
        key, eq, value = text.partition("=")
        if eq and key.lstrip("+~") == "hydra.mode":
            found = value.strip()
    return found


@contextlib.contextmanager
def compose_once() -> Iterator[None]:
    """Within the block, each distinct composition is made once (see the module's note)."""
    global _made
    from hydra._internal.config_loader_impl import ConfigLoaderImpl
    from hydra._internal.hydra import Hydra
    from hydra.core.utils import JobRuntime
    from hydra.plugins.sweeper import Sweeper
    from hydra.types import RunMode

    load = ConfigLoaderImpl.load_configuration
    get_mode = Hydra.get_mode
    check = Sweeper.validate_batch_is_legal
    unshare = share_config_files()

    def load_once(
        self: Any,
        config_name: str | None,
        overrides: list[str],
        run_mode: Any,
        from_shell: bool = True,  # only how Hydra words an error
        validate_sweep_overrides: bool = True,
    ) -> Any:
        searchpath = tuple((p.provider, p.path) for p in self.config_search_path.get_path())
        name = JobRuntime().get("name")  # a singleton: Hydra sets the job name on it
        key = (
            config_name, tuple(overrides), run_mode, validate_sweep_overrides, searchpath,
            name, os.getcwd(),
        )  # fmt: skip
        if _made is not None and key in _made:
            return _made.pop(key)  # handed over once: the first requester kept a copy
        cfg = load(self, config_name, overrides, run_mode, from_shell, validate_sweep_overrides)
        if _made is not None and not from_shell and mode_override(overrides) == "RUN":
            # The pre-check of a single run (Hydra's compose API); Hydra's run asks next.
            _made[key] = cfg
            return copy.deepcopy(cfg)
        if _made is not None and _checking_batch and len(_made) < KEEP_JOBS:
            _made[key] = cfg  # the sweeper only checks that it composes: no copy needed
        return cfg

    def check_batch(self: Any, batch: Any) -> None:
        global _checking_batch
        _checking_batch = type(getattr(self, "launcher", None)).__name__ == "BasicLauncher"
        try:
            if _checking_batch:
                check(self, batch)
            else:
                _check_batch_by_structure(self, batch)
        finally:
            _checking_batch = False

    def mode_from_overrides(self: Any, config_name: str | None, overrides: list[str]) -> Any:
        given = mode_override(overrides)
        if given in ("RUN", "MULTIRUN"):
            return RunMode[given]
        return get_mode(self, config_name, overrides)

    _made = {}
    ConfigLoaderImpl.load_configuration = load_once  # type: ignore[method-assign]
    Hydra.get_mode = mode_from_overrides  # type: ignore[method-assign]
    Sweeper.validate_batch_is_legal = check_batch  # type: ignore[method-assign]
    try:
        yield
    finally:
        ConfigLoaderImpl.load_configuration = load  # type: ignore[method-assign]
        Hydra.get_mode = get_mode  # type: ignore[method-assign]
        Sweeper.validate_batch_is_legal = check  # type: ignore[method-assign]
        unshare()
        _made = None


def _check_batch_by_structure(sweeper: Any, batch: Sequence[Sequence[str]]) -> None:
    """What Hydra's ``Sweeper.validate_batch_is_legal`` checks, for a launcher whose jobs
    compose again where they run: each job's config composes.

    Jobs that differ only in plain ``key=value`` overrides (not a config group, not ``hydra.``,
    no ``+``/``~``) share their composition up to those values: one job of each such family is
    composed as Hydra's check does, and the others' values are applied to it (a composition
    of this check's own) with Hydra's own ``_apply_overrides_to_config``, so a bad value fails
    here with Hydra's error.
    """
    from hydra._internal.config_loader_impl import ConfigLoaderImpl
    from hydra.core.override_parser.overrides_parser import OverridesParser
    from omegaconf import open_dict

    from sandbox.paths import config_dir

    context = getattr(sweeper, "hydra_context", None)
    loader = context.config_loader if context is not None else sweeper.config_loader
    parser = OverridesParser.create()
    root = config_dir()
    families: dict[tuple[Any, ...], Any] = {}
    for overrides in batch:
        parsed = parser.parse_overrides(overrides=list(overrides))
        plain = [o for o in parsed if _is_plain_value(o, root)]
        rest = tuple(o.input_line for o in parsed if not _is_plain_value(o, root))
        family = (rest, tuple(o.key_or_group for o in plain))
        if family not in families:
            composed = loader.load_sweep_config(
                master_config=sweeper.config, sweep_overrides=list(overrides)
            )
            with open_dict(composed):
                del composed["hydra"]  # no plain override reaches it
            families[family] = composed
            continue
        # The family's jobs set the same keys: each job's values replace the previous job's on
        # the one copy (a copy per job cost more than applying its values).
        ConfigLoaderImpl._apply_overrides_to_config(plain, families[family])


def _is_plain_value(override: Any, root: Any) -> bool:
    """An override that only sets one value of the composed config (``seed=3``)."""
    key = str(override.key_or_group)
    return (
        override.package is None
        and not (override.is_delete() or override.is_add() or override.is_force_add())
        and not override.is_hydra_override()
        and not override.is_sweep_override()
        and "/" not in key  # hydra/launcher, agent/...: config groups
        and not (root / key).exists()  # a config group
        and not (root / key.replace(".", "/")).exists()  # agent.preset: named like a group
    )


#: Whether :func:`cache_in_worker` has made its caches (for the process's life).
_worker_cached = False


def share_config_files() -> Callable[[], None]:
    """Read each config file once, merge each defaults list once, copy Hydra's repository
    shallowly; returns the undo.

    ``ConfigRepository.load_config`` is memoised by the repository's sources and the path,
    and each caller gets its own copy of the config (a composition merges into the nodes it
    read; copying a parsed config costs less than parsing its YAML again).
    ``CachingConfigRepository`` deep-copied its delegate only so that ``initialize_sources``
    (which rebinds the list of sources) leaves the original alone: a shallow copy does that
    too.
    """
    from hydra._internal.config_loader_impl import ConfigLoaderImpl
    from hydra._internal.config_repository import CachingConfigRepository, ConfigRepository

    load_config = ConfigRepository.load_config
    caching_init = CachingConfigRepository.__init__
    merge_defaults = ConfigLoaderImpl._compose_config_from_defaults_list
    loaded: dict[tuple[Any, ...], Any] = {}
    merged: dict[tuple[Any, ...], Any] = {}

    def load_config_once(self: Any, config_path: str) -> Any:
        sources = tuple((type(s).__name__, s.provider, s.path) for s in self.sources)
        key = (sources, config_path)
        if key not in loaded:
            loaded[key] = load_config(self, config_path)
        found = loaded[key]
        if found is None:
            return None
        given = copy.copy(found)
        given.config = copy.deepcopy(found.config)  # a composition merges into what it reads
        return given

    def init(self: Any, delegate: Any) -> None:
        self.delegate = copy.copy(delegate)
        self.cache = {}

    def merge_defaults_once(self: Any, defaults: list[Any], repo: Any) -> Any:
        # The merge of a defaults list depends on the list and the files only; the caller
        # then changes what it gets (struct flag, overrides, hydra.runtime): a copy each.
        sources = tuple((type(s).__name__, s.provider, s.path) for s in repo.get_sources())
        key = (sources, tuple((d.config_path, d.parent, d.package, d.is_self) for d in defaults))
        if key not in merged:
            merged[key] = merge_defaults(self, defaults, repo)
        return copy.deepcopy(merged[key])

    ConfigRepository.load_config = load_config_once  # type: ignore[method-assign]
    CachingConfigRepository.__init__ = init  # type: ignore[method-assign]
    ConfigLoaderImpl._compose_config_from_defaults_list = merge_defaults_once  # type: ignore[method-assign]

    def undo() -> None:
        ConfigRepository.load_config = load_config  # type: ignore[method-assign]
        CachingConfigRepository.__init__ = caching_init  # type: ignore[method-assign]
        ConfigLoaderImpl._compose_config_from_defaults_list = merge_defaults  # type: ignore[method-assign]

    return undo


def cache_in_worker() -> None:
    """In a sweep's worker process, for the process's life (the sweep's): each config file
    is read once (:func:`share_config_files`), and Hydra's plugin scan is done once.

    The joblib launcher composes each job in the worker, and before it restores Hydra's
    singletons, which makes ``Plugins`` scan every installed plugin package again (about a
    twentieth of a short job's time); the packages do not change while the sweep runs.
    Called when a worker starts a job (after its first composition).
    """
    global _worker_cached
    if _worker_cached:
        return
    _worker_cached = True
    share_config_files()
    from hydra.core.plugins import Plugins

    scan = Plugins._scan_all_plugins
    scanned: dict[tuple[str, ...], Any] = {}

    def scan_once(modules: list[Any]) -> Any:
        key = tuple(getattr(m, "__name__", repr(m)) for m in modules)
        if key not in scanned:
            scanned[key] = scan(modules)
        return scanned[key]

    Plugins._scan_all_plugins = staticmethod(scan_once)  # type: ignore[method-assign]
