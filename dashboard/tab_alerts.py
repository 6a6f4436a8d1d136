"""The Alerts tab: add, list and delete rules; the history of firings."""

from __future__ import annotations

import streamlit as st

import analytics
import database
from dashboard.alert_deliveries import delivery_section
from dashboard.widgets import show_flash
from service.alerts import rule_text
from service.controls import Controls, fmt_time
from service.window import reader, writer


def add_rule(db_target: str) -> None:
    """Store the rule in the alert form (button callback); a bad rule leaves a message instead."""
    s = st.session_state
    metric, x, y = analytics.AlertMetric(s["alert_metric"]), s.get("alert_x"), s.get("alert_y")
    if x is None or (metric is not analytics.AlertMetric.PRICE and (y is None or x == y)):
        s["flash"].append(("error", "A pair rule needs two different symbols."))
        return
    with writer(db_target) as conn:
        database.add_alert_rule(
            conn,
            metric,
            x,
            "" if metric is analytics.AlertMetric.PRICE else y or "",
            analytics.AlertOp(s["alert_op"]),
            float(s["alert_threshold"]),
        )
    s["flash"].append(("success", "Alert rule added; it is checked on every refresh."))


def delete_rule(db_target: str, rule_id: int) -> None:
    """Delete a rule and its history (button callback)."""
    with writer(db_target) as conn:
        database.delete_alert_rule(conn, rule_id)


def tab_alerts(c: Controls) -> None:
    """Alert rules (add / list / delete) on a pair's z-score or spread or a symbol's price, and their history."""
    show_flash()
    options = list(c.symbols)
    st.caption(
        "Rules are checked on new data at every refresh while the dashboard is open (z-score and spread "
        "with the sidebar's timeframe, lookback, hedge method and windows, on a live window); each fires "
        "once per crossing (a level rule when it becomes true), as a toast and a row in the history."
    )
    if options:
        for key, fallback in (("alert_x", 0), ("alert_y", 1)):
            if st.session_state.get(key) not in options:
                st.session_state[key] = options[min(fallback, len(options) - 1)]
        cols = st.columns([2, 2, 2, 2, 1.5, 1.2], vertical_alignment="bottom")
        cols[0].selectbox(
            "Metric",
            list(analytics.AlertMetric),
            format_func=lambda m: analytics.AlertMetric(m).label,
            key="alert_metric",
            persist_state="page",
        )
        cols[1].selectbox("Symbol / x", options, key="alert_x", persist_state="page")
        cols[2].selectbox(
            "y (pairs)",
            options,
            key="alert_y",
            persist_state="page",
            disabled=st.session_state["alert_metric"] == analytics.AlertMetric.PRICE,
        )
        cols[3].selectbox(
            "Condition",
            list(analytics.AlertOp),
            format_func=lambda op: analytics.AlertOp(op).label,
            key="alert_op",
            persist_state="page",
        )
        cols[4].number_input("Threshold", key="alert_threshold", format="%.6g", persist_state="page")
        cols[5].button("Add rule", key="alert_add", type="primary", on_click=add_rule, args=(c.db_target,))
    with reader(c.db_target) as conn:
        rules = database.list_alert_rules(conn)
        history = database.alert_history(conn)
    st.subheader("Rules")
    if not rules:
        st.caption("No rules yet.")
    for rule in rules:
        cols = st.columns([5, 1], vertical_alignment="center")
        last = f"last value {rule.last_value:.6g}" if rule.last_value is not None else "not checked yet"
        fired = f" · last fired {fmt_time(rule.last_fired_at)}" if rule.last_fired_at else ""
        cols[0].markdown(f"**#{rule.id}** {rule_text(rule)} · {last}{fired}")
        cols[1].button("Delete", key=f"alert_del_{rule.id}", on_click=delete_rule, args=(c.db_target, rule.id))
    st.subheader("History")
    if history.empty:
        st.caption("No alert has fired yet.")
    else:
        st.dataframe(history.assign(fired_at=history["fired_at"].map(fmt_time)), width="stretch", hide_index=True)
    delivery_section(c)
