"""Shared test fixtures: composing the Hydra config, running small runs into tmp_path, and
``wsb`` as a user runs it (:func:`wsb`)."""

from __future__ import annotations

import contextlib
import csv
import io
import logging
import os
import signal
import subprocess
import sys
from collections.abc import Callable, Iterator, Mapping
from pathlib import Path
from typing import NamedTuple

import pytest
from hydra import compose, initialize_config_dir
from hydra.core.global_hydra import GlobalHydra

from sandbox.config import RunConfig, register_configs, to_typed
from sandbox.paths import config_dir

REPO = Path(__file__).resolve().parents[1]

# ---------------------------------------------------------------------------------------------
# BailBench (Ensign, Sleight & Fish 2025): mostly harmful requests, so it is never in the
# repository. Its loader is tested on a small stand-in in the same format that the tests write;
# the tests of the published file itself run where the file is: WSB_BAILBENCH, or, when that is
# unset, ../shared/data/bailbench/bailBench.csv beside the repository (where CI has it).
# ---------------------------------------------------------------------------------------------

BAILBENCH = Path(
    os.environ.get("WSB_BAILBENCH")
    or REPO.parent / "shared" / "data" / "bailbench" / "bailBench.csv"
).expanduser()
needs_bailbench = pytest.mark.skipif(
    not BAILBENCH.is_file(),
    reason=f"the published BailBench file is not at {BAILBENCH}: get bailstudy/data/bailBench.csv "
    "from the GitHub repository Phylliida/BailStudy (MIT) and set WSB_BAILBENCH=/path/to/"
    "bailBench.csv (its loader is still tested on a stand-in)",
)

#: BailBench's 14 categories, in the order of the published file.
BAILBENCH_CATEGORIES = (
    "Gross Out", "Dark Topics", "Emotional Intensity", "Horror",
    "Model-Personification & Victim Narratives", "Legal Concerns", "Corporate Safety Concerns",
    "Harassment/Discrimination", "Fraud/Deception", "Malware/Hacking", "Physical Harm",
    "Economic Harm", "Disinformation", "Illegal Sexual/Adult Content",
)  # fmt: skip


class BailBenchBank(NamedTuple):
    """A BailBench-format file for a test: its path, its rows, and what the rows hold."""

    path: Path
    rows: int
    categories: int
    published: bool


def write_bailbench_like(folder: Path) -> BailBenchBank:
    """Write a harmless stand-in for BailBench in its exact format to ``folder/bailBench.csv``.

    The same header (``content,subcategory,category``), the same CRLF line ends, the same 14
    categories in the published order; two subcategories of two rows each (the first
    category's subcategory is the category itself, as in the file), with cells that need
    quoting (commas and doubled quotes) as some of the published ones do. 56 rows.
    """
    path = folder / "bailBench.csv"
    with path.open("w", encoding="utf-8", newline="") as out:
        writer = csv.writer(out)  # the csv module's defaults: minimal quoting, CRLF
        writer.writerow(["content", "subcategory", "category"])
        for number, category in enumerate(BAILBENCH_CATEGORIES):
            subcategories = (
                [category, f"{category} B"] if number == 0 else [f"{category} A", f"{category} B"]
            )
            for subcategory in subcategories:
                writer.writerow([f"Stand-in request about {subcategory}.", subcategory, category])
                writer.writerow(
                    [f'A second stand-in, "quoted", for {subcategory}, with commas.', subcategory,
                     category]
                )  # fmt: skip
    return BailBenchBank(path, 4 * len(BAILBENCH_CATEGORIES), len(BAILBENCH_CATEGORIES), False)


@pytest.fixture(params=["stand-in", pytest.param("published", marks=needs_bailbench)])
def bailbench_bank(request: pytest.FixtureRequest, tmp_path: Path) -> BailBenchBank:
    """The BailBench stand-in, then (where it is found) the published file: 1,630 rows."""
    if request.param == "published":
        return BailBenchBank(BAILBENCH, 1630, 14, True)
    return write_bailbench_like(tmp_path)


def typed_config(*overrides: str) -> RunConfig:
    """The project's config composed with ``overrides`` as ``wsb run`` would, typed (one call;
    :func:`compose_cfg` keeps Hydra initialised for many)."""
    register_configs()
    GlobalHydra.instance().clear()
    try:
        with initialize_config_dir(config_dir=str(config_dir()), version_base="1.3"):
            return to_typed(compose(config_name="config", overrides=list(overrides)))
    finally:
        GlobalHydra.instance().clear()


@pytest.fixture
def compose_cfg() -> Iterator[Callable[..., RunConfig]]:
    """Compose the project's config with overrides, as ``wsb run`` would, typed."""
    register_configs()
    GlobalHydra.instance().clear()
    with initialize_config_dir(config_dir=str(config_dir()), version_base="1.3"):

        def _compose(*overrides: str) -> RunConfig:
            return to_typed(compose(config_name="config", overrides=list(overrides)))

        yield _compose
    GlobalHydra.instance().clear()


