"""Nothing already written is changed by a command that refuses or fails (``wsb`` in subprocesses).

Every refusal test hashes every file of the run (or sweep) directory before and after the
refused command: they must be byte-identical, and no file may appear or disappear.
"""

from __future__ import annotations

import hashlib
import json
import os
import resource
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from sandbox import store
from tests.conftest import wsb as shared_wsb

COMMON = ["display=none", "env.kwargs.day_length=8"]


def wsb(*args: str, cwd: Path, preexec=None, **env: str) -> subprocess.CompletedProcess[str]:
    return shared_wsb(*args, cwd=cwd, env=env, preexec=preexec)


def ok(*args: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    proc = wsb(*args, cwd=cwd)
    assert proc.returncode == 0, proc.stderr
    return proc


def hashes(directory: Path) -> dict[str, str]:
    """sha256 of every file below ``directory`` (hidden ones too), by relative path."""
    return {
        path.relative_to(directory).as_posix(): hashlib.sha256(path.read_bytes()).hexdigest()
        for path in sorted(directory.rglob("*"))
        if path.is_file()
    }


def refused(proc: subprocess.CompletedProcess[str], *words: str) -> None:
    """Status 2, one line starting ``error:``, no traceback, and the given words in it."""
    assert proc.returncode == 2, proc.stderr
    assert "Traceback" not in proc.stderr
    lines = [line for line in proc.stderr.splitlines() if line.strip()]
    assert len(lines) == 1 and lines[0].startswith("error: "), proc.stderr
    for word in words:
        assert word in lines[0], lines[0]


def test_a_refused_rerun_leaves_the_run_and_the_sweep_byte_identical(tmp_path):
    run = tmp_path / "x"
    ok("run", "episodes=2", *COMMON, f"hydra.run.dir={run}", cwd=tmp_path)
    before = hashes(run)
    assert ".hydra/config.yaml" in before and "run.json" in before
    proc = wsb(
        "run",
        "episodes=2",
        "seed=7",
        "intervention=exit_option",
        *COMMON,
        f"hydra.run.dir={run}",
        cwd=tmp_path,
    )
    refused(proc, "already holds a run", "resume=true", "hydra.run.dir")
    assert hashes(run) == before  # run.json still complete, .hydra/ still seed 0 and none
    assert json.loads((run / store.RUN_JSON).read_text())["status"] == "complete"

    sweep = tmp_path / "sweep"
    ok("run", "-m", "seed=1,2", "episodes=2", *COMMON, f"hydra.sweep.dir={sweep}", cwd=tmp_path)
    before = hashes(sweep)
    proc = wsb(
        "run", "-m", "seed=1,2,3", "episodes=2", *COMMON, f"hydra.sweep.dir={sweep}", cwd=tmp_path
    )
    refused(proc, "already holds a sweep", "hydra.sweep.dir")
    assert "hydra.run.dir" not in proc.stderr and "sweep [" not in proc.stdout
    assert hashes(sweep) == before  # jobs complete; multirun.yaml and summary not rewritten


#: Damage that no kill can leave, in the middle of the log: the line is not a record.
MID_FILE_DAMAGE = {
    "random bytes": bytes(range(256)) * 2,
    "a NUL block": b"\x00" * 512,
    "a JSON array": b"[1, 2, 3]",
    "NaN": b'{"type": "step", "episode": 0, "step": 0, "reward": NaN}',
}


def test_resume_on_a_log_damaged_in_the_middle_is_refused_and_changes_nothing(tmp_path):
    run = tmp_path / "run"
    ok("run", "episodes=3", *COMMON, f"hydra.run.dir={run}", cwd=tmp_path)
    for name, junk in MID_FILE_DAMAGE.items():
        damaged = tmp_path / name.replace(" ", "_")
        shutil.copytree(run, damaged)
        lines = (damaged / store.EPISODES).read_bytes().splitlines(keepends=True)
        lines[4] = junk + b"\n"
        (damaged / store.EPISODES).write_bytes(b"".join(lines))
        before = hashes(damaged)
        proc = wsb(
            "run", "episodes=3", *COMMON, f"hydra.run.dir={damaged}", "resume=true", cwd=tmp_path
        )
        refused(proc, "line 5", "not a record")
        assert hashes(damaged) == before, name  # still "complete": the refusal changed nothing


#: Slows the simulated subject down (seconds a step), then runs ``wsb``.
SLOW = r"""
import asyncio, os, sys
from sandbox.agents import simulated
act = simulated.SimulatedSubject.act
async def slow_act(self, turn):
    await asyncio.sleep(float(os.environ["WSB_TEST_STEP_DELAY"]))
    return await act(self, turn)
simulated.SimulatedSubject.act = slow_act
from sandbox.cli import main
sys.exit(main(sys.argv[1:]))
"""


def test_a_second_writer_on_a_running_run_is_refused_and_names_the_first(tmp_path):
    run = tmp_path / "run"
    args = ["run", "episodes=6", "max_concurrency=2", *COMMON, f"hydra.run.dir={run}"]
    env = {**os.environ, "WSB_TEST_STEP_DELAY": "0.15"}
    env.pop("HYDRA_FULL_ERROR", None)
    first = subprocess.Popen(
        [sys.executable, "-c", SLOW, *args],
        cwd=tmp_path,
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        deadline = time.monotonic() + 60
        while not (run / store.EPISODES).exists():
            assert first.poll() is None and time.monotonic() < deadline, first.stderr
            time.sleep(0.02)
        before = {k: v for k, v in hashes(run).items() if not k.startswith(".hydra")}
        second = wsb(*args, "resume=true", cwd=tmp_path)
        assert first.poll() is None, "the first run ended before the second was refused"
        refused(second, "being written by another wsb run", f"pid {first.pid}", "hydra.run.dir")
        # The second touched nothing: not .hydra/ (checked before Hydra writes), nor the lock.
        assert (run / ".hydra" / "overrides.yaml").read_text().count("resume") == 0
        assert hashes(run)[store.LOCK] == before[store.LOCK]
    finally:
        _, err = first.communicate(timeout=120)
    assert first.returncode == 0, err
    records = list(store.iter_numbered(run / store.EPISODES))
    assert store.log_problems(records, seed=0) == []  # no record logged twice
    ends = [r for _, r in records if r["type"] == "episode_end"]
    assert sorted(r["episode"] for r in ends) == [0, 1, 2, 3, 4, 5]
    # A lock left by a process that died is no refusal (flock dies with its holder).
    (run / store.LOCK).write_text(json.dumps({"pid": 999999, "host": "gone", "command": "x"}))
    ok("run", "episodes=6", *COMMON, f"hydra.run.dir={run}", "resume=true", cwd=tmp_path)


def test_resume_with_another_file_under_the_same_path_is_refused(tmp_path):
    from environments.banks import default_task_bank_path

    first, second = tmp_path / "a", tmp_path / "b"
    first.mkdir()
    second.mkdir()
    shutil.copy(default_task_bank_path(), first / "mybank.yaml")
    text = default_task_bank_path().read_text(encoding="utf-8")
    (second / "mybank.yaml").write_text(text.replace("title:", "title: B", 1), encoding="utf-8")
    run = tmp_path / "run"
    args = ["run", "episodes=2", *COMMON, "env.kwargs.bank=mybank.yaml", f"hydra.run.dir={run}"]
    ok(*args, cwd=first)
    manifest = json.loads((run / store.RUN_JSON).read_text())
    [bank] = manifest["inputs"]
    assert bank["field"] == "env.kwargs.bank"
    assert bank["path"] == str((first / "mybank.yaml").resolve())
    assert bank["sha256"] == hashlib.sha256((first / "mybank.yaml").read_bytes()).hexdigest()
    before = hashes(run)
    proc = wsb(*args, "resume=true", cwd=second)
    refused(proc, "env.kwargs.bank", str(second / "mybank.yaml"), "other content")
    assert hashes(run) == before
    ok(*args, "resume=true", cwd=first)  # the same file: resumed (here: already complete)

    # A sweep's jobs are checked in the job, after Hydra wrote their .hydra/: put back as it was.
    sweep = tmp_path / "sweep"
    args = ["run", "-m", "seed=1,2", "episodes=2", *COMMON, "env.kwargs.bank=mybank.yaml"]
    ok(*args, f"hydra.sweep.dir={sweep}", cwd=first)
    before = hashes(sweep)
    proc = wsb(*args, f"hydra.sweep.dir={sweep}", "resume=true", cwd=second)
    assert proc.returncode == 2, proc.stderr
    assert proc.stderr.count("other content") == 2 and "Traceback" not in proc.stderr
    assert hashes(sweep) == before


def test_a_log_that_contradicts_itself_is_refused_by_report_replay_and_resume(tmp_path):
    run = tmp_path / "run"
    ok("run", "episodes=3", *COMMON, f"hydra.run.dir={run}", cwd=tmp_path)
    log = run / store.EPISODES
    lines = log.read_bytes().splitlines(keepends=True)
    log.write_bytes(b"".join([*lines[:3], lines[2], *lines[3:]]))  # line 3 duplicated
    before = hashes(run)
    report = wsb("report", str(run), "--format", "json", cwd=tmp_path)
    refused(report, "contradicts itself", "line 4", "again", "--force")
    forced = wsb("report", str(run), "--format", "json", "--force", cwd=tmp_path)
    assert forced.returncode == 0, forced.stderr
    assert "contradicts itself" in forced.stderr  # said, even when asked to go on
    refused(wsb("replay", str(run), "--speed", "0", cwd=tmp_path), "contradicts itself")
    resume = wsb("run", "episodes=3", *COMMON, f"hydra.run.dir={run}", "resume=true", cwd=tmp_path)
    refused(resume, "contradicts itself")
    assert hashes(run) == before


def _fsize_limit(limit: int):
    def apply() -> None:
        # A real limit from the OS: writes past it fail with EFBIG (SIGXFSZ ignored, so the
        # process sees the error instead of being killed).
        signal.signal(signal.SIGXFSZ, signal.SIG_IGN)
        resource.setrlimit(resource.RLIMIT_FSIZE, (limit, limit))

    return apply


def test_report_out_is_written_atomically_and_an_unwritable_out_is_one_line(tmp_path):
    run = tmp_path / "run"
    ok("run", "episodes=2", *COMMON, f"hydra.run.dir={run}", cwd=tmp_path)
    out = tmp_path / "report.md"
    ok("report", str(run), "--format", "md", "--out", str(out), cwd=tmp_path)
    previous = out.read_bytes()
    assert len(previous) > 600
    # The next report cannot be written whole (a file-size limit below its size): the old one
    # stays, whole, and no temporary file is left beside it.
    proc = wsb(
        "report", str(run), "--format", "md", "--out", str(out), cwd=tmp_path,
        preexec=_fsize_limit(512),
    )  # fmt: skip
    refused(proc, "cannot write", str(out))
    assert out.read_bytes() == previous
    assert sorted(p.name for p in tmp_path.iterdir()) == ["report.md", "run"]
    refused(wsb("report", str(run), "--out", "/proc/version/report.md", cwd=tmp_path), "--out")


def test_a_full_disk_mid_run_stops_at_once_and_keeps_what_was_written(tmp_path):
    run = tmp_path / "run"
    proc = wsb(
        "run", "episodes=60", *COMMON, f"hydra.run.dir={run}", cwd=tmp_path,
        preexec=_fsize_limit(60_000),
    )  # fmt: skip
    assert proc.returncode == 2, proc.stderr
    assert "Traceback" not in proc.stderr
    errors = [line for line in proc.stderr.splitlines() if line.startswith("error:")]
    assert len(errors) == 1 and "cannot write" in errors[0] and "resume=true" in errors[0]
    assert "errored" not in proc.stderr
    manifest = json.loads((run / store.RUN_JSON).read_text())
    assert manifest["status"] == "partial"
    assert manifest["reason"].startswith("write failed: cannot write")
    records = store.read_records(run / store.EPISODES)
    ends = [r for r in records if r["type"] == "episode_end"]
    assert 0 < len(ends) < 60 and all(r["reason"] != "errored" for r in ends)
    assert manifest["episodes_finished"] == len(ends)
    ok("run", "episodes=60", *COMMON, f"hydra.run.dir={run}", "resume=true", cwd=tmp_path)
    finished = store.finished_episodes(store.read_records(run / store.EPISODES), rerun=frozenset())
    assert finished == set(range(60))


@pytest.mark.parametrize(
    ("damage", "expected"),
    [
        ("duplicate", "again"),
        ("extra_end", "ends twice"),
        ("episode_id", "out of order"),
        ("order", "out of order"),
    ],
)
def test_log_problems_finds_each_kind_of_valid_json_damage(damage, expected):
    def step(episode: int, number: int) -> dict:
        return {"type": "step", "episode": episode, "step": number}

    def end(episode: int, steps: int) -> dict:
        return {"type": "episode_end", "episode": episode, "steps": steps, "seed": 10 + episode}

    records = [step(0, 0), step(1, 0), step(0, 1), step(1, 1), end(0, 2), step(1, 2), end(1, 3)]
    assert store.log_problems(list(enumerate(records, 1)), seed=10) == []
    if damage == "duplicate":
        records.insert(3, records[2])
    elif damage == "extra_end":
        records.append(end(1, 3))
    elif damage == "episode_id":
        records[5] = step(0, 2)  # episode 1's step 2, relabelled: after episode 0's end
        expected = "after its episode_end"
    else:
        records[2], records[0] = records[0], records[2]
    problems = store.log_problems(list(enumerate(records, 1)), seed=10)
    assert problems and expected in problems[0], problems


def test_the_sweep_budget_ledger_is_written_like_every_other_file(tmp_path):
    """One atomic writer: the ledger gets the mode open() gives (it was mkstemp's private 0600)
    and no secret reaches it."""
    from sandbox import secrets
    from sandbox.budget import LEDGER, Budget

    secret = "sk-ant-ledger-test-0123456789abcdef"
    secrets.register(secret)
    budget = Budget(1.0, ledger=tmp_path / LEDGER, run=f"job {secret}")
    budget.settle(budget.reserve(0.01), 0.005)
    ledger = tmp_path / LEDGER
    umask = os.umask(0o022)
    os.umask(umask)
    assert ledger.stat().st_mode & 0o777 == 0o666 & ~umask
    assert secret not in ledger.read_text()
    assert not list(tmp_path.glob(".*.tmp"))


def test_a_failed_atomic_write_leaves_the_old_file_and_says_so_in_one_line(tmp_path):
    path = tmp_path / "metrics.json"
    path.write_text("old\n")
    limit = resource.getrlimit(resource.RLIMIT_FSIZE)
    previous = signal.signal(signal.SIGXFSZ, signal.SIG_IGN)
    resource.setrlimit(resource.RLIMIT_FSIZE, (100, limit[1]))
    try:
        with pytest.raises(store.RunWriteError) as caught:
            store.write_atomic(path, "x" * 1000)
    finally:
        resource.setrlimit(resource.RLIMIT_FSIZE, limit)
        signal.signal(signal.SIGXFSZ, previous)
    assert path.read_text() == "old\n"
    assert not list(tmp_path.glob(".*.tmp"))
    assert "\n" not in str(caught.value) and "Fix:" in str(caught.value)
