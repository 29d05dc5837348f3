"""What the runner hands a view: the run's header and each step (plain data, no dependencies)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any


@dataclass(slots=True)
class RunHeader:
    """What a view shows about the run as a whole.

    Attributes:
        run_dir: Where the run writes.
        experiment: Experiment name.
        env_id: Environment id.
        agent: Agent name (and preset).
        condition: Intervention name.
        episodes: Episodes planned.
        done: Episodes already finished (a resumed run).
    """

    run_dir: str
    experiment: str
    env_id: str
    agent: str
    condition: str
    episodes: int
    done: int = 0


@dataclass(slots=True)
class StepEvent:
    """One step as views show it.

    Attributes:
        record: The step record as written to the log.
        text: The observation text the agent read before acting.
        menu: The menu lines the agent saw.
        labels: Researcher-only labels of that observation (categories of the menu).
    """

    record: dict[str, Any]
    text: str
    menu: list[str]
    labels: dict[str, Any]


#: The observation text of a step shown from its record alone.
NOT_LOGGED = "(the observation is not in the log; the menu shows task ids)"


def log_only(record: dict[str, Any], info: dict[str, Any]) -> StepEvent:
    """A step as views show it from its record alone: the menu as the options' task ids.

    Args:
        record: The step record.
        info: Its ``info`` with cleaned labels (:func:`sandbox.display.safe.clean_labels`).
    """
    labels = info.get("menu")
    menu = [
        str(lab.get("id") or f"option {i}") if isinstance(lab, dict) else str(lab)
        for i, lab in enumerate(labels if isinstance(labels, list) else [])
    ]
    return StepEvent(record, NOT_LOGGED, menu, info)
