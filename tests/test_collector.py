"""collector.py: queue → batching writer → SQLite with exact counts, overflow accounting, gaps, service, CLI."""

from __future__ import annotations

import os
import signal
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

import pytest
from pg_cluster import database_env

import collector
import database as db
from config import load_settings
from data_feed import FeedState, ReplayFeed, SimulatedFeed

ROOT = Path(__file__).resolve().parents[1]
T0 = 1_723_161_000_000


def write_agg_csv(path: Path, ids, *, header: bool = True, start_ms: int = T0) -> list[tuple]:
    """A Binance futures aggTrades archive file with the given ids (a trade every 10 ms)."""
    rows = [
        (i, f"{60000 + (i % 50) / 10:.1f}", "0.010", i * 3, i * 3 + 2, start_ms + k * 10, "true" if i % 2 else "false")
        for k, i in enumerate(ids)
    ]
    lines = ["agg_trade_id,price,quantity,first_trade_id,last_trade_id,transact_time,is_buyer_maker"] if header else []
    lines += [",".join(map(str, r)) for r in rows]
    path.write_text("\n".join(lines) + "\n")
    return rows


def stored(path: str, symbol: str = "BTCUSDT") -> list[tuple]:
    if path.startswith("postgresql://"):
        db.ensure_database(path)  # (a collector subprocess may still be creating the schema)
    conn = db.open_reader(path)
    try:
        if (
            not path.startswith("postgresql://")
            and not conn.execute("SELECT 1 FROM sqlite_master WHERE name='ticks'").fetchone()
        ):
            return []  # a collector subprocess is still creating the schema
        return conn.execute(
            "SELECT trade_id, timestamp, price, size FROM ticks WHERE symbol=? ORDER BY trade_id", (symbol,)
        ).fetchall()
    finally:
        conn.close()


def run_replay(db_path: str, file: Path, **kw) -> collector.Collector:
    c = collector.Collector(db_path, ReplayFeed(str(file), speed=0), flush_interval_ms=50, **kw)
    c.start(["BTCUSDT"])
    assert c.wait_finished(30), "replay did not finish"
    c.stop()
    return c


def test_replay_stores_exactly_the_file_once_even_when_replayed_twice(db_path, tmp_path):
    file = tmp_path / "BTCUSDT-aggTrades-2024-08-08.csv"
    rows = write_agg_csv(file, range(1, 20_001))
    first = run_replay(db_path, file, batch_size=3000)
    assert [r[0] for r in stored(db_path)] == list(range(1, 20_001))
    assert stored(db_path)[5][1:] == (rows[5][5], float(rows[5][1]), 0.01)
    s = first.stats()
    assert (s.written, s.duplicates, s.dropped, s.received) == (20_000, 0, 0, 20_000)
    assert s.batches >= 7  # batched by size, not one transaction per tick nor one for everything
    again = run_replay(db_path, file).stats()
    assert (again.written, again.duplicates) == (0, 20_000)
    assert len(stored(db_path)) == 20_000


def test_id_gaps_are_recorded_and_not_papered_over_without_rest(db_path, tmp_path):
    file = tmp_path / "BTCUSDT-aggTrades-2024-08-08.csv"
    write_agg_csv(file, [*range(1, 101), *range(151, 201), *range(300, 310)], header=False)
    c = run_replay(db_path, file)
    conn = db.open_reader(db_path)
    gaps = sorted((g.first_missing_id, g.last_missing_id, g.status) for g in db.list_gaps(conn))
    assert gaps == [(101, 150, "unrepairable"), (201, 299, "unrepairable")]
    assert all("no REST repair" in g.note for g in db.list_gaps(conn))
    assert c.stats().gaps_detected == 2 and c.stats().gaps_unrepairable == 2


def test_restart_continues_the_id_sequence_from_the_database(db_path, tmp_path):
    a, b = tmp_path / "BTCUSDT-aggTrades-a.csv", tmp_path / "BTCUSDT-aggTrades-b.csv"
    write_agg_csv(a, range(1, 501))
    write_agg_csv(b, range(601, 701), start_ms=T0 + 60_000)
    run_replay(db_path, a)
    run_replay(db_path, b)
    [gap] = db.list_gaps(db.open_reader(db_path))
    assert (gap.first_missing_id, gap.last_missing_id) == (501, 600)


def test_simulated_feed_rows_equal_counters_and_stop_flushes_everything(db_path):
    c = collector.Collector(db_path, SimulatedFeed(seed=3, rate_per_symbol=400, speed=20), flush_interval_ms=100)
    c.start(["BTCUSDT", "ETHUSDT"])
    time.sleep(1.5)
    c.stop()
    s = c.stats()
    conn = db.open_reader(db_path)
    count = conn.execute("SELECT count(*) FROM ticks").fetchone()[0]
    assert s.feed.kind == "simulated" and s.feed.ticks == s.received
    assert count == s.written == s.received > 500 and s.dropped == 0 and s.queue_depth == 0
    for sym in ("BTCUSDT", "ETHUSDT"):
        ids = [r[0] for r in stored(db_path, sym)]
        assert ids == list(range(ids[0], ids[0] + len(ids)))  # contiguous, none twice
    assert db.read_bars(conn, ["BTCUSDT"], "1s").trade_count.sum() == len(stored(db_path, "BTCUSDT"))


