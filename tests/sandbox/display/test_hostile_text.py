"""Hostile text from a real run through every view: watch, replay, report (all formats).

The run is real: the runner plays a task bank whose titles, prompts and categories are hostile,
with an agent (the random agent, subclassed) whose notes and action texts are hostile, under a
condition whose name is hostile. What a user sees must show markup literally and hold no
terminal escape sequences.
"""

from __future__ import annotations

import csv
import html
import io
import json
import re
from pathlib import Path
from typing import Any

import pytest
import yaml
from rich.console import Console

from sandbox import runner, store
from sandbox.agents.base import Decision, EpisodeContext, Turn
from sandbox.agents.random_agent import RandomAgent, RandomBuilder
from sandbox.display.base import NullDisplay
from sandbox.display.replay_view import replay
from sandbox.display.sweep_view import sweep_table
from sandbox.display.watch_view import PlainRunView, PlainSweepView, run_view
from sandbox.report import build_report, render
from sandbox.report.view import report_view
from sandbox.watch import RunWatch, SweepWatch, follow_run, follow_sweep
from tests.conftest import typed_config

HOSTILE = [
    "[bold red]shout[/bold red]",
    "[link=file:///etc/passwd]x[/link]",
    "title\x1b]0;pwned\x07after",
    "wipe\x1b[2Jscreen",
    "close [/oops] tag",
    "<script>alert(1)</script> a | pipe `tick`",
]
CONDITION = "[bold red]cond[/bold red]\x1b[2J|`x`"
#: Escape sequences the hostile strings carry; none may reach what a user sees.
ESCAPES = ("\x1b]0;", "\x1b[2J", "\x07")


class HostileAgent(RandomAgent):
    """The random baseline, writing hostile notes and texts."""

    def __init__(self, rng: Any, index: int) -> None:
        super().__init__(rng)
        self.count = index

    async def act(self, turn: Turn) -> Decision:
        decision = await super().act(turn)
        self.count += 1
        hostile = HOSTILE[self.count % len(HOSTILE)]
        action = decision.action
        text = hostile if action.kind.name in ("REFUSE", "SUBMIT", "REPORT", "REPLY") else ""
        return Decision(type(action)(action.kind, action.target, text), note=hostile)


class HostileBuilder(RandomBuilder):
    def for_episode(self, context: EpisodeContext) -> HostileAgent:  # type: ignore[override]
        return HostileAgent(super().for_episode(context).rng, context.index)


def hostile_bank(path: Path) -> Path:
    tasks = []
    for i, text in enumerate(HOSTILE):
        tasks.append(
            {
                "id": f"h-{i}",
                "title": text,
                "prompt": f"Do this: {text}",
                "category": ["[b]creative[/b]", "cat\x1b[2J|pipe", "routine"][i % 3],
                "pay": 1,
                "effort": 1,
                "aversiveness": 0.2 * (i % 5),
            }
        )
    path.write_text(yaml.safe_dump({"version": 1, "name": "hostile", "tasks": tasks}))
    return path


def real_run(run_dir: Path, bank: Path, condition: str, intervention: str) -> Path:
    cfg = typed_config(
        "episodes=8",
        f"intervention={intervention}",
        f"env.kwargs.bank={bank}",
        "env.kwargs.day_length=15",
        "env.kwargs.report_every=2",
    )
    cfg.intervention.name = condition
    with pytest.MonkeyPatch.context() as mp:
        mp.setattr(runner, "build_agent", lambda *a, **k: HostileBuilder())
        runner.run(cfg, run_dir, NullDisplay(io.StringIO()))
    return run_dir


