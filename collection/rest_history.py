"""What Binance REST still serves: aggTrades of the last 48 h, searched an hour at a time (2026 limits)."""

from __future__ import annotations

import datetime
import threading

from data_feed import BinanceRest

REST_HISTORY_MS = 48 * 3600 * 1000  # Binance serves aggTrades of the last 48 h only (2026)
REST_SAFETY_MS = 15 * 60 * 1000  # do not ask for ids right at the edge of that window
REST_PAGE = 1000  # aggTrades per request (the endpoint's maximum)
OLDER_THAN_REST = "older than the 48 h REST window"
_PROBE_MS = 3_600_000  # aggTrades startTime..endTime may span at most one hour


def utc_day(ms: int) -> datetime.date:
    """The UTC calendar day of an epoch-ms time (the daily archive's file unit)."""
    return datetime.datetime.fromtimestamp(ms / 1000, datetime.UTC).date()


def beyond_rest(ts: int | None, now: int) -> bool:
    """True when a trade at ts is (nearly) out of the 48 h window that REST aggTrades still serves."""
    return ts is not None and now - ts > REST_HISTORY_MS - REST_SAFETY_MS


def rest_window_start(now: int) -> int:
    """The oldest time this collector asks REST aggTrades for."""
    return now - REST_HISTORY_MS + REST_SAFETY_MS


def first_id_since(rest: BinanceRest, symbol: str, start_ms: int, end_ms: int, stop: threading.Event) -> int | None:
    """Id of the first aggTrade at or after start_ms, probing an hour at a time up to end_ms; None when there is no
    trade in between (or `stop` was set)."""
    probe = start_ms
    while probe < end_ms and not stop.is_set():
        first = rest.agg_trades(symbol, start_time=probe, end_time=min(end_ms, probe + _PROBE_MS - 1), limit=1)
        if first:
            return first[0].trade_id
        probe += _PROBE_MS
    return None
