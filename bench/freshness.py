"""Ingest freshness while the collector's neighbours are busy: (1) 100 API clients hammering the dashboard server
that hosts the collector, (2) a retention pass moving a 5M-trade day while the feed runs at 5,000 trades/s.

Freshness is now − the newest stored trade's exchange time over the live symbols (the writer's per-symbol totals,
read every second from another process); a gap is a trade-id hole the collector recorded (its socket dropped, or
its queue overflowed), each then repaired over REST. The fake Binance server runs in a child process (its own
interpreter, as an exchange would); everything shares this machine's cores.

    python bench/freshness.py                                  # both scenarios at full size (~10 minutes)
    python bench/freshness.py --scenario api --clients 100 --seconds 60 --rate 1000
    python bench/freshness.py --scenario retention --day-trades 5m --rate 5000 --seed-cache /tmp/day5m.db

(1) runs `streamlit run app.py` on a synthetic pair (bench/refresh.py's `build`, `--ticks`) with the Binance feed
started over `POST /api/ingest/start` on two other symbols, and `--clients` threads requesting pair analytics and
CSV exports for `--seconds`. (2) runs the headless collector (`python collector.py`, `TICK_RETENTION_DAYS=1`) on a
database holding one old day of `--day-trades` trades of a third symbol; its first retention pass starts 5 s in.
"""

from __future__ import annotations

import argparse
import contextlib
import itertools
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path

import requests
from refresh import build, label, parse_size
from served import serve
from server_process import ServerProcess

import database
from core.clock import DAY_MS
from core.vocabulary import IdSpace
from data_feed import Tick

ROOT = Path(__file__).resolve().parents[1]
LIVE = ["SOLUSDT", "XRPUSDT"]  # the live feed's symbols (the analysed pair is BTCUSDT/ETHUSDT)
OLD = "BNBUSDT"  # the symbol of the old day the retention pass moves
PAIR = "x=btcusdt&y=ethusdt"
HEAVY = (
    f"/api/analytics/pair?{PAIR}&regression=kalman",
    f"/api/analytics/pair?{PAIR}&regression=ols",
    f"/api/analytics/pair?{PAIR}&regression=rolling",
    f"/api/analytics/pair_export?{PAIR}",
    "/api/export/btcusdt",
    "/api/resampled/ethusdt?timeframe=1s&limit=10000",
    "/api/analytics/corr_matrix?symbols=btcusdt,ethusdt",
)


@dataclass
class Run:
    """What one scenario measured."""

    name: str
    freshness_s: list[float] = field(default_factory=list)  # sampled during the load or the pass
    gaps: int = 0
    gap_trades: int = 0
    sent: int = 0
    stored: int = 0
    notes: list[str] = field(default_factory=list)

    def row(self) -> str:
        f = sorted(self.freshness_s) or [float("nan")]
        p50, p99 = statistics.median(f), f[min(len(f) - 1, int(0.99 * len(f)))]
        exact = "yes" if self.stored == self.sent else f"NO ({self.sent - self.stored:,} missing)"
        return (
            f"| {self.name} | {p50:.1f} / {p99:.1f} / {max(f):.1f} | {self.gaps} ({self.gap_trades:,} trades) "
            f"| {exact} | {'; '.join(self.notes)} |"
        )


class Sampler:
    """Every second: now − the newest stored trade's time over `symbols` (from symbol_stats, O(symbols))."""

    def __init__(self, db_target: str, symbols: list[str]) -> None:
        self.db_target, self.symbols = db_target, symbols
        self.samples: list[tuple[float, float]] = []  # (monotonic time, freshness s)
        self.stop = threading.Event()
        self.thread = threading.Thread(target=self._run, daemon=True)

    def _run(self) -> None:
        while not self.stop.wait(1.0):
            with contextlib.suppress(*database.DATABASE_ERRORS):
                conn = database.open_reader(self.db_target)
                try:
                    newest = max(
                        (s.last_ts or 0 for s in database.symbol_summaries(conn) if s.symbol in self.symbols),
                        default=0,
                    )
                finally:
                    conn.close()
                if newest:
                    self.samples.append((time.monotonic(), (database.now_ms() - newest) / 1000))

    def between(self, start: float, end: float) -> list[float]:
        return [f for t, f in self.samples if start <= t <= end]

    def __enter__(self) -> Sampler:
        self.thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop.set()
        self.thread.join(5)


def gaps(db_target: str, symbols: list[str]) -> tuple[int, int]:
    """(gaps recorded, trades in them) for these symbols."""
    conn = database.open_reader(db_target)
    try:
        marks = ",".join("?" * len(symbols))
        count, trades = conn.execute(
            f"SELECT count(*), coalesce(sum(last_missing_id - first_missing_id + 1), 0) FROM gaps "
            f"WHERE symbol IN ({marks})",
            symbols,
        ).fetchone()
    finally:
        conn.close()
    return int(count), int(trades)


