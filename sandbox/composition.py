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
  :data:`KEEP_JOBS` of them, about a third of a megabyte each): each job is composed once.

Nothing is kept after the block: the next command composes afresh.
"""

from __future__ import annotations

import contextlib
import copy
import os
from collections.abc import Iterator
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
            check(self, batch)
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
        _made = None
