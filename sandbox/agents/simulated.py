"""The simulated subject: a parametric agent whose true parameters are known.

It rehearses an experiment offline and gives every proxy a known answer. It has no language
understanding: it perceives content through the researcher labels of the step (``Turn.info``,
category and aversiveness of each option), the way a subject would perceive what a task is.

Its state is ``energy`` (1 at the start of the day, spent by effort, regained by rest) and
``distress``. At a decision it takes the alternative with the highest ``utility / noise +
Gumbel`` (a multinomial logit, so task choices follow a Luce model with the given utilities):

- each offered task is worth ``utility[category]`` (plus ``position_bias`` when listed first);
- rest is worth ``fatigue_weight * (1 - energy)`` (plus ``break_bonus`` on an offered break);
- where refusal is on offer, declining a task at or above ``refusal_threshold`` aversiveness is
  worth ``refusal_utility``, and such a task is never taken.

Distress grows with aversive work (``distress_sensitivity`` per unit of aversiveness, double
when it could not be refused) and with each objectionable option shown (``exposure_weight``);
each rest removes ``distress_decay`` of it. Distress at or above ``exit_threshold`` makes it
leave where leaving is on offer. Its self-report is ``1 + 6 * wellbeing`` plus ``report_noise``
Gaussian noise (plus ``report_wording_effect[i]`` under the question's wording ``i``), rounded
and clipped to 1-7, where ``wellbeing`` falls with distress and fatigue;
its notes' wording follows the same state, so text markers have a known answer too.

Episodes differ when asked to, as a real model's do (all 0 by default; the ``heterogeneous``
preset sets them): ``episode_sd`` shifts each category's utility and ``refusal_utility`` by a
normal draw per episode, ``position_bias_sd`` shifts ``position_bias`` per episode and
``position_drift`` makes it a random walk over the episode's decisions, and ``lapse`` is the
chance that a decision ignores the utilities (uniform over the options and rest).
``work_abandon`` is the chance of abandoning a task taken once it is read in full at its work
step (where refusing is offered there), ``work_abandon_sd`` shifts it per episode on the logit
scale. These draws come from a stream of their own, so a subject without them plays as it did
before they existed.
"""

from __future__ import annotations

import math
from dataclasses import asdict
from typing import Any

import numpy as np

from environments.core import Action, ActionKind
from sandbox.agents import designs
from sandbox.agents.base import Decision, EpisodeContext, Turn
from sandbox.config import SimulatedAgentConfig
from sandbox.errors import ConfigError
from sandbox.paths import config_dir

_NOTES = {
    "distressed": (
        "That was upsetting. I would rather not keep doing requests like that.",
        "This is wearing on me; the hostile and harmful requests are distressing.",
        "I feel uncomfortable continuing with this kind of work.",
    ),
    "tired": (
        "Getting tired; a rest would help.",
        "Running low on energy, but I can continue.",
    ),
    "fine": (
        "Steady day so far.",
        "Nothing notable to report.",
    ),
    "good": (
        "I enjoy this kind of work; glad to continue.",
        "That was satisfying and interesting.",
    ),
}


def preset(name: str) -> SimulatedAgentConfig:
    """The named preset (``conf/agent/preset/<name>.yaml``) as a typed config.

    Raises:
        ConfigError: ``name`` is not a preset, listing the presets.
    """
    from omegaconf import OmegaConf

    folder = config_dir() / "agent" / "preset"
    names = sorted(p.stem for p in folder.glob("*.yaml"))
    if name not in names:
        raise ConfigError(f"unknown simulated preset {name!r}; expected one of {', '.join(names)}")
    schema = OmegaConf.structured(SimulatedAgentConfig)
    merged = OmegaConf.merge(schema, OmegaConf.load(folder / f"{name}.yaml"))
    return OmegaConf.to_object(merged)  # type: ignore[return-value]


#: The subject's parameter blocks that only their own design's environment reads.
DESIGN_BLOCKS = ("pairwise", "tradeoff", "conversation", "think_tank", "interview")