def stored(db_target: str, symbol: str) -> int:
    conn = database.open_reader(db_target)
    try:
        return int(conn.execute("SELECT count(*) FROM ticks WHERE symbol=?", (symbol,)).fetchone()[0])
    finally:
        conn.close()


def settle(server: ServerProcess, db_target: str, run: Run, timeout_s: float = 600.0) -> None:
    """Stop the stream, send a few trades more (so a hole at the end shows), wait until every trade the exchange
    made is stored (repairs included), and record the counts."""
    server.send("stop_stream")
    server.send("stream", LIVE, 20, 20.0)
    server.send("wait_stream", 30)
    ranges = {s: server.send("history", s) for s in LIVE}
    run.sent = sum(hi - lo for lo, hi in ranges.values())
    deadline = time.monotonic() + timeout_s
    while (run_stored := sum(stored(db_target, s) for s in LIVE)) < run.sent and time.monotonic() < deadline:
        time.sleep(1.0)
    run.stored = run_stored
    run.gaps, run.gap_trades = gaps(db_target, LIVE)


# ------------------------------------------------------------------------------------------------ (1) API load
def api_load(args: argparse.Namespace, tmp: Path) -> Run:
    db_target = str(tmp / "api.db")
    build(db_target, parse_size(args.ticks))
    run = Run(f"{args.clients} API clients for {args.seconds:g} s, dashboard hosts the collector, {args.rate:,.0f}/s")
    with ServerProcess(ping_interval_s=20.0, ping_timeout_s=10.0) as server:
        env = {
            "CRYPTO_DB_PATH": db_target,
            "DATA_FEED": "binance",
            "BINANCE_WS_URL": server.ws_base,
            "BINANCE_REST_URL": server.rest_base,
            "ARCHIVE_REPAIR": "false",
        }
        with serve(tmp / "server.log", env) as url:
            answer = requests.post(f"{url}/api/ingest/start", json={"mode": "ws", "symbols": LIVE}, timeout=120)
            assert answer.status_code == 200, answer.text
            assert server.call("wait_subscribed", LIVE, timeout=60)
            server.send("stream", LIVE, None, args.rate / len(LIVE))
            latencies: list[float] = []
            failures = [0]
            with Sampler(db_target, LIVE) as sampler:
                time.sleep(10)  # settled, before the load
                quiet = statistics.median(sampler.between(0, time.monotonic()) or [float("nan")])
                stop = threading.Event()

                def client(k: int) -> None:
                    session = requests.Session()
                    for path in itertools.cycle(HEAVY[k % len(HEAVY) :] + HEAVY[: k % len(HEAVY)]):
                        if stop.is_set():
                            return
                        t0 = time.monotonic()
                        try:
                            ok = session.get(url + path, timeout=300).status_code == 200
                        except requests.RequestException:
                            ok = False
                        latencies.append(time.monotonic() - t0)
                        failures[0] += not ok

                clients = [threading.Thread(target=client, args=(k,), daemon=True) for k in range(args.clients)]
                started = time.monotonic()
                for thread in clients:
                    thread.start()
                stop.wait(args.seconds)
                stop.set()
                ended = time.monotonic()
                for thread in clients:
                    thread.join(300)
                time.sleep(5)
                run.freshness_s = sampler.between(started, ended)
            settle(server, db_target, run)
            status = requests.get(f"{url}/api/ingest/status", timeout=60).json()
            requests.post(f"{url}/api/ingest/stop", json={}, timeout=120)
    run.notes = [
        f"before the load p50 {quiet:.1f} s",
        f"{len(latencies):,} requests, p50 {statistics.median(latencies or [0]):.1f} s, {failures[0]} failed",
        f"collector {status.get('state')}, last error: {status.get('last_error') or 'none'}",
    ]
    return run


# ------------------------------------------------------------------------------------------ (2) retention pass
def seed_old_day(path: str, trades: int) -> None:
    """One UTC day, three days ago, of `trades` aggTrades of OLD, written in 100,000-trade batches."""
    day = database.now_ms() // DAY_MS - 3
    step = DAY_MS / trades
    conn = database.open_writer(path)
    try:
        for lo in range(0, trades, 100_000):
            stamps = [day * DAY_MS + int(i * step) for i in range(lo, min(trades, lo + 100_000))]
            ticks = [
                Tick(OLD, lo + k + 1, t, 600 + (k % 997) * 0.01, 0.01, bool(k & 1), t + 5, IdSpace.AGG_TRADE)
                for k, t in enumerate(stamps)
            ]
            database.write_ticks(conn, ticks)
            print(f"\r  seeding the old day: {lo + len(ticks):,} of {trades:,}", end="", flush=True)
    finally:
        conn.close()
    print()


