"""``wsb``: the command line. A thin adapter: it parses, then calls the library.

Subcommands: ``run`` (the Hydra app: overrides, ``-m`` for sweeps), ``watch`` (follow a run or
sweep from its files), ``replay`` (re-render a logged episode), ``report`` (proxies, effects,
figures), ``judge`` (a model judge's scores, :mod:`sandbox.judge`), ``envs`` (registered
environments), ``fake-api`` (the loopback fake Messages API),
``version``. Errors a user caused print one line (what was expected, what came, the fix) and
exit with status 2; ``--debug`` (or ``HYDRA_FULL_ERROR=1``) adds the traceback. Output into a
pipe whose reader has gone (``wsb envs | head -1``) ends quietly with status 141. ``wsb run``
exits 0 when every run is complete, 3 when a run (or a sweep's job) ended partial or failed,
and ``128 + signum`` when a signal stopped it: 130 Ctrl-C, 143 SIGTERM, 129 SIGHUP (each ends
the run ``partial`` with its finished episodes, see :mod:`sandbox.signals`). Before Hydra writes
into the output directory, :mod:`sandbox.guard` locks and checks it, so a refused run changes
nothing there.
"""

from __future__ import annotations

import argparse
import difflib
import errno
import logging
import os
import sys
import traceback
from collections.abc import Sequence
from pathlib import Path
from typing import Any, NoReturn

from sandbox.errors import SandboxError

log = logging.getLogger("sandbox")

USAGE = """\
wsb run [OVERRIDES ...] [-m]   run an experiment (Hydra): e.g. wsb run intervention=exit_option
                               sweep: wsb run -m intervention=none,exit_option,rest_breaks
wsb watch PATH [--once]        follow a run or a sweep live from its files
wsb replay RUN_DIR [--episode N] [--speed X]
                               re-render a logged episode step by step
wsb report PATH [--format table|md|csv|json|html] [--out FILE] [--plots DIR] [--control NAME]
                               proxies with intervals; a sweep's effects against its control
                               (--revealed RUN: an interview's stated ranking beside RUN's)
wsb judge PATH [--rubric NAME] [--model ID] [--budget-usd X]
                               score each episode's messages with a model judge (judge.json)
wsb envs                       list the registered environments
wsb fake-api [--port N ...]    serve the loopback fake Messages API (for the Claude path offline)
wsb run --help                 the config groups, launchers and keys of wsb run
wsb --version                  the installed version
"""


