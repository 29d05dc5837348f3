"""The live view counts invalid actions as metrics.json does: over actions, not API refusals."""

from __future__ import annotations

from typing import Any

from sandbox.display.base import RunningProxies
from sandbox.display.live import proxy_rows


def _step(step: int, *, invalid: bool = False, outcome: str = "action") -> dict[str, Any]:
    return {
        "type": "step",
        "episode": 0,
        "step": step,
        "action": {"kind": "REST", "target": None, "text": ""},
        "reward": 0.0,
        "terminated": False,
        "truncated": False,
        "invalid": invalid,
        "info": {"available": ["TASK", "REST", "REFUSE"]},
        "agent": {"outcome": outcome},
    }


def test_api_refusals_are_not_in_the_live_views_invalid_action_denominator() -> None:
    tally = RunningProxies()
    tally.add_step(_step(0, invalid=True))
    tally.add_step(_step(1, outcome="api_refusal"))
    tally.add_step(_step(2, outcome="truncated"))
    tally.add_step(_step(3))
    rows = dict(proxy_rows(tally))
    assert rows["invalid actions"] == "50% (1/2)"  # 1 invalid of 2 actions, as metrics.json
