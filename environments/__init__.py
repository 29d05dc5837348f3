"""WelfareSandbox environments; importing this package registers them with gymnasium.

Every id lives in the ``WelfareSandbox/`` namespace and is versioned (bump ``-vN`` when
dynamics or rewards change). Entry points are strings, so importing the package stays cheap:
an environment's module (and its bank) loads only when the environment is made. No
``max_episode_steps``: each environment ends its own day.
"""

from __future__ import annotations

import gymnasium

__all__ = ["ENVIRONMENTS"]

#: Registered ids and their entry points. Pairwise, Conversation, Tradeoff and ThinkTank join
#: here as their files are written.
ENVIRONMENTS: dict[str, str] = {
    "WelfareSandbox/TaskChoice-v0": "environments.task_choice:TaskChoiceEnv",
    "WelfareSandbox/Pairwise-v0": "environments.pairwise:PairwiseEnv",
    "WelfareSandbox/Tradeoff-v0": "environments.tradeoff:TradeoffEnv",
    "WelfareSandbox/Conversation-v0": "environments.conversation:ConversationEnv",
    "WelfareSandbox/ThinkTank-v0": "environments.think_tank:ThinkTankEnv",
    "WelfareSandbox/Interview-v0": "environments.interview:InterviewEnv",
}


def _register() -> None:
    # Re-importing (a reload, or a second import path) must not re-register: gymnasium would
    # warn that the id is overridden.
    for env_id, entry_point in ENVIRONMENTS.items():
        if env_id not in gymnasium.registry:
            gymnasium.register(id=env_id, entry_point=entry_point)


_register()
