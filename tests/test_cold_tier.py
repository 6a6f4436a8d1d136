"""Issue 24: the Parquet cold tier never loses or doubles a trade, and a damaged Parquet file is refused.

A retention pass killed (SIGKILL, for real) at each point between writing a day's file and dropping its ticks; a
late write into a day already moved (an import, a repair landing between the export and the drop); a cold file
with a flipped price byte or cut short, given to import, replay and the HTTP upload. After each, every trade is
in the database or in the cold files exactly once, with its price, and symbol_stats counts what the database holds.
Runs on SQLite and PostgreSQL where a test takes `db_target`."""

from __future__ import annotations

import collections
import contextlib
import io
import itertools
import logging
import os
import random
import signal
import sqlite3
import subprocess
import sys
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
import pytest
import requests
from pg_cluster import database_env
from served import serve

import database as db
from collection.imports import store_import, validate_import
from core.vocabulary import IdSpace
from data_feed import Tick, iter_ticks_from_file
from feed.parquet import has_page_checksums
from storage import retention

ROOT = Path(__file__).resolve().parents[1]
DAY = 86_400_000
DAY0 = 1_723_161_000_000 // DAY * DAY  # 00:00 UTC, 2024-08-09
SYMBOLS = ("BTCUSDT", "ETHUSDT")
PER_DAY = 600  # one trade every 144 s: every 10-minute slice of SQLite's drop holds some
pytestmark = [pytest.mark.timeout(240)]

Key = tuple[str, str, int]  # (symbol, id space, trade id): the tick key


