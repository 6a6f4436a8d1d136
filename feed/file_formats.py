"""Tick and bar file formats: what a file holds, told from its first lines (NDJSON ticks, this platform's tick CSV,
Binance archive CSVs, recorded frames, OHLCV and kline CSVs)."""

from __future__ import annotations

import enum
import re

from feed.errors import TickFileError
from feed.values import json_loads, parse_iso_ms


class FileFormat(enum.StrEnum):
    """File formats understood by the parsers (ticks: the first six; bars: the last two)."""

    NDJSON = "ndjson"
    TICKS_CSV = "ticks_csv"  # this platform's own tick export (symbol,trade_id,timestamp,price,size,...)
    PARQUET = "parquet"  # this platform's cold tier (one file per symbol-day), or any Parquet ticks
    AGG_TRADES_CSV = "agg_trades_csv"
    TRADES_CSV = "trades_csv"
    RAW_FRAMES = "raw_frames"
    OHLCV_CSV = "ohlcv_csv"
    KLINE_CSV = "kline_csv"


TICK_FORMATS = frozenset(
    {
        FileFormat.NDJSON,
        FileFormat.TICKS_CSV,
        FileFormat.PARQUET,
        FileFormat.AGG_TRADES_CSV,
        FileFormat.TRADES_CSV,
        FileFormat.RAW_FRAMES,
    }
)
BAR_FORMATS = frozenset({FileFormat.OHLCV_CSV, FileFormat.KLINE_CSV})
FRAME_LINE = re.compile(r"(?:(\d+(?:\.\d+)?):?\s+)?(\{.*)", re.DOTALL)
TS_NAMES = ("ts", "timestamp", "time", "date", "datetime", "open_time")


def detect_format(display: str, head: list[str]) -> FileFormat:
    """Format from the first recognisable line among the first few (header lines and URL banners are skipped)."""
    for line in head:
        text = line.strip()
        if text:
            fmt = _classify_line(text)
            if fmt is not None:
                return fmt
    if not any(line.strip() for line in head):
        raise TickFileError(0, f"{display} is empty")
    raise TickFileError(
        0,
        f"{display}: unrecognised format; expected NDJSON ticks {{symbol, ts, price, size}}, "
        "a Binance aggTrades/trades/klines CSV, recorded frames '<receive_ns> <json>' or an "
        "OHLCV CSV (ts,open,high,low,close,volume)",
    )


def _classify_line(text: str) -> FileFormat | None:
    match = FRAME_LINE.fullmatch(text)
    if match is not None:
        return _classify_json(match.group(2), prefixed=match.group(1) is not None)
    fields = [f.strip().strip('"') for f in text.split(",")]
    if is_number(fields[0]):
        return _classify_numeric_row(fields)
    return _classify_header(fields)


def _classify_json(text: str, *, prefixed: bool) -> FileFormat | None:
    try:
        obj = json_loads(text)
    except ValueError:
        return FileFormat.RAW_FRAMES if prefixed else None
    if type(obj) is not dict:
        return None
    if "symbol" in obj and not prefixed:
        return FileFormat.NDJSON
    if prefixed or "stream" in obj or "e" in obj or "data" in obj:
        return FileFormat.RAW_FRAMES
    return None


def _classify_numeric_row(fields: list[str]) -> FileFormat | None:
    count = len(fields)
    if count == 12:
        return FileFormat.KLINE_CSV
    if count in (6, 7) and _is_bool(fields[5]):
        return FileFormat.TRADES_CSV  # futures 6 columns; spot adds is_best_match
    if count in (7, 8) and _is_bool(fields[6]):
        return FileFormat.AGG_TRADES_CSV  # futures 7 columns; spot adds is_best_match
    if count in (6, 7):
        return FileFormat.OHLCV_CSV
    return None


def _classify_header(fields: list[str]) -> FileFormat | None:
    """Header rows by their column names; an ISO time in the first column means a header-less OHLCV row."""
    names = [f.lower() for f in fields]
    if names[0] == "symbol" and {"price", "size"} <= set(names) and set(names) & {"timestamp", "ts"}:
        return FileFormat.TICKS_CSV
    if names[0] == "agg_trade_id":
        return FileFormat.AGG_TRADES_CSV
    if names[:3] == ["id", "price", "qty"]:
        return FileFormat.TRADES_CSV
    if names[0] == "open_time" and len(names) == 12:
        return FileFormat.KLINE_CSV
    if set(names) & set(TS_NAMES) and {"open", "high", "low", "close"} <= set(names):
        return FileFormat.OHLCV_CSV
    if len(fields) in (6, 7) and is_timestamp_text(fields[0]):
        return FileFormat.OHLCV_CSV
    return None


def is_number(text: str) -> bool:
    try:
        float(text)
    except ValueError:
        return False
    return True


def _is_bool(text: str) -> bool:
    return text.strip().lower() in ("true", "false")


def is_timestamp_text(text: str) -> bool:
    try:
        parse_iso_ms(text, "ts")
    except ValueError:
        return False
    return True
