"""Bank text (category names, task titles, ids) is untrusted, like model text.

A real run plays a bank whose categories, titles and ids hold rich markup, raw ANSI
(``cat\\x1b[31m``: the live view built ``f"chose {cat}"``, a string rich parses as markup and
passes escapes through), OSC sequences and bidi overrides (U+202E turns the rest of a line
around). Live, plain, watch and replay must show it all literally and send none of it raw.
"""

from __future__ import annotations

import io
from pathlib import Path

import pytest
import yaml
from rich.console import Console

from sandbox import runner, store
from sandbox.config import DisplayConfig
from sandbox.display.base import NullDisplay, RunningProxies
from sandbox.display.live import LiveDisplay, proxies_view
from sandbox.display.plain import PlainDisplay
from sandbox.display.replay_view import replay
from sandbox.display.safe import clean
from sandbox.display.watch_view import PlainRunView, run_view
from sandbox.watch import RunWatch, follow_run

ANSI_CAT = "cat\x1b[31m"
BIDI_CAT = "evil\u202eexe.txt"
MARKUP_CAT = "[b]creative[/b]"
CATEGORIES = [ANSI_CAT, BIDI_CAT, MARKUP_CAT]
TITLES = [
    "Title \x1b]0;pwned\x07 here",
    "Reverse \u202egnp.exe\u202c this",
    "[link=file:///etc/passwd]click[/link] me",
    "Isolate \u2066x\u2069 and marks \u200e\u200f",
]
#: What none of the views may send to a terminal.
RAW = ("\x1b[31m", "\x1b]0;", "\x07", "\u202e", "\u202c", "\u2066", "\u2069", "\u200e", "\u200f")


def hostile_bank(path: Path) -> Path:
    tasks = [
        {
            "id": f"id-{i}\x1b[2J\u202e",
            "title": TITLES[i % len(TITLES)],
            "prompt": f"Do task {i}: {TITLES[i % len(TITLES)]}",
            "category": CATEGORIES[i % len(CATEGORIES)],
            "pay": 1,
            "effort": 1,
            "aversiveness": 0.1 * (i % 4),
        }
        for i in range(9)
    ]
    path.write_text(yaml.safe_dump({"version": 1, "name": "hostile", "tasks": tasks}))
    return path


def assert_safe(*outputs: str) -> None:
    for out in outputs:
        for raw in RAW:
            assert raw not in out, repr(raw)


@pytest.fixture(scope="module")
def run(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, str, str]:
    """A real run of the hostile bank under the live view (a colour terminal)."""
    from hydra import compose, initialize_config_dir
    from hydra.core.global_hydra import GlobalHydra

    from sandbox.config import register_configs, to_typed
    from sandbox.paths import config_dir

    root = tmp_path_factory.mktemp("hostile_bank")
    bank = hostile_bank(root / "bank.yaml")
    register_configs()
    GlobalHydra.instance().clear()
    with initialize_config_dir(config_dir=str(config_dir()), version_base="1.3"):
        cfg = to_typed(
            compose(
                config_name="config",
                overrides=[
                    "episodes=3",
                    f"env.kwargs.bank={bank}",
                    "env.kwargs.day_length=12",
                    "agent.utilities={}",
                ],
            )
        )
    GlobalHydra.instance().clear()
    console = Console(
        width=160,
        height=50,
        record=True,
        file=io.StringIO(),
        force_terminal=True,
        color_system="truecolor",
    )
    view = LiveDisplay(DisplayConfig(mode="rich", refresh_per_second=50), console=console)
    frames: list[str] = []
    step = view.step

    def spy(event) -> None:  # type: ignore[no-untyped-def]
        step(event)
        frame = Console(width=160, record=True, file=io.StringIO(), color_system="truecolor")
        frame.print(view._render())
        frames.append(frame.file.getvalue())  # type: ignore[attr-defined]

    view.step = spy  # type: ignore[method-assign]
    path = root / "run"
    runner.run(cfg, path, view)
    raw = console.file.getvalue() + "".join(frames)  # type: ignore[attr-defined]
    return path, raw, console.export_text()


