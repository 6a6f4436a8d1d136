"""Storage benchmark, the backends side by side: batched insert rate with rollups, bytes per stored tick, and
window reads (what a dashboard refresh costs) vs table size. PostgreSQL and TimescaleDB run on throw-away clusters of
Debian's postgresql (bench/backends.py) with durable settings (fsync and synchronous_commit on, as a server would
run); TimescaleDB's figures are after its policy has compressed the closed days (all of the synthetic history).

    python bench/storage_costs.py                            # 100k and 1M ticks, every backend
    python bench/storage_costs.py --sizes 1000000 10000000 --backends sqlite postgresql
"""

from __future__ import annotations

import argparse
import contextlib
import statistics
import tempfile
import time
from pathlib import Path

from backends import BACKENDS, Backends, compress_closed_days

import database as db
from data_feed import Tick, iter_ticks_from_file

ROOT = Path(__file__).resolve().parents[1]

T_END = 1_790_000_000_000


def synthetic(n: int, batch: int = 5000):
    """2 symbols, ~25 trades/s each, ending at T_END, yielded in collector-sized batches."""
    per_symbol = n // 2
    start = T_END - per_symbol * 40
    for lo in range(0, per_symbol, batch // 2):
        out = []
        for i in range(lo, min(per_symbol, lo + batch // 2)):
            ts = start + i * 40
            out.append(Tick("BTCUSDT", i + 1, ts, 60_000 + (i % 997) / 10, 0.001 * (1 + i % 50), bool(i % 2), ts + 3))
            out.append(
                Tick("ETHUSDT", i + 1, ts + 7, 3_000 + (i % 991) / 100, 0.01 * (1 + i % 30), bool(i % 3), ts + 9)
            )
        yield out


def timed(fn, runs: int = 5) -> float:
    samples = []
    for _ in range(runs):
        t0 = time.perf_counter()
        fn()
        samples.append(time.perf_counter() - t0)
    return statistics.median(samples) * 1000


def stored_size(target: str) -> int:
    """The database's bytes on disk once written out (closed days compressed on TimescaleDB)."""
    compress_closed_days(target)
    conn = db.open_writer(target)
    conn.execute("CHECKPOINT" if target.startswith("postgresql://") else "PRAGMA wal_checkpoint(TRUNCATE)")
    conn.close()
    return db.database_size_bytes(target)


def run(target: str, n: int, empty_size: int) -> str:
    """Fill one empty database with n ticks and time the reads; one Markdown row."""
    conn = db.open_writer(target)
    t0 = time.perf_counter()
    for batch in synthetic(n):
        db.write_ticks(conn, batch)
    rate = n / (time.perf_counter() - t0)
    conn.close()
    size = (stored_size(target) - empty_size) / n
    reader = db.open_reader(target)
    bars = timed(lambda r=reader: db.read_bars(r, ["BTCUSDT", "ETHUSDT"], "1s", T_END - 6 * 3600_000, T_END))
    ticks = timed(lambda r=reader: db.read_ticks(r, ["BTCUSDT", "ETHUSDT"], T_END - 300_000, T_END))
    status = timed(lambda r=reader: db.symbol_summaries(r))
    reader.close()
    return f"{rate:,.0f} rows/s | {size:.1f} | {bars:.1f} ms | {ticks:.1f} ms | {status:.2f} ms"


REAL = ROOT.parent / "shared" / "data" / "binance" / "hftbacktest_usdm"


def real_trades() -> list:
    """Every trade of the real USD-M recordings beside the project (empty when ../shared is absent)."""
    return [t for f in sorted(REAL.glob("*.gz")) for t in iter_ticks_from_file(f)] if REAL.is_dir() else []


def bytes_per_tick(target: str, trades: list, tmp: Path) -> tuple[float, float]:
    """(database bytes per tick, Parquet bytes per tick) for real trades: the database grown by storing them
    (ticks, their 1 s / 1 min bars and indexes), then the cold tier's files for the same trades."""
    db.ensure_database(target)
    empty = db.database_size_bytes(target)
    conn = db.open_writer(target)
    for i in range(0, len(trades), 5000):
        db.write_ticks(conn, trades[i : i + 5000])
    stored = (stored_size(target) - empty) / len(trades)
    days = {(t.symbol, t.timestamp // 86_400_000) for t in trades}
    files = [db.export_day(conn, symbol, day, tmp / "cold")[0] for symbol, day in sorted(days)]
    conn.close()
    return stored, sum(f.stat().st_size for f in files) / len(trades)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--sizes", type=int, nargs="+", default=[100_000, 1_000_000])
    parser.add_argument("--backends", nargs="+", choices=BACKENDS, default=list(BACKENDS))
    args = parser.parse_args()
    with contextlib.ExitStack() as stack:
        tmp = Path(stack.enter_context(tempfile.TemporaryDirectory()))
        backends = Backends(stack, args.backends, tmp, durable=True)
        print(
            "| backend | ticks stored | insert rate (with 1s/1min rollups) | bytes/tick on disk | "
            "6 h of 1s bars, 2 symbols | last 5 min of raw ticks | status (symbol_stats) |"
        )
        print("|---|---|---|---|---|---|---|")
        for n in args.sizes:
            for backend in backends.names:
                target = backends.new(backend)
                db.ensure_database(target)
                row = run(target, n, db.database_size_bytes(target))
                print(f"| {backend} | {n:,} | {row} |", flush=True)
        trades = real_trades()
        if trades:
            print(
                f"\nBytes per tick on disk, {len(trades):,} real Binance USD-M trades (../shared/data, "
                f"{len({t.symbol for t in trades})} symbols):\n"
            )
            print("| store | bytes/tick |")
            print("|---|---|")
            for backend in backends.names:
                stored, cold = bytes_per_tick(backends.new(backend), trades, tmp / backend)
                print(f"| {backend} (ticks + 1 s/1 min bars + indexes) | {stored:.1f} |", flush=True)
            print(f"| Parquet cold tier (zstd, one file per symbol-day) | {cold:.1f} |")


if __name__ == "__main__":
    main()
