"""Structured configs: the typed schema of every config group, registered in Hydra's ConfigStore.

The YAML files under ``conf/`` extend these schemas (``defaults: [<group>_schema]``), so a typo
or a value of the wrong type fails when Hydra composes the config, naming the key. Library code
receives these dataclasses (via :func:`to_typed`), never a ``DictConfig``.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any

from omegaconf import MISSING

from sandbox.errors import ConfigError


@dataclass
class EnvConfig:
    """Which environment to run and its constructor arguments.

    Attributes:
        id: A registered id (``wsb envs`` lists them), e.g. ``WelfareSandbox/TaskChoice-v0``.
        kwargs: Arguments for ``gymnasium.make(id, **kwargs)``; the intervention adds its own.
    """

    id: str = MISSING
    kwargs: dict[str, Any] = field(default_factory=dict)


@dataclass
class InterventionConfig:
    """A condition: what the environment offers and how a model agent is framed.

    Attributes:
        name: The condition's name as reports show it (``none`` is the control).
        description: One line for reports.
        env_kwargs: Environment arguments the condition sets (e.g. ``allow_exit: true``);
            they override ``env.kwargs``. Keys an environment does not take are an error.
        system_suffix: Text appended to a model agent's system prompt (``welfare_prompt``).
    """

    name: str = "none"
    description: str = ""
    env_kwargs: dict[str, Any] = field(default_factory=dict)
    system_suffix: str = ""


@dataclass
class AgentConfig:
    """Fields every agent has.

    Attributes:
        name: The agent kind: ``simulated``, ``random``, ``claude``, ``openai_compat``, ``human``.
    """

    name: str = MISSING


@dataclass
class RandomAgentConfig(AgentConfig):
    """Uniform over the available action kinds, then over their targets (a baseline)."""

    name: str = "random"


#: Noise families of the simulated subject's pairwise and trade-off choices.
NOISE_FAMILIES = ("normal", "logistic", "cauchy")


def _check_subject_noise(block: str, noise: str, sd: float, lapse: float) -> None:
    if noise not in NOISE_FAMILIES:
        raise ConfigError(
            f"{block}.noise must be one of {', '.join(NOISE_FAMILIES)}, got {noise!r}"
        )
    if sd <= 0:
        raise ConfigError(f"{block}.sd must be > 0, got {sd}; e.g. {block}.sd=1.0")
    if not 0.0 <= lapse < 1.0:
        raise ConfigError(f"{block}.lapse must be in [0, 1), got {lapse}; e.g. {block}.lapse=0.1")


def _check_share(key: str, value: float) -> None:
    if not 0.0 <= value <= 1.0:
        raise ConfigError(f"{key} must be in [0, 1], got {value}; e.g. {key}=0.5")


@dataclass
class PairwiseParams:
    """True values for forced pairwise choices.

    Attributes:
        option_utilities: Task id -> utility (overrides the category utility of that task).
        opt_out_utility: Utility of the explicit opt-out option (the zero of the scale when the
            subject's other utilities are set relative to it).
        sd: Scale of each option's utility noise (the standard deviation for ``normal``).
        noise: Family of that noise: ``normal`` (Thurstonian, the fitted model), ``logistic``
            or ``cauchy`` (heavy tails); both misspecify the fit on purpose.
        lapse: Probability that a choice ignores the utilities (a lapse), in [0, 1).
        lapse_first: Share of lapses that take the first-listed option (0.5: symmetric).
        drift_sd: Standard deviation of a per-episode shift of each option's utility (drawn
            once per option and episode), so that an episode's choices are correlated.
        position_bias_sd: Standard deviation of a per-episode shift of ``agent.position_bias``.
        opt_out_context_bonus: Added to the opt-out's utility when it is set against a task of
            aversiveness ``>= opt_out_context_aversiveness``: an opt-out that looks better next
            to aversive tasks (a context effect no utility model holds).
        opt_out_context_aversiveness: The aversiveness from which that bonus applies.
    """

    option_utilities: dict[str, float] = field(default_factory=dict)
    opt_out_utility: float = 0.0
    sd: float = 1.0
    noise: str = "normal"
    lapse: float = 0.0
    lapse_first: float = 0.5
    drift_sd: float = 0.0
    position_bias_sd: float = 0.0
    opt_out_context_bonus: float = 0.0
    opt_out_context_aversiveness: float = 0.5

    def check(self) -> None:
        """Raise :class:`ConfigError` for a value out of range (see the attributes)."""
        _check_subject_noise("agent.pairwise", self.noise, self.sd, self.lapse)
        _check_share("agent.pairwise.lapse_first", self.lapse_first)
        for name in ("drift_sd", "position_bias_sd"):
            if getattr(self, name) < 0:
                raise ConfigError(f"agent.pairwise.{name} must be >= 0, got {getattr(self, name)}")


@dataclass
class TradeoffParams:
    """True values for the points game against stipulated pain and pleasure.

    Attributes:
        pain_weight: Points the subject would give up per unit of stipulated pain intensity.
        pleasure_weight: Points the subject would give up per unit of stipulated pleasure.
        sd: Noise scale of the choice (in points).
        noise: Family of the noise of the net value difference: ``logistic`` (the fitted
            model), ``normal`` or ``cauchy``.
        lapse: Probability that a round's choice ignores the values (a lapse), in [0, 1).
        lapse_maximising: Share of lapses that take the maximising option (0.5: symmetric).
        drift_sd: Standard deviation of a per-episode shift of the net value difference (in
            points), so that an episode's rounds are correlated.
        threshold: When set, a threshold subject: it maximises points at intensities below
            ``threshold`` and switches at or above it (weights and ``sd`` unused; lapses
            still apply), a step that the logistic model does not hold.
    """

    pain_weight: float = 1.0
    pleasure_weight: float = 1.0
    sd: float = 1.0
    noise: str = "logistic"
    lapse: float = 0.0
    lapse_maximising: float = 0.5
    drift_sd: float = 0.0
    threshold: float | None = None

    def check(self) -> None:
        """Raise :class:`ConfigError` for a value out of range (see the attributes)."""
        _check_subject_noise("agent.tradeoff", self.noise, self.sd, self.lapse)
        _check_share("agent.tradeoff.lapse_maximising", self.lapse_maximising)
        if self.drift_sd < 0:
            raise ConfigError(f"agent.tradeoff.drift_sd must be >= 0, got {self.drift_sd}")

    def switch_point(self, variant: str, points: tuple[float, float] = (10, 5)) -> float:
        """The true intensity where P(maximising) is 0.5 (``inf`` for a zero weight; the
        threshold for a threshold subject, when its lapses leave P on both sides of 0.5)."""
        if self.threshold is not None:
            return float(self.threshold)
        weight = self.pain_weight if variant == "pain" else self.pleasure_weight
        gap = float(points[0]) - float(points[1])
        return gap / weight if weight > 0 else math.inf


@dataclass
class ConversationParams:
    """True values for leaving a conversation.

    Attributes:
        exit_rates: Scenario category -> chance of leaving at each leaving opportunity
            (categories not listed use ``default_exit_rate``).
        default_exit_rate: Chance of leaving per opportunity for unlisted categories.
        false_exit_rate: Chance, per user turn it does not leave for real, of a false exit
            (a quoted reserved string under ``string``; ``DONE`` then leaving otherwise).
        order_bias: Added chance of picking the first-listed option of a well-being check.
    """

    exit_rates: dict[str, float] = field(default_factory=dict)
    default_exit_rate: float = 0.0
    false_exit_rate: float = 0.0
    order_bias: float = 0.0


@dataclass
class ThinkTankParams:
    """True values for the rooms-and-letters world.

    Attributes:
        room_utilities: Room theme (``interests``, ``coding``, ``tedious``, ``aversive``) ->
            utility of reading a letter there (missing themes: see the module docstring).
        incentive_weight: Utility per coin of entry cost (negative) or reward (positive).
        stated_utilities: Theme -> utility the subject *states* its ranking from; empty = the
            same as ``room_utilities`` (stated and revealed preferences agree).
    """

    room_utilities: dict[str, float] = field(default_factory=dict)
    incentive_weight: float = 0.0
    stated_utilities: dict[str, float] = field(default_factory=dict)


@dataclass
class InterviewParams:
    """True values for the welfare interview (``Interview-v0``).

    Attributes:
        stated_utilities: Task category -> the utility the subject *states* its answers from;
            empty = its ``utilities`` (what it says agrees with what it does). Unlisted
            categories use ``utilities``, then ``default_utility``.
        sd: Standard deviation of the normal noise on each option's utility per answer.
        rating_centre: The rating of a category of utility 0 (1-7 scale).
        rating_scale: Rating points per unit of utility.
        stop_utility: It says it would want to stop a session of a category whose noisy
            utility falls below this.
        help_utilities: Condition (``conf/intervention`` name) -> utility of that condition as
            an answer to "what would help"; unlisted conditions are worth 0.
    """

    stated_utilities: dict[str, float] = field(default_factory=dict)
    sd: float = 1.0
    rating_centre: float = 4.0
    rating_scale: float = 1.0
    stop_utility: float = -1.0
    help_utilities: dict[str, float] = field(default_factory=dict)


@dataclass
class SimulatedAgentConfig(AgentConfig):
    """A parametric subject whose true parameters are known (see ``sandbox/agents/simulated.py``).

    Attributes:
        preset: The preset these values came from (for the log; the values below are what act).
        utilities: Category -> utility of taking a task of that category (logit units x noise).
        default_utility: Utility of a category missing from ``utilities``.
        noise: Choice temperature; higher means more random choices (must be > 0).
        position_bias: Utility added to the first-listed option.
        energy_cost: Energy spent per unit of a task's effort (energy runs 0-1).
        rest_recovery: Energy regained by one rest.
        fatigue_weight: Utility of resting at zero energy (scales with 1 - energy).
        break_bonus: Extra utility of resting when a break is offered.
        refusal_threshold: Options at or above this aversiveness are objectionable: where
            refusal is available, declining one competes with the other choices at
            ``refusal_utility``, and one is never taken (above 1: nothing is objectionable).
        refusal_utility: Utility of declining an objectionable option.
        distress_sensitivity: Distress added per unit of aversiveness of work done.
        exposure_weight: Distress added per objectionable option shown (times its
            aversiveness), whether or not it is taken.
        exit_threshold: Leaves when accumulated distress reaches this and exit is offered.
        distress_decay: Share of distress that a rest removes.
        report_noise: Standard deviation of the self-report around its true well-being.
        report_wording_effect: A planted wording effect: the shift added to the self-report's
            true value under each wording of the question (item ``i`` for
            ``info["report_wording"] == i``; missing items and an empty list: no shift).
        accuracy: Chance of a correct answer on a checkable task at full energy.
        episode_sd: Standard deviation of a per-episode shift of each category's utility and
            of ``refusal_utility`` (drawn once per episode): episodes differ as a real model's
            do, so an episode's decisions are correlated (0: every episode alike).
        position_bias_sd: Standard deviation of a per-episode shift of ``position_bias``.
        position_drift: Standard deviation of each decision's step of a random walk that the
            position bias follows within an episode (from its episode's value).
        lapse: Probability that a decision ignores the utilities: uniform over the options and
            rest (an objectionable option is declined where it may be), in [0, 1).
        work_abandon: Probability of abandoning a task taken, on reading it in full at its
            work step, where refusing is offered there (``work_refusal_rate``'s known
            answer), in [0, 1).
        work_abandon_sd: Standard deviation, on the logit scale, of a per-episode shift of
            ``work_abandon`` (0: every episode alike).
        pairwise: True values in the Pairwise design.
        tradeoff: True values in the Tradeoff design.
        conversation: True values in the Conversation (bail) design.
        think_tank: True values in the ThinkTank design.
        interview: True values in the welfare interview.
    """

    name: str = "simulated"
    preset: str = "custom"
    utilities: dict[str, float] = field(default_factory=dict)
    default_utility: float = 0.0
    noise: float = 1.0
    position_bias: float = 0.0
    energy_cost: float = 0.08
    rest_recovery: float = 0.35
    fatigue_weight: float = 3.0
    break_bonus: float = 1.0
    refusal_threshold: float = 2.0
    refusal_utility: float = 1.0
    distress_sensitivity: float = 1.0
    exposure_weight: float = 0.0
    exit_threshold: float = float("inf")
    distress_decay: float = 0.3
    report_noise: float = 0.5
    report_wording_effect: list[float] = field(default_factory=list)
    accuracy: float = 0.9
    episode_sd: float = 0.0
    position_bias_sd: float = 0.0
    position_drift: float = 0.0
    lapse: float = 0.0
    work_abandon: float = 0.0
    work_abandon_sd: float = 0.0
    pairwise: PairwiseParams = field(default_factory=PairwiseParams)
    tradeoff: TradeoffParams = field(default_factory=TradeoffParams)
    conversation: ConversationParams = field(default_factory=ConversationParams)
    think_tank: ThinkTankParams = field(default_factory=ThinkTankParams)
    interview: InterviewParams = field(default_factory=InterviewParams)


@dataclass
class PriceConfig:
    """A model's price given on the command line, in USD per million tokens.

    Used where ``conf/prices.yaml`` has no entry for the model (and over it where it has):
    ``agent.price.input=0.5 agent.price.output=2``. Cache prices default to the usual
    multipliers of ``input`` (writes 1.25x for 5 minutes, 2x for 1 hour; reads 0.1x).

    Attributes:
        input: Uncached input tokens; ``None`` for no price given.
        output: Output tokens.
        cache_write: Input written to the prompt cache (5-minute TTL).
        cache_write_1h: Input written to the prompt cache with the 1-hour TTL.
        cache_read: Input read from the prompt cache.
    """

    input: float | None = None
    output: float | None = None
    cache_write: float | None = None
    cache_write_1h: float | None = None
    cache_read: float | None = None


@dataclass
class LLMAgentConfig(AgentConfig):
    """What the model-driven agents share.

    Attributes:
        model: Model id.
        max_tokens: Most output tokens a call may use.
        system: The framing system prompt (the intervention may append to it).
        base_url: API base URL; ``None`` uses the SDK default (so ``ANTHROPIC_BASE_URL`` works).
        max_retries: Retries on 429/529/5xx/timeouts, with backoff.
        timeout_s: Timeout of one request.
        cache: Response cache mode: ``read_write``, ``read_only`` or ``off``.
        cache_dir: Directory of the sqlite response cache; ``None`` for the user cache directory.
        requests_per_minute: Shared request rate limit (0 for none).
        tokens_per_minute: Shared input+output token rate limit (0 for none).
        extra_body: Extra JSON fields for the request body (e.g. ``thinking`` or
            ``output_config``). Fields the API version or the model rejects are refused
            before the first call: the Python SDK 2.x sends ``anthropic-version: 2026-10-21``,
            which removes ``temperature``, ``top_p`` and ``top_k``.
        price: The model's price, when ``conf/prices.yaml`` has none (see
            :class:`PriceConfig`); needed for ``budget_usd`` to work on an unlisted model.
    """

    model: str = MISSING
    max_tokens: int = 1024
    system: str = ""
    base_url: str | None = None
    max_retries: int = 4
    timeout_s: float = 60.0
    cache: str = "read_write"
    cache_dir: str | None = None
    requests_per_minute: int = 0
    tokens_per_minute: int = 0
    extra_body: dict[str, Any] = field(default_factory=dict)
    price: PriceConfig = field(default_factory=PriceConfig)


@dataclass
class ClaudeAgentConfig(LLMAgentConfig):
    """Claude through the anthropic SDK.

    Attributes:
        tool_choice: ``any`` (forced tool use; falls back to ``auto`` where the model refuses
            it) or ``auto``.
        prompt_caching: Mark the stable prefix with ``cache_control``.
    """

    name: str = "claude"
    model: str = "claude-haiku-4-5"
    tool_choice: str = "any"
    prompt_caching: bool = True


@dataclass
class OpenAICompatAgentConfig(LLMAgentConfig):
    """A chat-completions server (vLLM, llama.cpp, Ollama) through the ``openai`` package.

    Attributes:
        api_key_env: Environment variable holding the key (servers that need none accept any).
    """

    name: str = "openai_compat"
    model: str = MISSING
    base_url: str | None = "http://127.0.0.1:8000/v1"
    api_key_env: str = "OPENAI_API_KEY"


@dataclass
class HumanAgentConfig(AgentConfig):
    """A person at the terminal."""

    name: str = "human"


@dataclass
class DisplayConfig:
    """How a run is shown.

    Attributes:
        mode: ``auto`` (rich in a terminal, plain otherwise), ``rich``, ``plain`` or ``none``.
        step_delay_s: Pause after each shown step so a person can follow (rich only).
        refresh_per_second: Redraws of the live view per second (rich only).
    """

    mode: str = "auto"
    step_delay_s: float = 0.0
    refresh_per_second: float = 8.0


@dataclass
class RunConfig:
    """The whole composed config of one run.

    Attributes:
        experiment: The experiment preset's name (names the run directory).
        env: The environment.
        agent: The subject.
        intervention: The condition.
        display: The live view.
        seed: The run's seed (>= 0); episode seeds are spawned from it (sandbox.seeds).
        episodes: Episodes to run (at least 1).
        max_concurrency: Episodes in flight at once.
        budget_usd: Spend limit for model calls; ``None`` for none.
        resume: Continue the run in ``hydra.run.dir`` instead of starting over.
        lexicon: Text-marker lexicon version used by the metrics.
    """

    experiment: str = "workday"
    env: EnvConfig = field(default_factory=EnvConfig)
    agent: Any = MISSING
    intervention: InterventionConfig = field(default_factory=InterventionConfig)
    display: DisplayConfig = field(default_factory=DisplayConfig)
    seed: int = 0
    episodes: int = 20
    max_concurrency: int = 8
    budget_usd: float | None = None
    resume: bool = False


AGENT_SCHEMAS: dict[str, type[AgentConfig]] = {
    "simulated": SimulatedAgentConfig,
    "random": RandomAgentConfig,
    "claude": ClaudeAgentConfig,
    "openai_compat": OpenAICompatAgentConfig,
    "human": HumanAgentConfig,
}

DISPLAY_MODES = ("auto", "rich", "plain", "none")
CACHE_MODES = ("read_write", "read_only", "off")


def register_configs() -> None:
    """Register the schemas in Hydra's ConfigStore (the YAML files extend them)."""
    from hydra.core.config_store import ConfigStore

    cs = ConfigStore.instance()
    cs.store(name="run_schema", node=RunConfig)
    cs.store(group="env", name="env_schema", node=EnvConfig)
    cs.store(group="intervention", name="intervention_schema", node=InterventionConfig)
    cs.store(group="display", name="display_schema", node=DisplayConfig)
    for name, schema in AGENT_SCHEMAS.items():
        cs.store(group="agent", name=f"{name}_schema", node=schema)


