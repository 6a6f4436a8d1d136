"""Trade ids live in id spaces that never share a sequence (issue 10, item 1), and migrations are safe under
concurrent first opens (item 8): the real collector against the fake Binance server, real uploads, real processes."""
from __future__ import annotations

import json
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

import pytest
from test_faults import SYMS, make_collector, store_history_head, stream_with_fault
from waiting import wait_until

import database as db
from core.vocabulary import IdSpace
from dashboard.uploads import parse_upload, store_upload
from data_feed import Tick
from storage.schema import MIGRATIONS

pytestmark = [pytest.mark.network, pytest.mark.timeout(90),
              pytest.mark.fake_binance(ping_interval_s=1.0, ping_timeout_s=5.0)]
ROOT = Path(__file__).resolve().parents[1]


def agg_ids(db_path: str, symbol: str) -> list[int]:
    """The stored aggTrade ids of a symbol (id space 0), in order."""
    conn = sqlite3.connect(f"file:{db_path}?mode=ro", uri=True)
    try:
        return [r[0] for r in conn.execute("SELECT trade_id FROM ticks WHERE symbol=? AND id_space=0 "
                                           "ORDER BY trade_id", (symbol,))]
    finally:
        conn.close()


def test_an_imported_id_from_another_numbering_cannot_hide_a_gap(fb, db_path):
    """One uploaded NDJSON tick with trade_id 9e15 used to become the collector's cursor: every later hole was
    invisible. Now imports keep their own id space and never move the live cursor."""
    fb.generate("BTCUSDT", 50, spacing_ms=100)
    fb.generate("ETHUSDT", 50, spacing_ms=100)
    for s in SYMS:
        store_history_head(fb, db_path, s, 50)
    line = {"symbol": "BTCUSDT", "trade_id": 9_000_000_000_000_000, "ts": fb.now_ms(), "price": 60_000.0,
            "size": 0.1, "is_buyer_maker": False}
    parsed = parse_upload(json.dumps(line).encode() + b"\n", "odd.ndjson", "ticks")
    assert "Stored 1 new ticks" in store_upload(db_path, parsed)
    c = make_collector(fb, db_path)
    c.start(SYMS)
    try:
        assert fb.wait_subscribed(SYMS)
        stream_with_fault(fb, lambda: fb.drop_connections(abrupt=True) or time.sleep(0.3))
        for s in SYMS:
            assert wait_until(lambda s=s: agg_ids(db_path, s) == list(fb.history_ids(s)), 30), s
        assert c.stats().gaps_detected >= 1
    finally:
        c.stop()
    conn = db.open_reader(db_path)
    try:
        assert conn.execute("SELECT id_space FROM ticks WHERE trade_id=9000000000000000").fetchone() == (2,)
        assert db.id_cursors(conn, IdSpace.AGG_TRADE)["BTCUSDT"][0] == fb.history_ids("BTCUSDT")[-1]
    finally:
        conn.close()


def test_a_live_frame_with_an_implausible_id_is_quarantined_not_trusted(fb, db_path):
    """One live frame with a = 1e15 used to make every later valid trade a "duplicate"."""
    c = make_collector(fb, db_path)
    c.start(SYMS)
    try:
        assert fb.wait_subscribed(SYMS)
        fb.stream_trades(SYMS, count=300, rate_per_s=1000).wait(10)
        bogus = {"stream": "btcusdt@aggTrade", "data": {"e": "aggTrade", "E": fb.now_ms(), "s": "BTCUSDT",
                                                         "a": 10**15, "p": "60000.0", "q": "0.1", "f": 1, "l": 1,
                                                         "T": fb.now_ms(), "m": False}}
        fb.send_raw(json.dumps(bogus))
        fb.stream_trades(SYMS, count=300, rate_per_s=1000).wait(10)
        for s in SYMS:
            assert wait_until(lambda s=s: agg_ids(db_path, s) == list(fb.history_ids(s)), 30), s
        assert wait_until(lambda: c.stats().quarantined == 1, 5)
        assert c.stats().duplicates == 0
    finally:
        c.stop()


def test_the_writer_quarantines_an_implausible_id_and_keeps_the_sequence(db_path):
    """The same rule in the writer, for feeds without the WebSocket filter (a replayed file)."""
    from collection.pipeline import Pipeline, SymbolTrack
    from collection.queue import TickQueue
    from collection.writer import detect_gaps
    from data_feed import NoArchive, NoRest, ReplayFeed

    path = Path(db_path).with_suffix(".ndjson")
    path.write_text("")
    p = Pipeline(db_path, ReplayFeed(str(path)), NoRest("off"), NoArchive("off"), TickQueue(10, 10), 0.1, False, 0, 0)
    p.tracks["BTCUSDT"] = SymbolTrack(100, 1)
    ticks = [Tick("BTCUSDT", i, i, 1.0, 1.0, False, i) for i in (101, 10**15, 102, 105)]
    gaps, outliers = detect_gaps(p, ticks)
    assert [t.trade_id for t in outliers] == [10**15]
    assert [(g.first, g.last) for g in gaps] == [(103, 104)] and p.tracks["BTCUSDT"].last_id == 105
    p.tracks["BTCUSDT"] = SymbolTrack(9 * 10**15, 1)  # a cursor left implausible by an old database
    gaps, outliers = detect_gaps(p, [Tick("BTCUSDT", i, i, 1.0, 1.0, False, i) for i in (500, 502)])
    assert not outliers and [(g.first, g.last) for g in gaps] == [(501, 501)]


def test_an_older_database_is_migrated_with_its_ticks_and_cursors(tmp_path):
    path = str(tmp_path / "v2.db")
    conn = sqlite3.connect(path, isolation_level=None)
    for migration in MIGRATIONS[:2]:
        for statement in migration.split(";"):
            if statement.strip():
                conn.execute(statement)
    conn.execute("PRAGMA user_version=2")
    conn.execute("INSERT INTO ticks VALUES ('BTCUSDT', 7, 1000, 60000.0, 0.5, 0, 1001)")
    conn.execute("INSERT INTO symbol_stats VALUES ('BTCUSDT', 1, 1000, 1000, 7, 1001)")
    conn.close()
    writer = db.open_writer(path)
    try:
        assert writer.execute("PRAGMA user_version").fetchone()[0] == db.SCHEMA_VERSION
        assert writer.execute("SELECT symbol, id_space, trade_id, price FROM ticks").fetchall() == [
            ("BTCUSDT", 0, 7, 60000.0)]
        assert db.id_cursors(writer, IdSpace.AGG_TRADE) == {"BTCUSDT": (7, 1000)}
    finally:
        writer.close()


OPEN_AT = """
import sys, time
sys.path.insert(0, {root!r})
import database
while time.time() < {at}:
    pass
database.open_writer({path!r}).close()
"""


def test_two_processes_opening_a_fresh_database_at_once_both_succeed(tmp_path):
    """migrate() used to read the schema version outside its transaction: 8 of 10 trials one process failed with
    "table ticks already exists"."""
    for trial in range(6):
        path = str(tmp_path / f"fresh{trial}.db")
        at = time.time() + 1.5
        procs = [subprocess.Popen([sys.executable, "-c", OPEN_AT.format(root=str(ROOT), at=at, path=path)],
                                  stderr=subprocess.PIPE, text=True) for _ in range(2)]
        errors = [p.communicate(timeout=60)[1] for p in procs]
        assert all(p.returncode == 0 for p in procs), errors
        conn = db.open_reader(path)
        assert conn.execute("PRAGMA user_version").fetchone()[0] == db.SCHEMA_VERSION
        conn.close()
