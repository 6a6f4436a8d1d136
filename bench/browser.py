"""The dashboard's browser budget, in headless Chromium on the simulated feed: 1 s refresh, a 1-hour window of 1 s
bars. The database is seeded with an hour of a synthetic BTCUSDT/ETHUSDT pair (about 2 trades/s per symbol), the
app is started with `streamlit run app.py`, Start turns on the simulated feed, then for each live tab:

- "Running": the share of samples (every 250 ms) where Streamlit's status widget shows "Running";
- renderer CPU: CPU time of Chromium's renderer processes (/proc) over the sampling period, in cores;
- blank: samples where fewer charts are drawn than the tab shows at its fullest;
- zoom kept: a drag-zoom on the tab's first chart, then its x range after each of the next 10 redraws with new data.

Budget: Running <= 20 %, renderer < 1 core, zoom kept over 10 refreshes, 0 blank samples.

    python bench/browser.py                  # 30 s of samples per tab
    python bench/browser.py --seconds 60 --shots /work/shots
"""

from __future__ import annotations

import argparse
import tempfile
from pathlib import Path

from app_fixtures import seed_database
from browser_probe import CHROMIUM, CHROMIUM_ARGS, drag_zoom, sample_tab
from playwright.sync_api import sync_playwright
from served import serve

TABS = ("Dashboard", "Charts", "Pair Analytics", "Backtest")
MARKERS = {
    "Dashboard": "Return correlation",
    "Charts": "Time-series statistics",
    "Pair Analytics": "Cointegration and mean reversion",
    "Backtest": "Trade log",
}
HOUR_MS = 3_600_000


def run(seconds: float, width: int, shots: Path | None) -> list[tuple[str, float, float, str, int, int]]:
    """Seed, serve, start the simulated feed and measure every live tab; returns the table rows."""
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        db = Path(tmp) / "ticks.db"
        seed_database(str(db), 7_200, HOUR_MS, id_sign=-1)
        env = {
            "DATA_FEED": "simulated",
            "CRYPTO_DB_PATH": str(db),
            "REFRESH_INTERVAL": "1000",
            "DEFAULT_TIMEFRAME": "1s",
            "LOOKBACK_MINUTES": "60",
        }
        with serve(Path(tmp) / "server.log", env) as url, sync_playwright() as p:
            browser = p.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS, headless=True)
            try:
                page = browser.new_page(viewport={"width": width, "height": 1000})
                page.goto(url)
                page.wait_for_selector(".live-plot .main-svg", timeout=90_000)
                page.get_by_role("button", name="Start", exact=True).click()
                page.get_by_text("Last tick age: BTCUSDT").wait_for(timeout=60_000)
                for tab in TABS:
                    page.get_by_role("tab", name=tab).click()
                    page.get_by_text(MARKERS[tab], exact=False).first.wait_for(timeout=60_000)
                    page.wait_for_timeout(3_000)
                    measured = sample_tab(page, seconds)
                    zoom = drag_zoom(page, refreshes=10)
                    if shots is not None:
                        shots.mkdir(parents=True, exist_ok=True)
                        page.screenshot(
                            path=str(shots / f"bench_{tab.replace(' ', '_').lower()}_{width}px.png"), full_page=True
                        )
                    kept = f"{'yes' if zoom.kept else 'NO'} ({len(zoom.after)} redraws)"
                    rows.append(
                        (tab, measured.running_share * 100, measured.cpu_cores, kept, measured.blank, measured.samples)
                    )
            finally:
                browser.close()
    return rows


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=30.0, help="sampling period per tab")
    parser.add_argument("--width", type=int, default=1440, help="browser viewport width (px)")
    parser.add_argument("--shots", type=Path, default=None, help="save a full-page screenshot per tab here")
    args = parser.parse_args()
    rows = run(args.seconds, args.width, args.shots)
    print("| tab | Running (% of samples) | renderer CPU (cores) | zoom kept over 10 refreshes | blank samples |")
    print("|---|---:|---:|---|---:|")
    for tab, running, cpu, kept, blank, samples in rows:
        print(f"| {tab} | {running:.0f} % | {cpu:.2f} | {kept} | {blank} of {samples} |")


if __name__ == "__main__":
    main()
