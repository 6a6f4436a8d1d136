"""The page's few style rules: metric tiles sized so their values fit at 1280 px (Streamlit's 2.25rem cut
"Total P&L -507.12" to "-507…" in a seven-tile row and the sidebar's "Written 122,456" even at 1920 px)."""

from __future__ import annotations

import streamlit as st

TILE_CSS = """<style>
[data-testid="stMetricValue"] { font-size: 1.5rem; }
[data-testid="stSidebar"] [data-testid="stMetricValue"] { font-size: 1.2rem; }
</style>"""


def apply_style() -> None:
    """Add the style rules to the page (once per run; the browser keeps one copy)."""
    st.html(TILE_CSS)
