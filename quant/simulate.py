"""Money accounting of a pairs backtest's round trips: leg quantities in whole contract steps, re-hedging, fills at the
bid/ask, fees, funding, and the P&L per bar and per trade by source.

Why: quant/backtest.py decides when to trade; this module says what the trades earned, so the accounting can be read
(and reconciled against an independent simulator in the tests) on its own.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass

import numpy as np
import pandas as pd

from quant.costs import (
    CostBreakdown,
    CostModel,
    PairMarket,
    fill_costs,
    funding_by_bar,
    notional_problem,
    whole_steps,
)


def fill_bars(n: int, sig_out: np.ndarray, codes: np.ndarray) -> np.ndarray:
    """Exit fill bars: the bar after the exit signal, or the last bar for positions closed at the end (code 3)."""
    return np.where(codes == 3, n - 1, sig_out + 1)


def holding_bars(entries: np.ndarray, exits: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Bars holding a position (entry fill ≤ t < exit fill) and the trade number of each."""
    lengths = exits - entries
    k = np.repeat(np.arange(entries.size), lengths)
    offsets = np.arange(int(lengths.sum())) - np.repeat(np.cumsum(lengths) - lengths, lengths)
    return entries[k] + offsets, k


@dataclass(frozen=True)
class PnlParts:
    """P&L by source in USDT, one value per bar or per trade: price P&L per leg, costs (positive = paid), funding per
    leg (positive = received)."""

    price_pnl_x: np.ndarray
    price_pnl_y: np.ndarray
    fees: np.ndarray
    spread_cost: np.ndarray
    slippage: np.ndarray
    funding_x: np.ndarray
    funding_y: np.ndarray

    @property
    def net(self) -> np.ndarray:
        """Price P&L + funding − fees − spread cost − slippage."""
        gains = self.price_pnl_x + self.price_pnl_y + self.funding_x + self.funding_y
        return gains - self.fees - self.spread_cost - self.slippage

    def summed(self, bounds: np.ndarray) -> PnlParts:
        """Each part summed over [bounds[2k], bounds[2k+1]) (per trade)."""

        def part(values: np.ndarray) -> np.ndarray:
            return np.add.reduceat(np.append(values, 0.0), bounds)[::2] if bounds.size else np.zeros(0)

        return PnlParts(**{f.name: part(getattr(self, f.name)) for f in dataclasses.fields(self)})

    def frame(self, index: pd.Index) -> pd.DataFrame:
        """The parts and `net` as columns."""
        columns = {f.name: getattr(self, f.name) for f in dataclasses.fields(self)}
        return pd.DataFrame({**columns, "net": self.net}, index=index)


@dataclass(frozen=True)
class Refusal:
    """A round trip the contract rules would not let through: its signal bar, side (+1 long) and why."""

    signal_bar: int
    side: float
    reason: str


@dataclass(frozen=True)
class Simulation:
    """What the kept round trips earned: their signal arrays, fills, per-bar quantities and P&L by source, the same
    summed per trade, and the totals."""

    trades: tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]  # signal in, side, signal out, exit code
    refused: tuple[Refusal, ...]
    entries: np.ndarray
    exits: np.ndarray
    qx: np.ndarray
    qy: np.ndarray
    unhedged_x: np.ndarray  # per trade: −beta·qy − qx at entry (x base units left unhedged by the step rounding)
    bar: PnlParts
    equity: np.ndarray
    per_trade: PnlParts
    rehedges: np.ndarray
    n_held: int
    breakdown: CostBreakdown


def _leg_quantities(
    px: np.ndarray, py: np.ndarray, beta: np.ndarray, trades: tuple[np.ndarray, ...], capital: float, costs: CostModel
) -> tuple[np.ndarray, np.ndarray, np.ndarray, tuple[Refusal, ...]]:
    """Entry quantities in whole contract steps: y sized so the gross notional at the entry close is `capital`, x the
    whole steps of −beta·y. Returns (keep mask, qy, qx of the kept trades, refusals): a trade whose leg rounds to
    zero steps or falls below the minimum notional is refused."""
    sig_in, side = trades[0], trades[1]
    entries = sig_in + 1
    qy = whole_steps(side * capital / (py[entries] + np.abs(beta[sig_in]) * px[entries]), costs.y.rules)
    qx = whole_steps(-qy * beta[sig_in], costs.x.rules)
    keep = np.ones(entries.size, dtype=bool)
    refused: list[Refusal] = []
    if costs.x.rules is not None or costs.y.rules is not None:
        for i, e in enumerate(entries):
            why = notional_problem("y", qy[i], py[e], costs.y.rules) or notional_problem(
                "x", qx[i], px[e], costs.x.rules
            )
            if why is not None:
                keep[i] = False
                refused.append(Refusal(int(sig_in[i]), float(side[i]), why))
    return keep, qy[keep], qx[keep], tuple(refused)


