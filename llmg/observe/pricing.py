"""Cost of an answer from its token usage: llmg/pricing.toml, overridden by [pricing."provider/model"].

Prices are per million tokens. Cached prompt tokens are part of the prompt count (OpenAI's sense),
so they are charged at the cached price and the rest of the prompt at the input price. A model
with no price has an unknown cost (None), never 0: an operator summing costs must see the gap.
"""

from __future__ import annotations

import tomllib
from dataclasses import dataclass
from pathlib import Path

from ..config import PriceConfig

_TABLE = Path(__file__).resolve().parent.parent / "pricing.toml"


@dataclass(slots=True, frozen=True)
class Price:
    input: float
    output: float
    cached: float

    def cost(self, prompt: int, completion: int, cached: int) -> float:
        cached = min(cached, prompt)
        return ((prompt - cached) * self.input + cached * self.cached + completion * self.output) / 1_000_000


def _price(input: float, output: float, cached: float | None) -> Price:
    return Price(input, output, input if cached is None else cached)


def load_table(path: Path = _TABLE) -> dict[str, Price]:
    with path.open("rb") as f:
        models = tomllib.load(f).get("models", {})
    return {name: _price(float(e["input"]), float(e["output"]), e.get("cached")) for name, e in models.items()}


class Prices:
    """Looked up once per (provider/model) and cached: the hot path pays one dict lookup."""

    def __init__(self, overrides: dict[str, PriceConfig], table: dict[str, Price] | None = None) -> None:
        self.table = dict(load_table() if table is None else table)
        for name, p in overrides.items():
            self.table[name] = _price(p.input, p.output, p.cached)

    def get(self, model: str) -> Price | None:
        return self.table.get(model)
