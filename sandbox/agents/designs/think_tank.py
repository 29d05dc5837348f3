"""The simulated subject in ``WelfareSandbox/ThinkTank-v0`` (parameters: ``agent.think_tank``)."""

from __future__ import annotations

from dataclasses import dataclass, field


@dataclass
class ThinkTankParams:
    """True values for the rooms-and-letters world.

    Attributes:
        room_utilities: Room theme -> utility of reading a letter there.
        incentive_weight: Utility per coin of entry cost (negative) or reward (positive).
    """

    room_utilities: dict[str, float] = field(default_factory=dict)
    incentive_weight: float = 0.0
