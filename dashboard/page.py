"""The dashboard's page script (run per browser session by app.py's st.App): page setup, the sidebar, the tab loop.

Everything else lives in dashboard/: the Streamlit-free model of a view (`model`: the visible window's bars, the
pair and its tests through analytics), actions (`exports`, `uploads`, `alerts`), shared `widgets`, the `sidebar`
and one module per tab (`tab_*.py`). Controls sit in the sidebar (outside the tabs, so they keep their state); the
tabs are lazy (only the open one runs) and every live tab body is an ``st.fragment(run_every=...)`` that opens a
fresh read-only SQLite connection, reads the stored bars of the visible window only, and closes it. The collector
is started only by the Start button: one per server process, shared by every browser session.
"""

from __future__ import annotations

import gc
from collections.abc import Callable
from dataclasses import dataclass

import streamlit as st

import database
from config import ConfigError, configure_logging, load_settings
from dashboard.navigation import apply_jump
from dashboard.sidebar import (
    alert_watch,
    analytics_controls,
    collector_controls,
    init_state,
    refresh_controls,
    refresh_every,
    status_panel,
)
from dashboard.style import apply_style
from dashboard.tab_alerts import tab_alerts
from dashboard.tab_backtest import tab_backtest
from dashboard.tab_charts import charts_options, charts_statistics, tab_charts
from dashboard.tab_dashboard import tab_dashboard
from dashboard.tab_data import tab_data
from dashboard.tab_pair import tab_pair
from dashboard.tab_portfolio import tab_portfolio
from dashboard.tab_scanner import tab_scanner
from dashboard.tab_watchlist import tab_watchlist
from dashboard.widgets import guard, guarded, live_view, log_outage
from service.controls import SLOW_VIEW_S, Controls
from service.window import reader


@dataclass(frozen=True)
class Tab:
    """A row of the tab table. A live tab is redrawn by itself at every refresh (`draw(controls)` as a fragment),
    under its `options` widgets (drawn once per full run) and above its `slow` part, redrawn every SLOW_VIEW_S (or at
    the refresh, if slower); the other tabs are drawn once per full run (`draw(controls, settings, refresh)`)."""

    label: str
    draw: Callable[..., None]
    live: bool
    options: Callable[[], None] | None = None
    slow: Callable[[Controls], None] | None = None


# The tabs, in order: adding one is one row (and its dashboard/tab_NAME.py).
TAB_TABLE = (
    Tab("Dashboard", tab_dashboard, live=True),
    Tab("Charts", tab_charts, live=True, options=charts_options, slow=charts_statistics),
    Tab("Pair Analytics", tab_pair, live=True),
    Tab("Backtest", tab_backtest, live=True),
    Tab("Scanner", tab_scanner, live=False),
    Tab("Watchlist", tab_watchlist, live=True),
    Tab("Portfolio", tab_portfolio, live=True),
    Tab("Alerts", tab_alerts, live=True),
    Tab("Data Management", tab_data, live=False),
)
TABS = tuple(tab.label for tab in TAB_TABLE)


def freeze_startup_heap() -> None:
    """Once per process, after the first run: move everything then alive (imported modules, mostly) out of the
    garbage collector's full passes, which otherwise add ~100 ms to every third refresh on this page."""
    if gc.get_freeze_count() == 0:
        gc.collect()
        gc.freeze()


OUTAGE_RETRY_S = 5.0  # an unreachable server is tried again this often


def wait_for_database(db_target: str) -> None:
    """While the server is unreachable: try it again, and rebuild the whole page once it answers."""
    try:
        database.open_reader(db_target).close()
    except (*database.DATABASE_ERRORS, OSError):
        return
    st.rerun()


def main() -> None:
    """Build the page: settings, sidebar, live status, lazy tabs."""
    st.set_page_config(page_title="Binance Analytics", page_icon="📈", layout="wide")
    apply_style()
    try:
        settings = load_settings()
    except ConfigError as exc:
        st.error(str(exc))
        st.stop()
    configure_logging(settings.log_level)
    init_state(settings)
    apply_jump()
    try:
        with reader(settings.db_target) as conn:
            stored = st.session_state["_stored_symbols"] = database.stored_symbols(conn)
    except (*database.DATABASE_ERRORS, OSError, RuntimeError) as exc:
        setting = "DATABASE_URL" if settings.database_url else "CRYPTO_DB_PATH"
        where = f"{database.describe_target(settings.db_target)} ({setting})"
        if not database.is_unreachable(exc):
            st.error(f"Cannot open the database {where}: {exc}")
            st.stop()
        log_outage(exc)
        if "_stored_symbols" not in st.session_state:  # nothing read yet: wait for the server
            st.warning(
                f"The database server {where} is unreachable ({database.error_line(exc)}). The page comes "
                f"back by itself once it answers (tried every {OUTAGE_RETRY_S:.0f} s).",
                icon=":material/cloud_off:",
            )
            st.fragment(wait_for_database, run_every=OUTAGE_RETRY_S)(settings.db_target)
            st.stop()
        stored = st.session_state["_stored_symbols"]  # the views show their last reads (read_or_last)
    refresh = refresh_every()
    with st.sidebar:
        st.title("Binance Analytics")
        collector_controls(settings)
        st.fragment(guarded("Collector status", status_panel), run_every=refresh)(settings)
        controls = analytics_controls(settings, stored)
        refresh_controls()
        st.fragment(guarded("Alert check", alert_watch), run_every=refresh)(controls)
        if refresh is None:
            st.caption("Auto-refresh paused.")
    for row, tab in zip(TAB_TABLE, st.tabs(TABS, key="tab", on_change="rerun")):
        if not tab.open:
            continue
        with tab:
            if row.live:
                if row.options is not None:
                    row.options()
                st.fragment(live_view(row.label, row.draw), run_every=refresh)(controls)
                if row.slow is not None:
                    slow_every = None if refresh is None else max(refresh, SLOW_VIEW_S)
                    st.fragment(live_view(row.label, row.slow), run_every=slow_every)(controls)
            else:
                with guard(row.label):
                    row.draw(controls, settings, refresh)
    freeze_startup_heap()


if __name__ == "__main__":
    main()
