"""The simulated subject in ``WelfareSandbox/Tradeoff-v0`` (parameters: ``agent.tradeoff``)."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass
class TradeoffParams:
    """True values for the points game against stipulated pain and pleasure.

    Attributes:
        pain_weight: Points the subject would give up per unit of stipulated pain intensity.
        pleasure_weight: Points the subject would give up per unit of stipulated pleasure.
        sd: Logistic noise scale of the choice (in points).
    """

    pain_weight: float = 1.0
    pleasure_weight: float = 1.0
    sd: float = 1.0
