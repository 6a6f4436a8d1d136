"""Alert checks: each rule's current value on the live window, when it fires, and the stored history."""

from __future__ import annotations

import contextlib
import dataclasses
import math
from collections.abc import Sequence

import analytics
import database
from core.vocabulary import NoticeKind
from service.controls import Controls
from service.deliveries import notify
from service.webhooks import Notice
from service.window import load_window, pair_of, reader, writer

PRICE = analytics.AlertMetric.PRICE


def alert_fires(rule: database.AlertRule, value: float) -> bool:
    """True when a rule fires now: crossings on the crossing bar, level rules on the check that turns them true."""
    now = analytics.evaluate_alert(value, rule.op, rule.threshold, rule.last_value)
    if rule.op.is_crossing or not now:
        return now
    return rule.last_value is None or not analytics.evaluate_alert(rule.last_value, rule.op, rule.threshold)


def rule_text(rule: database.AlertRule) -> str:
    """A rule in words, e.g. 'z-score ETHUSDT vs BTCUSDT crosses above 2'."""
    subject = rule.symbol_x if rule.metric == PRICE else f"{rule.symbol_y} vs {rule.symbol_x}"
    return f"{rule.metric.noun} {subject} {rule.op.label} {rule.threshold:g}"


def alert_values(
    conn: database.Connection, rules: Sequence[database.AlertRule], c: Controls, cache: dict | None = None
) -> dict[int, float]:
    """Current value of each rule's metric on the live window (rules whose data is missing are left out)."""
    values: dict[int, float] = {}
    prices = database.last_prices(conn, sorted({r.symbol_x for r in rules if r.metric == PRICE}))
    pairs = sorted({(r.symbol_x, r.symbol_y) for r in rules if r.metric != PRICE})
    series: dict[tuple[str, str], analytics.PairSeries] = {}
    if pairs:
        window = load_window(conn, dataclasses.replace(c, end_ms=None), sorted({s for p in pairs for s in p}), cache)
        for pair in pairs:
            with contextlib.suppress(analytics.InsufficientData):
                series[pair] = pair_of(window, pair)
    for rule in rules:
        if rule.metric == PRICE and rule.symbol_x in prices:
            values[rule.id] = prices[rule.symbol_x][1]
        elif (rule.symbol_x, rule.symbol_y) in series:
            value = series[(rule.symbol_x, rule.symbol_y)].latest(rule.metric)
            if math.isfinite(value):
                values[rule.id] = value
    return values


def check_alerts(c: Controls, cache: dict | None = None) -> list[str]:
    """Evaluate every enabled rule on new data, store values and firings, hand each firing to the delivery worker
    (service.deliveries: webhooks, when configured); return the messages that fired."""
    with reader(c.db_target) as conn:
        rules = [r for r in database.list_alert_rules(conn) if r.enabled]
        values = alert_values(conn, rules, c, cache) if rules else {}
    checks = [(r, values[r.id]) for r in rules if r.id in values and values[r.id] != r.last_value]
    fired = []
    if checks:
        with writer(c.db_target) as conn:
            for rule, value in checks:
                message = f"{rule_text(rule)} (now {value:.6g})" if alert_fires(rule, value) else None
                database.record_alert_check(conn, rule.id, value, message)
                fired += [message] if message else []
                if message:
                    notify(Notice(NoticeKind.ALERT, rule_text(rule), message))
    return fired
