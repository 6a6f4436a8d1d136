"""The Watchlist in a real browser: `streamlit run app.py` with the simulated feed and 30 minutes of a synthetic
BTCUSDT/ETHUSDT pair (tests/test_browser.py's server fixture), driven with playwright through /usr/bin/chromium.

A pair is watched with auto-trade through the API before the page opens. With the feed started, the Watchlist tab
must show the pair live (its z changes as new bars arrive), a two-leg position opened by the server's watch monitor
from an entry signal with its P&L broken down (legs, fees, spread, funding), and, on request, the closed paper
positions next to the backtest of the same bars with the same totals. Screenshots go to the test's temp dir.

Run alone:  python -m pytest -m browser tests/test_browser_watch.py
"""

from __future__ import annotations

import re
import time

import pytest
import requests
from browser_probe import chromium_page
from test_browser import server  # noqa: F401 — the fixture, used by name

pytestmark = [pytest.mark.browser, pytest.mark.timeout(240)]
WATCH = {
    "symbol_x": "BTCUSDT",
    "symbol_y": "ETHUSDT",
    "timeframe": "1s",
    "hedge_window": 60,
    "z_window": 20,
    "entry": 0.8,
    "exit": 0.0,
    "auto_trade": True,
}
HELD = re.compile(
    r"(LONG|SHORT) #(\d+): net [+-][\d,.]+ USDT: y leg [+-][\d,.]+, x leg .*, fees .*, spread .*, funding"
)
CHECK = re.compile(
    r"paper: (\d+) closed, net ([^ ]+) USDT \((.*?)\) · backtest: (\d+) closed, net ([^ ]+) USDT \((.*?)\)"
)


def changes(read, timeout_s: float) -> bool:
    """Whether `read()` returns something else than at first within the timeout."""
    first, deadline = read(), time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        time.sleep(0.5)
        if read() != first:
            return True
    return False


def test_the_watchlist_live_with_a_position_from_a_signal(server, tmp_path):  # noqa: F811 — the imported fixture
    pytest.importorskip("playwright.sync_api", reason="pip install playwright (no browser download)")
    watch = requests.post(f"{server}/api/watchlist", json=WATCH, timeout=30).json()
    shots = tmp_path / "screenshots"
    shots.mkdir()
    with chromium_page(server, width=1600, height=1200) as page:
        page.wait_for_selector(".js-plotly-plot .main-svg", timeout=60_000)
        sidebar = page.get_by_test_id("stSidebarUserContent")  # the header has a Stop button while a run goes on
        sidebar.get_by_role("button", name="Start", exact=True).click()
        page.get_by_text("SIMULATED FEED").wait_for(timeout=30_000)
        page.get_by_role("tab", name="Watchlist").click()
        row = page.get_by_text(f"#{watch['id']} ETHUSDT / BTCUSDT · z", exact=False).first
        row.wait_for(timeout=60_000)
        assert changes(row.inner_text, 30), "the watched pair's line never changed: the watchlist is not live"
        held = page.get_by_text(HELD).first
        held.wait_for(timeout=90_000)
        match = HELD.search(held.inner_text())
        assert match is not None
        [position] = requests.get(f"{server}/api/positions", params={"open": 1}, timeout=30).json()
        assert position["id"] == int(match.group(2)) and position["side"] == match.group(1)
        assert position["entry_signal_id"] is not None  # opened by the monitor from an entry signal
        page.screenshot(path=str(shots / "0_watchlist_position.png"), full_page=True)
        page.get_by_text("Compare the paper positions with the backtest of the same bars").click()
        line = page.get_by_text(CHECK).first
        line.wait_for(timeout=60_000)
        deadline = time.monotonic() + 90
        while True:  # until at least one round trip has closed
            found = CHECK.search(line.inner_text())
            assert found is not None
            if int(found.group(1)) >= 1 or time.monotonic() > deadline:
                break
            time.sleep(2)
        page.screenshot(path=str(shots / "1_watchlist_vs_backtest.png"), full_page=True)
        paper, backtest = found.group(1, 2, 3), found.group(4, 5, 6)
        assert int(paper[0]) >= 1, f"no closed paper position within 90 s: {found.group(0)}"
        assert paper == backtest, f"paper and backtest differ: {found.group(0)}"
        assert page.locator("[data-testid='stException']").count() == 0
        assert page.locator("[data-testid='stAlertContentError']").count() == 0
        sidebar.get_by_role("button", name="Stop", exact=True).click()
