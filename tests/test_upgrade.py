"""Issue 24 item 7: upgrading a large SQLite file of an old schema. A v3 file (ticks keyed without their id space) is
built directly with SQL; collectors started on it at the same instant, with a dashboard-like reader beside them,
must all start (one upgrades, the others wait and say so), the file must end at the current schema with every old
row kept, and readers of the old file (the reader, `collector.py export`, `GET /api/ticks.csv`) read it - never a
200 cut after the header."""

from __future__ import annotations

import contextlib
import csv
import json
import os
import signal
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

import pytest
import requests
from served import serve
from waiting import wait_until

import database as db
from storage import sqlite_upgrade as upgrade
from storage.schema import MIGRATIONS

ROOT = Path(__file__).resolve().parents[1]
T0 = 1_700_000_000_000
# Every column of the ticks, summed in integers (a float sum depends on the order the rows are read in; times are
# summed from T0, which keeps 8M of them inside 64 bits).
FINGERPRINT = (
    f"SELECT count(*), sum(trade_id), sum(timestamp - {T0}), sum(CAST(round(price * 100) AS INTEGER)), "
    f"sum(CAST(round(size * 1000) AS INTEGER)), sum(is_buyer_maker), sum(received_at - {T0}) FROM ticks"
)
V3_SYMBOLS = ("BTCUSDT", "ETHUSDT", "SOLUSDT", "BNBUSDT")
FULL_SIZE = 8_000_000  # the issue's file
IN_SUITE = 3_000_000  # an upgrade of a few seconds (8M took 17-24 s on a quiet machine, up to 72 s under load)
pytestmark = [pytest.mark.timeout(900), pytest.mark.sqlite_only]


def build_v3(path: str, rows: int) -> tuple[int, ...]:
    """A schema v3 file holding `rows` ticks over V3_SYMBOLS (positive aggTrade ids and, per symbol, one id-less
    uploaded row with a negative id), their symbol totals and id cursors; returns its ticks' fingerprint."""
    conn = sqlite3.connect(path, isolation_level=None)
    conn.execute("PRAGMA journal_mode=WAL")
    conn.execute("PRAGMA cache_size=-65536")
    conn.execute("BEGIN")
    for migration in MIGRATIONS[:3]:
        for statement in migration.split(";"):
            if statement.strip():
                conn.execute(statement)
    conn.execute("PRAGMA user_version=3")
    conn.execute("DROP INDEX ix_ticks_symbol_time")  # made again below, once: the same schema, built faster
    per = rows // len(V3_SYMBOLS)
    for symbol in V3_SYMBOLS:
        conn.execute(
            "WITH RECURSIVE n(k) AS (SELECT 1 UNION ALL SELECT k + 1 FROM n WHERE k < ?) "
            "INSERT INTO ticks(symbol, trade_id, timestamp, price, size, is_buyer_maker, received_at) "
            "SELECT ?, CASE WHEN k = 1 THEN -k ELSE k END, ? + k * 10, 100.0 + (k % 1000) * 0.01, "
            "0.001 * (1 + k % 7), k % 2, ? + k * 10 + 5 FROM n",
            (per, symbol, T0, T0),
        )
        conn.execute(
            "INSERT INTO symbol_stats VALUES (?, ?, ?, ?, ?, ?)", (symbol, per, T0 + 10, T0 + per * 10, per, T0)
        )
        conn.execute("INSERT INTO id_cursors VALUES (?, 'aggTrade', ?, ?)", (symbol, per, T0 + per * 10))
    conn.execute("CREATE INDEX ix_ticks_symbol_time ON ticks(symbol, timestamp)")
    conn.execute("COMMIT")
    conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    fingerprint = conn.execute(FINGERPRINT).fetchone()
    conn.close()
    return fingerprint


def version_and_old_rows(path: str) -> tuple[int, tuple[int, ...], int]:
    """The file's schema version, the fingerprint of its ticks as the upgrade labels old rows (positive ids:
    aggTrade, others: upload), and how many old rows carry another label."""
    with contextlib.closing(sqlite3.connect(path)) as conn:
        version = conn.execute("PRAGMA user_version").fetchone()[0]
        fingerprint = conn.execute(
            f"{FINGERPRINT} WHERE timestamp < ? AND id_space = CASE WHEN trade_id > 0 THEN 0 ELSE 2 END", (T0 + 10**10,)
        ).fetchone()
        mislabelled = conn.execute(
            "SELECT count(*) FROM ticks WHERE timestamp < ? AND id_space <> CASE WHEN trade_id > 0 THEN 0 ELSE 2 END",
            (T0 + 10**10,),
        ).fetchone()[0]
    return version, fingerprint, mislabelled


