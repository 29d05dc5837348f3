"""The ``wsb`` command's first lines: a Ctrl-C while it starts up stops it quietly.

Importing the command (argparse, Hydra, the configs) takes a moment, and a Ctrl-C then would
print a ``KeyboardInterrupt`` traceback. The ``wsb`` script and ``python -m sandbox`` import
this module first: it installs a handler that exits at once with 130 (nothing is written yet),
through the C ``_signal`` module, so that no import of its own leaves a gap before it. Once
the command is ready, :func:`sandbox.cli.main` gives Python's handler back. (An interrupt in
Python's own start-up, before the first line of this module runs, stays Python's.)
"""

import _signal
import os


def _startup_interrupt(signum: int, frame: object) -> None:
    os.write(2, b"interrupted\n")
    os._exit(128 + signum)


_signal.signal(_signal.SIGINT, _startup_interrupt)


def main() -> int:
    """Run the command (imported here, under the handler above)."""
    from sandbox.cli import main as command

    return command()