#: The subcommands, for "unknown command" and "did you mean".
COMMANDS = ("run", "watch", "replay", "report", "judge", "envs", "fake-api", "version")


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the ``wsb`` console script and ``python -m sandbox``."""
    args = list(sys.argv[1:] if argv is None else argv)
    if args[:1] != ["run"]:
        _end_startup()  # wsb run does so once its imports are done
    debug = "--debug" in args
    if debug:
        args.remove("--debug")
        os.environ["HYDRA_FULL_ERROR"] = "1"
    debug = debug or os.environ.get("HYDRA_FULL_ERROR") == "1"
    if not args or args[0] in ("-h", "--help", "help"):
        return _print(USAGE)
    if args[0] in ("--version", "-V", "version"):
        return _print(f"wsb (welfare-sandbox) {_version()}\n")
    command, rest = args[0], args[1:]
    try:
        code = _dispatch(command, rest)
        if code is None:
            close = difflib.get_close_matches(command, COMMANDS, n=1)
            hint = f" Did you mean wsb {close[0]}?" if close else ""
            print(
                f"error: unknown command {command!r}; expected one of {', '.join(COMMANDS)} "
                f"(wsb --help says what each does).{hint}",
                file=sys.stderr,
            )
            return 2
        sys.stdout.flush()  # a reader that went away shows here, inside the try
        return code
    except BrokenPipeError:
        return _stdout_closed()
    except SandboxError as exc:
        if debug:
            traceback.print_exc()  # then the same one line and status as without --debug
        print(f"error: {exc}", file=sys.stderr)
        return 2
    except OSError as exc:  # a path the user gave cannot be read or written (not a bug of ours)
        if debug:
            traceback.print_exc()
        print(f"error: {os_error_message(exc)}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        from sandbox import signals

        if not _INTERRUPT_SHOWN:  # a run says itself where its episodes are and how to resume
            print(f"interrupted ({signals.name()})", file=sys.stderr)
        return signals.exit_status()  # 128 + the signal's number: 130 Ctrl-C, 143 SIGTERM


def _dispatch(command: str, rest: list[str]) -> int | None:
    """Run one subcommand; ``None`` when there is no such command."""
    if command == "run":
        return _run_hydra(rest)
    if command == "envs":
        return _envs(rest)
    if command == "watch":
        return _watch(rest)
    if command == "replay":
        return _replay(rest)
    if command == "report":
        return _report(rest)
    if command == "judge":
        from sandbox.judge.cli import main as judge_main

        return judge_main(rest)
    if command == "fake-api":
        from sandbox.llm.fake_server import main as fake_api_main

        return int(fake_api_main(rest) or 0)
    return None


def _print(text: str) -> int:
    try:
        print(text, end="")
        sys.stdout.flush()
    except BrokenPipeError:
        return _stdout_closed()
    return 0


def _version() -> str:
    from importlib.metadata import PackageNotFoundError, version

    try:
        return version("welfare-sandbox")
    except PackageNotFoundError:  # a source tree on sys.path without an install
        return "unknown (not installed: pip install -e .)"


#: Exit status after the reader of stdout went away: 128 + SIGPIPE, as a shell reports for a
#: program that SIGPIPE ended (``yes | head -1``).
EXIT_PIPE_CLOSED = 141


def _stdout_closed() -> int:
    """The reader of stdout went away (``wsb envs | head -1``): stop quietly.

    Python ignores SIGPIPE, so a write to a closed pipe raises BrokenPipeError. As Python's
    documentation of the signal module advises ("Note on SIGPIPE"), stdout is pointed at
    devnull so that the flush at interpreter exit cannot raise again.
    """
    devnull = os.open(os.devnull, os.O_WRONLY)
    os.dup2(devnull, sys.stdout.fileno())
    return EXIT_PIPE_CLOSED


def os_error_message(exc: OSError) -> str:
    """One line for an OSError on a user's path: what failed, why, and the fix."""
    where = f"{exc.filename}: " if exc.filename else ""
    reason = exc.strerror or str(exc)
    fixes = {
        errno.EACCES: "choose a path you can write, or change its permissions",
        errno.EPERM: "choose a path you can write, or change its permissions",
        errno.EROFS: "the file system is read-only; choose a path on a writable one",
        errno.ENOSPC: "the disk is full; free space or choose a path on another disk",
        errno.EDQUOT: "the disk quota is used up; free space or choose another path",
        errno.ENOENT: "check the path (does every folder in it exist?)",
        errno.ENOTDIR: "a part of the path is a file, not a folder; check the path",
        errno.EEXIST: "a part of the path is a file, not a folder; check the path",
        errno.EISDIR: "the path is a folder; give a file name",
    }
    fix = fixes.get(exc.errno or 0, "check the path and try again")
    return f"cannot use {where}{reason}; {fix}"


class _Parser(argparse.ArgumentParser):
    """argparse, with its usage errors in one line (what came, and where the help is)."""

    def error(self, message: str) -> NoReturn:
        if message.startswith("unrecognized arguments"):
            message += "; quote a path that holds a space"
        self.exit(2, f"error: {self.prog}: {message} (see {self.prog} --help)\n")


def _envs(rest: list[str]) -> int:
    parser = _Parser(prog="wsb envs", description="List registered environments.")
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


def _watch(rest: list[str]) -> int:
    parser = _Parser(
        prog="wsb watch",
        description="Follow a run or a sweep live from its files until it ends.",
    )
    parser.add_argument("path", type=Path, help="a run directory or a sweep directory")
    parser.add_argument("--once", action="store_true", help="print one snapshot and exit")
    parser.add_argument(
        "--interval", type=float, default=0.5, help="seconds between polls (default 0.5)"
    )
    parser.add_argument("--job", type=int, help="in a sweep: follow job N's episodes")
    args = parser.parse_args(rest)
    from sandbox.display.watch_view import watch

    return watch(args.path, once=args.once, interval=args.interval, job=args.job)


def _replay(rest: list[str]) -> int:
    parser = _Parser(prog="wsb replay", description="Re-render a logged episode step by step.")
    parser.add_argument("run_dir", type=Path, help="a run directory")
    parser.add_argument("--episode", type=int, help="episode index (default: the first logged)")
    parser.add_argument(
        "--speed", type=float, default=4.0, help="steps per second (0: all at once; default 4)"
    )
    args = parser.parse_args(rest)
    from sandbox.display.replay_view import replay

    return replay(args.run_dir, episode=args.episode, speed=args.speed)


