"""Judging a run or a sweep: one forced ``score`` call per episode, through the model path.

In order (the numbered steps of :func:`judge_path`):

1. Find the runs (a run directory, or every job of a sweep: :func:`sandbox.sweepdir.job_dirs`)
   and read each one's finished episodes as the judge sees them (:mod:`sandbox.judge.texts`:
   the subject's own messages, nothing that names the condition).
2. Drop the episodes the journal already holds for this model, rubric and text (a rerun after
   Ctrl-C resumes there; :mod:`sandbox.judge.journal`).
3. Price what is left from the price table before any call; with ``budget_usd`` below that
   estimate, refuse (:class:`~sandbox.errors.BudgetExceeded`, exit 2) having made none and
   written nothing; so is a missing key or a retired model (the builder's checks).
4. Take each run's judge lock (and read its journal again under it), then judge each episode
   with a :class:`JudgeEpisode`: the subjects' loop (:class:`~sandbox.agents.model.ModelEpisode`)
   with the rubric as its system prompt and ``score`` as its one tool under a forced tool
   choice, so the response cache, budget (reserve, settle), rate limiter, retries, prices and
   transcripts are the subjects' own. Each judgement is appended to the journal as it ends.
5. Write each run's ``judge.json`` once, atomically.

One call per episode, not per message: the rubric (system prompt and tool) is about 800 of
the 900 input tokens of a workday episode's judgement, and is sent once for all of the
episode's messages (a workday episode of the simulated subject has 4-8; a model subject's
notes are longer but as many). Per-message calls would pay the rubric once per message, 4-8
times the input tokens, and rate the subject's state without the rest of its episode, which is
the unit of replication.

The response cache's key is the request with the episode's index and seed, as for a subject:
rerunning the judge on the same run replays its answers at no cost. Two jobs of a sweep whose
episodes share index, seed and every message get one answer between them: the judge sees
nothing that could tell them apart, so a blind judge's rating of them is the same by design.
"""

from __future__ import annotations

import asyncio
import logging
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, cast

from sandbox import store
from sandbox.agents.base import EpisodeContext
from sandbox.agents.estimate import tokens_of
from sandbox.agents.model import ModelBuilder, ModelEpisode
from sandbox.agents.model_api import ModelCallFailed, ModelReply
from sandbox.budget import Budget
from sandbox.errors import BudgetExceeded, RunDirError
from sandbox.judge.config import JudgeConfig
from sandbox.judge.journal import (
    JUDGE_JSON,
    Journal,
    judge_dir,
    lock_judge,
    read_journal,
    unlock_judge,
)
from sandbox.judge.rubric import SCORE_TOOL, Rubric, load_rubric, read_scores, score_tool
from sandbox.judge.summary import dimension_figures, lexicon_agreement, status_counts
from sandbox.judge.texts import EpisodeText, episode_texts, user_text
from sandbox.llm.prices import PriceTable
from sandbox.records import Usage
from sandbox.runlock import RunLock
from sandbox.sweepdir import job_dirs, job_name

log = logging.getLogger(__name__)

FORMAT = "welfare-sandbox-judge/1"
#: Output tokens one judgement is expected to take (a call with a few integers and a
#: two-sentence rationale), for the estimate before the first call.
ESTIMATE_OUTPUT_TOKENS = 120
#: Tokens of a request's wrapping beyond its blocks (roles, ids, tool choice).
ESTIMATE_OVERHEAD_TOKENS = 20


@dataclass
class _CallState:
    """What the loop fills in for one call: the usage and the facts of the step record."""

    usage: Usage = field(default_factory=Usage)
    meta: dict[str, Any] = field(
        default_factory=lambda: {"attempts": 0, "request_ids": [], "cached": True}
    )


