"""Ingest benchmark: the real BinanceFuturesFeed and collector against the fake Binance server on 127.0.0.1.

The server runs in a child process (its own interpreter, as an exchange would be); both share this 2-core machine.
Reports, in one run: (a) the receive-only ceiling of the WebSocket client (frames/s read and parsed, nothing stored),
with websocket-client's UTF-8 validation on and off; (b) sustained ticks/s from frame to committed row with zero
loss; (c) receive-to-commit latency p50/p99, during the flood and at a steady 2,000 ticks/s; (d) the same
sustained flood into PostgreSQL and into TimescaleDB (throw-away durable clusters of Debian's postgresql,
bench/backends.py), side by side with SQLite's.

    python bench/ingest.py              # 3 runs of 100k frames each, medians
    python bench/ingest.py --quick      # 1 run of 30k frames
    python bench/ingest.py --backends sqlite        # skip the server backends
"""

from __future__ import annotations

import argparse
import contextlib
import logging
import statistics
import tempfile
import time
from pathlib import Path

from backends import BACKENDS, Backends
from server_process import ServerProcess

import collector
from data_feed import BinanceFuturesFeed

SYMS = ["BTCUSDT", "ETHUSDT"]


def wait_for(predicate, timeout: float) -> None:
    deadline = time.monotonic() + timeout
    while not predicate():
        if time.monotonic() > deadline:
            raise TimeoutError("benchmark step did not complete in time")
        time.sleep(0.02)


def receive_only(frames: int, skip_utf8: bool) -> float:
    """Frames/s the feed reads and parses into ticks with a counting callback."""
    with ServerProcess() as server:
        feed = BinanceFuturesFeed(server.ws_base, skip_utf8_validation=skip_utf8)
        count = [0]
        feed.set_callback(lambda tick: count.__setitem__(0, count[0] + 1))
        feed.connect(SYMS)
        try:
            assert server.call("wait_subscribed", SYMS, timeout=10)
            started = time.perf_counter()
            server.send("stream", SYMS, frames // 2, None)
            wait_for(lambda: count[0] >= frames, 120)
            return frames / (time.perf_counter() - started)
        finally:
            feed.disconnect()


def end_to_end(frames: int, rate_per_symbol: float | None, target: str | None = None) -> tuple[float, dict, int]:
    """Ticks/s from first frame to last committed row, latency percentiles, and ticks lost (must be 0); into a
    fresh SQLite file, or `target` (a PostgreSQL database)."""
    with ServerProcess() as server, tempfile.TemporaryDirectory() as tmp:
        c = collector.Collector(target or str(Path(tmp) / "bench.db"), BinanceFuturesFeed(server.ws_base))
        c.start(SYMS)
        try:
            assert server.call("wait_subscribed", SYMS, timeout=10)
            started = time.perf_counter()
            server.send("stream", SYMS, frames // 2, rate_per_symbol)
            wait_for(lambda: c.written >= frames, 300)
            elapsed = time.perf_counter() - started
            stats = c.stats()
            lost = frames - stats.written + stats.duplicates
            return frames / elapsed, stats.commit_latency_ms, lost
        finally:
            c.stop()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true", help="one run of 30k frames")
    parser.add_argument("--frames", type=int, default=100_000)
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--backends", nargs="+", choices=BACKENDS, default=list(BACKENDS))
    args = parser.parse_args()
    frames, runs = (30_000, 1) if args.quick else (args.frames, args.runs)
    logging.basicConfig(level=logging.WARNING)
    logging.getLogger("websocket").setLevel(logging.CRITICAL)

    ceiling_off = [receive_only(frames, True) for _ in range(runs)]
    ceiling_on = [receive_only(frames, False) for _ in range(runs)]
    floods = [end_to_end(frames, None) for _ in range(runs)]
    steady = end_to_end(min(frames, 40_000), 1_000.0)
    a = statistics.median(ceiling_off)
    b = statistics.median(r[0] for r in floods)
    p50 = statistics.median(r[1]["p50"] for r in floods)
    p99 = statistics.median(r[1]["p99"] for r in floods)
    lost = max(r[2] for r in floods)
    pg_rows = []
    with contextlib.ExitStack() as stack:
        servers = Backends(
            stack, [n for n in args.backends if n != "sqlite"], Path(tempfile.gettempdir()), durable=True
        )
        for name in servers.names:
            pg_floods = [end_to_end(frames, None, servers.new(name)) for _ in range(runs)]
            d = statistics.median(r[0] for r in pg_floods)
            d99 = statistics.median(r[1]["p99"] for r in pg_floods)
            pg_rows.append(
                f"| (d) the same flood into {name} (durable: fsync, synchronous_commit) | {d:,.0f} "
                f"ticks/s ({d / b:.0%} of SQLite's (b)); lost {max(r[2] for r in pg_floods)}; p99 "
                f"{d99:.0f} ms | ≥ 25,000/s and ≥ 70% of (b) |"
            )
    print(f"frames per run: {frames:,}; runs: {runs} (medians); fake server in a child process on this machine\n")
    print("| measure | result | target |")
    print("|---|---|---|")
    print(f"| (a) receive-only ceiling, skip_utf8_validation=True | {a:,.0f} frames/s | - |")
    print(f"| (a') receive-only, UTF-8 validation on | {statistics.median(ceiling_on):,.0f} frames/s | - |")
    print(
        f"| (b) sustained frame → committed row, zero loss | {b:,.0f} ticks/s ({b / a:.0%} of a); lost {lost} "
        f"| ≥ 25,000/s and ≥ 70% of (a) |"
    )
    print(f"| (c) receive → commit latency during the flood | p50 {p50:.0f} ms, p99 {p99:.0f} ms | p99 ≤ 500 ms |")
    print(
        f"| (c') latency at a steady 2,000 ticks/s | p50 {steady[1]['p50']:.0f} ms, p99 {steady[1]['p99']:.0f} ms "
        f"(lost {steady[2]}) | p99 ≤ 500 ms |"
    )
    print("\n".join(pg_rows))


if __name__ == "__main__":
    main()