def _report(rest: list[str]) -> int:
    from sandbox.report import FORMATS

    parser = _Parser(
        prog="wsb report",
        description="Every proxy with its interval and n; for a sweep, effects of each "
        "condition against the control with bootstrap intervals.",
    )
    parser.add_argument("path", type=Path, help="a run directory or a sweep directory")
    parser.add_argument("--control", help="the control condition (default: intervention none)")
    parser.add_argument(
        "--revealed",
        type=Path,
        help="for an interview run: a task_preferences or workday run of the same model, to "
        "put the stated ranking beside its revealed utilities (Spearman, permutation p)",
    )
    parser.add_argument("--format", choices=FORMATS, default="table", dest="fmt")
    parser.add_argument("--out", type=Path, help="write to this file instead of stdout")
    parser.add_argument("--plots", type=Path, help="also write the figures as PNG files here")
    parser.add_argument(
        "--force",
        action="store_true",
        help="report a run whose log contradicts itself (duplicated or inconsistent records)",
    )
    args = parser.parse_args(rest)
    _check_report_args(args)  # before loading runs: that can take a minute
    from sandbox import store
    from sandbox.report import build_report, emit, require_plots, write_plots

    if args.fmt == "html" or args.plots is not None:
        require_plots()
    try:
        if args.force:
            with store.tolerate_inconsistent_logs():
                report = build_report(args.path, control=args.control)
        else:
            report = build_report(args.path, control=args.control)
    except store.LogContradiction as exc:
        fix = "restore it from a copy, or add --force to report it as it is"
        raise store.LogContradiction(exc.path, exc.problems, fix) from None
    if args.revealed is not None:
        from sandbox.metrics.concordance import add_to_report

        add_to_report(report, args.path, args.revealed)
    if args.plots is not None:
        for path in write_plots(report, args.plots):
            print(f"wrote {path}", file=sys.stderr)
    emit(report, args.fmt, args.out)
    return 0


def _check_report_args(args: argparse.Namespace) -> None:
    """Refuse an unwritable ``--out`` or ``--plots`` and an unknown ``--control`` at once."""
    from sandbox.errors import ConfigError
    from sandbox.overrides import check_writable

    if args.out is not None:
        if args.out.is_dir():
            raise ConfigError(
                f"--out {args.out} is a folder; expected a file name, e.g. "
                f"--out {args.out / ('report.' + {'table': 'txt'}.get(args.fmt, args.fmt))}"
            )
        check_writable(args.out.parent, "the folder of --out", "--out FILE")
    if args.plots is not None:
        check_writable(args.plots, "the --plots folder", "--plots DIR")
    if args.control is not None:
        _check_control(args.path, args.control)


def _check_control(path: Path, wanted: str) -> None:
    """Refuse a ``--control`` that names no job of the sweep, from its small files only.

    Accepts what the report accepts (an intervention name, a job number or directory, or the
    overrides that tell a job apart, joined by commas); the report then picks the job.
    """
    import yaml

    from sandbox import store
    from sandbox.report import ReportError
    from sandbox.sweepdir import job_dirs

    if not path.is_dir() or store.is_run_dir(path):
        return  # the report says what is wrong with a run or a missing path, at once
    jobs = job_dirs(path)
    names, accepted, override_sets = [], set(), []
    for job in jobs:
        rel = job.relative_to(path).as_posix()
        overrides = job / ".hydra" / "overrides.yaml"
        try:
            run = store.read_json(job / store.RUN_JSON)
            listed = yaml.safe_load(overrides.read_text("utf-8")) if overrides.is_file() else []
        except (SandboxError, OSError, yaml.YAMLError):
            return  # a damaged job: the report says so in its own words
        intervention = run.get("intervention")
        name = intervention.get("name") if isinstance(intervention, dict) else None
        names.append(str(name) if name else rel)
        accepted |= {rel, rel.split("-", 1)[0], str(name)}
        override_sets.append({str(o) for o in listed or []})
    if not jobs or wanted in accepted or any(_joins(wanted, s) for s in override_sets):
        return
    shown = ", ".join(dict.fromkeys(names))
    raise ReportError(
        f"--control {wanted!r} names no condition of this sweep; expected one of: {shown} "
        f"(or a job number 0-{len(jobs) - 1})"
    )


def _joins(text: str, items: set[str]) -> bool:
    """Whether ``text`` is some of ``items`` joined by commas (a condition's override label)."""
    reachable = {0}
    for end in range(1, len(text) + 1):
        if any(
            text[start:end] in items and (end == len(text) or text[end] == ",")
            for start in reachable
        ):
            reachable.add(end + 1)
    return len(text) + 1 in reachable


def _end_startup() -> None:
    """Give Ctrl-C back to Python (``python -m sandbox`` stops quietly while it imports)."""
    import signal

    if getattr(signal.getsignal(signal.SIGINT), "__name__", "") == "_startup_interrupt":
        signal.signal(signal.SIGINT, signal.default_int_handler)