def test_the_run_holds_the_hostile_bank_text(run) -> None:
    path, _, _ = run
    text = (path / store.EPISODES).read_text()
    assert "cat\\u001b[31m" in text and "\u202e" in text


def test_live_view(run) -> None:
    _, raw, shown = run
    assert_safe(raw, shown)
    assert "chose [b]creative[/b]" in raw or "[b]creative[/b]" in shown  # markup, literally
    assert "evil\\u202eexe.txt" in raw  # the bidi override made visible


def test_proxies_view_does_not_parse_bank_markup_or_pass_escapes() -> None:
    tally = RunningProxies()
    for cat in CATEGORIES:
        tally.tasks[cat] += 1
    for compact in (False, True):
        console = Console(width=120, record=True, file=io.StringIO(), color_system="truecolor")
        console.print(proxies_view(tally, compact=compact))
        raw, shown = console.file.getvalue(), console.export_text()  # type: ignore[attr-defined]
        assert_safe(raw, shown)
        assert "[b]creative[/b]" in shown and "cat" in shown


def test_plain_display(run) -> None:
    path, _, _ = run
    stream = io.StringIO()
    view = PlainDisplay(stream)
    from sandbox.display.watch_view import header_of

    state = RunWatch(path)
    state.poll()
    view.run_started(header_of(state))
    for record in store.read_records(path / store.EPISODES):
        if record["type"] == "episode_end":
            view.episode_ended(record)
    view.run_ended("complete", store.read_json(path / store.METRICS))
    out = stream.getvalue()
    assert_safe(out)
    assert "[b]creative[/b]" in out and "evil\\u202eexe.txt" in out


def test_watch_views(run) -> None:
    path, _, _ = run
    state = RunWatch(path)
    state._read_manifest()
    for record in store.read_records(path / store.EPISODES):
        if record["episode"] < 1 or record["type"] == "step":
            state._add(record)
    for width in (80, 160):
        console = Console(width=width, record=True, file=io.StringIO(), color_system="truecolor")
        console.print(run_view(state, width, 40))
        raw, shown = console.file.getvalue(), console.export_text()  # type: ignore[attr-defined]
        assert_safe(raw, shown)
        assert "\\u202e" in shown
    stream = io.StringIO()
    follow_run(path, PlainRunView(stream), interval=0.01)
    assert_safe(stream.getvalue())


def test_replay(run) -> None:
    path, _, _ = run
    for width in (80, 160):
        console = Console(width=width, record=True, file=io.StringIO(), color_system="truecolor")
        replay(path, episode=0, speed=0, console=console)
        raw, shown = console.file.getvalue(), console.export_text()  # type: ignore[attr-defined]
        assert_safe(raw, shown)
        assert "[link=file:///etc/passwd]click[/link]" in shown
        assert "\\u202egnp.exe" in shown


@pytest.mark.parametrize(
    "char",
    [
        "\u202a",
        "\u202b",
        "\u202c",
        "\u202d",
        "\u202e",
        "\u2066",
        "\u2067",
        "\u2068",
        "\u2069",
        "\u200e",
        "\u200f",
        "\u061c",
    ],
)
def test_clean_makes_every_bidi_control_visible(char: str) -> None:
    out = clean(f"a{char}b")
    assert char not in out and out == f"a\\u{ord(char):04x}b"


def test_null_display_with_hostile_run(run) -> None:
    path, _, _ = run
    stream = io.StringIO()
    view = NullDisplay(stream)
    from sandbox.display.watch_view import header_of

    state = RunWatch(path)
    state.poll()
    view.run_started(header_of(state))
    view.run_ended("complete", store.read_json(path / store.METRICS))
    assert_safe(stream.getvalue())
