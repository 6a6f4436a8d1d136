"""The gaps table (runs of missing trade ids and what became of them) and the backfill_state table (resumable
history jobs): the collector's repair bookkeeping."""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence
from dataclasses import dataclass

from core.clock import now_ms
from core.vocabulary import BackfillStatus, GapStatus
from storage.sql import Connection, in_clause, inserted_id


@dataclass(frozen=True)
class Gap:
    """A run of missing trade ids for one symbol and what became of it (open, repaired, unrepairable)."""

    id: int
    symbol: str
    first_missing_id: int
    last_missing_id: int
    from_ts: int | None
    to_ts: int | None
    detected_at: int
    status: GapStatus
    repaired_count: int
    note: str

    def __post_init__(self) -> None:
        object.__setattr__(self, "status", GapStatus(self.status))  # a row's text, checked and typed


# Gap's fields in order: rows are selected by name, so a column added to the table later cannot shift them.
_GAP_COLUMNS = ", ".join(f.name for f in dataclasses.fields(Gap))


@dataclass(frozen=True)
class SavedBackfill:
    """A backfill job's saved progress (a row of backfill_state): its span, the cursor reached (None before the
    first page) and its status."""

    symbol: str
    kind: str
    start_ms: int
    end_ms: int
    cursor: int | None
    status: BackfillStatus

    def __post_init__(self) -> None:
        object.__setattr__(self, "status", BackfillStatus(self.status))


def record_gap(
    conn: Connection,
    symbol: str,
    first_id: int,
    last_id: int,
    from_ts: int | None,
    to_ts: int | None,
    status: GapStatus = GapStatus.OPEN,
    note: str = "",
    repaired_count: int = 0,
) -> int:
    """Insert a detected gap and return its id."""
    return inserted_id(
        conn.execute(
            "INSERT INTO gaps(symbol, first_missing_id, last_missing_id, from_ts, to_ts, detected_at, status, note, "
            "repaired_count) VALUES (?,?,?,?,?,?,?,?,?) RETURNING id",
            (symbol, first_id, last_id, from_ts, to_ts, now_ms(), status, note, repaired_count),
        )
    )


def update_gap(conn: Connection, gap_id: int, status: GapStatus, repaired_count: int, note: str = "") -> None:
    """Set a gap's outcome after a repair attempt."""
    conn.execute(
        "UPDATE gaps SET status=?, repaired_count=?, note=? WHERE id=?", (status, repaired_count, note, gap_id)
    )


def list_gaps(conn: Connection, symbols: Sequence[str] | None = None, limit: int = 500) -> list[Gap]:
    """Most recent gaps first, optionally for some symbols only."""
    if symbols:
        rows = conn.execute(
            f"SELECT {_GAP_COLUMNS} FROM gaps WHERE symbol IN ({in_clause(symbols)}) ORDER BY id DESC LIMIT ?",
            (*symbols, limit),
        ).fetchall()
    else:
        rows = conn.execute(f"SELECT {_GAP_COLUMNS} FROM gaps ORDER BY id DESC LIMIT ?", (limit,)).fetchall()
    return [Gap(*r) for r in rows]


def open_gaps(conn: Connection, symbols: Sequence[str]) -> list[Gap]:
    """Gaps still waiting for a repair (one was interrupted by a stop or a crash), oldest first."""
    if not symbols:
        return []
    rows = conn.execute(
        f"SELECT {_GAP_COLUMNS} FROM gaps WHERE status=? AND symbol IN ({in_clause(symbols)}) ORDER BY id",
        (GapStatus.OPEN, *symbols),
    ).fetchall()
    return [Gap(*r) for r in rows]


def get_backfill(conn: Connection, symbol: str, kind: str) -> SavedBackfill | None:
    """A backfill job's saved progress, or None when there is none."""
    row = conn.execute(
        "SELECT start_ms, end_ms, cursor, status FROM backfill_state WHERE symbol=? AND kind=?", (symbol, kind)
    ).fetchone()
    return None if row is None else SavedBackfill(symbol, kind, *row)


def save_backfill(
    conn: Connection, symbol: str, kind: str, start_ms: int, end_ms: int, cursor: int | None, status: BackfillStatus
) -> None:
    """Persist a backfill job's progress so an interrupted backfill resumes where it stopped."""
    conn.execute(
        "INSERT INTO backfill_state(symbol, kind, start_ms, end_ms, cursor, status, updated_at) "
        "VALUES (?,?,?,?,?,?,?) ON CONFLICT(symbol, kind) DO UPDATE SET start_ms=excluded.start_ms, "
        "end_ms=excluded.end_ms, cursor=excluded.cursor, status=excluded.status, "
        "updated_at=excluded.updated_at",
        (symbol, kind, start_ms, end_ms, cursor, status, now_ms()),
    )
