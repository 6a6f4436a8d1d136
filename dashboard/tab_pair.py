"""The Pair Analytics tab: hedge ratio, spread and z-score, tests with verdicts, correlations, data quality."""

from __future__ import annotations

import functools
import time
from collections.abc import Sequence

import pandas as pd
import streamlit as st

import analytics
import database
import visualizations as viz
from core import numbers
from core.symbols import base_asset
from core.vocabulary import WatchSource
from dashboard import section_research
from dashboard.costs import funding_outlook
from dashboard.watch_actions import watch_button
from dashboard.widgets import download, guard, plot, read_or_last, session_cache, verdict_banner
from service.controls import BAR_SECONDS, TESTS_TTL_S, Controls, fmt_time, fmt_value
from service.exports import export_name, pair_frame, window_csv
from service.window import Window, all_closes, load_window, pair_of


def johansen_verdict(rank: int, n: int) -> str:
    """Plain-language reading of a Johansen rank for n series."""
    if rank == 0:
        return "No cointegrating relation at 95 %"
    if rank >= n:
        return "Full rank: the prices themselves look stationary (no shared trend to trade)"
    return f"{rank} cointegrating relation(s) among {n} symbols at 95 %"


def verdicts(tests: analytics.PairTests, bar_seconds: int) -> pd.DataFrame:
    """The tests as a table with plain-language readings that never contradict the overall verdict: the evidence is
    Engle–Granger on the prices; the static residual's half-life and Hurst qualify it, and the last third's test
    says whether the mean reversion kept up; the trading spread's half-life is labelled descriptive (an adaptive
    spread mean-reverts by construction)."""
    T = analytics.PairTest
    eg = tests.engle_granger
    evidence = eg is not None and eg.is_cointegrated
    caveat = "" if evidence else " — not evidence on its own: Engle–Granger finds no cointegration"
    change = tests.persistence_change
    stopped = change is not None and change.ended
    rows: list[tuple[str, float | None, float | str | None, str]] = []
    if eg is not None:
        rows.append(
            (
                T.ENGLE_GRANGER.label,
                eg.statistic,
                eg.pvalue,
                (
                    f"Cointegrated at 5 % (lag {eg.lags})"
                    + (" over the whole window, on the strength of its first two thirds" if stopped else "")
                )
                if evidence
                else f"No evidence of cointegration at 5 % (lag {eg.lags})",
            )
        )
    for test, hl in ((T.HALF_LIFE, tests.half_life), (T.SPREAD_HALF_LIFE, tests.spread_half_life)):
        if hl is not None:
            text = (
                f"Deviations halve in about {fmt_bars(hl.bars, bar_seconds)}"
                if hl.mean_reverts
                else "No mean reversion detected"
            )
            rows.append((test.label, hl.bars, None, text + (caveat if test is T.HALF_LIFE and hl.mean_reverts else "")))
    if tests.hurst is not None:
        h = tests.hurst.exponent
        text = (
            "Below 0.5: reverts faster than a random walk" + caveat
            if h < 0.45
            else "Above 0.5: trending"
            if h > 0.55
            else "Close to a random walk"
        )
        rows.append((T.HURST.label, h, None, text))
    if tests.stability is not None:
        stab = tests.stability
        rows.append(
            (
                T.STABILITY.label,
                None,
                None,
                ("Stable" if stab.is_stable else "Unstable")
                + ": "
                + " / ".join(f"{b:.4g}" for b in stab.betas)
                + f" ({stab.relative_range:.0%} apart)",
            )
        )
    if change is not None:
        rows.append(
            (
                T.PERSISTENCE_CHANGE.label,
                change.ratio,
                analytics.fmt_break_p(change.pvalue),
                (
                    f"Stopped: the last third strays {change.ratio:.1f}× as far from the first two thirds' "
                    f"relation as they did (5 % critical value {change.critical_value:.1f}×)"
                )
                if change.ended
                else (
                    f"May have stopped: the last third strays {change.ratio:.2f}× as far as the first two thirds, "
                    f"beyond the {100 * analytics.CAUTION_LEVEL:.0f} % caution level {change.caution_value:.2f}× "
                    f"(reached by {100 * analytics.CAUTION_LEVEL:.0f} % of spreads that kept up), within the 5 % "
                    f"critical value {change.critical_value:.1f}×"
                )
                if change.caution
                else (
                    f"Kept up: the last third strays {change.ratio:.2f}× as far as the first two thirds "
                    f"(5 % critical value {change.critical_value:.1f}×)"
                ),
            )
        )
    if tests.johansen is not None:
        jo = tests.johansen
        rows.append(
            (
                f"{T.JOHANSEN.label}, {jo.n_series} symbols",
                jo.trace_stats[0],
                None,
                johansen_verdict(jo.rank, jo.n_series),
            )
        )
    rows += [(test.label, None, None, f"not available: {why}") for test, why in tests.problems.items()]
    return pd.DataFrame(
        [
            (
                name,
                fmt_value(stat),
                "—" if p is None else (p if isinstance(p, str) else analytics.fmt_p(p)).removeprefix("p "),
                text,
            )
            for name, stat, p, text in rows
        ],
        columns=["test", "statistic", "p-value", "reading"],
    )