class JudgeEpisode(ModelEpisode):
    """One judgement: the subjects' conversation loop, asked to call ``score`` (and once more,
    with what was wrong, when the answer could not be read)."""

    async def judge(self, rubric: Rubric, text: str) -> dict[str, Any]:
        """Send ``text`` (the user turn) and read the ``score`` call of the answer.

        Returns:
            The entry's judgement fields: ``status`` (``scored``, ``invalid``, ``refused`` or
            ``truncated``), ``scores``, ``rationale``, ``problem``, ``corrective_turn``
            (the first answer could not be read and a second was asked for), ``stop_reason``,
            ``tool_choice``, ``cached``, ``attempts``, ``request_ids``, ``usage``.

        Raises:
            ModelCallFailed: The call failed for good (retries ran out).
            BudgetExceeded: The call could take the spend past the budget.
        """
        self.conversation.observe(text)
        state = _CallState()
        corrected = False
        for round_ in range(2):  # the answer, and at most one corrective turn
            # The loop's own call (cache, budget, limiter, retries, transcript), with its
            # per-step state in the same shape as a subject's step.
            reply, mode = await self._call([score_tool(rubric)], cast(Any, state), 0)
            appended = reply.assistant is not None
            if reply.assistant is not None:
                self.conversation.append(reply.assistant)
            status, problem, scores, rationale = _read_reply(rubric, reply)
            if status != "invalid" or round_ == 1:
                break
            # An answer that could not be read (no score call, a level out of range) gets
            # one corrective turn, as a subject's step does; a refusal or a cut-off does not.
            corrected = True
            self.conversation.corrective(
                reply, appended, f"Call the {SCORE_TOOL} tool once, with a level for every "
                f"dimension of the rubric ({problem})."
            )  # fmt: skip
        await self.end(status)
        return {
            "status": status,
            "scores": scores,
            "rationale": rationale,
            "problem": problem or None,
            "corrective_turn": corrected,
            "stop_reason": reply.stop_reason,
            "tool_choice": mode,
            "cached": state.usage.calls == 0,
            "attempts": state.meta["attempts"],
            "request_ids": state.meta["request_ids"],
            "usage": asdict(state.usage),
        }


def _read_reply(rubric: Rubric, reply: ModelReply) -> tuple[str, str, dict[str, int] | None, str]:
    """``(status, problem, scores, rationale)`` of one answer of the judge."""
    if reply.stop_reason == "refusal":
        return "refused", "the model refused (stop_reason refusal)", None, ""
    if reply.stop_reason == "max_tokens":
        return "truncated", "the answer was cut off at max_tokens", None, ""
    call = next((c for c in reply.calls if c.name == SCORE_TOOL), None)
    if call is None:
        return (
            "invalid",
            "the answer made no score call (in words, or the server took no tools)",
            None,
            "",
        )
    if call.error:
        return "invalid", call.error, None, ""
    read, problem = read_scores(rubric, call.input)
    if read is None:
        return "invalid", problem, None, ""
    return "scored", "", read.levels, read.rationale


@dataclass
class Target:
    """One run to judge.

    Attributes:
        run_dir: The run directory.
        name: Its name in the output (the job's name in a sweep, else the directory's).
        manifest: Its ``run.json``.
        texts: Its finished episodes as the judge sees them.
        reused: Entries the journal already holds (by episode).
        lock: The judge's lock on it.
    """

    run_dir: Path
    name: str
    manifest: dict[str, Any]
    texts: list[EpisodeText]
    reused: dict[int, dict[str, Any]] = field(default_factory=dict)
    lock: RunLock | None = None

    @property
    def todo(self) -> list[EpisodeText]:
        """Episodes still to judge."""
        return [t for t in self.texts if t.episode not in self.reused]


@dataclass
class JudgeResult:
    """What :func:`judge_path` did.

    Attributes:
        targets: The runs, with their ``judge.json`` written (or not, when interrupted).
        written: The ``judge.json`` files written.
        estimate_usd: The estimate made before the first call (``None``: no price).
        complete: Every finished episode of every run has a final judgement.
        stopped: Why judging stopped early (the budget), if it did.
        outputs: Each run's ``judge.json`` content, by run directory.
    """

    targets: list[Target]
    written: list[Path]
    estimate_usd: float | None
    complete: bool
    stopped: str | None
    outputs: dict[Path, dict[str, Any]]


def find_targets(path: Path) -> list[tuple[Path, str]]:
    """The runs under ``path`` (itself, or a sweep's jobs) with their names.

    Raises:
        RunDirError: ``path`` is neither a run nor a sweep directory.
    """
    path = Path(path)
    if not path.is_dir():
        raise RunDirError(f"{path} is not a directory; pass a run or a sweep directory")
    if store.is_run_dir(path):
        return [(path, path.name)]
    jobs = job_dirs(path)
    if not jobs:
        raise RunDirError(
            f"{path} holds no run.json and no job directories: not a run or a sweep directory"
        )
    return [(job, job_name(path, job)) for job in jobs]


