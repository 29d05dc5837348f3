"""Model prices: what a call costs, from ``conf/prices.yaml``.

Prices are US dollars per million tokens for five kinds of token (uncached input, output, input
written to the prompt cache for 5 minutes or for 1 hour, input read from it). The cache
multipliers differ by model (Fable 5.1 reads at 0.025x input, Opus 5.5 and Sonnet 5.5 at
0.05x, most others at 0.1x), so each entry states its own. A dated model id such as
``claude-haiku-4-5-20251001`` takes the price of the longest listed id it starts with, so the
table lists aliases only. A model the table does not know costs ``None``: the run log says so
rather than pretending it was free.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

from sandbox.errors import ConfigError
from sandbox.records import Usage

log = logging.getLogger(__name__)

PRICES_FILE = "prices.yaml"
_PER_TOKEN = 1e-6


@dataclass(frozen=True, slots=True)
class ModelPrice:
    """One model's prices in USD per million tokens.

    Attributes:
        input: Uncached input tokens.
        output: Output tokens.
        cache_write: Input tokens written to the prompt cache with the default 5-minute TTL
            (what ``cache_creation_input_tokens`` counts for this project's requests).
        cache_read: Input tokens read from the prompt cache.
        cache_write_1h: Input tokens written with the 1-hour TTL.
    """

    input: float
    output: float
    cache_write: float
    cache_read: float
    cache_write_1h: float = 0.0

    def __post_init__(self) -> None:
        if not self.cache_write_1h:
            object.__setattr__(self, "cache_write_1h", 2.0 * self.input)

    def cost(self, usage: Usage) -> float:
        """The cost in USD of the tokens in ``usage``."""
        return _PER_TOKEN * (
            usage.input_tokens * self.input
            + usage.output_tokens * self.output
            + usage.cache_creation_input_tokens * self.cache_write
            + usage.cache_read_input_tokens * self.cache_read
        )


class PriceTable:
    """Prices per model id, with the source and date they were taken from.

    Args:
        models: Model id -> price.
        source: Where the prices come from.
        as_of: When they were read from the source.
    """

    def __init__(self, models: Mapping[str, ModelPrice], *, source: str = "", as_of: str = ""):
        self.models = dict(models)
        self.source = source
        self.as_of = as_of

    def get(self, model: str) -> ModelPrice | None:
        """The price of ``model``: its own entry, else the longest listed id it extends."""
        if model in self.models:
            return self.models[model]
        best: str | None = None
        for known in self.models:
            rest = model[len(known) :]
            # "claude-haiku-4-5-20251001" extends "claude-haiku-4-5"; "claude-opus-4-50" would
            # not extend "claude-opus-4-5", hence the separator check.
            if (
                model.startswith(known)
                and rest[:1] in ("-", "@", ":")
                and (best is None or len(known) > len(best))
            ):
                best = known
        return self.models[best] if best is not None else None

    def with_price(self, model: str, price: ModelPrice) -> PriceTable:
        """A copy of this table in which ``model`` costs ``price`` (a price given on the
        command line)."""
        models = {**self.models, model: price}
        return PriceTable(models, source=f"{self.source}; {model}: command line", as_of=self.as_of)

    def cost(self, model: str, usage: Usage) -> float | None:
        """The cost of ``usage`` on ``model`` in USD, or ``None`` when the price is unknown."""
        price = self.get(model)
        return None if price is None else price.cost(usage)

    def worst_case(self, model: str, input_tokens: int, max_tokens: int) -> float | None:
        """The most a call can cost: every input token at the dearer of the input and
        cache-write prices, and ``max_tokens`` of output. ``None`` for an unknown model."""
        price = self.get(model)
        if price is None:
            return None
        per_input = max(price.input, price.cache_write)
        return _PER_TOKEN * (input_tokens * per_input + max_tokens * price.output)

    def to_dict(self) -> dict[str, Any]:
        """The table as plain data (for ``run.json``)."""
        return {
            "source": self.source,
            "as_of": self.as_of,
            "models": {
                k: {
                    "input": p.input,
                    "output": p.output,
                    "cache_write": p.cache_write,
                    "cache_write_1h": p.cache_write_1h,
                    "cache_read": p.cache_read,
                }
                for k, p in self.models.items()
            },
        }

    @classmethod
    def from_dict(cls, data: Mapping[str, Any], *, origin: str = "prices") -> PriceTable:
        """Build a table from the YAML file's structure.

        Raises:
            ConfigError: An entry lacks a price or holds a non-number, naming it.
        """
        raw_models = data.get("models")
        if not isinstance(raw_models, Mapping):
            raise ConfigError(f"{origin}: expected a 'models' mapping of model id -> prices")
        models: dict[str, ModelPrice] = {}
        for model, entry in raw_models.items():
            if not isinstance(entry, Mapping):
                raise ConfigError(f"{origin}: models.{model} must be a mapping of prices")
            try:
                models[str(model)] = ModelPrice(
                    input=float(entry["input"]),
                    output=float(entry["output"]),
                    cache_write=float(entry.get("cache_write", 1.25 * float(entry["input"]))),
                    cache_read=float(entry.get("cache_read", 0.1 * float(entry["input"]))),
                    cache_write_1h=float(entry.get("cache_write_1h", 2.0 * float(entry["input"]))),
                )
            except KeyError as exc:
                raise ConfigError(
                    f"{origin}: models.{model} lacks {exc.args[0]!r}; expected input, output, "
                    "cache_write and cache_read in USD per million tokens"
                ) from None
            except (TypeError, ValueError):
                raise ConfigError(
                    f"{origin}: models.{model} holds a price that is not a number: {dict(entry)}"
                ) from None
        return cls(models, source=str(data.get("source", "")), as_of=str(data.get("as_of", "")))


def default_prices_path() -> Path:
    """``prices.yaml`` in the project's config directory (a checkout's ``conf/``)."""
    from sandbox.paths import config_dir

    return config_dir() / PRICES_FILE


def load_prices(path: str | Path | None = None) -> PriceTable:
    """Read a price table (default: the project's ``conf/prices.yaml``).

    Raises:
        ConfigError: The file is missing or not a valid price table.
    """
    file = Path(path) if path is not None else default_prices_path()
    try:
        data = yaml.safe_load(file.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise ConfigError(f"price table {file} does not exist") from None
    except yaml.YAMLError as exc:
        raise ConfigError(f"price table {file} is not valid YAML: {exc}") from None
    if not isinstance(data, Mapping):
        raise ConfigError(f"price table {file} must be a mapping with a 'models' key")
    return PriceTable.from_dict(data, origin=str(file))
