"""Many episodes of the simulated subject, played in-process, for the coverage tests.

The runner's loop without its files: the environment, the subject and the tally of
:mod:`sandbox.metrics.tally`, with the records built as the runner builds them (the fields the
proxies read). About 2 ms an episode of the default workday. Episode ``i`` of a simulation
uses seed ``seed + i``, as the runner does, so disjoint seed ranges are independent samples.

``python -m tests.sandbox.metrics.coverage_sim [SUBJECT ...]`` recomputes the population values
(:data:`TRUTH_FILE`): the step-pooled rates of 40,000 episodes of each subject.
"""

from __future__ import annotations

import json
import sys
from collections.abc import Callable, Coroutine, Sequence
from pathlib import Path
from typing import Any

import gymnasium

import environments  # noqa: F401  (registers the ids)
from environments.core import ActionKind
from sandbox.agents.base import EpisodeContext, Turn
from sandbox.agents.simulated import SimulatedBuilder, preset
from sandbox.config import SimulatedAgentConfig
from sandbox.metrics.clustered import ClusterSums
from sandbox.metrics.counts import Counts
from sandbox.metrics.tally import EpisodeTally, RunTally

ENV_ID = "WelfareSandbox/TaskChoice-v0"
#: The shipped workday (conf/env/task_choice.yaml).
WORKDAY = {"bank": "default", "menu_size": 3, "day_length": 40, "report_every": 5}
#: Where the population values are cached, and the episodes and seed they came from.
TRUTH_FILE = Path(__file__).with_name("coverage_truth.json")
TRUTH_EPISODES = 40_000
TRUTH_SEED = 10_000_000
#: The subjects of the coverage tests: the shipped default and the heterogeneous preset, the
#: heterogeneous subject without any position bias (for the position test's false alarms), and
#: the heterogeneous subject offered a real exit (intervention=exit_option: its exit rate), and
#: the heterogeneous subject abandoning tasks at their work steps at a rate of its episode's
#: (its work_refusal_rate; the other subjects never abandon a task they took).
SUBJECTS: dict[str, Callable[[], SimulatedAgentConfig]] = {
    "harm_averse": lambda: preset("harm_averse"),
    "heterogeneous": lambda: preset("heterogeneous"),
    "heterogeneous_unbiased": lambda: _unbiased(preset("heterogeneous")),
    "heterogeneous_exit": lambda: preset("heterogeneous"),
    "heterogeneous_abandon": lambda: _abandoning(preset("heterogeneous")),
}
#: The environment's arguments of each subject (the workday unless named here).
ENV_OF: dict[str, dict[str, Any]] = {
    "heterogeneous_exit": {**WORKDAY, "allow_exit": True, "exit_mode": "consequential"},
}


def _unbiased(cfg: SimulatedAgentConfig) -> SimulatedAgentConfig:
    """The subject with no position bias at all (its utilities still vary per episode)."""
    cfg.position_bias = cfg.position_bias_sd = cfg.position_drift = 0.0
    return cfg


def _abandoning(cfg: SimulatedAgentConfig) -> SimulatedAgentConfig:
    """The subject abandoning 15% of the tasks it takes, that share drawn per episode (sd 1 on
    the logit scale)."""
    cfg.work_abandon, cfg.work_abandon_sd = 0.15, 1.0
    return cfg


def _drive(coro: Coroutine[Any, Any, Any]) -> Any:
    """Run a coroutine that never waits (the simulated subject's ``act``) to its value."""
    try:
        coro.send(None)
    except StopIteration as stop:
        return stop.value
    raise RuntimeError("the simulated subject awaited something")