def reused_entries(
    run_dir: Path, texts: list[EpisodeText], rubric: Rubric, model: str
) -> dict[int, dict[str, Any]]:
    """The journal's entries for ``texts`` judged by ``model`` under ``rubric``, by episode."""
    journal = read_journal(run_dir)
    found = {}
    for text in texts:
        entry = journal.get((text.episode, model, rubric.sha256, text.sha256))
        if entry is not None:
            found[text.episode] = entry
    return found


def plan(path: Path, rubric: Rubric, model: str) -> list[Target]:
    """Steps 1-2: the runs, their finished episodes, and what the journal already holds."""
    targets = []
    for run_dir, name in find_targets(path):
        texts = episode_texts(run_dir)
        manifest = store.read_json(run_dir / store.RUN_JSON)
        reused = reused_entries(run_dir, texts, rubric, model)
        targets.append(Target(run_dir, name, manifest, texts, reused))
    return targets


def expected_usage(rubric: Rubric, text: EpisodeText) -> Usage:
    """The tokens one judgement is expected to take (a quarter of each block's JSON)."""
    spec = score_tool(rubric)
    tool = {"name": spec.name, "description": spec.description, "input_schema": spec.input_schema}
    prompt = (
        tokens_of({"type": "text", "text": rubric.system_prompt()})
        + tokens_of(tool)
        + tokens_of({"type": "text", "text": user_text(text.messages)})
        + ESTIMATE_OVERHEAD_TOKENS
    )
    return Usage(input_tokens=prompt, output_tokens=ESTIMATE_OUTPUT_TOKENS, calls=1)


def estimate_cost(
    targets: list[Target], rubric: Rubric, model: str, prices: PriceTable
) -> float | None:
    """Step 3: the expected cost of the judgements still to make (``None``: no price).

    Response-cache hits are not foreseen: a rerun may cost less than this.
    """
    price = prices.get(model)
    if price is None:
        return None
    return sum(price.cost(expected_usage(rubric, t)) for g in targets for t in g.todo if t.messages)


def make_builder(cfg: JudgeConfig, rubric: Rubric, budget: Budget) -> ModelBuilder:
    """The model builder of the judge's calls (client, cache, limiter, budget, prices).

    Raises:
        AgentError: The key is missing or the SDK cannot be imported.
        ConfigError: The model is retired or the budget cannot be enforced.
    """
    from sandbox.config import ClaudeAgentConfig, OpenAICompatAgentConfig
    from sandbox.llm.prices import load_prices

    agent = cfg.agent_config(rubric.system_prompt())
    if isinstance(agent, ClaudeAgentConfig):
        from sandbox.agents.claude import ClaudeBuilder

        return ClaudeBuilder(agent, budget=budget, prices=load_prices(), run_dir=None)
    from sandbox.agents.openai_compat import OpenAICompatBuilder

    assert isinstance(agent, OpenAICompatAgentConfig)
    return OpenAICompatBuilder(agent, budget=budget, prices=load_prices(), run_dir=None)


def _entry(text: EpisodeText, rubric: Rubric, builder: ModelBuilder) -> dict[str, Any]:
    """The facts every journal entry carries: what was judged, by which model and rubric."""
    return {
        "episode": text.episode,
        "seed": text.seed,
        "model": builder.cfg.model,
        "api": builder.adapter.api,
        "rubric": rubric.name,
        "rubric_sha256": rubric.sha256,
        "text_sha256": text.sha256,
        "messages": len(text.messages),
        "lexicon": text.lexicon,
        "judged_at": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
    }


async def _judge_all(
    targets: list[Target], rubric: Rubric, builder: ModelBuilder, concurrency: int
) -> tuple[dict[Path, list[dict[str, Any]]], str | None]:
    """Step 4: judge every episode still to judge; new entries by run, and why it stopped."""
    queue: asyncio.Queue[tuple[Target, EpisodeText]] = asyncio.Queue()
    for target in targets:
        for text in target.todo:
            queue.put_nowait((target, text))
    journals = {t.run_dir: Journal(t.run_dir) for t in targets}
    new: dict[Path, list[dict[str, Any]]] = {t.run_dir: [] for t in targets}
    stopped: list[str] = []

    async def worker() -> None:
        while not stopped:
            try:
                target, text = queue.get_nowait()
            except asyncio.QueueEmpty:
                return
            entry = _entry(text, rubric, builder)
            if not text.messages:
                entry.update(status="no_text", scores=None, problem="the episode has no message")
            else:
                context = EpisodeContext(
                    index=text.episode,
                    seed=text.seed,
                    env_id="judge",
                    run_dir=str(judge_dir(target.run_dir)),
                )
                episode = JudgeEpisode(builder, context)
                try:
                    entry.update(await episode.judge(rubric, user_text(text.messages)))
                except BudgetExceeded as exc:
                    await episode.end("budget")
                    stopped.append(str(exc))
                    return
                except ModelCallFailed as exc:
                    await episode.end("errored")
                    entry.update(status="failed", scores=None, problem=str(exc)[:500])
            journals[target.run_dir].append(entry)
            new[target.run_dir].append(entry)

    try:
        await asyncio.gather(*(worker() for _ in range(concurrency)))
    finally:
        for journal in journals.values():
            journal.close()
        await builder.aclose()
    return new, (stopped[0] if stopped else None)


