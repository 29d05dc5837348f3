"""SIGTERM and SIGHUP end a run the way Ctrl-C does.

A cluster stops a job with SIGTERM (SLURM on preemption or at the time limit, then SIGKILL a
grace period later); a closed terminal sends SIGHUP. Either one takes the path Ctrl-C takes:
while a run's event loop runs, the handler cancels the run's main task (as asyncio's own Ctrl-C
handler does); elsewhere it raises KeyboardInterrupt. The episodes in flight are cancelled, the
finished ones kept, ``run.json`` says ``partial`` with the reason, the resume command is
printed, and ``wsb`` exits with ``128 + signum`` (130 SIGINT, 143 SIGTERM, 129 SIGHUP). Once
stopping, a process ignores further SIGTERM/SIGHUP, so that writing its run is not cut short.

A sweep's workers (joblib's processes, submitit's local jobs) run in processes of their own:
the process that receives the signal first passes it on to its child processes and waits (up
to :data:`GRACE_S`) until none of them holds a run's lock, so that none outlives it and keeps
writing. A worker stopped this way starts no further job.
"""

from __future__ import annotations

import contextlib
import logging
import os
import signal
import threading
import time
from pathlib import Path
from types import FrameType
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    import asyncio

log = logging.getLogger(__name__)

#: Signals handled like SIGINT.
STOP_SIGNALS = (signal.SIGTERM, signal.SIGHUP)
#: Seconds a process waits for its children to finish after passing a signal on (SLURM's
#: default KillWait, between SIGTERM and SIGKILL, is 30 s).
GRACE_S = 25.0

#: The first stop signal this process received (``None``: none, or only SIGINT).
received: int | None = None
#: The process that installed the handlers first: the ``wsb`` command itself (a worker forked
#: from it inherits the value, a spawned one does not set it), so a worker knows it is one.
main_pid: int | None = None


def install(*, main: bool = False) -> None:
    """Handle SIGTERM and SIGHUP like SIGINT in this process (main thread only).

    A signal that is ignored (``nohup`` ignores SIGHUP) stays ignored.

    Args:
        main: This is the ``wsb`` command's own process (not a sweep's worker).
    """
    global main_pid
    if main and main_pid is None:
        main_pid = os.getpid()
    if threading.current_thread() is not threading.main_thread():
        return
    for signum in STOP_SIGNALS:
        with contextlib.suppress(OSError, ValueError):
            if signal.getsignal(signum) is not signal.SIG_IGN:
                signal.signal(signum, _on_stop_signal)


def watch_loop(loop: asyncio.AbstractEventLoop, task: asyncio.Task[Any]) -> None:
    """While ``loop`` runs, a stop signal cancels ``task`` (the run's main task), as asyncio's
    own Ctrl-C handler does: from the signal handler itself, so that it takes effect even while
    the loop runs many episodes that never wait (a simulated subject). :func:`unwatch` puts
    the handlers that were there before back once the loop is done."""
    if threading.current_thread() is not threading.main_thread():
        return

    def on_signal(signum: int, frame: FrameType | None) -> None:
        _note(signum)
        if not task.done():
            task.cancel()
        with contextlib.suppress(RuntimeError):  # wake the loop up if it waits
            loop.call_soon_threadsafe(lambda: None)

    for signum in STOP_SIGNALS:
        with contextlib.suppress(OSError, ValueError):
            previous = signal.getsignal(signum)
            if previous is not signal.SIG_IGN:
                signal.signal(signum, on_signal)
                _before_loop[signum] = previous


#: The handlers :func:`watch_loop` replaced, by signal.
_before_loop: dict[int, Any] = {}


def unwatch() -> None:
    """Put back the handlers :func:`watch_loop` replaced (main thread only)."""
    if threading.current_thread() is not threading.main_thread():
        return
    while _before_loop:
        signum, previous = _before_loop.popitem()
        with contextlib.suppress(OSError, ValueError, TypeError):
            signal.signal(signum, previous if previous is not None else signal.SIG_DFL)


def in_worker() -> bool:
    """Whether this process is a sweep's worker, not the ``wsb`` command's own process."""
    return main_pid != os.getpid()


def name() -> str:
    """The name of the signal that stopped this process (``SIGINT`` when none other came)."""
    return signal.Signals(received).name if received is not None else "SIGINT"


def reason() -> str:
    """``run.json``'s reason for a run stopped by a signal."""
    return "interrupted" if received is None else f"interrupted by {name()}"


def exit_status() -> int:
    """``128 + signum`` of the signal that stopped this process (130 for Ctrl-C)."""
    return 128 + (received if received is not None else signal.SIGINT)


def _note(signum: int) -> None:
    """Remember the first stop signal, and pass it on to the child processes."""
    global received
    if received is None:
        received = signum
        log.warning(
            "%s received: stopping; finished episodes are kept", signal.Signals(signum).name
        )
        stop_children(signum)


def _on_stop_signal(signum: int, frame: FrameType | None) -> None:
    if received is not None:
        # Already stopping: SLURM signals every process of a job, and a parent passes its
        # signal on too, so a worker may get two; the second must not cut short the writing of
        # its run. (Ctrl-C a second time, or SIGKILL, still stops at once.)
        return
    _note(signum)
    if not callable(signal.getsignal(signal.SIGINT)):
        # SIGINT ignored (joblib's workers ignore it, so that Ctrl-C reaches their parent):
        # asyncio.run installed no handler of its own either; stop as Python's own would.
        raise KeyboardInterrupt
    # Ctrl-C's path: asyncio.run cancels the episodes (a second signal stops at once), and
    # elsewhere Python raises KeyboardInterrupt.
    signal.raise_signal(signal.SIGINT)


def children(pid: int | None = None) -> list[int]:
    """The processes descended from ``pid`` (default: this process), from ``/proc``."""
    root = os.getpid() if pid is None else pid
    parents: dict[int, int] = {}
    for entry in Path("/proc").iterdir() if Path("/proc").is_dir() else ():
        if not entry.name.isdigit():
            continue
        try:
            stat = (entry / "stat").read_text()
        except OSError:
            continue
        # "pid (comm) state ppid ...": comm may hold spaces and parentheses.
        fields = stat.rsplit(")", 1)[-1].split()
        if len(fields) >= 2 and fields[1].isdigit():
            parents[int(entry.name)] = int(fields[1])
    found: list[int] = []
    frontier = [root]
    while frontier:
        parent = frontier.pop()
        for child, ppid in parents.items():
            if ppid == parent and child not in found:
                found.append(child)
                frontier.append(child)
    return found


def writing_a_run(pid: int) -> bool:
    """Whether process ``pid`` holds a run's lock (``run.lock``) open, that is, writes a run."""
    from sandbox.store import LOCK

    try:
        fds = list(Path(f"/proc/{pid}/fd").iterdir())
    except OSError:
        return False
    for fd in fds:
        with contextlib.suppress(OSError):
            if os.readlink(fd).endswith("/" + LOCK):
                return True
    return False


def stop_children(signum: int, grace_s: float = GRACE_S) -> None:
    """Pass ``signum`` on to every descendant process, then wait (at most ``grace_s``) until
    none of them is writing a run any more.

    Helpers that ignore the signal (multiprocessing's resource tracker) are not waited for.
    """
    pids = children()
    for pid in pids:
        with contextlib.suppress(OSError):
            os.kill(pid, signum)
    deadline = time.monotonic() + grace_s
    while any(writing_a_run(pid) for pid in pids) and time.monotonic() < deadline:
        time.sleep(0.05)
