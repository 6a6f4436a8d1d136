"""A new user's walk through the dashboard in Chromium, at 1280 px and again at 1920 px (issue 25): an empty database,
Start (simulated feed), 1-minute bars, a paper position and an alert rule, every tab once a minute has been
collected, a simulated universe stored (with its progress bar), a scan, a row's Open button clicked (the sidebar's
pair, interval and the tab follow in one click), Pair Analytics and Backtest on that pair with its verdict and P&L
breakdown, and its entry × exit sweep. At every step: no console warning or error, no exception, no tile label or
value cut off by an ellipsis, and a full-page screenshot in $BROWSER_SHOTS (default: the test's temp dir) to look at.

Run alone:  python -m pytest -m browser tests/test_browser_walk.py   (prints each step as it goes, ~3-4 min a width)
"""

from __future__ import annotations

import contextlib
import os
import time
from pathlib import Path

import pytest
from browser_probe import CHROMIUM, CHROMIUM_ARGS, TAB_MARKERS, ConsoleLog, cut_tiles
from served import serve

pytestmark = [pytest.mark.browser, pytest.mark.timeout(600)]
SETTLE_MS = 2_500  # a tab is watched this long (two refreshes) for console messages


@pytest.fixture
def empty_server(tmp_path):
    """The app on an empty database with the simulated feed; yields its URL."""
    if not os.path.exists(CHROMIUM):
        pytest.skip(f"{CHROMIUM} is not installed (apt-get install chromium); the browser test needs it")
    env = {"DATA_FEED": "simulated", "CRYPTO_DB_PATH": str(tmp_path / "ticks.db")}
    with serve(tmp_path / "server.log", env) as url:
        yield url


@pytest.fixture
def step(pytestconfig):
    """Progress on the terminal as the walk goes (it takes minutes), past pytest's output capture: shown without
    -s."""
    capture = pytestconfig.pluginmanager.get_plugin("capturemanager")
    t0 = time.monotonic()

    def say(what: str) -> None:
        with capture.global_and_fixture_disabled():
            print(f"\n[walk {time.monotonic() - t0:5.1f} s] {what}", end="", flush=True)

    return say


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


def choose(page, label: str, option: str) -> None:
    """Pick `option` in the sidebar selectbox labelled `label` by typing it and pressing Enter once the filtered list
    shows it (the live sidebar redraws every second, which detaches an option under the mouse), retried until the
    window's caption ("… · 1min bars") says the app took it."""
    box = page.locator("[data-testid='stSidebar']").get_by_role("combobox", name=label)
    for _ in range(5):
        box.click()
        page.keyboard.type(option)
        page.get_by_role("option", name=option, exact=True).wait_for(timeout=10_000)
        page.keyboard.press("Enter")
        with contextlib.suppress(sync_api_timeout()):
            page.get_by_text(f"· {option} bars").first.wait_for(timeout=5_000)
            return
    raise AssertionError(f"{label} did not take {option!r}: it shows {box.input_value()!r}")


def sync_api_timeout() -> type[Exception]:
    """Playwright's timeout error (imported late: the module skips when playwright is not installed)."""
    from playwright.sync_api import TimeoutError as PlaywrightTimeout

    return PlaywrightTimeout


