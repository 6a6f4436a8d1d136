"""Binance Analytics Platform: `streamlit run app.py` serves the dashboard and the HTTP/WebSocket API on one port.

The dashboard's page script is dashboard/page.py (run per browser session); the API's routes come from api/ and
share the process, its database and the collector the sidebar starts. The lifespan starts the notification delivery
worker and the watch monitor, and stops them and that collector (flushing what is queued) when the server shuts down.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import streamlit as st

import collector
from api.routes import build_routes
from api.security import middleware
from config import ConfigError, Settings, load_settings
from dashboard.live_chart import asset_routes
from service.deliveries import start_deliveries, stop_deliveries
from service.monitor import WatchMonitor

PAGE = Path(__file__).resolve().parent / "dashboard" / "page.py"


SETTINGS: Settings | None
try:
    SETTINGS = load_settings()
except ConfigError:
    SETTINGS = None  # the page shows the configuration error; the API stays off until it is fixed


@asynccontextmanager
async def lifespan(_: Any) -> AsyncIterator[None]:
    """Start the notification delivery worker (when a webhook is configured) and the watch monitor (signals of
    watched pairs on each new stored bar, with no tab open; the sidebar or POST /api/ingest/start starts the
    collector). At shutdown stop the collector first, then the monitor after its last pass over what the collector
    flushed, then the deliveries (the last alerts and signals may still be queued)."""
    monitor = None
    if SETTINGS is not None:
        start_deliveries(SETTINGS)
        monitor = WatchMonitor(SETTINGS.db_target).start()
    try:
        yield
    finally:
        collector.stop_service()
        if monitor is not None:
            monitor.stop()
        stop_deliveries()


app = st.App(
    str(PAGE),
    lifespan=lifespan,
    routes=[*asset_routes(), *(build_routes(SETTINGS) if SETTINGS else [])],
    middleware=middleware(SETTINGS),  # the Host check guards the page even when the settings are bad
)
