"""Uploads: parse and validate a whole file before anything is stored, then store it in one transaction."""
from __future__ import annotations

import dataclasses
from dataclasses import dataclass

import pandas as pd

import database
from config import parse_symbols
from core.vocabulary import Timeframe
from dashboard.controls import BAR_SECONDS, fmt_time
from dashboard.model import writer
from data_feed import OhlcvBar, ParseReport, Tick, TickFileError, parse_ohlcv_csv, parse_tick_file

UPLOAD_KINDS = {"ticks": "Ticks: NDJSON {symbol, ts, price, size}, Binance aggTrades/trades CSV (.csv/.zip), "
                         "recorded frames (.gz)",
                "bars": "OHLCV bars: CSV ts,open,high,low,close,volume (or a Binance kline CSV)"}


class UploadError(ValueError):
    """An upload was refused; the message names the file, the line and the problem. Nothing was stored."""


@dataclass
class ParsedUpload:
    """A validated upload waiting to be stored: every record parsed, nothing written yet."""

    name: str
    kind: str
    fmt: str
    records: list[Tick] | list[OhlcvBar]
    symbol: str | None
    timeframe: str | None

    def preview(self, rows: int = 20) -> pd.DataFrame:
        """The first records as a table."""
        return pd.DataFrame([dataclasses.asdict(r) for r in self.records[:rows]])

    def extent(self) -> tuple[list[str], int, int]:
        """Symbols, first and last time (epoch ms) of the records."""
        stamps = [r.timestamp if isinstance(r, Tick) else r.ts for r in self.records]
        symbols = sorted({r.symbol or self.symbol or "" for r in self.records})
        return symbols, min(stamps), max(stamps)

    def summary(self) -> str:
        """Counts, symbols and time range in one line."""
        symbols, first, last = self.extent()
        what = "ticks" if self.kind == "ticks" else f"{self.timeframe} bars"
        return (f"{self.name}: {len(self.records):,} {what} ({self.fmt}) for {', '.join(symbols)} from "
                f"{fmt_time(first)} to {fmt_time(last)} UTC")


def parse_upload(data: bytes, name: str, kind: str, *, symbol: str = "", timeframe: str = "1min",
                 max_mb: int = 200) -> ParsedUpload:
    """Validate a whole upload (size, format, every line); raise UploadError naming the line and the problem."""
    if not data.strip():
        raise UploadError(f"{name} is empty. Nothing was stored.")
    try:
        sym = parse_symbols(symbol)[0] if symbol.strip() else None
    except ValueError as exc:
        raise UploadError(f"symbol {symbol!r}: {exc}") from None
    report = ParseReport()
    try:
        if kind == "ticks":
            records: list = parse_tick_file(data, name, strict=True, symbol=sym, report=report,
                                            max_bytes=max_mb * 2**20)
        else:
            if timeframe not in BAR_SECONDS:
                raise UploadError(f"timeframe {timeframe!r} is not one of {', '.join(Timeframe)}")
            records = parse_ohlcv_csv(data, strict=True, name=name, report=report, max_bytes=max_mb * 2**20)
            if sym is None and any(bar.symbol is None for bar in records):
                raise UploadError("OHLCV bars need a symbol: type it in the Symbol field or give the file a "
                                  "symbol column. Nothing was stored.")
    except TickFileError as exc:
        raise UploadError(f"{name}: {exc}. Nothing was stored: fix the file and upload it again.") from None
    if not records:
        raise UploadError(f"{name} holds no {'ticks' if kind == 'ticks' else 'bars'}. Nothing was stored.")
    return ParsedUpload(name, kind, report.format, records, sym, timeframe if kind == "bars" else None)


def store_upload(db_path: str, parsed: ParsedUpload) -> str:
    """Write a validated upload in one transaction (all or nothing) and say what was stored."""
    with writer(db_path) as conn:
        if parsed.kind == "ticks":
            result = database.write_ticks(conn, [t for t in parsed.records if isinstance(t, Tick)])
            return (f"Stored {result.total_inserted:,} new ticks ({result.duplicates:,} were already stored) "
                    f"for {', '.join(sorted(result.inserted))}.")
        by_symbol: dict[str, list[tuple]] = {}
        bars = [b for b in parsed.records if isinstance(b, OhlcvBar)]
        for b in bars:  # a symbol column wins over the symbol typed in the form
            by_symbol.setdefault(b.symbol or parsed.symbol or "", []).append(
                (b.ts, b.open, b.high, b.low, b.close, b.volume, b.trades))
        count = database.write_bars(conn, parsed.timeframe or "1min", by_symbol, source="upload")
        return (f"Stored {count:,} {parsed.timeframe} bars for {', '.join(sorted(by_symbol))}; they show at a "
                f"timeframe of {parsed.timeframe} or coarser.")
