"""Uploads over HTTP through the dashboard's validation and import path (validate the whole file, then store it in
batches through the collector's writer): NDJSON ticks and OHLCV CSV bars."""

from __future__ import annotations

from typing import Any

from api import params
from api.errors import ApiError
from config import Settings
from service.uploads import UploadError, parse_upload, store_upload


def upload_ticks(settings: Settings, data: bytes, name: str) -> dict[str, Any]:
    """`{"status": "ok", "loaded": n}`; a bad line is a 400 naming it, and nothing is stored."""
    try:
        parsed = parse_upload(data, name or "upload.ndjson", "ticks", max_mb=settings.max_upload_mb)
    except UploadError as exc:
        raise ApiError(400, "file", str(exc)) from None
    store_upload(settings.db_target, parsed)
    return {"status": "ok", "loaded": parsed.count}


def upload_bars(settings: Settings, data: bytes, name: str, symbol: str, timeframe: str) -> dict[str, Any]:
    """`{"status": "ok", "symbol", "timeframe"}`; a bad form field or file is a 400 naming it; nothing is stored."""
    if symbol.strip():
        params.symbol(symbol)
    timeframe = params.timeframe({"timeframe": timeframe or "1s"})
    try:
        parsed = parse_upload(
            data, name or "upload.csv", "bars", symbol=symbol, timeframe=timeframe, max_mb=settings.max_upload_mb
        )
    except UploadError as exc:
        raise ApiError(400, "file", str(exc)) from None
    store_upload(settings.db_target, parsed)
    return {"status": "ok", "symbol": (parsed.symbol or symbol).lower(), "timeframe": parsed.timeframe or timeframe}
