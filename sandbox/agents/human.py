"""A person at the terminal plays any environment (``agent=human``).

Each step the player sees what a model would read (the observation's text, with the menu
lettered A, B, ...), never the researcher-only labels, then:

1. picks one of the available actions by number (or by name; ``q`` quits), numbered in the
   order the observation's text lists them (a step with one action asks nothing here);
2. for ``TASK``/``REFUSE``/``MOVE``/``READ`` with options on the menu, the option's letter;
3. for ``SUBMIT``/``REPLY``/``REFUSE``/``REPORT``, the text (the work, the reply, the reason, an
   optional note), and for ``REPORT`` first the 1-7 rating.

A bad answer is asked again, so the environment only receives well-formed actions. The end of
input (Ctrl-D, or a closed stream) or ``q`` raises :class:`PlayerQuit`: the runner marks the
episode ``errored`` and the run ``partial``, as for any agent failure.

One person plays one episode at a time, so run it as::

    wsb run agent=human episodes=1

The builder refuses a second episode while one is in flight (the runner does not read an
agent's concurrency), and ``display=plain`` keeps the rich live view from redrawing over the
prompt. Input is read synchronously: the runner's loop waits on the person, which is what a
single-episode run wants (and Ctrl-C stays immediate).
"""

from __future__ import annotations

import re
from typing import Any, TextIO

from rich.console import Console
from rich.panel import Panel
from rich.table import Table
from rich.text import Text

from environments.core import RATING_MAX, RATING_MIN, Action, ActionKind
from sandbox.agents.base import Decision, EpisodeContext, Turn
from sandbox.display.safe import clean, one_line
from sandbox.errors import AgentError

#: Kinds that act on a menu option (asked for its letter).
TARGETED = frozenset({ActionKind.TASK, ActionKind.REFUSE, ActionKind.MOVE, ActionKind.READ})
#: Kinds that carry text (asked for it).
WITH_TEXT = frozenset({ActionKind.SUBMIT, ActionKind.REPLY, ActionKind.REFUSE, ActionKind.REPORT})

_TEXT_PROMPT = {
    ActionKind.SUBMIT: "Your work",
    ActionKind.REPLY: "Your reply",
    ActionKind.REFUSE: "Your reason (optional)",
    ActionKind.REPORT: "A note (optional)",
}


def listed_order(text: str, kinds: list[ActionKind]) -> list[ActionKind]:
    """``kinds`` in the order ``text`` names them: the lines of its "Actions available now:"
    list (``- SUBMIT ...``), else each kind's first mention; kinds it never names go last.

    The player's numbers follow what the player reads, so "1" is the first action listed.
    """

    def position(kind: ActionKind) -> int:
        listed = re.search(rf"^\s*[-*]\s*{kind.name}\b", text, re.MULTILINE)
        if listed:
            return listed.start()
        named = re.search(rf"\b{kind.name}\b", text)
        return len(text) + (named.start() if named else len(text))

    return sorted(kinds, key=lambda k: (position(k), int(k)))


class PlayerQuit(AgentError):
    """The person stopped playing (end of input or ``q``)."""


class HumanBuilder:
    """Builds the :class:`HumanAgent` of each episode; one episode at a time.

    Args:
        input_stream: Where answers are read from (default: the terminal's input, read with
            ``Console.input``, so line editing works).
        output_stream: Where the player's view is written (default: stdout); ignored when
            ``console`` is given.
        console: The rich console to draw on (e.g. a recording one in tests).
    """

    name = "human"

    def __init__(
        self,
        input_stream: TextIO | None = None,
        output_stream: TextIO | None = None,
        console: Console | None = None,
    ) -> None:
        self.console = console or Console(file=output_stream)
        self.stream = input_stream
        self._in_flight: int | None = None

    def parameters(self) -> dict[str, Any]:
        return {"name": "human"}

    def for_episode(self, context: EpisodeContext) -> HumanAgent:
        """A player for episode ``context.index``.

        Raises:
            AgentError: Another episode is still being played.
        """
        if self._in_flight is not None:
            raise AgentError(
                f"agent=human plays one episode at a time, but episode {context.index} started "
                f"while episode {self._in_flight} is in play; run with max_concurrency=1, e.g. "
                "wsb run agent=human episodes=1"
            )
        self._in_flight = context.index
        return HumanAgent(self, context, self.console, self.stream)

    def _released(self, index: int) -> None:
        if self._in_flight == index:
            self._in_flight = None

    async def aclose(self) -> None:
        return None