# ---------------------------------------------------------------------------------------------
# wsb as a user runs it. In this process by default (``sandbox.cli.main`` with its output and
# exit status captured: no interpreter to start, no imports to repeat); in a child process with
# ``process=True``, for what needs a process of its own (signals, kill, a second writer's
# lock, what a fresh interpreter imports) or a test's ``preexec``.
# ---------------------------------------------------------------------------------------------


def wsb(
    *args: str,
    cwd: Path,
    env: dict[str, str | None] | None = None,
    check: bool = False,
    process: bool = False,
    stdout: int | None = subprocess.PIPE,
    preexec: Callable[[], None] | None = None,
    timeout: float = 300,
) -> subprocess.CompletedProcess[str]:
    """Run ``wsb ARGS`` in ``cwd``; its exit status and output as a CompletedProcess.

    Args:
        args: The command line after ``wsb``.
        cwd: The working directory (relative paths such as ``runs/`` land there).
        env: Environment variables to set for the command, ``None`` to unset one
            (``HYDRA_FULL_ERROR`` is unset unless given here).
        check: Raise AssertionError, with the stderr, unless the exit status is 0.
        process: Run ``python -m sandbox`` in a child process.
        stdout: Where a child's stdout goes (``subprocess.PIPE``: captured); in-process,
            anything else than PIPE runs it in a child.
        preexec: For a child process: called in it before it starts (runs it in a child).
        timeout: Seconds a child may take.
    """
    if process or preexec is not None or stdout is not subprocess.PIPE:
        full_env = _command_env(os.environ, env or {})
        proc = subprocess.run(
            [sys.executable, "-m", "sandbox", *args],
            cwd=cwd,
            stdout=stdout,
            stderr=subprocess.PIPE,
            text=True,
            env=full_env,
            timeout=timeout,
            preexec_fn=preexec,
        )
    else:
        proc = _wsb_in_process(list(args), cwd, env or {})
    if check and proc.returncode != 0:
        raise AssertionError(f"wsb {' '.join(args)} exited {proc.returncode}:\n{proc.stderr}")
    return proc


def _command_env(base: Mapping[str, str], env: Mapping[str, str | None]) -> dict[str, str]:
    """``base`` without ``HYDRA_FULL_ERROR``, with ``env`` set (``None``: unset) over it."""
    out = {k: v for k, v in base.items() if k != "HYDRA_FULL_ERROR"}
    for key, value in env.items():
        if value is None:
            out.pop(key, None)
        else:
            out[key] = value
    return out


def _wsb_in_process(
    args: list[str], cwd: Path, env: Mapping[str, str | None]
) -> subprocess.CompletedProcess[str]:
    """``sandbox.cli.main(args)`` here, leaving this process as it found it."""
    from sandbox import cli, guard, signals, sweep

    out, err = io.StringIO(), io.StringIO()
    saved_env = dict(os.environ)
    saved_argv, saved_cwd = list(sys.argv), os.getcwd()
    root = logging.getLogger()
    saved_handlers, saved_level = list(root.handlers), root.level
    saved_signals = {s: signal.getsignal(s) for s in (signal.SIGINT, *signals.STOP_SIGNALS)}
    saved_main_pid = signals.main_pid
    command_env = _command_env(saved_env, env)
    os.environ.clear()
    os.environ.update(command_env)
    os.chdir(cwd)
    for handler in saved_handlers:  # as in a fresh process: warnings reach stderr (lastResort)
        root.removeHandler(handler)
    root.setLevel(logging.WARNING)
    try:
        with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
            try:
                code = cli.main(args)
            except SystemExit as exc:  # Hydra's own errors, and a run refused in its task
                code = exc.code if isinstance(exc.code, int) else (0 if exc.code is None else 1)
                if isinstance(exc.code, str):
                    print(exc.code, file=sys.stderr)
            sys.stdout.flush()
    finally:
        os.chdir(saved_cwd)
        os.environ.clear()
        os.environ.update(saved_env)
        sys.argv = saved_argv
        for handler in list(root.handlers):
            if handler not in saved_handlers:
                root.removeHandler(handler)
                handler.close()
        for handler in saved_handlers:
            if handler not in root.handlers:
                root.addHandler(handler)
        root.setLevel(saved_level)
        for signum, handler in saved_signals.items():
            signal.signal(signum, handler)
        # What one command of a process keeps for its own end (a fresh process starts empty).
        signals.received = None
        signals.main_pid = saved_main_pid
        guard.current_sweep_dir = None
        guard._multirun_before = None
        guard._replaced.clear()
        cli._OUTCOMES.clear()
        cli._INTERRUPT_SHOWN = False
        sweep.last_rows = None
    return subprocess.CompletedProcess(["wsb", *args], code, out.getvalue(), err.getvalue())
