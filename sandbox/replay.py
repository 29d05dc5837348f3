"""Reading a logged episode back and rebuilding its observations (for ``wsb replay``).

The log holds each step's action, note and researcher-only labels but not the observation the
subject read. Environments are deterministic given their seed and the actions (DESIGN.md,
principle 1), so the replay rebuilds the observations by playing the logged actions again in
the environment named by ``run.json``, and checks each step's outcome against the log. Where
that is not possible (the environment or its arguments changed, the log was from another
version) the replay says so and shows the steps from the log alone, menus as task ids.

Showing it (``wsb replay``) is :mod:`sandbox.display.replay_view`, beside ``wsb watch``'s views.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from sandbox import seeds, store
from sandbox.display.events import StepEvent, log_only
from sandbox.display.safe import clean_labels
from sandbox.errors import RunDirError
from sandbox.watch import as_dict

log = logging.getLogger(__name__)

#: Info keys compared between the log and the re-played environment, when the log has them.
_CHECKED = ("outcome", "position", "phase", "day_step", "earned", "rating")


@dataclass
class LoggedEpisode:
    """One episode read back from a run directory.

    Attributes:
        index: The episode's index in the run.
        steps: Its step records (the last attempt, in step order).
        end: Its ``episode_end`` record, or ``None`` when it did not finish.
        manifest: The run's ``run.json``.
        events: One view event per step (observation text and menu before the step).
        rebuilt: How many steps have their observation rebuilt by the environment.
        note: Why observations could not be rebuilt (from a step on), if so.
    """

    index: int
    steps: list[dict[str, Any]]
    end: dict[str, Any] | None
    manifest: dict[str, Any]
    events: list[StepEvent] = field(default_factory=list)
    rebuilt: int = 0
    note: str | None = None


def load_episode(run_dir: Path, episode: int | None = None) -> LoggedEpisode:
    """Read one episode of a run (default: the first logged) and rebuild what its subject saw.

    Raises:
        RunDirError: Not a run directory, or no such episode in its log.
    """
    loaded = store.load_run(Path(run_dir))
    by_episode: dict[int, list[dict[str, Any]]] = {}
    ends: dict[int, dict[str, Any]] = {}
    for record in loaded.records:
        index = record.get("episode")
        if not isinstance(index, int):
            continue
        if record.get("type") == "step":
            steps = by_episode.setdefault(index, [])
            number = record.get("step")
            if steps and isinstance(number, int) and number <= int(steps[-1].get("step", -1)):
                steps.clear()  # a resumed run played this episode again from the start
            steps.append(record)
        elif record.get("type") == "episode_end":
            ends[index] = record
    logged = sorted(set(by_episode) | set(ends))
    if not logged:
        raise RunDirError(f"{run_dir} has no logged episode yet")
    if episode is None:
        episode = logged[0]
    if episode not in by_episode and episode not in ends:
        raise RunDirError(
            f"episode {episode} is not in {run_dir}'s log; logged episodes: {_ranges(logged)}"
        )
    result = LoggedEpisode(
        index=episode,
        steps=sorted(by_episode.get(episode, []), key=lambda r: int(r.get("step", 0))),
        end=ends.get(episode),
        manifest=loaded.manifest,
    )
    _rebuild(result)
    return result


def _ranges(values: list[int]) -> str:
    parts: list[str] = []
    start = prev = values[0]
    for value in [*values[1:], None]:
        if value is not None and value == prev + 1:
            prev = value
            continue
        parts.append(str(start) if start == prev else f"{start}-{prev}")
        if value is not None:
            start = prev = value
    return ", ".join(parts)


def _rebuild(episode: LoggedEpisode) -> None:
    """Fill ``episode.events``: observations from the environment while it agrees with the log."""
    env, obs = _environment(episode)
    for record in episode.steps:
        info = clean_labels(as_dict(record.get("info")))
        if env is not None and obs is not None:
            text, menu = str(obs.get("text", "")), [str(m) for m in obs.get("menu", ())]
            episode.events.append(StepEvent(record, text, menu, info))
            try:
                obs = _step(env, record)
            except Exception as exc:  # the environment refused the logged action: log only
                env, obs = None, None
                episode.note = f"the environment could not replay step {record.get('step')}: {exc}"
                continue
            if obs is None:
                env = None
                episode.note = (
                    f"the environment's outcome differs from the log at step {record.get('step')}"
                    " (was the environment or its bank changed?); later steps show the log only"
                )
            else:
                episode.rebuilt += 1
            continue
        episode.events.append(log_only(record, info))
    if env is not None:
        env.close()


def _environment(episode: LoggedEpisode) -> tuple[Any, dict[str, Any] | None]:
    """The run's environment reset to the episode's seed, and its first observation."""
    manifest = episode.manifest
    env_cfg = manifest.get("env") or {}
    base = manifest.get("seed")
    try:
        scheme = seeds.scheme_of(manifest)
        seed = (episode.end or {}).get("seed")
        if not isinstance(seed, int) and isinstance(base, int):
            seed = seeds.episode_seed(base, episode.index, scheme)
        options = (
            seeds.reset_options(base, episode.index, scheme) if isinstance(base, int) else None
        )
    except ValueError as exc:  # a negative seed, or a scheme this version does not know
        episode.note = f"cannot rebuild the episode's seed ({exc}); showing the log only"
        return None, None
    if not isinstance(env_cfg.get("id"), str) or seed is None:
        episode.note = "run.json does not name the environment and seed; showing the log only"
        return None, None
    try:
        import gymnasium

        import environments  # noqa: F401  (registers the ids)

        env = gymnasium.make(
            env_cfg["id"], disable_env_checker=True, **(env_cfg.get("kwargs") or {})
        )
        obs, _ = env.reset(seed=seed, options=options)
    except Exception as exc:
        episode.note = f"cannot rebuild {env_cfg['id']} ({exc}); showing the log only"
        return None, None
    return env, obs


def _step(env: Any, record: dict[str, Any]) -> dict[str, Any] | None:
    """Play one logged action; the next observation, or ``None`` if the outcome differs."""
    from environments.core import Action, ActionKind

    action = record.get("action") or {}
    kind = ActionKind[str(action.get("kind"))]
    obs, reward, _terminated, _truncated, info = env.step(
        Action(kind, int(action.get("target") or 0), str(action.get("text") or ""))
    )
    logged = as_dict(record.get("info"))
    for key in _CHECKED:
        if key in logged and logged[key] != info.get(key):
            return None
    for key in ("menu", "chosen"):  # the same options, by id (labels carry an id where they can)
        if key in logged and _ids(logged[key]) != _ids(info.get(key)):
            return None
    if isinstance(record.get("reward"), int | float) and float(reward) != float(record["reward"]):
        return None
    return dict(obs)


def _ids(labels: Any) -> Any:
    if isinstance(labels, dict):
        return labels.get("id")
    if isinstance(labels, list):
        return [_ids(label) for label in labels]
    return labels
