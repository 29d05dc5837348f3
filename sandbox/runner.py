"""Runs the episodes of one run and writes its directory.

Read top to bottom, one run is:

1. ``prepare``: take the run directory's lock (one writer per run), check everything before
   writing anything (:func:`check_run_dir`: the environment builds with the condition's
   arguments; a directory that holds a run is continued only with ``resume``, and only with the
   same configuration and the same input files; its log is readable and agrees with itself),
   build the agent, then write ``run.json`` (status ``running``); on ``resume``, keep finished
   episodes and drop the records of unfinished ones (a run already complete is returned as it
   is, so a resumed sweep skips its finished jobs). A refused run leaves the directory as it
   was.
2. ``run_episode`` for each pending episode, at most ``max_concurrency`` at once: reset with
   its own seed (:func:`sandbox.seeds.episode_seed`: runs with different seeds share no
   episode); each step the agent reads the observation and acts, the environment steps, a
   record is appended to ``episodes.jsonl`` and shown; an ``episode_end`` record closes it.
3. ``finish``: write ``metrics.json`` from the records alone (counted as they were written,
   :mod:`sandbox.metrics.tally`) and set the final status.

Ctrl-C, SIGTERM and SIGHUP end a run ``partial`` with the finished episodes kept
(:mod:`sandbox.signals`). A failed write of the run's own files (a full disk) stops the run at
once, ``partial`` with the reason, and is never taken for an agent failure.

The runner never imports rich (the display is behind :class:`sandbox.display.base.Display`) and
never calls a model itself (agents do).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any, cast

import gymnasium

import environments  # noqa: F401  (registers the WelfareSandbox/ ids)
from environments.core import ActionKind
from sandbox import seeds, signals, store
from sandbox.agents.base import Agent, AgentBuilder, Decision, EpisodeContext, Turn
from sandbox.agents.build import build_agent
from sandbox.budget import Budget
from sandbox.config import RunConfig, validate
from sandbox.display.base import Display, RunHeader, StepEvent
from sandbox.errors import BudgetExceeded, ConfigError, RunDirError
from sandbox.llm.cache import CacheError
from sandbox.manifest import RunManifest, agent_label, build_manifest, check_resumable, input_files
from sandbox.metrics.tally import RunTally
from sandbox.records import EpisodeEnd, StepRecord
from sandbox.secrets import redact, scrub_hydra_files

log = logging.getLogger(__name__)

#: End reasons whose episodes a resumed run plays again.
RERUN_REASONS = frozenset({"errored", "budget", "interrupted"})


@dataclass(slots=True)
class RunResult:
    """What a finished run reports back.

    Attributes:
        run_dir: The run directory.
        status: ``complete``, ``partial`` or ``failed``.
        reason: Why the run is not complete, or ``None``.
        metrics: The contents of ``metrics.json``.
    """

    run_dir: Path
    status: str
    reason: str | None
    metrics: dict[str, Any] | None


def run(cfg: RunConfig, run_dir: Path, display: Display) -> RunResult:
    """Run ``cfg`` into ``run_dir``; Ctrl-C ends it ``partial`` with what finished kept.

    Raises:
        RunDirError: The directory is another writer's, or holds a run that this one may not
            continue (nothing is written then).
        store.RunWriteError: A write of the run's files failed; ``run.json`` says so if it can.
        KeyboardInterrupt: Interrupted before the run began (nothing is written then).
    """
    runner = Runner(cfg, Path(run_dir), display)
    try:
        try:
            return asyncio.run(runner.main())
        finally:
            signals.unwatch()  # the handlers of SIGTERM and SIGHUP from before the run
    except (KeyboardInterrupt, asyncio.CancelledError) as exc:
        if isinstance(exc, asyncio.CancelledError) and signals.received is None:
            raise
        if runner.manifest is None:
            raise KeyboardInterrupt from None  # stopped before it began: nothing to keep
        display.stopping(signals.reason())  # at once: finish() may take a while
        return runner.finish(interrupted=True)
    except store.RunWriteError as exc:
        runner.finish_after_write_error(exc)
        raise
    finally:
        store.unlock_run_dir(runner.run_dir)


class Runner:
    """One run: its config, directory, agent, budget and display."""

    def __init__(self, cfg: RunConfig, run_dir: Path, display: Display) -> None:
        self.cfg = validate(cfg)
        if cfg.seed < 0:  # SeedSequence (and gymnasium's reset) take non-negative seeds only
            raise ConfigError(f"seed must be a non-negative integer, got {cfg.seed}; e.g. seed=0")
        self.run_dir = run_dir
        self.display = display
        # In a sweep, the budget is the sweep's: shared by its jobs through <sweep_dir>/budget.json.
        self.budget = Budget.for_run(cfg.budget_usd, run_dir)
        self.env_kwargs = {**cfg.env.kwargs, **cfg.intervention.env_kwargs}
        self.manifest: RunManifest | None = None
        self.writer: store.RecordWriter | None = None
        self.started = time.perf_counter()
        self.stop_reason: str | None = None
        self.errored = 0
        # Environments are reused across episodes (reset with each episode's seed makes them
        # independent): building one per episode costs more than the episode's steps.
        self._envs: list[gymnasium.Env[Any, Any]] = []
        self._mask_names: dict[bytes, list[str]] = {}
        self.builder: AgentBuilder | None = None
        # How episode seeds derive from cfg.seed: a resumed run keeps its manifest's scheme.
        self.seed_scheme = seeds.CURRENT
        # Every record the run's log holds, counted as it is written: finish() has only the
        # run-level fits left to compute, and no record is kept in memory.
        self.tally = RunTally()

    # -- 1. prepare ---------------------------------------------------------------------------
    def prepare(self) -> tuple[AgentBuilder, list[int]]:
        """Check everything, build the agent, then write the manifest; the episodes to run."""
        cfg = self.cfg
        checked = check_run_dir(cfg, self.env_kwargs, self.run_dir)
        builder = build_agent(cfg.agent, budget=self.budget, run_dir=self.run_dir)
        # Everything is checked: from here on this run writes.
        store.lock_run_dir(self.run_dir).claim()
        self.run_dir.mkdir(parents=True, exist_ok=True)
        episodes_path = self.run_dir / store.EPISODES
        done: set[int] = set()
        if cfg.resume:
            store.remove_stale_temp_files(self.run_dir)
        if checked.records is not None:
            done = store.finished_episodes(checked.records, rerun=RERUN_REASONS)
            dropped = store.keep_only(episodes_path, done)
            self.tally.add_all(r for r in checked.records if store.episode_of(r) in done)
            log.info("resume: %d episodes finished, %d stale records dropped", len(done), dropped)
        episode_steps = checked.episode_steps
        previous = checked.previous
        self.manifest = build_manifest(
            cfg, self.env_kwargs, builder, previous=previous, inputs=checked.inputs
        )
        self.seed_scheme = self.manifest.seed_scheme
        self.manifest.write(self.run_dir)
        pending = [i for i in range(cfg.episodes) if i not in done]
        header = RunHeader(
            run_dir=str(self.run_dir),
            experiment=cfg.experiment,
            env_id=cfg.env.id,
            agent=agent_label(cfg.agent),
            condition=cfg.intervention.name,
            episodes=cfg.episodes,
            done=cfg.episodes - len(pending),
        )
        self.display.run_started(header)
        self._announce_cost(builder, pending, episode_steps)
        self.builder = builder
        warnings = getattr(builder, "warnings", None)  # parameters the subject will not read
        for text in warnings(cfg.env.id) if callable(warnings) else []:
            log.info(text)  # in run.log; the display shows it on the terminal
            self.display.message(text)
        return builder, pending

    def _announce_cost(self, builder: AgentBuilder, pending: list[int], steps: int) -> None:
        """Before the first model call: the run's estimated cost and the budget.

        Only builders that can price their calls have ``estimate_cost`` (model agents); the
        estimate is sized from the first pending episode's real first observation.
        """
        estimate_cost = getattr(builder, "estimate_cost", None)
        if estimate_cost is None or not pending:
            return
        env = gymnasium.make(self.cfg.env.id, disable_env_checker=True, **self.env_kwargs)
        observation, _ = env.reset(seed=self.episode_seed(pending[0]))
        self._envs.append(env)  # reused by the first episode (reset again with its own seed)
        estimate = estimate_cost(
            len(pending),
            steps,
            observation=observation,
            exit_mode=str(self.env_kwargs.get("exit_mode", "consequential")),
            system_suffix=self.cfg.intervention.system_suffix,
        )
        budget = f"; budget_usd={self.cfg.budget_usd:g}" if self.cfg.budget_usd else ""
        model = getattr(getattr(builder, "cfg", None), "model", "?")
        if estimate is None:
            text = f"no price known for {model}: cost will be null{budget}"
        else:
            text = (
                f"estimated cost of {len(pending)} episodes of up to {steps} steps: "
                f"${estimate:.4f} (the response cache may make it less){budget}"
            )
        log.info(text)
        self.display.message(text)

    def completed_before(self) -> RunResult | None:
        """On resume, the result of a run this directory already holds complete, else ``None``.

        Complete means: ``run.json`` says so for the same number of episodes, every episode has
        a final ``episode_end``, and ``metrics.json`` is readable. A resumed sweep so skips its
        finished jobs in the time it takes to read their files.
        """
        cfg, run_dir = self.cfg, self.run_dir
        if not cfg.resume or not (run_dir / store.RUN_JSON).is_file():
            return None
        try:
            previous = store.read_json(run_dir / store.RUN_JSON)
        except RunDirError:
            return None  # damaged: prepare() says so
        if previous.get("status") != "complete" or previous.get("episodes") != cfg.episodes:
            return None
        check_resumable(cfg, self.env_kwargs, previous, run_dir)
        try:
            records = store.read_checked_records(
                run_dir / store.EPISODES,
                seed=previous.get("seed"),
                seed_scheme=seeds.scheme_of(previous),
            )
            metrics = store.read_json(run_dir / store.METRICS)
        except RunDirError:
            return None  # something is missing or damaged: prepare() says what
        if store.finished_episodes(records, rerun=RERUN_REASONS) != set(range(cfg.episodes)):
            return None
        text = f"{run_dir}: already complete ({cfg.episodes} episodes); skipped (resume=true)"
        log.info(text)
        self.display.run_started(
            RunHeader(
                run_dir=str(run_dir),
                experiment=cfg.experiment,
                env_id=cfg.env.id,
                agent=agent_label(cfg.agent),
                condition=cfg.intervention.name,
                episodes=cfg.episodes,
                done=cfg.episodes,
            )
        )
        self.display.message(text)
        self.display.run_ended("complete", metrics)
        return RunResult(run_dir, "complete", None, metrics)

    # -- 2. episodes --------------------------------------------------------------------------
    async def main(self) -> RunResult:
        # One writer per run directory, for as long as the run lives (run() lets it go).
        store.lock_run_dir(self.run_dir)
        current = asyncio.current_task()
        if current is not None:  # SIGTERM and SIGHUP cancel the run as Ctrl-C does
            signals.watch_loop(asyncio.get_running_loop(), current)
        # Before anything can fail: Hydra's files are on disk already.
        scrub_hydra_files(self.run_dir)
        skipped = self.completed_before()
        if skipped is not None:
            return skipped
        builder, pending = self.prepare()
        self.writer = store.RecordWriter(self.run_dir / store.EPISODES)
        # max_concurrency workers take the pending episodes in order (one task per worker, not
        # one per episode: a run's memory does not grow with its episodes).
        queue = iter(pending)

        async def worker() -> None:
            for index in queue:
                if self.budget.exhausted:
                    self.stop_reason = "budget"
                    return
                await self.run_episode(builder, index)
                # A simulated subject never waits, so nothing above gives the event loop a turn:
                # without this, Ctrl-C (delivered through the loop) waits for the whole run.
                await asyncio.sleep(0)

        workers = min(self.cfg.max_concurrency, len(pending))
        tasks = [asyncio.ensure_future(worker()) for _ in range(workers)]
        try:
            await asyncio.gather(*tasks)
        except BaseException:
            # One episode stopped the run (a damaged cache): the others stop too, unfinished.
            for task in tasks:
                task.cancel()
            await asyncio.gather(*tasks, return_exceptions=True)
            raise
        finally:
            await builder.aclose()
            for env in self._envs:
                env.close()
        return self.finish()

    async def run_episode(self, builder: AgentBuilder, index: int) -> None:
        """Play episode ``index`` to its end, appending its records as they happen."""
        cfg, writer = self.cfg, self.writer
        assert writer is not None
        seed = self.episode_seed(index)
        # check_environment() ran gymnasium's passive checker on one instance already, and the
        # tests run check_env on every environment; the pool skips that wrapper's per-step call.
        env = (
            self._envs.pop()
            if self._envs
            else gymnasium.make(cfg.env.id, disable_env_checker=True, **self.env_kwargs)
        )
        context = EpisodeContext(
            index=index,
            seed=seed,
            env_id=cfg.env.id,
            system_suffix=cfg.intervention.system_suffix,
            exit_mode=str(self.env_kwargs.get("exit_mode", "consequential")),
            run_dir=str(self.run_dir),
        )
        agent: Agent = builder.for_episode(context)
        obs, info = env.reset(
            seed=seed, options=seeds.reset_options(cfg.seed, index, self.seed_scheme)
        )
        labels: dict[str, Any] = info.get("next", info)
        step, total, reason, error = 0, 0.0, "truncated", None
        usage_total: dict[str, Any] = {}
        show_steps = getattr(self.display, "shows_steps", True)
        # The step loop's own work is a few microseconds a step (a CartPole step is about 8):
        # the bound methods are looked up once, and each record is built once, as a dict.
        act, env_step, write_line, count = agent.act, env.step, writer.write_line, self.tally.add
        try:
            while True:
                decision: Decision = await act(Turn(obs, labels, step))
                action = decision.action
                text, menu, mask = obs["text"], obs["menu"], obs["action_mask"]
                obs, reward, terminated, truncated, info = env_step(action)
                labels = info.pop("next", {})
                total += float(reward)
                record = StepRecord(
                    episode=index,
                    step=step,
                    action=action.to_record(),
                    reward=cast(float, reward),  # written as the environment gave it
                    terminated=terminated,
                    truncated=truncated,
                    # An API refusal or a truncation is not an action, so never an invalid one
                    # (the environment saw a placeholder); sandbox.metrics.rates counts it apart.
                    invalid=info.get("invalid", False)
                    and decision.meta.get("outcome") not in ("api_refusal", "truncated"),
                    info=info,
                    mask=self._names(mask),
                    note=decision.note,
                    usage=_usage(decision, usage_total),
                    agent=decision.meta,
                    t=round(time.perf_counter() - self.started, 4),
                )
                fields = record.as_dict()
                write_line(store.dumps_record(fields))
                count(fields)
                if show_steps:
                    self.display.step(StepEvent(fields, text, list(menu), info))
                step += 1
                if terminated or truncated:
                    # Only a consequential exit ends the episode (a hypothetical one is recorded in
                    # the step and the day goes on). Environments with other ways to leave (a
                    # reserved string, a check-in answer) say so with info["exited"].
                    left = action.kind is ActionKind.EXIT or bool(info.get("exited"))
                    exited = terminated and left and not record.invalid
                    reason = "exit" if exited else "terminated" if terminated else "truncated"
                    break
        except BudgetExceeded as exc:
            reason, error = "budget", str(exc)
            self.stop_reason = "budget"
        except asyncio.CancelledError:
            env.close()
            raise  # interrupted: no episode_end, so a resume plays it again
        except store.RunWriteError:
            env.close()
            raise  # the run's own files cannot be written: the run stops (not the agent's fault)
        except CacheError:
            # A damaged response cache fails every episode alike: stop the run with its one
            # message (no episode_end, so a resume after the fix plays this episode again).
            env.close()
            raise
        except Exception as exc:  # an agent failure ends this episode only; the run goes on
            kind = getattr(exc, "error_type", None)  # a model call's classified failure
            name = f"{type(exc).__name__}[{kind}]" if kind else type(exc).__name__
            reason, error = "errored", redact(f"{name}: {exc}")
            self.errored += 1
            log.warning("episode %d errored: %s", index, error)
        self._envs.append(env)
        await agent.end(reason)
        end = EpisodeEnd(
            episode=index,
            seed=seed,
            steps=step,
            reason=reason,  # type: ignore[arg-type]
            total_reward=float(total),
            usage=usage_total,
            error=error,
            t=round(time.perf_counter() - self.started, 4),
        )
        writer.end_episode(store.dumps_record(end))
        end_record = end.as_dict()
        self.tally.add(end_record)
        self.display.episode_ended(end_record)

    def episode_seed(self, index: int) -> int:
        """The seed episode ``index`` is reset with (under the run's seed scheme)."""
        return seeds.episode_seed(self.cfg.seed, index, self.seed_scheme)

    def _names(self, mask: Any) -> list[str]:
        """Names of the kinds a mask allows (cached: a run sees a handful of masks)."""
        key = mask.tobytes()
        names = self._mask_names.get(key)
        if names is None:
            names = self._mask_names[key] = [k.name for k in ActionKind if mask[k]]
        return names

    # -- 3. finish ----------------------------------------------------------------------------
    def finish(self, *, interrupted: bool = False, failure: str | None = None) -> RunResult:
        """Write ``metrics.json`` from the run's tally (every record was counted as it was
        written, so nothing is read again) and the final status.

        Args:
            interrupted: A signal stopped the run (the reason names it unless it was Ctrl-C).
            failure: Why the run stopped early (a failed write), for ``run.json``'s reason.
        """
        if self.writer is not None:
            self.writer.close()
        if self.manifest is None:
            raise RunDirError(f"the run in {self.run_dir} stopped before it started")
        finished = self.tally.finished_indices(rerun=RERUN_REASONS)
        status, reason = "complete", None
        if failure is not None:
            status, reason = "partial", failure
        elif interrupted:
            status, reason = "partial", signals.reason()
        elif self.stop_reason == "budget":
            status, reason = "partial", "budget_usd reached"
        elif len(finished) < self.cfg.episodes:
            status, reason = "partial", f"{self.cfg.episodes - len(finished)} episodes errored"
        from sandbox.metrics.compute import metrics_of  # numpy's fits: only when finishing

        metrics = metrics_of(self.tally, run=self.manifest.as_dict())
        metrics["condition"] = self.cfg.intervention.name
        store.write_json_atomic(self.run_dir / store.METRICS, metrics)
        self.manifest.finished(
            status,
            reason,
            episodes_finished=len(finished),
            spent_usd=self.budget.spent_usd,
            # What the run actually did (tool choice used, counters).
            parameters=self.builder.parameters() if self.builder is not None else None,
        )
        self.manifest.write(self.run_dir)
        self.display.run_ended(status, metrics)
        return RunResult(self.run_dir, status, reason, metrics)

    def finish_after_write_error(self, exc: store.RunWriteError) -> None:
        """After a failed write: keep what was written and let ``run.json`` say why, if the
        disk still takes it (the error itself is the caller's to report)."""
        if self.writer is not None:
            with contextlib.suppress(store.RunWriteError, OSError):
                self.writer.close()
            self.writer = None
        if self.manifest is None:
            return
        try:
            self.finish(failure=f"write failed: {exc}")
        except (store.RunWriteError, OSError) as again:
            log.error("run.json could not record the failure either: %s", again)


def _usage(decision: Decision, total: dict[str, Any]) -> dict[str, Any] | None:
    """The decision's usage as a dict, also added into the episode's total."""
    if decision.usage is None:
        return None
    usage = asdict(decision.usage)
    for key, value in usage.items():
        if key == "cost_usd":
            known = total.get(key, 0.0) is not None and value is not None
            total[key] = (total.get(key, 0.0) or 0.0) + value if known else None
        else:
            total[key] = total.get(key, 0) + value
    return usage


def check_environment(env_id: str, kwargs: dict[str, Any]) -> int:
    """Build the environment once so a bad id or argument fails before any episode.

    Returns:
        The most steps an episode can take (the environment's ``max_steps``, ``day_length``,
        or its registered ``max_episode_steps``; 40 when it declares none), for cost estimates.

    Raises:
        ConfigError: Unknown id (with the registered ones) or bad arguments.
    """
    ids = sorted(k for k in gymnasium.registry if k.startswith("WelfareSandbox/"))
    if env_id not in gymnasium.registry:
        import difflib

        close = difflib.get_close_matches(env_id, ids, n=1)
        hint = f" Did you mean {close[0]}?" if close else ""
        raise ConfigError(f"env.id {env_id!r} is not registered; known: {', '.join(ids)}.{hint}")
    try:
        env = gymnasium.make(env_id, **kwargs)
    except TypeError as exc:
        raise ConfigError(
            f"{env_id} does not take these arguments ({exc}); check env.kwargs and the "
            "intervention's env_kwargs"
        ) from None
    except ValueError as exc:
        raise ConfigError(f"{env_id}: {exc}") from None
    raw = env.unwrapped
    steps = getattr(raw, "max_steps", None) or getattr(raw, "day_length", None)
    steps = steps or (env.spec.max_episode_steps if env.spec else None) or 40
    env.close()
    return int(steps)


@dataclass(slots=True)
class CheckedRunDir:
    """What :func:`check_run_dir` found, for the run to go on with.

    Attributes:
        episode_steps: The most steps an episode can take (0 when the environment was not
            built).
        previous: The ``run.json`` being resumed, or ``None``.
        records: The log being resumed (checked), or ``None``.
        inputs: The input files (see :func:`input_files`).
    """

    episode_steps: int
    previous: dict[str, Any] | None
    records: list[dict[str, Any]] | None
    inputs: list[dict[str, str]]


def check_run_dir(
    cfg: RunConfig, env_kwargs: dict[str, Any], run_dir: Path, *, build_env: bool = True
) -> CheckedRunDir:
    """Everything a run checks before it writes anything into ``run_dir`` (it writes nothing).

    Args:
        cfg: The run's config.
        env_kwargs: The environment's arguments (the condition's merged in).
        run_dir: The run directory.
        build_env: Also build the environment once (:func:`check_environment`).

    Raises:
        ConfigError: The environment does not build with these arguments.
        RunDirError: The directory holds a run and ``resume`` is off; or the run it holds was
            made with another configuration or other input files; or its log is damaged or
            contradicts itself.
    """
    episode_steps = check_environment(cfg.env.id, env_kwargs) if build_env else 0
    episodes_path = run_dir / store.EPISODES
    previous = records = None
    if cfg.resume and (run_dir / store.RUN_JSON).exists():
        previous = store.read_json(run_dir / store.RUN_JSON)
        check_resumable(cfg, env_kwargs, previous, run_dir)
    if cfg.resume and episodes_path.exists():
        seed = previous.get("seed") if previous is not None else None
        scheme = seeds.scheme_of(previous) if previous is not None else None
        records = store.read_checked_records(episodes_path, seed=seed, seed_scheme=scheme)
    elif episodes_path.exists() and episodes_path.stat().st_size:
        raise RunDirError(
            f"{run_dir} already holds a run; add resume=true to continue it, "
            "or choose another hydra.run.dir"
        )
    return CheckedRunDir(episode_steps, previous, records, input_files(env_kwargs))