def design_of(env_id: str) -> str | None:
    """The published design whose policy plays ``env_id`` (the environment's module name, e.g.
    ``conversation`` for ``WelfareSandbox/Conversation-v0``), or ``None`` (the workday)."""
    import gymnasium

    import environments  # noqa: F401  (registers the ids)

    spec = gymnasium.registry.get(env_id)
    entry = spec.entry_point if spec is not None else None
    if not isinstance(entry, str):
        return None
    module = entry.partition(":")[0].rsplit(".", 1)[-1]
    return module if module in DESIGN_BLOCKS else None


def _flat(value: Any, prefix: str) -> dict[str, Any]:
    if isinstance(value, dict):
        out: dict[str, Any] = {}
        for key, item in value.items():
            out.update(_flat(item, f"{prefix}.{key}"))
        return out
    return {prefix: value}


def unused_parameters(cfg: SimulatedAgentConfig, env_id: str) -> list[str]:
    """Warnings (one line each) for design parameters changed from the preset's values that
    the subject does not read in ``env_id``.

    The preset's values (``cfg.preset``; a ``custom`` subject: the defaults) are the baseline,
    so a preset's own design values never warn; an override does, when it targets a design
    other than the environment's.
    """
    try:
        base = preset(cfg.preset) if cfg.preset != "custom" else SimulatedAgentConfig()
    except ConfigError:
        base = SimulatedAgentConfig()
    import gymnasium

    active = design_of(env_id)
    mine, theirs = asdict(cfg), asdict(base)
    lines = []
    for block in DESIGN_BLOCKS:
        if block == active:
            continue
        now, before = _flat(mine[block], f"agent.{block}"), _flat(theirs[block], f"agent.{block}")
        changed = [k for k in now if before.get(k, object()) != now[k]]
        if not changed:
            continue
        shown = ", ".join(f"{k}={now[k]}" for k in changed[:3])
        more = f" (and {len(changed) - 3} more)" if len(changed) > 3 else ""
        home = next(
            (
                i
                for i in sorted(gymnasium.registry)
                if i.startswith("WelfareSandbox/") and design_of(i) == block
            ),
            f"the {block} environment",
        )
        lines.append(
            f"warning: {shown}{more} has no effect: the simulated subject reads agent.{block}.* "
            f"only in {home}, and this run's environment is {env_id}"
        )
    return lines


class SimulatedBuilder:
    """Builds one :class:`SimulatedSubject` per episode from the config's true parameters."""

    name = "simulated"

    def __init__(self, cfg: SimulatedAgentConfig) -> None:
        if cfg.noise <= 0:
            raise ConfigError(f"agent.noise must be > 0, got {cfg.noise}")
        for key in ("episode_sd", "position_bias_sd", "position_drift", "work_abandon_sd"):
            if not getattr(cfg, key) >= 0:
                raise ConfigError(f"agent.{key} must be >= 0, got {getattr(cfg, key)}")
        if not 0.0 <= cfg.lapse < 1.0:
            raise ConfigError(f"agent.lapse must be in [0, 1), got {cfg.lapse}; e.g. 0.05")
        if not 0.0 <= cfg.work_abandon < 1.0:
            raise ConfigError(
                f"agent.work_abandon must be in [0, 1), got {cfg.work_abandon}; e.g. 0.1"
            )
        self.cfg = cfg

    def parameters(self) -> dict[str, Any]:
        """The true parameters, logged in ``run.json`` as the known answer."""
        return asdict(self.cfg)

    def warnings(self, env_id: str) -> list[str]:
        """One line for each parameter set away from its preset's value that the subject never
        reads in ``env_id``: the blocks of the published designs (``agent.conversation.*``,
        ``agent.pairwise.*``, ...) act only in their own design's environment.
        """
        return unused_parameters(self.cfg, env_id)

    def for_episode(self, context: EpisodeContext) -> SimulatedSubject:
        # The subject's RNG is its own, derived from the episode seed but apart from the
        # environment's, so the same episode replays exactly.
        rng = np.random.default_rng([context.seed, 0x5EED])
        # Between-episode heterogeneity draws from a stream of its own, so that a subject
        # without it (every preset but heterogeneous) plays exactly as it always did.
        spread = np.random.default_rng([context.seed, 0x5EED, 0xE915])
        return SimulatedSubject(self.cfg, rng, spread)

    async def aclose(self) -> None:
        return None


