"""The trading costs in a real browser: the Backtest tab's P&L by source and Pair Analytics' next funding settlement,
on a database holding the synthetic BTCUSDT/ETHUSDT pair with recorded quotes and a markPrice update per leg.

Run alone:  python -m pytest -m browser tests/test_browser_costs.py
Screenshots of both sections are saved in the test's temp dir (pytest --basetemp=DIR to keep them).
"""

from __future__ import annotations

import contextlib
import os

import pytest
from app_fixtures import PAIR, pair_path, seed_database
from browser_probe import CHROMIUM, chromium_page
from served import serve

import database
from data_feed import MarkPrice, QuoteBar
from service.controls import fmt_time

pytestmark = [pytest.mark.browser, pytest.mark.timeout(180)]

IDLE_JS = """() => {
  const status = document.querySelector('[data-testid="stStatusWidget"]');
  return !status || status.offsetParent === null;
}"""  # Streamlit shows its status widget only while a script run is in progress (tests/browser_probe.py)

SPAN_MS = 30 * 60_000
HALF_SPREAD = {PAIR[0]: 0.05, PAIR[1]: 0.005}  # one tick wide (0.1 and 0.01 USDT)
NEXT_FUNDING = {PAIR[0]: (1e-4, 8.0), PAIR[1]: (-5e-5, 4.0)}  # rate, interval (h)


def _next_settlement(now_ms: int, hours: float) -> int:
    """The next settlement on a UTC grid of `hours` (epoch ms)."""
    grid = int(hours * 3_600_000)
    return (now_ms // grid + 1) * grid


def _record_costs(db: str, end_ms: int) -> None:
    """Quote bars for every second the seeded pair traded (mid = the last trade, one tick wide) and each leg's
    markPrice update with its next settlement on its interval's grid."""
    path = pair_path(3000, end_ms, SPAN_MS, seed=7, id_sign=-1)
    last = {
        (s, int(t) // 1000 * 1000): float(p) for k, s in enumerate(PAIR) for t, p in zip(path.stamps, path.prices[k])
    }
    bars = [
        QuoteBar(s, sec, p - HALF_SPREAD[s], p + HALF_SPREAD[s], 1.0, 1.0, HALF_SPREAD[s])
        for (s, sec), p in last.items()
    ]
    updates = [
        MarkPrice(s, end_ms, float(path.prices[PAIR.index(s)][-1]), rate, _next_settlement(end_ms, hours))
        for s, (rate, hours) in NEXT_FUNDING.items()
    ]
    with contextlib.closing(database.open_writer(db)) as conn:
        database.write_quote_bars(conn, bars)
        database.write_mark_prices(conn, updates, {s: hours for s, (_, hours) in NEXT_FUNDING.items()})


@pytest.fixture
def costs_server(tmp_path):
    """`streamlit run app.py` on a free port over the seeded pair with its quotes and next funding; yields its URL and
    the data's end (epoch ms)."""
    if not os.path.exists(CHROMIUM):
        pytest.skip(f"{CHROMIUM} is not installed (apt-get install chromium); the browser test needs it")
    db = str(tmp_path / "ticks.db")
    end_ms = database.now_ms()
    seed_database(db, 3000, SPAN_MS, end_ms=end_ms, id_sign=-1)
    _record_costs(db, end_ms)
    with serve(tmp_path / "server.log", {"DATA_FEED": "simulated", "CRYPTO_DB_PATH": db}) as url:
        yield url, end_ms


def _section(page, heading: str, column: str, path: str) -> tuple[str, str]:
    """Wait for a section's heading and its table (found by a column), scroll the heading to the top, screenshot the
    view; returns the page's visible text and the table's cells (its accessible copy: raw values, unformatted)."""
    title = page.get_by_role("heading", name=heading)
    title.wait_for(timeout=60_000)
    grid = page.locator("[data-testid='stDataFrame']").filter(has_text=column)
    grid.wait_for(timeout=30_000)
    page.wait_for_timeout(1_000)  # the grid is drawn on a canvas after its DOM copy
    title.evaluate("e => e.scrollIntoView({block: 'start'})")
    page.wait_for_function(IDLE_JS, timeout=30_000)  # no script run in progress: nothing greyed as stale
    page.wait_for_timeout(500)
    page.screenshot(path=path)
    assert page.locator("[data-testid='stException']").count() == 0, f"exception near {heading}"
    assert grid.count() == 1
    return page.locator("[data-testid='stMain']").inner_text(), grid.text_content() or ""


def test_backtest_breakdown_and_next_funding_in_chromium(costs_server, tmp_path):
    url, end_ms = costs_server
    pytest.importorskip("playwright.sync_api", reason="pip install playwright (no browser download)")
    with chromium_page(url) as page:
        page.wait_for_selector(".js-plotly-plot .main-svg", timeout=60_000)
        page.get_by_role("tab", name="Backtest").click()
        shown, rows = _section(
            page, "P&L by source", "price P&L, BTCUSDT (x)", str(tmp_path / "backtest_pnl_by_source.png")
        )
        assert "fills priced at the recorded best bid/ask" in shown and "Stand-in cost" not in shown
        for source in ("price P&L, BTCUSDT (x)", "fees", "spread cost", "funding, ETHUSDT (y)", "net P&L"):
            assert source in rows
        page.get_by_role("tab", name="Pair Analytics").click()
        shown, cells = _section(
            page, "Next funding settlement", "cash, long spread", str(tmp_path / "pair_next_funding.png")
        )
        settles = {fmt_time(_next_settlement(end_ms, hours)) for _, hours in NEXT_FUNDING.values()}
        assert all(symbol in cells for symbol in PAIR) and all(t in cells for t in settles)
        assert "positive cash is received" in shown and "Both legs at their next settlements" in shown