def fmt_bars(bars: float, bar_seconds: int) -> str:
    """A number of bars with its duration in its natural unit ('42.0 bars (42 s)', '13.7 bars (14 min)')."""
    return f"{bars:,.1f} bars ({numbers.duration(bars * bar_seconds)})"


def quality_frame(window: Window, gaps: Sequence[database.Gap]) -> pd.DataFrame:
    """Bars, filled-bar share and gaps touching the window, per symbol."""
    rows = []
    for symbol, bars in window.require().items():
        touching = [
            g
            for g in gaps
            if g.symbol == symbol and (g.to_ts or window.end_ms) >= window.start_ms and (g.from_ts or 0) < window.end_ms
        ]
        rows.append(
            {"symbol": symbol, "bars": len(bars), "filled_share": analytics.fill_fraction(bars), "gaps": len(touching)}
        )
    return pd.DataFrame(rows)


def gaps_table(gaps: Sequence[database.Gap]) -> pd.DataFrame:
    """Gaps as a readable table."""
    return pd.DataFrame(
        [
            {
                "symbol": g.symbol,
                "missing ids": f"{g.first_missing_id}–{g.last_missing_id}",
                "count": g.last_missing_id - g.first_missing_id + 1,
                "from": fmt_time(g.from_ts),
                "to": fmt_time(g.to_ts),
                "status": g.status,
                "repaired": g.repaired_count,
                "note": g.note,
            }
            for g in gaps
        ]
    )


def tab_pair(c: Controls) -> None:
    """Hedge ratio, spread and z-score, correlation, tests with verdicts, correlation matrix, data quality."""
    st.caption(c.describe())
    window, gaps = read_or_last(
        "pair", c, lambda conn: (load_window(conn, c, cache=session_cache()), database.list_gaps(conn, list(c.symbols)))
    )
    window.require()
    with guard("Pair analytics"):
        pair = pair_of(window, c.pair)
        tests = verdict_banner(pair, all_closes(window), c)
        hedge = pair.hedge
        cols = st.columns(6)
        cols[0].metric("β (latest)", fmt_value(hedge.beta, 5))
        cols[1].metric("α (latest)", fmt_value(hedge.alpha, 4))
        cols[2].metric(
            "R²",
            fmt_value(hedge.r_squared, "{:.4f}"),
            help="kalman has no R²; huber/tls report none" if hedge.r_squared is None else None,
        )
        cols[3].metric("Spread", fmt_value(pair.latest("spread"), 4))
        cols[4].metric("z-score", fmt_value(pair.latest("zscore"), "{:+.2f}"))
        cols[5].metric(
            f"Return corr. ({c.hedge_window} bars)",
            fmt_value(pair.latest("correlation"), "{:.3f}"),
            help="return correlation over the last hedge window of bars; the matrix below is over the whole window",
        )
        watch_button(c, pair.x_symbol, pair.y_symbol, WatchSource.PAIR, key="pair_watch")
        if c.in_sample_hedge:
            st.warning("IN-SAMPLE hedge: fitted on the whole window (look-ahead) — research only.")
        plot(viz.spread_zscore_figure(pair.spread, pair.zscore, entry=c.entry, exit=c.exit, stop=c.stop), "pair_spread")
        left, right = st.columns(2)
        with left:
            units = f"{base_asset(pair.x_symbol)} per {base_asset(pair.y_symbol)} held"
            plot(
                viz.hedge_ratio_figure(hedge.beta_series, hedge.beta_band, c.method, r2=hedge.r_squared, units=units),
                "pair_beta",
            )
        with right:
            plot(viz.rolling_correlation_figure(pair.correlation, window=c.hedge_window), "pair_corr")
        st.subheader("Cointegration and mean reversion")
        # a static table: its readings are sentences, which it wraps (a data grid cut them at the column's edge)
        st.table(verdicts(tests.tests, BAR_SECONDS[c.bar_timeframe]).set_index("test"))
        st.caption(
            f"Tests on {tests.tests.n_bars:,} bars, computed "
            f"{time.strftime('%H:%M:%S', time.gmtime(tests.computed_at))} UTC (refreshed in the background "
            f"every {TESTS_TTL_S:g} s, at once when a setting changes). The evidence is Engle–Granger on the "
            "prices and the static (whole-window OLS) residual; the trading spread above uses the "
            f"{c.method} hedge, which adapts, so its own half-life is descriptive only."
        )
        with guard("Next funding"):
            funding_outlook(c, pair)
        download(
            "Download pair analytics (CSV)",
            functools.partial(window_csv, c, pair_frame),
            export_name(c, "pair"),
            "dl_pair_tab",
        )
        section_research.suggested_bands(window, c)  # after the pair is ready (else its guard repeats the warm-up)
    left, right = st.columns(2)
    with left, guard("Correlation matrix"):
        plot(
            viz.correlation_heatmap(
                analytics.correlation_matrix(window.closes(None, c.min_volume)),
                title="Return correlation over the whole window",
            ),
            "pair_heatmap",
        )
    with right, guard("Data quality"):
        plot(viz.data_quality_figure(quality_frame(window, gaps)), "pair_quality")
    with guard("Gaps"):
        window_gaps = [g for g in gaps if (g.to_ts or window.end_ms) >= window.start_ms]
        if window_gaps:
            st.dataframe(gaps_table(window_gaps), width="stretch", hide_index=True)
        else:
            st.caption("No trade-id gaps recorded in this window.")
