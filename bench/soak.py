"""Soak: the collector against the fake Binance server at 2,000 ticks/s with a fault every minute.

Reports ticks sent vs stored (must be equal), reconnects, repairs, dropped ticks and resident memory over time
(must stay flat). The server runs in a child process; the collector (real BinanceFuturesFeed + BinanceRest) here.

    python bench/soak.py --minutes 30
    python bench/soak.py --minutes 3 --rate 2000
"""

from __future__ import annotations

import argparse
import logging
import sqlite3
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

from server_process import ServerProcess

import collector
from data_feed import BinanceFuturesFeed, BinanceRest

SYMS = ["BTCUSDT", "ETHUSDT"]


def garbage_for_5s(server: ServerProcess) -> None:
    """Every frame malformed for 5 s, then clean frames again."""
    server.call("inject_garbage", 20)
    time.sleep(5)
    server.call("inject_garbage", 0)


FAULTS: tuple[tuple[str, Callable[[ServerProcess], object]], ...] = (
    ("abrupt close (no close frame)", lambda s: s.call("drop_connections", abrupt=True)),
    ("clean close (close frame)", lambda s: s.call("drop_connections", abrupt=False)),
    ("silent stall 5 s", lambda s: s.call("stall", 5.0)),
    ("malformed frames for 5 s", garbage_for_5s),
    (
        "REST 429 x3 + abrupt close",
        lambda s: (
            s.call("fail_rest", 429, count=3, retry_after_s=1, path="/fapi/v1/aggTrades"),
            s.call("drop_connections", abrupt=True),
        ),
    ),
    (
        "handshake refused x3 + close",
        lambda s: (s.call("reject_connections", 3), s.call("drop_connections", abrupt=True)),
    ),
)


def rss_mb() -> float:
    """Resident set size of this process (MB), from /proc."""
    with open("/proc/self/status") as status:
        for line in status:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
    return float("nan")


def stored_count(db_target: str, symbol: str, lo: int, hi: int) -> int:
    conn = sqlite3.connect(f"file:{db_target}?mode=ro", uri=True)
    try:
        return conn.execute(
            "SELECT count(*) FROM ticks WHERE symbol=? AND trade_id>=? AND trade_id<?", (symbol, lo, hi)
        ).fetchone()[0]
    finally:
        conn.close()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--minutes", type=float, default=30.0)
    parser.add_argument("--rate", type=float, default=2000.0, help="total ticks/s over both symbols")
    parser.add_argument("--fault-every", type=float, default=60.0, help="seconds between faults")
    args = parser.parse_args()
    logging.basicConfig(level=logging.WARNING, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    logging.getLogger("websocket").setLevel(logging.CRITICAL)
    logging.getLogger("data_feed").setLevel(logging.ERROR)
    with ServerProcess(ping_interval_s=20.0) as server, tempfile.TemporaryDirectory() as tmp:
        db_target = str(Path(tmp) / "soak.db")
        feed = BinanceFuturesFeed(
            server.ws_base, stall_first_s=5.0, stall_idle_s=3.0, backoff_initial_s=0.2, backoff_max_s=5.0
        )
        c = collector.Collector(db_target, feed, rest=BinanceRest(server.rest_base))
        c.start(SYMS)
        assert server.call("wait_subscribed", SYMS, timeout=20)
        server.send("stream", SYMS, None, args.rate / len(SYMS))
        started = time.monotonic()
        end = started + args.minutes * 60
        next_fault, next_sample, fault_no = started + args.fault_every, started, 0
        samples: list[tuple[float, float, int]] = []
        faults: list[str] = []
        while time.monotonic() < end:
            now = time.monotonic()
            if now >= next_sample:
                samples.append(((now - started) / 60, rss_mb(), c.written))
                next_sample += 30
            if now >= next_fault:
                name, fault = FAULTS[fault_no % len(FAULTS)]
                fault(server)
                faults.append(f"{(now - started) / 60:.1f} min: {name}")
                fault_no += 1
                next_fault += args.fault_every
            time.sleep(0.2)
        server.send("stop_stream")
        assert server.call("wait_subscribed", SYMS, timeout=30)
        server.send("stream", SYMS, 50, 100.0)
        server.send("wait_stream", 30)
        ranges = {s: server.send("history", s) for s in SYMS}
        sent = sum(hi - lo for lo, hi in ranges.values())
        deadline = time.monotonic() + 120
        while time.monotonic() < deadline and sum(stored_count(db_target, s, *ranges[s]) for s in SYMS) < sent:
            time.sleep(0.5)
        stored = sum(stored_count(db_target, s, *ranges[s]) for s in SYMS)
        stats = c.stats()
        c.stop()
    print(f"soak: {args.minutes:g} min at {args.rate:,.0f} ticks/s, a fault every {args.fault_every:g} s\n")
    print("| measure | value |\n|---|---|")
    print(f"| ticks sent by the exchange | {sent:,} |")
    verdict = "EQUAL" if stored == sent else f"MISSING {sent - stored}"
    print(f"| ticks stored (distinct ids in range) | {stored:,} ({verdict}) |")
    print(f"| reconnects / stalls detected | {stats.feed.reconnects} / {stats.feed.stalls} |")
    print(
        f"| gaps detected / repaired / unrepairable | {stats.gaps_detected} / {stats.gaps_repaired} / "
        f"{stats.gaps_unrepairable} |"
    )
    print(f"| ticks repaired over REST | {stats.repaired_ticks:,} |")
    print(f"| dropped / rejected / duplicates ignored | {stats.dropped} / {stats.rejected} / {stats.duplicates:,} |")
    print(f"| parse errors counted | {stats.feed.parse_errors + stats.feed.unknown_events:,} |")
    print(
        f"| commit latency p50 / p99 | {stats.commit_latency_ms.get('p50', 0):.0f} / "
        f"{stats.commit_latency_ms.get('p99', 0):.0f} ms |"
    )
    first, last = samples[min(2, len(samples) - 1)], samples[-1]
    print(
        f"| RSS at {first[0]:.1f} min / at end / peak | {first[1]:.0f} / {last[1]:.0f} / "
        f"{max(s[1] for s in samples):.0f} MB |"
    )
    print("\nfaults injected:\n" + "\n".join(f"- {f}" for f in faults))
    print("\nRSS samples (min, MB, ticks written): " + ", ".join(f"({m:.1f}, {r:.0f}, {w:,})" for m, r, w in samples))


if __name__ == "__main__":
    main()