def _x_path(
    px: np.ndarray,
    beta: np.ndarray,
    entries: np.ndarray,
    exits: np.ndarray,
    quantities: tuple[np.ndarray, np.ndarray],
    rehedge_bars: int | None,
    costs: CostModel,
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """The x quantity held after each bar: fixed at entry, or re-sized to whole steps of −beta·qy every
    `rehedge_bars` (beta of the bar before), skipping a re-size below the minimum notional. Returns (qx per bar,
    held bars, their trade)."""
    qy, qx = quantities
    held, k = holding_bars(entries, exits)
    out = np.zeros(px.size)
    if rehedge_bars is None:
        out[held] = qx[k]
        return out, held, k
    anchor = entries[k] + (held - entries[k]) // rehedge_bars * rehedge_bars
    at = held == anchor
    target = np.zeros(px.size)
    target[held[at]] = whole_steps(-qy[k[at]] * beta[held[at] - 1], costs.x.rules)
    rules = costs.x.rules
    if rules is not None and rules.min_notional > 0:
        current = 0.0
        for bar, trade_entry in zip(held[at], entries[k[at]], strict=True):
            if bar == trade_entry or abs(target[bar] - current) * px[bar] >= rules.min_notional:
                current = target[bar]
            else:
                target[bar] = current
    out[held] = target[anchor]
    return out, held, k


def simulate(
    px: np.ndarray,
    py: np.ndarray,
    beta: np.ndarray,
    trades: tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray],
    market: PairMarket,
    capital: float,
    rehedge_bars: int | None,
    slippage_bps: float,
) -> Simulation:
    """Money accounting of the signal trades: two legs on fixed notional `capital`, marked to market at closes.

    Long spread = long qy of y and short beta·qy of x, qy = capital / (p_y + |beta|·p_x) at the entry close in whole
    steps (no compounding); beta is the causal value at the signal bar, then at each re-hedge bar the one at the bar
    before. Every leg change fills at the leg's mid ± half-spread (recorded quote, else stand-in) ± slippage and pays
    the fee on its notional; funding is paid or received at each settlement the legs are open across. Price P&L is
    marked at the bar closes and, at a fill, at the fill's mid.
    """
    costs = market.costs
    keep, qy_entry, qx_entry, refused = _leg_quantities(px, py, beta, trades, capital, costs)
    sig_in, side, sig_out, codes = (a[keep] for a in trades)
    n = px.size
    entries = sig_in + 1
    exits = fill_bars(n, sig_out, codes)
    qx, held, k = _x_path(px, beta, entries, exits, (qy_entry, qx_entry), rehedge_bars, costs)
    qy = np.zeros(n)
    qy[held] = qy_entry[k]
    fills, quoted, legs = {}, {}, {}
    for name, q, p, prices, leg in (("x", qx, px, market.x, costs.x), ("y", qy, py, market.y, costs.y)):
        dq = np.diff(q, prepend=0.0)
        marked = np.zeros(n)
        marked[1:] = q[:-1] * np.diff(p)
        legs[name] = (
            marked,
            fill_costs(dq, p, prices, costs, slippage_bps),
            funding_by_bar(q, market.close_ns, p, leg),
        )
        fills[name], quoted[name] = int((dq != 0).sum()), int(((dq != 0) & prices.quoted).sum())
    (marked_x, paid_x, funding_x), (marked_y, paid_y, funding_y) = legs["x"], legs["y"]
    bar = PnlParts(
        price_pnl_x=marked_x + paid_x.mid_adjustment,
        price_pnl_y=marked_y + paid_y.mid_adjustment,
        fees=paid_x.fees + paid_y.fees,
        spread_cost=paid_x.spread + paid_y.spread,
        slippage=paid_x.slippage + paid_y.slippage,
        funding_x=funding_x,
        funding_y=funding_y,
    )
    rebar = held[(held != entries[k]) & (np.diff(qx, prepend=0.0)[held] != 0)]
    return Simulation(
        trades=(sig_in, side, sig_out, codes),
        refused=refused,
        entries=entries,
        exits=exits,
        qx=qx,
        qy=qy,
        unhedged_x=-qy_entry * beta[sig_in] - qx_entry,
        bar=bar,
        equity=capital + np.cumsum(bar.net),
        per_trade=bar.summed(np.column_stack([entries, exits + 1]).ravel()),
        rehedges=np.bincount(np.searchsorted(entries, rebar, side="right") - 1, minlength=entries.size),
        n_held=int(held.size),
        breakdown=CostBreakdown(
            **{f.name: float(getattr(bar, f.name).sum()) for f in dataclasses.fields(bar)},
            net=float(bar.net.sum()),
            fills_x=fills["x"],
            fills_y=fills["y"],
            quoted_fills_x=quoted["x"],
            quoted_fills_y=quoted["y"],
        ),
    )
