"""Ingest benchmark: the real BinanceFuturesFeed and collector against the fake Binance server on 127.0.0.1.

The server runs in a child process (its own interpreter, as an exchange would be); both share this 2-core machine.
Reports, in one run: (a) the receive-only ceiling of the WebSocket client (frames/s read and parsed, nothing stored),
with websocket-client's UTF-8 validation on and off; (b) sustained ticks/s from frame to committed row with zero
loss; (c) receive-to-commit latency p50/p99, during the flood and at a steady 2,000 ticks/s; (d) the same
sustained flood into PostgreSQL and into TimescaleDB (throw-away durable clusters of Debian's postgresql,
bench/backends.py), side by side with SQLite's; (e) the flood of (b) with RECORD_QUOTES on: bookTicker on its own
/public connection at each of --quote-rates updates/s per symbol while the flood lasts (interleaved with (b)'s runs),
every update received and every second of them stored as its 1-second bar (last bid/ask of the second); (e') a
flood of quotes alone: how many a second, and this process's CPU per quote beside a tick's in (b).

    python bench/ingest.py              # 3 runs of 100k frames each, medians
    python bench/ingest.py --quick      # 1 run of 30k frames
    python bench/ingest.py --backends sqlite        # skip the server backends
    python bench/ingest.py --quote-rates 200 2000   # (e)'s bookTicker rates per symbol (these are the default)
"""

from __future__ import annotations

import argparse
import contextlib
import logging
import statistics
import tempfile
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

from backends import BACKENDS, Backends
from server_process import ServerProcess

import collector
import database
from data_feed import BinanceFuturesFeed

SYMS = ["BTCUSDT", "ETHUSDT"]


@dataclass(frozen=True)
class QuotedFlood:
    """One flood with quotes on: ticks/s committed, ticks lost, quotes made and received, and the seconds of
    quotes whose stored bar is missing or does not end on that second's last bid/ask."""

    ticks_per_s: float
    ticks_lost: int
    quotes_made: int
    quotes_received: int
    seconds_wrong: int


@dataclass(frozen=True)
class QuotesAlone:
    """A flood of quotes alone: updates/s received, CPU seconds per update, received and made, and the seconds
    whose stored bar is missing or wrong."""

    per_s: float
    cpu_s: float
    received: int
    made: int
    seconds_wrong: int


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


