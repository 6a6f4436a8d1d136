"""Issue 10 ("never lose a trade, for real"): the faults that still lost data and the inputs that still got through,
each against the real collector, the fake Binance server and real files (nothing mocked)."""

from __future__ import annotations

import io
import json
import os
import re
import resource
import sqlite3
import subprocess
import sys
import threading
import time
import zipfile
from pathlib import Path

import pytest
from test_faults import SYMS, assert_exact, make_collector, store_history_head, stored_ids, stream_with_fault
from waiting import wait_until

import collector
import config
import database as db
from collection.pipeline import Pipeline, SymbolTrack
from collection.queue import TickQueue
from collection.records import GapJob, RepairBatch
from collection.repair import run_repairs
from core.clock import now_ms
from data_feed import BinanceFuturesFeed, BinanceRest, NoArchive, Tick
from service import uploads

ROOT = Path(__file__).resolve().parents[1]
pytestmark = [pytest.mark.timeout(120)]


# ------------------------------------------------------------------------------------------ item 8: migrations
_OPEN_AT = """
import sys, time
import database
start = float(sys.argv[2])
time.sleep(max(0.0, start - time.time()))
database.ensure_database(sys.argv[1])
"""


def test_concurrent_first_opens_of_a_fresh_database_all_succeed(tmp_path):
    """Several processes opening one fresh file at the same instant: each must find the schema migrated once."""
    failures = []
    for trial in range(4):
        path = str(tmp_path / f"fresh{trial}.db")
        start = time.time() + 1.5
        procs = [
            subprocess.Popen(
                [sys.executable, "-c", _OPEN_AT, path, str(start)], cwd=ROOT, stderr=subprocess.PIPE, text=True
            )
            for _ in range(4)
        ]
        for proc in procs:
            _, err = proc.communicate(timeout=60)
            if proc.returncode:
                failures.append(err.strip().splitlines()[-1])
        conn = sqlite3.connect(path)
        assert conn.execute("PRAGMA user_version").fetchone()[0] == db.SCHEMA_VERSION
        conn.close()
    assert not failures, failures


