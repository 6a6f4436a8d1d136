"""Cost per bar of the watch monitor: 100 watched pairs at 1 s bars, each new second evaluated as it is stored.

A SQLite database holds SYMBOLS random-walk symbols trading every second (ticks written as the collector would);
PAIRS of their pairs are watched (rolling hedge of 300 bars, z window 60, auto-trade on, so entries and exits also
open and close paper positions with their fees, spread and funding; the break alarm steps every pair). After a
warm-up the monitor has evaluated everything; then, for each of --bars new seconds, one second of ticks is written
and one monitor pass (service.monitor.evaluate_all) is timed. Prints a Markdown table of the per-bar pass time
(median, p99, max) and its CPU time (this process: what the pass itself costs, whatever else loads the machine),
per pass and per pair.

    python bench/watch_monitor.py                 # 100 pairs of 15 symbols, 60 new bars
    python bench/watch_monitor.py --pairs 20 --bars 30
"""

from __future__ import annotations

import argparse
import contextlib
import itertools
import logging
import tempfile
import time
from pathlib import Path

import numpy as np

import database
from data_feed import Tick
from service import monitor, watch_alarm, watchlist

START_MS = 1_733_000_000_000
WARMUP_S = 1500  # seconds of history before the timed bars: the break alarm's formation (4 hedge windows) has ended


def ticks_for(second: int, prices: np.ndarray, symbols: list[str], rng: np.random.Generator) -> list[Tick]:
    """Two trades per symbol in one second, prices moving as random walks (in place)."""
    out = []
    for k, symbol in enumerate(symbols):
        for j in range(2):
            prices[k] *= float(np.exp(rng.normal(0.0, 2e-4)))
            stamp = START_MS + second * 1000 + 100 + 400 * j
            out.append(Tick(symbol, second * 2 + j + 1, stamp, round(float(prices[k]), 4), 1.0, bool(j), stamp + 5))
    return out


def run(pairs: int, bars: int, folder: Path) -> tuple[list[float], list[float]]:
    """Wall-clock and CPU seconds (this process) per monitor pass over `bars` new bars with `pairs` watched pairs."""
    n_symbols = next(n for n in itertools.count(3) if n * (n - 1) // 2 >= pairs)
    symbols = [f"S{i:02d}USDT" for i in range(n_symbols)]
    rng = np.random.default_rng(5)
    prices = 100.0 * np.exp(rng.normal(0.0, 0.5, n_symbols))
    path = str(folder / "watch.db")
    for x, y in itertools.islice(itertools.combinations(symbols, 2), pairs):
        watchlist.add_watch(path, database.WatchSpec(x, y, hedge_window=300, z_window=60, entry=1.5, auto_trade=True))
    with contextlib.closing(database.open_writer(path)) as conn:
        database.write_ticks(conn, [t for s in range(WARMUP_S) for t in ticks_for(s, prices, symbols, rng)])
    while monitor.evaluate_all(path).bars:  # catch up with the warm-up history
        pass
    tracked = sum(1 for target, _ in watch_alarm.TRACKS if target == path)
    assert tracked == pairs, f"the break alarm runs on {tracked} of {pairs} pairs"
    wall, cpu = [], []
    with contextlib.closing(database.open_writer(path)) as conn:
        for second in range(WARMUP_S, WARMUP_S + bars):
            database.write_ticks(conn, ticks_for(second, prices, symbols, rng))
            started, used = time.perf_counter(), time.process_time()
            done = monitor.evaluate_all(path)
            wall.append(time.perf_counter() - started)
            cpu.append(time.process_time() - used)
            assert done.bars == pairs, f"expected one new bar per pair, evaluated {done.bars}"
    return wall, cpu


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--pairs", type=int, default=100)
    parser.add_argument("--bars", type=int, default=60)
    args = parser.parse_args()
    logging.basicConfig(level=logging.WARNING)
    with tempfile.TemporaryDirectory() as folder:
        wall, cpu = (np.array(t) * 1000 for t in run(args.pairs, args.bars, Path(folder)))
    p50, p99 = np.percentile(wall, [50, 99])
    c50 = float(np.median(cpu))
    print("| watched pairs | bars timed | per-bar pass median | p99 | max | CPU per pass (median) | CPU per pair |")
    print("|---|---|---|---|---|---|---|")
    print(
        f"| {args.pairs} | {args.bars} | {p50:,.0f} ms | {p99:,.0f} ms | {wall.max():,.0f} ms | {c50:,.0f} ms | "
        f"{c50 / args.pairs:.1f} ms |"
    )


if __name__ == "__main__":
    main()
