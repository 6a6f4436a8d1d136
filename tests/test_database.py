"""database.py: schema, idempotent batched writes, exact rollups, index-backed reads, exports, gaps, alerts."""

from __future__ import annotations

import ast
import contextlib
import dataclasses
import random
import sqlite3
import tracemalloc
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

import database as db
from core.contracts import ContractRules
from core.vocabulary import DeliveryChannel, DeliveryStatus, IdSpace
from data_feed import FundingRate, MarkPrice, QuoteBar, Tick, iter_ticks_from_file
from storage.schema import MIGRATIONS

T0 = 1_723_161_000_000


def tick(symbol: str, trade_id: int, ts: int, price: float, size: float = 1.0) -> Tick:
    return Tick(symbol, trade_id, ts, price, size, bool(trade_id % 2), ts + 5)


def random_ticks(n: int, symbol: str = "BTCUSDT", seed: int = 1) -> list[Tick]:
    rng = random.Random(seed)
    ts, out = T0, []
    for i in range(1, n + 1):
        ts += rng.randint(0, 180)
        out.append(tick(symbol, i, ts, round(60000 + rng.gauss(0, 20), 1), round(rng.uniform(0.001, 2), 3)))
    return out


def test_schema_is_versioned_wal_and_refuses_newer(db_path):
    conn = db.open_writer(db_path)
    assert conn.execute("PRAGMA user_version").fetchone()[0] == db.SCHEMA_VERSION
    assert conn.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
    conn.execute(f"PRAGMA user_version={db.SCHEMA_VERSION + 1}")
    conn.close()
    with pytest.raises(RuntimeError, match="newer than this program"):
        db.open_writer(db_path)


def test_ticks_are_stored_once_per_symbol_and_id(db_target):
    conn = db.open_writer(db_target)
    batch = random_ticks(500)
    first = db.write_ticks(conn, batch)
    again = db.write_ticks(conn, [*batch[100:300], tick("ETHUSDT", 1, T0, 3000.0)])
    assert first.inserted == {"BTCUSDT": 500} and first.duplicates == 0
    assert again.inserted == {"BTCUSDT": 0, "ETHUSDT": 1} and again.duplicates == 200
    assert conn.execute("SELECT count(*) FROM ticks").fetchone()[0] == 501
    summary = {s.symbol: s for s in db.symbol_summaries(conn)}
    assert summary["BTCUSDT"].tick_count == 500 and summary["BTCUSDT"].max_trade_id == 500


def test_one_id_in_two_id_spaces_is_two_trades(db_target):
    """A trade-stream id and an aggTrade id that happen to be equal are different trades (switching BINANCE_STREAM
    on one database, or an upload numbered its own way); one numbering never makes another's rows duplicates."""
    conn = db.open_writer(db_target)
    spaces = list(IdSpace)
    rows = [
        dataclasses.replace(tick("BTCUSDT", 100, T0 + i, 60_000.0 + i), space=space) for i, space in enumerate(spaces)
    ]
    assert db.write_ticks(conn, rows).inserted == {"BTCUSDT": len(spaces)}
    assert db.write_ticks(conn, rows).duplicates == len(spaces)
    stored = db.read_ticks(conn, ["BTCUSDT"])
    assert sorted(stored.id_space) == sorted(spaces) and set(stored.trade_id) == {100}


def test_tick_export_imports_back_with_its_id_spaces(db_target, tmp_path):
    """The Data Management/CLI tick CSV is a file replay and import read back: same rows, same id spaces."""
    conn = db.open_writer(db_target)
    ticks = [
        *random_ticks(50),
        dataclasses.replace(tick("ETHUSDT", -5, T0, 3000.0), space=IdSpace.UPLOAD),
        dataclasses.replace(tick("ETHUSDT", 7, T0 + 1, 3001.0), space=IdSpace.TRADE),
    ]
    db.write_ticks(conn, ticks)
    out = tmp_path / "ticks.csv"
    db.export_ticks_csv(db_target, str(out))
    assert sorted(iter_ticks_from_file(out), key=lambda t: (t.symbol, t.timestamp)) == sorted(
        ticks, key=lambda t: (t.symbol, t.timestamp)
    )
    assert db.write_ticks(conn, list(iter_ticks_from_file(out))).total_inserted == 0


