"""The price table: the shipped file, prefix matching of dated ids, costs."""

from __future__ import annotations

from pathlib import Path

import pytest

from sandbox.errors import ConfigError
from sandbox.llm import models
from sandbox.llm.prices import PriceTable, load_prices
from sandbox.records import Usage


def test_shipped_table_prices_every_current_model_and_no_retired_one():
    table = load_prices()
    assert table.source and table.as_of
    unpriced = {m for m in models.CURRENT_MODELS if table.get(m) is None}
    assert not unpriced
    assert not [m for m in table.models if m in models.RETIRED_MODELS]
    assert set(table.models) <= set(models.CURRENT_MODELS)
    for model in table.models:
        price = table.get(model)
        assert price is not None and price.output > price.input > price.cache_read
        assert price.cache_write_1h > price.cache_write > price.input
    # Read multipliers differ by model: 0.1x on Haiku 4.5, 0.05x on Opus 5.5, 0.025x on Fable 5.1.
    for model, ratio in (
        ("claude-haiku-4-5", 0.1),
        ("claude-opus-5-5", 0.05),
        ("claude-fable-5-1", 0.025),
    ):
        price = table.get(model)
        assert price is not None and price.cache_read == pytest.approx(ratio * price.input)


def test_dated_ids_take_the_alias_price():
    table = load_prices()
    assert table.get("claude-haiku-4-5-20251001") == table.get("claude-haiku-4-5")
    assert table.get("claude-opus-4-5-20251101") == table.get("claude-opus-4-5")
    assert table.get("claude-opus-4-50") is None
    assert table.get("gpt-something") is None


def test_cost_and_worst_case():
    table = load_prices()
    usage = Usage(
        input_tokens=1_000_000,
        output_tokens=1_000_000,
        cache_read_input_tokens=1_000_000,
        cache_creation_input_tokens=1_000_000,
    )
    assert table.cost("claude-haiku-4-5", usage) == pytest.approx(1.0 + 5.0 + 0.1 + 1.25)
    assert table.cost("unknown", usage) is None
    assert table.worst_case("claude-haiku-4-5", 1000, 1000) == pytest.approx(
        (1000 * 1.25 + 1000 * 5) / 1e6
    )
    assert table.worst_case("unknown", 1, 1) is None
    assert "claude-haiku-4-5" in table.to_dict()["models"]


def test_bad_tables(tmp_path: Path):
    with pytest.raises(ConfigError, match="does not exist"):
        load_prices(tmp_path / "missing.yaml")
    bad = tmp_path / "bad.yaml"
    bad.write_text("models:\n  m: {output: 1}\n")
    with pytest.raises(ConfigError, match="lacks 'input'"):
        load_prices(bad)
    bad.write_text("models:\n  m: {input: cheap, output: 1}\n")
    with pytest.raises(ConfigError, match="not a number"):
        load_prices(bad)
    bad.write_text("- 1\n")
    with pytest.raises(ConfigError):
        load_prices(bad)
    defaults = PriceTable.from_dict({"models": {"m": {"input": 2, "output": 4}}})
    price = defaults.get("m")
    assert price is not None and price.cache_write == 2.5 and price.cache_read == pytest.approx(0.2)
