"""The Data Management tab: CSV downloads, uploads, database statistics, the raw tick table, Clear."""

from __future__ import annotations

import dataclasses
import functools
import time
from typing import Any

import pandas as pd
import streamlit as st

import database
from config import Settings
from core import numbers
from core.clock import time_left
from core.vocabulary import Timeframe
from dashboard.navigation import request_jump
from dashboard.tab_pair import gaps_table
from dashboard.widgets import download, guard, guarded, show_flash, with_time_left
from service.controls import Controls, fmt_time, tick_decimals
from service.exports import bars_frame, export_name, pair_frame, trades_frame, window_csv
from service.links import signed_link
from service.uploads import (
    UPLOAD_KINDS,
    ParsedUpload,
    UploadError,
    parse_upload,
    preview,
    store_upload,
    summary,
)
from service.window import reader, writer


def clear_database(db_target: str) -> None:
    """Delete everything stored (button callback, after the confirmation box)."""
    try:
        with writer(db_target) as conn:
            database.clear_all(conn)
    except database.DATABASE_ERRORS as exc:
        st.session_state["flash"].append(("error", f"Could not clear the database: {exc}"))
    else:
        st.session_state["flash"].append(("success", "Database cleared."))
    st.session_state["confirm_clear"] = False
    st.session_state.pop("_bar_cache", None)


def downloads_section(c: Controls, settings: Settings) -> None:
    """CSV downloads of the window; each CSV is built only when its button is clicked. Raw ticks, which may be
    millions of rows, stream from the API (a link the browser downloads) instead of being built in memory."""
    st.subheader("Downloads (current window)")
    cols = st.columns(4)
    start, end = c.bounds()
    with cols[0]:
        st.link_button(
            "Raw ticks (CSV)",
            signed_link(
                settings, "/api/ticks.csv", {"symbols": ",".join(c.symbols), "start": str(start), "end": str(end)}
            ),
            width="stretch",
        )
    with cols[1]:
        download("OHLC bars (CSV)", functools.partial(window_csv, c, bars_frame), export_name(c, "bars"), "dl_bars")
    with cols[2]:
        download(
            "Pair analytics (CSV)", functools.partial(window_csv, c, pair_frame), export_name(c, "pair"), "dl_pair"
        )
    with cols[3]:
        download(
            "Backtest trade log (CSV)",
            functools.partial(window_csv, c, trades_frame),
            export_name(c, "trades"),
            "dl_trades",
        )
    st.caption(
        "Raw ticks stream chunk by chunk whatever the window holds; the whole history goes to a file with "
        f"`python collector.py export ticks.csv --db {c.db_target}`. Cells that a spreadsheet would run as "
        "formulas are neutralised; the tick CSV imports and replays back as it is."
    )


def cached_parse(upload: Any, kind: str, max_mb: int) -> ParsedUpload | UploadError:
    """Parse an uploaded file once per (file, options); later reruns reuse the result or the error."""
    s = st.session_state
    key = (upload.file_id, kind, s["upload_symbol"], s["upload_timeframe"])
    if s.get("_upload", (None,))[0] != key:
        try:  # only the summary stays in the session: the file is read again when it is stored
            result: ParsedUpload | UploadError = dataclasses.replace(
                parse_upload(
                    upload.getvalue(),
                    upload.name,
                    kind,
                    symbol=s["upload_symbol"],
                    timeframe=s["upload_timeframe"],
                    max_mb=max_mb,
                ),
                source=b"",
            )
        except UploadError as exc:
            result = exc
        s["_upload"] = (key, result)
    return s["_upload"][1]


