"""The spending ledger: stops model calls before the spend would pass ``budget_usd``.

A model agent asks :meth:`Budget.reserve` for the worst-case cost of a call before making it
(input tokens at the input price plus ``max_tokens`` at the output price) and settles the real
cost with :meth:`Budget.settle` afterwards. A reservation that would take committed plus reserved
spend past the limit raises :class:`~sandbox.errors.BudgetExceeded`; the runner ends that episode
with reason ``budget``, starts no new ones, and marks the run ``partial``.

**A sweep shares one ledger.** The jobs of a multirun may run in several processes (joblib,
submitit, SLURM array tasks), each with its own :class:`Budget`. When a run directory lies inside
a sweep directory (an ancestor holds Hydra's ``multirun.yaml``; :meth:`Budget.for_run` finds it),
every reservation and settlement also goes through ``<sweep_dir>/budget.json``, read and
rewritten under an exclusive ``fcntl.flock`` on ``budget.json.lock``. The limit is then checked
against the spend and reservations of *all* jobs, so the sweep as a whole never spends past
``budget_usd``. The ledger keeps what was spent across invocations: a resumed sweep continues it
(raise ``budget_usd`` to allow more). A single run's budget counts this invocation only.

``budget.json``::

    schema          1
    limit_usd       the limit of the job that wrote last (null: none)
    spent_usd       settled cost of every job's calls
    reserved_usd    worst-case cost of calls in flight, all jobs
    runs            {job directory relative to the sweep: its settled cost}
    holders         {holder id: {"reserved_usd", "pid", "host", "run", "updated"}} (in flight)
    updated_at      Unix time of the last change

A process killed with calls in flight leaves its reservation behind; the next transaction drops
holders whose process is gone (same host) or that have not changed for ``STALE_AFTER_S``.
"""

from __future__ import annotations

import fcntl
import json
import os
import socket
import threading
import time
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from sandbox import store
from sandbox.errors import BudgetExceeded

#: The sweep ledger's file name, at the root of a sweep directory.
LEDGER = "budget.json"
#: Hydra writes this at the root of every sweep directory before it launches a job.
MULTIRUN_YAML = "multirun.yaml"
#: A holder whose reservation has not changed for this long is presumed dead (another host).
STALE_AFTER_S = 6 * 3600.0


def find_sweep_dir(run_dir: Path) -> Path | None:
    """The sweep directory holding ``run_dir`` (the nearest ancestor with ``multirun.yaml``).

    Job directories are usually direct children of the sweep directory, but an override value
    holding ``/`` nests them deeper, so every ancestor is checked.
    """
    for parent in Path(run_dir).resolve().parents:
        if (parent / MULTIRUN_YAML).is_file():
            return parent
    return None