@pytest.mark.parametrize("width", [1280, 1920])
def test_a_new_user_walks_from_an_empty_database_to_a_scanned_pair(empty_server, tmp_path, step, width):
    sync_api = pytest.importorskip("playwright.sync_api", reason="pip install playwright (no browser download)")
    shots = Path(os.environ.get("BROWSER_SHOTS") or tmp_path / "shots")
    shots.mkdir(parents=True, exist_ok=True)
    with sync_api.sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS, headless=True)
        page = browser.new_page(viewport={"width": width, "height": 1000})
        console = ConsoleLog(page)

        def look(name: str) -> None:
            """No tile cut off, no console message so far; a screenshot to look at."""
            assert cut_tiles(page) == [], (width, name, cut_tiles(page))
            assert console.messages == [], (width, name, console.messages)
            page.screenshot(path=str(shots / f"{width}_{name}.png"), full_page=True)
            step(f"{width} px · {name}: no tile cut off, no console message")

        try:
            page.goto(empty_server)
            page.get_by_role("button", name="Start", exact=True).wait_for(timeout=60_000)
            page.get_by_role("button", name="Start", exact=True).click()
            page.get_by_text("Last tick age: BTCUSDT").wait_for(timeout=60_000)
            started = time.monotonic()
            choose(page, "Timeframe", "1min")
            open_tab(
                page, "Portfolio", TAB_MARKERS["Portfolio"]
            )  # while the first minute is collected: a paper position
            page.get_by_role("button", name="Open position").click()
            page.get_by_text("Opened LONG BTCUSDT").first.wait_for(timeout=30_000)
            open_tab(page, "Alerts", TAB_MARKERS["Alerts"])  # and an alert rule
            page.get_by_role("button", name="Add rule").click()
            page.get_by_text("#1 ").first.wait_for(timeout=30_000)
            page.wait_for_timeout(max(0.0, 60.0 - (time.monotonic() - started)) * 1000)  # a minute of collection
            step("collector started, 1-minute bars, a paper position and an alert rule, a minute collected")
            assert sidebar_value(page, "Timeframe") == "1min"  # kept through the tab changes and the actions
            for tab, marker in TAB_MARKERS.items():
                open_tab(page, tab, marker)
                look(f"1_start_{tab.replace(' ', '_')}")
            open_tab(page, "Scanner", TAB_MARKERS["Scanner"])
            page.get_by_role("button", name="Store a simulated universe").click()
            page.get_by_text("Storing a simulated universe").first.wait_for(timeout=30_000)  # a progress bar
            look("2_universe_storing")
            page.get_by_text("Stored 7 days").wait_for(timeout=180_000)
            step("universe stored")
            page.get_by_role("button", name="Run scan").click()
            page.locator("[data-testid='stDataFrame']").first.wait_for(timeout=180_000)
            page.wait_for_timeout(SETTLE_MS)
            look("3_scanner")
            said = page.get_by_text("sent to the full test").first.inner_text()  # issue 23: what was tested and kept
            for words in ("pairs of", "tested on", "confirmed", "left unconfirmed", "selected", "bounce (marked ⚠)"):
                assert words in said, (words, said)
            select_first_row(page)
            opener = page.get_by_role("button", name="in Pair Analytics")
            opener.wait_for(timeout=30_000)
            y, x = opener.inner_text().removeprefix("Open ").removesuffix(" in Pair Analytics").split(" / ")
            page.get_by_text(f"{y} / {x}:").first.wait_for(timeout=10_000)  # the row's verdict, above the table
            look("4_scanner_selected")
            opener.click()
            page.wait_for_function(ACTIVE_TAB_IS, arg="Pair Analytics", timeout=60_000)  # one click
            page.get_by_text(f"{y} / {x}:").first.wait_for(timeout=60_000)  # the pair's verdict, in Pair Analytics
            step(f"opened {y} / {x}")
            assert (sidebar_value(page, "Pair x"), sidebar_value(page, "Pair y")) == (x, y)
            assert sidebar_value(page, "Timeframe") == "1min"
            page.get_by_text("Cointegration and mean reversion").first.wait_for(timeout=60_000)
            page.wait_for_timeout(SETTLE_MS)
            look("5_pair")
            open_tab(page, "Backtest", "Trade log")
            page.get_by_text(f"{y} / {x}:").first.wait_for(timeout=60_000)  # its verdict, above the numbers
            page.get_by_text("Total P&L (USDT)").first.wait_for(timeout=10_000)  # and the breakdown
            look("6_backtest")
            page.get_by_role("button", name="Run sweep").click()
            computed = page.get_by_text("A grid search overfits").first
            computed.wait_for(timeout=120_000)
            computed.scroll_into_view_if_needed()
            page.wait_for_timeout(SETTLE_MS)
            look("7_sweep")
        except Exception:
            page.screenshot(path=str(shots / f"{width}_failed.png"), full_page=True)
            raise
        finally:
            browser.close()
