"""Server-side cost of one full refresh of every dashboard tab, against databases of 10k, 1M and 10M ticks.

Each database holds a cointegrated BTCUSDT/ETHUSDT pair at about 20 trades/s per symbol (so 10M ticks span ~69 h of
history and the last 6 h always has data). The page is driven with streamlit.testing AppTest on a 2-symbol pair at
1s bars over a 6-hour window: for each tab, one warm-up run, then the median of --runs full script runs (sidebar,
live status, alert check and the tab; a live fragment refresh does less, so this is an upper bound). A session
re-reads only the newest bars of its window between full reloads, and the Pair Analytics tab refreshes its
statistical tests in the background; the two extra rows measure the refreshes that do that work in line.

    python bench/refresh.py                      # 10k, 1M, 10M (building the 10M database takes 1-3 minutes)
    python bench/refresh.py --quick              # 10k and 1M, 3 runs
    python bench/refresh.py --sizes 10k,1m --runs 5 --dir /tmp/benchdbs   # keep/reuse the databases
    python bench/refresh.py --backends sqlite postgresql timescaledb --sizes 10k,10m   # side by side in one run
                                                 # (throw-away clusters: bench/backends.py)
"""

from __future__ import annotations

import argparse
import contextlib
import logging
import os
import shutil
import statistics
import tempfile
import time
from pathlib import Path

import pg_cluster
from app_fixtures import batches, pair_path
from backends import BACKENDS, Backends, compress_closed_days

import database

ROOT = Path(__file__).resolve().parents[1]

TABS = ("Dashboard", "Charts", "Pair Analytics", "Backtest", "Portfolio", "Alerts", "Data Management")
CASES: tuple[tuple[str, str, tuple[str, ...]], ...] = (  # (row, tab, session caches emptied before each run)
    *((tab, tab, ()) for tab in TABS),
    ("Dashboard, cold (whole window re-read)", "Dashboard", ("_bar_cache",)),
    ("Pair Analytics, settings changed (tests computed in the refresh)", "Pair Analytics", ("_tests",)),
)
WINDOW_MIN = 360
RATE_PER_SYMBOL = 20.0
TARGET_MS = 300.0


def parse_size(text: str) -> int:
    """'10k' / '1m' / '10M' / '2500' → tick count."""
    text = text.strip().lower()
    scale = {"k": 1_000, "m": 1_000_000}.get(text[-1], 1)
    return int(float(text[:-1] if scale > 1 else text) * scale)


def label(n: int) -> str:
    """Tick count as 10k / 1M / 10M."""
    return f"{n // 1_000_000}M" if n >= 1_000_000 else f"{n // 1_000}k"


def build(path: str, total: int) -> float:
    """Write `total` ticks (half per symbol) ending now into a fresh database; return seconds taken."""
    per_symbol = total // 2
    span_ms = int(max(WINDOW_MIN * 60_000, per_symbol / RATE_PER_SYMBOL * 1000))
    started = time.perf_counter()
    conn = database.open_writer(path)
    try:
        written = 0
        for ticks in batches(pair_path(per_symbol, database.now_ms(), span_ms), 100_000):
            written += database.write_ticks(conn, ticks).total_inserted
            print(f"\r  {label(total)}: {written:,} ticks written", end="", flush=True)
        if path.startswith("postgresql://"):
            conn.execute("ANALYZE")  # what autovacuum does on a running server soon after a bulk load
    finally:
        conn.close()
    compress_closed_days(path)  # TimescaleDB: what its policy does to the closed days within the hour
    print(f" in {time.perf_counter() - started:.0f} s ({database.database_size_bytes(path) / 2**20:,.0f} MB)")
    return time.perf_counter() - started


def fresh(path: str) -> bool:
    """A kept database is reused only while its data still ends within the last 10 minutes (the window is live)."""
    if not database.database_exists(path) or path.startswith("postgresql://"):
        return False
    conn = database.open_reader(path)
    try:
        last = max((s.last_ts or 0 for s in database.symbol_summaries(conn)), default=0)
    finally:
        conn.close()
    return database.now_ms() - last < 600_000


def point_at(target: str) -> None:
    """Point the page's settings at a database target (a SQLite path or a PostgreSQL URL)."""
    os.environ.pop("DATABASE_URL", None)
    os.environ.update(pg_cluster.database_env(target))


def page(db_target: str):
    """An AppTest of the dashboard on one database, set to 1s bars over the 6 h window, run once."""
    from streamlit.testing.v1 import AppTest

    point_at(db_target)
    os.environ["DATA_FEED"] = "simulated"
    at = AppTest.from_file(str(ROOT / "dashboard" / "page.py"), default_timeout=300)
    at.session_state["timeframe"] = "1s"
    at.session_state["lookback"] = WINDOW_MIN
    return at.run()


