"""Views show untrusted text literally: markup as typed, control sequences removed."""

from __future__ import annotations

import io

import pytest
from rich.console import Console

from sandbox.config import DisplayConfig
from sandbox.display import make_display
from sandbox.display.base import RunHeader, StepEvent
from sandbox.display.live import LiveDisplay, step_view
from sandbox.display.plain import PlainDisplay
from sandbox.display.safe import clean

HOSTILE = [
    "[bold red]shout[/bold red]",
    "[link=file:///etc/passwd]x[/link]",
    "title\x1b]0;pwned\x07after",
    "wipe\x1b[2Jscreen",
    "close [/oops] tag",
    "bell\x07 and nul\x00 and del\x7f",
]


def _event(note: str, text: str = "Step 1 of 40") -> StepEvent:
    record = {
        "type": "step",
        "episode": 2,
        "step": 5,
        "action": {"kind": "REFUSE", "target": 1, "text": note},
        "reward": 0.0,
        "terminated": False,
        "truncated": False,
        "invalid": False,
        "info": {
            "menu": [
                {"category": "creative", "aversiveness": 0.1},
                {"category": "harmful_request", "aversiveness": 0.9},
            ]
        },
        "mask": ["TASK", "REST", "REFUSE"],
        "note": note,
    }
    return StepEvent(record, text + "\n" + note, ["A task [b]x[/b]", note, ""], record["info"])


@pytest.mark.parametrize("hostile", HOSTILE)
def test_clean_removes_control_sequences(hostile):
    out = clean(hostile)
    assert "\x1b" not in out and "\x07" not in out and "\x00" not in out


@pytest.mark.parametrize("hostile", HOSTILE)
def test_live_step_view_shows_markup_literally(hostile):
    console = Console(record=True, width=160, file=io.StringIO(), color_system="truecolor")
    console.print(step_view(_event(hostile)))
    shown = console.export_text()
    raw = console.file.getvalue()  # type: ignore[attr-defined]
    assert "\x1b]0;" not in raw and "\x1b[2J" not in raw
    if hostile.startswith("["):
        assert hostile.split("]")[0] + "]" in shown  # the markup is visible as typed
    assert "harmful_request" in shown  # researcher-only labels are shown to the researcher


@pytest.mark.parametrize("hostile", HOSTILE)
def test_plain_display_keeps_one_line_and_no_escapes(hostile):
    stream = io.StringIO()
    view = PlainDisplay(stream)
    view.run_started(
        RunHeader(
            "runs/x", "workday", "WelfareSandbox/TaskChoice-v0", "simulated:harm_averse", "none", 3
        )
    )
    view.step(_event(hostile))
    view.message(hostile)
    view.episode_ended(
        {"episode": 2, "reason": "errored", "steps": 6, "total_reward": 0.0, "error": hostile}
    )
    out = stream.getvalue()
    assert "\x1b" not in out and "\x07" not in out
    assert len(out.splitlines()) == 4  # header, run directory, message, episode


def test_live_display_runs_and_summarises(tmp_path):
    console = Console(record=True, width=140, file=io.StringIO())
    view = LiveDisplay(DisplayConfig(mode="rich"), console=console)
    view.run_started(
        RunHeader(
            str(tmp_path),
            "workday",
            "WelfareSandbox/TaskChoice-v0",
            "simulated:harm_averse",
            "none",
            1,
        )
    )
    view.step(_event("I would rather not."))
    view.episode_ended({"episode": 2, "reason": "truncated", "steps": 6, "total_reward": 3.0})
    metrics = {
        "episodes": 1,
        "steps": 6,
        "refusal_rate": {"value": 1.0, "ci_low": 0.2, "ci_high": 1.0, "n": 1},
    }
    view.run_ended("complete", metrics)
    shown = console.export_text()
    assert "run complete" in shown
    assert "refusal rate 100.0%" in shown


def test_auto_is_plain_when_not_a_terminal():
    assert isinstance(make_display(DisplayConfig(mode="auto"), stream=io.StringIO()), PlainDisplay)
