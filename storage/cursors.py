"""The live id cursor per (symbol, id space): where a live feed's trade-id sequence stands. aggTrade ids, trade ids
and replayed or uploaded ids are different numberings, so each space has its own cursor, and only a live feed's
writer moves one (an upload can never make gap detection or catch-up start from a foreign id)."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

from storage.sql import Connection


@dataclass(frozen=True, slots=True)
class IdCursor:
    """The highest trade id (and its exchange time) a live feed stored for a symbol in one id space."""

    symbol: str
    space: str
    last_id: int
    last_ts: int | None


def load_cursors(conn: Connection, space: str) -> dict[str, IdCursor]:
    """Every symbol's cursor in one id space."""
    rows = conn.execute("SELECT symbol, space, last_id, last_ts FROM id_cursors WHERE space=?", (space,))
    return {r[0]: IdCursor(*r) for r in rows}


def save_cursors(conn: Connection, cursors: Iterable[IdCursor]) -> None:
    """Upsert cursors (inside the caller's transaction: the ticks and their cursor commit together)."""
    conn.executemany(
        "INSERT INTO id_cursors(symbol, space, last_id, last_ts) VALUES (?,?,?,?) "
        "ON CONFLICT(symbol, space) DO UPDATE SET last_id=excluded.last_id, last_ts=excluded.last_ts",
        [(c.symbol, c.space, c.last_id, c.last_ts) for c in cursors],
    )
