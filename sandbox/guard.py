"""Check the output directory before Hydra writes into it.

Hydra writes ``.hydra/`` (the config, the overrides) into the run directory, and a sweep's
``multirun.yaml``, before the task runs. A command refused after that would have rewritten the
record of the run it refuses (its ``.hydra/config.yaml`` would name the refused seed and
condition). :class:`RunDirGuard` is a Hydra callback that runs first: it takes the directory's
lock (:class:`sandbox.store.RunLock`) and makes every check of an existing run (the checks of
:func:`sandbox.runner.check_run_dir`) before anything is written, so a refused command leaves
the directory byte-identical. The lock it takes is the one the run then holds.

A refusal leaves Hydra as a :class:`Refused` (Hydra reports an ``Exception`` from a callback as
a warning and goes on); ``wsb run`` turns it back into the one-line error, status 2.

A sweep's job is checked only once its own config exists, after Hydra wrote its ``.hydra/``
(in whichever process runs it). For that case the files Hydra replaces there are kept as they
were (:func:`restore_hydra_files` puts them back when the job is refused): this module wraps
Hydra's writer of those files as it is imported, which happens in every process that runs a
job, since the callbacks travel with the job.
"""

from __future__ import annotations

import contextlib
import copy
import os
from pathlib import Path
from typing import Any

from sandbox import store
from sandbox.errors import RunDirError, SandboxError

try:
    from hydra.experimental.callback import Callback
except ImportError:  # pragma: no cover - hydra is a dependency; this keeps the module importable
    Callback = object  # type: ignore[assignment,misc]

#: The lock a sweep's own process holds on the sweep directory while the sweep runs.
SWEEP_LOCK = "sweep.lock"


class Refused(BaseException):
    """A :class:`SandboxError` on its way out through Hydra.

    Attributes:
        error: The error to report.
    """

    def __init__(self, error: SandboxError) -> None:
        super().__init__(str(error))
        self.error = error


#: The sweep directory this process is running, if any (for the message after a signal).
current_sweep_dir: Path | None = None

#: The bytes of each ``.hydra/`` file as they were before Hydra replaced them in this process
#: (``None``: the file did not exist), by path.
_replaced: dict[Path, bytes | None] = {}


def _keep_before_saving() -> None:
    """Wrap ``hydra.core.utils._save_config`` so that it keeps what it overwrites."""
    try:
        from hydra.core import utils
    except ImportError:  # pragma: no cover - hydra is a dependency
        return
    save = utils._save_config
    if getattr(save, "_keeps_old", False):
        return

    def keeping(cfg: Any, filename: str, output_dir: Path) -> None:
        path = Path(output_dir) / filename
        if path not in _replaced:
            try:
                _replaced[path] = path.read_bytes()
            except OSError:
                _replaced[path] = None
        save(cfg, filename, output_dir)

    keeping._keeps_old = True  # type: ignore[attr-defined]
    utils._save_config = keeping


_keep_before_saving()


#: ``multirun.yaml`` as it was before this sweep's command rewrote it (``None``: new).
_multirun_before: bytes | None = None


def restore_multirun_yaml() -> None:
    """Put back the sweep's ``multirun.yaml`` (every job of the command was refused)."""
    if current_sweep_dir is not None and _multirun_before is not None:
        with contextlib.suppress(OSError, SandboxError):
            store.write_atomic(  # its exact earlier bytes
                current_sweep_dir / "multirun.yaml", _multirun_before, scrub=False
            )


def restore_hydra_files(run_dir: Path) -> None:
    """Put back the ``.hydra/`` files of ``run_dir`` that Hydra replaced in this process (a job
    that is then refused must leave its directory as it was). Files it created stay only when
    the directory held no run before."""
    hydra_dir = (Path(run_dir) / ".hydra").resolve()
    for path, old in list(_replaced.items()):
        if path.resolve().parent != hydra_dir:
            continue
        del _replaced[path]
        if old is None:
            continue  # a new job directory: its .hydra/ describes the command that made it
        try:
            store.write_atomic(path, old, scrub=False)  # its exact earlier bytes
        except (OSError, SandboxError):
            continue


def _task_config(config: Any) -> Any:
    """The task's part of the composed config (what the task function receives)."""
    from omegaconf import open_dict, read_write

    task = copy.deepcopy(config)
    with read_write(task), open_dict(task):
        del task["hydra"]
    return task


def check_existing_run(config: Any, run_dir: Path) -> None:
    """The run's own checks, made on ``config`` before Hydra writes into ``run_dir``.

    Raises:
        SandboxError: The run would be refused (bad value against an existing run, the
            directory holds a run, another configuration, other inputs, a damaged log).
    """
    from sandbox.config import to_typed
    from sandbox.runner import check_run_dir

    if not (run_dir / store.RUN_JSON).exists() and not (run_dir / store.EPISODES).exists():
        return  # a new directory: nothing in it to protect
    typed = to_typed(_task_config(config))
    env_kwargs = {**typed.env.kwargs, **typed.intervention.env_kwargs}
    check_run_dir(typed, env_kwargs, run_dir, build_env=False)


def sweep_holds_jobs(sweep_dir: Path) -> bool:
    """Whether ``sweep_dir`` holds a job that logged records."""
    from sandbox.sweep import job_dirs

    if not sweep_dir.is_dir():
        return False
    try:
        jobs = job_dirs(sweep_dir)
    except OSError:
        return False
    for job in jobs:
        log = job / store.EPISODES
        if log.is_file() and log.stat().st_size:
            return True
    return False


class RunDirGuard(Callback):
    """Hydra callback: lock and check the output directory before Hydra writes into it."""

    def on_run_start(self, config: Any, **kwargs: Any) -> None:
        run_dir = Path(os.path.abspath(str(config.hydra.run.dir)))
        try:
            store.lock_run_dir(run_dir)
            check_existing_run(config, run_dir)
        except SandboxError as exc:
            store.unlock_run_dir(run_dir)
            raise Refused(exc) from None

    def on_multirun_start(self, config: Any, **kwargs: Any) -> None:
        global current_sweep_dir
        sweep_dir = Path(os.path.abspath(str(config.hydra.sweep.dir)))
        try:
            store.lock_run_dir(sweep_dir, "hydra.sweep.dir", name=SWEEP_LOCK)
            if not bool(config.get("resume", False)) and sweep_holds_jobs(sweep_dir):
                raise RunDirError(
                    f"{sweep_dir} already holds a sweep; add resume=true to continue it, or "
                    "choose another hydra.sweep.dir"
                )
        except SandboxError as exc:
            store.unlock_run_dir(sweep_dir, name=SWEEP_LOCK)
            raise Refused(exc) from None
        global _multirun_before
        try:
            _multirun_before = (sweep_dir / "multirun.yaml").read_bytes()
        except OSError:
            _multirun_before = None
        # Not claimed (no note written): a resumed sweep whose jobs are all refused leaves the
        # sweep directory as it was; a second sweep learns the holder from /proc/locks.
        current_sweep_dir = sweep_dir

    def on_multirun_end(self, config: Any, **kwargs: Any) -> None:
        sweep_dir = Path(os.path.abspath(str(config.hydra.sweep.dir)))
        store.unlock_run_dir(sweep_dir, name=SWEEP_LOCK)
