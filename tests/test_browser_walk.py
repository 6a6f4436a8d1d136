"""A new user's walk through the dashboard in Chromium, at 1280 px and again at 1920 px (issue 25): an empty database,
Start (simulated feed), every tab, a simulated universe stored, a scan, a row's Open button clicked (the sidebar's pair,
interval and the tab follow in one click), Pair Analytics and Backtest on that pair with its verdict. Throughout: no
console warning or error, no exception, no tile value cut off by an ellipsis. Screenshots go to $BROWSER_SHOTS (default:
the test's temp dir).

Run alone:  python -m pytest -m browser tests/test_browser_walk.py -s   (prints each step as it goes)
"""

from __future__ import annotations

import os
import time
from pathlib import Path

import pytest
from browser_probe import CHROMIUM, CHROMIUM_ARGS, ConsoleLog, cut_tiles
from served import serve

pytestmark = [pytest.mark.browser, pytest.mark.timeout(420)]
# tab -> text that shows it has rendered (on an empty database a live tab may still be warming up)
TABS = {
    "Dashboard": "Window:",
    "Charts": "Window:",
    "Pair Analytics": "Window:",
    "Backtest": "Window:",
    "Scanner": "Run scan",
    "Portfolio": "Open positions",
    "Alerts": "Rules",
    "Data Management": "Database statistics",
}
SETTLE_MS = 2_500  # a tab is watched this long (two refreshes) for console messages


@pytest.fixture
def empty_server(tmp_path):
    """The app on an empty database with the simulated feed; yields its URL."""
    if not os.path.exists(CHROMIUM):
        pytest.skip(f"{CHROMIUM} is not installed (apt-get install chromium); the browser test needs it")
    env = {"DATA_FEED": "simulated", "CRYPTO_DB_PATH": str(tmp_path / "ticks.db")}
    with serve(tmp_path / "server.log", env) as url:
        yield url


def step(t0: float, what: str) -> None:
    """Progress on the terminal (pytest -s): a browser walk takes minutes."""
    print(f"[walk {time.monotonic() - t0:5.1f} s] {what}", flush=True)


def open_tab(page, tab: str, marker: str) -> None:
    page.get_by_role("tab", name=tab).click()
    page.get_by_text(marker, exact=False).first.wait_for(timeout=60_000)
    page.wait_for_timeout(SETTLE_MS)
    assert page.locator("[data-testid='stException']").count() == 0, f"exception on {tab}"


ACTIVE_TAB_IS = """name => {
  const tab = document.querySelector('[role="tab"][aria-selected="true"]');
  return !!tab && tab.innerText.trim() === name;
}"""


def sidebar_value(page, label: str) -> str:
    """The shown value of the sidebar selectbox labelled `label`."""
    return page.locator("[data-testid='stSidebar']").get_by_role("combobox", name=label).input_value()


def select_first_row(page) -> None:
    """Tick the first row of the scan table (a canvas grid: the selection column is its leftmost cells)."""
    grid = page.locator("[data-testid='stDataFrame']").first
    grid.scroll_into_view_if_needed()
    box = grid.bounding_box()
    assert box is not None
    page.mouse.click(box["x"] + 18, box["y"] + 35 + 17)


def test_a_new_user_walks_from_an_empty_database_to_a_scanned_pair(empty_server, tmp_path):
    sync_api = pytest.importorskip("playwright.sync_api", reason="pip install playwright (no browser download)")
    shots = Path(os.environ.get("BROWSER_SHOTS") or tmp_path / "shots")
    shots.mkdir(parents=True, exist_ok=True)
    t0 = time.monotonic()
    with sync_api.sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS, headless=True)
        try:
            page = browser.new_page(viewport={"width": 1280, "height": 900})
            console = ConsoleLog(page)
            page.goto(empty_server)
            page.get_by_role("button", name="Start", exact=True).wait_for(timeout=60_000)
            page.get_by_role("button", name="Start", exact=True).click()
            page.get_by_text("Last tick age: BTCUSDT").wait_for(timeout=60_000)
            step(t0, "collector started")
            for tab, marker in TABS.items():
                open_tab(page, tab, marker)
                page.screenshot(path=str(shots / f"1280_start_{tab.replace(' ', '_')}.png"))
                step(t0, f"{tab}: {console.count()} console messages so far")
            assert console.messages == [], console.messages
            open_tab(page, "Scanner", TABS["Scanner"])
            page.get_by_role("button", name="Store a simulated universe").click()
            page.get_by_text("Stored 7 days").wait_for(timeout=120_000)
            step(t0, "universe stored")
            page.get_by_role("button", name="Run scan").click()
            page.locator("[data-testid='stDataFrame']").first.wait_for(timeout=120_000)
            page.wait_for_timeout(SETTLE_MS)
            step(t0, "scan shown")
            page.screenshot(path=str(shots / "1280_scanner.png"))
            select_first_row(page)
            opener = page.get_by_role("button", name="in Pair Analytics")
            opener.wait_for(timeout=30_000)
            y, x = opener.inner_text().removeprefix("Open ").removesuffix(" in Pair Analytics").split(" / ")
            page.get_by_text(f"{y} / {x}:").first.wait_for(timeout=10_000)  # the row's verdict, above the table
            page.screenshot(path=str(shots / "1280_scanner_selected.png"))
            opener.click()
            page.wait_for_function(ACTIVE_TAB_IS, arg="Pair Analytics", timeout=60_000)  # one click
            page.get_by_text(f"{y} / {x}:").first.wait_for(timeout=60_000)  # the pair's verdict, in Pair Analytics
            step(t0, f"opened {y} / {x}")
            assert (sidebar_value(page, "Pair x"), sidebar_value(page, "Pair y")) == (x, y)
            assert sidebar_value(page, "Timeframe") == "1min"
            page.get_by_text("Cointegration and mean reversion").first.wait_for(timeout=60_000)
            page.wait_for_timeout(SETTLE_MS)
            page.screenshot(path=str(shots / "1280_pair.png"))
            open_tab(page, "Backtest", "Trade log")
            page.get_by_text(f"{y} / {x}:").first.wait_for(timeout=60_000)
            page.screenshot(path=str(shots / "1280_backtest.png"))
            for width in (1280, 1920):
                page.set_viewport_size({"width": width, "height": 1000})
                for tab, marker in (("Pair Analytics", "Cointegration"), ("Backtest", "Trade log")):
                    open_tab(page, tab, marker)
                    assert cut_tiles(page) == [], (width, tab, cut_tiles(page))
                    page.screenshot(path=str(shots / f"{width}_{tab.replace(' ', '_')}.png"), full_page=True)
                step(t0, f"{width} px: no tile cut off")
            assert console.messages == [], console.messages
        finally:
            browser.close()
