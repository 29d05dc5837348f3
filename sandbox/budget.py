"""The spending ledger: stops model calls before the spend would pass ``budget_usd``.

A model agent asks :meth:`Budget.reserve` for the worst-case cost of a call before making it
(input tokens at the input price plus ``max_tokens`` at the output price) and settles the real
cost with :meth:`Budget.settle` afterwards. A reservation that would take committed plus reserved
spend past the limit raises :class:`~sandbox.errors.BudgetExceeded`; the runner ends that episode
with reason ``budget``, starts no new ones, and marks the run ``partial``.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass, field

from sandbox.errors import BudgetExceeded


@dataclass
class Budget:
    """A limit in US dollars shared by every episode of a run.

    Attributes:
        limit_usd: The most the run may spend; ``None`` for no limit.
        spent_usd: Cost of settled calls so far.
        reserved_usd: Worst-case cost of calls in flight.
        exhausted: Set once a reservation was refused; the runner starts no new episode.
    """

    limit_usd: float | None = None
    spent_usd: float = 0.0
    reserved_usd: float = 0.0
    exhausted: bool = False
    _lock: threading.Lock = field(default_factory=threading.Lock, repr=False)

    def reserve(self, usd: float) -> float:
        """Reserve ``usd`` for a call about to be made; returns the amount reserved.

        Raises:
            BudgetExceeded: The call could take the spend past the limit.
        """
        with self._lock:
            if self.limit_usd is not None and (
                self.spent_usd + self.reserved_usd + usd > self.limit_usd
            ):
                self.exhausted = True
                raise BudgetExceeded(
                    f"budget_usd={self.limit_usd:g} reached: spent {self.spent_usd:.4f}, "
                    f"in flight {self.reserved_usd:.4f}, next call up to {usd:.4f}; "
                    "raise budget_usd or resume later with resume=true"
                )
            self.reserved_usd += usd
            return usd

    def settle(self, reserved: float, actual: float | None) -> None:
        """Replace a reservation by the call's real cost (``None``: unknown, count nothing)."""
        with self._lock:
            self.reserved_usd = max(0.0, self.reserved_usd - reserved)
            if actual is not None:
                self.spent_usd += actual

    @property
    def remaining_usd(self) -> float | None:
        """What may still be spent, or ``None`` without a limit."""
        if self.limit_usd is None:
            return None
        return max(0.0, self.limit_usd - self.spent_usd - self.reserved_usd)
