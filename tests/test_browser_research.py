"""The research sections in a real browser (issue 27): Pair Analytics suggests the OU-optimal bands; the Backtest tab
shows the walk-forward in sample vs out of sample with its efficiency and equity curve, and the sweep's best cell with
its deflated Sharpe and PBO in words. The server and database are test_browser.py's `server` fixture.

Run alone:  python -m pytest -m browser tests/test_browser_research.py
Screenshots go to the test's temp dir (pair_bands, backtest_odds, walk_forward, walk_forward_equity .png).
"""

from __future__ import annotations

import contextlib

import pytest
from browser_probe import chromium_page
from test_browser import server as server  # the shared fixture: streamlit on a free port, seeded database

pytestmark = [pytest.mark.browser, pytest.mark.timeout(240)]
# Streamlit shows its status widget only while a script run is in progress (tests/browser_probe.py's SAMPLE_JS)
IDLE_JS = """() => { const s = document.querySelector('[data-testid="stStatusWidget"]');
                    return !s || s.offsetParent === null; }"""


def no_errors(page, where: str) -> None:
    """No exception box and no error alert on the page."""
    assert page.locator("[data-testid='stException']").count() == 0, f"exception on {where}"
    assert page.locator("[data-testid='stAlertContentError']").count() == 0, f"error on {where}"


def shoot(page, anchor, path) -> None:
    """A screenshot of the viewport scrolled so that `anchor` is at its top (Streamlit scrolls its own container, so
    a full-page shot would show only the first screen)."""
    anchor.first.evaluate("e => e.scrollIntoView({block: 'start'})")
    # a shot between reruns (a rerunning page is drawn faded); under load the live fragments may keep it busy, and
    # the shot is still worth taking
    with contextlib.suppress(Exception):
        page.wait_for_function(IDLE_JS, timeout=15_000)
    page.wait_for_timeout(300)
    page.screenshot(path=str(path))


def test_research_sections_in_chromium(server, tmp_path):
    pytest.importorskip("playwright.sync_api", reason="pip install playwright (no browser download)")
    with chromium_page(server) as page:
        page.wait_for_selector(".js-plotly-plot .main-svg", timeout=60_000)
        page.get_by_role("tab", name="Pair Analytics").click()
        bands = page.get_by_text("Suggested bands (OU-optimal, after costs)")
        bands.wait_for(timeout=60_000)
        for label in ("Band (z)", "Band (spread, USDT)", "Expected trade cycle", "Edge/day after costs"):
            page.get_by_text(label, exact=True).first.wait_for(timeout=30_000)
        no_errors(page, "Pair Analytics")
        shoot(page, bands, tmp_path / "pair_bands.png")

        page.get_by_role("tab", name="Backtest").click()
        page.get_by_text("Backtest at the optimal bands").click()
        page.get_by_text("In-sample: the band comes from an OU fit of the whole window").wait_for(timeout=60_000)
        page.get_by_role("button", name="Run walk-forward").click()
        page.get_by_text("Walk-forward efficiency").wait_for(timeout=90_000)
        for words in ("in sample (formation windows)", "out of sample (trading windows)", "P&L after costs"):
            page.get_by_text(words, exact=True).first.wait_for(timeout=30_000)
        page.wait_for_function(  # the backtest's equity curve and the stitched out-of-sample one, both drawn
            "() => [...document.querySelectorAll('.js-plotly-plot')].filter(g => (g._fullData || []).some("
            "t => t.name === 'Equity' && t.y && t.y.length > 1)).length >= 2",
            timeout=30_000,
        )
        page.get_by_role("button", name="Judge the best sweep cell").click()
        page.get_by_text("the chance this Sharpe is real").wait_for(timeout=120_000)
        page.get_by_text("(PBO)").wait_for(timeout=30_000)
        no_errors(page, "Backtest")
        shoot(page, page.get_by_text("Entry × exit sweep", exact=True), tmp_path / "backtest_odds.png")
        shoot(page, page.get_by_text("Optimal bands and walk-forward"), tmp_path / "walk_forward.png")
        shoot(page, page.get_by_text("Walk-forward efficiency"), tmp_path / "walk_forward_equity.png")
