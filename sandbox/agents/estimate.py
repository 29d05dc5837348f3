"""Sizing prompts and pricing a run before its first call.

The budget (:mod:`sandbox.budget`), not these estimates, is what stops spending. Two guesses
live here: :data:`CHARS_PER_TOKEN_ESTIMATE`, by which the shared loop sizes a request it is
about to send (to reserve its worst case and to ask the rate limiter), and the run's expected
cost that the runner shows first (:meth:`~sandbox.agents.model.ModelBuilder.estimate_cost`,
from :func:`prompt_sizes`, :func:`estimate_usage` and :func:`estimate_cost`). A price given on
the command line (``agent.price``) is merged into the table by :func:`with_config_price`.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from environments.core import ActionKind
from sandbox.agents.tools import episode_letters, tool_specs
from sandbox.config import LLMAgentConfig
from sandbox.errors import ConfigError
from sandbox.llm.cache import canonical_json
from sandbox.llm.prices import ModelPrice, PriceTable
from sandbox.records import Usage

#: Characters per token when a request's size must be guessed before it is sent; low on
#: purpose, so that budget reservations err on the side of caution.
CHARS_PER_TOKEN_ESTIMATE = 3
#: Minimum cacheable length assumed for a model the catalogue does not know.
DEFAULT_MIN_CACHE_TOKENS = 4096


def min_cache_tokens(model: str) -> int:
    """The model's minimum cacheable prompt length (:mod:`sandbox.llm.models`)."""
    from sandbox.llm.models import model_info

    info = model_info(model)
    return info.min_cache_tokens if info is not None else DEFAULT_MIN_CACHE_TOKENS


