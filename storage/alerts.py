"""The alert_rules and alert_events tables: stored threshold rules, their last values, and the fired history."""

from __future__ import annotations

from dataclasses import dataclass

import pandas as pd

from core.clock import now_ms
from core.vocabulary import AlertMetric, AlertOp
from storage.sql import Connection, inserted_id, transaction


@dataclass(frozen=True)
class AlertRule:
    """A stored alert: metric (zscore, spread or price) of a pair or symbol compared with a threshold."""

    id: int
    metric: AlertMetric
    symbol_x: str
    symbol_y: str
    op: AlertOp
    threshold: float
    enabled: bool
    created_at: int
    last_value: float | None
    last_fired_at: int | None

    def __post_init__(self) -> None:  # a row's text (or a caller's value), checked and typed
        object.__setattr__(self, "metric", AlertMetric(self.metric))
        object.__setattr__(self, "op", AlertOp(self.op))


def add_alert_rule(
    conn: Connection, metric: AlertMetric, symbol_x: str, symbol_y: str, op: AlertOp, threshold: float
) -> int:
    """Store a new alert rule and return its id."""
    return inserted_id(
        conn.execute(
            "INSERT INTO alert_rules(metric, symbol_x, symbol_y, op, threshold, created_at) "
            "VALUES (?,?,?,?,?,?) RETURNING id",
            (metric, symbol_x, symbol_y, op, float(threshold), now_ms()),
        )
    )


def list_alert_rules(conn: Connection) -> list[AlertRule]:
    """Every stored alert rule, oldest first."""
    rows = conn.execute(
        "SELECT id, metric, symbol_x, symbol_y, op, threshold, enabled, created_at, last_value, "
        "last_fired_at FROM alert_rules ORDER BY id"
    ).fetchall()
    return [AlertRule(r[0], r[1], r[2], r[3], r[4], r[5], bool(r[6]), r[7], r[8], r[9]) for r in rows]


def delete_alert_rule(conn: Connection, rule_id: int) -> None:
    """Remove a rule and its history (both or neither)."""
    with transaction(conn):
        conn.execute("DELETE FROM alert_events WHERE rule_id=?", (rule_id,))
        conn.execute("DELETE FROM alert_rules WHERE id=?", (rule_id,))


def record_alert_check(conn: Connection, rule_id: int, value: float, fired_message: str | None) -> None:
    """Remember a rule's latest value (for crossing rules) and, when it fired, log the event (all or nothing)."""
    with transaction(conn):
        if fired_message is None:
            conn.execute("UPDATE alert_rules SET last_value=? WHERE id=?", (value, rule_id))
        else:
            stamp = now_ms()
            conn.execute("UPDATE alert_rules SET last_value=?, last_fired_at=? WHERE id=?", (value, stamp, rule_id))
            conn.execute(
                "INSERT INTO alert_events(rule_id, fired_at, value, message) VALUES (?,?,?,?)",
                (rule_id, stamp, value, fired_message),
            )


def alert_history(conn: Connection, limit: int = 200) -> pd.DataFrame:
    """Latest fired alerts, newest first."""
    rows = conn.execute(
        "SELECT fired_at, rule_id, value, message FROM alert_events ORDER BY id DESC LIMIT ?", (limit,)
    ).fetchall()
    return pd.DataFrame(rows, columns=["fired_at", "rule_id", "value", "message"])
