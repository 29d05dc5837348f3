"""The live view and ``wsb watch`` in a real terminal (tmux), at 80x24 and 200x50.

Each test starts a tmux server of its own (``-L``), runs ``wsb`` in a pane of the given size
and reads the screen back with ``capture-pane``. A run started in the background (``&``) must
print plain lines instead of drawing over the prompt.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

pytestmark = [
    pytest.mark.slow,
    pytest.mark.skipif(
        shutil.which("tmux") is None,
        reason="tmux is not installed: these tests read the screen of a real terminal "
        "(install it, e.g. apt-get install tmux)",
    ),
]

WSB = f"{sys.executable} -m sandbox"


class Tmux:
    """A private tmux server with one session of a fixed size."""

    def __init__(self, width: int, height: int, cwd: Path) -> None:
        self.socket = f"wsb-test-{uuid.uuid4().hex[:8]}"
        self.width, self.height = width, height
        env = {k: v for k, v in os.environ.items() if k not in ("COLUMNS", "LINES", "TMUX")}
        self.env = {**env, "TERM": "xterm-256color"}
        self.cmd(
            "new-session", "-d", "-s", "t", "-x", str(width), "-y", str(height),
            "-c", str(cwd), "bash --norc --noprofile -i",
        )  # fmt: skip
        self.cmd("set-option", "-g", "history-limit", "5000")
        self.send("PS1='$ '; clear")

    def cmd(self, *args: str) -> str:
        result = subprocess.run(
            ["tmux", "-L", self.socket, *args],
            capture_output=True, text=True, env=self.env, timeout=30,
        )  # fmt: skip
        return result.stdout

    def send(self, line: str) -> None:
        self.cmd("send-keys", "-t", "t", line, "Enter")

    def screen(self, history: bool = False) -> list[str]:
        """The visible screen (with ``history``, also what scrolled off it)."""
        extra = ["-S", "-"] if history else []
        return self.cmd("capture-pane", "-p", "-t", "t", *extra).splitlines()

    def kill(self) -> None:
        subprocess.run(["tmux", "-L", self.socket, "kill-server"], capture_output=True)


@pytest.fixture
def tmux_factory(tmp_path: Path) -> Iterator:
    made: list[Tmux] = []

    def make(width: int, height: int) -> Tmux:
        made.append(Tmux(width, height, tmp_path))
        return made[-1]

    yield make
    for t in made:
        t.kill()


def wait_for(predicate, timeout: float = 60.0, every: float = 0.1):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(every)
    return predicate()


def status(run_dir: Path) -> str | None:
    try:
        return json.loads((run_dir / "run.json").read_text()).get("status")
    except (OSError, ValueError):
        return None


def assert_fits(screen: list[str], width: int) -> None:
    text = "\n".join(screen)
    assert not any(line.strip() == "..." for line in screen), text
    assert all(len(line) <= width for line in screen), text


@pytest.mark.parametrize(("width", "height"), [(80, 24), (200, 50)])
def test_live_view_and_watch_in_a_real_terminal(tmux_factory, tmp_path, width, height) -> None:
    run_dir = tmp_path / "run"
    term = tmux_factory(width, height)
    started = time.monotonic()
    term.send(
        f"{WSB} run episodes=4 display.step_delay_s=0.03 intervention=exit_option "
        f"hydra.run.dir={run_dir}"
    )
    # The header and the run directory are on screen at once, before any episode ends.
    header = wait_for(lambda: any("run directory:" in line for line in term.screen()), 30)
    assert header, "\n".join(term.screen())
    assert status(run_dir) in ("running", None)
    assert time.monotonic() - started < 30
    # A second terminal follows the run from its directory.
    watcher = tmux_factory(width, height)
    watcher.send(f"{WSB} watch {run_dir} --interval 0.1")
    frames: list[list[str]] = []

    def live_frame() -> bool:
        screen = term.screen()
        if any("running proxies" in line for line in screen):
            frames.append(screen)
        return len(frames) >= 3

    assert wait_for(live_frame, 60, 0.3), "\n".join(term.screen())
    watched = wait_for(
        lambda: (s := watcher.screen()) and any("episodes in flight" in line for line in s) and s,
        60,
        0.2,
    )
    assert watched, "\n".join(watcher.screen())
    for screen in [*frames, watched]:
        assert_fits(screen, width)
    for screen in frames:
        text = "\n".join(screen)
        # The whole frame is on screen: its title (top) and the progress bar (bottom).
        assert any(line.startswith("episodes ") for line in screen), text
        assert "condition exit_option" in text
    watched_text = "\n".join(watched)
    assert any(line.startswith("[running]") for line in watched), watched_text
    assert wait_for(lambda: status(run_dir) == "complete", 90)
    end = wait_for(lambda: any("run complete" in line for line in term.screen()) and term.screen())
    assert end, "\n".join(term.screen())


def test_a_background_run_prints_plain_lines(tmux_factory, tmp_path) -> None:
    run_dir = tmp_path / "bg"
    term = tmux_factory(80, 24)
    term.send(f"{WSB} run episodes=3 display.step_delay_s=0.01 hydra.run.dir={run_dir} &")
    assert wait_for(lambda: status(run_dir) == "complete", 90)
    assert wait_for(lambda: any("run complete" in line for line in term.screen(True)))
    text = "\n".join(term.screen(history=True))
    assert "episode   0 [1/3]" in text  # one plain line per episode
    assert "╭" not in text and "running proxies" not in text  # no live view over the prompt


def test_a_foreground_run_in_the_same_terminal_is_live(tmux_factory, tmp_path) -> None:
    run_dir = tmp_path / "fg"
    term = tmux_factory(80, 24)
    term.send(f"{WSB} run episodes=3 display.step_delay_s=0.02 hydra.run.dir={run_dir}")
    live = wait_for(lambda: any("running proxies" in line for line in term.screen()), 60)
    assert live, "\n".join(term.screen())
    assert wait_for(lambda: status(run_dir) == "complete", 90)
    assert wait_for(lambda: any("run complete" in line for line in term.screen(True)))
    assert "episode   0 [1/3]" not in "\n".join(term.screen(history=True))


def test_a_run_sent_to_the_background_goes_plain(tmux_factory, tmp_path) -> None:
    run_dir = tmp_path / "later"
    term = tmux_factory(80, 24)
    term.send(f"{WSB} run episodes=6 display.step_delay_s=0.03 hydra.run.dir={run_dir}")
    assert wait_for(lambda: any("running proxies" in line for line in term.screen()), 60)
    term.cmd("send-keys", "-t", "t", "C-z")  # suspend it, then let it go on in the background
    time.sleep(0.5)
    term.send("bg")
    assert wait_for(lambda: status(run_dir) == "complete", 120)
    assert wait_for(lambda: any("run complete" in line for line in term.screen(True)))
    text = "\n".join(term.screen(history=True))
    after = text[text.index("in the background now") :]
    assert re.search(r"episode +\d \[\d/6\] end=", after), text  # plain lines from then on
    assert "╭" not in after and "running proxies" not in after