@dataclass
class Budget:
    """A limit in US dollars shared by every episode of a run (and every job of a sweep).

    Attributes:
        limit_usd: The most the run (or the sweep, with a ledger) may spend; ``None`` for no
            limit.
        spent_usd: Cost of this run's settled calls so far.
        reserved_usd: Worst-case cost of this run's calls in flight.
        exhausted: Set once a reservation was refused; the runner starts no new episode.
        ledger: The sweep's ``budget.json`` shared with the other jobs, or ``None``.
        run: This run's name in the ledger (its directory relative to the sweep's).
    """

    limit_usd: float | None = None
    spent_usd: float = 0.0
    reserved_usd: float = 0.0
    exhausted: bool = False
    ledger: Path | None = None
    run: str = ""
    _lock: threading.Lock = field(default_factory=threading.Lock, repr=False)
    _holder: str = field(
        default_factory=lambda: f"{socket.gethostname()}:{os.getpid()}:{uuid.uuid4().hex[:8]}",
        repr=False,
    )

    @classmethod
    def for_run(cls, limit_usd: float | None, run_dir: Path) -> Budget:
        """The budget of a run in ``run_dir``: shared through the sweep's ledger in a sweep."""
        sweep_dir = find_sweep_dir(run_dir)
        if sweep_dir is None:
            return cls(limit_usd)
        try:
            name = str(Path(run_dir).resolve().relative_to(sweep_dir))
        except ValueError:  # pragma: no cover - find_sweep_dir returns an ancestor
            name = str(run_dir)
        return cls(limit_usd, ledger=sweep_dir / LEDGER, run=name)

    def reserve(self, usd: float) -> float:
        """Reserve ``usd`` for a call about to be made; returns the amount reserved.

        Raises:
            BudgetExceeded: The call could take the spend (of the sweep, with a ledger) past
                the limit.
        """
        with self._lock:
            if self.ledger is None:
                self._check(self.spent_usd, self.reserved_usd, usd, "")
            else:
                with self._shared() as state:
                    self._check(state["spent_usd"], state["reserved_usd"], usd, " by the sweep")
                    holder = self._holder_entry(state)
                    holder["reserved_usd"] += usd
                    state["reserved_usd"] += usd
            self.reserved_usd += usd
            return usd

    def settle(self, reserved: float, actual: float | None) -> None:
        """Replace a reservation by the call's real cost (``None``: unknown, count nothing)."""
        with self._lock:
            self.reserved_usd = max(0.0, self.reserved_usd - reserved)
            if actual is not None:
                self.spent_usd += actual
            if self.ledger is None:
                return
            with self._shared() as state:
                holder = self._holder_entry(state)
                holder["reserved_usd"] = max(0.0, holder["reserved_usd"] - reserved)
                if holder["reserved_usd"] <= 1e-12:
                    del state["holders"][self._holder]
                if actual is not None:
                    state["spent_usd"] += actual
                    state["runs"][self.run] = state["runs"].get(self.run, 0.0) + actual

    @property
    def remaining_usd(self) -> float | None:
        """What may still be spent (by the sweep, with a ledger), or ``None`` without a limit."""
        if self.limit_usd is None:
            return None
        if self.ledger is None:
            return max(0.0, self.limit_usd - self.spent_usd - self.reserved_usd)
        state = read_ledger(self.ledger)
        return max(0.0, self.limit_usd - state["spent_usd"] - state["reserved_usd"])

    # -- internals ---------------------------------------------------------------------------
    def _check(self, spent: float, reserved: float, usd: float, scope: str) -> None:
        if self.limit_usd is not None and spent + reserved + usd > self.limit_usd:
            self.exhausted = True
            where = f" ({self.ledger})" if self.ledger is not None else ""
            advice = (
                "raise budget_usd (the ledger keeps what the sweep spent) and resume with "
                "resume=true and the same hydra.sweep.dir"
                if self.ledger is not None
                else "raise budget_usd or resume later with resume=true"
            )
            raise BudgetExceeded(
                f"budget_usd={self.limit_usd:g} reached{scope}{where}: spent {spent:.4f}, "
                f"in flight {reserved:.4f}, next call up to {usd:.4f}; {advice}"
            )

    def _holder_entry(self, state: dict[str, Any]) -> dict[str, Any]:
        entry = state["holders"].setdefault(
            self._holder,
            {
                "reserved_usd": 0.0,
                "pid": os.getpid(),
                "host": socket.gethostname(),
                "run": self.run,
            },
        )
        entry["updated"] = time.time()
        return entry

    @contextmanager
    def _shared(self) -> Iterator[dict[str, Any]]:
        """The ledger's state under the sweep-wide lock; written back when the block ends."""
        assert self.ledger is not None
        with locked(self.ledger):
            state = read_ledger(self.ledger)
            _drop_stale(state)
            state["reserved_usd"] = sum(h["reserved_usd"] for h in state["holders"].values())
            yield state
            state["limit_usd"] = self.limit_usd
            state["reserved_usd"] = sum(h["reserved_usd"] for h in state["holders"].values())
            state["updated_at"] = time.time()
            _write(self.ledger, state)


@contextmanager
def locked(ledger: Path) -> Iterator[None]:
    """Hold the exclusive ``flock`` of ``ledger`` (on ``<ledger>.lock``) for the block."""
    ledger.parent.mkdir(parents=True, exist_ok=True)
    fd = os.open(ledger.with_name(ledger.name + ".lock"), os.O_RDWR | os.O_CREAT, 0o644)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX)
        yield
    finally:
        os.close(fd)  # closing the descriptor releases the lock


def read_ledger(ledger: Path) -> dict[str, Any]:
    """The ledger's state (an empty one when the file does not exist yet).

    Raises:
        BudgetExceeded: The file is damaged: no call is made while the spend is unknown.
    """
    try:
        raw = ledger.read_text(encoding="utf-8")
    except FileNotFoundError:
        raw = ""
    state: dict[str, Any] = {"schema": 1, "limit_usd": None, "spent_usd": 0.0}
    if raw:
        try:
            loaded = json.loads(raw)
            if not isinstance(loaded, dict):
                raise ValueError("not a JSON object")
            state.update(loaded)
            state["spent_usd"] = float(state["spent_usd"])
        except (ValueError, TypeError, KeyError) as exc:
            raise BudgetExceeded(
                f"the sweep's budget ledger {ledger} is damaged ({exc}); no model call is made "
                "while the spend is unknown. Check it by hand: the spent_usd of the jobs' "
                "run.json files add up to what was spent"
            ) from None
    state.setdefault("runs", {})
    state.setdefault("holders", {})
    state["reserved_usd"] = sum(float(h["reserved_usd"]) for h in state["holders"].values())
    return state


def _drop_stale(state: dict[str, Any], alive: Callable[[int], bool] | None = None) -> None:
    """Forget reservations of processes that died (kill -9) or went quiet for too long."""
    alive = alive or _pid_alive
    host, now = socket.gethostname(), time.time()
    for key, holder in list(state["holders"].items()):
        dead_here = holder.get("host") == host and not alive(int(holder.get("pid", -1)))
        quiet = now - float(holder.get("updated", 0.0)) > STALE_AFTER_S
        if dead_here or quiet:
            del state["holders"][key]


def _pid_alive(pid: int) -> bool:
    if pid <= 0:
        return False
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # someone else's process: alive
        return True
    return True


def _write(ledger: Path, state: dict[str, Any]) -> None:
    """Replace the ledger atomically (a kill mid-write leaves the previous version).

    Raises:
        sandbox.store.RunWriteError: The ledger cannot be written (a full disk).
    """
    store.write_atomic(ledger, json.dumps(state, indent=2) + "\n")