Key = tuple[str, int]  # (backend, tick count)


def column(key: Key) -> str:
    """A database's column name: backend and size."""
    return f"{key[0]} {label(key[1])}"


def measure(paths: dict[Key, str], runs: int) -> dict[Key, dict[str, float]]:
    """Median ms of a full run per case and database, after a warm-up run; the databases take turns run by run,
    so load from other processes on this machine spreads evenly over them."""
    logging.getLogger("streamlit").setLevel(logging.ERROR)
    pages = {n: page(path) for n, path in paths.items()}
    out: dict[Key, dict[str, float]] = {n: {} for n in paths}
    for row, tab, resets in CASES:
        times: dict[Key, list[float]] = {n: [] for n in paths}
        for n, at in pages.items():
            point_at(paths[n])
            at.session_state["tab"] = tab
            at.run()
            problems = [e.value for e in at.exception] + [e.value for e in at.error] + [i.value for i in at.main.info]
            if problems:
                raise SystemExit(f"{row} did not render cleanly on {paths[n]}: {problems}")
        for _ in range(runs):
            for n, at in pages.items():
                point_at(paths[n])
                for name in resets:
                    at.session_state[name] = {}
                started = time.perf_counter()
                at.run()
                times[n].append((time.perf_counter() - started) * 1000)
        for n in paths:
            out[n][row] = statistics.median(times[n])
        print(f"  {row}: " + ", ".join(f"{column(n)} {out[n][row]:.0f} ms" for n in paths), flush=True)
    return out


def table(results: dict[Key, dict[str, float]]) -> str:
    """Markdown table: one row per tab; per backend one column per database size and the largest / smallest."""
    backends = list(dict.fromkeys(b for b, _ in results))
    sizes = sorted({n for _, n in results})
    head = [column((b, n)) for b in backends for n in sizes] + [f"{b} ×" for b in backends]
    rows = ["| tab | " + " | ".join(head) + " |", "|---|" + "---:|" * len(head)]
    flag = lambda ms: f"{ms:.0f} ms" + ("" if ms <= TARGET_MS else " ⚠")  # noqa: E731
    for row, _, _ in CASES:
        cells = [flag(results[(b, n)][row]) for b in backends for n in sizes]
        ratios = [f"{results[(b, sizes[-1])][row] / results[(b, sizes[0])][row]:.2f}" for b in backends]
        rows.append(f"| {row} | " + " | ".join(cells + ratios) + " |")
    return "\n".join(rows)


def main(argv: list[str] | None = None) -> int:
    """Build the databases, measure, print the table."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--sizes", default="10k,1m,10m", help="comma-separated tick counts (default 10k,1m,10m)")
    parser.add_argument("--runs", type=int, default=5, help="timed runs per tab (median; default 5)")
    parser.add_argument("--quick", action="store_true", help="10k and 1M only, 3 runs")
    parser.add_argument("--dir", help="keep the SQLite databases here and reuse fresh ones (default: a temp dir)")
    parser.add_argument("--backends", nargs="+", choices=BACKENDS, default=["sqlite"])
    args = parser.parse_args(argv)
    sizes = [10_000, 1_000_000] if args.quick else [parse_size(s) for s in args.sizes.split(",")]
    runs = 3 if args.quick else max(3, args.runs)
    workdir = Path(args.dir or tempfile.mkdtemp(prefix="refresh-bench-"))
    workdir.mkdir(parents=True, exist_ok=True)
    with contextlib.ExitStack() as stack:
        stack.callback(lambda: None if args.dir else shutil.rmtree(workdir, ignore_errors=True))
        backends = Backends(stack, args.backends, workdir, durable=False)
        paths = {
            (b, n): str(workdir / f"bench_{label(n)}.db") if b == "sqlite" else backends.new(b)
            for b in backends.names
            for n in sizes
        }
        for (backend, n), path in paths.items():
            if not fresh(path):
                if backend == "sqlite":
                    Path(path).unlink(missing_ok=True)
                build(path, n)
        print(f"measuring ({runs} runs per tab and database)…", flush=True)
        results = measure(paths, runs)
    print(
        f"\nFull refresh per tab, 2-symbol pair, 1s bars, {WINDOW_MIN // 60} h window (median of {runs}; "
        f"× = largest / smallest database; ⚠ = over {TARGET_MS:.0f} ms):\n"
    )
    print(table(results))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