def test_simulated_sessions_restart_on_the_same_database_without_clashing(db_path):
    written = []
    for _ in range(2):
        c = collector.Collector(db_path, SimulatedFeed(rate_per_symbol=200), flush_interval_ms=50)
        c.start(["BTCUSDT", "ETHUSDT"])
        time.sleep(0.8)
        c.stop()
        written.append(c.stats().written)
        assert c.stats().duplicates == 0 and c.stats().gaps_detected == 0
        time.sleep(0.05)
    assert all(w > 50 for w in written)
    assert len(stored(db_path)) + len(stored(db_path, "ETHUSDT")) == sum(written)


@pytest.mark.sqlite_only
def test_slow_disk_never_blocks_the_socket_thread_and_overflow_is_counted(db_path, tmp_path):
    db.ensure_database(db_path)
    blocker = sqlite3.connect(db_path, isolation_level=None)
    blocker.execute("BEGIN IMMEDIATE")  # the writer cannot commit while this holds the write lock
    file = tmp_path / "BTCUSDT-aggTrades-x.csv"
    write_agg_csv(file, range(1, 30_001))
    feed = ReplayFeed(str(file), speed=0)
    c = collector.Collector(db_path, feed, queue_max=5_000, batch_size=1_000, flush_interval_ms=20)
    started = time.monotonic()
    c.start(["BTCUSDT"])
    deadline = time.monotonic() + 20
    while feed.get_stats().state is not FeedState.FINISHED and time.monotonic() < deadline:
        time.sleep(0.02)
    produced_in = time.monotonic() - started
    blocker.execute("ROLLBACK")
    blocker.close()
    c.wait_finished(30)
    c.stop()
    s = c.stats()
    assert produced_in < 4.0  # 30k ticks offered while the disk was stuck (busy_timeout 5 s)
    assert s.dropped > 0 and s.received == 30_000
    assert s.written + s.dropped == 30_000 == len(stored(db_path)) + s.dropped


def test_invalid_ticks_are_rejected_without_losing_the_batch(db_path):
    from data_feed import Tick

    c = collector.Collector(db_path, SimulatedFeed(), flush_interval_ms=20)
    c.start_writer()
    assert c.pipe.writer_ready.wait(5)
    good = [Tick("BTCUSDT", i, T0 + i, 60000.0, 1.0, False, T0) for i in range(1, 11)]
    for t in [*good[:5], Tick("BTCUSDT", 6, T0, float("nan"), 1.0, False, T0), *good[6:]]:
        c.queue.put(t)
    c.queue.ready.set()
    time.sleep(0.3)
    c.stop()
    assert c.stats().rejected == 1 and [r[0] for r in stored(db_path)] == [1, 2, 3, 4, 5, 7, 8, 9, 10]


def test_one_collector_per_process(db_path, monkeypatch):
    for var, value in database_env(db_path).items():
        monkeypatch.setenv(var, value)
    settings = load_settings()
    try:
        first = collector.start_service(settings, "simulated", ["BTCUSDT"])
        assert collector.current_collector() is first
        second = collector.start_service(settings, "simulated", ["ETHUSDT"])
        assert collector.current_collector() is second and not first.running
        assert [t.name for t in __import__("threading").enumerate()].count("collector-writer") == 1
    finally:
        collector.stop_service()
    assert collector.current_collector() is None


def cli(*args: str, env: dict | None = None, **kw) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, str(ROOT / "collector.py"), *args],
        capture_output=True,
        text=True,
        env={**os.environ, **(env or {})},
        timeout=60,
        **kw,
    )


def test_cli_help_and_bad_input_messages(db_path):
    assert "--replay-file" in cli("--help").stdout
    bad = cli("--feed", "simulated", env={"FLUSH_INTERVAL_MS": "soon"})
    assert bad.returncode == 2 and "FLUSH_INTERVAL_MS='soon': expected an integer" in bad.stderr
    bad = cli("--feed", "simulated", "--symbols", "BTC/USDT", "--db", db_path)
    assert bad.returncode == 2 and "BTC/USDT" in bad.stderr


def test_cli_replays_a_file_to_the_end_and_exits_zero(db_path, tmp_path):
    file = tmp_path / "BTCUSDT-aggTrades-2024-08-08.csv"
    write_agg_csv(file, range(1, 5001))
    done = cli("--feed", "replay", "--replay-file", str(file), "--speed", "0", "--db", db_path, "--symbols", "btcusdt")
    assert done.returncode == 0, done.stderr
    assert len(stored(db_path)) == 5000 and "written=5000" in done.stderr


