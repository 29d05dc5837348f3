"""What a researcher sees as a run starts, goes and stops.

- The tokens figure of the live view and of ``wsb watch`` is the one ``metrics.json`` counts,
  cache reads included (it showed 3,980 against 823,284), split into uncached and cached.
- The run's header and directory are printed when the run starts, before any episode ends.
- Ctrl-C says at once that the run is stopping and what it writes, before it writes it.
- ``display=auto`` is plain off a terminal (the background case is in test_view_terminal).
"""

from __future__ import annotations

import io
from pathlib import Path
from typing import Any

import pytest
from rich.console import Console

from sandbox import runner, store
from sandbox.agents.base import Decision, EpisodeContext, Turn
from sandbox.agents.random_agent import RandomAgent, RandomBuilder
from sandbox.config import DisplayConfig
from sandbox.display import make_display
from sandbox.display.base import NullDisplay, in_foreground
from sandbox.display.live import LiveDisplay
from sandbox.display.plain import PlainDisplay
from sandbox.display.watch_view import proxies_panel
from sandbox.records import Usage
from sandbox.watch import RunWatch

USAGE = dict(
    input_tokens=12, output_tokens=7, cache_read_input_tokens=2000, cache_creation_input_tokens=30
)


class CachedModel(RandomAgent):
    """The random baseline, reporting the usage of a prompt-cached model call each step."""

    async def act(self, turn: Turn) -> Decision:
        decision = await super().act(turn)
        return Decision(decision.action, usage=Usage(**USAGE, calls=1, cost_usd=0.001))


class CachedBuilder(RandomBuilder):
    def for_episode(self, context: EpisodeContext) -> CachedModel:  # type: ignore[override]
        return CachedModel(super().for_episode(context).rng)


def _run(compose_cfg, monkeypatch, path: Path, display: Any, *overrides: str) -> None:
    cfg = compose_cfg("episodes=3", "env.kwargs.day_length=6", *overrides)
    monkeypatch.setattr(runner, "build_agent", lambda *a, **k: CachedBuilder())
    runner.run(cfg, path, display)


def test_live_and_watch_tokens_are_those_of_metrics_json(compose_cfg, monkeypatch, tmp_path):
    console = Console(width=160, height=50, record=True, file=io.StringIO())
    view = LiveDisplay(DisplayConfig(mode="rich", refresh_per_second=1), console=console)
    _run(compose_cfg, monkeypatch, tmp_path / "run", view)
    metrics = store.read_json(tmp_path / "run" / store.METRICS)
    total = metrics["tokens"]["total"]
    cached = metrics["tokens"]["cache_read_input_tokens"]
    assert cached > 0 and total == 18 * sum(USAGE.values())  # 3 episodes x 6 steps
    assert view.tally.tokens == total
    assert (view.tally.uncached_tokens, view.tally.cached_tokens) == (total - cached, cached)
    shown = Console(width=160, record=True, file=io.StringIO())
    from sandbox.display.live import proxies_view

    shown.print(proxies_view(view.tally))
    text = shown.export_text()
    assert f"{total:,} ({total - cached:,} uncached, {cached:,} cached)" in text
    # wsb watch, from the files
    state = RunWatch(tmp_path / "run")
    state.poll()
    assert state.tokens() == total and state.token_split() == (total - cached, cached)
    for compact in (False, True):
        out = Console(width=160, record=True, file=io.StringIO())
        out.print(proxies_panel(state, compact=compact))
        assert f"{total:,} ({total - cached:,} uncached, {cached:,} cached)" in out.export_text()


def test_the_summary_shows_the_tokens_split(compose_cfg, monkeypatch, tmp_path):
    stream = io.StringIO()
    _run(compose_cfg, monkeypatch, tmp_path / "run", PlainDisplay(stream))
    total = store.read_json(tmp_path / "run" / store.METRICS)["tokens"]["total"]
    assert f"tokens {total:,} (" in stream.getvalue()


def test_header_and_run_directory_come_before_any_episode(compose_cfg, monkeypatch, tmp_path):
    console = Console(width=100, height=30, record=True, file=io.StringIO())
    view = LiveDisplay(DisplayConfig(mode="rich", refresh_per_second=1), console=console)
    seen: list[str] = []
    ended = view.episode_ended

    def spy(record: dict[str, Any]) -> None:
        if not seen:
            seen.append(console.export_text(clear=False))
        ended(record)

    view.episode_ended = spy  # type: ignore[method-assign]
    path = tmp_path / "run"
    _run(compose_cfg, monkeypatch, path, view)
    before = seen[0]
    assert f"run directory: {path}" in before and f"wsb watch {path}" in before
    assert "workday: 3 episodes of WelfareSandbox/TaskChoice-v0" in before


class Interrupting(RandomAgent):
    """Presses Ctrl-C in the third episode."""

    def __init__(self, rng: Any, index: int) -> None:
        super().__init__(rng)
        self.index = index

    async def act(self, turn: Turn) -> Decision:
        if self.index == 2 and turn.step == 3:
            raise KeyboardInterrupt
        return await super().act(turn)


class InterruptingBuilder(RandomBuilder):
    def for_episode(self, context: EpisodeContext) -> Interrupting:  # type: ignore[override]
        return Interrupting(super().for_episode(context).rng, context.index)


@pytest.mark.parametrize("kind", ["plain", "live", "none"])
def test_ctrl_c_says_at_once_that_it_stops_and_what_it_writes(
    compose_cfg, monkeypatch, tmp_path, kind
):
    stream = io.StringIO()
    console = Console(width=100, height=30, record=True, file=stream)
    view: Any = {
        "plain": lambda: PlainDisplay(stream),
        "live": lambda: LiveDisplay(DisplayConfig(mode="rich"), console=console),
        "none": lambda: NullDisplay(stream),
    }[kind]()
    path = tmp_path / "run"
    # What was on screen when the run began writing its final files.
    at_write: list[str] = []
    write = store.write_json_atomic

    def spy(target: Path, data: Any, *a: Any, **k: Any) -> Any:
        if Path(target).name == store.METRICS and not at_write:
            at_write.append(
                console.export_text(clear=False) if kind == "live" else stream.getvalue()
            )
        return write(target, data, *a, **k)

    monkeypatch.setattr(store, "write_json_atomic", spy)
    cfg = compose_cfg("episodes=3", "env.kwargs.day_length=6", "max_concurrency=1")
    monkeypatch.setattr(runner, "build_agent", lambda *a, **k: InterruptingBuilder())
    result = runner.run(cfg, path, view)
    assert result.status == "partial"
    said = " ".join(at_write[0].split())  # the live view wraps at the terminal's width
    assert "stopping now" in said, said
    assert "Keeping the 2 finished episodes" in said
    assert "metrics.json and run.json (status partial)" in said and str(path) in said


def test_auto_is_plain_off_a_terminal_and_outside_the_foreground():
    assert isinstance(make_display(DisplayConfig(mode="auto"), stream=io.StringIO()), PlainDisplay)
    assert in_foreground(io.StringIO()) is False
