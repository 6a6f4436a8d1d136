"""What the market scanner selects (issue 23): recall and false share on planted universes with bid/ask bounce, and
how often null universes select anything at all. Universes from tests/universe_fixtures.py (fixed seeds).

    python bench/scan_selection.py                  # every study (~10 minutes on 2 busy cores)
    python bench/scan_selection.py --study null --universes 20

Studies:
* bounce — 500 symbols × 10,080 one-minute bars: market and sector factors, 20 planted pairs (half-lives 10–60 bars,
  spread sd 0.1–0.5 % of price, 3 with a bouncing y leg), 15 late listings, 1 halted symbol, 5 trap pairs, 15
  bouncing walks (0.3 % noise, 5 of them 1.5 %), 5 walks on a one-tick grid (0.3 tick a bar); 3 seeds.
* echo — 200 symbols, market factor, 10 planted pairs whose spread sd is 0.5 % of price; 5 seeds.
* null — 100 symbols × 10,080 bars of independent walks (normal, Student-t 3 and GARCH(1,1) increments), 30 % with
  bounce 5× the increment sd, 10 % on a one-tick grid; `--universes` of them (100).
* variants — the audits of the issue: 2σ bounce on all 100 symbols (10 universes), one-tick markets moving 0.3 and
  0.1 tick a bar (10 each), 500 symbols of which 100 bounce at 5× (3).
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import time
from collections.abc import Callable

from universe_fixtures import SimUniverse, market_universe, null_universe, score

import analytics as A


def bounce_study(seeds: range) -> list[str]:
    rows = []
    for seed in seeds:
        u = market_universe(
            500, 10_080, seed=seed, n_planted=20, bounce_sd=0.003, strong_bounce=5, bounce_planted=3, n_tick=5
        )
        start = time.perf_counter()
        table = A.scan_pairs(u.prices)
        elapsed = time.perf_counter() - start
        s, summary = score(table, u.planted), A.scan_summary(table)
        rows.append(
            f"| bounce, seed {seed} | {s.recall:.0%} | {s.selected} | {s.false_share:.0%} | {s.leads} | "
            f"{s.false_lead_share:.0%} | {summary.pairs_sent:,} / {summary.pairs_confirmed:,} / "
            f"{summary.pairs_unconfirmed:,} | {len(summary.noisy)} of {len(u.bounce)} | {elapsed:.1f} s |"
        )
    return rows


def echo_study(seeds: range) -> list[str]:
    rows = []
    for seed in seeds:
        u = market_universe(
            200,
            10_080,
            seed=seed,
            n_planted=10,
            spread_sd=(0.005, 0.005),
            n_late=0,
            n_halted=0,
            n_bounce=0,
            trap_pairs=0,
        )
        start = time.perf_counter()
        table = A.scan_pairs(u.prices)
        elapsed = time.perf_counter() - start
        s, summary = score(table, u.planted), A.scan_summary(table)
        rows.append(
            f"| echo, seed {seed} | {s.recall:.0%} | {s.selected} | {s.false_share:.0%} | {s.leads} | "
            f"{s.false_lead_share:.0%} | {summary.pairs_sent:,} / {summary.pairs_confirmed:,} / "
            f"{summary.pairs_unconfirmed:,} (echoes folded: {summary.pairs_echoes}) | — | {elapsed:.1f} s |"
        )
    return rows


def null_study(name: str, universes: int, make: Callable[[int], SimUniverse]) -> str:
    hits, most, times, sent = 0, 0, [], []
    for seed in range(universes):
        u = make(seed)
        start = time.perf_counter()
        table = A.scan_pairs(u.prices)
        times.append(time.perf_counter() - start)
        selected = int(table["selected"].sum())
        hits += selected > 0
        most = max(most, selected)
        sent.append(A.scan_summary(table).pairs_sent)
    return (
        f"| {name} | {universes} | {hits} ({hits / universes:.0%}) | {most} | {statistics.median(sent):,.0f} "
        f"(max {max(sent):,}) | {statistics.median(times):.1f} s |"
    )


def one_tick(tick_bars: float) -> Callable[[int], SimUniverse]:
    def make(seed: int) -> SimUniverse:
        return null_universe(
            100, 10_080, seed=600 + seed, kinds=("normal",), bounce_share=0.0, tick_share=1.0, tick_bars=tick_bars
        )

    return make


def main() -> None:
    ap = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    ap.add_argument("--study", choices=("all", "bounce", "echo", "null", "variants"), default="all")
    ap.add_argument("--universes", type=int, default=100, help="null universes (the null study)")
    args = ap.parse_args()
    print(f"python {sys.version.split()[0]}, {os.cpu_count()} CPUs, load average {os.getloadavg()[0]:.2f}\n")
    if args.study in ("all", "bounce", "echo"):
        print(
            "| universe | recall | selected | false among selected | leads | false among leads | "
            "sent / confirmed / left unconfirmed | bouncing symbols flagged | scan time |"
        )
        print("|---|---|---|---|---|---|---|---|---|")
        rows = (bounce_study(range(1, 4)) if args.study != "echo" else []) + (
            echo_study(range(1, 6)) if args.study != "bounce" else []
        )
        print("\n".join(rows) + "\n")
    if args.study in ("all", "null", "variants"):
        print(
            "| null universes | universes | with any selection | most selected in one | pairs sent (median) | "
            "scan time (median) |"
        )
        print("|---|---|---|---|---|---|")
        if args.study != "variants":
            print(
                null_study(
                    "100 walks: normal/t3/GARCH, 30 % bounce 5×, 10 % one-tick",
                    args.universes,
                    lambda seed: null_universe(100, 10_080, seed=seed, tick_share=0.1),
                )
            )
        if args.study != "null":
            print(
                null_study(
                    "100 walks, all with 2σ bounce",
                    10,
                    lambda seed: null_universe(
                        100, 10_080, seed=500 + seed, kinds=("normal",), bounce_share=1.0, bounce_scale=2.0
                    ),
                )
            )
            for tick_bars in (0.3, 0.1):
                print(null_study(f"one-tick market, {tick_bars} tick a bar", 10, one_tick(tick_bars)))
            print(
                null_study(
                    "500 walks, 100 with 5× bounce",
                    3,
                    lambda seed: null_universe(500, 10_080, seed=700 + seed, kinds=("normal",), bounce_share=0.2),
                )
            )


if __name__ == "__main__":
    main()