# Started at one instant: sleep until the start time given, then run the script as `python SCRIPT ARGS...` would.
_AT = (
    "import runpy, sys, time; time.sleep(max(0.0, float(sys.argv[1]) - time.time())); "
    "sys.argv = sys.argv[2:]; runpy.run_path(sys.argv[0], run_name='__main__')"
)
# A dashboard beside the collectors: a reader opened per refresh, reading what the page reads, until the stop file
# exists; prints how many refreshes read and what failed.
_READER = """
import json, os, sys, time
import database as db
path, stop = sys.argv[1], sys.argv[2]
reads, errors = 0, []
while not os.path.exists(stop):
    try:
        conn = db.open_reader(path)
        try:
            summaries = db.symbol_summaries(conn)
            for s in summaries:  # the newest minute of each symbol, as the live views read it
                db.read_ticks(conn, [s.symbol], s.last_ts - 60_000, s.last_ts + 1, limit=500, newest_first=True)
            db.last_prices(conn, [s.symbol for s in summaries])
            reads += 1
        finally:
            conn.close()
    except Exception as exc:
        errors.append(f"{type(exc).__name__}: {exc}")
    time.sleep(0.2)
print(json.dumps({"reads": reads, "errors": sorted(set(errors)), "failed": len(errors)}))
"""


def _env() -> dict[str, str]:
    env = {**os.environ, "LOG_LEVEL": "INFO", "SYMBOLS": "BTCUSDT,ETHUSDT"}
    env.pop("DATABASE_URL", None)
    return env


