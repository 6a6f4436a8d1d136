"""Measurements of the dashboard in a real Chromium, shared by tests/test_browser.py and bench/browser.py: the
Chromium binary and flags, "Running" and blank-chart sampling, the renderer processes' CPU from /proc, and the
drag-zoom check (is a user's zoom still there after N refreshes that brought new data?)."""

from __future__ import annotations

import os
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]
CLOCK_TICKS = os.sysconf("SC_CLK_TCK")

# One sample of the page: is a script run in progress (Streamlit shows its status widget, a "Stop" control, only
# then; its text never says "Running" in 1.67), how many chart holders are there and how many have a drawn plot.
SAMPLE_JS = """() => {
  const status = document.querySelector('[data-testid="stStatusWidget"]');
  const holders = [...document.querySelectorAll('.live-plot')].filter(h => h.offsetParent !== null);
  const drawn = holders.filter(h => h.querySelector('.main-svg .plot, .main-svg .cartesianlayer, .main-svg .hm')
                                    && h.getBoundingClientRect().height > 50).length;
  return {running: !!status && status.offsetParent !== null, holders: holders.length, drawn: drawn};
}"""

# The first visible chart's x range and how many times it has been redrawn since the probe was installed.
RANGE_JS = """() => {
  const gd = [...document.querySelectorAll('.live-plot.js-plotly-plot')].find(h => h.offsetParent !== null);
  if (!gd || !gd._fullLayout || !gd._fullLayout.xaxis) return null;
  if (!gd.__probe) { gd.__probe = {redraws: 0}; gd.on('plotly_afterplot', () => { gd.__probe.redraws += 1; }); }
  const xs = gd.data.length ? gd.data[0].x : [];
  return {range: gd._fullLayout.xaxis.range.map(String), redraws: gd.__probe.redraws, points: xs ? xs.length : 0};
}"""


@contextmanager
def chromium_page(url: str, *, width: int = 1440, height: int = 1000, **options: Any) -> Iterator[Any]:
    """A page of headless Chromium (Debian's, through the pip playwright package) opened at `url`; the browser is
    closed when the block ends, whatever happened in it."""
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS, headless=True)
        try:
            page = browser.new_page(viewport={"width": width, "height": height}, **options)
            page.goto(url)
            yield page
        finally:
            browser.close()


def descendants(pid: int) -> list[int]:
    """Every live process below `pid` (read from /proc)."""
    children: dict[int, list[int]] = {}
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            try:
                ppid = int(Path(f"/proc/{entry}/stat").read_text().rsplit(")", 1)[1].split()[1])
            except (OSError, IndexError, ValueError):
                continue
            children.setdefault(ppid, []).append(int(entry))
    out, todo = [], [pid]
    while todo:
        for child in children.get(todo.pop(), []):
            out.append(child)
            todo.append(child)
    return out


def renderer_cpu_seconds() -> float:
    """User + system CPU seconds of this process's Chromium renderer processes (`--type=renderer`)."""
    total = 0
    for pid in descendants(os.getpid()):
        try:
            if b"--type=renderer" not in Path(f"/proc/{pid}/cmdline").read_bytes():
                continue
            fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        total += int(fields[11]) + int(fields[12])
    return total / CLOCK_TICKS


@dataclass
class TabSample:
    """What a tab did over a sampling period."""

    samples: int
    running: int
    blank: int
    charts: int
    cpu_cores: float

    @property
    def running_share(self) -> float:
        return self.running / self.samples if self.samples else 0.0


def sample_tab(page: Any, seconds: float, every_s: float = 0.25) -> TabSample:
    """Sample the open tab for `seconds`: the share of samples showing "Running", the samples where fewer charts
    are drawn than the tab shows at its fullest, and the renderers' CPU in cores over the period."""
    rows = []
    cpu0, t0 = renderer_cpu_seconds(), time.monotonic()
    while time.monotonic() - t0 < seconds:
        rows.append(page.evaluate(SAMPLE_JS))
        page.wait_for_timeout(every_s * 1000)
    cpu = (renderer_cpu_seconds() - cpu0) / (time.monotonic() - t0)
    charts = max((r["holders"] for r in rows), default=0)
    blank = sum(1 for r in rows if r["drawn"] < charts)
    return TabSample(len(rows), sum(r["running"] for r in rows), blank, charts, cpu)