def upload_section(settings: Settings) -> None:
    """Upload ticks or OHLCV bars: validate every line, preview, then store in bounded batches (nothing is
    stored from a file with a bad line)."""
    st.subheader("Upload data")
    st.radio("Kind", list(UPLOAD_KINDS), format_func=UPLOAD_KINDS.get, key="upload_kind", persist_state="page")
    kind = st.session_state["upload_kind"]
    left, right = st.columns(2)
    left.text_input(
        "Symbol" + (" (required)" if kind == "bars" else " (for CSVs whose name does not say it)"),
        key="upload_symbol",
        persist_state="page",
    )
    if kind == "bars":
        right.selectbox("Timeframe of the bars", list(Timeframe), key="upload_timeframe", persist_state="page")
    upload = st.file_uploader(
        f"File (limit {settings.max_upload_mb} MB)",
        key="upload_file",
        type=["ndjson", "jsonl", "json", "txt", "csv", "zip", "gz", "parquet"],
        max_upload_size=settings.max_upload_mb,
    )
    if upload is None:
        return
    progress = st.progress(0.1, text=f"Validating {upload.name}…")
    parsed = cached_parse(upload, kind, settings.max_upload_mb)
    if isinstance(parsed, UploadError):
        progress.progress(1.0, text="Rejected")
        st.error(str(parsed))
        return
    progress.progress(0.5, text=f"Validated {parsed.count:,} records — nothing stored yet")
    st.caption(summary(parsed))
    st.dataframe(preview(parsed), width="stretch", hide_index=True, height=220)
    if st.button(f"Store {parsed.count:,} records", key="upload_store", type="primary"):
        began = time.monotonic()

        def stored(done: int, total: int) -> None:
            share = min(1.0, done / max(1, total))
            left = time_left(began, share)
            progress.progress(share, text=with_time_left(f"Stored {done:,} of {total:,} records…", left))

        try:
            message = store_upload(settings.db_target, dataclasses.replace(parsed, source=upload.getvalue()), stored)
            st.session_state.pop("_bar_cache", None)
        except database.DATABASE_ERRORS as exc:
            progress.progress(1.0, text="Failed")
            st.error(f"Nothing was stored: {exc}")
            return
        progress.progress(1.0, text="Stored")
        st.success(message)
        st.button(
            "Show the uploaded data",
            key="upload_show",
            icon=":material/visibility:",
            on_click=request_jump,
            args=(parsed.symbols, parsed.first_ts, parsed.last_ts, parsed.timeframe),
            help="Adds its symbols to the analysis and moves the window over its time range",
        )


def db_statistics(c: Controls, settings: Settings) -> None:
    """Per-symbol tick counts and time range, stored bar series, gaps, disk use of the database and of the Parquet
    cold tier, and the retention in force (live)."""
    with reader(c.db_target) as conn:
        summaries = database.symbol_summaries(conn)
        series = database.bar_series(conn)
        gaps = database.list_gaps(conn, limit=100)
        info = database.store_info(conn)
    st.subheader("Database statistics")
    ticks = sum(s.tick_count for s in summaries)
    size = database.database_size_bytes(c.db_target)
    files, cold_bytes = database.cold_tier_usage(settings.cold_dir)
    cols = st.columns(5)
    cols[0].metric("Ticks", f"{ticks:,}")
    cols[1].metric("Symbols", len({s.symbol for s in summaries} | {row[0] for row in series}))
    cols[2].metric("Bar series", len(series), help="symbol × timeframe series in ohlc_data (rollups, uploads, klines)")
    cols[3].metric(
        "Database size",
        f"{size / 2**20:,.1f} MB",
        help=f"{database.describe_target(c.db_target)}; {size / max(1, ticks):,.0f} bytes per stored tick "
        "(ticks, bars and indexes)",
    )
    cols[4].metric(
        "Cold tier (Parquet)",
        f"{cold_bytes / 2**20:,.1f} MB",
        help=f"{files:,} symbol-day files in {settings.cold_dir} (COLD_DIR)",
    )
    st.caption(
        f"Retention: raw ticks are kept {settings.tick_retention_days} whole UTC days; older symbol-days are "
        f"moved hourly by the collector to {settings.cold_dir}/SYMBOL/SYMBOL-ticks-DAY.parquet, and their "
        "bars stay here (charts, analytics and the Scanner keep working). Replay or import a Parquet file to "
        "bring its ticks back."
        if settings.tick_retention_days
        else "Retention: off — every raw tick stays in the database (set TICK_RETENTION_DAYS to move days older "
        "than that to Parquet files, ~5 bytes per trade)."
    )
    st.caption(f"Store: {info}.")
    left, right = st.columns(2)
    if summaries:
        left.dataframe(
            pd.DataFrame(
                [
                    {
                        "symbol": s.symbol,
                        "ticks": s.tick_count,
                        "first (UTC)": fmt_time(s.first_ts),
                        "last (UTC)": fmt_time(s.last_ts),
                        "highest id": s.max_trade_id,
                    }
                    for s in summaries
                ]
            ),
            width="stretch",
            hide_index=True,
            column_config={"ticks": st.column_config.NumberColumn(format="%,d"), "highest id": "highest trade id"},
        )
    else:
        left.caption("No raw ticks stored: the symbols have bars only (uploads, klines or a simulated universe).")
    right.dataframe(
        pd.DataFrame(
            [(sym, tf, fmt_time(first), fmt_time(last)) for sym, tf, first, last in series],
            columns=["symbol", "bars", "first bar (UTC)", "last bar (UTC)"],
        ),
        width="stretch",
        hide_index=True,
    )
    if gaps:
        st.dataframe(gaps_table(gaps), width="stretch", hide_index=True)
    else:
        st.caption("No trade-id gaps recorded.")


