"""Uploads: the dashboard's side of the one import path (`collector.validate_import` / `store_import`): validate
the whole file first (streaming, nothing kept but a summary and a preview), then store it in bounded batches."""

from __future__ import annotations

import dataclasses
from collections.abc import Callable

import pandas as pd

from collector import ImportPlan, ImportRefused, store_import, validate_import
from service.controls import fmt_time

UPLOAD_KINDS = {
    "ticks": "Ticks: NDJSON {symbol, ts, price, size}, this app's tick CSV or Parquet, Binance "
    "aggTrades/trades CSV (.csv/.zip), recorded frames (.gz)",
    "bars": "OHLCV bars: CSV ts,open,high,low,close,volume (this app's bar export too) or a Binance kline CSV",
}
UploadError = ImportRefused  # the name the dashboard and its tests use
ParsedUpload = ImportPlan


def parse_upload(
    data: bytes, name: str, kind: str, *, symbol: str = "", timeframe: str = "1min", max_mb: int = 200
) -> ImportPlan:
    """Validate a whole upload (size, format, every line); raise UploadError naming the line and the problem."""
    return validate_import(data, name, kind, symbol=symbol, timeframe=timeframe, max_bytes=max_mb * 2**20)


def store_upload(db_target: str, parsed: ImportPlan, progress: Callable[[int, int], None] | None = None) -> str:
    """Store a validated upload in bounded batches and say what was stored."""
    return store_import(db_target, parsed, progress)


def preview(parsed: ImportPlan) -> pd.DataFrame:
    """The first records as a table."""
    return pd.DataFrame([dataclasses.asdict(r) for r in parsed.head])


def summary(parsed: ImportPlan) -> str:
    """Counts, symbols and time range in one line."""
    what = "ticks" if parsed.kind == "ticks" else f"{parsed.timeframe} bars"
    return (
        f"{parsed.name}: {parsed.count:,} {what} ({parsed.fmt}) for {', '.join(parsed.symbols)} from "
        f"{fmt_time(parsed.first_ts)} to {fmt_time(parsed.last_ts)} UTC"
    )
