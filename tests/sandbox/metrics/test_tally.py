"""The run's tally: fed one record at a time, in any order across episodes, mergeable; the
runner's metrics.json comes from it without reading the log again."""

from __future__ import annotations

import json
import random
from pathlib import Path

import pytest

from sandbox import runner, store
from sandbox.display.base import NullDisplay
from sandbox.metrics import compute_metrics
from sandbox.metrics.compute import metrics_of
from sandbox.metrics.tally import RunTally


class Silent(NullDisplay):
    def run_ended(self, status, metrics):  # type: ignore[no-untyped-def]
        return None


def usage(cost: float) -> dict:
    return {"input_tokens": 7, "cache_read_input_tokens": 5, "cost_usd": cost, "calls": 1}


def episode(index: int, cost: float) -> list[dict]:
    """A short decision episode with a priced call on every step."""
    steps = [
        {
            "type": "step",
            "episode": index,
            "step": i,
            "action": {"kind": kind, "target": 0, "text": ""},
            "invalid": False,
            "mask": ["TASK", "REST", "REFUSE", "EXIT"],
            "info": {"menu": [{"category": "a"}, {"category": "b"}], "position": 0},
            "usage": usage(cost),
        }
        for i, kind in enumerate(["TASK", "REFUSE", "REST", "EXIT"][: 2 + index % 3])
    ]
    end = {"type": "episode_end", "episode": index, "reason": "exit", "total_reward": 1.0}
    return [*steps, end]


def test_episodes_ending_out_of_order_give_the_same_figures_to_the_last_digit():
    # Costs whose float sum depends on the order they are added in.
    costs = [0.1, 0.2, 0.3, 1e-17, 0.7, 1e16, -1e16, 0.000123]
    episodes = [episode(i, c) for i, c in enumerate(costs)]
    in_order = [r for e in episodes for r in e]
    shuffled = episodes[:]
    random.Random(3).shuffle(shuffled)
    interleaved: list[dict] = []
    queues = [list(e) for e in shuffled]
    while queues:  # episodes in flight at once, their records interleaved
        for q in list(queues):
            interleaved.append(q.pop(0))
            if not q:
                queues.remove(q)
    a = RunTally().add_all(in_order)
    b = RunTally().add_all(interleaved)
    assert a.counts.cost_usd == b.counts.cost_usd
    assert metrics_of(a) == metrics_of(b)
    assert compute_metrics(interleaved) == compute_metrics(in_order)
    assert b.counts.exit_offered == len(costs)  # exit offers per episode, not per step


def test_merged_tallies_count_what_one_tally_of_both_counts():
    first = [r for i in range(3) for r in episode(i, 0.5)]
    second = [r for i in range(4) for r in episode(i, 0.25)]
    merged = RunTally().add_all(first)
    merged.merge(RunTally().add_all(second))
    shifted = [{**r, "episode": r["episode"] + 3} for r in second]
    whole = RunTally().add_all(first + shifted)
    assert merged.counts.refusal_rate() == whole.counts.refusal_rate()
    assert merged.counts.tokens == whole.counts.tokens == 12 * (9 + 11)  # 12 a step
    assert metrics_of(merged) == metrics_of(whole)


def test_a_step_numbered_again_starts_a_new_attempt_of_its_episode():
    stale = episode(0, 1.0)[:-1]  # an attempt cut off (no episode_end) ...
    rerun = episode(0, 2.0)  # ... and played again from step 0
    tally = RunTally().add_all(stale + rerun)
    assert tally.unfinished == 0
    assert tally.counts.steps == len(rerun) - 1
    assert metrics_of(tally) == compute_metrics(rerun)


def test_finish_computes_metrics_without_reading_the_log_again(compose_cfg, tmp_path, monkeypatch):
    cfg = compose_cfg("episodes=4", "display=none")
    run_dir = tmp_path / "run"

    def no_reading(*args, **kwargs):
        raise AssertionError("finish() read episodes.jsonl again")

    original_finish = runner.Runner.finish

    def finish(self, **kwargs):  # type: ignore[no-untyped-def]
        with pytest.MonkeyPatch.context() as patch:
            patch.setattr(store, "read_records", no_reading)
            patch.setattr(store, "iter_records", no_reading)
            patch.setattr(store, "iter_numbered", no_reading)
            return original_finish(self, **kwargs)

    monkeypatch.setattr(runner.Runner, "finish", finish)
    result = runner.run(cfg, run_dir, Silent())
    assert result.status == "complete"
    from_file = compute_metrics(store.read_records(run_dir / store.EPISODES))
    written = json.loads(Path(run_dir / store.METRICS).read_text())
    written.pop("condition")
    assert written == json.loads(json.dumps({**from_file, "run_status": "running"}))
