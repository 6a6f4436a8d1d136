"""The watchlist, its signal events and its two-leg paper positions over HTTP: the same store the Watchlist tab shows
and the watch monitor writes."""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Mapping
from typing import Any

import database
from api import params
from api.errors import ApiError
from config import Settings
from service import pair_trading, watchlist
from service.window import reader

# body field -> (type, required) of a watchlist entry; the others default to WatchSpec's values
SPEC_FIELDS: dict[str, tuple[type, bool]] = {
    "symbol_x": (str, True),
    "symbol_y": (str, True),
    "timeframe": (str, False),
    "hedge_method": (str, False),
    "hedge_window": (int, False),
    "z_window": (int, False),
    "band_kind": (str, False),
    "entry": (float, False),
    "exit": (float, False),
    "stop": (float, False),
    "max_hold_bars": (int, False),
    "capital": (float, False),
    "fee_bps": (float, False),
    "cost_bps": (float, False),
    "auto_trade": (bool, False),
    "source": (str, False),
}
NULLABLE = {"stop", "max_hold_bars"}


def _finite(value: Any) -> Any:
    """JSON has no NaN or infinity: a missing number is null."""
    return None if isinstance(value, float) and not math.isfinite(value) else value


def watch_json(watch: database.Watch) -> dict[str, Any]:
    spec = dataclasses.asdict(watch.spec)
    return {"id": watch.id, **spec, "created_at": watch.created_at, "evaluated_ms": watch.evaluated_ms}


def _field(body: Mapping[str, Any], name: str, kind: type) -> Any:
    raw = body[name]
    if raw is None and name in NULLABLE:
        return None
    if kind is bool:
        if not isinstance(raw, bool):
            raise ApiError(400, name, f"{name} must be true or false, got {raw!r}")
        return raw
    if kind is str:
        if not isinstance(raw, str):
            raise ApiError(400, name, f"{name} must be a string, got {raw!r}")
        return raw
    if isinstance(raw, bool) or not isinstance(raw, int | float) or (kind is int and not float(raw).is_integer()):
        raise ApiError(400, name, f"{name} must be {'an integer' if kind is int else 'a number'}, got {raw!r}")
    return kind(raw) if math.isfinite(raw) else raw


def _spec(body: Any, base: database.WatchSpec | None = None) -> database.WatchSpec:
    """A watchlist entry from a JSON object (a PUT starts from the stored one); 400 naming a bad field."""
    if not isinstance(body, dict):
        raise ApiError(400, "body", f"expected a JSON object with {', '.join(SPEC_FIELDS)}")
    unknown = sorted(set(body) - set(SPEC_FIELDS))
    if unknown:
        raise ApiError(400, unknown[0], f"unknown field {unknown[0]!r}: expected some of {', '.join(SPEC_FIELDS)}")
    values = dataclasses.asdict(base) if base is not None else {}
    for name, (kind, required) in SPEC_FIELDS.items():
        if name in body:
            values[name] = _field(body, name, kind)
        elif required and base is None:
            raise ApiError(400, name, f"{name} is required")
    for name in ("symbol_x", "symbol_y"):
        values[name] = params.symbol(values[name], name)
    try:
        return database.WatchSpec(**values)
    except ValueError as exc:  # a band kind or source that is not one of ours
        raise ApiError(400, "body", str(exc)) from None


def _refused(exc: ValueError, param: str) -> ApiError:
    """A service refusal as an answer naming the parameter at fault: 404 for an unknown id, 409 for a conflict with
    what is stored, else 400."""
    message = str(exc) if param == "body" else f"{param}: {exc}"
    if isinstance(exc, watchlist.NoSuchWatch | pair_trading.NoSuchPosition):
        return ApiError(404, param, message)
    if isinstance(exc, watchlist.WatchConflict | pair_trading.PositionConflict):
        return ApiError(409, param, message)
    return ApiError(400, param, message)


def _id(raw: str, param: str) -> int:
    value = params.integer({param: raw}, param, None, 1, 2**62)
    if value is None:
        raise ApiError(400, param, f"{param} is required")
    return value