def pandas_bars(ticks: list[Tick], rule: str) -> pd.DataFrame:
    df = pd.DataFrame(
        [(t.timestamp, t.trade_id, t.price, t.size) for t in ticks], columns=["timestamp", "trade_id", "price", "size"]
    ).sort_values(["timestamp", "trade_id"])
    df.index = pd.to_datetime(df.timestamp, unit="ms")
    g = df.resample(rule)
    out = pd.DataFrame(
        {
            "open": g.price.first(),
            "high": g.price.max(),
            "low": g.price.min(),
            "close": g.price.last(),
            "volume": g["size"].sum(),
            "trade_count": g.price.count(),
        }
    )
    return out[out.trade_count > 0]


@pytest.mark.parametrize("timeframe, rule", [("1s", "1s"), ("1min", "1min")])
@pytest.mark.parametrize("order", ["live", "shuffled"])
def test_rollups_equal_pandas_resample_for_live_and_late_batches(db_target, timeframe, rule, order):
    ticks = random_ticks(6000)
    shuffled = ticks[:]
    if order == "shuffled":
        random.Random(3).shuffle(shuffled)  # late and repaired ticks arrive out of order: recomputed from rows
    conn = db.open_writer(db_target)
    for i in range(0, len(shuffled), 700):
        db.write_ticks(conn, shuffled[i : i + 700])
    got = db.read_bars(conn, ["BTCUSDT"], timeframe)
    want = pandas_bars(ticks, rule)
    assert len(got) == len(want)
    np.testing.assert_array_equal(got.timestamp.to_numpy(), want.index.as_unit("ms").asi8)
    for col in ("open", "high", "low", "close", "trade_count"):
        np.testing.assert_allclose(got[col].to_numpy(), want[col].to_numpy(), err_msg=col)
    np.testing.assert_allclose(got.volume.to_numpy(), want.volume.to_numpy(), rtol=1e-9)