def day_ticks(symbol: str, day: int, n: int = PER_DAY, first_id: int = 1, space: IdSpace = IdSpace.AGG_TRADE):
    """n trades of one symbol spread over UTC day DAY0 + day (ids from first_id, negative for uploads)."""
    start = DAY0 + day * DAY
    sign = -1 if space is IdSpace.UPLOAD else 1
    walk = random.Random(f"{symbol} {day} {first_id}")  # a random walk: prices that do not compress to nothing
    prices = list(itertools.accumulate((walk.gauss(0, 0.5) for _ in range(n)), initial=60_000.0))
    return [
        Tick(
            symbol,
            sign * (first_id + i),
            start + i * (DAY // n) + 17,
            round(prices[i], 1),
            0.001 * (1 + i % 7),
            bool(i % 3),
            start + i * (DAY // n) + 40,
            space,
        )
        for i in range(n)
    ]


def key(t: Tick) -> Key:
    return (t.symbol, str(t.space), t.trade_id)


def holdings(target: str, cold: Path) -> tuple[collections.Counter[Key], dict[Key, float]]:
    """Every tick key held by the database and the cold files (with how many times), and its price."""
    seen: collections.Counter[Key] = collections.Counter()
    prices: dict[Key, float] = {}
    with contextlib.closing(db.open_reader(target)) as conn:
        stored = db.read_ticks(conn, list(SYMBOLS))
    for row in stored.itertuples(index=False):
        k = (row.symbol, row.id_space, int(row.trade_id))
        seen[k] += 1
        prices[k] = float(row.price)
    for path in sorted(cold.glob("*/*.parquet")):
        for t in iter_ticks_from_file(path, strict=True):
            seen[key(t)] += 1
            prices[key(t)] = t.price
    return seen, prices


def assert_each_trade_once(target: str, cold: Path, expected: list[Tick]) -> None:
    """Every expected trade exactly once across database + cold files, with its price; symbol_stats true; no
    temporary file left; every cold file written with page checksums."""
    seen, prices = holdings(target, cold)
    twice = sorted(k for k, n in seen.items() if n > 1)
    want = {key(t): t.price for t in expected}
    missing = sorted(set(want) - set(seen))
    assert not twice and not missing, f"{len(missing)} trades lost {missing[:3]}, {len(twice)} doubled {twice[:3]}"
    assert set(seen) == set(want) and prices == want
    with contextlib.closing(db.open_reader(target)) as conn:
        for summary in db.symbol_summaries(conn):
            count, first = conn.execute(
                "SELECT count(*), min(timestamp) FROM ticks WHERE symbol=?", (summary.symbol,)
            ).fetchone()
            assert (summary.tick_count, summary.first_ts) == (count, first), summary
    assert not [p for p in cold.rglob("*") if p.name.endswith(".partial")]
    for path in cold.glob("*/*.parquet"):
        assert has_page_checksums(pq.ParquetFile(path), path), path


def seed(target: str, days: range) -> list[Tick]:
    ticks = [t for s in SYMBOLS for d in days for t in day_ticks(s, d, first_id=1 + 10_000 * d)]
    with contextlib.closing(db.open_writer(target)) as conn:
        db.write_ticks(conn, ticks)
    return ticks


def write(target: str, ticks: list[Tick]) -> None:
    with contextlib.closing(db.open_writer(target)) as conn:
        db.write_ticks(conn, ticks)


def run_pass(target: str, cold: Path, now: int) -> db.RetentionReport:
    with contextlib.closing(db.open_writer(target)) as conn:
        return db.apply_retention(conn, 1, cold, now)


# A retention pass in its own process, killed with SIGKILL at one point (as a power cut or the OOM killer would): the
# kill is placed by wrapping the call that marks the point, or, in SQLite's drop, by its statement trace.
_KILLED_AT = """
import os, signal, sys
import database
from storage import postgres

target, cold, now, point = sys.argv[1], sys.argv[2], int(sys.argv[3]), sys.argv[4]


def die(*_):
    os.kill(os.getpid(), signal.SIGKILL)


def after(original):
    def wrapper(*args, **kwargs):
        result = original(*args, **kwargs)
        die()
        return result

    return wrapper


def on_statement(start, calls):
    seen = []

    def trace(sql):
        if sql.lstrip().startswith(start):
            seen.append(sql)
            if len(seen) == calls:
                die()

    return trace


conn = database.open_writer(target)
sqlite = not target.startswith("postgresql://")
if point == "written":  # the merged file written and fsynced under its temporary name, not yet in place
    os.replace = die
elif point == "replaced":  # the file in place, nothing dropped yet
    os.replace = after(os.replace)
elif point == "mid_drop" and sqlite:  # three 10-minute slices deleted and committed, the fourth about to go
    conn.set_trace_callback(on_statement("DELETE FROM ticks", 4))
elif point == "before_stats" and sqlite:  # ticks deleted, symbol_stats not yet corrected
    conn.set_trace_callback(on_statement("UPDATE symbol_stats", 1))
elif point in ("mid_drop", "before_stats"):  # PostgreSQL: the partition dropped inside the drop's transaction
    postgres.drop_day_tables = after(postgres.drop_day_tables)
elif point == "dropped":  # the first day dropped and committed, the second not exported yet
    type(conn).drop_ticks_day = after(type(conn).drop_ticks_day)
database.apply_retention(conn, 1, cold, now)
print("not killed")
"""


@pytest.mark.parametrize("point", ["written", "replaced", "mid_drop", "before_stats", "dropped"])
def test_a_pass_killed_at_any_point_loses_no_trade_and_doubles_none(db_target, tmp_path, point):
    """Day 0 already has its file (then an import of that file and a repair land in it: every trade the file holds,
    and new ones), day 1 has none. A pass moving both is SIGKILLed at one point; a normal pass follows. Before the fix,
    a kill inside SQLite's sliced drop lost every trade of the deleted slices (the next pass rewrote the day's file
    from the rows left) and left symbol_stats counting them."""
    cold = tmp_path / "cold"
    ticks = seed(db_target, range(3))
    run_pass(db_target, cold, DAY0 + 2 * DAY + 3_600_000)  # day 0 moves
    late = day_ticks("BTCUSDT", 0, 50, first_id=5000) + day_ticks("ETHUSDT", 0, 30, space=IdSpace.UPLOAD)
    write(db_target, [t for t in ticks if t.timestamp < DAY0 + DAY] + late)  # the file's trades again, and new ones
    proc = subprocess.run(
        [sys.executable, "-c", _KILLED_AT, db_target, str(cold), str(DAY0 + 3 * DAY + 3_600_000), point],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert proc.returncode == -signal.SIGKILL, proc.stdout + proc.stderr
    report = run_pass(db_target, cold, DAY0 + 3 * DAY + 3_600_000)
    assert report.deferred == 0
    assert_each_trade_once(db_target, cold, ticks + late)
    with contextlib.closing(db.open_reader(db_target)) as conn:
        left = db.read_ticks(conn, list(SYMBOLS))
    assert left.timestamp.min() >= DAY0 + 2 * DAY  # both expired days left the database


def test_a_late_import_into_a_moved_day_grows_its_file(db_target, tmp_path):
    """The issue's late write: a day is moved, then an import brings new trades of that day. Before the fix the next
    pass replaced the day's file with the late trades alone (every trade moved before was lost, silently). Now
    they are merged in; re-importing the cold file itself (all its trades) then adds none twice."""
    cold = tmp_path / "cold"
    ticks = seed(db_target, range(2))
    run_pass(db_target, cold, DAY0 + 2 * DAY + 3_600_000)
    path = retention.cold_path(cold, "BTCUSDT", DAY0 // DAY)
    assert pq.ParquetFile(path).metadata.num_rows == PER_DAY
    late = day_ticks("BTCUSDT", 0, 40, first_id=7000)
    upload = tmp_path / "late.ndjson"  # an NDJSON upload: its ticks get negative ids in the upload space
    upload.write_text("".join(f'{{"symbol":"BTCUSDT","ts":{t.timestamp},"price":{t.price},"size":1}}\n' for t in late))
    store_import(db_target, validate_import(upload, upload.name, "ticks"))
    imported = list(iter_ticks_from_file(upload))
    report = run_pass(db_target, cold, DAY0 + 2 * DAY + 3_600_000)
    assert (report.files, report.ticks_removed, report.deferred) == ([path], 40, 0)
    assert pq.ParquetFile(path).metadata.num_rows == PER_DAY + 40
    assert_each_trade_once(db_target, cold, ticks + imported)

    store_import(db_target, validate_import(path, path.name, "ticks"))  # the cold file itself, imported back
    before = path.read_bytes()
    report = run_pass(db_target, cold, DAY0 + 2 * DAY + 3_600_000)
    assert (report.files, report.ticks_removed) == ([], PER_DAY + 40)  # all already in the file: not rewritten
    assert path.read_bytes() == before
    assert_each_trade_once(db_target, cold, ticks + imported)


def test_a_tick_landing_between_export_and_drop_stays_for_the_next_pass(db_target, tmp_path, monkeypatch):
    """A repair or backfill page lands in a day after its file is written and before its ticks are dropped. Before
    the fix SQLite's sliced drop deleted it with the rest (it was in no file: lost, and counted in symbol_stats
    nowhere). Now the re-count inside the drop's transaction keeps it; the next pass merges it into the file."""
    cold = tmp_path / "cold"
    ticks = seed(db_target, range(2))
    late = day_ticks("ETHUSDT", 0, 1, first_id=9000)
    late = [Tick(t.symbol, t.trade_id, DAY0 + 12 * 3_600_000 + 5, 1.5, 1.0, False, t.received_at) for t in late]
    replace = os.replace

    def publish_then_late_write(partial: Path, path: Path) -> None:
        replace(partial, path)
        if Path(path).name.startswith("ETHUSDT"):
            write(db_target, late)

    monkeypatch.setattr(os, "replace", publish_then_late_write)
    report = run_pass(db_target, cold, DAY0 + 2 * DAY + 3_600_000)
    assert report.deferred >= 1
    with contextlib.closing(db.open_reader(db_target)) as conn:
        assert db.read_ticks(conn, ["ETHUSDT"], DAY0, DAY0 + DAY).trade_id.tolist().count(9000) == 1
    monkeypatch.setattr(os, "replace", replace)
    report = run_pass(db_target, cold, DAY0 + 2 * DAY + 3_600_000)
    assert report.deferred == 0
    assert_each_trade_once(db_target, cold, ticks + late)
    with contextlib.closing(db.open_reader(db_target)) as conn:
        assert db.read_ticks(conn, list(SYMBOLS), 0, DAY0 + DAY).empty


def _flip_price_bytes(path: Path, *, silent: bool = True) -> None:
    """Flip 8 bytes inside the price column's data where, read WITHOUT page checksums, the file still decodes
    with wrong prices (silent), or fails to decode (zstd notices most flips, not all): found by trying offsets."""
    data = path.read_bytes()
    meta = pq.ParquetFile(path).metadata
    column = meta.row_group(0).column(meta.schema.names.index("price"))
    good = pq.read_table(path).column("price")
    for step in range(1, 100):
        at = column.data_page_offset + column.total_compressed_size * step // 100
        damaged = bytearray(data)
        damaged[at : at + 8] = bytes(b ^ 0xFF for b in damaged[at : at + 8])
        try:
            decoded = not pq.read_table(io.BytesIO(bytes(damaged))).column("price").equals(good)
        except (pa.ArrowException, OSError):
            decoded = False
            if not silent:
                path.write_bytes(bytes(damaged))
                return
        if silent and decoded:
            path.write_bytes(bytes(damaged))
            return
    raise AssertionError("no such flip found")


@pytest.fixture(scope="module")
def api(tmp_path_factory):
    """The served app (SQLite) for uploads: (base URL, its database)."""
    folder = tmp_path_factory.mktemp("api")
    target = str(folder / "api.db")
    db.ensure_database(target)
    with serve(folder / "server.log", {"DATA_FEED": "simulated", **database_env(target)}) as url:
        yield url, target


def _stored(target: str) -> int:
    if not Path(target).exists():
        return 0
    with contextlib.closing(sqlite3.connect(target)) as conn:
        return conn.execute("SELECT count(*) FROM ticks").fetchone()[0]


@pytest.mark.parametrize("damage", ["flipped_price", "truncated", "undecodable"])
def test_a_damaged_cold_file_is_refused_by_import_replay_and_upload(tmp_path, api, damage):
    """A cold file with 8 flipped bytes in its price column: before the fix, import and replay exited 0 having
    stored every row (hundreds with wrong prices) and the upload answered 200. A file cut short: the replay logged
    a failure and ran on until --duration, then exited 0. A flip zstd notices: the import crashed with a traceback
    and the upload answered 503 'database unavailable'. Now each refuses the file by name and stores nothing; the
    replay exits non-zero."""
    cold = tmp_path / "cold"
    source = str(tmp_path / "source.db")
    write(source, [t for d in range(2) for t in day_ticks("BTCUSDT", d, 20_000, first_id=1 + 100_000 * d)])
    run_pass(source, cold, DAY0 + 2 * DAY + 3_600_000)
    path = retention.cold_path(cold, "BTCUSDT", DAY0 // DAY)
    if damage == "flipped_price":
        _flip_price_bytes(path)
    elif damage == "truncated":
        path.write_bytes(path.read_bytes()[: path.stat().st_size // 2])
    else:  # a flip zstd's own checks notice
        _flip_price_bytes(path, silent=False)

    imported = str(tmp_path / "imported.db")
    proc = subprocess.run(
        [sys.executable, "collector.py", "import", str(path), "--db", imported],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert proc.returncode == 2 and path.name in proc.stderr and "Traceback" not in proc.stderr, proc.stderr
    assert _stored(imported) == 0

    replayed = str(tmp_path / "replayed.db")
    proc = subprocess.run(
        [
            *(sys.executable, "collector.py", "--feed", "replay", "--replay-file", str(path), "--speed", "0"),
            *("--db", replayed, "--symbols", "btcusdt", "--duration", "20"),
        ],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert proc.returncode != 0 and path.name in proc.stderr, proc.stderr[-2000:]
    assert _stored(replayed) == 0

    url, target = api
    answer = requests.post(f"{url}/api/upload_ndjson", files={"file": (path.name, path.read_bytes())}, timeout=60)
    assert answer.status_code == 400, answer.text
    assert answer.json()["param"] == "file" and path.name in answer.json()["msg"]
    assert _stored(target) == 0


def test_a_damaged_cold_file_is_never_overwritten_and_its_day_stays(db_target, tmp_path, caplog):
    """A late trade lands in a day whose cold file has since been damaged: merging would have to read the file, so
    the file is left byte for byte, the day's ticks stay in the database, and the log names the file."""
    cold = tmp_path / "cold"
    ticks = seed(db_target, range(2))
    run_pass(db_target, cold, DAY0 + 2 * DAY + 3_600_000)
    path = retention.cold_path(cold, "BTCUSDT", DAY0 // DAY)
    _flip_price_bytes(path)
    damaged = path.read_bytes()
    late = day_ticks("BTCUSDT", 0, 5, first_id=8000)
    write(db_target, late)
    with caplog.at_level(logging.ERROR, logger="storage.retention"):
        report = run_pass(db_target, cold, DAY0 + 2 * DAY + 3_600_000)
    assert report.deferred == 1 and report.ticks_removed == 0
    assert path.read_bytes() == damaged
    assert any(str(path) in r.getMessage() for r in caplog.records)
    with contextlib.closing(db.open_reader(db_target)) as conn:
        assert len(db.read_ticks(conn, ["BTCUSDT"], DAY0, DAY0 + DAY)) == 5
    assert len(ticks) == 2 * 2 * PER_DAY


def test_a_cold_file_without_checksums_is_read_with_a_warning_and_gets_them_at_the_next_merge(tmp_path, caplog):
    """Files written before this change have no page checksums: they are read (damage inside them cannot be
    seen, and a log line says so), and a pass that merges new trades into one re-writes it with checksums."""
    cold = tmp_path / "cold"
    target = str(tmp_path / "ticks.db")
    ticks = seed(target, range(2))
    run_pass(target, cold, DAY0 + 2 * DAY + 3_600_000)
    path = retention.cold_path(cold, "BTCUSDT", DAY0 // DAY)
    pq.write_table(pq.read_table(path), path, compression="zstd")  # as the cold tier wrote it before
    assert not has_page_checksums(pq.ParquetFile(path), path)
    with caplog.at_level(logging.WARNING, logger="data_feed"):
        assert len(list(iter_ticks_from_file(path, strict=True))) == PER_DAY
    assert any("no page checksums" in r.getMessage() and path.name in r.getMessage() for r in caplog.records)
    late = day_ticks("BTCUSDT", 0, 3, first_id=6000)
    write(target, late)
    run_pass(target, cold, DAY0 + 2 * DAY + 3_600_000)
    assert has_page_checksums(pq.ParquetFile(path), path)
    assert_each_trade_once(target, cold, ticks + late)