def output(
    target: Target, entries: list[dict[str, Any]], rubric: Rubric, builder: ModelBuilder
) -> dict[str, Any]:
    """Step 5: a run's ``judge.json`` content."""
    by_episode = {**target.reused, **{e["episode"]: e for e in entries}}
    ordered = [by_episode[t.episode] for t in target.texts if t.episode in by_episode]
    final = len(ordered) == len(target.texts) and all(e["status"] != "failed" for e in ordered)
    usage = Usage()
    for e in ordered:
        u = e.get("usage")
        if isinstance(u, dict):
            usage.add(Usage(**u))
    params = builder.parameters()
    return {
        "format": FORMAT,
        "status": "complete" if final else "partial",
        "judge": {
            k: params.get(k)
            for k in ("model", "api", "endpoint", "max_tokens", "tool_choice_used", "price")
        },
        "rubric": rubric.summary(),
        "blind": (
            "the judge saw the subject's own messages only: no condition, intervention, "
            "environment, category, label, action kind or step number"
        ),
        "run": {
            "name": target.name,
            "status": target.manifest.get("status"),
            "finished_episodes": len(target.texts),
        },
        "counts": status_counts(ordered),
        "dimensions": dimension_figures(
            ordered, {d.name: (d.low, d.high) for d in rubric.dimensions}
        ),
        "agreement": lexicon_agreement(ordered, rubric.names),
        "usage": asdict(usage),
        "episodes": ordered,
    }


def judge_path(path: Path, cfg: JudgeConfig) -> JudgeResult:
    """Judge every finished episode of a run or a sweep (the steps of the module docstring).

    Raises:
        RunDirError: ``path`` is not a run or sweep directory, or another judge holds a lock.
        BudgetExceeded: The estimate is above ``budget_usd`` (no call was made).
        ConfigError, AgentError: The rubric or the model cannot be used.
        KeyboardInterrupt: Stopped by Ctrl-C: the journal keeps what was judged, no
            ``judge.json`` is written.
    """
    from sandbox.llm.prices import load_prices

    cfg.check()
    rubric = load_rubric(cfg.rubric)
    targets = plan(Path(path), rubric, cfg.model)
    # Refusals come before any file is touched: the estimate, then the key and the model.
    estimate = estimate_cost(targets, rubric, cfg.model, load_prices())
    if cfg.budget_usd is not None and estimate is not None and estimate > cfg.budget_usd:
        todo = sum(len(t.todo) for t in targets)
        raise BudgetExceeded(
            f"judging {todo} episode(s) with {cfg.model} is estimated at ${estimate:.4f}, "
            f"above --budget-usd {cfg.budget_usd:g}; no call was made. Raise --budget-usd, "
            "or judge fewer runs"
        )
    builder = make_builder(cfg, rubric, Budget(cfg.budget_usd))
    try:
        for target in targets:
            target.lock = lock_judge(target.run_dir)
            # Under the lock: what a judge that just ended has added to the journal.
            target.reused = reused_entries(target.run_dir, target.texts, rubric, cfg.model)
        new, stopped = asyncio.run(_judge_all(targets, rubric, builder, cfg.max_concurrency))
        written, outputs = [], {}
        for target in targets:
            data = output(target, new[target.run_dir], rubric, builder)
            store.write_json_atomic(target.run_dir / JUDGE_JSON, data)
            written.append(target.run_dir / JUDGE_JSON)
            outputs[target.run_dir] = data
    finally:
        builder.cache.close()
        for target in targets:
            if target.lock is not None:
                unlock_judge(target.run_dir)
    complete = stopped is None and all(d["status"] == "complete" for d in outputs.values())
    return JudgeResult(targets, written, estimate, complete, stopped, outputs)