def _run_hydra(rest: list[str]) -> int:
    """Hand the overrides to the Hydra app (it parses ``sys.argv`` itself)."""
    if "--help" in rest or "-h" in rest:  # Hydra's own help lists schemas, not the launchers
        from sandbox.overrides import run_help
        from sandbox.paths import config_dir as help_config_dir

        return _print(run_help(help_config_dir()))
    from sandbox import signals

    signals.install(main=True)  # first: SIGTERM and SIGHUP take Ctrl-C's path from here on
    from sandbox.composition import compose_once
    from sandbox.config import register_configs

    register_configs()
    with compose_once():  # the pre-check's composition is the one Hydra's run uses
        return _run_app(rest)


def _run_app(rest: list[str]) -> int:
    """Check ``wsb run``'s arguments, then run the Hydra app on them."""
    global _INTERRUPT_SHOWN
    import hydra

    from sandbox import guard, signals, sweep
    from sandbox.composition import mode_override
    from sandbox.overrides import check_overrides
    from sandbox.paths import config_dir

    check_overrides(config_dir(), rest, job_name=_task.__module__.rpartition(".")[2])
    app = hydra.main(config_path=str(config_dir()), config_name="config", version_base="1.3")(_task)
    mode = []
    if mode_override(rest) is None and all(a in ("-m", "--multirun") or a[:1] != "-" for a in rest):
        # What Hydra adds itself; given, Hydra need not compose the config to learn the mode.
        mode = ["hydra.mode=MULTIRUN" if {"-m", "--multirun"} & set(rest) else "hydra.mode=RUN"]
    sys.argv = ["wsb run", *rest, *mode]
    # Hydra's main does not pass the task's return value on: the outcome is collected here.
    _OUTCOMES.clear()
    sweep.last_rows = None
    _end_startup()
    try:
        app()
    except guard.Refused as refused:  # checked before Hydra wrote anything (sandbox/guard.py)
        raise refused.error from None
    except KeyboardInterrupt:
        if guard.current_sweep_dir is not None and not _INTERRUPT_SHOWN:
            # The jobs ran in worker processes, which said where their episodes are.
            print(
                f"interrupted ({signals.name()}): finished episodes are kept; to continue, run "
                f"the same command with resume=true hydra.sweep.dir={guard.current_sweep_dir}",
                file=sys.stderr,
            )
            _INTERRUPT_SHOWN = True
        raise
    if sweep.last_rows is not None:  # a sweep, under any launcher: its summary says how it went
        if 2 in _OUTCOMES:
            if all(outcome == 2 for outcome in _OUTCOMES):
                guard.restore_multirun_yaml()  # every job refused: the sweep stays as it was
            return 2  # a job run by this process was refused
        return 0 if all(row.get("status") == "complete" for row in sweep.last_rows) else 3
    return max(_OUTCOMES, default=0)


#: Exit statuses of the runs this process made (``_task`` appends; ``_run_hydra`` reads).
_OUTCOMES: list[int] = []
#: Whether a job of this process printed how to resume after a signal.
_INTERRUPT_SHOWN = False