def run_upgrade_race(tmp_path: Path, rows: int) -> None:
    path = str(tmp_path / "v3.db")
    before = build_v3(path, rows)
    script = tmp_path / "reader.py"
    script.write_text(_READER)
    at = str(time.time() + 2.0)
    started = time.monotonic()
    procs = [
        subprocess.Popen(
            [sys.executable, "-c", _AT, at, "collector.py", "--feed", "simulated", "--duration", "5", "--db", path],
            cwd=ROOT,
            env=_env(),
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        for _ in range(2)
    ]
    reader = subprocess.Popen(
        [sys.executable, "-c", _AT, at, str(script), path, str(tmp_path / "stop")],
        cwd=ROOT,
        env=_env(),
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    logs = []
    try:
        for proc in procs:
            logs.append(proc.communicate(timeout=800)[1])
    finally:
        (tmp_path / "stop").touch()
        for proc in procs:
            if proc.poll() is None:
                proc.kill()
        out, err = reader.communicate(timeout=60)
    took = time.monotonic() - started
    said = "\n---\n".join(log[-3000:] for log in logs)
    print(f"{rows:,} rows: both collectors ended {took:.0f} s after the start; reader: {out.strip()}")  # (-s)
    assert [p.returncode for p in procs] == [0, 0], said
    assert not any("Traceback" in log for log in logs), said
    version, after, mislabelled = version_and_old_rows(path)
    assert version == db.SCHEMA_VERSION, said
    assert after == before and mislabelled == 0, (after, before, mislabelled)
    upgraded = [log for log in logs if "upgraded database" in log]
    assert len(upgraded) == 1, said  # one process upgrades the file, once...
    assert "copying ticks" in upgraded[0] and f"of {before[0]:,} rows" in upgraded[0], said
    waited = [log for log in logs if "waiting for process" in log]
    assert len(waited) == 1, said  # ...and the other waits for it, saying so
    assert "is upgrading" in waited[0], said
    read = json.loads(out.strip().splitlines()[-1]) if out.strip() else {"reads": 0, "errors": [err[-2000:]]}
    assert read["reads"] > 0 and not read["errors"], read


def test_two_collectors_and_a_reader_starting_at_once_on_a_large_v3_file(tmp_path):
    """Issue 24 item 7 in the suite, on a 3M-row v3 file. Before the fix the reader always failed ("no such column:
    id_space") and nobody said who upgraded or waited; the collectors' own failures (the second one's "database is
    locked" past busy_timeout, an empty reason past the 10 s writer-start wait) need an upgrade longer than those
    waits: 1.5M rows under load here, the full size (the slow test below) on any machine."""
    run_upgrade_race(tmp_path, IN_SUITE)


@pytest.mark.slow
def test_two_collectors_and_a_reader_starting_at_once_on_the_issues_8m_row_v3_file(tmp_path):
    """The issue's full size (8M rows; its upgrade took 17-72 s on this shared machine). Deselected by
    default (pytest.ini): `python -m pytest -m slow tests/test_upgrade.py`."""
    run_upgrade_race(tmp_path, FULL_SIZE)


def test_an_upgrade_killed_midway_leaves_v3_and_the_process_waiting_for_it_takes_over(tmp_path):
    """`collector.py migrate` killed (SIGKILL) while it copies the ticks: the file is still v3 with every row, and
    a second one, which was waiting for it and saying so, takes the upgrade over and completes it. (The first is
    paused with SIGSTOP once its copy has begun, so the second surely finds it at work, whatever the machine's
    speed.)"""
    path = str(tmp_path / "v3.db")
    before = build_v3(path, IN_SUITE)
    migrate = [sys.executable, "collector.py", "migrate", "--db", path]
    with open(tmp_path / "first.log", "w") as first_log, open(tmp_path / "second.log", "w") as second_log:
        first = subprocess.Popen(migrate, cwd=ROOT, env=_env(), stderr=first_log)
        second = None
        try:
            assert wait_until(lambda: (m := upgrade.read_mark(path)) is not None and m.done > 0, 120), Path(
                first_log.name
            ).read_text()
            os.kill(first.pid, signal.SIGSTOP)
            second = subprocess.Popen(migrate, cwd=ROOT, env=_env(), stderr=second_log)
            assert wait_until(lambda: "waiting for process" in Path(second_log.name).read_text(), 60), Path(
                second_log.name
            ).read_text()
            first.kill()
            first.wait(10)
            version, kept, _ = version_and_old_rows_v3(path)
            assert (version, kept) == (3, before)  # one transaction: nothing of it was left behind
            assert second.wait(600) == 0, Path(second_log.name).read_text()
        finally:
            for proc in (first, second):
                if proc is not None and proc.poll() is None:
                    proc.kill()
        said = Path(second_log.name).read_text()
    assert f"waiting for process {first.pid}, which is upgrading database" in said, said
    assert "upgraded database" in said and "its schema is current" in said, said
    version, after, mislabelled = version_and_old_rows(path)
    assert (version, after, mislabelled) == (db.SCHEMA_VERSION, before, 0)
    assert not os.path.exists(upgrade.mark_path(path))


def version_and_old_rows_v3(path: str) -> tuple[int, tuple[int, ...], None]:
    """The version and fingerprint of a file still at v3 (as committed: an upgrade in progress is not seen)."""
    with contextlib.closing(sqlite3.connect(path)) as conn:
        return conn.execute("PRAGMA user_version").fetchone()[0], conn.execute(FINGERPRINT).fetchone(), None


def test_a_write_lock_held_by_a_program_that_is_not_upgrading_is_waited_out_then_refused(tmp_path, monkeypatch):
    """No upgrade mark beside the file: another program's long write transaction is waited out for
    FOREIGN_LOCK_MAX_S (shortened here), then the open is refused naming the lock and the versions."""
    path = str(tmp_path / "v3.db")
    build_v3(path, 1_000)
    monkeypatch.setattr(upgrade, "FOREIGN_LOCK_MAX_S", 1.0)
    holder = sqlite3.connect(path, isolation_level=None)
    holder.execute("BEGIN IMMEDIATE")
    try:
        with pytest.raises(db.DATABASE_ERRORS, match=r"stayed locked by another program .* v3 could not be upgraded"):
            db.open_writer(path)
    finally:
        holder.execute("ROLLBACK")
        holder.close()
    db.open_writer(path).close()
    assert version_and_old_rows(path)[0] == db.SCHEMA_VERSION


def test_collector_export_of_a_v3_file_reads_it_as_its_upgrade_will_store_it(tmp_path):
    """`collector.py export` of a file no collector has upgraded yet (was: exit 1, "no such column: id_space"):
    every tick, positive ids as aggTrade and id-less rows as upload; the file stays v3 (a reader never writes)."""
    path = str(tmp_path / "v3.db")
    before = build_v3(path, 4_000)
    out = tmp_path / "ticks.csv"
    proc = subprocess.run(
        [sys.executable, "collector.py", "export", str(out), "--db", path],
        cwd=ROOT,
        env=_env(),
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert proc.returncode == 0, proc.stderr
    with out.open(encoding="utf-8") as f:
        rows = list(csv.DictReader(f))
    assert len(rows) == before[0] and list(rows[0]) == db.TICK_COLUMNS
    assert {(r["id_space"], int(r["trade_id"]) > 0) for r in rows} == {("aggTrade", True), ("upload", False)}
    assert version_and_old_rows_v3(path)[0] == 3


def test_api_ticks_csv_reads_a_v3_file_and_never_answers_a_200_cut_short(tmp_path):
    """`GET /api/ticks.csv` on a v3 file answers every tick (was: 200 and the body cut after the header); a database
    whose ticks cannot be read (here another program dropped the table) is a 503 in the error shape before any
    byte of CSV (was: the same cut 200)."""
    path = str(tmp_path / "v3.db")
    before = build_v3(path, 4_000)
    with serve(tmp_path / "server.log", {"DATA_FEED": "simulated", "DATABASE_URL": "", "CRYPTO_DB_PATH": path}) as u:
        ticks_csv = f"{u}/api/ticks.csv?symbols={','.join(V3_SYMBOLS)}"
        resp = requests.get(ticks_csv, timeout=60)
        assert resp.status_code == 200
        lines = resp.text.splitlines()
        assert lines[0] == ",".join(db.TICK_COLUMNS) and len(lines) == before[0] + 1
        assert lines[1].endswith(",-1,1700000000010,100.01,0.002,1,1700000000015,upload")
        assert lines[2].endswith(",2,1700000000020,100.02,0.003,0,1700000000025,aggTrade")
        with contextlib.closing(sqlite3.connect(path)) as conn:
            conn.execute("DROP TABLE ticks")
        resp = requests.get(ticks_csv, timeout=60)
    assert resp.status_code == 503, resp.text[:300]
    body = resp.json()
    assert body["status"] == "error" and body["param"] == "database" and "ticks" in body["msg"], body
