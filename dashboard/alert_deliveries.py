"""The Alerts tab's Deliveries section: where notifications go and every attempt to deliver them."""

from __future__ import annotations

import dataclasses

import pandas as pd
import streamlit as st

from service.controls import Controls, fmt_time
from service.deliveries import delivery_state, recent_attempts

SHOWN_ATTEMPTS = 100


def delivery_section(c: Controls) -> None:
    """The delivery worker's targets (secrets redacted) and queue, then the latest attempts, dead letters included."""
    st.subheader("Deliveries")
    state = delivery_state()
    if state.targets:
        st.caption(
            f"Alerts, signals and break alarms go to {', '.join(state.targets)} · {state.queued} queued, "
            f"{state.scheduled} waiting for an attempt or a retry. A target that stays down leaves a dead letter."
        )
    else:
        st.caption(
            "No delivery target is configured: set ALERT_WEBHOOK_URL, ALERT_TELEGRAM_TOKEN with "
            "ALERT_TELEGRAM_CHAT_ID, ALERT_DISCORD_URL or ALERT_SLACK_URL (see the README's settings)."
        )
    attempts = recent_attempts(c.db_target, SHOWN_ATTEMPTS)
    if not attempts:
        st.caption("No delivery attempt yet.")
        return
    table = pd.DataFrame([dataclasses.asdict(a) for a in attempts]).drop(columns=["id"])
    table["attempted_at"] = table["attempted_at"].map(fmt_time)
    table["http_status"] = table["http_status"].astype("Int64")
    st.dataframe(table, width="stretch", hide_index=True)
