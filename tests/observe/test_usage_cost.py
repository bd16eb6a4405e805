"""Usage kinds from each provider's names, and the price table's arithmetic and completeness."""

from __future__ import annotations

import tomllib
from pathlib import Path

import pytest

from llmg.config import PriceConfig
from llmg.limits.usage import StreamMeter, body_usage
from llmg.observe.pricing import Price, Prices


def test_openai_usage_with_cached_and_reasoning_parts() -> None:
    body = (b'{"id":"x","usage":{"prompt_tokens":100,"completion_tokens":50,"total_tokens":150,'
            b'"prompt_tokens_details":{"cached_tokens":40},"completion_tokens_details":{"reasoning_tokens":30}}}')
    assert body_usage(body).kinds() == (100, 50, 40, 30)


def test_anthropic_usage_counts_cache_reads_in_the_prompt() -> None:
    body = b'{"type":"message","usage":{"input_tokens":10,"output_tokens":5,"cache_read_input_tokens":90}}'
    assert body_usage(body).kinds() == (100, 5, 90, 0)


def test_responses_api_usage_names() -> None:
    body = (b'{"usage":{"input_tokens":12,"output_tokens":7,"input_tokens_details":{"cached_tokens":2},'
            b'"output_tokens_details":{"reasoning_tokens":3}}}')
    assert body_usage(body).kinds() == (12, 7, 2, 3)


def test_no_usage_is_none_not_zero() -> None:
    assert body_usage(b'{"id":"x","choices":[]}') is None
    meter = StreamMeter(drop_usage_chunk=False)
    meter.feed(b'data: {"choices":[{"delta":{"content":"a"}}]}\n\n')
    assert meter.usage is None


def test_stream_meter_keeps_the_whole_usage() -> None:
    meter = StreamMeter(drop_usage_chunk=True)
    out = meter.feed(b'data: {"choices":[],"usage":{"prompt_tokens":3,"completion_tokens":4,'
                     b'"completion_tokens_details":{"reasoning_tokens":1}}}\n\ndata: [DONE]\n\n')
    assert out == b"data: [DONE]\n\n"
    assert meter.usage.kinds() == (3, 4, 0, 1) and meter.tokens == 7


def test_cost_charges_cached_tokens_at_the_cached_price() -> None:
    price = Price(input=2.0, output=8.0, cached=0.5)
    assert price.cost(prompt=1_000_000, completion=1_000_000, cached=400_000) == pytest.approx(0.6 * 2 + 0.4 * 0.5 + 8)


def test_overrides_and_unknown_models() -> None:
    prices = Prices({"openai/gpt-4o": PriceConfig(input=1.0, output=2.0), "x/y": PriceConfig(input=3, output=4, cached=1)})
    assert prices.get("openai/gpt-4o") == Price(1.0, 2.0, 1.0)  # cached unset: charged as input
    assert prices.get("x/y") == Price(3, 4, 1)
    assert prices.get("nobody/nothing") is None


def test_every_price_says_where_and_when_it_was_taken() -> None:
    table = tomllib.loads((Path(__file__).parents[2] / "llmg" / "pricing.toml").read_text())["models"]
    assert len(table) >= 10
    for name, entry in table.items():
        assert "/" in name and entry["source"].startswith("https://") and len(entry["date"]) == 10, name
        assert entry["input"] >= 0 and entry["output"] >= 0, name