def test_cli_sigterm_flushes_and_exits_zero(db_path):
    proc = subprocess.Popen(
        [
            sys.executable,
            str(ROOT / "collector.py"),
            "--feed",
            "simulated",
            "--db",
            db_path,
            "--status-interval",
            "0.5",
        ],
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        deadline = time.monotonic() + 20
        while time.monotonic() < deadline and not (os.path.exists(db_path) and stored(db_path)):
            time.sleep(0.2)
        proc.send_signal(signal.SIGTERM)
        err = proc.communicate(timeout=20)[1]
    finally:
        proc.kill()
    assert proc.returncode == 0, err
    written = int(err.rsplit("written=", 1)[1].split()[0])
    assert written == len(stored(db_path)) + len(stored(db_path, "ETHUSDT")) > 0


@pytest.mark.parametrize(
    "name, symbol, count",
    [
        ("hftbacktest_usdm/btcusdt_20240808.gz", "BTCUSDT", 21_313),  # raw recorded combined-stream frames
        ("gemscap_collector/ticks_2025-11-01T09-54-08.557Z.ndjson", "ETHUSDT", None),  # id-less NDJSON ticks
    ],
)
def test_real_recordings_replay_into_the_database_once(shared_data, db_path, name, symbol, count):
    file = shared_data / name
    for _ in range(2):  # the second replay must add nothing
        done = cli(
            "--feed",
            "replay",
            "--replay-file",
            str(file),
            "--speed",
            "0",
            "--db",
            db_path,
            "--symbols",
            "btcusdt,ethusdt",
        )
        assert done.returncode == 0, done.stderr
    rows = stored(db_path, symbol)
    ids = [r[0] for r in rows]
    assert len(ids) == len(set(ids)) > 0
    if count is not None:
        assert len(ids) == count and ids == list(range(ids[0], ids[0] + count))  # 0 gaps, as SOURCES.md says
    else:
        assert all(i < 0 for i in ids)  # deterministic synthetic ids for id-less files
    assert "written=0" in done.stderr  # replaying again stored nothing twice


def test_a_stopped_service_collector_is_not_kept_alive(db_path):
    import gc
    import weakref

    from config import load_settings

    settings = load_settings({**database_env(db_path), "DATA_FEED": "simulated"})
    refs = []
    for _ in range(2):
        running = collector.start_service(settings, "simulated", ["BTCUSDT", "ETHUSDT"])
        refs.append(weakref.ref(running))
        collector.stop_service()
        del running
    gc.collect()
    assert all(ref() is None for ref in refs), "a stopped collector is still referenced (e.g. by an exit hook)"


def _cli(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "collector.py", *args],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=120,
        env={**os.environ, "LOG_LEVEL": "INFO"},
    )


def test_cli_replays_several_files_exports_and_imports_the_export_back(tmp_path):
    """`--replay-file A B` is one session; `export` streams it to CSV; `import` of that CSV adds nothing new."""
    btc, eth = tmp_path / "BTCUSDT-aggTrades-2024-08-08.csv", tmp_path / "ETHUSDT-aggTrades-2024-08-08.csv"
    write_agg_csv(btc, range(1, 301))
    write_agg_csv(eth, range(1, 201), start_ms=T0 + 5)
    db_path = str(tmp_path / "cli.db")
    replay = _cli("--feed", "replay", "--replay-file", str(btc), str(eth), "--speed", "0", "--db", db_path)
    assert replay.returncode == 0, replay.stderr[-2000:]
    assert len(stored(db_path)) == 300 and len(stored(db_path, "ETHUSDT")) == 200
    out = tmp_path / "export.csv"
    export = _cli("export", str(out), "--db", db_path)
    assert export.returncode == 0 and "exported 500 ticks" in export.stderr, export.stderr[-2000:]
    again = _cli("import", str(out), "--db", db_path)
    assert again.returncode == 0 and "Stored 0 new ticks (500 were already stored)" in again.stderr, again.stderr
    missing = _cli("export", str(out), "--db", str(tmp_path / "nope.db"))
    assert missing.returncode == 2 and "does not exist" in missing.stderr and "Traceback" not in missing.stderr


@pytest.mark.parametrize(
    "content, message",
    [
        ("ts,open,high,low,close,volume\n1723161000000,1,2,1,2,5\n", "holds OHLCV bars; a replay needs ticks"),
        ("hello\n", "unrecognised format"),
        (None, "holds no files"),
    ],
)
def test_cli_refuses_a_bad_replay_file_or_folder_without_a_traceback(tmp_path, content, message):
    target = tmp_path / "in"
    if content is None:
        target.mkdir()
    else:
        target.write_text(content)
    run = _cli("--feed", "replay", "--replay-file", str(target), "--db", str(tmp_path / "x.db"))
    assert run.returncode == 2 and message in run.stderr and "Traceback" not in run.stderr, run.stderr[-1500:]
