"""What each tab costs the browser when nobody touches it (issue 25): headless Chromium (Debian's) on `streamlit run
app.py` with an empty database and the simulated feed started with the sidebar's Start, the app's default settings
(1 s refresh, 1 s bars, a 60-minute window), a minute collected first; then, for every tab in turn, after a settle:

- renderer CPU: CPU time (utime + stime, /proc) of Chromium's `--type=renderer` processes over the sampling period,
  divided by its wall time, in cores;
- running indicator: the share of 100 ms samples, taken by a timer inside the page, where Streamlit's status widget
  (`[data-testid="stStatusWidget"]`, the "Stop" control) is visible;
- the same share from the tab's click to the end of the settle (a full script run, which shows it): the sampler's
  control;
- charts: the live Plotly charts the tab holds, and how many of them are in view (only those are redrawn with
  `Plotly.react` when a refresh brings a new figure; the others when they are scrolled into view);
- console: browser console warnings and errors logged meanwhile.

Each tab is sampled `--runs` times (rounds over all tabs in the same browser); the table gives the median and range.
`--where bottom` samples each tab scrolled to its end instead of its top (a user reading the lower charts).
Targets: Charts' renderer < 0.3 cores, the indicator never shown during fragment refreshes.

    python bench/browser_load.py                 # 3 rounds of 30 s a tab, ~17 min (2 rounds: 12 min)
    python bench/browser_load.py --runs 1 --seconds 5 --collect 5   # a quick look
    python bench/browser_load.py --tabs Charts --where bottom        # one tab, read from its end
"""

from __future__ import annotations

import argparse
import os
import statistics
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from browser_probe import CHROMIUM, CHROMIUM_ARGS, TAB_MARKERS, ConsoleLog, renderer_cpu_seconds
from playwright.sync_api import sync_playwright
from served import serve

from dashboard.page import TABS

SETTLE_MS = 3_000  # after a tab switch (a full script run, which shows the indicator) before sampling starts

# A timer in the page: every `ms`, is Streamlit's status widget visible? Read back by STOP_JS.
START_JS = """ms => {
  window.__load = {samples: 0, shown: 0};
  window.__loadTimer = setInterval(() => {
    const status = document.querySelector('[data-testid="stStatusWidget"]');
    window.__load.samples += 1;
    if (status && status.offsetParent !== null) window.__load.shown += 1;
  }, ms);
}"""
STOP_JS = "() => { clearInterval(window.__loadTimer); return window.__load; }"
# The live charts on the open tab: how many, and how many of them intersect the viewport.
CHARTS_JS = """() => {
  const shown = [...document.querySelectorAll('.live-plot')].filter(h => h.offsetParent !== null);
  const inView = shown.filter(h => {
    const r = h.getBoundingClientRect();
    return r.bottom > 0 && r.top < innerHeight;
  });
  return {shown: shown.length, inView: inView.length};
}"""
# Scroll the open tab to its end (Streamlit scrolls its own container, so window.scrollTo would not move it).
BOTTOM_JS = """() => {
  const panel = [...document.querySelectorAll('[role=tabpanel]')].find(p => p.offsetParent !== null);
  const items = panel ? panel.querySelectorAll('[data-testid=stElementContainer]') : [];
  if (items.length) items[items.length - 1].scrollIntoView({block: 'end'});
}"""
TOP_JS = """() => {
  const panel = [...document.querySelectorAll('[role=tabpanel]')].find(p => p.offsetParent !== null);
  if (panel) panel.scrollIntoView({block: 'start'});
}"""


@dataclass(frozen=True)
class TabLoad:
    """One sampling period of one tab."""

    tab: str
    cores: float
    samples: int
    shown: int
    switch_shown: float  # share of samples showing the indicator from the tab click to the end of the settle
    console: int
    charts: int
    in_view: int
    load1: float

    @property
    def shown_share(self) -> float:
        return self.shown / self.samples if self.samples else 0.0


