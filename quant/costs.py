"""What a pair trade really pays on USD-M perpetuals: funding at each settlement, fills at the bid/ask (or a stand-in
half-spread where no quotes were recorded), taker/maker fees and whole contract steps.

Why: a trade-price P&L with a flat fee ignores the two costs that decide most crypto pair trades (funding and the
spread); the backtest (quant/backtest.py) reads its costs from the records here and reports them by source.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from core.contracts import ContractRules
from core.vocabulary import Liquidity

QUOTE_MAX_AGE_S = 60.0  # a quote bar older than this at a fill is stale: the stand-in cost is used instead
_SECOND_NS = 1_000_000_000


@dataclass(frozen=True)
class LegMarket:
    """Recorded market data of one leg: 1-second quote bars (`bid`, `ask`, indexed by second), funding settlements
    (`rate`, `mark_price`, indexed by settlement time) and the contract's rules; None where nothing is recorded."""

    quotes: pd.DataFrame | None = field(default=None, compare=False)
    funding: pd.DataFrame | None = field(default=None, compare=False)
    rules: ContractRules | None = None


@dataclass(frozen=True)
class CostModel:
    """Fees (basis points of the fill notional), the stand-in half-spread (bps of the bar close, charged where a leg
    has no usable quote) and each leg's recorded market data."""

    taker_fee_bps: float = 4.0
    maker_fee_bps: float = 2.0
    stand_in_half_spread_bps: float = 0.0
    liquidity: Liquidity = Liquidity.TAKER
    x: LegMarket = LegMarket()
    y: LegMarket = LegMarket()

    def __post_init__(self) -> None:
        for name in ("taker_fee_bps", "maker_fee_bps", "stand_in_half_spread_bps"):
            value = getattr(self, name)
            if not (math.isfinite(value) and value >= 0):
                raise ValueError(f"cost model: {name} must be a number ≥ 0, got {value!r}")
        object.__setattr__(self, "liquidity", Liquidity(self.liquidity))

    @property
    def fee_bps(self) -> float:
        """The fee the model's fills pay (taker or maker)."""
        return self.taker_fee_bps if self.liquidity is Liquidity.TAKER else self.maker_fee_bps


def charged_costs(fee_bps: float, costs: CostModel | None) -> CostModel:
    """The costs a simulation (backtest, sweep, walk-forward) charges: the given model, whose taker fee must be the
    simulation's `fee_bps`, else that fee alone."""
    if costs is None:
        return CostModel(taker_fee_bps=fee_bps)
    if costs.taker_fee_bps != fee_bps:
        raise ValueError(
            f"fee_bps ({fee_bps:g}) and the cost model's taker fee ({costs.taker_fee_bps:g}) disagree: give one"
        )
    return costs


@dataclass(frozen=True)
class CostBreakdown:
    """A backtest's P&L by source, in USDT: price P&L per leg (marked at the mid of each fill), fees, spread cost
    (the half-spread crossed per fill, negative for maker fills), slippage, funding per leg (positive = received),
    net; and how many fills per leg were priced from recorded quotes rather than the stand-in."""

    price_pnl_x: float
    price_pnl_y: float
    fees: float
    spread_cost: float
    slippage: float
    funding_x: float
    funding_y: float
    net: float
    fills_x: int
    fills_y: int
    quoted_fills_x: int
    quoted_fills_y: int

    @property
    def gross(self) -> float:
        """Price P&L of both legs, before any cost."""
        return self.price_pnl_x + self.price_pnl_y

    @property
    def funding(self) -> float:
        """Funding of both legs."""
        return self.funding_x + self.funding_y

    @property
    def stand_in_fills(self) -> int:
        """Fills priced with the stand-in half-spread (no recorded quote at that bar)."""
        return self.fills_x + self.fills_y - self.quoted_fills_x - self.quoted_fills_y


def _utc_ns(index: pd.Index, name: str) -> np.ndarray:
    """Epoch nanoseconds of a tz-aware, increasing DatetimeIndex, or ValueError naming `name`."""
    if not isinstance(index, pd.DatetimeIndex) or index.tz is None:
        raise ValueError(f"{name} must be indexed by tz-aware UTC times, got {type(index).__name__}")
    if not index.is_monotonic_increasing:
        raise ValueError(f"{name}: times must be increasing")
    return index.tz_convert("UTC").as_unit("ns").asi8


