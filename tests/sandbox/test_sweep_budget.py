"""``budget_usd`` bounds a whole sweep: jobs in parallel processes share one flock'd ledger."""

from __future__ import annotations

import json
import multiprocessing
import os
import socket
import subprocess
import sys
from pathlib import Path

import pytest

from sandbox import store
from sandbox.budget import LEDGER, MULTIRUN_YAML, Budget, find_sweep_dir, read_ledger
from sandbox.errors import BudgetExceeded
from tests.conftest import wsb

KEY = "sk-ant-test-SWEEP-BUDGET-0001"


def _sweep(sweep_dir: Path, url: str, *extra: str) -> subprocess.CompletedProcess[str]:
    env = {"ANTHROPIC_API_KEY": KEY, "ANTHROPIC_BASE_URL": url}
    args = [
        "run",
        "-m",
        "agent=claude",
        "intervention=none,exit_option",
        "hydra/launcher=joblib",
        "hydra.launcher.n_jobs=2",
        "agent.cache=off",
        "agent.prompt_caching=false",  # costs independent of which request came first
        "agent.max_tokens=256",
        "max_concurrency=1",
        "episodes=4",
        "env.kwargs.day_length=6",
        "display=none",
        f"hydra.sweep.dir={sweep_dir}",
        *extra,
    ]
    # A process of its own: the key is in its environment from its start.
    return wsb(*args, cwd=sweep_dir.parent, env=env, process=True)


def _jobs(sweep_dir: Path) -> list[dict]:
    return [
        json.loads((job / store.RUN_JSON).read_text())
        for job in sorted(sweep_dir.iterdir())
        if store.is_run_dir(job)
    ]


@pytest.mark.slow  # two Claude sweeps under joblib; the ledger across processes is tested below
def test_a_sweeps_parallel_jobs_together_never_spend_past_budget_usd(make_fake_api, tmp_path):
    full = _sweep(tmp_path / "full", make_fake_api())
    assert full.returncode == 0, full.stderr
    costs = [job["spent_usd"] for job in _jobs(tmp_path / "full")]
    total = sum(costs)
    assert len(costs) == 2 and min(costs) > 0
    # Either job alone fits in the limit with room to spare; the two together do not.
    limit = max(costs) + 0.75 * (total - max(costs))

    limited = _sweep(tmp_path / "limited", make_fake_api(), f"budget_usd={limit:.6f}")
    jobs = _jobs(tmp_path / "limited")
    assert len(jobs) == 2
    spent = [job["spent_usd"] for job in jobs]
    assert sum(spent) <= limit
    ledger = read_ledger(tmp_path / "limited" / LEDGER)
    assert ledger["spent_usd"] == pytest.approx(sum(spent), abs=1e-6)
    assert ledger["spent_usd"] <= limit
    assert ledger["reserved_usd"] == 0 and ledger["holders"] == {}
    assert ledger["limit_usd"] == pytest.approx(limit, abs=1e-6)
    assert sorted(ledger["runs"]) == sorted(p.name for p in (tmp_path / "limited").glob("[0-9]*"))
    partial = [job for job in jobs if job["status"] == "partial"]
    assert partial and all(job["reason"] == "budget_usd reached" for job in partial)
    assert limited.returncode != 0 or partial  # a partial job is reported, not hidden
    summary = json.loads((tmp_path / "limited" / "summary.json").read_text())
    assert summary["budget"]["spent_usd"] == pytest.approx(ledger["spent_usd"])
    ends = [
        r["reason"]
        for job in (tmp_path / "limited").glob("[0-9]*")
        for r in store.read_records(job / store.EPISODES)
        if r["type"] == "episode_end"
    ]
    assert "budget" in ends


def test_a_run_finds_its_sweep_and_a_single_run_has_no_ledger(tmp_path):
    sweep = tmp_path / "sweep"
    nested = sweep / "0-env.kwargs.bank=" / "data" / "tasks.yaml"
    nested.mkdir(parents=True)
    (sweep / MULTIRUN_YAML).write_text("hydra: {}\n")
    assert find_sweep_dir(nested) == sweep.resolve()
    budget = Budget.for_run(1.0, nested)
    assert budget.ledger == sweep.resolve() / LEDGER
    assert budget.run == "0-env.kwargs.bank=/data/tasks.yaml"
    single = Budget.for_run(1.0, tmp_path / "run")
    assert single.ledger is None
    single.reserve(0.4)
    single.settle(0.4, 0.3)
    assert single.spent_usd == pytest.approx(0.3) and single.remaining_usd == pytest.approx(0.7)
    assert not (tmp_path / LEDGER).exists()


def _hammer(ledger: str, limit: float, calls: int, queue: multiprocessing.Queue) -> None:
    budget = Budget(limit, ledger=Path(ledger), run=f"job-{os.getpid()}")
    refused = 0
    for _ in range(calls):
        try:
            reserved = budget.reserve(0.01)
        except BudgetExceeded:
            refused += 1
            continue
        budget.settle(reserved, 0.006)
    queue.put((budget.spent_usd, refused))


def test_concurrent_processes_lose_no_update_and_stop_at_the_limit(tmp_path):
    ledger = tmp_path / LEDGER
    ctx = multiprocessing.get_context("fork")
    queue: multiprocessing.Queue = ctx.Queue()
    procs = [ctx.Process(target=_hammer, args=(str(ledger), 1.0, 80, queue)) for _ in range(4)]
    for proc in procs:
        proc.start()
    results = [queue.get(timeout=60) for _ in procs]
    for proc in procs:
        proc.join(timeout=60)
    state = read_ledger(ledger)
    spent = sum(s for s, _ in results)
    assert state["spent_usd"] == pytest.approx(spent)  # every settlement counted once
    assert spent <= 1.0  # never past the limit, whatever the interleaving
    assert spent > 1.0 - 0.05  # and stopped only near it (the others held up to 0.03)
    assert sum(refused for _, refused in results) > 0
    assert state["reserved_usd"] == 0 and state["holders"] == {}
    assert sum(state["runs"].values()) == pytest.approx(spent)


def test_a_killed_jobs_reservation_is_released(tmp_path):
    ledger = tmp_path / LEDGER
    dead = subprocess.Popen([sys.executable, "-c", "pass"])
    dead.wait()
    stale = {
        "spent_usd": 0.5,
        "holders": {
            "gone": {
                "reserved_usd": 0.45,
                "pid": dead.pid,
                "host": socket.gethostname(),
                "updated": 0.0 + 1e12,  # recent: only the dead process gives it away
            }
        },
    }
    ledger.write_text(json.dumps(stale))
    budget = Budget(1.0, ledger=ledger, run="next")
    budget.reserve(0.4)  # 0.5 spent + 0.45 held by the dead job + 0.4 would pass 1.0
    state = read_ledger(ledger)
    assert set(state["holders"]) == {budget._holder}
    assert state["reserved_usd"] == pytest.approx(0.4)


def test_a_damaged_ledger_stops_spending_with_a_clear_message(tmp_path):
    ledger = tmp_path / LEDGER
    ledger.write_text("{not json")
    budget = Budget(1.0, ledger=ledger)
    with pytest.raises(BudgetExceeded, match=r"ledger .* is damaged"):
        budget.reserve(0.1)
    assert budget.reserved_usd == 0
