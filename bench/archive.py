"""Archive repair benchmark: a collector stopped for three days repairs the hole from the fake data.binance.vision
daily files (download, sha256 check, parse, write) and REST for the last 48 h; reports repair time and rate.
The old part is dense (what the archive is for), the last 48 h sparse: REST's weight budget (60 pages of 1,000 a
minute) and not this code would set the pace otherwise.

    python bench/archive.py                    # 1,000,000 trades from the archive, 3 runs
    python bench/archive.py --trades 3000000 --runs 1
"""

from __future__ import annotations

import argparse
import statistics
import tempfile
import time

from fake_binance import FakeBinance

import collector
import database as db
from data_feed import BinanceArchive, BinanceFuturesFeed, BinanceRest, Tick

HOUR_MS = 3_600_000


def one_run(trades: int) -> dict:
    """Time from Start to the whole hole stored, with the split between archive and REST."""
    with FakeBinance() as fb, tempfile.TemporaryDirectory() as tmp:
        now = fb.now_ms()  # dense trades 72 h..49 h ago (archive), one a minute since (REST)
        fb.generate("BTCUSDT", trades, start_ms=now - 72 * HOUR_MS, spacing_ms=23 * HOUR_MS / trades)
        fb.generate("BTCUSDT", 49 * 60, start_ms=now - 49 * HOUR_MS + 60_000, spacing_ms=60_000)
        history = fb.history("BTCUSDT")
        path = f"{tmp}/bench.db"
        conn = db.open_writer(path)
        db.write_ticks(
            conn,
            [
                Tick("BTCUSDT", t.agg_id, t.time_ms, float(t.price), float(t.qty), t.buyer_maker, t.time_ms)
                for t in history[:10]
            ],
            [db.IdCursor("BTCUSDT", "aggTrade", history[9].agg_id, history[9].time_ms)],
        )  # as live
        conn.close()
        c = collector.Collector(
            path,
            BinanceFuturesFeed(fb.ws_base),
            rest=BinanceRest(fb.rest_base),
            archive=BinanceArchive(fb.rest_base),
            flush_interval_ms=250,
        )
        started = time.perf_counter()
        c.start(["BTCUSDT"])
        try:
            fb.wait_subscribed(["BTCUSDT"])
            fb.stream_trades(["BTCUSDT"], count=10, rate_per_s=100).wait(10)
            want = len(history) + 10
            while True:
                reader = db.open_reader(path)
                stored = reader.execute("SELECT count(*) FROM ticks WHERE symbol='BTCUSDT'").fetchone()[0]
                reader.close()
                if stored >= want and c.stats().gaps_repaired == 1:
                    break
                if time.perf_counter() - started > 1800:
                    raise SystemExit(f"timed out with {stored:,} of {want:,} ticks stored")
                time.sleep(0.1)
            elapsed = time.perf_counter() - started
            archive = c.archive.get_stats()
        finally:
            c.stop()
        return {
            "seconds": elapsed,
            "archive_ticks": archive.ticks,
            "archive_mb": archive.bytes / 2**20,
            "files": archive.files,
            "rest_ticks": len(history) - 10 - archive.ticks,
        }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--trades", type=int, default=1_000_000, help="trades in the archive part of the hole")
    parser.add_argument("--runs", type=int, default=3)
    args = parser.parse_args()
    runs = [one_run(args.trades) for _ in range(args.runs)]
    seconds = statistics.median(r["seconds"] for r in runs)
    last = runs[-1]
    print(f"archive repair: a 72 h hole, {args.trades:,} trades older than 48 h, median of {args.runs}\n")
    print("| measure | value |\n|---|---|")
    print(
        f"| time from Start to the hole closed | {seconds:.1f} s (runs: "
        + ", ".join(f"{r['seconds']:.1f}" for r in runs)
        + ") |"
    )
    print(f"| repair rate | {(last['archive_ticks'] + last['rest_ticks']) / seconds:,.0f} trades/s |")
    print(
        f"| from the archive | {last['archive_ticks']:,} trades in {last['files']} daily files "
        f"({last['archive_mb']:.1f} MB, sha256-checked) |"
    )
    print(f"| over REST (last 48 h) | {last['rest_ticks']:,} trades |")


if __name__ == "__main__":
    main()