# --------------------------------------------------------------------------------- item 9: a damaged file
def _damage(path: str) -> None:
    """Overwrite one page in the middle of the file (as a bad disk sector or a torn copy would)."""
    conn = sqlite3.connect(path)
    page = conn.execute("PRAGMA page_size").fetchone()[0]
    pages = conn.execute("PRAGMA page_count").fetchone()[0]
    conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    conn.close()
    with open(path, "r+b") as f:
        f.seek(page * (pages // 2))
        f.write(b"\xa5" * page)


@pytest.mark.network
@pytest.mark.sqlite_only  # (a damaged file: SQLite's quick_check)
def test_a_damaged_database_is_refused_at_start_with_a_clear_message(fb, db_path):
    fb.generate("BTCUSDT", 20_000)
    store_history_head(fb, db_path, "BTCUSDT", 20_000)
    _damage(db_path)
    size = os.path.getsize(db_path)
    c = make_collector(fb, db_path)
    with pytest.raises(RuntimeError, match=r"is damaged.*quick_check"):
        c.start(SYMS)
    c.stop()
    assert os.path.getsize(db_path) == size
    assert not os.path.exists(db_path + "-wal") or os.path.getsize(db_path + "-wal") == 0


# ------------------------------------------------------------------------------ item 10: inputs refused
@pytest.mark.parametrize(
    ("var", "value", "message"),
    [
        ("CRYPTO_DB_PATH", ":memory:", "expected a file path"),
        ("BINANCE_WS_URL", "wss://user:secret@fstream.binance.com/market", "credentials"),
        ("BINANCE_WS_URL", "wss://fstream.binance.com:99999/market", "port"),
        ("BINANCE_WS_URL", "wss://[::1/market", "host"),
        ("BINANCE_REST_URL", "https://fapi.binance.com/?x=1", "query string"),
        ("SYMBOLS", "btcusdtß", "invalid symbol"),
        ("BATCH_SIZE", "1_000", "ASCII digits"),
        ("BATCH_SIZE", "\u0661\u0662\u0663", "ASCII digits"),
        ("FEE_BPS", "\u0663.5", "ASCII digits"),
    ],
)
def test_bad_settings_are_refused_naming_the_variable(var, value, message):
    with pytest.raises(config.ConfigError, match=var) as err:
        config.load_settings({var: value})
    assert message in str(err.value)
    assert "secret" not in str(err.value)


# ------------------------------------------------------------------- item 6: reconnect at once after a cut
@pytest.mark.network
@pytest.mark.fake_binance(ping_interval_s=1.0, ping_timeout_s=5.0)
def test_repeated_cuts_are_answered_within_a_second_every_time(fb, db_path):
    """A server that cuts every connection soon after it delivered data: the backoff must not grow (default
    backoff settings: 1 s initial, 30 s cap)."""
    c = make_collector(fb, db_path, backoff_initial_s=1.0, backoff_max_s=30.0)
    c.start(SYMS)
    try:
        assert fb.wait_subscribed(SYMS, timeout=15)
        job = fb.stream_trades(SYMS, count=None, rate_per_s=300)
        delays = []
        for _ in range(6):
            time.sleep(0.5)  # the connection delivers data...
            before = fb.stats().connections_accepted
            cut_at = time.monotonic()
            fb.drop_connections(abrupt=True)  # ...then is cut
            assert wait_until(lambda b=before: fb.stats().connections_accepted > b, 40)
            delays.append(time.monotonic() - cut_at)
            assert fb.wait_subscribed(SYMS, timeout=15)
        job.stop()
        # ~1 s (the initial backoff with jitter) each time; a growing backoff would reach 4, 8, 16 s by the 6th cut.
        # The bound leaves room for a loaded 2-core CI machine.
        assert max(delays) < 3.0, [f"{d:.2f}" for d in delays]
        fb.stream_trades(SYMS, count=30, rate_per_s=200).wait(10)
        assert_exact(fb, db_path)
    finally:
        c.stop()


# --------------------------------------------------- item 7: a due catch-up is not lost to a queued repair
@pytest.mark.network
@pytest.mark.sqlite_only  # (no writer thread here: on a shared server a repair holds its lock until one commits)
def test_a_due_catchup_survives_a_gap_repair_queued_at_the_same_moment(fb, db_path):
    feed = BinanceFuturesFeed(fb.ws_base)
    p = Pipeline(db_path, feed, BinanceRest(fb.rest_base), NoArchive("off"), TickQueue(1000, 100), 0.05, True, 0, 0)
    p.symbols = tuple(SYMS)
    for symbol in SYMS:
        fb.generate(symbol, 200)
    btc, eth = fb.history("BTCUSDT"), fb.history("ETHUSDT")
    p.tracks["BTCUSDT"] = SymbolTrack(btc[-50].agg_id, btc[-50].time_ms, now_ms() - 60_000)
    p.catchups["BTCUSDT"] = time.monotonic()  # due now
    p.repairs.append(GapJob(1, "ETHUSDT", eth[-20].agg_id, eth[-10].agg_id, eth[-21].time_ms))
    thread = threading.Thread(target=run_repairs, args=(p,), daemon=True)
    thread.start()
    try:
        assert wait_until(lambda: any(isinstance(b, RepairBatch) and b.catchup for b in list(p.side)), 10), (
            "the due catch-up of BTCUSDT was discarded"
        )
        caught = next(b for b in p.side if isinstance(b, RepairBatch) and b.catchup)
        assert [t.trade_id for t in caught.ticks] == [t.agg_id for t in btc[-49:]]
        assert any(isinstance(b, RepairBatch) and b.outcome is not None for b in p.side)
    finally:
        p.stop.set()
        thread.join(5)


# ------------------------------------------- item 5: a REST outage defers repairs instead of losing trades
def _collector_with_quick_rest_retries(fb, db_path) -> collector.Collector:
    feed = BinanceFuturesFeed(
        fb.ws_base, stall_first_s=2.0, stall_idle_s=2.0, backoff_initial_s=0.05, backoff_max_s=0.3
    )
    rest = BinanceRest(fb.rest_base, max_retries=2, retry_backoff_s=0.1)
    return collector.Collector(db_path, feed, rest=rest, flush_interval_ms=50)


def _gap_statuses(db_path: str) -> list[str]:
    conn = db.open_reader(db_path)
    try:
        return [gap.status for gap in db.list_gaps(conn)]
    finally:
        conn.close()


@pytest.mark.network
@pytest.mark.fake_binance(ping_interval_s=1.0, ping_timeout_s=5.0)
def test_a_rest_outage_during_repair_is_retried_until_rest_is_back(fb, db_path):
    c = _collector_with_quick_rest_retries(fb, db_path)
    c.start(SYMS)
    try:
        assert fb.wait_subscribed(SYMS, timeout=15)
        fb.fail_rest(503, count=10_000, path="/fapi/v1/aggTrades")
        stream_with_fault(fb, fb.drop_connections)
        time.sleep(6)  # far longer than the REST client's own retries (0.1 + 0.2 s)
        statuses = _gap_statuses(db_path)
        assert statuses and "unrepairable" not in statuses, statuses
        fb.clear_faults()
        assert_exact(fb, db_path, timeout=60)
        assert set(_gap_statuses(db_path)) == {"repaired"}
    finally:
        c.stop()


@pytest.mark.network
@pytest.mark.fake_binance(ping_interval_s=1.0, ping_timeout_s=5.0)
def test_a_repair_deferred_by_a_rest_outage_resumes_after_a_restart(fb, db_path):
    c = _collector_with_quick_rest_retries(fb, db_path)
    c.start(SYMS)
    assert fb.wait_subscribed(SYMS, timeout=15)
    fb.fail_rest(503, count=10_000, path="/fapi/v1/aggTrades")
    stream_with_fault(fb, fb.drop_connections)
    time.sleep(3)
    c.stop()
    assert "unrepairable" not in _gap_statuses(db_path)
    fb.clear_faults()
    c = _collector_with_quick_rest_retries(fb, db_path)
    c.start(SYMS)
    try:
        assert_exact(fb, db_path, timeout=60)
    finally:
        c.stop()


# ------------------------------------------------------ item 3: a writer failure stops the feed, loudly
_LIMIT_BYTES = 3 * 1024 * 1024


def _limit_file_size() -> None:
    """In the child: files may not grow past _LIMIT_BYTES (writes beyond fail with EFBIG, as on a full disk)."""
    resource.setrlimit(resource.RLIMIT_FSIZE, (_LIMIT_BYTES, _LIMIT_BYTES))


@pytest.mark.network
def test_cli_writer_failure_exits_non_zero_with_the_real_error(fb, tmp_path):
    db_path = str(tmp_path / "full.db")
    env = {
        **os.environ,
        "BINANCE_WS_URL": fb.ws_base,
        "BINANCE_REST_URL": fb.rest_base,
        "REPAIR_GAPS": "false",
        "FLUSH_INTERVAL_MS": "50",
    }
    proc = subprocess.Popen(
        [sys.executable, "collector.py", "--symbols", "BTCUSDT,ETHUSDT", "--db", db_path, "--status-interval", "1"],
        cwd=ROOT,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        preexec_fn=_limit_file_size,
    )
    try:
        assert fb.wait_subscribed(SYMS, timeout=20)
        job = fb.stream_trades(SYMS, count=None, rate_per_s=20_000)
        _, err = proc.communicate(timeout=60)  # it must stop by itself: nothing can be stored any more
        job.stop()
    finally:
        if proc.poll() is None:
            proc.kill()
    assert proc.returncode == 1, err[-2000:]
    last = err.strip().splitlines()[-1]
    assert last.startswith("collector.py: database writer failed") and "disk" in last, last
    assert "cannot rollback" not in err


_REFUSE_INSERTS = {  # another program makes every insert fail from now on (as a full disk would, but in this process)
    "sqlite": ["CREATE TRIGGER refuse BEFORE INSERT ON ticks BEGIN SELECT RAISE(ABORT, 'no space'); END"],
    "postgresql": [
        "CREATE FUNCTION refuse() RETURNS trigger LANGUAGE plpgsql AS $$ BEGIN RAISE EXCEPTION 'no space'; END $$",
        "CREATE TRIGGER refuse BEFORE INSERT ON ticks FOR EACH ROW EXECUTE FUNCTION refuse()",
    ],
}


@pytest.mark.network
def test_a_dead_writer_disconnects_the_feed_and_says_why(fb, db_path):
    """Every insert fails (a full disk): the collector fails at once, stops taking ticks in and says why — on a
    server too, where a failing statement must not be mistaken for a lost session and retried for minutes."""
    c = make_collector(fb, db_path)
    c.start(SYMS)
    conn = db.open_writer(db_path)
    try:
        assert fb.wait_subscribed(SYMS, timeout=15)
        for statement in _REFUSE_INSERTS["postgresql" if db_path.startswith("postgresql://") else "sqlite"]:
            conn.execute(statement)
        job = fb.stream_trades(SYMS, count=None, rate_per_s=2000)
        assert wait_until(lambda: c.state is collector.CollectorState.FAILED, 20), c.stats().last_error
        assert wait_until(lambda: fb.stats().connections_open == 0, 10), "the feed kept running"
        depth = c.stats().queue_depth
        time.sleep(1.0)
        job.stop()
        assert c.stats().queue_depth == depth  # nothing more is taken in
        assert "database writer failed" in c.last_error and "no space" in c.last_error
        # every tick the feed handed over and the database lacks is counted, the batch in hand included (issue 24
        # item 8: on a server the message said 332 where 2,351 were missing: a 2,000-tick batch was left out)
        told = re.search(r"(\d+) received ticks not stored", c.last_error)
        assert told is not None, c.last_error
        missing = c.feed.get_stats().ticks - _stored_count(db_path) - c.stats().dropped
        assert int(told[1]) == missing > 0, c.last_error
        c.stop()
        assert c.state is collector.CollectorState.FAILED  # Stop does not hide the failure
    finally:
        conn.close()
        c.stop()


def _stored_count(db_path: str) -> int:
    conn = db.open_reader(db_path)
    try:
        return conn.execute("SELECT count(*) FROM ticks").fetchone()[0]
    finally:
        conn.close()


# ------------------------------------- item 1: a foreign or implausible id cannot disable gap detection
def _ids_below(db_path: str, symbol: str, bound: int) -> list[int]:
    return [i for i in stored_ids(db_path, symbol) if i < bound]


@pytest.mark.network
@pytest.mark.fake_binance(ping_interval_s=1.0, ping_timeout_s=5.0)
def test_an_uploaded_tick_with_a_huge_id_does_not_move_the_live_cursor(fb, db_path):
    for symbol in SYMS:
        fb.generate(symbol, 500)
        store_history_head(fb, db_path, symbol, 500)
    conn = db.open_writer(db_path)  # what the dashboard's NDJSON upload stores
    db.write_ticks(conn, [Tick("BTCUSDT", 9 * 10**15, now_ms(), 60_000.0, 1.0, False, now_ms())])
    conn.close()
    c = make_collector(fb, db_path)
    c.start(SYMS)
    try:
        assert fb.wait_subscribed(SYMS, timeout=15)
        stream_with_fault(fb, fb.drop_connections)
        want = list(fb.history_ids("BTCUSDT"))
        assert wait_until(lambda: _ids_below(db_path, "BTCUSDT", 10**15) == want, 30), (
            f"stored {len(_ids_below(db_path, 'BTCUSDT', 10**15))} of {len(want)}"
        )
        assert stored_ids(db_path, "ETHUSDT") == list(fb.history_ids("ETHUSDT"))
    finally:
        c.stop()


@pytest.mark.network
@pytest.mark.fake_binance(ping_interval_s=1.0, ping_timeout_s=5.0)
def test_a_live_frame_with_an_implausible_id_is_quarantined_not_trusted(fb, db_path):
    c = make_collector(fb, db_path)
    c.start(SYMS)
    try:
        assert fb.wait_subscribed(SYMS, timeout=15)
        fb.stream_trades(SYMS, count=300, rate_per_s=1000).wait(10)
        t = now_ms()
        fb.send_raw(
            json.dumps(
                {
                    "stream": "btcusdt@aggTrade",
                    "data": {
                        "e": "aggTrade",
                        "E": t,
                        "a": 10**15,
                        "s": "BTCUSDT",
                        "p": "60000.0",
                        "q": "1.0",
                        "nq": "1.0",
                        "f": 1,
                        "l": 1,
                        "T": t,
                        "m": False,
                    },
                }
            )
        )
        fb.stream_trades(SYMS, count=300, rate_per_s=1000).wait(10)
        assert_exact(fb, db_path)
        assert c.stats().quarantined == 1
        assert "implausible trade id 1000000000000000" in c.feed.get_stats().last_error
    finally:
        c.stop()


# ------------------------------------------ item 2: a large import never stalls a running collector
def _agg_csv(path: Path, symbol_rows: int, start_ms: int = 1_600_000_000_000) -> None:
    with open(path, "w") as f:
        f.write("agg_trade_id,price,quantity,first_trade_id,last_trade_id,transact_time,is_buyer_maker\n")
        f.writelines(f"{i},{100 + i % 7}.5,0.01,{i},{i},{start_ms + i},false\n" for i in range(1, symbol_rows + 1))


@pytest.mark.network
@pytest.mark.fake_binance(ping_interval_s=1.0, ping_timeout_s=5.0)
def test_a_large_import_from_the_shell_never_stalls_the_live_writer(fb, db_path, tmp_path):
    big = tmp_path / "SOLUSDT-aggTrades-2020-09-13.csv"
    _agg_csv(big, 1_500_000)
    c = make_collector(fb, db_path)
    c.start(SYMS)
    try:
        assert fb.wait_subscribed(SYMS, timeout=15)
        job = fb.stream_trades(SYMS, count=None, rate_per_s=500)
        proc = subprocess.run(
            [sys.executable, "collector.py", "import", str(big), "--db", db_path],
            cwd=ROOT,
            capture_output=True,
            text=True,
            timeout=300,
        )
        job.stop()
        assert proc.returncode == 0, proc.stderr[-2000:]
        assert "Stored 1,500,000 new ticks" in proc.stderr
        assert c.state is collector.CollectorState.RUNNING, c.last_error
        fb.stream_trades(SYMS, count=30, rate_per_s=200).wait(10)
        assert_exact(fb, db_path)
        assert c.stats().commit_latency_ms["max"] < 5000  # never waited out a busy_timeout
    finally:
        c.stop()


def test_an_upload_goes_through_the_running_collectors_writer_in_batches(tmp_path, monkeypatch):
    """In the dashboard's process the running collector stores the upload between its live batches."""
    path = str(tmp_path / "live.db")
    monkeypatch.setenv("CRYPTO_DB_PATH", path)
    monkeypatch.setenv("DATA_FEED", "simulated")
    settings = config.load_settings()
    big = tmp_path / "SOLUSDT-aggTrades-2020-09-13.csv"
    _agg_csv(big, 50_000)
    running = collector.start_service(settings, "simulated", ["BTCUSDT"])
    try:
        plan = uploads.parse_upload(big.read_bytes(), big.name, "ticks")
        seen: list[int] = []
        message = uploads.store_upload(path, plan, lambda done, total: seen.append(done))
        assert message.startswith("Stored 50,000 new ticks") and seen == [20_000, 40_000, 50_000]
        assert running.running and running.stats().written > 0
    finally:
        collector.stop_service()
    conn = sqlite3.connect(path)
    assert conn.execute("SELECT count(*) FROM ticks WHERE symbol='SOLUSDT'").fetchone()[0] == 50_000
    conn.close()


def test_a_direct_import_waits_out_a_write_lock_held_past_busy_timeout(tmp_path, caplog):
    """No collector in this process: the import writes itself. Another process holding the write lock longer than
    SQLite's busy_timeout (or a server deadlock broken against the import) makes the batch wait and go again,
    instead of failing the import half-way (it failed with "database is locked")."""
    path = str(tmp_path / "ticks.db")
    db.ensure_database(path)
    csv = tmp_path / "SOLUSDT-aggTrades-2020-09-13.csv"
    _agg_csv(csv, 1_000)
    plan = collector.validate_import(csv, csv.name, "ticks")
    holder = sqlite3.connect(path, isolation_level=None, check_same_thread=False)
    holder.execute("BEGIN IMMEDIATE")
    release = threading.Timer(7.0, holder.execute, ("COMMIT",))
    release.start()
    try:
        message = collector.store_import(path, plan)
    finally:
        release.join()
        holder.close()
    assert message.startswith("Stored 1,000 new ticks"), message
    assert "database busy" in caplog.text
    conn = sqlite3.connect(path)
    assert conn.execute("SELECT count(*) FROM ticks WHERE symbol='SOLUSDT'").fetchone()[0] == 1_000
    conn.close()


# ------------------------------------------------- item 4: bounded, streaming parsing of uploads
_MEASURE = """
import resource, sys, zipfile, io
from service import uploads
data = open(sys.argv[1], 'rb').read()
base = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
try:
    plan = uploads.parse_upload(data, sys.argv[2], sys.argv[3], max_mb=200, symbol='BTCUSDT', timeframe='1s')
    outcome = f'count={plan.count}'
except uploads.UploadError as exc:
    outcome = f'refused={exc}'
print((resource.getrusage(resource.RUSAGE_SELF).ru_maxrss - base) // 1024, outcome)
"""


def _measure_upload(path: Path, kind: str = "ticks") -> tuple[int, str]:
    out = subprocess.run(
        [sys.executable, "-c", _MEASURE, str(path), path.name, kind],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert out.returncode == 0, out.stderr[-2000:]
    grown, outcome = out.stdout.strip().split(" ", 1)
    return int(grown), outcome


def test_a_zip_holding_one_huge_line_is_refused_early_with_bounded_memory(tmp_path):
    bomb = tmp_path / "bomb.zip"
    with (
        zipfile.ZipFile(bomb, "w", zipfile.ZIP_DEFLATED, compresslevel=9) as z,
        z.open("bomb.ndjson", "w", force_zip64=True) as member,
    ):
        block = b"a" * (1 << 20)
        for _ in range(400):  # one 400 MB line
            member.write(block)
    grown_mb, outcome = _measure_upload(bomb)
    assert outcome.startswith("refused=") and "longer than" in outcome, outcome
    assert grown_mb < 200, f"{grown_mb} MB"


def test_a_small_zip_of_millions_of_valid_rows_is_parsed_in_bounded_memory(tmp_path):
    rows = tmp_path / "BTCUSDT-aggTrades-2020-09-13.csv"
    _agg_csv(rows, 2_000_000)
    packed = tmp_path / "BTCUSDT-aggTrades-2020-09-13.zip"
    with zipfile.ZipFile(packed, "w", zipfile.ZIP_DEFLATED, compresslevel=9) as z:
        z.write(rows, rows.name)
    grown_mb, outcome = _measure_upload(packed)
    assert outcome == "count=2000000", outcome
    assert grown_mb < 200, f"{grown_mb} MB"


def test_a_bar_file_of_a_million_bars_is_checked_in_bounded_memory(tmp_path):
    """Bars stream too: their repeat check keeps 8-byte times, not a million bar objects and tuples (was +377 MB)."""
    bars = tmp_path / "bars.csv"
    with bars.open("w") as f:
        f.write("ts,open,high,low,close,volume\n")
        f.writelines(
            f"{1_723_161_000_000 + 1000 * i},100.{i % 7},101.{i % 9},99.{i % 5},100.5,3\n" for i in range(1_000_000)
        )
    grown_mb, outcome = _measure_upload(bars, "bars")
    assert outcome == "count=1000000", outcome
    assert grown_mb < 120, f"{grown_mb} MB"


# ------------------------------------------------------- item 10: upload inputs refused with a message
def test_two_bars_with_one_time_are_refused():
    data = b"ts,open,high,low,close,volume\n1723161000000,1,2,1,2,5\n1723161000000,2,3,2,3,5\n"
    with pytest.raises(
        uploads.UploadError,
        match=r"1 BTCUSDT bar time\(s\) appear more than once \(first: "
        r"2024-08-08 23:50:00 UTC\)",
    ):
        uploads.parse_upload(data, "dup.csv", "bars", symbol="BTCUSDT", timeframe="1min")


def test_an_unaligned_bar_is_refused():
    data = b"ts,open,high,low,close,volume\n1723161030000,1,2,1,2,5\n"
    with pytest.raises(uploads.UploadError, match=r"not aligned to 1min"):
        uploads.parse_upload(data, "odd.csv", "bars", symbol="BTCUSDT", timeframe="1min")


def test_a_zip_with_a_second_member_is_refused(tmp_path):
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as z:
        z.writestr("BTCUSDT-aggTrades-2024-08-08.csv", "1,60000.1,0.01,1,1,1723075200000,false\n")
        z.writestr("ETHUSDT-aggTrades-2024-08-08.csv", "1,3000.1,0.01,1,1,1723075200000,false\n")
    with pytest.raises(uploads.UploadError, match="holds 2 files"):
        uploads.parse_upload(buffer.getvalue(), "two.zip", "ticks")


def test_an_archive_of_one_symbol_uploaded_as_another_is_refused():
    data = b"1,60000.1,0.01,1,1,1723075200000,false\n"
    with pytest.raises(uploads.UploadError, match="is a BTCUSDT archive, not ETHUSDT"):
        uploads.parse_upload(data, "BTCUSDT-aggTrades-2024-08-08.csv", "ticks", symbol="ETHUSDT")


def test_an_unrecognised_replay_file_is_refused_without_a_traceback(tmp_path):
    bad = tmp_path / "notes.txt"
    bad.write_text("hello\nworld\n")
    proc = subprocess.run(
        [
            sys.executable,
            "collector.py",
            "--feed",
            "replay",
            "--replay-file",
            str(bad),
            "--db",
            str(tmp_path / "r.db"),
            "--duration",
            "2",
        ],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert proc.returncode == 2 and "Traceback" not in proc.stderr
    assert "notes.txt: unrecognised format" in proc.stderr


def test_a_failed_collector_stays_visible_to_every_session_and_its_feed_is_stopped(tmp_path, monkeypatch):
    path = str(tmp_path / "live.db")
    monkeypatch.setenv("CRYPTO_DB_PATH", path)
    settings = config.load_settings()
    running = collector.start_service(settings, "simulated", ["BTCUSDT"])
    try:
        assert wait_until(lambda: running.stats().written > 0, 10)
        conn = sqlite3.connect(path)
        conn.execute("CREATE TRIGGER refuse BEFORE INSERT ON ticks BEGIN SELECT RAISE(ABORT, 'no space'); END")
        conn.commit()
        conn.close()
        assert wait_until(lambda: running.state is collector.CollectorState.FAILED, 10)
        seen = collector.current_collector()  # what any other browser session finds
        assert seen is running and "no space" in seen.stats().last_error
        assert wait_until(lambda: not running.feed.is_connected(), 5)
        collector.stop_service()  # Stop from another session reaches it
        assert running.state is collector.CollectorState.FAILED
    finally:
        collector.stop_service()
