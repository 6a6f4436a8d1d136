"""Paper positions as the UIs act on them: open or close as a market order would fill now — at the latest recorded
best ask (buy) or bid (sell), else the latest trade price ± the stand-in half-spread — paying the taker fee, with the
outcome as a record the caller shows (a flash message, an API body). No Streamlit, no HTTP."""

from __future__ import annotations

from dataclasses import dataclass

import pandas as pd

import analytics
import database
from service.controls import fmt_price
from service.window import reader, writer


class PaperRefused(ValueError):
    """A paper action that cannot be carried out; the message says why, in the user's words."""


@dataclass(frozen=True)
class PaperCosts:
    """What a paper fill pays: the taker fee and the half-spread charged where no quote was recorded (bps)."""

    taker_fee_bps: float
    stand_in_spread_bps: float


@dataclass(frozen=True)
class PaperFill:
    """A paper action carried out: the position, the price it filled at (and whether from a recorded quote), the fee
    it paid, and the realised P&L (net of both fills' fees) when it closed."""

    position_id: int
    symbol: str
    side: database.PaperSide
    price: float
    fee: float
    quoted: bool
    realized_pnl: float | None = None

    def message(self, notional: float | None = None) -> str:
        """One line for the user: what was opened or closed, at what price, and what it paid."""
        where = "the recorded best bid/ask" if self.quoted else "the last trade ± the stand-in spread"
        paid = f" ({where}; fee {self.fee:,.2f} USDT)"
        if self.realized_pnl is None:
            size = f" worth {notional:,.0f} USDT" if notional is not None else ""
            return f"Opened {self.side} {self.symbol}{size} at {fmt_price(self.price)}{paid}."
        return (
            f"Closed #{self.position_id} {self.side} {self.symbol} at {fmt_price(self.price)}{paid}: "
            f"P&L {self.realized_pnl:+,.2f} USDT after fees."
        )


def _fill_price(db_target: str, symbol: str, buy: bool, costs: PaperCosts) -> tuple[float, bool]:
    """Where a market order fills now: the ask (buy) or bid (sell) of the latest quote bar at most
    analytics.QUOTE_MAX_AGE_S older than the latest trade, else that trade's price ± the stand-in half-spread."""
    with reader(db_target) as conn:
        last = database.last_prices(conn, [symbol]).get(symbol)
    if last is None:
        raise PaperRefused(f"No stored price for {symbol} yet.")
    since = pd.Timestamp(last[0], unit="ms", tz="UTC") - pd.Timedelta(seconds=analytics.QUOTE_MAX_AGE_S)
    quotes = database.quote_bars(db_target, symbol, since)
    if len(quotes):
        quote = quotes.iloc[-1]
        return float(quote["ask"] if buy else quote["bid"]), True
    half = last[1] * costs.stand_in_spread_bps * 1e-4
    return last[1] + half if buy else last[1] - half, False


def open_position(
    db_target: str, symbol: str, side: database.PaperSide, notional: float, costs: PaperCosts
) -> PaperFill:
    """Open a paper position worth `notional` USDT as a market order: bought at the ask (LONG) or sold at the bid
    (SHORT), paying the taker fee on the notional."""
    price, quoted = _fill_price(db_target, symbol, side == database.PaperSide.LONG, costs)
    with writer(db_target) as conn:
        position_id = database.open_paper_position(conn, symbol, side, notional, price)
    return PaperFill(
        position_id, symbol, database.PaperSide(side), price, notional * costs.taker_fee_bps * 1e-4, quoted
    )


def close_position(db_target: str, position: database.PaperPosition, costs: PaperCosts) -> PaperFill:
    """Close an open paper position as a market order (a LONG sells at the bid, a SHORT buys at the ask), at most once
    whoever asks; the realised P&L pays the taker fee on both fills (the current fee setting)."""
    price, quoted = _fill_price(db_target, position.symbol, position.side == database.PaperSide.SHORT, costs)
    fee_rate = costs.taker_fee_bps * 1e-4
    exit_fee = position.quantity * price * fee_rate
    fees = position.quantity * position.entry_price * fee_rate + exit_fee
    with writer(db_target) as conn:
        try:
            pnl = database.close_paper_position(conn, position.id, price, fees)
        except ValueError as exc:
            raise PaperRefused(str(exc)) from None
    return PaperFill(position.id, position.symbol, position.side, price, exit_fee, quoted, pnl)
