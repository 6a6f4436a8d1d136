"""The paper_positions table: simulated positions opened and closed at stored prices (the Portfolio tab)."""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from enum import StrEnum

from core.clock import now_ms
from storage.sql import Connection, inserted_id, transaction


class PaperSide(StrEnum):
    """A position's direction, as stored in paper_positions.side."""

    LONG = "LONG"
    SHORT = "SHORT"


@dataclass(frozen=True)
class PaperPosition:
    """A simulated position opened at a stored price; closed ones carry their realised P&L."""

    id: int
    symbol: str
    side: PaperSide
    quantity: float
    entry_price: float
    opened_at: int
    exit_price: float | None
    closed_at: int | None
    realized_pnl: float | None

    def unrealized_pnl(self, price: float) -> float:
        """P&L in quote currency if closed at `price` (long gains when price rises)."""
        sign = 1.0 if self.side == PaperSide.LONG else -1.0
        return sign * (price - self.entry_price) * self.quantity


_POSITION_COLUMNS = ", ".join(f.name for f in dataclasses.fields(PaperPosition))


def open_paper_position(conn: Connection, symbol: str, side: PaperSide, notional: float, price: float) -> int:
    """Open a LONG or SHORT paper position worth `notional` quote units at `price`; return its id."""
    if side not in tuple(PaperSide) or notional <= 0 or price <= 0:
        raise ValueError(f"cannot open a {side} position of {notional} at {price}: need LONG/SHORT and positive sizes")
    return inserted_id(
        conn.execute(
            "INSERT INTO paper_positions(symbol, side, quantity, entry_price, opened_at) "
            "VALUES (?,?,?,?,?) RETURNING id",
            (symbol, side, notional / price, price, now_ms()),
        )
    )


def close_paper_position(conn: Connection, position_id: int, price: float, fees: float = 0.0) -> float:
    """Close an open paper position at `price`, store and return the realised P&L less `fees` (quote units). Read
    and update are one transaction and the update requires the position still open, so two tabs cannot close it
    twice."""
    with transaction(conn):
        row = conn.execute(
            f"SELECT {_POSITION_COLUMNS} FROM paper_positions WHERE id=? AND closed_at IS NULL", (position_id,)
        ).fetchone()
        if row is None:
            raise ValueError(f"paper position {position_id} is not open (already closed, or no such position)")
        pnl = _position(row).unrealized_pnl(price) - fees
        cur = conn.execute(
            "UPDATE paper_positions SET exit_price=?, closed_at=?, realized_pnl=? WHERE id=? AND closed_at IS NULL",
            (price, now_ms(), pnl, position_id),
        )
        if cur.rowcount != 1:
            raise ValueError(f"paper position {position_id} was closed by someone else meanwhile")
    return pnl


def list_paper_positions(conn: Connection) -> list[PaperPosition]:
    """Every paper position, open ones first, newest first."""
    rows = conn.execute(
        f"SELECT {_POSITION_COLUMNS} FROM paper_positions ORDER BY closed_at IS NOT NULL, id DESC"
    ).fetchall()
    return [_position(r) for r in rows]


def _position(row: tuple) -> PaperPosition:
    position = PaperPosition(*row)
    return dataclasses.replace(position, side=PaperSide(position.side))
