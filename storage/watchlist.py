"""The watchlist and signal_events tables: pairs followed with their hedge, windows, bands and paper sizing, and
the signal events the monitor writes on each new bar of them (one per pair, bar and kind)."""

from __future__ import annotations

import dataclasses
import enum
from collections.abc import Sequence
from dataclasses import dataclass

from core.clock import now_ms
from core.vocabulary import BandKind, SignalKind, WatchSource
from storage.sql import Connection, inserted_id, limit_clause, transaction


@dataclass(frozen=True)
class WatchSpec:
    """What a user chooses for a watched pair: x and y legs (y ≈ α + β·x), bar timeframe, hedge method and windows,
    bands (z levels for BandKind.FIXED_Z), the paper position's gross notional and costs (fee and a stand-in spread
    cost where no quotes exist, bps per leg per fill), and whether signals open and close paper positions."""

    symbol_x: str
    symbol_y: str
    timeframe: str = "1s"
    hedge_method: str = "rolling"
    hedge_window: int = 300
    z_window: int = 60
    band_kind: BandKind = BandKind.FIXED_Z
    entry: float = 2.0
    exit: float = 0.0
    stop: float | None = None
    max_hold_bars: int | None = None
    capital: float = 10_000.0
    fee_bps: float = 4.0
    cost_bps: float = 1.0
    auto_trade: bool = False
    source: WatchSource = WatchSource.MANUAL

    def __post_init__(self) -> None:  # a row's text (or a caller's value), checked and typed
        object.__setattr__(self, "band_kind", BandKind(self.band_kind))
        object.__setattr__(self, "source", WatchSource(self.source))
        object.__setattr__(self, "auto_trade", bool(self.auto_trade))


@dataclass(frozen=True)
class Watch:
    """A stored watched pair: its spec, id, when it was added, the last bar the monitor evaluated (epoch ms) and
    whether, after a stop or max-hold exit, re-entry still waits for |z| ≤ entry (the monitor's resumable state)."""

    id: int
    spec: WatchSpec
    created_at: int
    evaluated_ms: int | None
    rearm: bool = False

    @property
    def pair(self) -> tuple[str, str]:
        return self.spec.symbol_x, self.spec.symbol_y


_SPEC_COLUMNS = tuple(f.name for f in dataclasses.fields(WatchSpec))
_WATCH_SELECT = f"SELECT id, {', '.join(_SPEC_COLUMNS)}, created_at, evaluated_ms, rearm FROM watchlist"


def _watch(row: Sequence) -> Watch:
    n = len(_SPEC_COLUMNS)
    return Watch(int(row[0]), WatchSpec(*row[1 : n + 1]), row[n + 1], row[n + 2], bool(row[n + 3]))


def add_watch(conn: Connection, spec: WatchSpec) -> int:
    """Store a watched pair and return its id (a pair already watched at that timeframe is a ValueError)."""
    with transaction(conn):
        if conn.execute(
            "SELECT id FROM watchlist WHERE symbol_x=? AND symbol_y=? AND timeframe=?",
            (spec.symbol_x, spec.symbol_y, spec.timeframe),
        ).fetchone():
            raise ValueError(f"{spec.symbol_y} vs {spec.symbol_x} at {spec.timeframe} is already watched")
        values = tuple(getattr(spec, name) for name in _SPEC_COLUMNS)
        return inserted_id(
            conn.execute(
                f"INSERT INTO watchlist({', '.join(_SPEC_COLUMNS)}, created_at) "
                f"VALUES ({', '.join('?' * (len(_SPEC_COLUMNS) + 1))}) RETURNING id",
                (*_row_values(values), now_ms()),
            )
        )


def _row_values(values: Sequence) -> tuple:
    """Python values as both backends store them (a flag as 0/1, an enum as its text)."""
    return tuple(int(v) if isinstance(v, bool) else (str(v) if isinstance(v, enum.Enum) else v) for v in values)


def update_watch(conn: Connection, watch_id: int, spec: WatchSpec) -> bool:
    """Replace a watched pair's spec (the pair itself stays); False when there is no such watch."""
    names = [n for n in _SPEC_COLUMNS if n not in ("symbol_x", "symbol_y", "timeframe")]
    cur = conn.execute(
        f"UPDATE watchlist SET {', '.join(f'{n}=?' for n in names)} WHERE id=?",
        (*_row_values([getattr(spec, n) for n in names]), watch_id),
    )
    return cur.rowcount == 1


