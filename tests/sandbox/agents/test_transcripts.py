"""Transcripts are appended per call and written whole once: what a crash keeps, what it costs."""

from __future__ import annotations

import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest

from sandbox.agents.transcripts import (
    TranscriptWriter,
    journal_path,
    load_transcript,
    requests_of,
    transcript_path,
)
from sandbox.store import RunWriteError

SYSTEM = "You are taking part in a study. " * 20


def _play(writer: TranscriptWriter, calls: int, *, size: int = 1000, pause: float = 0) -> None:
    """``calls`` model calls of one conversation, each adding a user and an assistant turn
    (``pause``: seconds between calls, as a model's latency leaves)."""
    tools = [{"name": "take_task", "input_schema": {"type": "object"}}]
    for step in range(calls):
        writer.add_message({"role": "user", "content": [{"type": "text", "text": "x" * size}]})
        request = {"model": "m", "system": SYSTEM, "tools": tools, "messages": []}
        response = {"content": [{"type": "text", "text": f"answer {step}"}]}
        writer.add_call(
            request,
            n_messages=2 * step + 1,
            cache_markers=[[2 * step, 0]],
            step=step,
            attempt=1,
            response=response,
        )
        writer.add_message({"role": "assistant", "content": response["content"]})
        time.sleep(pause)


def _wchar() -> int:
    for line in Path("/proc/self/io").read_text().splitlines():
        if line.startswith("wchar:"):
            return int(line.split()[1])
    raise AssertionError("no wchar")


@pytest.mark.skipif(not Path("/proc/self/io").exists(), reason="needs Linux /proc/self/io")
def test_bytes_written_grow_with_the_episode_not_its_square(tmp_path: Path) -> None:
    path = transcript_path(tmp_path, 0)
    writer = TranscriptWriter(path, {"episode": 0, "seed": 0})
    before = _wchar()
    _play(writer, 150, pause=0.002)
    writer.close("truncated")
    written = _wchar() - before
    kept = path.stat().st_size
    # A journal line per piece and the final file once: about twice what is kept. Rewriting the
    # whole file per call (the earlier writer) wrote ~66x here.
    assert written < 3 * kept, (written, kept)
    assert not journal_path(path).exists()
    transcript = load_transcript(path)
    assert transcript["status"] == "complete" and len(transcript["calls"]) == 150


def test_a_killed_process_keeps_every_answered_call(tmp_path: Path) -> None:
    script = textwrap.dedent(
        f"""
        import os, signal, sys
        sys.path.insert(0, {str(Path(__file__).parent)!r})
        from test_transcripts import _play
        from sandbox.agents.transcripts import TranscriptWriter, transcript_path
        writer = TranscriptWriter(transcript_path({str(tmp_path)!r}, 3), {{"episode": 3}})
        _play(writer, 4, size=10)
        os.kill(os.getpid(), signal.SIGKILL)
        """
    )
    done = subprocess.run([sys.executable, "-c", script], capture_output=True, timeout=60)
    assert done.returncode == -9, done.stderr
    path = transcript_path(tmp_path, 3)
    assert not path.exists()
    transcript = load_transcript(path)  # rebuilt from the journal
    assert transcript["status"] == "running" and transcript["episode"] == 3
    assert [c["response"]["content"][0]["text"] for c in transcript["calls"]] == [
        f"answer {i}" for i in range(4)
    ]
    requests = requests_of(transcript)
    assert requests[3]["system"] == SYSTEM and len(requests[3]["messages"]) == 7
    assert requests[3]["messages"][6]["content"][0]["cache_control"] == {"type": "ephemeral"}


def test_a_torn_last_journal_line_is_skipped(tmp_path: Path) -> None:
    path = transcript_path(tmp_path, 0)
    writer = TranscriptWriter(path, {"episode": 0})
    _play(writer, 2, size=10)
    with journal_path(path).open("ab") as fh:
        fh.write(b'{"call":{"step":2,"resp')  # a kill mid-write
    assert len(load_transcript(path)["calls"]) == 2


def test_replaying_an_episode_replaces_the_earlier_attempt(tmp_path: Path) -> None:
    path = transcript_path(tmp_path, 0)
    first = TranscriptWriter(path, {"episode": 0, "attempt": "first"})
    _play(first, 3, size=10)
    first.close("errored")
    second = TranscriptWriter(path, {"episode": 0, "attempt": "second"})
    _play(second, 1, size=10)
    running = load_transcript(path)  # the earlier attempt's file does not stand in for this one
    assert running["attempt"] == "second" and running["status"] == "running"
    second.close("exit")
    done = load_transcript(path)
    assert done["attempt"] == "second" and len(done["calls"]) == 1
    assert done["end_reason"] == "exit"


def test_secrets_reach_neither_the_journal_nor_the_file(tmp_path: Path) -> None:
    secret = "sk-ant-transcript-test-0123456789"
    path = transcript_path(tmp_path, 0)
    writer = TranscriptWriter(path, {"episode": 0}, secrets=[secret])
    writer.add_message({"role": "user", "content": f"the key is {secret}"})
    writer.add_call({"model": "m", "messages": []}, n_messages=1, cache_markers=[], step=0)
    assert secret not in journal_path(path).read_text()
    writer.close("exit")
    assert secret not in path.read_text()


def test_a_journal_that_cannot_be_written_is_a_run_write_error(tmp_path: Path) -> None:
    (tmp_path / "transcripts").write_text("not a folder")
    writer = TranscriptWriter(transcript_path(tmp_path, 0), {"episode": 0})
    with pytest.raises(RunWriteError, match="cannot write"):
        _play(writer, 1)