TICK_GRID = ("price", "size")  # the columns on the tick and step grids


def tick_table(c: Controls) -> None:
    """The newest (or oldest) raw ticks of the window with record count, average price, volume and range (live)."""
    st.subheader("Raw ticks")
    cols = st.columns([3, 1, 2])
    st.session_state["table_symbols"] = [s for s in st.session_state.get("table_symbols", c.symbols) if s in c.symbols]
    symbols = cols[0].multiselect("Symbols", list(c.symbols), key="table_symbols", persist_state="page")
    cols[1].number_input("Rows", 10, 10_000, key="table_limit", step=50, persist_state="page")
    cols[2].radio("Order", ["newest", "oldest"], key="table_order", horizontal=True, persist_state="page")
    limit, newest = int(st.session_state["table_limit"]), st.session_state["table_order"] == "newest"
    start, end = c.bounds()
    with reader(c.db_target) as conn:
        parts = [database.read_ticks(conn, [s], start, end, limit=limit, newest_first=newest) for s in symbols]
        summaries = database.symbol_summaries(conn)
    ticks = pd.concat(parts, ignore_index=True) if parts else pd.DataFrame(columns=database.TICK_COLUMNS)
    ticks = ticks.sort_values(["timestamp", "symbol"], ascending=not newest).head(limit)
    summary = ticks.groupby("symbol").agg(
        rows_shown=("price", "size"),
        average_price=("price", "mean"),
        volume=("size", "sum"),
        low=("price", "min"),
        high=("price", "max"),
    )
    stored = {s.symbol: s.tick_count for s in summaries}  # every tick stored, not only the rows on screen
    summary.insert(0, "ticks_stored", [stored.get(str(s), 0) for s in summary.index])
    summary = summary.assign(range=summary["high"] - summary["low"]).rename(columns=numbers.header)
    # prices in the tick's decimals, sizes in the step's (read off the trades shown), counts with separators
    price, size = (st.column_config.NumberColumn(format=f"%,.{tick_decimals(ticks[c].to_numpy())}f") for c in TICK_GRID)
    st.dataframe(
        summary,
        width="stretch",
        column_config={
            **{name: price for name in ("average price", "low", "high", "range")},
            "volume": size,
            **{name: st.column_config.NumberColumn(format="%,d") for name in ("ticks stored", "rows shown")},
        },
    )
    shown = ticks.assign(time_utc=ticks["timestamp"].map(fmt_time))
    config: dict[str, Any] = {
        "time_utc": "time (UTC)",
        "is_buyer_maker": st.column_config.CheckboxColumn("buyer is maker"),
        "trade_id": st.column_config.NumberColumn("trade id", format="%d"),
        "id_space": "id space",
        "timestamp": st.column_config.NumberColumn("exchange time (epoch ms)", format="%d"),
        "received_at": st.column_config.NumberColumn("received (epoch ms)", format="%d"),
        "price": price,
        "size": size,
    }
    st.dataframe(
        shown[
            [
                "time_utc",
                "symbol",
                "price",
                "size",
                "is_buyer_maker",
                "trade_id",
                "id_space",
                "timestamp",
                "received_at",
            ]
        ],
        width="stretch",
        hide_index=True,
        height=300,
        column_config=config,
    )


def tab_data(c: Controls, settings: Settings, refresh: float | None) -> None:
    """Downloads, raw tick table, uploads, database statistics, Clear Database."""
    show_flash()
    with guard("Downloads"):
        downloads_section(c, settings)
    st.fragment(guarded("Raw ticks", tick_table), run_every=refresh)(c)
    with guard("Upload"):
        upload_section(settings)
    st.fragment(guarded("Database statistics", db_statistics), run_every=refresh)(c, settings)
    st.subheader("Clear database")
    st.checkbox("I understand this deletes every tick, bar, gap, alert and paper position", key="confirm_clear")
    st.button(
        "Clear database",
        key="clear_db",
        icon=":material/delete:",
        disabled=not st.session_state.get("confirm_clear"),
        on_click=clear_database,
        args=(c.db_target,),
    )