def funding_payments(position: pd.Series, funding: pd.DataFrame) -> pd.Series:
    """Funding cash flow per settlement in USDT, positive when received: −qty × mark_price × rate (a long pays a
    positive rate), qty being the position in force just BEFORE the settlement instant.

    `position` is a step function of the signed base quantity (each value holds from its time until the next; flat
    before the first). A fill stamped exactly at a settlement falls AFTER it: Binance charges the position open at
    the settlement timestamp, so a position opened at that instant pays nothing and one closed at it pays.
    """
    if not isinstance(position, pd.Series):
        raise ValueError(f"position must be a pandas Series of signed quantities, got {type(position).__name__}")
    if not isinstance(funding, pd.DataFrame) or not {"rate", "mark_price"} <= set(funding.columns):
        raise ValueError("funding must be a DataFrame with columns rate and mark_price, indexed by settlement time")
    pos_ns, set_ns = _utc_ns(position.index, "position"), _utc_ns(funding.index, "funding")
    qty = position.to_numpy(dtype=np.float64)
    rate, mark = funding["rate"].to_numpy(dtype=np.float64), funding["mark_price"].to_numpy(dtype=np.float64)
    for name, values, where in (("position", qty, position.index), ("rate", rate, funding.index)):
        bad = ~np.isfinite(values)
        if bad.any():
            raise ValueError(f"{name} is not a finite number at {where[int(np.argmax(bad))]}")
    before = np.searchsorted(pos_ns, set_ns, side="left") - 1
    held = np.where(before >= 0, qty[np.maximum(before, 0)], 0.0)
    unpriced = (held != 0) & ~(np.isfinite(mark) & (mark > 0))
    if unpriced.any():
        raise ValueError(f"funding has no mark price at {funding.index[int(np.argmax(unpriced))]} for an open position")
    cash = -held * np.where(held != 0, mark, 0.0) * rate + 0.0
    return pd.Series(cash, index=funding.index, name="funding")


@dataclass(frozen=True)
class LegPrices:
    """Per bar of one leg: the mid and half-spread a fill at that bar's close uses, and whether they came from a
    recorded quote (else the bar close and the stand-in half-spread)."""

    mid: np.ndarray
    half: np.ndarray
    quoted: np.ndarray


def bar_close_ns(index: pd.Index, bar_seconds: float) -> np.ndarray:
    """Epoch ns of each bar's close (bars are stamped at their open)."""
    return _utc_ns(index, "the prices") + round(bar_seconds * _SECOND_NS)


def leg_prices(closes: np.ndarray, close_ns: np.ndarray | None, leg: LegMarket, stand_in_bps: float) -> LegPrices:
    """Where a fill at each bar's close trades: the last 1-second quote bar complete by that close (not older than
    QUOTE_MAX_AGE_S, bid ≤ ask, both positive), else the close ± the stand-in half-spread."""
    mid, half = closes.astype(np.float64).copy(), closes * stand_in_bps * 1e-4
    quoted = np.zeros(closes.size, dtype=bool)
    quotes = leg.quotes
    if quotes is None or quotes.empty:
        return LegPrices(mid, half, quoted)
    if close_ns is None:
        raise ValueError("quotes need prices indexed by UTC time (a DatetimeIndex)")
    if not {"bid", "ask"} <= set(quotes.columns):
        raise ValueError("quotes must have columns bid and ask")
    ends = _utc_ns(quotes.index, "quotes") + _SECOND_NS
    j = np.searchsorted(ends, close_ns, side="right") - 1
    bid = quotes["bid"].to_numpy(dtype=np.float64)[np.maximum(j, 0)]
    ask = quotes["ask"].to_numpy(dtype=np.float64)[np.maximum(j, 0)]
    age = close_ns - ends[np.maximum(j, 0)]
    quoted = (j >= 0) & (age <= QUOTE_MAX_AGE_S * _SECOND_NS) & (bid > 0) & (ask >= bid)
    mid[quoted] = (bid[quoted] + ask[quoted]) / 2
    half[quoted] = (ask[quoted] - bid[quoted]) / 2
    return LegPrices(mid, half, quoted)


def funding_by_bar(qty: np.ndarray, close_ns: np.ndarray | None, closes: np.ndarray, leg: LegMarket) -> np.ndarray:
    """Funding cash of one leg booked to the bar whose (open, close] holds each settlement; `qty[t]` is held from
    bar t's close. A settlement without a mark price is priced at that bar's close."""
    out = np.zeros(qty.size)
    funding = leg.funding
    if funding is None or funding.empty:
        return out
    if close_ns is None:
        raise ValueError("funding needs prices indexed by UTC time (a DatetimeIndex)")
    if not {"rate", "mark_price"} <= set(funding.columns):
        raise ValueError("funding must have columns rate and mark_price, indexed by settlement time")
    bars = np.searchsorted(close_ns, _utc_ns(funding.index, "funding"), side="left")
    inside = bars < qty.size
    window = funding[inside].copy()
    mark = window["mark_price"].to_numpy(dtype=np.float64)
    window["mark_price"] = np.where(np.isfinite(mark) & (mark > 0), mark, closes[bars[inside]])
    position = pd.Series(qty, index=pd.DatetimeIndex(close_ns, tz="UTC"))
    cash = funding_payments(position, window).to_numpy()
    return np.bincount(bars[inside], cash, minlength=qty.size)


