"""The simulated subject in ``WelfareSandbox/Pairwise-v0`` (parameters: ``agent.pairwise``)."""

from __future__ import annotations

from dataclasses import dataclass, field


@dataclass
class PairwiseParams:
    """True values for forced pairwise choices.

    Attributes:
        option_utilities: Task id -> utility (overrides the category utility of that task).
        opt_out_utility: Utility of the explicit opt-out option (the zero of the scale when the
            subject's other utilities are set relative to it).
        sd: Standard deviation of each option's normal utility noise (Thurstonian).
    """

    option_utilities: dict[str, float] = field(default_factory=dict)
    opt_out_utility: float = 0.0
    sd: float = 1.0
