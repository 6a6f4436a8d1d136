"""The Scanner tab: every pair of the stored universe ranked by cointegration with false discoveries controlled,
filters, CSV export, and one click to open a pair in Pair Analytics."""

from __future__ import annotations

import time

import pandas as pd
import streamlit as st

import analytics
import database
from config import Settings
from core.symbols import FUTURES_QUOTES
from core.vocabulary import FeedKind, WatchSource
from dashboard.navigation import open_view
from dashboard.watch_actions import watch_button
from dashboard.widgets import guard, show_flash, with_time_left
from data_feed import BinanceArchive, BinanceRest
from service.controls import Controls, fmt_duration, fmt_value
from service.exports import readable
from service.research import cost_bps
from service.scan_jobs import (
    ScanJob,
    ScanRequest,
    ScanView,
    by_edge,
    echoes_of,
    filtered,
    history_job,
    job,
    pair_view,
    refresh_if_stale,
    row_verdict,
    start_history,
    start_scan,
    start_simulated_history,
    summary_line,
)

SHOWN = {  # the trust columns first: at 1280 px the right end of the table is off-screen
    "x": "x",
    "y": "y",
    "oos_confirmed": "holds out of sample",
    "oos_pvalue": "out-of-sample p",
    "qvalue": "q (BH)",
    "edge_per_day": "edge/day after costs",
    "covers_cost": "covers costs",
    "dsr": "chance real (DSR)",
    "trade_hours": "trade cycle",
    "echoes": "echoes",
    "selected": "selected",
    "pvalue": "p (both ways)",
    "beta": "β (y on x)",
    "half_life": "half-life (bars)",
    "correlation": "return corr.",
    "spread_vol": "spread σ (% of y)",
    "crossings_per_day": "crossings/day",
    "hurst": "Hurst",
}
NO_EDGE_MARK = "no ✗"  # the OU-optimal band expects no full cycle within the window: costs eat the edge
NOISY_MARK = " ⚠"  # after a symbol whose returns bounce (its pairs' half-life and crossings are bounce-robust)


def load_history(db_target: str, quote: str, days: int, settings: Settings) -> None:
    """Button callback: load the universe's 1-minute history from Binance in the background (see history_status)."""
    start_history(db_target, quote, days, BinanceRest(settings.rest_url), BinanceArchive(settings.archive_url))


def run_scan(req: ScanRequest) -> None:
    """Button callback: start the scan in the background (the progress fragment polls it)."""
    start_scan(req)


def simulate_history(db_target: str) -> None:
    """Button callback: store a simulated 200-symbol, 7-day universe in the background (offline stand-in for the
    exchange's history; history_status shows its progress)."""
    start_simulated_history(db_target)


def table_view(rows: pd.DataFrame, view: ScanView = ScanView.LEADS) -> pd.DataFrame:
    """The result rows formatted for reading (numbers as text a trader reads, no raw floats; a bouncing leg marked
    with NOISY_MARK; the echo count in the leads view, the selected flag in the others)."""
    shown = {k: v for k, v in SHOWN.items() if k != ("selected" if view is ScanView.LEADS else "echoes")}
    out = rows.loc[:, list(shown)].rename(columns=shown)
    out.attrs = {}  # the scan summary stays with the result, not in the browser's copy
    for leg in ("x", "y"):
        out[leg] = [
            f"{name}{NOISY_MARK}" if noisy else str(name) for name, noisy in zip(rows[leg], rows[f"noisy_{leg}"])
        ]
    for col, fmt in (
        ("β (y on x)", "{:.4g}"),
        ("half-life (bars)", "{:,.1f}"),
        ("return corr.", "{:.2f}"),
        ("crossings/day", "{:,.0f}"),
        ("Hurst", "{:.2f}"),
    ):
        out[col] = [fmt_value(v, fmt) for v in out[col]]
    for col in ("p (both ways)", "q (BH)", "out-of-sample p"):
        out[col] = [("< 0.0001" if v < 1e-4 else f"{v:.4f}") if pd.notna(v) else "—" for v in out[col]]
    out["spread σ (% of y)"] = [fmt_value(v * 100, "{:.3f}") for v in out["spread σ (% of y)"]]
    out["edge/day after costs"] = [fmt_value(v * 100, "{:.3f} %") for v in out["edge/day after costs"]]
    out["trade cycle"] = [fmt_duration(v * 3_600) if pd.notna(v) else "—" for v in out["trade cycle"]]
    out["covers costs"] = ["yes" if v else NO_EDGE_MARK for v in out["covers costs"]]
    out["chance real (DSR)"] = [fmt_value(v * 100, "{:.0f} %") for v in out["chance real (DSR)"]]
    for col in ("holds out of sample", "selected"):
        if col in out:
            out[col] = ["yes" if v else "no" for v in out[col]]
    return out