def whole_steps(quantities: np.ndarray, rules: ContractRules | None) -> np.ndarray:
    """Each quantity rounded toward zero to whole contract steps (unchanged without rules)."""
    if rules is None or quantities.size == 0:
        return quantities.astype(np.float64)
    return np.array([rules.whole_steps(float(q)) for q in quantities], dtype=np.float64)


def notional_problem(symbol_leg: str, qty: float, price: float, rules: ContractRules | None) -> str | None:
    """Why an order of `qty` at `price` cannot be placed under the contract's rules (zero steps or below the minimum
    notional), or None when it can."""
    if rules is None:
        return None
    if qty == 0:
        return f"{symbol_leg} leg ({rules.symbol}) rounds to 0 steps of {rules.step_size:g}"
    if abs(qty) * price < rules.min_notional:
        return (
            f"{symbol_leg} leg ({rules.symbol}) notional {abs(qty) * price:,.2f} USDT is below the minimum "
            f"{rules.min_notional:g} USDT"
        )
    return None


@dataclass(frozen=True)
class PairMarket:
    """A cost model laid out on a pair's bars: each bar's close time and each leg's fill prices."""

    costs: CostModel
    close_ns: np.ndarray | None  # None for prices without a time index (no quotes, no funding possible)
    x: LegPrices
    y: LegPrices


def pair_market(index: pd.Index, px: np.ndarray, py: np.ndarray, bar_seconds: float, costs: CostModel) -> PairMarket:
    """The cost model's quotes read at each bar's close, once per backtest or sweep."""
    close_ns = bar_close_ns(index, bar_seconds) if isinstance(index, pd.DatetimeIndex) else None
    bps = costs.stand_in_half_spread_bps
    return PairMarket(costs, close_ns, leg_prices(px, close_ns, costs.x, bps), leg_prices(py, close_ns, costs.y, bps))


@dataclass(frozen=True)
class FillCosts:
    """Per bar of one leg, for the quantity traded there (`dq`, + bought): the price P&L of filling at the mid rather
    than the close, the spread cost, the slippage and the fee (all USDT; costs positive)."""

    mid_adjustment: np.ndarray
    spread: np.ndarray
    slippage: np.ndarray
    fees: np.ndarray


def fill_costs(
    dq: np.ndarray, closes: np.ndarray, prices: LegPrices, costs: CostModel, slippage_bps: float
) -> FillCosts:
    """A buy fills at mid + half-spread (taker; − for maker), a sell at mid − half-spread, each moved by the slippage
    against the order; the fee is charged on the fill notional."""
    direction = np.sign(dq)
    lean = 1.0 if costs.liquidity is Liquidity.TAKER else -1.0
    size = np.abs(dq)
    touch = prices.mid + direction * lean * prices.half
    slip = slippage_bps * 1e-4
    return FillCosts(
        mid_adjustment=-dq * (prices.mid - closes),
        spread=lean * size * prices.half,
        slippage=size * touch * slip,
        fees=size * touch * (1.0 + direction * slip) * costs.fee_bps * 1e-4,
    )


def pair_cost_bps(market: PairMarket, beta: float, slippage_bps: float) -> float:
    """What one fill of a unit of spread (1 y, β x) costs in bps of its gross notional at the last bar: the fee and
    slippage plus each leg's median half-spread over the bars (recorded quotes, else the stand-in; earned by maker
    fills), weighted by the legs' notionals. The round trip the OU-optimal band pays (quant.ou_bands.round_trip_cost);
    funding is left out (it depends on how long the trade is held). Never below 0."""
    lean = 1.0 if market.costs.liquidity is Liquidity.TAKER else -1.0
    legs = []
    for prices in (market.x, market.y):
        half = float(np.median(prices.half / prices.mid)) if prices.mid.size else 0.0
        legs.append((market.costs.fee_bps + slippage_bps + lean * half * 1e4, float(prices.mid[-1])))
    (bps_x, px), (bps_y, py) = legs
    return max(0.0, (bps_y * py + bps_x * abs(beta) * px) / (py + abs(beta) * px))