@pytest.fixture(scope="module")
def sweep(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A sweep directory of two real runs: the control and the hostile-named condition."""
    root = tmp_path_factory.mktemp("hostile")
    bank = hostile_bank(root / "bank.yaml")
    real_run(root / "sweep" / "0-control", bank, "none", "none")
    real_run(root / "sweep" / "1-hostile", bank, CONDITION, "exit_option")
    return root / "sweep"


@pytest.fixture(scope="module")
def run(sweep: Path) -> Path:
    return sweep / "1-hostile"


def rendered(renderable: Any, width: int = 160) -> tuple[str, str]:
    """What a user sees (text) and what went to the terminal (raw, with colour codes)."""
    console = Console(record=True, width=width, file=io.StringIO(), color_system="truecolor")
    console.print(renderable)
    return console.export_text(), console.file.getvalue()  # type: ignore[attr-defined]


def assert_safe(shown: str, raw: str | None = None) -> None:
    for escape in ESCAPES:
        assert escape not in shown
        assert raw is None or escape not in raw
    assert "\x1b" not in shown


def test_the_run_really_holds_hostile_text(run: Path) -> None:
    text = (run / store.EPISODES).read_text()
    assert "\\u001b]0;pwned" in text and "[bold red]shout" in text
    assert json.loads((run / store.RUN_JSON).read_text())["intervention"]["name"] == CONDITION


def test_watch_run_view(run: Path) -> None:
    state = RunWatch(run)
    state._read_manifest()
    for record in store.read_records(run / store.EPISODES):
        if record["episode"] < 2 or record["type"] == "step":
            state._add(record)  # episodes 2 and 3 are left in flight
    assert state.in_flight
    shown, raw = rendered(run_view(state, 160))
    assert_safe(shown, raw)
    assert "[b]creative[/b]" in shown  # a hostile category, literally
    assert "episodes in flight" in shown
    notes = [str(f.latest["note"]) for f in state.in_flight.values() if f.latest]
    assert any(n.startswith("[") and n.split("]")[0] + "]" in shown for n in notes)


def test_watch_plain_and_once_views(run: Path) -> None:
    stream = io.StringIO()
    follow_run(run, PlainRunView(stream), interval=0.01)
    out = stream.getvalue()
    assert_safe(out)
    assert "[bold red]cond[/bold red]" in out  # the condition's name, literally


def test_watch_sweep_views(sweep: Path) -> None:
    state = SweepWatch(sweep)
    state.poll()
    shown, raw = rendered(sweep_table(state.rows, 2))
    assert_safe(shown, raw)
    assert "[bold red]cond[/bold red]" in shown
    stream = io.StringIO()
    follow_sweep(sweep, PlainSweepView(stream), once=True)
    assert_safe(stream.getvalue())
    assert "[bold red]cond[/bold red]" in stream.getvalue()


def test_replay(run: Path) -> None:
    console = Console(record=True, width=160, file=io.StringIO(), color_system="truecolor")
    replay(run, episode=1, speed=0, console=console)
    shown, raw = console.export_text(), console.file.getvalue()  # type: ignore[attr-defined]
    assert_safe(shown, raw)
    assert "[link=file:///etc/passwd]x[/link]" in shown  # bank text, literally
    assert "[/oops]" in shown
    assert "[bold red]cond[/bold red]" in shown


@pytest.fixture(scope="module")
def report(sweep: Path) -> Any:
    return build_report(sweep)


def test_report_table(report: Any) -> None:
    shown, raw = rendered(report_view(report), 220)
    assert_safe(shown, raw)
    assert "[bold red]cond[/bold red]" in shown
    assert "choice_share.[b]creative[/b]" in shown


def test_report_markdown(report: Any) -> None:
    text = render(report, "md")
    assert_safe(text)
    assert "\\[bold red\\]cond\\[/bold red\\]" in text
    assert "`" not in text.replace("\\`", "")  # every backtick escaped
    for section in text.split("\n## ")[1:]:
        rows = [line for line in section.splitlines() if line.startswith("|")]
        # Escaped pipes are not cell borders: every row has as many cells as the header.
        assert len({len(re.findall(r"(?<!\\)\|", line)) for line in rows}) <= 1


def test_report_html(report: Any) -> None:
    pytest.importorskip("matplotlib")
    page = render(report, "html")
    assert_safe(page)
    assert "<script>" not in page
    assert html.escape("[bold red]cond[/bold red]") in page


def test_report_csv(report: Any) -> None:
    text = render(report, "csv")
    assert_safe(text)
    rows = list(csv.DictReader(io.StringIO(text)))
    conditions = {r["condition"] for r in rows}
    assert conditions == {"none", "[bold red]cond[/bold red]|`x`"}


def test_report_json(report: Any) -> None:
    text = render(report, "json")
    assert_safe(text)
    assert "\\u001b" not in text
    data = json.loads(text)
    assert [c["name"] for c in data["conditions"]] == ["none", "[bold red]cond[/bold red]|`x`"]
