"""The PostgreSQL backend as a shared store: several collector processes (two machines, in production) write one
server with overlapping symbols and disconnects, and every trade is stored once; a repair of a symbol is done by
one collector at a time. Runs on the session's throw-away cluster (tests/pg_cluster.py); skips without one."""
from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import sys
from pathlib import Path

import pytest
from fake_binance import FakeBinance
from waiting import wait_until

import database as db
from data_feed import Tick
from storage.postgres import PG_SCHEMA_VERSION

ROOT = Path(__file__).resolve().parents[1]
pytestmark = [pytest.mark.network, pytest.mark.timeout(240)]


def stored_ids(url: str, symbol: str) -> list[int]:
    with contextlib.closing(db.open_reader(url)) as conn:
        return [r[0] for r in conn.execute("SELECT trade_id FROM ticks WHERE symbol=? ORDER BY trade_id",
                                           (symbol,)).fetchall()]


def collector_process(fb: FakeBinance, url: str, symbols: list[str]) -> subprocess.Popen:
    env = {**os.environ, "BINANCE_WS_URL": fb.ws_base, "BINANCE_REST_URL": fb.rest_base, "DATABASE_URL": url,
           "FLUSH_INTERVAL_MS": "50", "SYMBOLS": ",".join(symbols), "LOG_LEVEL": "INFO"}
    return subprocess.Popen([sys.executable, str(ROOT / "collector.py"), "--feed", "binance", "--status-interval",
                             "1"], env=env, stderr=subprocess.PIPE, text=True)


def test_two_collectors_on_one_server_store_every_trade_once(pg_server):
    """Collector A takes BTC and ETH, collector B ETH and SOL; both are cut off three times while trades flow.
    Each cut leaves a hole in each collector's stream; ETH's holes are seen by both, and repaired by one of them
    at a time (the other finds them filled or fills what is left). The table ends with exactly the exchange's
    trades."""
    url = pg_server.create_database()
    db.ensure_database(url)
    with FakeBinance() as fb:
        a = collector_process(fb, url, ["BTCUSDT", "ETHUSDT"])
        b = collector_process(fb, url, ["ETHUSDT", "SOLUSDT"])
        try:
            assert fb.wait_subscribed(["ETHUSDT"], timeout=30, connections=2)
            assert fb.wait_subscribed(["BTCUSDT"], timeout=30) and fb.wait_subscribed(["SOLUSDT"], timeout=30)
            job = fb.stream_trades(["BTCUSDT", "ETHUSDT", "SOLUSDT"], count=None, rate_per_s=600)
            for _ in range(3):
                wait_until(lambda: False, 1.0)                 # trades flow for a second...
                fb.drop_connections(abrupt=True)               # ...then both collectors are cut off
                assert fb.wait_subscribed(["ETHUSDT"], timeout=30, connections=2)
                assert fb.wait_subscribed(["BTCUSDT"], timeout=30) and fb.wait_subscribed(["SOLUSDT"], timeout=30)
            job.stop()
            fb.stream_trades(["BTCUSDT", "ETHUSDT", "SOLUSDT"], count=30, rate_per_s=300).wait(10)
            for symbol in ("BTCUSDT", "ETHUSDT", "SOLUSDT"):
                want = list(fb.history_ids(symbol))
                assert wait_until(lambda s=symbol, w=want: stored_ids(url, s) == w, 60), \
                    f"{symbol}: {len(stored_ids(url, symbol))} of {len(want)}"
            with contextlib.closing(db.open_reader(url)) as conn:
                gaps = db.list_gaps(conn)
            assert gaps and {g.status for g in gaps} == {"repaired"}, gaps
        finally:
            for proc in (a, b):
                proc.send_signal(signal.SIGTERM)
            logs = [proc.communicate(timeout=30)[1] for proc in (a, b)]
        assert a.returncode == 0 and b.returncode == 0, logs
        assert not any("Traceback" in log for log in logs), logs


def test_a_dashboard_role_with_select_rights_only_reads_a_current_database(pg_server):
    """Dashboards may log in with a role that can only read: its sessions never write (not even to check the
    schema), so they read a database a collector has created; on a new database they say why they cannot start."""
    url = pg_server.create_database()
    with contextlib.closing(db.open_writer(url)) as writer:
        db.write_ticks(writer, [Tick("BTCUSDT", 1, 1_723_161_000_000, 60_000.0, 1.0, False, 1_723_161_000_005)])
        writer.execute("CREATE ROLE dash_reader LOGIN")
        writer.execute("GRANT SELECT ON ALL TABLES IN SCHEMA public TO dash_reader")
    reader_url = url.replace("postgresql://postgres@", "postgresql://dash_reader@")
    with contextlib.closing(db.open_reader(reader_url)) as reader:
        assert db.stored_symbols(reader) == ["BTCUSDT"]
        assert db.read_ticks(reader, ["BTCUSDT"])["trade_id"].tolist() == [1]
    with pytest.raises(db.DatabaseError, match="permission denied"):
        db.open_reader(pg_server.create_database().replace("postgresql://postgres@", "postgresql://dash_reader@"))


def test_a_newer_schema_is_refused_before_anything_is_read_or_written(pg_server):
    """A server database migrated by a newer version of this program (another machine upgraded first): an older
    collector or dashboard refuses it by name instead of writing rows the newer schema does not expect."""
    url = pg_server.create_database()
    with contextlib.closing(db.open_writer(url)) as writer:
        writer.execute("INSERT INTO schema_version(version) VALUES (?)", (PG_SCHEMA_VERSION + 1,))
    code = ("import sys, database\n"
            "try:\n    database.open_reader(sys.argv[1])\nexcept RuntimeError as exc:\n    print(exc)\n")
    out = subprocess.run([sys.executable, "-c", code, url], cwd=ROOT, capture_output=True, text=True, timeout=60)
    assert f"newer than this program understands (v{PG_SCHEMA_VERSION})" in out.stdout, out.stderr
    with pytest.raises(RuntimeError, match="newer than this program"):
        db.open_writer(url)
