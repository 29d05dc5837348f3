"""Which bank item episode ``i`` of a run gets: a stratified permutation, cycled.

Drawing an item per episode with replacement leaves most of a large bank unseen (64 episodes
of BailBench's 1,630 rows see about 63 distinct rows, and a 10-row category none at all in two
runs of three). Instead, a run walks one permutation of the bank, fixed by the run's seed:
episode ``i`` gets item ``order[i mod N]``, so ``N`` episodes cover the ``N`` items once each,
and more episodes cycle through the same order again.

The permutation is *stratified by category*: every prefix of it holds each category in
proportion to its size, within one item. Position ``k`` (1-based) goes to the category
furthest below its quota ``k n_c / N`` (the largest ``k n_c / N - taken_c``; ties broken by a
random ranking of the categories), and within a category the items come in a random order.
So a run of ``k`` episodes holds, of a category of ``n_c`` items, ``k n_c / N`` rounded up or
down (measured on BailBench: never more than 0.98 from it), however small ``k`` is.

Everything is a function of ``(run_seed, episode index)``: the same run replays the same items
whichever worker plays which episode, and in whatever order.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np

__all__ = ["DRAW_STREAM", "draw_options", "stratified_order"]

#: Mixed into the run seed, so that the order is a stream of its own (not the episodes' seeds).
DRAW_STREAM = 0x5CE7A810


def stratified_order(categories: Sequence[str], run_seed: int) -> list[int]:
    """A permutation of ``range(len(categories))``, stratified by category (module docstring).

    Args:
        categories: Each item's category, in bank order.
        run_seed: The run's seed (a non-negative integer).

    Returns:
        Item indices in the order a run's episodes get them.
    """
    rng = np.random.default_rng([DRAW_STREAM, run_seed])
    members: dict[str, list[int]] = {}
    for index, category in enumerate(categories):
        members.setdefault(category, []).append(index)
    names = sorted(members)
    queues = [[members[c][i] for i in rng.permutation(len(members[c]))] for c in names]
    sizes = np.array([len(q) for q in queues], dtype=np.int64)
    taken = np.zeros(len(names), dtype=np.int64)
    rank = rng.permutation(len(names)).astype(np.int64)  # the tie-break
    total, width = int(sizes.sum()), len(names) + 1
    order: list[int] = []
    for k in range(1, total + 1):
        # The deficit k n_c / N - taken_c, times N to stay in integers (exact ties).
        key = (k * sizes - total * taken) * width + rank
        key[taken >= sizes] = np.iinfo(np.int64).min
        pick = int(np.argmax(key))
        order.append(queues[pick][taken[pick]])
        taken[pick] += 1
    return order


def draw_options(options: Mapping[str, Any] | None) -> tuple[int, int] | None:
    """``(run_seed, episode)`` from ``reset``'s ``options``, or ``None`` when it has neither.

    A runner that knows where an episode sits in its run passes
    ``options={"run_seed": seed, "episode": index}``; without them an environment draws its item
    from the episode's own seed, with replacement.

    Raises:
        ValueError: One is given without the other, or either is not a non-negative integer.
    """
    if not options:
        return None
    run_seed, episode = options.get("run_seed"), options.get("episode")
    if run_seed is None and episode is None:
        return None
    for name, value in (("run_seed", run_seed), ("episode", episode)):
        if not isinstance(value, int | np.integer) or isinstance(value, bool) or value < 0:
            raise ValueError(
                f"reset options: expected 'run_seed' and 'episode' as non-negative integers "
                f"together, got {name}={value!r}; pass options={{'run_seed': seed, "
                f"'episode': index}} or neither"
            )
    assert run_seed is not None and episode is not None
    return int(run_seed), int(episode)
