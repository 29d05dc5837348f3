"""``python -m sandbox``: the same as the ``wsb`` command."""

import os
import signal


def _startup_interrupt(signum: int, frame: object) -> None:
    # Ctrl-C while Python still imports the command: nothing is written yet, so stop quietly
    # (without a KeyboardInterrupt traceback); the command gives Python's handler back.
    os.write(2, b"interrupted\n")
    os._exit(128 + signum)


signal.signal(signal.SIGINT, _startup_interrupt)

from sandbox.cli import main  # noqa: E402

raise SystemExit(main())