def _task(cfg: Any) -> int:
    """The Hydra task: turn the composed config into typed objects, then run."""
    from hydra.core.hydra_config import HydraConfig
    from hydra.types import RunMode

    from sandbox import runner, signals, store
    from sandbox.config import to_typed
    from sandbox.display import make_display

    global _INTERRUPT_SHOWN
    if signals.received is not None:
        return signals.exit_status()  # a worker told to stop starts no further job
    # In a sweep's worker process too (submitit's job would otherwise ignore SIGTERM).
    signals.install()
    hydra_cfg = HydraConfig.get()
    run_dir = Path(hydra_cfg.runtime.output_dir)
    multirun = hydra_cfg.mode == RunMode.MULTIRUN
    manifest_before = _read_bytes(run_dir / store.RUN_JSON)
    log_before = _read_bytes(run_dir / "run.log") if manifest_before is not None else None
    _setup_logging(run_dir)
    try:
        typed = to_typed(cfg)
        if multirun and typed.display.mode == "auto":
            # Jobs of a sweep share the terminal (or run in other processes): one plain line per
            # episode keeps their output readable.
            typed.display.mode = "plain"
        result = runner.run(typed, run_dir, make_display(typed.display))
        if result.reason is not None and result.reason.startswith("interrupted"):
            where = "hydra.sweep.dir" if multirun else "hydra.run.dir"
            folder = hydra_cfg.sweep.dir if multirun else run_dir
            print(
                f"interrupted ({signals.name()}): finished episodes are kept in {run_dir}; to "
                f"continue, run the same command with resume=true {where}={folder}",
                file=sys.stderr,
            )
            _INTERRUPT_SHOWN = True
            if signals.in_worker() and signals.received is not None:
                # A sweep's worker stopped by a signal: its run is written, and the next job
                # this worker is handed returns at once (see above); the parent, which passed
                # the signal on, stops the sweep. (Exiting here would make joblib kill the
                # other workers before they have written their runs.)
                return signals.exit_status()
            raise KeyboardInterrupt  # stop a sweep too, not only its current job
    except SandboxError as exc:
        if os.environ.get("HYDRA_FULL_ERROR") == "1":
            traceback.print_exc()
        print(f"error: {exc}", file=sys.stderr)
        _mark_failed(run_dir, exc, manifest_before)
        refused = manifest_before is not None and (
            _read_bytes(run_dir / store.RUN_JSON) == manifest_before
        )
        if refused:
            # Refused before it wrote anything: leave the directory as it was (Hydra's files in
            # .hydra/, what this attempt logged to run.log).
            from sandbox import guard

            guard.restore_hydra_files(run_dir)
            _restore_log(run_dir / "run.log", log_before)
        if multirun:
            # The sweep goes on. A failed job is listed as failed in the summary (exit 3); a
            # refused one is unchanged there, so the sweep's exit status says it (2).
            _OUTCOMES.append(2 if refused else 3)
            return 2
        sys.exit(2)
    _OUTCOMES.append(0 if result.status == "complete" else 3)
    return _OUTCOMES[-1]


def _mark_failed(run_dir: Path, exc: BaseException, before: bytes | None) -> None:
    """Leave a ``run.json`` that says the job failed and why (the sweep summary reads it).

    Only in a directory this command was writing: a ``run.json`` it found (``before``) and did
    not change belongs to a run it refused, and stays as it was; so does one another process
    writes (it holds the lock), and one the run itself closed after a failed write.
    """
    from sandbox import store

    if isinstance(exc, store.RunWriteError):
        return  # the runner wrote why, if the disk let it
    path = run_dir / store.RUN_JSON
    if before is not None and _read_bytes(path) == before:
        return
    try:
        lock = store.lock_run_dir(run_dir)
    except SandboxError:
        return  # another process writes this run
    try:
        data: dict[str, Any] = store.read_json(path) if path.exists() else {}
        data.update(status="failed", reason=f"{type(exc).__name__}: {exc}")
        store.write_json_atomic(path, data)
    except SandboxError as again:
        log.error("run.json could not record the failure: %s", again)
    finally:
        lock.release()
        store.unlock_run_dir(run_dir)


def _restore_log(path: Path, before: bytes | None) -> None:
    """Undo what this process appended to ``run.log`` (its records were only appended)."""
    root = logging.getLogger()
    for handler in list(root.handlers):
        if isinstance(handler, logging.FileHandler) and Path(handler.baseFilename) == path:
            root.removeHandler(handler)  # closed alone, a delayed FileHandler opens again
            handler.close()
    try:
        if before is None:
            path.unlink(missing_ok=True)
        elif path.stat().st_size > len(before):
            os.truncate(path, len(before))
    except OSError:
        pass


def _read_bytes(path: Path) -> bytes | None:
    try:
        return path.read_bytes()
    except OSError:
        return None


def _setup_logging(run_dir: Path) -> None:
    """Warnings to stderr; everything from INFO up to ``run.log`` in the run directory."""
    run_dir.mkdir(parents=True, exist_ok=True)
    root = logging.getLogger()
    for handler in list(root.handlers):
        root.removeHandler(handler)
    root.setLevel(logging.INFO)
    # delay: run.log is opened at the first record, so a refused run leaves the directory as it was
    to_file = logging.FileHandler(run_dir / "run.log", encoding="utf-8", delay=True)
    to_file.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(name)s: %(message)s"))
    to_stderr = logging.StreamHandler(sys.stderr)
    to_stderr.setLevel(logging.WARNING)
    to_stderr.setFormatter(logging.Formatter("%(levelname)s: %(message)s"))
    from sandbox.secrets import ScrubFilter

    for handler in (to_file, to_stderr):  # run.log and the terminal: no secret value in either
        handler.addFilter(ScrubFilter())
        root.addHandler(handler)
    for noisy in ("httpx", "httpcore", "httpx2", "anthropic"):
        logging.getLogger(noisy).setLevel(logging.WARNING)


if __name__ == "__main__":
    raise SystemExit(main())