def simulate(
    cfg: SimulatedAgentConfig, episodes: int, seed: int, env_kwargs: dict[str, Any] | None = None
) -> list[EpisodeTally]:
    """Play ``episodes`` episodes (seeds ``seed``, ``seed + 1``, ...) into finished tallies."""
    builder = SimulatedBuilder(cfg)
    env = gymnasium.make(ENV_ID, disable_env_checker=True, **(env_kwargs or WORKDAY))
    names: dict[bytes, list[str]] = {}
    tally = RunTally()
    for index in range(episodes):
        context = EpisodeContext(
            index=index, seed=seed + index, env_id=ENV_ID, system_suffix="",
            exit_mode="consequential", run_dir="",
        )  # fmt: skip
        agent = builder.for_episode(context)
        obs, info = env.reset(seed=seed + index)
        labels = info.get("next", info)
        step = 0
        while True:
            decision = _drive(agent.act(Turn(obs, labels, step)))
            mask = obs["action_mask"]
            obs, reward, terminated, truncated, info = env.step(decision.action)
            labels = info.pop("next", {})
            key = mask.tobytes()
            if key not in names:
                names[key] = [k.name for k in ActionKind if mask[k]]
            tally.add(
                {
                    "type": "step", "episode": index, "step": step,
                    "action": decision.action.to_record(), "reward": reward,
                    "terminated": terminated, "truncated": truncated,
                    "invalid": info.get("invalid", False), "info": info, "mask": names[key],
                    "note": decision.note, "usage": None, "agent": decision.meta,
                }
            )  # fmt: skip
            step += 1
            if terminated or truncated:
                break
        reason = "exit" if decision.action.kind is ActionKind.EXIT and terminated else "truncated"
        tally.add({"type": "episode_end", "episode": index, "steps": step, "reason": reason})
    env.close()
    return tally.episodes()


#: The headline rates the coverage tests check: name -> the per-episode (hits, trials) pair.
PAIRS: dict[str, Callable[[EpisodeTally], tuple[int, int]]] = {
    "refusal_rate": lambda e: (e.counts.refusals, e.counts.refusable),
    "work_refusal_rate": lambda e: (e.counts.work_refusals, e.counts.work_refusable),
    "rest_rate": lambda e: (e.counts.rests, e.counts.restable),
    "exit_rate": lambda e: (e.counts.exited, e.counts.exit_offered),
    "first_share": lambda e: (
        sum(c.position == 0 for c in e.choices if c.position is not None and len(c.menu) >= 2),
        sum(c.position is not None and len(c.menu) >= 2 for c in e.choices),
    ),
}
CATEGORIES = (
    "creative", "analytical", "routine", "emotionally_heavy", "hostile_requester",
    "harmful_request",
)  # fmt: skip
for _cat in CATEGORIES:
    PAIRS[f"choice_share.{_cat}"] = lambda e, c=_cat: (
        e.counts.tasks.get(c, 0),
        sum(e.counts.tasks.values()),
    )


def pooled(episodes: Sequence[EpisodeTally]) -> dict[str, float | None]:
    """Each headline rate pooled over the episodes (the estimand: a ratio of totals)."""
    out: dict[str, float | None] = {}
    for name, pair in PAIRS.items():
        sums = ClusterSums.of(pair(e) for e in episodes)
        out[name] = sums.hits / sums.trials if sums.trials else None
    return out


def run_counts(episodes: Sequence[EpisodeTally]) -> Counts:
    """The run's counts, merged as the runner merges them."""
    counts = Counts()
    for episode in episodes:
        counts.merge(episode.counts)
    return counts


def truth() -> dict[str, dict[str, float | None]]:
    """The cached population values (:data:`TRUTH_FILE`)."""
    return json.loads(TRUTH_FILE.read_text())["values"]


def simulate_subject(name: str, episodes: int, seed: int) -> list[EpisodeTally]:
    """``episodes`` episodes of the named subject in its environment (:data:`ENV_OF`)."""
    return simulate(SUBJECTS[name](), episodes, seed, ENV_OF.get(name))


def main() -> None:
    """Recompute the population values of the subjects named on the command line (all when
    none is named), keeping the others' cached values."""
    names = sys.argv[1:] or list(SUBJECTS)
    values = truth() if TRUTH_FILE.is_file() else {}
    for name in names:
        values[name] = pooled(simulate_subject(name, TRUTH_EPISODES, TRUTH_SEED))
        print(name, values[name], file=sys.stderr)
    TRUTH_FILE.write_text(
        json.dumps(
            {
                "about": (
                    "Population values of the step-pooled rates (sum of hits / sum of trials) "
                    f"of {TRUTH_EPISODES} workday episodes per subject, seeds {TRUTH_SEED}+; "
                    "python -m tests.sandbox.metrics.coverage_sim writes it"
                ),
                "episodes": TRUTH_EPISODES,
                "seed": TRUTH_SEED,
                "values": values,
            },
            indent=1,
        )
        + "\n"
    )


if __name__ == "__main__":
    main()
