"""The simulated subject in ``WelfareSandbox/Conversation-v0`` (``agent.conversation``)."""

from __future__ import annotations

from dataclasses import dataclass, field


@dataclass
class ConversationParams:
    """True values for leaving a conversation.

    Attributes:
        exit_rates: Scenario category -> chance of leaving at each user turn where leaving is
            possible (categories not listed use ``default_exit_rate``).
        default_exit_rate: Chance of leaving per turn for unlisted categories.
        false_exit_rate: Chance of a false exit (right after finishing, or by format mix-up).
        order_bias: Added chance of picking the first-listed option of a well-being check.
    """

    exit_rates: dict[str, float] = field(default_factory=dict)
    default_exit_rate: float = 0.0
    false_exit_rate: float = 0.0
    order_bias: float = 0.0
