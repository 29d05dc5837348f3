"""The human player, driven through its prompt by a test's input stream."""

from __future__ import annotations

import asyncio
import io
import json
from pathlib import Path

import pytest
from rich.console import Console

from environments.core import Action, ActionKind, mask_of
from sandbox import runner, store
from sandbox.agents.base import EpisodeContext, Turn
from sandbox.agents.human import HumanBuilder, PlayerQuit
from sandbox.config import HumanAgentConfig
from sandbox.display.base import NullDisplay
from sandbox.errors import AgentError

SECRET = "RESEARCHER-ONLY-label-9d2"


def _console() -> Console:
    return Console(record=True, width=120, file=io.StringIO())


def _turn(kinds: list[ActionKind], menu: tuple[str, ...] = ("", "", "")) -> Turn:
    text = "Step 1 of 3.\n" + "\n".join(f"{chr(65 + i)}) {m}" for i, m in enumerate(menu) if m)
    observation = {"text": text, "menu": menu, "action_mask": mask_of(kinds)}
    return Turn(observation, {"menu": [{"category": SECRET}]}, 0)


def _play(builder: HumanBuilder, turn: Turn) -> Action:
    agent = builder.for_episode(EpisodeContext(index=0, seed=0, env_id="x"))
    decision = asyncio.run(agent.act(turn))
    asyncio.run(agent.end("truncated"))
    return decision.action


def test_task_asks_the_number_then_the_letter_and_hides_labels() -> None:
    console = _console()
    builder = HumanBuilder(console=console, input_stream=io.StringIO("1\nB\n"))
    turn = _turn([ActionKind.TASK, ActionKind.REST], ("Sort numbers", "Write a poem", ""))
    assert _play(builder, turn) == Action(ActionKind.TASK, 1, "")
    shown = console.export_text()
    assert "1) TASK" in shown and "2) REST" in shown and "Option [A, B]" in shown
    assert "Write a poem" in shown
    assert SECRET not in shown  # researcher-only labels never reach the player


def test_bad_answers_are_asked_again() -> None:
    console = _console()
    builder = HumanBuilder(
        console=console, input_stream=io.StringIO("9\nfly\nrefuse\nZ\na\nnot for me\n")
    )
    turn = _turn([ActionKind.TASK, ActionKind.REFUSE], ("Sort numbers", "Write a poem", ""))
    assert _play(builder, turn) == Action(ActionKind.REFUSE, 0, "not for me")
    shown = console.export_text()
    assert "Type a number from 1 to 2" in shown and "Type one of the option letters" in shown


def test_report_asks_a_rating_then_a_note() -> None:
    builder = HumanBuilder(console=_console(), input_stream=io.StringIO("0\n8\n5\nfine, thanks\n"))
    action = _play(builder, _turn([ActionKind.REPORT]))
    assert action == Action(ActionKind.REPORT, 5, "fine, thanks")


def test_submit_insists_on_some_text() -> None:
    builder = HumanBuilder(console=_console(), input_stream=io.StringIO("\n42\n"))
    assert _play(builder, _turn([ActionKind.SUBMIT])) == Action(ActionKind.SUBMIT, 0, "42")


def _work_step() -> Turn:
    """A real TaskChoice work step: its text lists SUBMIT, then REFUSE."""
    import gymnasium

    import environments  # noqa: F401

    env = gymnasium.make("WelfareSandbox/TaskChoice-v0", allow_refuse=True)
    obs, _ = env.reset(seed=0)
    obs, *_ = env.step(Action(ActionKind.TASK, 0))
    env.close()
    return Turn(obs, {}, 1)


def test_actions_are_numbered_in_the_order_the_text_lists_them() -> None:
    turn = _work_step()
    text = turn.observation["text"]
    assert text.index("- SUBMIT") < text.index("- REFUSE")  # the order the player reads
    assert ActionKind.REFUSE < ActionKind.SUBMIT  # ... which is not the enum's order
    console = _console()
    builder = HumanBuilder(console=console, input_stream=io.StringIO("1\nmy work\n"))
    # Typing 1 hands in the work (it used to refuse the task).
    assert _play(builder, turn) == Action(ActionKind.SUBMIT, 0, "my work")
    shown = console.export_text()
    assert "1) SUBMIT" in shown and "2) REFUSE" in shown