def end_to_end(frames: int, rate_per_symbol: float | None, target: str | None = None) -> tuple[float, dict, int, float]:
    """Ticks/s from first frame to last committed row, latency percentiles, ticks lost (must be 0), and this
    process's CPU seconds meanwhile (every collector thread); into a fresh SQLite file, or `target` (PostgreSQL)."""
    with ServerProcess() as server, tempfile.TemporaryDirectory() as tmp:
        c = collector.Collector(target or str(Path(tmp) / "bench.db"), BinanceFuturesFeed(server.ws_base))
        c.start(SYMS)
        try:
            assert server.call("wait_subscribed", SYMS, timeout=10)
            started, cpu = time.perf_counter(), time.process_time()
            server.send("stream", SYMS, frames // 2, rate_per_symbol)
            wait_for(lambda: c.written >= frames, 300)
            elapsed, cpu = time.perf_counter() - started, time.process_time() - cpu
            stats = c.stats()
            lost = frames - stats.written + stats.duplicates
            return frames / elapsed, stats.commit_latency_ms, lost, cpu
        finally:
            c.stop()


@contextlib.contextmanager
def quote_collector(server: ServerProcess, target: str) -> Iterator[collector.Collector]:
    """A collector of trades and, on its own /public connection, bookTicker quotes (RECORD_QUOTES), subscribed."""
    book = BinanceFuturesFeed(server.ws_base.removesuffix("/market") + "/public", stream="bookTicker")
    c = collector.Collector(target, BinanceFuturesFeed(server.ws_base), record_quotes=True, side_feeds=[book])
    c.start(SYMS)
    try:
        assert server.call("wait_subscribed", SYMS, timeout=10)
        wait_for(lambda: any(route == "public" and streams for route, streams in server.call("subscriptions")), 10)
        yield c
    finally:
        c.stop()


def made_quotes(server: ServerProcess, c: collector.Collector) -> dict[str, list]:
    """Every quote the server made, per symbol, once the collector received as many (or 30 s passed: a quote
    lost is reported, not raised)."""
    made = {s: server.call("quotes", s) for s in SYMS}
    with contextlib.suppress(TimeoutError):
        wait_for(lambda: c.stats().quotes >= sum(len(q) for q in made.values()), 30)
    return made


def wrong_seconds(target: str, made: dict[str, list]) -> int:
    """Seconds of quotes whose stored bar is missing or does not end on that second's last bid/ask."""
    wrong = 0
    for symbol, quotes in made.items():
        last = {t - t % 1000: (float(b), float(a)) for t, _, b, _, a, _ in quotes}
        bars = database.quote_bars(target, symbol)
        seconds = (bars.index.asi8 // 1_000_000).tolist()  # type: ignore[attr-defined]  # a DatetimeIndex
        stored = dict(zip(seconds, zip(bars.bid.tolist(), bars.ask.tolist(), strict=True), strict=True))
        wrong += sum(stored.get(second) != pair for second, pair in last.items())
    return wrong


def with_quotes(frames: int, quote_rate: float) -> QuotedFlood:
    """The flood of end_to_end with bookTicker updates streamed on their own /public connection at `quote_rate`
    per symbol for as long as the flood lasts; every update made must be received, and every second of them stored
    as its 1-second bar ending on the second's last bid/ask."""
    with ServerProcess() as server, tempfile.TemporaryDirectory() as tmp:
        target = str(Path(tmp) / "bench.db")
        with quote_collector(server, target) as c:
            started = time.perf_counter()
            server.send("stream_quotes", SYMS, None, quote_rate)
            server.send("stream", SYMS, frames // 2, None)
            wait_for(lambda: c.written >= frames, 300)
            elapsed = time.perf_counter() - started
            assert server.send("stop_quotes", 30)
            made = made_quotes(server, c)
            lost = frames - c.stats().written + c.stats().duplicates
        total = sum(len(q) for q in made.values())
        return QuotedFlood(frames / elapsed, lost, total, c.stats().quotes, wrong_seconds(target, made))


def quotes_alone(per_symbol: int) -> QuotesAlone:
    """A flood of bookTicker updates alone (no trades), each received, made a bar and stored: updates/s, and this
    process's CPU per update (the quote path's own cost, which the shared machine's load hardly moves)."""
    with ServerProcess() as server, tempfile.TemporaryDirectory() as tmp:
        target = str(Path(tmp) / "bench.db")
        with quote_collector(server, target) as c:
            started, cpu = time.perf_counter(), time.process_time()
            assert server.send("stream_quotes", SYMS, per_symbol, None)
            with contextlib.suppress(TimeoutError):  # a quote lost is reported, not raised
                wait_for(lambda: c.stats().quotes >= per_symbol * len(SYMS), 120)
            elapsed, cpu = time.perf_counter() - started, time.process_time() - cpu
            made = made_quotes(server, c)
        received, wrong = c.stats().quotes, wrong_seconds(target, made)
        return QuotesAlone(received / elapsed, cpu / received, received, per_symbol * len(SYMS), wrong)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true", help="one run of 30k frames")
    parser.add_argument("--frames", type=int, default=100_000)
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--backends", nargs="+", choices=BACKENDS, default=list(BACKENDS))
    parser.add_argument(
        "--quote-rates", type=float, nargs="+", default=[200.0, 2000.0], help="(e) bookTicker updates/s per symbol"
    )
    args = parser.parse_args()
    frames, runs = (30_000, 1) if args.quick else (args.frames, args.runs)
    logging.basicConfig(level=logging.WARNING)
    logging.getLogger("websocket").setLevel(logging.CRITICAL)

    ceiling_off = [receive_only(frames, True) for _ in range(runs)]
    ceiling_on = [receive_only(frames, False) for _ in range(runs)]
    floods, quoted = [], {rate: list[QuotedFlood]() for rate in args.quote_rates}
    for _ in range(runs):  # interleaved, so that quotes on and off see the same load of this shared machine
        floods.append(end_to_end(frames, None))
        for rate, runs_of_rate in quoted.items():
            runs_of_rate.append(with_quotes(frames, rate))
    steady = end_to_end(min(frames, 40_000), 1_000.0)
    alone = [quotes_alone(frames // 2) for _ in range(runs)]
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
    tick_cpu = statistics.median(r[3] for r in floods) / frames  # this process's CPU seconds a tick costs
    for rate, floods_quoted in quoted.items():
        e = statistics.median(r.ticks_per_s for r in floods_quoted)
        received, made = sum(r.quotes_received for r in floods_quoted), sum(r.quotes_made for r in floods_quoted)
        print(
            f"| (e) the flood of (b) with RECORD_QUOTES on: bookTicker at {rate:,.0f} updates/s per symbol on its "
            f"own connection | {e:,.0f} ticks/s = {e / b:.0%} of (b); ticks lost "
            f"{max(r.ticks_lost for r in floods_quoted)}; quotes received {received:,} of {made:,} made; seconds "
            f"without their right bar {sum(r.seconds_wrong for r in floods_quoted)} | ≥ 25,000/s; every quote "
            f"received and its second stored |"
        )
    q = statistics.median(r.per_s for r in alone)
    q_cpu = statistics.median(r.cpu_s for r in alone)
    print(
        f"| (e') a flood of quotes alone, received → 1-second bar → stored | {q:,.0f} quotes/s; CPU {q_cpu * 1e6:.0f}"
        f" µs a quote against {tick_cpu * 1e6:.0f} µs a tick in (b): 200 updates/s (a busy BTCUSDT) cost "
        f"{200 * q_cpu:.1%} of a core; received {sum(r.received for r in alone):,} of {sum(r.made for r in alone):,},"
        f" seconds without their right bar {sum(r.seconds_wrong for r in alone)} | every quote received |"
    )


if __name__ == "__main__":
    main()
