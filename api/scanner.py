"""The market scanner over HTTP: start a scan of the stored 1-minute universe (the Scanner tab's background job)
and read its latest result for the same request."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from api import params
from api.errors import ApiError
from api.pair import jsonable
from config import Settings
from core.symbols import DEFAULT_QUOTE
from service.scan_jobs import ScanJob, ScanRequest, job, start_scan

FDRS = (0.01, 0.05, 0.1)


def request(settings: Settings, q: Mapping[str, str]) -> ScanRequest:
    """`days` (1–30, default 7), `quote` (default USDT; empty = any), `min_volume`, `fdr` (0.01, 0.05 or 0.1)."""
    fdr = params.number(q, "fdr", 0.05, 0.0, 1.0)
    if fdr not in FDRS:
        raise ApiError(400, "fdr", f"fdr={q.get('fdr')!r}: expected one of {', '.join(map(str, FDRS))}")
    quote = q.get("quote", DEFAULT_QUOTE).strip().upper()
    if not quote.isalnum() and quote:
        raise ApiError(400, "quote", f"quote={quote!r}: expected an asset name such as USDT (or empty for any)")
    days = params.integer(q, "days", 7, 1, 30) or 7
    return ScanRequest(
        settings.db_target,
        days=days,
        quote=quote,
        min_daily_volume=params.number(q, "min_volume", 0.0, 0.0, 1e18),
        fdr=fdr,
    )


def _view(j: ScanJob | None, limit: int) -> dict[str, Any]:
    if j is None:
        return {"state": "none", "pairs": []}
    rows = [] if j.table is None else j.table.head(limit).to_dict("records")
    return {
        "state": "running" if j.running else "done",
        "stage": j.stage,
        "fraction": j.fraction,
        "symbols": j.symbols,
        "notes": j.notes,
        "error": j.error,
        "finished_at": j.finished_at or None,
        "pairs": [{str(k): jsonable(v) for k, v in row.items()} for row in rows],
    }


def run(settings: Settings, q: Mapping[str, str]) -> dict[str, Any]:
    """Start the scan (unless the same one is running); answer its state."""
    return _view(start_scan(request(settings, q)), 0)


def latest(settings: Settings, q: Mapping[str, str]) -> dict[str, Any]:
    """The latest scan of this request: state, progress and the best `limit` pairs (default 100)."""
    limit = params.integer(q, "limit", 100, 1, params.MAX_LIMIT) or 100
    return _view(job(request(settings, q)), limit)
