"""Ingestion over HTTP: start/stop the process-wide collector (the one the sidebar's Start button starts), its
status, and the trade-id gaps it recorded."""

from __future__ import annotations

from typing import Any

import collector
import database
from api import params
from api.errors import ApiError
from config import Settings
from core.vocabulary import FeedKind
from service.window import reader

MODES = {"ws": FeedKind.BINANCE, "binance": FeedKind.BINANCE, "simulated": FeedKind.SIMULATED}


def start(settings: Settings, body: Any) -> dict[str, Any]:
    """`{"mode": "ws", "symbols": [...]}` → the collector runs those symbols; no symbols is a 400."""
    if not isinstance(body, dict):
        raise ApiError(400, "body", "expected a JSON object {mode, symbols}")
    mode = str(body.get("mode", "ws")).lower()
    if mode not in MODES:
        raise ApiError(400, "mode", f"mode={mode!r}: expected one of {', '.join(MODES)}")
    raw = body.get("symbols")
    if not isinstance(raw, list) or not raw or not all(isinstance(s, str) for s in raw):
        raise ApiError(400, "symbols", "symbols must be a non-empty list of symbol names")
    syms = params.symbols(",".join(raw))
    try:
        collector.start_service(settings, MODES[mode], syms)
    except (OSError, RuntimeError, ValueError) as exc:
        raise ApiError(409, "mode", f"could not start the {mode} feed: {exc}") from None
    return {"status": "ok", "mode": mode, "symbols": [s.lower() for s in syms]}


def stop() -> dict[str, Any]:
    """Stop the collector (everything queued is flushed); `stopped` says whether one was running."""
    running = collector.current_collector() is not None
    collector.stop_service()
    return {"status": "ok", "stopped": running}


def status() -> dict[str, Any]:
    """The collector's state and counters (`{"state": "stopped"}` when none runs)."""
    running = collector.current_collector()
    if running is None:
        return {"state": "stopped", "symbols": []}
    stats = running.stats()
    return {
        "state": str(stats.state),
        "feed": str(stats.feed_kind),
        "symbols": [s.lower() for s in stats.symbols],
        "received": stats.received,
        "written": stats.written,
        "last_error": running.last_error,
    }


def gaps(settings: Settings, q: dict[str, str]) -> dict[str, Any]:
    """Recorded trade-id gaps, newest first (`symbol` filter, `limit` ≤ 10,000)."""
    limit = params.integer(q, "limit", 500, 1, params.MAX_LIMIT) or 500
    syms = [params.symbol(q["symbol"])] if q.get("symbol") else None
    with reader(settings.db_target) as conn:
        found = database.list_gaps(conn, syms, limit)
    return {
        "gaps": [
            {
                "id": g.id,
                "symbol": g.symbol.lower(),
                "first_missing_id": g.first_missing_id,
                "last_missing_id": g.last_missing_id,
                "from_ts": g.from_ts,
                "to_ts": g.to_ts,
                "detected_at": g.detected_at,
                "status": str(g.status),
                "repaired_count": g.repaired_count,
                "note": g.note,
            }
            for g in found
        ]
    }
