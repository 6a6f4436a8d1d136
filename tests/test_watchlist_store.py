"""storage/watchlist.py and storage/pair_positions.py on both backends: watched pairs, signal events stored once per
pair, bar and kind, and two-leg positions opened once per pair and closed once under concurrent closers."""

from __future__ import annotations

import contextlib
import dataclasses
import threading

import pytest

import database as db
from core.vocabulary import BandKind, SignalKind, WatchSource

SPEC = db.WatchSpec("BTCUSDT", "ETHUSDT", hedge_window=120, z_window=30, stop=3.0, source=WatchSource.SCANNER)


def opening(watch_id: int, signal_id: int | None = None) -> db.PairOpening:
    return db.PairOpening(
        watch_id, "BTCUSDT", "ETHUSDT", db.PaperSide.LONG, -0.2, 5.0, 0.04, 60_000.0, 2_400.0, 1, 1.0, 0.5,
        db.LegStatus.OK, 0.0, signal_id,
    )  # fmt: skip


def closing(pnl: float = 1.0) -> db.PairClosing:
    return db.PairClosing(60_010.0, 2_401.0, 2, 1.0, 0.5, "exit", pnl)


def test_watch_round_trip_update_and_delete(db_target):
    with contextlib.closing(db.open_writer(db_target)) as conn:
        watch_id = db.add_watch(conn, SPEC)
        with pytest.raises(ValueError, match="already watched"):
            db.add_watch(conn, SPEC)
        (stored,) = db.list_watches(conn)
        assert (stored.id, stored.spec, stored.evaluated_ms, stored.rearm) == (watch_id, SPEC, None, False)
        assert stored.spec.band_kind is BandKind.FIXED_Z and stored.spec.source is WatchSource.SCANNER
        assert db.update_watch(conn, watch_id, dataclasses.replace(SPEC, entry=2.5, auto_trade=True))
        changed = db.get_watch(conn, watch_id)
        assert changed is not None and changed.spec.entry == 2.5 and changed.spec.auto_trade is True
        assert not db.update_watch(conn, watch_id + 99, SPEC)
        assert db.delete_watch(conn, watch_id) and not db.delete_watch(conn, watch_id)
        assert db.list_watches(conn) == []


def test_signals_are_stored_once_per_pair_bar_and_kind(db_target):
    with contextlib.closing(db.open_writer(db_target)) as conn:
        watch_id = db.add_watch(conn, SPEC)
        signal = db.NewSignal(1_000, SignalKind.ENTRY_LONG, -2.1, -3.0, 0.04, 60_000.0, 2_400.0)
        first = db.record_signals(conn, watch_id, [signal], 1_000, False)
        again = db.record_signals(
            conn, watch_id, [signal, dataclasses.replace(signal, kind=SignalKind.BREAK)], 2_000, True
        )
        assert len(first) == 1 and len(again) == 1  # the entry is not stored twice; the alarm is new
        events = db.list_signals(conn, watch_id)
        assert [e.kind for e in events] == [SignalKind.BREAK, SignalKind.ENTRY_LONG] or [e.kind for e in events] == [
            SignalKind.ENTRY_LONG,
            SignalKind.BREAK,
        ]
        assert db.list_signals(conn, watch_id, kinds=[SignalKind.ENTRY_LONG])[0].zscore == -2.1
        watch = db.get_watch(conn, watch_id)
        assert watch is not None and (watch.evaluated_ms, watch.rearm) == (2_000, True)
        db.record_signals(conn, watch_id, [], 1_500, False)  # an older pass never moves the cursor back
        watch = db.get_watch(conn, watch_id)
        assert watch is not None and watch.evaluated_ms == 2_000


def test_one_open_position_per_pair_and_one_per_signal(db_target):
    with contextlib.closing(db.open_writer(db_target)) as conn:
        watch_id = db.add_watch(conn, SPEC)
        first = db.open_pair_position(conn, opening(watch_id, 7))
        assert first is not None
        assert db.open_pair_position(conn, opening(watch_id)) is None  # the pair has an open position
        assert db.close_pair_position(conn, first, closing())
        assert db.open_pair_position(conn, opening(watch_id, 7)) is None  # that signal already opened one
        second = db.open_pair_position(conn, opening(watch_id, 8))
        assert second is not None
        positions = db.list_pair_positions(conn, watch_id)
        assert [p.id for p in positions] == [second, first] and positions[0].is_open and not positions[1].is_open
        assert positions[1].closing == closing() and positions[1].opening == opening(watch_id, 7)


def test_two_concurrent_closers_close_once(db_target):
    with contextlib.closing(db.open_writer(db_target)) as conn:
        position_id = db.open_pair_position(conn, opening(db.add_watch(conn, SPEC)))
    assert position_id is not None
    barrier, results = threading.Barrier(2), []

    def close(pnl: float) -> None:
        with contextlib.closing(db.open_writer(db_target)) as own:
            barrier.wait()
            results.append(db.close_pair_position(own, position_id, closing(pnl)))

    threads = [threading.Thread(target=close, args=(pnl,)) for pnl in (1.0, 2.0)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert sorted(results) == [False, True]
    with contextlib.closing(db.open_reader(db_target)) as conn:
        stored = db.get_pair_position(conn, position_id)
    assert stored is not None and stored.closing is not None and stored.closing.realized_pnl in (1.0, 2.0)