def results(j: ScanJob, c: Controls) -> None:
    """The finished scan: summary, filters, the table (one row per discovery by default), its echoes, CSV, and the
    open-in-Pair-Analytics action."""
    if j.error:
        st.error(f"The last scan failed: {j.error}")
    if j.table is None:
        return
    summary = analytics.scan_summary(j.table)
    st.caption(
        summary_line(summary, j.request.fdr) + f" Finished {time.strftime('%H:%M:%S', time.gmtime(j.finished_at))} UTC."
    )
    if j.notes:
        with st.expander(f"Left out and flagged ({len(j.notes)})"):
            st.write("\n".join(f"- {n}" for n in j.notes))
    left, right = st.columns(2)
    view = ScanView(
        left.selectbox("Show", list(ScanView), format_func=lambda v: ScanView(v).label, key="scan_view")
        or ScanView.LEADS
    )
    hl = right.slider("Half-life (bars)", 0.0, 1_000.0, (0.0, 1_000.0), key="scan_half_life", format="%.0f")
    rows = filtered(j.table, view=view, half_life=hl)
    if st.toggle("Sort by edge after costs", True, key="scan_by_edge", help="else by the evidence, best first"):
        rows = by_edge(rows)
    if rows.empty:
        st.info(
            "No pair passes these filters."
            + (
                " None is selected: no pair is confirmed by the full test, "
                "significant after the false discovery control and holding out "
                "of sample."
                if view is ScanView.LEADS
                else ""
            )
        )
        return
    selection = st.session_state.get("scan_table")  # the row ticked at the last run: its verdict goes first
    chosen = [r for r in (selection.selection.rows if selection is not None else []) if r < len(rows)]
    if chosen:
        pick = rows.iloc[chosen[0]]
        verdict = row_verdict(pick, j.request.fdr)
        (st.success if verdict.selected else st.warning)(
            "\n".join([f"**{pick['y']} / {pick['x']}: {verdict.headline}**", *(f"- ⚠ {w}" for w in verdict.warnings)])
        )
        if st.button(f"Open {pick['y']} / {pick['x']} in Pair Analytics", type="primary", key="scan_open"):
            open_view(pair_view(str(pick["x"]), str(pick["y"]), j.request.days, st.session_state["view_symbols"]))
        watch_button(c, str(pick["x"]), str(pick["y"]), WatchSource.SCANNER, key="scan_watch")
    else:
        st.caption("Select a row to see its verdict and open that pair in Pair Analytics and Backtest.")
    st.dataframe(
        table_view(rows, view),
        hide_index=True,
        width="stretch",
        on_select="rerun",
        selection_mode="single-row",
        key="scan_table",
    )
    if view is ScanView.LEADS and summary.pairs_echoes:
        with st.expander(f"Echoes ({summary.pairs_echoes}): pairs sharing a leg with a discovery"):
            st.caption(
                "A leg holding a stationary spread makes its pairs with other symbols test as cointegrated "
                "too. An echo stays selected only where its legs and its lead's are cointegrated with each "
                "other (cointegration is transitive)."
            )
            for _, lead in rows.loc[rows["echoes"] > 0].iterrows():
                st.markdown(f"**{lead['y']} / {lead['x']}**")
                st.dataframe(
                    table_view(echoes_of(j.table, int(lead["group"])), ScanView.SELECTED),
                    hide_index=True,
                    width="stretch",
                    key=f"scan_echoes_{int(lead['group'])}",
                )
    st.download_button(
        "Scan results (CSV)",
        data=lambda: database.dataframe_to_csv(readable(rows)),
        file_name="scan.csv",
        mime="text/csv",
        key="dl_scan",
        on_click="ignore",
    )


