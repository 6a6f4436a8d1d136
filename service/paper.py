"""Paper positions as the UIs act on them: open or close at the latest stored price, with the outcome as a record
the caller shows (a flash message, an API body). No Streamlit, no HTTP."""

from __future__ import annotations

from dataclasses import dataclass

import database
from service.controls import fmt_price
from service.window import reader, writer


class PaperRefused(ValueError):
    """A paper action that cannot be carried out; the message says why, in the user's words."""


@dataclass(frozen=True)
class PaperFill:
    """A paper action carried out: the position, the price it filled at, and the realised P&L when it closed."""

    position_id: int
    symbol: str
    side: database.PaperSide
    price: float
    realized_pnl: float | None = None

    def message(self, notional: float | None = None) -> str:
        """One line for the user: what was opened or closed, at what price."""
        if self.realized_pnl is None:
            size = f" worth {notional:,.0f} USDT" if notional is not None else ""
            return f"Opened {self.side} {self.symbol}{size} at {fmt_price(self.price)}."
        return (
            f"Closed #{self.position_id} {self.side} {self.symbol} at {fmt_price(self.price)}: "
            f"P&L {self.realized_pnl:+,.2f} USDT."
        )


def _last_price(db_target: str, symbol: str) -> float:
    with reader(db_target) as conn:
        price = database.last_prices(conn, [symbol]).get(symbol)
    if price is None:
        raise PaperRefused(f"No stored price for {symbol} yet.")
    return price[1]


def open_position(db_target: str, symbol: str, side: database.PaperSide, notional: float) -> PaperFill:
    """Open a paper position worth `notional` USDT at the symbol's latest stored trade price."""
    price = _last_price(db_target, symbol)
    with writer(db_target) as conn:
        position_id = database.open_paper_position(conn, symbol, side, notional, price)
    return PaperFill(position_id, symbol, database.PaperSide(side), price)


def close_position(db_target: str, position: database.PaperPosition) -> PaperFill:
    """Close an open paper position at its symbol's latest stored price (at most once, whoever asks)."""
    price = _last_price(db_target, position.symbol)
    with writer(db_target) as conn:
        try:
            pnl = database.close_paper_position(conn, position.id, price)
        except ValueError as exc:
            raise PaperRefused(str(exc)) from None
    return PaperFill(position.id, position.symbol, position.side, price, pnl)
