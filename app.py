"""Binance Analytics Platform: `streamlit run app.py` serves the dashboard and the HTTP/WebSocket API on one port.

The dashboard's page script is dashboard/page.py (run per browser session); the API's routes come from api/ and
share the process, its database and the collector the sidebar starts. The lifespan stops that collector (flushing
what is queued) when the server shuts down.
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
from service.monitor import WatchMonitor

PAGE = Path(__file__).resolve().parent / "dashboard" / "page.py"


@asynccontextmanager
async def lifespan(_: Any) -> AsyncIterator[None]:
    """Start the watch monitor (signals of watched pairs on each new stored bar, with no tab open; the sidebar or
    POST /api/ingest/start starts the collector); at shutdown stop the collector, then the monitor after its last
    pass over what the collector flushed."""
    monitor = WatchMonitor(SETTINGS.db_target).start() if SETTINGS else None
    try:
        yield
    finally:
        collector.stop_service()
        if monitor is not None:
            monitor.stop()


SETTINGS: Settings | None
try:
    SETTINGS = load_settings()
except ConfigError:
    SETTINGS = None  # the page shows the configuration error; the API stays off until it is fixed

app = st.App(
    str(PAGE),
    lifespan=lifespan,
    routes=[*asset_routes(), *(build_routes(SETTINGS) if SETTINGS else [])],
    middleware=middleware(SETTINGS),  # the Host check guards the page even when the settings are bad
)