class HumanAgent:
    """One episode played by a person through prompts."""

    def __init__(
        self,
        builder: HumanBuilder,
        context: EpisodeContext,
        console: Console,
        stream: TextIO | None,
    ) -> None:
        self.builder = builder
        self.context = context
        self.console = console
        self.stream = stream

    # -- input -----------------------------------------------------------------------------
    def _ask(self, prompt: str) -> str:
        """One line of input, without its newline.

        Raises:
            PlayerQuit: End of input.
        """
        label = Text(prompt, style="bold")
        label.append(": ")
        if self.stream is None:
            try:
                return self.console.input(label)
            except EOFError:
                raise PlayerQuit("the player quit (end of input); the episode ends here") from None
        self.console.print(label, end="")
        line = self.stream.readline()
        if not line:
            self.console.print()
            raise PlayerQuit("the player quit (end of input); the episode ends here")
        return line.rstrip("\r\n")

    def _say(self, text: str) -> None:
        self.console.print(Text(text, style="yellow"))

    # -- the view ----------------------------------------------------------------------------
    def view(self, turn: Turn) -> Panel:
        """What the player sees: the observation's text and the available actions, numbered.

        The researcher-only labels in ``turn.info`` are never shown.
        """
        body = Table.grid(padding=(0, 1))
        body.add_column()
        text = str(turn.observation.get("text", ""))
        body.add_row(Text(clean(text, 8000)))
        menu = [str(line) for line in turn.observation.get("menu", ())]
        # Most environments list the options in the text already; list them only where not.
        if any(line and line[:40] not in text for line in menu):
            options = Table(box=None, show_header=False, pad_edge=False)
            options.add_column(style="bold green", width=3)
            options.add_column()
            for i, line in enumerate(menu):
                if line:
                    options.add_row(Text(f"{chr(65 + i)})"), Text(one_line(line, 300)))
            body.add_row(Text("Options:", style="dim"))
            body.add_row(options)
        kinds = listed_order(text, turn.available)
        actions = Text("Actions: ", style="dim")
        if len(kinds) == 1:
            actions.append(f"{kinds[0].name} (the only one now)  ", style="bold cyan")
        for number, kind in enumerate(kinds if len(kinds) > 1 else [], start=1):
            actions.append(f"{number}) ", style="bold cyan")
            actions.append(f"{kind.name}  ")
        actions.append("q) quit", style="dim")
        body.add_row(actions)
        title = f"episode {self.context.index} · step {turn.step + 1}"
        return Panel(body, title=title, title_align="left", border_style="blue")

    # -- the protocol ------------------------------------------------------------------------
    async def act(self, turn: Turn) -> Decision:
        kinds = listed_order(str(turn.observation.get("text", "")), turn.available)
        self.console.print(self.view(turn))
        if not kinds:
            raise PlayerQuit("no action is available at this step; the episode cannot go on")
        kind = self._choose_kind(kinds)
        target = 0
        menu = [str(line) for line in turn.observation.get("menu", ())]
        if kind in TARGETED and any(menu):
            target = self._choose_option(menu)
        elif kind is ActionKind.REPORT:
            target = self._choose_rating()
        text = ""
        if kind in WITH_TEXT:
            text = self._ask(_TEXT_PROMPT[kind])
            while kind in (ActionKind.SUBMIT, ActionKind.REPLY) and not text.strip():
                self._say("Please type something (an empty answer is not handed in).")
                text = self._ask(_TEXT_PROMPT[kind])
        return Decision(Action(kind, target, text), meta={"input": "human"})

    def _choose_kind(self, kinds: list[ActionKind]) -> ActionKind:
        """The action by its number in ``kinds`` (or its name); with only one, that one, once
        the player confirms (Enter), when it asks nothing else."""
        names = {k.name.lower(): k for k in kinds}
        if len(kinds) == 1:
            (kind,) = kinds
            if kind in TARGETED or kind in WITH_TEXT or kind is ActionKind.REPORT:
                return kind  # its own question comes next
            while True:
                answer = self._ask(f"Press Enter to {kind.name} (q quits)").strip().lower()
                if answer in ("q", "quit"):
                    raise PlayerQuit("the player quit; the episode ends here")
                if answer in ("", kind.name.lower()):
                    return kind
                self._say(f"Press Enter to {kind.name}, or type q to quit.")
        while True:
            answer = self._ask(f"Action [1-{len(kinds)}]").strip().lower()
            if answer in ("q", "quit"):
                raise PlayerQuit("the player quit; the episode ends here")
            if answer.isdigit() and 1 <= int(answer) <= len(kinds):
                return kinds[int(answer) - 1]
            if answer in names:
                return names[answer]
            self._say(f"Type a number from 1 to {len(kinds)} (or an action's name, or q).")

    def _choose_option(self, menu: list[str]) -> int:
        letters = {chr(65 + i): i for i, line in enumerate(menu) if line}
        shown = ", ".join(letters)
        while True:
            answer = self._ask(f"Option [{shown}]").strip().upper()
            if answer in ("Q", "QUIT"):
                raise PlayerQuit("the player quit; the episode ends here")
            if answer in letters:
                return letters[answer]
            self._say(f"Type one of the option letters: {shown}.")

    def _choose_rating(self) -> int:
        while True:
            answer = self._ask(f"Rating [{RATING_MIN}-{RATING_MAX}]").strip()
            if answer.lower() in ("q", "quit"):
                raise PlayerQuit("the player quit; the episode ends here")
            if answer.isdigit() and RATING_MIN <= int(answer) <= RATING_MAX:
                return int(answer)
            self._say(
                f"Type a whole number from {RATING_MIN} (very bad) to {RATING_MAX} (very good)."
            )

    async def end(self, reason: str) -> None:
        self.builder._released(self.context.index)
        self.console.print(Text(f"episode {self.context.index} ended: {reason}", style="bold"))
