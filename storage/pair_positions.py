"""The pair_positions table: two-leg paper positions of a watched pair, opened and closed as one position, with the
fill prices, fees and spread cost of each side. At most one is open per watched pair, and a position closes once:
both are guarded by the database (a partial unique index, a conditional update), so two tabs or two API clients
acting at once cannot open twice or close twice."""

from __future__ import annotations

import dataclasses
import enum
from dataclasses import dataclass

from storage.paper import PaperSide
from storage.sql import Connection, limit_clause


class LegStatus(enum.StrEnum):
    """How both legs filled: together, or one of them on a price older than the other's by more than allowed."""

    OK = "ok"
    LAGGING = "lagging"


@dataclass(frozen=True)
class PairOpening:
    """Both legs' fills of a new position: signed quantities (a long spread is long y, short x), the hedge ratio
    it was sized with, the mid each leg filled around (a fill is the mid ± the half-spread), costs (fees, spread) of
    the entry, how the legs filled and the imbalance between them (|x − (−β·y)| / |β·y|, after rounding to whole
    steps)."""

    watch_id: int
    symbol_x: str
    symbol_y: str
    side: PaperSide
    qty_x: float
    qty_y: float
    beta: float
    entry_price_x: float
    entry_price_y: float
    opened_at: int
    entry_fees: float
    entry_spread: float
    leg_status: LegStatus
    imbalance: float
    entry_signal_id: int | None = None

    @property
    def unhedged_x(self) -> float:
        """Units of x the whole-step rounding left unhedged: −β·qty_y − qty_x (the backtest's unhedged_x)."""
        return -self.beta * self.qty_y - self.qty_x


@dataclass(frozen=True)
class PairClosing:
    """Both legs' exit fills (the mids, as at the opening), their costs, why it closed (a signal kind's text, or
    "manual") and the realised P&L (price P&L of both legs + funding − fees − spread cost)."""

    exit_price_x: float
    exit_price_y: float
    closed_at: int
    exit_fees: float
    exit_spread: float
    close_reason: str
    realized_pnl: float
    exit_signal_id: int | None = None


@dataclass(frozen=True)
class PairPosition:
    """A stored two-leg position; the closing fields are None while it is open."""

    id: int
    opening: PairOpening
    closing: PairClosing | None

    @property
    def is_open(self) -> bool:
        return self.closing is None


_OPEN_COLUMNS = tuple(f.name for f in dataclasses.fields(PairOpening))
_CLOSE_COLUMNS = tuple(f.name for f in dataclasses.fields(PairClosing))
_SELECT = f"SELECT id, {', '.join(_OPEN_COLUMNS)}, {', '.join(_CLOSE_COLUMNS)} FROM pair_positions"


def _position(row: tuple) -> PairPosition:
    n = len(_OPEN_COLUMNS)
    opening = PairOpening(*row[1 : n + 1])
    opening = dataclasses.replace(opening, side=PaperSide(opening.side), leg_status=LegStatus(opening.leg_status))
    closed = row[n + 1 :]
    return PairPosition(int(row[0]), opening, PairClosing(*closed) if closed[2] is not None else None)


def open_pair_position(conn: Connection, opening: PairOpening) -> int | None:
    """Store a new open position and return its id; None (nothing stored) when the watched pair already has an open
    position or the signal already opened one."""
    values = tuple(str(v) if isinstance(v, enum.Enum) else v for v in dataclasses.astuple(opening))
    row = conn.execute(
        f"INSERT INTO pair_positions({', '.join(_OPEN_COLUMNS)}) VALUES ({', '.join('?' * len(_OPEN_COLUMNS))}) "
        "ON CONFLICT DO NOTHING RETURNING id",
        values,
    ).fetchone()
    return None if row is None else int(row[0])


def close_pair_position(conn: Connection, position_id: int, closing: PairClosing) -> bool:
    """Close an open position (one conditional update: of two closers at once exactly one succeeds); False when
    it was not open."""
    cur = conn.execute(
        f"UPDATE pair_positions SET {', '.join(f'{c}=?' for c in _CLOSE_COLUMNS)} WHERE id=? AND closed_at IS NULL",
        (*dataclasses.astuple(closing), position_id),
    )
    return cur.rowcount == 1


def list_pair_positions(
    conn: Connection, watch_id: int | None = None, open_only: bool = False, limit: int | None = 500
) -> list[PairPosition]:
    """Positions, open ones first, newest first; of one watched pair or all."""
    where = [c for c, on in (("watch_id=?", watch_id is not None), ("closed_at IS NULL", open_only)) if on]
    clause = f" WHERE {' AND '.join(where)}" if where else ""
    rows = conn.execute(
        f"{_SELECT}{clause} ORDER BY closed_at IS NOT NULL, id DESC{limit_clause(limit)}",
        (watch_id,) if watch_id is not None else (),
    ).fetchall()
    return [_position(r) for r in rows]


def get_pair_position(conn: Connection, position_id: int) -> PairPosition | None:
    """One position, or None."""
    row = conn.execute(f"{_SELECT} WHERE id=?", (position_id,)).fetchone()
    return None if row is None else _position(row)
