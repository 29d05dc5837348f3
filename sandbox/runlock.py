"""The run's lock: one writer per run directory (``run.lock``, an exclusive ``flock``).

Two writers on one run directory would log every episode twice. :func:`lock_run_dir` takes the
lock without waiting; a second writer is refused with a message that names the holder (pid,
host, command, start time). The lock dies with its holder, even by ``kill -9``.
:mod:`sandbox.store` re-exports these names.
"""

from __future__ import annotations

import contextlib
import errno
import fcntl
import json
import os
import socket
import sys
import time
from pathlib import Path

from sandbox import secrets
from sandbox.errors import RunDirError

#: The lock's file name in a run directory.
LOCK = "run.lock"


def _file_mode() -> int:
    """0666 less the process's umask: the mode ``open()`` would give a new file."""
    umask = os.umask(0o022)  # read it (there is no getter) at import, before any thread runs
    os.umask(umask)
    return 0o666 & ~umask


#: The mode every file the project writes gets (see :func:`sandbox.store.write_atomic`).
FILE_MODE = _file_mode()


class RunLock:
    """An exclusive ``flock`` on ``<run_dir>/run.lock``, held by the process writing the run.

    Two writers on one run directory would log every episode twice. The lock lives as long as
    the open file: it is released when the writer closes it or dies (even by ``kill -9``), so a
    lock left by a dead process never blocks. The file records its holder (pid, host, command,
    start time) for the message a second writer gets; that record is written only once the
    holder goes ahead (:meth:`claim`), so a command that is refused leaves the file as it was.
    The descriptor is not inherited by child processes.
    """

    def __init__(self, directory: Path, name: str = LOCK) -> None:
        self.path = Path(directory) / name
        self._fd: int | None = None

    @property
    def held(self) -> bool:
        """Whether this object holds the lock."""
        return self._fd is not None

    def acquire(self, what: str = "hydra.run.dir") -> None:
        """Take the lock without waiting.

        Args:
            what: The setting that chose the directory, for the fix in the message.

        Raises:
            RunDirError: Another process holds it (the message names that process), or the
                lock file cannot be made.
        """
        if self._fd is not None:
            return
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            fd = os.open(self.path, os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, FILE_MODE)
        except OSError as exc:
            raise RunDirError(
                f"cannot lock {self.path.parent}: {exc.strerror or exc}; choose a writable {what}"
            ) from None
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError as exc:
            holder = _read_holder(fd)
            os.close(fd)
            if exc.errno not in (errno.EWOULDBLOCK, errno.EAGAIN, errno.EACCES):
                raise RunDirError(
                    f"cannot lock {self.path}: {exc.strerror or exc} (the filesystem may not "
                    f"support flock); choose another {what}"
                ) from None
            raise RunDirError(
                f"{self.path.parent} is being written by another wsb run ({holder}); wait for "
                f"it to end or stop it, or choose another {what}"
            ) from None
        self._fd = fd

    def claim(self) -> None:
        """Record this process as the holder (call once the run goes ahead)."""
        if self._fd is None:
            return
        info = {
            "pid": os.getpid(),
            "host": socket.gethostname(),
            "command": " ".join(
                sys.argv if sys.argv[:1] == ["wsb run"] else ["wsb", *sys.argv[1:]]
            ),
            "since": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
        }
        data = secrets.scrub_bytes((json.dumps(info) + "\n").encode())  # argv may hold a URL
        with contextlib.suppress(OSError):  # the lock holds without the note
            os.ftruncate(self._fd, 0)
            os.pwrite(self._fd, data, 0)

    def release(self) -> None:
        """Let the lock go (closing the file releases it)."""
        if self._fd is not None:
            with contextlib.suppress(OSError):
                os.close(self._fd)
            self._fd = None


def _read_holder(fd: int) -> str:
    try:
        raw = os.pread(fd, 4096, 0)
        info = json.loads(raw.decode("utf-8", "replace") or "{}")
    except (OSError, ValueError):
        info = {}
    if not isinstance(info, dict) or "pid" not in info:
        pid = _flock_holder(fd)
        if pid is None:
            return "a process that has not said which yet"
        try:
            raw_cmd = Path(f"/proc/{pid}/cmdline").read_bytes()
            command = " ".join(part.decode("utf-8", "replace") for part in raw_cmd.split(b"\0"))
        except OSError:
            command = "?"
        info = {"pid": pid, "host": socket.gethostname(), "since": "?", "command": command.strip()}
    command = str(info.get("command", "?"))
    if len(command) > 120:
        command = command[:117] + "..."
    where = f"pid {info.get('pid')} on {info.get('host', '?')} since {info.get('since', '?')}"
    return f"{where}: {command}"


def _flock_holder(fd: int) -> int | None:
    """The pid holding a ``flock`` on ``fd``'s file, from ``/proc/locks`` (Linux, same host)."""
    try:
        stat = os.fstat(fd)
        text = Path("/proc/locks").read_text()
    except OSError:
        return None
    want = f":{stat.st_ino} "
    for line in text.splitlines():
        fields = line.split()
        # "1: FLOCK  ADVISORY  WRITE 1234 08:01:5678 0 EOF"
        found = len(fields) >= 6 and fields[1] == "FLOCK" and f"{fields[5]} ".endswith(want)
        if found and fields[4].isdigit():
            return int(fields[4])
    return None


#: Locks this process holds, by resolved directory (``flock`` is per open file: taking the same
#: lock twice in one process through two descriptors would refuse ourselves).
_HELD: dict[tuple[Path, str], RunLock] = {}


def lock_run_dir(directory: Path, what: str = "hydra.run.dir", name: str = LOCK) -> RunLock:
    """This process's lock on ``directory``, taken now unless it already holds it.

    Raises:
        RunDirError: Another process holds it.
    """
    key = (Path(directory).resolve(), name)
    lock = _HELD.get(key)
    if lock is None or not lock.held:
        lock = RunLock(Path(directory), name)
        lock.acquire(what)
        _HELD[key] = lock
    return lock


def unlock_run_dir(directory: Path, name: str = LOCK) -> None:
    """Release this process's lock on ``directory``, if it holds one."""
    lock = _HELD.pop((Path(directory).resolve(), name), None)
    if lock is not None:
        lock.release()
