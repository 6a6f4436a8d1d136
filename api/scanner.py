"""The market scanner over HTTP: start a scan of the stored 1-minute universe (the Scanner tab's background job)
and read its latest result for the same request: by default one pair per discovery (its echoes counted), as the
tab shows it."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import analytics
from api import params
from api.errors import ApiError
from api.pair import jsonable
from config import Settings
from core.symbols import DEFAULT_QUOTE
from service.research import leg_cost_bps
from service.scan_jobs import ScanJob, ScanRequest, ScanView, by_edge, filtered, job, start_scan

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
        cost_bps=leg_cost_bps(settings.fee_bps, settings.slippage_bps, settings.stand_in_spread_bps),
    )


def view(q: Mapping[str, str]) -> ScanView:
    """`view`: leads (default: one pair per discovery), selected (the discoveries with their echoes), confirmed or
    tested (every pair screened)."""
    raw = q.get("view", ScanView.LEADS.value).strip().lower()
    if raw not in set(ScanView):
        raise ApiError(400, "view", f"view={raw!r}: expected one of {', '.join(ScanView)}")
    return ScanView(raw)


def summary(s: analytics.ScanSummary) -> dict[str, Any]:
    """What the scan tested, sent to the full test, confirmed, left unconfirmed and selected, and the symbols whose
    returns bounce."""
    return {
        "tested": s.pairs_tested,
        "sent": s.pairs_sent,
        "confirmed": s.pairs_confirmed,
        "unconfirmed": s.pairs_unconfirmed,
        "selected": s.pairs_selected,
        "groups": s.pairs_groups,
        "echoes": s.pairs_echoes,
        "formation_bars": s.formation_bars,
        "validation_bars": s.validation_bars,
        "screen_bars": s.screen_bars,
        "confirm_seconds": round(s.confirm_seconds, 3),
        "noisy": {name: analytics.to_json(s.noise[name]) for name in s.noisy},
    }


def _view(j: ScanJob | None, limit: int, shown: ScanView = ScanView.LEADS) -> dict[str, Any]:
    if j is None:
        return {"state": "none", "pairs": []}
    rows = [] if j.table is None else by_edge(filtered(j.table, view=shown)).head(limit).to_dict("records")
    return {
        "state": "running" if j.running else "done",
        "stage": j.stage,
        "fraction": j.fraction,
        "symbols": j.symbols,
        "notes": j.notes,
        "error": j.error,
        "finished_at": j.finished_at or None,
        "view": shown.value,
        "summary": None if j.table is None else summary(analytics.scan_summary(j.table)),
        "pairs": [{str(k): jsonable(v) for k, v in row.items()} for row in rows],
    }


def run(settings: Settings, q: Mapping[str, str]) -> dict[str, Any]:
    """Start the scan (unless the same one is running); answer its state."""
    return _view(start_scan(request(settings, q)), 0)


def latest(settings: Settings, q: Mapping[str, str]) -> dict[str, Any]:
    """The latest scan of this request: state, progress, its summary and the best `limit` rows (default 100) of
    `view` (see :func:`view`)."""
    limit = params.integer(q, "limit", 100, 1, params.MAX_LIMIT) or 100
    return _view(job(request(settings, q)), limit, view(q))