def test_exchange_bars_are_not_overwritten_by_rollups(db_target):
    conn = db.open_writer(db_target)
    db.write_bars(conn, "1min", {"BTCUSDT": [(T0 // 60000 * 60000, 1, 2, 0.5, 1.5, 10, 7, 15)]}, source="klines")
    db.write_ticks(conn, [tick("BTCUSDT", 1, T0, 60000.0)])
    bar = db.read_bars(conn, ["BTCUSDT"], "1min").iloc[0]
    assert bar.open == 1 and bar.volume == 10 and bar.trade_count == 7


def test_window_reads_are_index_backed_and_bounded(db_path):
    conn = db.open_writer(db_path)
    db.write_ticks(conn, random_ticks(3000))
    plan = " ".join(
        r[3]
        for r in conn.execute(
            "EXPLAIN QUERY PLAN SELECT * FROM ticks WHERE symbol IN (?) AND timestamp>=? AND timestamp<?",
            ("BTCUSDT", 0, 1),
        )
    )
    assert "USING INDEX ix_ticks_symbol_time" in plan
    plan = " ".join(
        r[3]
        for r in conn.execute(
            "EXPLAIN QUERY PLAN SELECT * FROM ohlc_data WHERE timeframe=? AND symbol IN (?) AND timestamp>=?",
            ("1s", "BTCUSDT", 0),
        )
    )
    assert "SEARCH ohlc_data USING PRIMARY KEY" in plan
    mid = random_ticks(3000)[1500].timestamp
    window = db.read_ticks(conn, ["BTCUSDT"], start_ms=mid, end_ms=mid + 10_000)
    assert window.timestamp.between(mid, mid + 9_999).all() and len(window) > 0
    newest = db.read_ticks(conn, ["BTCUSDT"], limit=10, newest_first=True)
    assert len(newest) == 10 and newest.timestamp.is_monotonic_decreasing


def test_reader_is_read_only(db_target):
    db.ensure_database(db_target)
    reader = db.open_reader(db_target)
    with pytest.raises(db.DATABASE_ERRORS, match=r"readonly|read-only"):
        reader.execute("DELETE FROM ticks")


def test_a_reader_on_a_new_database_finds_its_schema(db_target):
    """A dashboard started before any collector on a new database (a new file; a server database just created)
    reads an empty store, read-only; on PostgreSQL it failed with 'relation "ohlc_data" does not exist'."""
    with contextlib.closing(db.open_reader(db_target)) as reader:
        assert db.stored_symbols(reader) == [] and db.symbol_summaries(reader) == []
        with pytest.raises(db.DATABASE_ERRORS, match=r"readonly|read-only"):
            reader.execute("DELETE FROM ticks")


def test_store_info_names_the_engine_and_the_tick_layout(db_target):
    """Data Management's store line: the engine and its version, and (PostgreSQL) one partition per UTC day of
    ticks, or one chunk per day on a server preloading TimescaleDB (detected, never required)."""
    with contextlib.closing(db.open_writer(db_target)) as conn:
        db.write_ticks(conn, [tick("BTCUSDT", 1, T0, 60_000.0), tick("BTCUSDT", 2, T0 + 86_400_000, 60_001.0)])
        info = db.store_info(conn)
        hypertable = getattr(conn, "hypertable", False)  # a server preloading TimescaleDB
    if hypertable:
        assert info.layout.startswith("raw ticks in a TimescaleDB hypertable: 2 day chunks")
    elif db_target.startswith("postgresql://"):
        assert info.engine.startswith("PostgreSQL 1") and info.layout.startswith("raw ticks in 2 day partitions")
    else:
        assert info.engine == f"SQLite {sqlite3.sqlite_version}" and "one table" in info.layout
    assert all("TimescaleDB" in note for note in info.notes)
    assert str(info).startswith(f"{info.engine}; {info.layout}")


def test_streaming_export_is_chunked_and_complete(db_target, tmp_path):
    conn = db.open_writer(db_target)
    rows = random_ticks(150_000)
    for i in range(0, len(rows), 10_000):
        db.write_ticks(conn, rows[i : i + 10_000])
    out = tmp_path / "ticks.csv"
    tracemalloc.start()
    count = db.export_ticks_csv(db_target, str(out))
    peak = tracemalloc.get_traced_memory()[1]
    tracemalloc.stop()
    frame = pd.read_csv(out)
    assert count == 150_000 and len(frame) == 150_000
    assert list(frame.columns) == db.TICK_COLUMNS
    assert frame.trade_id.is_unique
    assert peak < 80_000_000  # 50k-row chunks: ~55 MB peak; the whole 150k rows at once would be ~160 MB


@pytest.mark.parametrize(
    "cell, expected",
    [
        ('=HYPERLINK("x")', '\'=HYPERLINK("x")'),
        ("+cmd", "'+cmd"),
        ("@SUM(A1)", "'@SUM(A1)"),
        ("-x", "'-x"),
        ("-1.5", "-1.5"),
        ("+2", "+2"),
        ("BTCUSDT", "BTCUSDT"),
        (3.5, 3.5),
    ],
)
def test_csv_cells_are_neutralised_against_formula_injection(cell, expected):
    assert db.neutralise_cell(cell) == expected


def test_dataframe_csv_neutralises_and_keeps_numbers():
    text = db.dataframe_to_csv(pd.DataFrame({"symbol": ["=1+1", "BTCUSDT"], "pnl": [-1.25, 2.0]})).decode()
    assert text.splitlines() == ["symbol,pnl", "'=1+1,-1.25", "BTCUSDT,2"]


def test_dataframe_csv_has_empty_cells_and_no_float_noise():
    """Missing values were written "nan" and computed floats with their binary noise (0.42400000000000004)."""
    frame = pd.DataFrame(
        {
            "z": [0.1 + 0.2, np.nan, 1e-5, 12150.3],
            "when": pd.to_datetime([1, None, 2, 3], unit="s"),
            "note": ["a", None, "b", "c"],
        }
    )
    lines = db.dataframe_to_csv(frame).decode().splitlines()
    assert lines[1:] == [
        "0.3,1970-01-01 00:00:01,a",
        ",,",
        "0.00001,1970-01-01 00:00:02,b",
        "12150.3,1970-01-01 00:00:03,c",
    ]


def test_gaps_and_alerts_round_trip(db_target):
    conn = db.open_writer(db_target)
    gap = db.record_gap(conn, "BTCUSDT", 10, 19, T0, T0 + 500)
    db.update_gap(conn, gap, "repaired", 10)
    [stored] = db.list_gaps(conn, ["BTCUSDT"])
    assert (stored.status, stored.repaired_count, stored.last_missing_id) == ("repaired", 10, 19)
    rule = db.add_alert_rule(conn, "zscore", "BTCUSDT", "ETHUSDT", ">", 2.0)
    db.record_alert_check(conn, rule, 2.5, "z 2.5 > 2")
    [r] = db.list_alert_rules(conn)
    assert r.last_value == 2.5 and r.last_fired_at is not None
    assert db.alert_history(conn).message.tolist() == ["z 2.5 > 2"]
    db.delete_alert_rule(conn, rule)
    assert db.list_alert_rules(conn) == [] and db.alert_history(conn).empty


def test_delivery_attempts_round_trip_newest_first(db_target):
    conn = db.open_writer(db_target)
    made = [
        db.DeliveryAttempt(
            0, "d1-slack", "alert", "slack", "https://hooks.slack.com/…", "z > 2", 1, s, h, e, 12, T0 + i
        )
        for i, (s, h, e) in enumerate([("failed", 503, "HTTP 503"), ("dead", None, "no answer within 1 s")])
    ]
    ids = [db.record_delivery_attempt(conn, a) for a in made]
    assert ids[1] > ids[0]
    rows = db.list_delivery_attempts(conn)
    assert rows == [dataclasses.replace(a, id=i) for a, i in zip(made[::-1], ids[::-1], strict=True)]
    assert rows[0].status is DeliveryStatus.DEAD and rows[0].channel is DeliveryChannel.SLACK
    assert db.list_delivery_attempts(conn, status=DeliveryStatus.DEAD) == rows[:1]
    assert db.list_delivery_attempts(conn, limit=1) == rows[:1]
    db.clear_all(conn)
    assert db.list_delivery_attempts(conn) == []
    conn.close()


def test_failed_batch_leaves_nothing_half_written(db_target):
    conn = db.open_writer(db_target)
    bad = [*random_ticks(10), Tick("BTCUSDT", 99, T0, None, 1.0, False, T0)]  # NOT NULL price
    with pytest.raises(db.INTEGRITY_ERRORS):
        db.write_ticks(conn, bad)
    assert conn.execute("SELECT count(*) FROM ticks").fetchone()[0] == 0
    assert db.write_ticks(conn, random_ticks(10)).total_inserted == 10


def test_v3_ticks_are_rebuilt_with_their_id_space(db_path):
    """Migration v4 keeps every tick: positive ids as the default aggTrade stream, id-less upload rows (negative
    ids) as an upload's; afterwards the same id in another space is a new trade."""
    conn = sqlite3.connect(db_path, isolation_level=None)
    for migration in MIGRATIONS[:3]:
        for statement in migration.split(";"):
            if statement.strip():
                conn.execute(statement)
    conn.execute("PRAGMA user_version=3")
    conn.executemany(
        "INSERT INTO ticks VALUES (?, ?, ?, 60000.0, 1.0, 0, ?)",
        [("BTCUSDT", 5, T0, T0), ("BTCUSDT", -T0 * 1000, T0, T0), ("ETHUSDT", 5, T0 + 1, T0 + 1)],
    )
    conn.close()
    conn = db.open_writer(db_path)
    stored = db.read_ticks(conn, ["BTCUSDT", "ETHUSDT"])
    assert list(zip(stored.symbol, stored.trade_id, stored.id_space)) == [
        ("BTCUSDT", 5, "aggTrade"),
        ("BTCUSDT", -T0 * 1000, "upload"),
        ("ETHUSDT", 5, "aggTrade"),
    ]
    trade = dataclasses.replace(tick("BTCUSDT", 5, T0 + 2, 60_001.0), space=IdSpace.TRADE)
    assert db.write_ticks(conn, [trade]).total_inserted == 1


def test_v4_symbol_totals_are_kept_and_their_symbol_can_no_longer_be_null(db_path):
    """Migration v5 rebuilds symbol_stats with a NOT NULL symbol (as PostgreSQL's): every symbol's totals are kept,
    a NULL-symbol row (SQLite's rowid tables allowed one; the program never wrote it) is not."""
    conn = sqlite3.connect(db_path, isolation_level=None)
    for migration in MIGRATIONS[:4]:
        for statement in migration.split(";"):
            if statement.strip():
                conn.execute(statement)
    conn.execute("PRAGMA user_version=4")
    conn.executemany(
        "INSERT INTO symbol_stats VALUES (?, ?, ?, ?, ?, ?)",
        [("BTCUSDT", 3, T0, T0 + 2, 7, T0 + 9), ("ETHUSDT", 1, T0, T0, None, None), (None, 5, None, None, None, None)],
    )
    conn.close()
    conn = db.open_writer(db_path)
    assert conn.execute("PRAGMA user_version").fetchone()[0] == db.SCHEMA_VERSION
    assert [dataclasses.astuple(s) for s in db.symbol_summaries(conn)] == [
        ("BTCUSDT", 3, T0, T0 + 2, 7, T0 + 9),
        ("ETHUSDT", 1, T0, T0, None, None),
    ]
    with pytest.raises(db.INTEGRITY_ERRORS):
        conn.execute("INSERT INTO symbol_stats(symbol, tick_count) VALUES (NULL, 1)")
    assert db.write_ticks(conn, [tick("BTCUSDT", 8, T0 + 3, 60_000.0)]).total_inserted == 1
    assert db.symbol_summaries(conn)[0].tick_count == 4
    conn.close()


def test_v1_database_is_migrated_in_place_without_losing_ticks(db_path):
    conn = sqlite3.connect(db_path, isolation_level=None)
    for statement in MIGRATIONS[0].split(";"):
        if statement.strip():
            conn.execute(statement)
    conn.execute("PRAGMA user_version=1")
    conn.execute("INSERT INTO ticks VALUES ('BTCUSDT', 1, 1, 60000.0, 1.0, 0, 1)")
    conn.close()
    conn = db.open_writer(db_path)
    assert conn.execute("PRAGMA user_version").fetchone()[0] == db.SCHEMA_VERSION
    assert conn.execute("SELECT count(*) FROM ticks").fetchone()[0] == 1
    pid = db.open_paper_position(conn, "BTCUSDT", "SHORT", 1000.0, 50_000.0)
    assert db.close_paper_position(conn, pid, 49_000.0) == pytest.approx(20.0)
    [pos] = db.list_paper_positions(conn)
    assert pos.realized_pnl == pytest.approx(20.0) and pos.closed_at is not None
    with pytest.raises(ValueError, match="not open"):
        db.close_paper_position(conn, pid, 1.0)


def test_failed_multi_statement_writes_roll_back_and_leave_no_open_transaction(db_path):
    conn = db.open_writer(db_path)
    rule = db.add_alert_rule(conn, "zscore", "BTCUSDT", "ETHUSDT", ">", 2.0)
    db.record_alert_check(conn, rule, 2.5, "fired")
    conn.execute("CREATE TRIGGER refuse BEFORE DELETE ON alert_rules BEGIN SELECT RAISE(ABORT, 'refused'); END")
    with pytest.raises(sqlite3.IntegrityError, match="refused"):
        db.delete_alert_rule(conn, rule)
    assert not conn.in_transaction
    assert conn.execute("SELECT count(*) FROM alert_events").fetchone()[0] == 1  # its history was not deleted
    conn.execute("CREATE TRIGGER refuse_event BEFORE INSERT ON alert_events BEGIN SELECT RAISE(ABORT, 'no'); END")
    with pytest.raises(sqlite3.IntegrityError):
        db.record_alert_check(conn, rule, 3.0, "fired again")
    assert not conn.in_transaction
    assert conn.execute("SELECT last_value FROM alert_rules").fetchone()[0] == 2.5  # the update went back too
    db.write_ticks(conn, [Tick("BTCUSDT", 1, 1_700_000_000_000, 100.0, 1.0, False, 1_700_000_000_005)])
    with pytest.raises(sqlite3.IntegrityError, match="refused"):  # fails at alert_rules, after ticks and events
        db.clear_all(conn)
    assert not conn.in_transaction and db.list_alert_rules(conn)  # nothing was cleared
    assert conn.execute("SELECT count(*) FROM ticks").fetchone()[0] == 1
    assert conn.execute("SELECT count(*) FROM alert_events").fetchone()[0] == 1
    conn.close()


def _fail_commits_after_insert_into(conn: db.Connection, table: str, postgres: bool) -> None:
    """Make every transaction that inserts into `table` fail at its COMMIT, after all its statements went through:
    each inserted row adds an orphan whose deferred foreign key is checked only then (SQLite keeps such a
    transaction open after the failed COMMIT, as it does after a COMMIT that found the database busy)."""
    if postgres:
        conn.execute("CREATE TABLE parents(id BIGINT PRIMARY KEY)")
        conn.execute("CREATE TABLE orphans(parent BIGINT REFERENCES parents(id) DEFERRABLE INITIALLY DEFERRED)")
        conn.execute(
            "CREATE FUNCTION add_orphan() RETURNS trigger LANGUAGE plpgsql "
            "AS $$ BEGIN INSERT INTO orphans VALUES (-1); RETURN NEW; END $$"
        )
        conn.execute(f"CREATE TRIGGER orphan AFTER INSERT ON {table} FOR EACH ROW EXECUTE FUNCTION add_orphan()")
        return
    conn.execute("PRAGMA foreign_keys=ON")
    conn.execute("CREATE TABLE parents(id INTEGER PRIMARY KEY)")
    conn.execute("CREATE TABLE orphans(parent INTEGER REFERENCES parents(id) DEFERRABLE INITIALLY DEFERRED)")
    conn.execute(f"CREATE TRIGGER orphan AFTER INSERT ON {table} BEGIN INSERT INTO orphans VALUES (-1); END")


@pytest.mark.parametrize("table", ["ohlc_data", "symbol_stats"])
def test_a_write_whose_commit_fails_is_rolled_back_and_can_be_written_again(db_target, table):
    """The bar and tick writes roll back a transaction whose COMMIT failed (a busy or a deferred constraint's
    COMMIT leaves a SQLite transaction open): nothing of it is stored, no transaction stays open (the next BEGIN
    would fail), and the same batch goes through once the cause is gone, as a collector retries it."""
    conn = db.open_writer(db_target)
    _fail_commits_after_insert_into(conn, table, db_target.startswith("postgresql://"))
    bars = {"BTCUSDT": [(T0, 1.0, 2.0, 0.5, 1.5, 10.0, 3, 15.0)]}
    batch = random_ticks(20)
    write = (
        (lambda: db.write_bars(conn, "1h", bars, "upload"))
        if table == "ohlc_data"
        else (lambda: db.write_ticks(conn, batch).total_inserted)
    )
    with pytest.raises(db.INTEGRITY_ERRORS):
        write()
    assert not conn.in_transaction
    assert conn.execute("SELECT count(*) FROM ohlc_data").fetchone()[0] == 0
    assert conn.execute("SELECT count(*) FROM ticks").fetchone()[0] == 0
    conn.execute("DROP TRIGGER orphan" + (f" ON {table}" if db_target.startswith("postgresql://") else ""))
    assert write() == (1 if table == "ohlc_data" else 20)
    conn.close()


def test_a_paper_position_closes_once_even_from_two_connections(db_target):
    first, second = db.open_writer(db_target), db.open_writer(db_target)
    position = db.open_paper_position(first, "BTCUSDT", "LONG", 1000.0, 100.0)
    assert db.close_paper_position(first, position, 110.0) == pytest.approx(100.0)
    with pytest.raises(ValueError, match="not open"):
        db.close_paper_position(second, position, 50.0)
    (closed,) = db.list_paper_positions(second)
    assert closed.exit_price == 110.0 and closed.realized_pnl == pytest.approx(100.0)
    assert not first.in_transaction and not second.in_transaction
    first.close()
    second.close()


def test_gaps_are_read_by_column_name(db_target):
    conn = db.open_writer(db_target)
    gap_id = db.record_gap(conn, "BTCUSDT", 10, 20, 1_000, 2_000, note="hole")
    conn.execute("ALTER TABLE gaps ADD COLUMN added_later TEXT DEFAULT 'x'")
    (gap,) = db.list_gaps(conn)
    assert (gap.id, gap.first_missing_id, gap.last_missing_id, gap.status, gap.note) == (gap_id, 10, 20, "open", "hole")
    assert db.open_gaps(conn, ["BTCUSDT"])[0] == gap
    conn.close()


def test_retention_moves_old_days_to_parquet_and_keeps_bars(db_target, tmp_path):
    """Four days of ticks, keep one whole day: the two older days become one Parquet file per symbol-day (read back
    tick for tick, id spaces included), leave the database (PostgreSQL: their partitions), symbol_stats follows,
    and the 1 s / 1 min bars of those days stay for charts and the scanner."""
    day = 86_400_000
    now = (T0 // day + 3) * day + 3_600_000  # 01:00 UTC on the fourth day
    conn = db.open_writer(db_target)
    ticks = [
        dataclasses.replace(tick(symbol, i + 1, (T0 // day + d) * day + 1000 * i, 100.0 + i), space=IdSpace.AGG_TRADE)
        for d in range(4)
        for symbol in ("BTCUSDT", "ETHUSDT")
        for i in range(50)
    ]
    ticks = [dataclasses.replace(t, trade_id=t.trade_id + 100 * (t.timestamp // day)) for t in ticks]
    db.write_ticks(conn, ticks)
    cold = tmp_path / "cold"
    report = db.apply_retention(conn, 1, cold, now)
    assert report.ticks_removed == 200 and len(report.files) == 4
    assert sorted(p.name for p in cold.glob("*/*.parquet")) == [
        f"{s}-ticks-{d}.parquet" for s in ("BTCUSDT", "ETHUSDT") for d in ("2024-08-08", "2024-08-09")
    ]
    kept = db.read_ticks(conn, ["BTCUSDT", "ETHUSDT"])
    assert len(kept) == 200 and kept.timestamp.min() >= (T0 // day + 2) * day
    stats = {s.symbol: s for s in db.symbol_summaries(conn)}
    assert stats["BTCUSDT"].tick_count == 100 and stats["BTCUSDT"].first_ts == kept.timestamp.min()
    assert len(db.read_bars(conn, ["BTCUSDT"], "1s")) == 200  # every day's bars are still there
    if db_target.startswith("postgresql://"):  # whole day partitions were dropped
        assert conn.execute("SELECT count(*) FROM pg_inherits WHERE inhparent = 'ticks'::regclass").fetchone()[0] == 2
    back = sorted(
        (t for f in sorted(cold.glob("*/*.parquet")) for t in iter_ticks_from_file(f)),
        key=lambda t: (t.symbol, t.timestamp),
    )
    old = sorted((t for t in ticks if t.timestamp < (T0 // day + 2) * day), key=lambda t: (t.symbol, t.timestamp))
    assert back == old
    assert db.write_ticks(conn, back).total_inserted == 200  # a cold day imports back
    assert db.apply_retention(conn, 1, cold, now).ticks_removed == 200  # and leaves again
    assert db.apply_retention(conn, 1, cold, now).files == []  # nothing left to move


H_MS = 3_600_000


def test_funding_settlements_are_stored_once_and_read_as_a_utc_frame(db_target):
    """One row per (symbol, settlement): a settlement seen again (REST then the archive's month) replaces the rate
    but never loses a known mark price; reads are bounded [start, end), ascending, tz-aware UTC."""
    conn = db.open_writer(db_target)
    t0 = 1_704_067_200_000  # 2024-01-01 00:00 UTC
    stamps = [t0, t0 + 8 * H_MS, t0 + 12 * H_MS, t0 + 13 * H_MS]  # 8 h, then 4 h, then 1 h intervals
    rates = [
        FundingRate("BTCUSDT", ts, r, m, h)
        for ts, r, m, h in zip(stamps, [1e-4, -2e-4, 3e-4, 5e-5], [60_000.0, 61_000.0, None, 59_000.0], [8, 8, 4, 1])
    ]
    assert db.write_funding_rates(conn, [*rates, FundingRate("ETHUSDT", t0, 2e-4, 3_000.0, 8)]) == 5
    db.write_funding_rates(conn, [FundingRate("BTCUSDT", t0, 1e-4, None, 8)])  # the archive has no mark price
    conn.close()
    frame = db.funding_rates(db_target, "BTCUSDT")
    assert list(frame.columns) == ["rate", "mark_price", "interval_hours"]
    assert frame.index.name == "funding_time" and str(frame.index.tz) == "UTC"
    assert list(frame.index.asi8 // 1_000_000) == stamps
    assert frame.rate.tolist() == [1e-4, -2e-4, 3e-4, 5e-5]
    assert frame.mark_price.iloc[0] == 60_000.0 and np.isnan(frame.mark_price.iloc[2])
    assert frame.interval_hours.tolist() == [8.0, 8.0, 4.0, 1.0]
    window = db.funding_rates(
        db_target, "BTCUSDT", pd.Timestamp(t0 + 8 * H_MS, unit="ms", tz="UTC"), pd.Timestamp("2024-01-01 13:00")
    )
    assert list(window.index.asi8 // 1_000_000) == stamps[1:3]  # the end is exclusive; a naive bound is UTC
    empty = db.funding_rates(db_target, "SOLUSDT")
    assert empty.empty and list(empty.columns) == ["rate", "mark_price", "interval_hours"]
    assert empty.index.name == "funding_time" and str(empty.index.tz) == "UTC"


def test_next_funding_keeps_the_latest_mark_price_update(db_target):
    """The live markPrice stream's current rate and next settlement per symbol; its interval comes from the stream's
    writer where known, else from the latest stored settlement; an older update never overwrites a newer one."""
    assert db.next_funding(db_target, "BTCUSDT") is None
    conn = db.open_writer(db_target)
    t0 = 1_704_067_200_000
    db.write_funding_rates(conn, [FundingRate("BTCUSDT", t0, 1e-4, 60_000.0, 4)])
    newer = MarkPrice("BTCUSDT", t0 + 5_000, 60_100.0, 2e-4, t0 + 4 * H_MS)
    older = MarkPrice("BTCUSDT", t0 + 4_000, 60_050.0, 1.5e-4, t0 + 4 * H_MS)
    db.write_mark_prices(conn, [newer, older], {})
    db.write_mark_prices(conn, [older], {})
    got = db.next_funding(db_target, "BTCUSDT")
    assert got == db.NextFunding(
        "BTCUSDT",
        2e-4,
        pd.Timestamp(t0 + 4 * H_MS, unit="ms", tz="UTC"),
        60_100.0,
        4.0,
        pd.Timestamp(t0 + 5_000, unit="ms", tz="UTC"),
    )
    db.write_mark_prices(conn, [MarkPrice("BTCUSDT", t0 + 6_000, 60_000.0, 1e-4, t0 + 4 * H_MS)], {"BTCUSDT": 1.0})
    assert db.next_funding(db_target, "BTCUSDT").interval_hours == 1.0
    conn.close()


def test_quote_bars_are_one_row_per_second_and_read_in_a_window(db_target):
    conn = db.open_writer(db_target)
    bars = [QuoteBar("BTCUSDT", T0 + 1000 * i, 60_000.0 + i, 60_000.2 + i, 1.5, 2.5, 0.1) for i in range(5)]
    assert db.write_quote_bars(conn, [*bars, QuoteBar("ETHUSDT", T0, 3_000.0, 3_000.01, 9.0, 8.0, 0.005)]) == 6
    db.write_quote_bars(conn, [dataclasses.replace(bars[2], bid=60_001.9, half_spread=0.15)])  # completed later
    assert db.record_quote_gaps(conn, [("BTCUSDT", T0 + 5_000, T0 + 9_000, "disconnected")]) == 1
    conn.close()
    frame = db.quote_bars(db_target, "BTCUSDT", pd.Timestamp(T0 + 1000, unit="ms", tz="UTC"))
    assert list(frame.columns) == ["bid", "ask", "bid_size", "ask_size", "half_spread"]
    assert frame.index.name == "time" and str(frame.index.tz) == "UTC"
    assert list(frame.index.asi8 // 1_000_000) == [T0 + 1000 * i for i in range(1, 5)]
    assert frame.bid.iloc[1] == 60_001.9 and frame.half_spread.iloc[1] == 0.15 and frame.ask_size.iloc[0] == 2.5
    assert db.quote_bars(db_target, "BTCUSDT", end=pd.Timestamp(T0, unit="ms", tz="UTC")).empty
    with contextlib.closing(db.open_reader(db_target)) as reader:
        gaps = db.quote_gaps(reader, ["BTCUSDT"])
        last = db.last_quote_seconds(reader, ["BTCUSDT", "ETHUSDT", "SOLUSDT"])
    assert [(g.symbol, g.from_ts, g.to_ts, g.note) for g in gaps] == [
        ("BTCUSDT", T0 + 5_000, T0 + 9_000, "disconnected")
    ]
    assert last == {"BTCUSDT": T0 + 4_000, "ETHUSDT": T0}  # where a restarted collector's quotes resume


def test_contract_rules_are_replaced_when_read_again(db_target):
    assert db.contract_rules(db_target, "BTCUSDT") is None
    conn = db.open_writer(db_target)
    db.write_contract_rules(
        conn, [ContractRules("BTCUSDT", 0.1, 0.001, 100.0), ContractRules("ETHUSDT", 0.01, 0.001, 20)]
    )
    db.write_contract_rules(conn, [ContractRules("BTCUSDT", 0.1, 0.001, 50.0)])
    conn.close()
    assert db.contract_rules(db_target, "BTCUSDT") == ContractRules("BTCUSDT", 0.1, 0.001, 50.0)
    assert db.contract_rules(db_target, "ETHUSDT") == ContractRules("ETHUSDT", 0.01, 0.001, 20.0)


# The modules that know which backend they talk to: the one that opens connections, the backends themselves (with
# SQLite's schema upgrade of a file), and the shared module whose error tuples name both drivers' classes. Every
# other storage module is a table module.
BACKEND_MODULES = {"connection.py", "sqlite.py", "sqlite_upgrade.py", "postgres.py", "timescale.py", "sql.py"}
BACKEND_NAMES = {
    "sqlite3",
    "psycopg",
    "storage.sqlite",
    "storage.postgres",
    "storage.timescale",
    "PgConnection",
    "SqliteConnection",
    "sqlite",
    "postgres",
    "timescale",
    "is_postgres",
}


def test_table_modules_never_ask_which_backend_they_hold():
    """Table modules call the storage.sql.Connection methods where the backends differ: they import no driver and no
    backend module, so they hold no `isinstance(conn, PgConnection)` branch (a new difference becomes a method)."""
    storage = Path(__file__).resolve().parents[1] / "storage"
    found = []
    for path in sorted(storage.glob("*.py")):
        if path.name in BACKEND_MODULES:
            continue
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, ast.Import):
                names = {alias.name for alias in node.names}
            elif isinstance(node, ast.ImportFrom):
                names = {node.module or ""} | {alias.name for alias in node.names}
            else:
                continue
            found += [f"{path.name} imports {name}" for name in sorted(names & BACKEND_NAMES)]
    assert not found, found