def list_watches(settings: Settings) -> list[dict[str, Any]]:
    """Every watched pair with its live values: z, spread, β, verdict, open position and latest signal."""
    out = []
    for row in watchlist.watch_rows(settings.db_target):
        position = row.position
        out.append(
            {
                **watch_json(row.watch),
                "zscore": _finite(row.zscore),
                "spread": _finite(row.spread),
                "beta": _finite(row.beta),
                "verdict": row.verdict,
                "alarm": row.alarm,
                "position_id": position.id if position else None,
                "in_position_since_ms": row.in_position_since_ms,
                "last_signal": signal_json(row.last_signal) if row.last_signal else None,
                "problem": row.problem,
                "next_funding_ms": int(nf.at.value // 1_000_000) if (nf := row.next_funding) else None,
                "next_funding_cash": nf.cash if nf else None,
            }
        )
    return out


def add_watch(settings: Settings, body: Any) -> dict[str, Any]:
    """Validate and store a watchlist entry; answer it with its id."""
    try:
        return watch_json(watchlist.add_watch(settings.db_target, _spec(body)))
    except watchlist.WatchRefused as exc:
        raise _refused(exc, "body") from None


def update_watch(settings: Settings, raw_id: str, body: Any) -> dict[str, Any]:
    """Change a watched pair's settings (its symbols and timeframe stay); answer the stored entry."""
    watch_id = _id(raw_id, "watch_id")
    try:
        with reader(settings.db_target) as conn:
            current = database.get_watch(conn, watch_id)
        if current is None:
            raise watchlist.NoSuchWatch(f"no watched pair #{watch_id}")
        return watch_json(watchlist.update_watch(settings.db_target, watch_id, _spec(body, current.spec)))
    except watchlist.WatchRefused as exc:
        raise _refused(exc, "watch_id" if isinstance(exc, watchlist.NoSuchWatch) else "body") from None


def delete_watch(settings: Settings, raw_id: str) -> dict[str, bool]:
    """`{"removed": true}` when the pair was watched; 409 while it has an open position."""
    try:
        return {"removed": watchlist.remove_watch(settings.db_target, _id(raw_id, "watch_id"))}
    except watchlist.WatchRefused as exc:
        raise _refused(exc, "watch_id") from None


def signal_json(signal: database.SignalEvent) -> dict[str, Any]:
    return {k: _finite(v) for k, v in dataclasses.asdict(signal).items()}


def list_signals(settings: Settings, query: Mapping[str, str]) -> list[dict[str, Any]]:
    """Signal events, newest first: `watch_id` (optional), `limit` (default 200, at most 10,000)."""
    watch_id = params.integer(query, "watch_id", None, 1, 2**62)
    limit = params.integer(query, "limit", 200, 1, 10_000)
    with reader(settings.db_target) as conn:
        return [signal_json(s) for s in database.list_signals(conn, watch_id, limit)]


def position_json(view: pair_trading.PositionView) -> dict[str, Any]:
    p = view.position
    return {
        "id": p.id,
        **dataclasses.asdict(p.opening),
        **(dataclasses.asdict(p.closing) if p.closing else {}),
        "open": p.is_open,
        "unhedged_x": p.opening.unhedged_x,
        "pnl": {
            "price_x": view.pnl.price_x,
            "price_y": view.pnl.price_y,
            "gross": view.pnl.gross,
            "fees": view.pnl.fees,
            "spread": view.pnl.spread,
            "funding_x": view.pnl.funding_x,
            "funding_y": view.pnl.funding_y,
            "net": view.pnl.net,
        },
    }


def list_positions(settings: Settings, query: Mapping[str, str]) -> list[dict[str, Any]]:
    """Two-leg paper positions with their P&L breakdown (open ones marked to the latest stored prices):
    `watch_id` (optional), `open` (1: open ones only)."""
    watch_id = params.integer(query, "watch_id", None, 1, 2**62)
    open_only = params.integer(query, "open", 0, 0, 1) == 1
    return [position_json(v) for v in pair_trading.position_views(settings.db_target, watch_id, open_only)]


def open_position(settings: Settings, body: Any) -> dict[str, Any]:
    """Open `{"watch_id", "side": "LONG"|"SHORT", "beta"?}` now at the latest stored prices."""
    if not isinstance(body, dict):
        raise ApiError(400, "body", 'expected a JSON object {"watch_id", "side": "LONG" or "SHORT", "beta"?}')
    watch_id = _id(str(body.get("watch_id", "")), "watch_id")
    try:
        side = database.PaperSide(str(body.get("side", "")).upper())
    except ValueError:
        raise ApiError(400, "side", f"side={body.get('side')!r}: expected LONG or SHORT") from None
    beta = _field(body, "beta", float) if body.get("beta") is not None else None
    try:
        return position_json(
            pair_trading.view_of(
                settings.db_target, pair_trading.open_by_hand(settings.db_target, watch_id, side, beta)
            )
        )
    except pair_trading.PositionRefused as exc:
        raise _refused(exc, "watch_id") from None


def close_position(settings: Settings, raw_id: str) -> dict[str, Any]:
    """Close a position now at the latest stored prices: once — a second close is a 409."""
    try:
        closed = pair_trading.close_by_hand(settings.db_target, _id(raw_id, "position_id"))
        return position_json(pair_trading.view_of(settings.db_target, closed))
    except pair_trading.PositionRefused as exc:
        raise _refused(exc, "position_id") from None
