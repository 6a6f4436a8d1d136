"""The funding tables: funding_rates (one row per settlement: rate, mark price, interval) and funding_now (the
live markPrice stream's current rate and next settlement per symbol), and their reads for the analytics and the
dashboard."""

from __future__ import annotations

import contextlib
import math
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING

import pandas as pd

from feed.funding import funding_gaps as settlement_gaps
from storage.connection import open_reader
from storage.sql import Connection, bound_ms, transaction

if TYPE_CHECKING:
    from data_feed import FundingRate, MarkPrice

FUNDING_COLUMNS = ["rate", "mark_price", "interval_hours"]


@dataclass(frozen=True)
class NextFunding:
    """What the next settlement of a symbol looks like now: the current funding rate, when it settles, the mark
    price, the interval (hours; None while unknown) and when this was true (the markPrice update's time)."""

    symbol: str
    rate: float
    next_funding_time: pd.Timestamp
    mark_price: float
    interval_hours: float | None
    as_of: pd.Timestamp


def write_funding_rates(conn: Connection, rates: Sequence[FundingRate]) -> int:
    """Store settlements once per (symbol, funding_time) in one transaction; a settlement seen again (a REST page
    and an archive file of one month, a resumed backfill) replaces the stored one, and a known mark price is never
    replaced by an unknown one. Returns the rows written."""
    rows = [
        (r.symbol, int(r.funding_time), float(r.rate), _or_none(r.mark_price), float(r.interval_hours)) for r in rates
    ]
    if not rows:
        return 0
    with transaction(conn):
        conn.executemany(
            "INSERT INTO funding_rates(symbol, funding_time, rate, mark_price, interval_hours) VALUES (?,?,?,?,?) "
            "ON CONFLICT(symbol, funding_time) DO UPDATE SET rate=excluded.rate, "
            "mark_price=coalesce(excluded.mark_price, funding_rates.mark_price), "
            "interval_hours=excluded.interval_hours",
            rows,
        )
    return len(rows)


def write_mark_prices(conn: Connection, updates: Iterable[MarkPrice], interval_hours: dict[str, float]) -> int:
    """Keep the latest markPrice update per symbol (current rate, next funding time, mark) in funding_now, with the
    symbol's current funding interval where known; an older update never replaces a newer one."""
    latest: dict[str, MarkPrice] = {}
    for u in updates:
        if u.symbol not in latest or u.timestamp >= latest[u.symbol].timestamp:
            latest[u.symbol] = u
    rows = [
        (u.symbol, u.rate, u.next_funding_time, u.mark_price, interval_hours.get(u.symbol), u.timestamp)
        for u in latest.values()
    ]
    if not rows:
        return 0
    with transaction(conn):
        conn.executemany(
            "INSERT INTO funding_now(symbol, rate, next_funding_time, mark_price, interval_hours, as_of) "
            "VALUES (?,?,?,?,?,?) ON CONFLICT(symbol) DO UPDATE SET rate=excluded.rate, "
            "next_funding_time=excluded.next_funding_time, mark_price=excluded.mark_price, "
            "interval_hours=coalesce(excluded.interval_hours, funding_now.interval_hours), as_of=excluded.as_of "
            "WHERE excluded.as_of >= funding_now.as_of",
            rows,
        )
    return len(rows)


def funding_rates(
    db_target: str, symbol: str, start: pd.Timestamp | None = None, end: pd.Timestamp | None = None
) -> pd.DataFrame:
    """Stored settlements of a symbol in [start, end): indexed by settlement time (UTC, ascending, named
    "funding_time"), columns rate, mark_price (NaN where unknown) and interval_hours."""
    with contextlib.closing(open_reader(db_target)) as conn:
        rows = conn.execute(
            "SELECT funding_time, rate, mark_price, interval_hours FROM funding_rates WHERE symbol=? "
            "AND funding_time>=? AND funding_time<? ORDER BY funding_time",
            (symbol, bound_ms(start, 0), bound_ms(end, 2**62)),
        ).fetchall()
    frame = pd.DataFrame(rows, columns=["funding_time", *FUNDING_COLUMNS])
    index = pd.DatetimeIndex(
        pd.to_datetime(frame.pop("funding_time"), unit="ms", utc=True), name="funding_time"
    ).as_unit("ns")
    return frame.set_index(index).astype(float)


def funding_gaps(db_target: str, symbol: str) -> list[tuple[pd.Timestamp, pd.Timestamp]]:
    """Where a symbol's stored settlements are further apart than Binance's longest interval (8 h): (the settlement
    before, the one after) of each hole, the settlements between them missing from the store."""
    with contextlib.closing(open_reader(db_target)) as conn:
        rows = conn.execute(
            "SELECT funding_time FROM funding_rates WHERE symbol=? ORDER BY funding_time", (symbol,)
        ).fetchall()
    times = [int(r[0]) for r in rows]
    return [(_utc(a), _utc(b)) for a, b in settlement_gaps(times)]


def _utc(ms: int) -> pd.Timestamp:
    return pd.Timestamp(ms, unit="ms", tz="UTC")


def last_funding_time(conn: Connection, symbol: str) -> int | None:
    """The latest stored settlement of a symbol (epoch ms), where a funding backfill resumes; None if none."""
    row = conn.execute("SELECT max(funding_time) FROM funding_rates WHERE symbol=?", (symbol,)).fetchone()
    return None if row is None or row[0] is None else int(row[0])


def next_funding(db_target: str, symbol: str) -> NextFunding | None:
    """The live markPrice stream's latest word on a symbol's next settlement (its interval from the stream's row,
    else from the latest stored settlement); None before any update was stored."""
    with contextlib.closing(open_reader(db_target)) as conn:
        row = conn.execute(
            "SELECT n.rate, n.next_funding_time, n.mark_price, coalesce(n.interval_hours, (SELECT f.interval_hours "
            "FROM funding_rates f WHERE f.symbol=n.symbol ORDER BY f.funding_time DESC LIMIT 1)), n.as_of "
            "FROM funding_now n WHERE n.symbol=?",
            (symbol,),
        ).fetchone()
    if row is None:
        return None
    rate, next_ms, mark, interval, as_of = row
    return NextFunding(
        symbol,
        float(rate),
        pd.Timestamp(next_ms, unit="ms", tz="UTC"),
        float(mark),
        None if interval is None else float(interval),
        pd.Timestamp(as_of, unit="ms", tz="UTC"),
    )


def _or_none(value: float | None) -> float | None:
    return None if value is None or not math.isfinite(value) else float(value)
