"""A USD-M contract's trading rules (exchangeInfo's PRICE_FILTER tick, LOT_SIZE step, MIN_NOTIONAL), shared by the feed
that reads them, the store that keeps them and the analytics that size orders by them."""

from __future__ import annotations

import math
from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class ContractRules:
    """Price tick, quantity step (base units) and minimum order notional (quote units) of one symbol."""

    symbol: str
    tick_size: float
    step_size: float
    min_notional: float

    def __post_init__(self) -> None:
        for name in ("tick_size", "step_size"):
            value = getattr(self, name)
            if not (math.isfinite(value) and value > 0):
                raise ValueError(f"{self.symbol}: {name} must be a positive number, got {value!r}")
        if not (math.isfinite(self.min_notional) and self.min_notional >= 0):
            raise ValueError(f"{self.symbol}: min_notional must be ≥ 0, got {self.min_notional!r}")

    def whole_steps(self, quantity: float) -> float:
        """`quantity` rounded toward zero to whole steps (an order can only be placed in whole steps)."""
        steps = math.floor(abs(quantity) / self.step_size + 1e-9)
        return math.copysign(round(steps * self.step_size, 12), quantity) if steps else 0.0