def measure(page: Any, console: ConsoleLog, tab: str, seconds: float, every_ms: int, where: str) -> TabLoad:
    """Open `tab` (sampling the indicator through the switch, a full script run: the sampler's control), scroll
    it to `where` (top or bottom), let it settle, then sample it untouched for `seconds`."""
    page.evaluate(START_JS, every_ms)
    page.get_by_role("tab", name=tab).click()
    page.get_by_text(TAB_MARKERS[tab], exact=False).first.wait_for(timeout=60_000)
    page.wait_for_timeout(SETTLE_MS)
    page.evaluate(BOTTOM_JS if where == "bottom" else TOP_JS)
    page.wait_for_timeout(500)
    switch = page.evaluate(STOP_JS)
    before = console.count()
    page.evaluate(START_JS, every_ms)
    cpu0, t0 = renderer_cpu_seconds(), time.monotonic()
    page.wait_for_timeout(seconds * 1000)
    cpu1, t1 = renderer_cpu_seconds(), time.monotonic()
    idle = page.evaluate(STOP_JS)
    charts = page.evaluate(CHARTS_JS)
    return TabLoad(
        tab=tab,
        cores=(cpu1 - cpu0) / (t1 - t0),
        samples=idle["samples"],
        shown=idle["shown"],
        switch_shown=switch["shown"] / max(switch["samples"], 1),
        console=console.count() - before,
        charts=charts["shown"],
        in_view=charts["inView"],
        load1=os.getloadavg()[0],
    )


def run(
    runs: int, seconds: float, every_ms: int, width: int, collect_s: float, tabs: list[str], where: str
) -> list[TabLoad]:
    """Serve the app on an empty database, Start the simulated feed, collect for `collect_s`, then measure each of
    `tabs` `runs` times."""
    out: list[TabLoad] = []
    with tempfile.TemporaryDirectory() as tmp:
        env = {"DATA_FEED": "simulated", "CRYPTO_DB_PATH": str(Path(tmp) / "ticks.db")}
        with serve(Path(tmp) / "server.log", env) as url, sync_playwright() as p:
            browser = p.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS, headless=True)
            try:
                page = browser.new_page(viewport={"width": width, "height": 1000})
                console = ConsoleLog(page)
                page.goto(url)
                page.get_by_role("button", name="Start", exact=True).wait_for(timeout=60_000)
                page.get_by_role("button", name="Start", exact=True).click()
                page.get_by_text("Last tick age: BTCUSDT").wait_for(timeout=60_000)
                page.wait_for_timeout(collect_s * 1000)
                for _ in range(runs):
                    out.extend(measure(page, console, tab, seconds, every_ms, where) for tab in tabs)
            finally:
                browser.close()
    return out


def spread(values: list[float], fmt: str) -> str:
    """The median, and the range when there is more than one value."""
    med = format(statistics.median(values), fmt)
    return med if len(values) == 1 else f"{med} ({format(min(values), fmt)}–{format(max(values), fmt)})"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=3, help="rounds over every tab")
    parser.add_argument("--seconds", type=float, default=30.0, help="sampling period per tab and round")
    parser.add_argument("--every-ms", type=int, default=100, help="running-indicator sampling interval")
    parser.add_argument("--collect", type=float, default=60.0, help="seconds collected before the first tab")
    parser.add_argument("--width", type=int, default=1280, help="browser viewport width (px)")
    parser.add_argument("--tabs", nargs="+", choices=TABS, default=list(TABS), help="the tabs to sample")
    parser.add_argument("--where", choices=("top", "bottom"), default="top", help="where each tab is read from")
    args = parser.parse_args()
    loads = run(args.runs, args.seconds, args.every_ms, args.width, args.collect, args.tabs, args.where)
    shown_head = f"running indicator shown (% of {args.every_ms} ms samples)"
    switch_head = "shown from the tab click to 3 s after (a full run)"
    print(f"| tab | renderer CPU (cores) | {shown_head} | {switch_head} | live charts (in view) | console messages |")
    print("|---|---:|---:|---:|---:|---:|")
    for tab in args.tabs:
        mine = [m for m in loads if m.tab == tab]
        cores = spread([m.cores for m in mine], ".2f")
        shown = spread([m.shown_share * 100 for m in mine], ".1f")
        switch = spread([m.switch_shown * 100 for m in mine], ".0f")
        charts, in_view = max(m.charts for m in mine), max(m.in_view for m in mine)
        console = sum(m.console for m in mine)
        print(f"| {tab} | {cores} | {shown} % | {switch} % | {charts} ({in_view}) | {console} |")
    load1 = [m.load1 for m in loads]
    print(
        f"\n{args.runs} round(s) of {args.seconds:.0f} s a tab at {args.width} px, read from its {args.where}; "
        f"1-minute load average "
        f"{min(load1):.2f}–{max(load1):.2f} on {os.cpu_count()} cores while sampling."
    )


if __name__ == "__main__":
    main()