def list_watches(conn: Connection) -> list[Watch]:
    """Every watched pair, oldest first."""
    return [_watch(r) for r in conn.execute(f"{_WATCH_SELECT} ORDER BY id").fetchall()]


def get_watch(conn: Connection, watch_id: int) -> Watch | None:
    """One watched pair, or None."""
    row = conn.execute(f"{_WATCH_SELECT} WHERE id=?", (watch_id,)).fetchone()
    return None if row is None else _watch(row)


def delete_watch(conn: Connection, watch_id: int) -> bool:
    """Remove a watched pair and its signal events (both or neither); False when there was none. Its paper
    positions stay (they are a record of what was traded)."""
    with transaction(conn):
        conn.execute("DELETE FROM signal_events WHERE watch_id=?", (watch_id,))
        return conn.execute("DELETE FROM watchlist WHERE id=?", (watch_id,)).rowcount == 1


@dataclass(frozen=True)
class SignalEvent:
    """A signal of a watched pair on a bar (its open time, epoch ms) with the inputs it was decided on."""

    id: int
    watch_id: int
    bar_ms: int
    kind: SignalKind
    zscore: float | None
    spread: float | None
    beta: float | None
    price_x: float
    price_y: float
    recorded_at: int

    def __post_init__(self) -> None:
        object.__setattr__(self, "kind", SignalKind(self.kind))


@dataclass(frozen=True)
class NewSignal:
    """A signal the monitor decided, before it is stored."""

    bar_ms: int
    kind: SignalKind
    zscore: float | None
    spread: float | None
    beta: float | None
    price_x: float
    price_y: float


_SIGNAL_SELECT = (
    "SELECT id, watch_id, bar_ms, kind, zscore, spread, beta, price_x, price_y, recorded_at FROM signal_events"
)


def record_signals(
    conn: Connection, watch_id: int, signals: Sequence[NewSignal], evaluated_ms: int, rearm: bool
) -> list[tuple[int, NewSignal]]:
    """Store a watched pair's new signals, the last bar evaluated and the re-entry state (all or nothing); a signal
    already stored for that bar and kind (a restart re-evaluating bars) is skipped. Returns those stored now, with
    their ids (what is new, to be delivered)."""
    ids: list[tuple[int, NewSignal]] = []
    with transaction(conn):
        for s in signals:
            row = conn.execute(
                "INSERT INTO signal_events(watch_id, bar_ms, kind, zscore, spread, beta, price_x, price_y, "
                "recorded_at) VALUES (?,?,?,?,?,?,?,?,?) ON CONFLICT (watch_id, bar_ms, kind) DO NOTHING RETURNING id",
                (watch_id, s.bar_ms, str(s.kind), s.zscore, s.spread, s.beta, s.price_x, s.price_y, now_ms()),
            ).fetchone()
            ids += [(int(row[0]), s)] if row else []
        conn.execute(
            "UPDATE watchlist SET evaluated_ms=?, rearm=? WHERE id=? AND (evaluated_ms IS NULL OR evaluated_ms < ?)",
            (evaluated_ms, int(rearm), watch_id, evaluated_ms),
        )
    return ids


def list_signals(
    conn: Connection,
    watch_id: int | None = None,
    limit: int | None = 200,
    since_ms: int | None = None,
    kinds: Sequence[SignalKind] | None = None,
) -> list[SignalEvent]:
    """Signal events, newest bar first: of one watched pair or all, from bar `since_ms` on, of some kinds, at most
    `limit`."""
    where: list[str] = []
    args: list[object] = []
    if kinds is not None:
        where.append(f"kind IN ({', '.join('?' * len(kinds))})")
        args += [str(k) for k in kinds]
    if watch_id is not None:
        where.append("watch_id=?")
        args.append(watch_id)
    if since_ms is not None:
        where.append("bar_ms>=?")
        args.append(since_ms)
    clause = f" WHERE {' AND '.join(where)}" if where else ""
    rows = conn.execute(f"{_SIGNAL_SELECT}{clause} ORDER BY bar_ms DESC, id DESC{limit_clause(limit)}", args)
    return [SignalEvent(*r) for r in rows.fetchall()]


def get_signal(conn: Connection, signal_id: int) -> SignalEvent | None:
    """One signal event, or None."""
    row = conn.execute(f"{_SIGNAL_SELECT} WHERE id=?", (signal_id,)).fetchone()
    return None if row is None else SignalEvent(*row)