def tokens_of(block: Any) -> int:
    """Tokens of one prompt block, guessed as a quarter of its JSON (never below 1)."""
    return max(1, len(canonical_json(block)) // 4)


# -- prices given on the command line ----------------------------------------------------------


def with_config_price(prices: PriceTable, cfg: LLMAgentConfig) -> PriceTable:
    """``prices`` with the model's price from ``agent.price`` when one was given.

    Raises:
        ConfigError: Only one of ``input`` and ``output`` was given.
    """
    given = getattr(cfg, "price", None)
    if given is None or (given.input is None and given.output is None):
        return prices
    if given.input is None or given.output is None:
        raise ConfigError(
            "agent.price needs both input and output (USD per million tokens), got "
            f"input={given.input} output={given.output}; e.g. agent.price.input=1 "
            "agent.price.output=5"
        )
    price = ModelPrice(
        input=float(given.input),
        output=float(given.output),
        cache_write=float(
            given.cache_write if given.cache_write is not None else 1.25 * given.input
        ),
        cache_read=float(given.cache_read if given.cache_read is not None else 0.1 * given.input),
        cache_write_1h=float(
            given.cache_write_1h if given.cache_write_1h is not None else 2.0 * given.input
        ),
    )
    return prices.with_price(cfg.model, price)


def enforceable_prices(
    prices: PriceTable, cfg: LLMAgentConfig, limit_usd: float | None
) -> PriceTable:
    """``prices`` with ``agent.price`` merged in (:func:`with_config_price`), refusing a budget
    that a model with no price could not enforce.

    Raises:
        ConfigError: A budget is set and the model has no price; or ``agent.price`` is half given.
    """
    table = with_config_price(prices, cfg)
    if limit_usd is not None and table.get(cfg.model) is None:
        # A budget must never be unenforceable: without a price no call has a cost.
        raise ConfigError(
            f"budget_usd={limit_usd:g} cannot be enforced: model {cfg.model!r} has "
            "no price in conf/prices.yaml; give one on the command line "
            "(agent.price.input=<USD per million input tokens> "
            "agent.price.output=<USD per million output tokens>) or drop budget_usd"
        )
    return table


def price_parameters(prices: PriceTable, model: str) -> dict[str, Any] | None:
    """The model's price as ``run.json`` records it (``None``: no price)."""
    price = prices.get(model)
    if price is None:
        return None
    return {
        "input": price.input,
        "output": price.output,
        "cache_write": price.cache_write,
        "cache_write_1h": price.cache_write_1h,
        "cache_read": price.cache_read,
        "source": prices.source,
        "as_of": prices.as_of,
    }


# -- cost before the first call ----------------------------------------------------------------

#: Assumptions of :func:`estimate_cost` where the caller gives no measured sizes, in tokens.
ESTIMATE_TOOLS_TOKENS = 700
ESTIMATE_OBSERVATION_TOKENS = 300
#: Output tokens of one answer: a tool call with a short note (the call is also what the
#: next prompt carries as the assistant turn).
ESTIMATE_ANSWER_TOKENS = 50
#: Tokens of a tool result's wrapping (ids, type), per step.
ESTIMATE_CALL_TOKENS = 15


@dataclass(frozen=True, slots=True)
class PromptSizes:
    """Sizes :func:`estimate_cost` works from, in tokens (a quarter of their JSON).

    Attributes:
        tools: The episode's tool list.
        system: The system prompt.
        observation: One observation as the model sees it.
        answer: One answer's output tokens.
    """

    tools: int
    system: int
    observation: int
    answer: int = ESTIMATE_ANSWER_TOKENS


def prompt_sizes(
    cfg: LLMAgentConfig,
    observation: Mapping[str, Any] | None = None,
    kinds: Sequence[ActionKind] | None = None,
    exit_mode: str = "consequential",
    system_suffix: str = "",
) -> PromptSizes:
    """The sizes of a run's prompts, measured from an environment's first observation when
    one is given (the runner has it before the first call), else the defaults above.

    Args:
        cfg: The agent's config (system prompt).
        observation: An observation (``text``, ``menu``, ``action_mask``).
        kinds: Every kind the episode can offer (default: those of ``observation``).
        exit_mode: The exit tool's wording.
        system_suffix: The condition's addition to the system prompt.
    """
    system = "\n\n".join(p for p in (cfg.system.strip(), system_suffix.strip()) if p)
    system_tokens = tokens_of({"type": "text", "text": system}) if system else 0
    if observation is None:
        return PromptSizes(ESTIMATE_TOOLS_TOKENS, system_tokens, ESTIMATE_OBSERVATION_TOKENS)
    from environments.core import kinds_of

    menu = [str(line) for line in observation.get("menu", ())]
    offered = list(kinds) if kinds else kinds_of(observation["action_mask"])
    specs = tool_specs(offered, episode_letters(menu), exit_mode)
    tools = sum(
        tokens_of({"name": s.name, "description": s.description, "input_schema": s.input_schema})
        for s in specs
    )
    text = str(observation.get("text", ""))
    return PromptSizes(tools, system_tokens, tokens_of({"type": "text", "text": text}))


def estimate_usage(
    cfg: LLMAgentConfig, steps_per_episode: int, sizes: PromptSizes | None = None
) -> Usage:
    """The tokens of one episode of ``steps_per_episode`` steps, by the prompt cache's rules.

    The same rules as the requests (:class:`~sandbox.agents.claude.AnthropicAdapter`) and the API: a
    breakpoint at the end of each newest user turn writes the prompt so far, but only once it
    reaches the model's minimum cacheable length; the next call reads what the last one wrote and
    writes the new turn; the tools-and-system prefix is read by later episodes only when it is
    itself long enough. Before the minimum everything is uncached input.
    """
    sizes = sizes or prompt_sizes(cfg)
    caching = bool(getattr(cfg, "prompt_caching", False))
    minimum = min_cache_tokens(cfg.model)
    prefix = sizes.tools + sizes.system
    turn = sizes.observation + sizes.answer + ESTIMATE_CALL_TOKENS
    usage = Usage()
    written = prefix if caching and prefix >= minimum else 0  # from earlier episodes
    for k in range(max(0, steps_per_episode)):
        prompt = prefix + k * turn + sizes.observation
        usage.output_tokens += sizes.answer
        usage.calls += 1
        if not caching or prompt < minimum:
            usage.input_tokens += prompt - written
            usage.cache_read_input_tokens += written
            continue
        usage.cache_read_input_tokens += written
        usage.cache_creation_input_tokens += prompt - written
        written = prompt
    return usage


def estimate_cost(
    cfg: LLMAgentConfig,
    prices: PriceTable,
    episodes: int,
    steps_per_episode: int,
    sizes: PromptSizes | None = None,
) -> float | None:
    """The expected cost of a run in USD, for the runner to show before the first call.

    Every episode is assumed to run all ``steps_per_episode`` steps, with prompts of ``sizes``
    (:func:`prompt_sizes`; measured from the environment's first observation when the caller
    gives one), accounted by :func:`estimate_usage`. Returns ``None`` for a model with no
    price. The budget, not this estimate, is what stops spending.
    """
    price = with_config_price(prices, cfg).get(cfg.model)
    if price is None:
        return None
    return price.cost(estimate_usage(cfg, steps_per_episode, sizes)) * max(0, episodes)
