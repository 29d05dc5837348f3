"""Every registered WelfareSandbox environment passes gymnasium's checker and replays exactly."""

from __future__ import annotations

import importlib
import warnings
from typing import Any

import gymnasium
import numpy as np
import pytest
from gymnasium.utils.env_checker import check_env, data_equivalence

import environments
from environments.core import Action, ActionKind, kinds_of

ENV_IDS = sorted(k for k in gymnasium.registry if k.startswith("WelfareSandbox/"))


def test_importing_registers_the_contract_ids_once() -> None:
    assert "WelfareSandbox/TaskChoice-v0" in ENV_IDS
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # a double registration would warn
        importlib.reload(environments)
    assert sorted(k for k in gymnasium.registry if k.startswith("WelfareSandbox/")) == ENV_IDS
    for env_id in ENV_IDS:
        spec = gymnasium.spec(env_id)
        assert spec.max_episode_steps is None  # each environment ends its own day
        assert isinstance(spec.entry_point, str) and spec.entry_point.startswith("environments.")


@pytest.mark.parametrize("env_id", ENV_IDS)
def test_check_env_passes_without_warnings(env_id: str) -> None:
    env = gymnasium.make(env_id)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        check_env(env.unwrapped)
    env.close()


def _sampled(env: gymnasium.Env[Any, Any], seed: int, n: int) -> list[Any]:
    env.action_space.seed(seed)
    return [env.action_space.sample() for _ in range(n)]


def _every_kind() -> list[Action]:
    """A scripted sequence that tries every kind with a few targets, valid or not."""
    return [
        Action(kind, target, f"{kind.name.lower()} {target}")
        for target in (0, 1, 4)
        for kind in ActionKind
    ]


def _rollout(env_id: str, seed: int, actions: list[Any] | None, steps: int) -> list[Any]:
    """Observations, rewards, flags and infos of two episodes (a seeded reset, then an unseeded)."""
    env = gymnasium.make(env_id).unwrapped
    policy = np.random.default_rng(seed)  # for the mask-driven policy when no actions are given
    trace: list[Any] = []
    obs, info = env.reset(seed=seed)
    trace.append((obs, info))
    for i in range(steps):
        if actions is not None:
            action = actions[i % len(actions)]
        else:
            kinds = kinds_of(obs["action_mask"]) or [ActionKind.WAIT]
            kind = kinds[int(policy.integers(len(kinds)))]
            action = Action(kind, int(policy.integers(0, 8)), "an answer: 42")
        obs, reward, terminated, truncated, info = env.step(action)
        trace.append((obs, reward, terminated, truncated, info))
        if terminated or truncated:
            obs, info = env.reset()
            trace.append((obs, info))
    env.close()
    return trace


@pytest.mark.parametrize("env_id", ENV_IDS)
@pytest.mark.parametrize("source", ["sampled", "every_kind", "mask_policy"])
def test_same_seed_and_actions_replay_identically(env_id: str, source: str) -> None:
    steps = 150
    for seed in (0, 7):
        first_actions: list[Any] | None
        second_actions: list[Any] | None
        if source == "sampled":
            env = gymnasium.make(env_id)
            first_actions = _sampled(env, seed, steps)
            second_actions = _sampled(env, seed, steps)
            env.close()
        elif source == "every_kind":
            first_actions = second_actions = _every_kind()
        else:
            first_actions = second_actions = None
        first = _rollout(env_id, seed, first_actions, steps)
        second = _rollout(env_id, seed, second_actions, steps)
        assert len(first) == len(second)
        for a, b in zip(first, second, strict=True):
            assert data_equivalence(a, b, exact=True), (a, b)
        # and the seed matters
        assert not data_equivalence(_rollout(env_id, seed + 1, first_actions, steps), first)