@dataclass
class ZoomCheck:
    """A drag-zoom and what became of it: the range right after the drag, after each refresh, and how many redraws
    (refreshes that brought a new figure) happened meanwhile."""

    zoomed: list[str]
    after: list[list[str]]
    redraws: int

    @property
    def kept(self) -> bool:
        return bool(self.after) and all(r == self.zoomed for r in self.after)


def drag_zoom(page: Any, refreshes: int = 10, timeout_s: float = 60.0) -> ZoomCheck:
    """Drag-zoom the middle fifth of the open tab's first chart, then watch its x range until `refreshes` redraws
    with new data have happened (or `timeout_s`)."""
    page.wait_for_function(f"({RANGE_JS})() !== null", timeout=30_000)
    page.evaluate(RANGE_JS)
    plot = page.locator(".live-plot.js-plotly-plot .nsewdrag").first
    plot.scroll_into_view_if_needed()
    box = plot.bounding_box()
    assert box is not None, "the chart has no drag area"
    y = box["y"] + box["height"] / 2
    page.mouse.move(box["x"] + box["width"] * 0.4, y)
    page.mouse.down()
    page.mouse.move(box["x"] + box["width"] * 0.5, y, steps=5)
    page.mouse.move(box["x"] + box["width"] * 0.6, y, steps=5)
    page.mouse.up()
    page.wait_for_timeout(300)
    first = page.evaluate(RANGE_JS)
    start = first["redraws"]
    after: list[list[str]] = []
    deadline = time.monotonic() + timeout_s
    seen = start
    while time.monotonic() < deadline and seen - start < refreshes:
        page.wait_for_timeout(250)
        now = page.evaluate(RANGE_JS)
        if now is None:
            after.append([])
            continue
        if now["redraws"] != seen:
            seen = now["redraws"]
            after.append(now["range"])
    return ZoomCheck(first["range"], after, seen - start)


class ConsoleLog:
    """Every browser console warning and error (and uncaught page error) of a page from now on."""

    def __init__(self, page: Any) -> None:
        self.messages: list[str] = []
        page.on("console", self._console)
        page.on("pageerror", lambda exc: self.messages.append(f"pageerror: {exc}"))

    def _console(self, msg: Any) -> None:
        if msg.type in ("warning", "error"):
            self.messages.append(f"{msg.type}: {msg.text[:300]}")

    def count(self) -> int:
        return len(self.messages)


# The metric tiles (main area and sidebar) whose value or label text overflows its box (drawn with an ellipsis).
CUT_TILES_JS = """() => [...document.querySelectorAll('[data-testid="stMetricValue"], [data-testid="stMetricLabel"]')]
  .filter(v => v.offsetParent !== null)
  .filter(v => [v, ...v.querySelectorAll('*')].some(e => e.scrollWidth > e.clientWidth + 1))
  .map(v => v.closest('[data-testid="stMetric"]').innerText.replace(/\\s+/g, ' '))"""


def cut_tiles(page: Any) -> list[str]:
    """The visible metric tiles whose value or label is cut off (their label and value text), empty when every one
    fits."""
    return page.evaluate(CUT_TILES_JS)


# tab -> text that shows it has rendered (on an empty database a live tab may still be warming up)
TAB_MARKERS = {
    "Dashboard": "Window:",
    "Charts": "Window:",
    "Pair Analytics": "Window:",
    "Backtest": "Window:",
    "Scanner": "Run scan",
    "Watchlist": "Watched pairs are evaluated",
    "Portfolio": "Open positions",
    "Alerts": "Rules",
    "Data Management": "Database statistics",
}
