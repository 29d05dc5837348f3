"""A run whose standard output is a pipe closed by its reader (``wsb run | head -1``)."""

from __future__ import annotations

import os

from sandbox import runner
from sandbox.display.plain import PlainDisplay


def test_a_closed_pipe_does_not_stop_the_run(compose_cfg, tmp_path) -> None:
    read_end, write_end = os.pipe()
    os.close(read_end)  # the reader has gone, as `head -1` does after its line
    stream = os.fdopen(write_end, "w")
    try:
        result = runner.run(
            compose_cfg("episodes=3", "env.kwargs.day_length=4"),
            tmp_path / "run",
            PlainDisplay(stream=stream),
        )
    finally:
        stream.close()
    assert result.status == "complete"
    assert (tmp_path / "run" / "metrics.json").is_file()
