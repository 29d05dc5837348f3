"""``wsb``: the command line. A thin adapter: it parses, then calls the library.

Subcommands: ``run`` (the Hydra app: overrides, ``-m`` for sweeps), ``envs`` (registered
environments), ``fake-api`` (the loopback fake Messages API). Errors a user caused print one or
two lines and exit with status 2; ``--debug`` (or ``HYDRA_FULL_ERROR=1``) shows the traceback.
"""

from __future__ import annotations

import argparse
import logging
import os
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from sandbox.errors import SandboxError

log = logging.getLogger("sandbox")

USAGE = """\
wsb run [OVERRIDES ...] [-m]   run an experiment (Hydra): e.g. wsb run intervention=exit_option
                               sweep: wsb run -m intervention=none,exit_option,rest_breaks
wsb envs                       list the registered environments
wsb fake-api [--port N ...]    serve the loopback fake Messages API (for the Claude path offline)
wsb run --help                 the config groups and their options
"""


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the ``wsb`` console script and ``python -m sandbox``."""
    args = list(sys.argv[1:] if argv is None else argv)
    debug = "--debug" in args
    if debug:
        args.remove("--debug")
        os.environ["HYDRA_FULL_ERROR"] = "1"
    if not args or args[0] in ("-h", "--help", "help"):
        print(USAGE, end="")
        return 0
    command, rest = args[0], args[1:]
    try:
        if command == "run":
            return _run_hydra(rest)
        if command == "envs":
            return _envs(rest)
        if command == "fake-api":
            from sandbox.llm.fake_server import main as fake_api_main

            return int(fake_api_main(rest) or 0)
    except SandboxError as exc:
        if debug or os.environ.get("HYDRA_FULL_ERROR") == "1":
            raise
        print(f"error: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        return 130
    print(f"error: unknown command {command!r}\n\n{USAGE}", file=sys.stderr, end="")
    return 2


def _envs(rest: list[str]) -> int:
    parser = argparse.ArgumentParser(prog="wsb envs", description="List registered environments.")
    parser.parse_args(rest)
    import gymnasium

    import environments  # noqa: F401

    for env_id, spec in sorted(gymnasium.registry.items()):
        if not env_id.startswith("WelfareSandbox/"):
            continue
        summary = ""
        entry = spec.entry_point
        if isinstance(entry, str):
            import importlib

            module, _, name = entry.partition(":")
            doc = getattr(importlib.import_module(module), name).__doc__ or ""
            summary = doc.strip().splitlines()[0] if doc.strip() else ""
        print(f"{env_id:<34} {summary}")
    return 0


def _run_hydra(rest: list[str]) -> int:
    """Hand the overrides to the Hydra app (it parses ``sys.argv`` itself)."""
    import hydra

    from sandbox.config import register_configs
    from sandbox.paths import config_dir

    register_configs()
    app = hydra.main(config_path=str(config_dir()), config_name="config", version_base="1.3")(_task)
    sys.argv = ["wsb run", *rest]
    status = app()
    return 0 if status in (None, 0) else int(status)


def _task(cfg: Any) -> int:
    """The Hydra task: turn the composed config into typed objects, then run."""
    from hydra.core.hydra_config import HydraConfig
    from hydra.types import RunMode

    from sandbox import runner
    from sandbox.config import to_typed
    from sandbox.display.base import make_display

    hydra_cfg = HydraConfig.get()
    run_dir = Path(hydra_cfg.runtime.output_dir)
    multirun = hydra_cfg.mode == RunMode.MULTIRUN
    _setup_logging(run_dir)
    try:
        typed = to_typed(cfg)
        if multirun and typed.display.mode == "auto":
            # Jobs of a sweep share the terminal (or run in other processes): one plain line per
            # episode keeps their output readable.
            typed.display.mode = "plain"
        result = runner.run(typed, run_dir, make_display(typed.display))
    except SandboxError as exc:
        if os.environ.get("HYDRA_FULL_ERROR") == "1":
            raise
        print(f"error: {exc}", file=sys.stderr)
        _mark_failed(run_dir, exc)
        if multirun:
            return 2  # the sweep goes on; the summary lists this job as failed
        sys.exit(2)
    return 0 if result.status == "complete" else 3


def _mark_failed(run_dir: Path, exc: BaseException) -> None:
    """Leave a ``run.json`` that says the job failed and why (the sweep summary reads it)."""
    from sandbox import store

    path = run_dir / store.RUN_JSON
    data: dict[str, Any] = store.read_json(path) if path.exists() else {}
    data.update(status="failed", reason=f"{type(exc).__name__}: {exc}")
    store.write_json_atomic(path, data)


def _setup_logging(run_dir: Path) -> None:
    """Warnings to stderr; everything from INFO up to ``run.log`` in the run directory."""
    run_dir.mkdir(parents=True, exist_ok=True)
    root = logging.getLogger()
    for handler in list(root.handlers):
        root.removeHandler(handler)
    root.setLevel(logging.INFO)
    to_file = logging.FileHandler(run_dir / "run.log", encoding="utf-8")
    to_file.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(name)s: %(message)s"))
    to_stderr = logging.StreamHandler(sys.stderr)
    to_stderr.setLevel(logging.WARNING)
    to_stderr.setFormatter(logging.Formatter("%(levelname)s: %(message)s"))
    root.addHandler(to_file)
    root.addHandler(to_stderr)
    for noisy in ("httpx", "httpcore", "httpx2", "anthropic"):
        logging.getLogger(noisy).setLevel(logging.WARNING)


if __name__ == "__main__":
    raise SystemExit(main())
