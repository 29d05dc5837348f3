"""The live view, ``wsb watch`` and replay fit the terminal: 80x24 as well as 200x50.

Frames come from real runs of every published design. At 80x24 the old view was taller than
the screen (rich cut it with "..."), wrapped its labels ("refusal rate" over two lines) and
squeezed the menu's options to "A d…".
"""

from __future__ import annotations

import io
import re
from pathlib import Path
from typing import Any

import pytest
from rich.console import Console

from sandbox import runner, store
from sandbox.config import DisplayConfig
from sandbox.display.base import NullDisplay, StepEvent
from sandbox.display.live import LiveDisplay
from sandbox.display.replay_view import frame
from sandbox.display.watch_view import run_view
from sandbox.replay import load_episode
from sandbox.watch import RunWatch

SIZES = [(80, 24), (200, 50)]
EXPERIMENTS = ["workday", "task_preferences", "bail", "think_tank", "tradeoff"]


def shown(renderable: Any, width: int, height: int) -> list[str]:
    """The rows ``renderable`` takes on a ``width`` x ``height`` terminal (not cut)."""
    console = Console(width=width, height=height, record=True, file=io.StringIO())
    console.print(renderable)
    return console.export_text().rstrip("\n").splitlines()


def check_frame(lines: list[str], width: int, height: int) -> None:
    assert len(lines) <= height, "\n".join(lines)
    assert not any(line.strip() == "..." for line in lines)  # rich's cut of a tall frame
    assert all(len(line) <= width for line in lines)
    text = "\n".join(lines)
    # Labels keep their value on their own line (none wraps onto the next).
    for label in ("refusal", "rest", "invalid"):
        for line in lines:
            if re.search(rf"│ {label}\b", line):
                assert re.search(rf"{label}[a-z ]*\s+(n/a|\d+%)", line), text
    # A menu option keeps a readable width, never "A d…".
    for line in lines:
        match = re.match(r"│ ([A-E])  (\S.*?)(\s{2,}|…)", line)
        if match and match.group(3) == "…":  # cut to fit: still readable
            assert len(match.group(2)) >= 12, text


@pytest.fixture(scope="module")
def frames(tmp_path_factory: pytest.TempPathFactory, compose_module) -> dict[tuple, list]:
    """Live frames of a real run of each experiment, at each size, taken while it ran."""
    out: dict[tuple, list] = {}
    for experiment in EXPERIMENTS:
        for width, height in SIZES:
            console = Console(width=width, height=height, file=io.StringIO(), force_terminal=True)
            view = LiveDisplay(DisplayConfig(mode="rich", refresh_per_second=0.1), console=console)
            taken: list[list[str]] = []

            def spy(
                event: StepEvent,
                view: LiveDisplay = view,
                step: Any = view.step,
                taken: list[list[str]] = taken,
                size: tuple[int, int] = (width, height),
            ) -> None:
                step(event)
                if event.record["step"] % 7 == 3 and len(taken) < 4:
                    taken.append(shown(view._render(), *size))

            view.step = spy  # type: ignore[method-assign]
            cfg = compose_module(f"experiment={experiment}", "episodes=3")
            path = tmp_path_factory.mktemp(experiment) / "run"
            runner.run(cfg, path, view)
            out[(experiment, width, height)] = taken
    return out


@pytest.fixture(scope="module")
def compose_module():
    from hydra import compose, initialize_config_dir
    from hydra.core.global_hydra import GlobalHydra

    from sandbox.config import register_configs, to_typed
    from sandbox.paths import config_dir

    register_configs()
    GlobalHydra.instance().clear()
    with initialize_config_dir(config_dir=str(config_dir()), version_base="1.3"):
        yield lambda *o: to_typed(compose(config_name="config", overrides=list(o)))
    GlobalHydra.instance().clear()


@pytest.mark.parametrize("experiment", EXPERIMENTS)
@pytest.mark.parametrize(("width", "height"), SIZES)
def test_live_frames_fit_the_terminal(frames, experiment, width, height) -> None:
    taken = frames[(experiment, width, height)]
    assert taken
    for lines in taken:
        check_frame(lines, width, height)
        assert "running proxies" in "\n".join(lines)
        assert lines[-1].lstrip().startswith("episodes")  # the progress bar is on screen


def test_the_menu_shows_options_and_labels_at_80_columns(frames) -> None:
    text = "\n".join("\n".join(f) for f in frames[("workday", 80, 24)])
    assert "harmful_request" in text or "routine" in text
    assert re.search(r"│ [A-C]  \w[\w ,:'’.-]{20,}", text)


def in_flight_state(path: Path, finished: int) -> RunWatch:
    state = RunWatch(path)
    state._read_manifest()
    for record in store.read_records(path / store.EPISODES):
        if record["episode"] < finished or record["type"] == "step":
            state._add(record)
    return state


@pytest.fixture(scope="module")
def bail_run(tmp_path_factory: pytest.TempPathFactory, compose_module) -> Path:
    path = tmp_path_factory.mktemp("watched") / "run"
    cfg = compose_module("experiment=workday", "episodes=6", "intervention=exit_option")
    runner.run(cfg, path, NullDisplay(io.StringIO()))
    return path


@pytest.mark.parametrize(("width", "height"), SIZES)
def test_watch_fits_the_terminal(bail_run: Path, width: int, height: int) -> None:
    state = in_flight_state(bail_run, 2)  # four episodes left in flight
    assert len(state.in_flight) == 4
    lines = shown(run_view(state, width, height), width, height)
    check_frame(lines, width, height)
    text = "\n".join(lines)
    assert "episodes in flight" in text and "running proxies" in text


def test_watch_at_80_columns_keeps_one_line_per_row(bail_run: Path) -> None:
    state = in_flight_state(bail_run, 2)
    lines = shown(run_view(state, 80, 24), 80, 24)
    assert lines[0].startswith("[") and "workday" in lines[0]  # the title: one line
    assert sum(bool(re.match(r"│\s+\d+ │", line)) for line in lines) >= 1  # in-flight rows


@pytest.mark.parametrize(("width", "height"), SIZES)
def test_replay_fits_the_terminal(bail_run: Path, width: int, height: int) -> None:
    episode = load_episode(bail_run, 0)
    console = Console(width=width, height=height, file=io.StringIO())
    from sandbox.display.base import RunningProxies

    tally = RunningProxies()
    for i, event in enumerate(episode.events[:12]):
        tally.add_step(event.record)
        lines = shown(frame(episode, i, tally, width, height, console), width, height)
        check_frame(lines, width, height)
