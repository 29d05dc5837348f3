"""Episode seeds: which seed episode ``i`` of a run with seed ``s`` is reset with.

The episode is the unit of replication, so no two episodes of a study may share a seed, even
across runs: a seed sweep ``seed=0,1,2`` must give three independent sets of episodes. The old
rule, episode ``i`` uses ``s + i``, broke that (runs ``seed=0`` and ``seed=1`` of 50 episodes
shared 49 of them, and gave the same refusal rate to the last digit).

Schemes, recorded in ``run.json`` as ``seed_scheme``:

* ``spawn-v1`` (:data:`SPAWN_V1`, :data:`CURRENT`): episode ``i`` is numpy's
  ``SeedSequence(s).spawn(n)[i]`` (the same child, built directly as
  ``SeedSequence(s, spawn_key=(i,))``, so the cost does not grow with ``i``: about 10 µs), its
  first 64 bits of state shifted to a 63-bit integer. Two episodes share a seed only by a hash
  collision (probability about ``n² / 2⁶⁴`` for ``n`` episodes in all).
* ``seed+index`` (:data:`LEGACY`): ``s + i``. A ``run.json`` without ``seed_scheme`` was
  written under it; resuming such a run keeps it, so its finished episodes stay valid.

Agents derive their own random streams from the episode seed, and the response cache keys
answers by it (:func:`sandbox.llm.cache.request_key`).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import numpy as np

#: Episode ``i`` is child ``i`` of ``SeedSequence(seed).spawn``.
SPAWN_V1 = "spawn-v1"
#: The scheme new runs use.
CURRENT = SPAWN_V1
#: The scheme of a manifest that names none (written before ``seed_scheme`` existed).
LEGACY = "seed+index"
#: Every scheme this version can reproduce.
KNOWN = (SPAWN_V1, LEGACY)


class UnknownSeedScheme(ValueError):
    """A ``run.json`` names a seed scheme this version does not know."""


def episode_seed(run_seed: int, index: int, scheme: str = CURRENT) -> int:
    """The seed episode ``index`` of a run seeded ``run_seed`` is reset with.

    Args:
        run_seed: The run's ``seed`` (a non-negative integer).
        index: The episode's index in the run (0, 1, ...).
        scheme: One of :data:`KNOWN`.

    Returns:
        A non-negative integer below ``2**63``.

    Raises:
        ValueError: A negative seed or index.
        UnknownSeedScheme: ``scheme`` is not one of :data:`KNOWN`.
    """
    if run_seed < 0 or index < 0:
        raise ValueError(
            f"seeds and episode indices must be non-negative, got seed={run_seed} and "
            f"episode {index}; use e.g. seed=0"
        )
    if scheme == SPAWN_V1:
        state = np.random.SeedSequence(run_seed, spawn_key=(index,)).generate_state(1, np.uint64)
        return int(state[0]) >> 1
    if scheme == LEGACY:
        return run_seed + index
    raise UnknownSeedScheme(
        f"seed scheme {scheme!r} is not one this version knows ({', '.join(KNOWN)}); "
        "upgrade welfare-sandbox to read or resume this run"
    )


def scheme_of(manifest: Mapping[str, Any]) -> str:
    """The seed scheme a ``run.json`` was written under (:data:`LEGACY` when it names none)."""
    scheme = manifest.get("seed_scheme")
    return scheme if isinstance(scheme, str) else LEGACY


def reset_options(run_seed: int, index: int, scheme: str = CURRENT) -> dict[str, int] | None:
    """The ``options`` episode ``index`` resets its environment with, beside its seed.

    Under :data:`SPAWN_V1` the environment learns the run's seed and the episode's index
    (``{"run_seed": s, "episode": i}``), so an environment with a bank of items can play item
    ``i`` of one per-run permutation, drawing without replacement (``environments/draws.py``).
    Under :data:`LEGACY` there are none: a run written before draws without replacement keeps
    drawing its items from each episode's seed when resumed, as its finished episodes did.
    """
    return {"run_seed": run_seed, "episode": index} if scheme != LEGACY else None
