"""API benchmark: latency of every GET endpoint of the served app (`streamlit run app.py`) with 10M stored ticks.

    python bench/api_latency.py             # 10M ticks (built in ~1-2 min, reused with --db)
    python bench/api_latency.py --ticks 1m --runs 9 --db /tmp/api-bench.db

The database is the refresh benchmark's synthetic cointegrated pair (bench/refresh.py `build`) ending now; each
endpoint is called `--runs` times with a real HTTP client after one warm-up call, and the median and the worst
are printed as a Markdown table (target: every GET ≤ 300 ms, the seed's frontend polls every 5 s).
"""

from __future__ import annotations

import argparse
import os
import statistics
import tempfile
import time
from pathlib import Path

import requests
from refresh import build, fresh, label, parse_size
from served import serve

TARGET_MS = 300.0
PAIR = "x=btcusdt&y=ethusdt"
GETS = (
    ("/api/symbols", "symbols with stored data"),
    ("/api/resampled/btcusdt", "default window (last 60 min of 1s bars), ≤ 1,000 bars"),
    ("/api/resampled/btcusdt?timeframe=1min&limit=10000", "1min bars, last 60 min"),
    ("/api/export/btcusdt", "CSV of the default window"),
    (f"/api/analytics/pair?{PAIR}&regression=ols", "pair, OLS hedge (tests, backtest, verdict)"),
    (f"/api/analytics/pair?{PAIR}&regression=kalman", "pair, Kalman hedge"),
    (f"/api/analytics/pair?{PAIR}&regression=rolling", "pair, rolling OLS hedge"),
    (f"/api/analytics/pair?{PAIR}&regression=tls", "pair, TLS hedge"),
    (f"/api/analytics/pair?{PAIR}&regression=huber", "pair, Huber hedge"),
    ("/api/analytics/corr_matrix?symbols=btcusdt,ethusdt", "correlation matrix"),
    (f"/api/analytics/pair_export?{PAIR}", "pair CSV (every bar of the window)"),
    ("/api/alerts", "alert rules"),
    ("/api/ingest/status", "collector status"),
    ("/api/gaps", "recorded gaps"),
)


def timed(url: str, runs: int) -> tuple[float, float]:
    """(median ms, worst ms) of `runs` GETs after one warm-up; every answer must be a 200."""
    samples = []
    for i in range(runs + 1):
        t0 = time.perf_counter()
        resp = requests.get(url, timeout=60)
        elapsed = (time.perf_counter() - t0) * 1000
        assert resp.status_code == 200 and "error" not in resp.text[:20], resp.text[:300]
        if i:
            samples.append(elapsed)
    return statistics.median(samples), max(samples)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--ticks", default="10m", help="ticks stored (10k, 1m, 10m)")
    parser.add_argument("--runs", type=int, default=9)
    parser.add_argument("--db", default="", help="keep the database here and reuse it while it is fresh")
    args = parser.parse_args()
    total = parse_size(args.ticks)
    with tempfile.TemporaryDirectory() as tmp:
        path = args.db or str(Path(tmp) / "bench.db")
        if not fresh(path):
            if os.path.exists(path):
                os.remove(path)
            build(path, total)
        with serve(Path(tmp) / "server.log", {"CRYPTO_DB_PATH": path, "DATA_FEED": "simulated"}) as url:
            print(f"\n{label(total)} ticks stored; load average {os.getloadavg()[0]:.1f} on {os.cpu_count()} cores\n")
            print(f"| GET | what | median ms | worst ms | ≤ {TARGET_MS:.0f} ms |")
            print("|---|---|---|---|---|")
            for path_q, what in GETS:
                median, worst = timed(url + path_q, args.runs)
                verdict = "yes" if median <= TARGET_MS else "NO"
                print(f"| `{path_q}` | {what} | {median:.0f} | {worst:.0f} | {verdict} |")


if __name__ == "__main__":
    main()
