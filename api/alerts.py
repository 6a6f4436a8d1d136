"""Alert rules over HTTP: the same database rules the Alerts tab edits."""

from __future__ import annotations

import dataclasses
import enum
from typing import Any, TypeVar

import analytics
import database
from api import params
from api.errors import ApiError
from config import Settings
from service.window import reader, writer

E = TypeVar("E", bound=enum.StrEnum)


def _rule(rule: database.AlertRule) -> dict[str, Any]:
    out = dataclasses.asdict(rule)
    out["symbol_x"], out["symbol_y"] = rule.symbol_x.lower(), rule.symbol_y.lower()
    return out


def list_rules(settings: Settings) -> list[dict[str, Any]]:
    """Every stored rule, each with its `id`."""
    with reader(settings.db_target) as conn:
        return [_rule(r) for r in database.list_alert_rules(conn)]


def _choice(vocabulary: type[E], raw: Any, param: str) -> E:
    """The member of a StrEnum a body field names, or a 400 listing them."""
    try:
        return vocabulary(str(raw))
    except ValueError:
        raise ApiError(400, param, f"{param}={str(raw)!r}: expected one of {', '.join(vocabulary)}") from None


def add_rule(settings: Settings, body: Any) -> dict[str, Any]:
    """Validate `{"symbol_x", "symbol_y", "metric", "op", "threshold"}` and store it; answer the stored rule."""
    if not isinstance(body, dict):
        raise ApiError(400, "body", "expected a JSON object {symbol_x, symbol_y, metric, op, threshold}")
    metric = _choice(analytics.AlertMetric, body.get("metric", analytics.AlertMetric.ZSCORE), "metric")
    op = _choice(analytics.AlertOp, body.get("op", analytics.AlertOp.GT), "op")
    x = params.symbol(str(body.get("symbol_x", "")), "symbol_x")
    y = (
        x
        if metric == analytics.AlertMetric.PRICE and not body.get("symbol_y")
        else params.symbol(str(body.get("symbol_y", "")), "symbol_y")
    )
    threshold = params.number({"threshold": str(body.get("threshold", ""))}, "threshold", float("nan"), -1e18, 1e18)
    if threshold != threshold:
        raise ApiError(400, "threshold", "threshold is required (a number)")
    with writer(settings.db_target) as conn:
        rule_id = database.add_alert_rule(conn, metric, x, y, op, threshold)
        stored = next(r for r in database.list_alert_rules(conn) if r.id == rule_id)
    return _rule(stored)


def delete_rule(settings: Settings, raw_id: str) -> dict[str, bool]:
    """`{"removed": true}` when the rule existed."""
    rule_id = params.integer({"id": raw_id}, "id", None, 0, 2**62)
    with writer(settings.db_target) as conn:
        existed = any(r.id == rule_id for r in database.list_alert_rules(conn))
        if existed and rule_id is not None:
            database.delete_alert_rule(conn, rule_id)
    return {"removed": existed}