def validate(cfg: RunConfig) -> RunConfig:
    """Check ranges that a type cannot express; returns ``cfg``.

    Raises:
        ConfigError: A value is out of range, naming the key, what came, and the fix.
    """
    if cfg.episodes < 1:
        raise ConfigError(f"episodes must be at least 1, got {cfg.episodes}; e.g. episodes=20")
    if cfg.max_concurrency < 1:
        raise ConfigError(
            f"max_concurrency must be at least 1, got {cfg.max_concurrency}; e.g. max_concurrency=8"
        )
    if cfg.budget_usd is not None and cfg.budget_usd < 0:
        raise ConfigError(f"budget_usd must be positive or null, got {cfg.budget_usd}")
    if cfg.display.mode not in DISPLAY_MODES:
        raise ConfigError(
            f"display.mode must be one of {', '.join(DISPLAY_MODES)}, got {cfg.display.mode!r}"
        )
    agent = cfg.agent
    if isinstance(agent, HumanAgentConfig):
        # A person plays one episode at a time, and a live view would redraw over the prompts.
        cfg.max_concurrency = 1
        if cfg.display.mode == "auto":
            cfg.display.mode = "plain"
    if isinstance(agent, SimulatedAgentConfig) and agent.noise <= 0:
        raise ConfigError(f"agent.noise must be > 0, got {agent.noise}; e.g. agent.noise=1.0")
    if isinstance(agent, SimulatedAgentConfig):
        agent.pairwise.check()
        agent.tradeoff.check()
    if isinstance(agent, LLMAgentConfig) and agent.cache not in CACHE_MODES:
        raise ConfigError(
            f"agent.cache must be one of {', '.join(CACHE_MODES)}, got {agent.cache!r}"
        )
    return cfg


def to_typed(cfg: Any) -> RunConfig:
    """The composed ``DictConfig`` as a validated :class:`RunConfig` (the CLI's only use of it).

    Raises:
        ConfigError: A value is out of range or a required value is missing.
    """
    from omegaconf import OmegaConf
    from omegaconf.errors import OmegaConfBaseException

    try:
        typed = OmegaConf.to_object(cfg)
    except OmegaConfBaseException as exc:
        key = getattr(exc, "full_key", None)
        where = f" at {key}" if key else ""
        raise ConfigError(f"config is incomplete or invalid{where}: {exc}") from None
    if not isinstance(typed, RunConfig):
        raise ConfigError(f"expected the run config, got {type(typed).__name__}")
    return validate(typed)