def retention_pass(args: argparse.Namespace, tmp: Path) -> Run:
    trades = parse_size(args.day_trades)
    db_target = str(tmp / "retention.db")
    cache = args.seed_cache or str(tmp / "seed.db")
    if not os.path.exists(cache) or stored(cache, OLD) != trades:
        for suffix in ("", "-wal", "-shm"):
            with contextlib.suppress(FileNotFoundError):
                os.remove(cache + suffix)
        seed_old_day(cache, trades)
    shutil.copyfile(cache, db_target)  # the cache was closed cleanly: its WAL is checkpointed
    cold = tmp / "cold"
    run = Run(f"retention pass of a {label(trades)}-trade day beside the feed at {args.rate:,.0f}/s (headless)")
    with ServerProcess(ping_interval_s=20.0, ping_timeout_s=10.0) as server:
        env = dict(
            os.environ,
            TICK_RETENTION_DAYS="1",
            COLD_DIR=str(cold),
            BINANCE_WS_URL=server.ws_base,
            BINANCE_REST_URL=server.rest_base,
            ARCHIVE_REPAIR="false",
            LOG_LEVEL="INFO",
        )
        log_path = tmp / "collector.log"
        with open(log_path, "w") as log:
            proc = subprocess.Popen(
                [sys.executable, "collector.py", "--feed", "binance", "--symbols", ",".join(LIVE), "--db", db_target],
                cwd=ROOT,
                env=env,
                stdout=log,
                stderr=subprocess.STDOUT,
            )
            try:
                assert server.call("wait_subscribed", LIVE, timeout=120), log_path.read_text()[-3000:]
                server.send("stream", LIVE, None, args.rate / len(LIVE))
                with Sampler(db_target, LIVE) as sampler:
                    started = time.monotonic()
                    done = cold / OLD
                    deadline = started + args.pass_timeout
                    while time.monotonic() < deadline:
                        if any(done.glob("*.parquet")) and _old_gone(db_target):
                            break
                        time.sleep(1.0)
                    ended = time.monotonic()
                    time.sleep(5)
                    run.freshness_s = sampler.between(started, ended)
                settle(server, db_target, run)
            finally:
                proc.send_signal(2)
                proc.wait(60)
        lines = log_path.read_text().splitlines()
    finished = ended < deadline
    status = [line for line in lines if "written=" in line]
    dropped = status[-1].split("dropped=")[1].split()[0] if status else "?"
    run.notes = [
        f"pass {'took' if finished else 'NOT finished after'} {ended - started:.0f} s (from the collector's start)",
        f"dropped {dropped}",
        f"ping/pong timeouts {sum('ping/pong' in line for line in lines)}",
    ]
    return run


def _old_gone(db_target: str) -> bool:
    conn = database.open_reader(db_target)
    try:
        row = conn.execute("SELECT tick_count FROM symbol_stats WHERE symbol=?", (OLD,)).fetchone()
    finally:
        conn.close()
    return row is None or row[0] == 0


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--scenario", choices=("api", "retention", "both"), default="both")
    parser.add_argument("--clients", type=int, default=100)
    parser.add_argument("--seconds", type=float, default=60.0, help="how long the API clients run")
    parser.add_argument("--ticks", default="1m", help="stored history of the analysed pair (api scenario)")
    parser.add_argument("--rate", type=float, help="live trades/s over both symbols (api: 1,000; retention: 5,000)")
    parser.add_argument("--day-trades", default="5m", help="trades of the old day the retention pass moves")
    parser.add_argument("--pass-timeout", type=float, default=600.0, help="give up waiting for the pass (s)")
    parser.add_argument("--seed-cache", default="", help="keep the seeded old day here and reuse it")
    args = parser.parse_args()
    runs = []
    with tempfile.TemporaryDirectory() as tmp:
        if args.scenario in ("api", "both"):
            runs.append(api_load(argparse.Namespace(**{**vars(args), "rate": args.rate or 1000.0}), Path(tmp)))
        if args.scenario in ("retention", "both"):
            runs.append(retention_pass(argparse.Namespace(**{**vars(args), "rate": args.rate or 5000.0}), Path(tmp)))
    print(f"\nload average {os.getloadavg()[0]:.1f} on {os.cpu_count()} cores\n")
    print("| scenario | freshness p50 / p99 / max (s) | gaps recorded (trades in them) | every trade stored | notes |")
    print("|---|---|---|---|---|")
    for run in runs:
        print(run.row())


if __name__ == "__main__":
    main()