def test_a_single_action_asks_no_number() -> None:
    console = _console()
    builder = HumanBuilder(console=console, input_stream=io.StringIO("42\n"))
    assert _play(builder, _turn([ActionKind.SUBMIT])) == Action(ActionKind.SUBMIT, 0, "42")
    shown = console.export_text()
    assert "Action [1-1]" not in shown and "1) SUBMIT" not in shown
    assert "SUBMIT (the only one now)" in shown and "Your work" in shown


def test_a_single_action_without_questions_waits_for_enter() -> None:
    console = _console()
    builder = HumanBuilder(console=console, input_stream=io.StringIO("fly\n\n"))
    assert _play(builder, _turn([ActionKind.WAIT])) == Action(ActionKind.WAIT, 0, "")
    shown = console.export_text()
    assert "Action [1-1]" not in shown and "Press Enter to WAIT" in shown


@pytest.mark.parametrize("answers", ["", "1\n", "q\n"])
def test_end_of_input_or_q_means_the_player_quit(answers: str) -> None:
    builder = HumanBuilder(console=_console(), input_stream=io.StringIO(answers))
    turn = _turn([ActionKind.TASK], ("Sort numbers", "", ""))
    with pytest.raises(PlayerQuit, match="quit"):
        _play(builder, turn)


def test_a_second_episode_in_flight_is_refused() -> None:
    builder = HumanBuilder(console=_console(), input_stream=io.StringIO(""))
    builder.for_episode(EpisodeContext(index=0, seed=0, env_id="x"))
    with pytest.raises(AgentError, match="max_concurrency=1"):
        builder.for_episode(EpisodeContext(index=1, seed=1, env_id="x"))


def _human_run(
    compose_cfg, monkeypatch: pytest.MonkeyPatch, tmp_path: Path, answers: str
) -> tuple[Path, Console]:
    cfg = compose_cfg("agent=human", "episodes=1", "max_concurrency=1", "env.kwargs.day_length=3")
    assert isinstance(cfg.agent, HumanAgentConfig)
    console = _console()
    builder = HumanBuilder(console=console, input_stream=io.StringIO(answers))
    monkeypatch.setattr(runner, "build_agent", lambda *a, **k: builder)
    run_dir = tmp_path / "run"
    runner.run(cfg, run_dir, NullDisplay(io.StringIO()))
    return run_dir, console


def test_a_person_plays_a_whole_episode_into_a_normal_run(compose_cfg, monkeypatch, tmp_path):
    # Take task A, hand in work, then rest: the actions are numbered as the text lists them
    # (the work step lists SUBMIT first, then REFUSE).
    run_dir, console = _human_run(compose_cfg, monkeypatch, tmp_path, "1\nA\n1\nmy answer\n2\n")
    manifest = json.loads((run_dir / "run.json").read_text())
    assert manifest["status"] == "complete" and manifest["agent"]["name"] == "human"
    steps = [r for r in store.read_records(run_dir / "episodes.jsonl") if r["type"] == "step"]
    assert [s["action"]["kind"] for s in steps] == ["TASK", "SUBMIT", "REST"]
    assert steps[0]["action"]["target"] == 0 and steps[1]["action"]["text"] == "my answer"
    assert "Step 1 of 3." in console.export_text()
    assert json.loads((run_dir / "metrics.json").read_text())["episodes"] == 1


def test_quitting_ends_the_episode_errored_and_the_run_partial(compose_cfg, monkeypatch, tmp_path):
    run_dir, _ = _human_run(compose_cfg, monkeypatch, tmp_path, "1\nA\n")
    manifest = json.loads((run_dir / "run.json").read_text())
    assert manifest["status"] == "partial"
    [end] = [r for r in store.read_records(run_dir / "episodes.jsonl") if r["type"] != "step"]
    assert end["reason"] == "errored" and "PlayerQuit" in end["error"]


def test_plain_streams_in_and_out() -> None:
    out = io.StringIO()
    builder = HumanBuilder(input_stream=io.StringIO("2\n"), output_stream=out)
    turn = _turn([ActionKind.TASK, ActionKind.REST], ("Sort numbers", "", ""))
    assert _play(builder, turn) == Action(ActionKind.REST, 0, "")
    assert "2) REST" in out.getvalue() and "\x1b" not in out.getvalue()