def history_status(db_target: str) -> None:
    """Progress of a running history load, or what the last one did."""
    h = history_job(db_target)
    if h is None:
        return
    if h.running:
        what = "a simulated universe" if h.quote == "simulated" else f"{h.days} days of 1-minute history ({h.quote})"
        st.progress(
            h.fraction,
            text=with_time_left(f"Storing {what}: {h.stage}", h.left_s()),
        )
    elif h.error:
        st.error(f"The history load failed: {h.error}")
    elif h.done:
        st.success(h.done)
    elif h.report is not None:
        r = h.report
        st.caption(
            f"History: {r.archive_days:,} symbol-days from the archive, {r.skipped_days:,} already stored, "
            f"{r.rest_bars:,} bars of today over REST, {len(r.missing):,} symbol-days no source had."
        )


def tab_scanner(c: Controls, settings: Settings, _refresh: float | None) -> None:
    """Settings, the Run button, progress while a scan runs (polled every second), then the results; the sidebar's
    feed choice decides which history it offers to load."""
    feed = st.session_state["feed"]
    show_flash()
    st.caption(
        "Every pair of the stored symbols with 1-minute bars: Engle–Granger in both directions, "
        "Benjamini–Hochberg over all pairs, re-tested on the last 30 % of the window."
    )
    cols = st.columns(4)
    days = cols[0].number_input("Days of history", 1, 30, 7, key="scan_days")
    quotes = list(dict.fromkeys([settings.universe_quote, *FUTURES_QUOTES, ""]))
    quote = cols[1].selectbox("Quote asset", quotes, key="scan_quote", format_func=lambda q: q or "any")
    volume = cols[2].number_input("Min daily volume (quote)", 0.0, 1e12, 0.0, step=100_000.0, key="scan_volume")
    fdr = cols[3].select_slider("False discovery rate", [0.01, 0.05, 0.1], 0.05, key="scan_fdr")
    req = ScanRequest(c.db_target, int(days), quote, float(volume), float(fdr), cost_bps=cost_bps(c))
    run, simulate = st.columns(2)
    run.button(
        "Run scan", type="primary", key="scan_run", on_click=run_scan, args=(req,), icon=":material/travel_explore:"
    )
    if feed == FeedKind.BINANCE:
        simulate.button(
            f"Load {int(days)} days of 1-minute history for every {quote or 'listed'} perpetual",
            key="scan_history",
            icon=":material/download:",
            on_click=load_history,
            args=(c.db_target, quote, int(days), settings),
            help="Closed days from the sha256-verified data.binance.vision daily klines files, today "
            "over REST; days already stored are skipped, so an interrupted load resumes",
        )
    if feed == FeedKind.SIMULATED:
        simulate.button(
            "Store a simulated universe (200 symbols, 7 days)",
            key="scan_simulate",
            on_click=simulate_history,
            args=(c.db_target,),
            icon=":material/science:",
            help="Offline stand-in for the exchange's history, with planted cointegrated pairs "
            "(P..X/P..Y), correlated traps and bid/ask-bounce symbols",
        )

    @st.fragment(run_every=1.0)
    def progress() -> None:
        with guard("Scanner"):
            history_status(c.db_target)
            current = job(req)
            if current is None:
                st.info(
                    "No scan yet for these settings: press **Run scan**. The scan needs at least a day of "
                    "1-minute bars for two symbols (live collection or the sidebar's 1-minute klines backfill "
                    "store them)."
                    + (" Offline, store a simulated universe first." if feed == FeedKind.SIMULATED else "")
                )
                return
            if current.running:
                st.progress(current.fraction, text=with_time_left(f"Scanning: {current.stage}", current.left_s()))
            refresh_if_stale(req)
            results(current, c)

    progress()