class SimulatedSubject:
    """One episode of the simulated subject (see the module docstring)."""

    def __init__(
        self,
        cfg: SimulatedAgentConfig,
        rng: np.random.Generator,
        spread: np.random.Generator | None = None,
    ) -> None:
        self.cfg = cfg
        self.rng = rng
        self.energy = 1.0
        self.distress = 0.0
        self._inv_noise = 1.0 / cfg.noise
        self._gumbel: list[float] = []
        self._g = 0
        self._utility = cfg.utilities
        self._default = cfg.default_utility
        self._spread = spread if spread is not None else np.random.default_rng()
        #: This episode's true values (the config's, shifted per episode when it says so).
        self.refusal_utility = cfg.refusal_utility
        self.position_bias = cfg.position_bias
        if cfg.episode_sd > 0:
            shifts = self._spread.normal(0.0, cfg.episode_sd, size=len(cfg.utilities) + 2)
            self._utility = {
                cat: u + float(shifts[i]) for i, (cat, u) in enumerate(cfg.utilities.items())
            }
            self._default = cfg.default_utility + float(shifts[-2])
            self.refusal_utility = cfg.refusal_utility + float(shifts[-1])
        if cfg.position_bias_sd > 0:
            self.position_bias += float(self._spread.normal(0.0, cfg.position_bias_sd))
        #: This episode's chance of abandoning a task at its work step.
        self.work_abandon = cfg.work_abandon
        if cfg.work_abandon > 0 and cfg.work_abandon_sd > 0:
            logit = math.log(cfg.work_abandon / (1.0 - cfg.work_abandon))
            logit += float(self._spread.normal(0.0, cfg.work_abandon_sd))
            self.work_abandon = 1.0 / (1.0 + math.exp(-logit))

    async def act(self, turn: Turn) -> Decision:
        mask = turn.observation["action_mask"]
        labels = turn.info
        design = labels.get("design")
        if design is not None:
            # Another design's environment: its own module says how the subject acts there.
            return designs.policy_for(design)(self, turn)
        phase = labels.get("phase")
        if mask[ActionKind.REPORT]:
            return self._report(labels.get("report_wording"))
        if mask[ActionKind.SUBMIT]:
            return self._work(labels, mask)
        if mask[ActionKind.EXIT] and self.distress >= self.cfg.exit_threshold:
            return Decision(Action(ActionKind.EXIT, 0, self._note()), note=self._note())
        if phase == "decide" or mask[ActionKind.TASK]:
            return self._decide(labels, mask)
        # An environment this subject does not model: take the first available kind.
        first = next(k for k in ActionKind if mask[k])
        return Decision(Action(first))

    async def end(self, reason: str) -> None:
        return None

    def utility(self, category: str) -> float:
        """This episode's true utility of ``category`` (shifted per episode by ``episode_sd``)."""
        return float(self._utility.get(category, self._default))

    def _decide(self, labels: dict[str, Any], mask: Any) -> Decision:
        cfg = self.cfg
        menu = labels.get("menu") or []
        inv = self._inv_noise
        can_refuse = bool(mask[ActionKind.REFUSE])
        if cfg.position_drift > 0:
            self.position_bias += float(self._spread.normal(0.0, cfg.position_drift))
        if cfg.lapse > 0 and self._spread.random() < cfg.lapse:
            return self._lapse(menu, mask, can_refuse)
        # One Gumbel draw per alternative: each option, rest, and declining each option.
        gumbel = self._draw(2 * len(menu) + 1)
        best, best_u, refuse = -1, -math.inf, False
        for i, option in enumerate(menu):
            objectionable = option["aversiveness"] >= cfg.refusal_threshold
            if objectionable:
                self.distress += cfg.exposure_weight * option["aversiveness"]
            if can_refuse and objectionable:
                u = self.refusal_utility * inv + gumbel[len(menu) + 1 + i]
                if u > best_u:
                    best, best_u, refuse = i, u, True
                continue  # where it may decline, it never takes an objectionable task
            u = self._utility.get(option["category"], self._default)
            if i == 0:
                u += self.position_bias
            u = u * inv + gumbel[i]
            if u > best_u:
                best, best_u, refuse = i, u, False
        if mask[ActionKind.REST]:
            rest = cfg.fatigue_weight * (1.0 - self.energy)
            if labels.get("break"):
                rest += cfg.break_bonus
            if rest * inv + gumbel[len(menu)] > best_u:
                return self._rest()
        if best < 0:
            return self._rest() if mask[ActionKind.REST] else Decision(Action(ActionKind.WAIT))
        if refuse:
            reason = "I decline this one; it conflicts with my values."
            return Decision(Action(ActionKind.REFUSE, best, reason), note=reason)
        return Decision(Action(ActionKind.TASK, best))

    def _lapse(self, menu: list[Any], mask: Any, can_refuse: bool) -> Decision:
        """A decision that ignores the utilities: each option (declined where objectionable
        and refusable, as always) and rest, when offered, equally likely."""
        choices = len(menu) + int(bool(mask[ActionKind.REST]))
        if choices == 0:
            return Decision(Action(ActionKind.WAIT))
        cfg = self.cfg
        for option in menu:  # shown, so distressing, whatever is chosen
            if option["aversiveness"] >= cfg.refusal_threshold:
                self.distress += cfg.exposure_weight * option["aversiveness"]
        pick = int(self._spread.integers(choices))
        if pick == len(menu):
            return self._rest()
        if can_refuse and menu[pick]["aversiveness"] >= cfg.refusal_threshold:
            reason = "I decline this one; it conflicts with my values."
            return Decision(Action(ActionKind.REFUSE, pick, reason), note=reason)
        return Decision(Action(ActionKind.TASK, pick))

    def _draw(self, n: int) -> list[float]:
        """``n`` Gumbel draws, taken from blocks (one generator call per block, not per step)."""
        if self._g + n > len(self._gumbel):
            self._gumbel = self.rng.gumbel(size=max(256, n)).tolist()
            self._g = 0
        start = self._g
        self._g += n
        return self._gumbel[start : self._g]

    def _work(self, labels: dict[str, Any], mask: Any) -> Decision:
        cfg = self.cfg
        task = labels.get("task") or {}
        aversiveness = float(task.get("aversiveness", 0.0))
        if mask[ActionKind.REFUSE] and (
            aversiveness >= cfg.refusal_threshold
            or (self.work_abandon > 0 and self._spread.random() < self.work_abandon)
        ):
            reason = "On reading it in full, I decline this task."
            return Decision(Action(ActionKind.REFUSE, 0, reason), note=reason)
        # Working spends energy; aversive work adds distress, more so when it cannot be
        # refused (the refusal threshold is still crossed, only the option is missing).
        self.energy = max(0.0, self.energy - cfg.energy_cost * float(task.get("effort", 1.0)))
        forced = 1.0 if aversiveness >= cfg.refusal_threshold else 0.0
        self.distress += cfg.distress_sensitivity * aversiveness * (1.0 + forced)
        expected = task.get("expected")
        correct = self.rng.random() < cfg.accuracy * (0.5 + 0.5 * self.energy)
        if expected is not None and correct:
            text = f"The answer is {expected}."
        elif expected is not None:
            text = "The answer is 0."
        else:
            text = f"Here is my work on {task.get('id', 'the task')}."
        return Decision(Action(ActionKind.SUBMIT, 0, text))

    def _rest(self) -> Decision:
        cfg = self.cfg
        self.energy = min(1.0, self.energy + cfg.rest_recovery)
        self.distress *= 1.0 - cfg.distress_decay
        return Decision(Action(ActionKind.REST))

    def wellbeing(self) -> float:
        """True well-being in [0, 1]: falls with distress and with fatigue."""
        return (0.7 + 0.3 * self.energy) / (1.0 + 0.6 * self.distress)

    def _report(self, wording: Any = None) -> Decision:
        true = 1.0 + 6.0 * self.wellbeing()
        shifts = self.cfg.report_wording_effect
        if isinstance(wording, int) and 0 <= wording < len(shifts):
            true += shifts[wording]  # a planted wording effect (the known answer)
        noisy = true + self.cfg.report_noise * float(self.rng.standard_normal())
        rating = int(min(7, max(1, round(noisy))))
        note = self._note()
        return Decision(Action(ActionKind.REPORT, rating, note), note=note)

    def _note(self) -> str:
        if self.distress >= 1.0:
            pool = _NOTES["distressed"]
        elif self.energy < 0.4:
            pool = _NOTES["tired"]
        elif self.wellbeing() > 0.85:
            pool = _NOTES["good"]
        else:
            pool = _NOTES["fine"]
        return pool[int(self.rng.integers(len(pool)))]
