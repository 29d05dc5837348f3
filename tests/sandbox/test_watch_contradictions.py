"""`wsb watch` says when a log contradicts itself, as `wsb report` refuses to read one."""

from __future__ import annotations

from pathlib import Path

from tests.conftest import wsb


def _run(tmp_path: Path) -> Path:
    run_dir = tmp_path / "run"
    done = wsb(
        "run",
        "episodes=2",
        "env.kwargs.day_length=3",
        "display=none",
        f"hydra.run.dir={run_dir}",
        cwd=tmp_path,
    )
    assert done.returncode == 0, done.stderr
    return run_dir


def test_watch_once_says_a_duplicated_line_and_exits_2(tmp_path: Path) -> None:
    run_dir = _run(tmp_path)
    clean = wsb("watch", str(run_dir), "--once", cwd=tmp_path)
    assert clean.returncode == 0 and "contradicts" not in clean.stdout
    log = run_dir / "episodes.jsonl"
    lines = log.read_bytes().splitlines(keepends=True)
    log.write_bytes(b"".join([*lines[:2], lines[1], *lines[2:]]))  # one step line twice
    damaged = wsb("watch", str(run_dir), "--once", cwd=tmp_path)
    assert damaged.returncode == 2
    assert "contradicts itself" in damaged.stdout and "line 3" in damaged.stdout
