"""The Scanner tab's work without Streamlit: the stored universe's aligned 1-minute closes, and scans run in a
background thread whose progress and result every browser session of the process shares."""

from __future__ import annotations

import enum
import logging
import math
import threading
import time
from dataclasses import dataclass, field

import numpy as np
import pandas as pd

import analytics
import collector
import database
from core.clock import DAY_MS, time_left
from core.symbols import DEFAULT_QUOTE
from data_feed import BinanceArchive, BinanceRest
from service.controls import LOOKBACK_MINUTES
from service.window import reader

log = logging.getLogger(__name__)

SCAN_TTL_S = 900.0  # a finished scan is re-run in the background after 15 minutes


@dataclass(frozen=True)
class ScanRequest:
    """What to scan: the database, the days of 1-minute history up to `end_ms` (None = now), the quote asset
    ("" = any), the minimum median daily quote volume, the false discovery rate and the cost per leg per fill the
    edge after costs pays."""

    db_target: str
    days: int = 7
    quote: str = DEFAULT_QUOTE
    min_daily_volume: float = 0.0
    fdr: float = 0.05
    end_ms: int | None = None
    cost_bps: float = analytics.SCAN_COST_BPS  # per leg per fill: what the edge after costs pays


@dataclass
class ScanJob:
    """One request's latest scan: progress while it runs, then the table (or the error), when it finished."""

    request: ScanRequest
    stage: str = "queued"
    fraction: float = 0.0
    table: pd.DataFrame | None = None
    symbols: int = 0
    notes: list[str] = field(default_factory=list)
    error: str = ""
    finished_at: float = 0.0
    running: bool = False
    started: float = field(default_factory=time.monotonic)

    def left_s(self) -> float | None:
        """Seconds left at the rate so far (None before the first 5 %)."""
        return time_left(self.started, self.fraction)


_JOBS: dict[ScanRequest, ScanJob] = {}
_LOCK = threading.Lock()


@dataclass
class HistoryJob:
    """A load of the universe's 1-minute history from Binance (one per database at a time)."""

    quote: str
    days: int
    stage: str = "listing the universe"
    fraction: float = 0.0
    report: collector.HistoryReport | None = None
    error: str = ""
    running: bool = True
    started: float = field(default_factory=time.monotonic)
    done: str = ""  # what a finished load without a report (the simulated universe) did

    def left_s(self) -> float | None:
        """Seconds left at the rate so far (None before the first 5 %)."""
        return time_left(self.started, self.fraction)


_HISTORY: dict[str, HistoryJob] = {}


def history_job(db_target: str) -> HistoryJob | None:
    """The latest history load into this database (running or finished), or None."""
    with _LOCK:
        return _HISTORY.get(db_target)


def start_history(db_target: str, quote: str, days: int, rest: BinanceRest, archive: BinanceArchive) -> HistoryJob:
    """Load `days` of 1-minute bars for every TRADING perpetual quoted in `quote` in the background (resumable:
    stored days are skipped), unless a load into this database is running."""
    with _LOCK:
        current = _HISTORY.get(db_target)
        if current is not None and current.running:
            return current
        j = _HISTORY[db_target] = HistoryJob(quote, days)

    def run() -> None:
        try:
            symbols = rest.universe(quote)
            j.stage = f"0 of {len(symbols)} symbols"

            def progress(fraction: float, stage: str) -> None:
                j.fraction, j.stage = fraction, stage

            j.report = collector.load_binance_history(db_target, symbols, days, archive, rest, progress=progress)
        except Exception as exc:  # shown in the tab; never takes the dashboard down
            log.exception("history load failed")
            j.error = str(exc)
        finally:
            j.running = False

    threading.Thread(target=run, name="universe-history", daemon=True).start()
    return j


def start_simulated_history(db_target: str, symbols: int = 200, days: int = 7) -> HistoryJob:
    """Store a simulated universe (collector.store_simulated_history) in the background, with progress: ~20 s for
    200 symbols × 7 days, too long to block the page."""
    with _LOCK:
        current = _HISTORY.get(db_target)
        if current is not None and current.running:
            return current
        j = _HISTORY[db_target] = HistoryJob("simulated", days, stage="simulating the market")

    def run() -> None:
        try:

            def progress(fraction: float, stage: str) -> None:
                j.fraction, j.stage = fraction, stage

            planted = collector.store_simulated_history(db_target, symbols=symbols, days=days, progress=progress)
            j.done = (
                f"Stored {days} day{'' if days == 1 else 's'} of 1-minute bars for {symbols} simulated symbols "
                f"({len(planted)} planted "
                "cointegrated pairs)."
            )
        except Exception as exc:  # shown in the tab; never takes the dashboard down
            log.exception("simulated history failed")
            j.error = str(exc)
        finally:
            j.running = False

    threading.Thread(target=run, name="simulated-history", daemon=True).start()
    return j


def universe_closes(conn: database.Connection, req: ScanRequest) -> tuple[pd.DataFrame, list[str]]:
    """Aligned 1-minute closes (UTC index, one column per symbol) of every stored symbol with the quote asset and
    enough volume over the requested days, and notes on what was left out."""
    end = req.end_ms if req.end_ms is not None else int(time.time() * 1000) // 60_000 * 60_000
    start = end - req.days * DAY_MS
    symbols = [s for s in database.stored_symbols(conn) if s.endswith(req.quote)]
    if not symbols:
        return pd.DataFrame(), [f"no stored symbol quoted in {req.quote or 'any asset'}"]
    bars = database.read_bars(conn, symbols, "1min", start, end)
    notes = []
    if bars.empty:
        return pd.DataFrame(), [f"no 1-minute bars in the last {req.days} days"]
    quote = bars["quote_volume"].fillna(bars["volume"] * bars["close"])
    daily = quote.groupby([bars["symbol"], bars["timestamp"] // DAY_MS]).sum().groupby(level=0).median()
    thin = sorted(daily.index[daily < req.min_daily_volume])
    if thin:
        notes.append(f"{len(thin)} symbols below {req.min_daily_volume:,.0f} {req.quote or 'quote'} a day left out")
    bars = bars.loc[~bars["symbol"].isin(thin)]
    closes = bars.pivot(index="timestamp", columns="symbol", values="close").sort_index()
    closes.index = pd.to_datetime(closes.index, unit="ms", utc=True)
    grid = pd.date_range(closes.index[0], closes.index[-1], freq="1min")
    return closes.reindex(grid), notes


def job(req: ScanRequest) -> ScanJob | None:
    """The latest scan for this request (running or finished), or None when none was started."""
    with _LOCK:
        return _JOBS.get(req)


def start_scan(req: ScanRequest) -> ScanJob:
    """Start a scan in the background unless one for this request is running; returns its job."""
    with _LOCK:
        current = _JOBS.get(req)
        if current is not None and current.running:
            return current
        fresh = ScanJob(req, running=True)
        if current is not None:  # keep showing the previous result while the new one runs
            fresh.table, fresh.symbols, fresh.notes, fresh.finished_at = (
                current.table,
                current.symbols,
                current.notes,
                current.finished_at,
            )
        _JOBS[req] = fresh
    threading.Thread(target=_run, args=(fresh,), name="market-scan", daemon=True).start()
    return fresh


def refresh_if_stale(req: ScanRequest) -> None:
    """Re-run a finished scan in the background once it is SCAN_TTL_S old (the table stays visible meanwhile)."""
    current = job(req)
    if current is not None and not current.running and time.time() - current.finished_at > SCAN_TTL_S:
        start_scan(req)


def _run(j: ScanJob) -> None:
    try:
        j.stage, j.fraction = "reading 1-minute bars", 0.1
        with reader(j.request.db_target) as conn:
            closes, notes = universe_closes(conn, j.request)
        if closes.shape[1] < 2:
            raise analytics.InsufficientData("; ".join(notes) or "fewer than 2 symbols with 1-minute bars")
        j.stage, j.fraction = f"testing {closes.shape[1] * (closes.shape[1] - 1) // 2:,} pairs", 0.4

        def confirming(share: float) -> None:  # the full tests are most of a scan's time: 0.5 → 0.95
            j.stage, j.fraction = "the full test of the best-screened pairs", 0.5 + 0.45 * share

        table = analytics.scan_pairs(
            closes,
            fdr=j.request.fdr,
            min_overlap=min(1_440, len(closes) // 2),
            cost_bps=j.request.cost_bps,
            progress=confirming,
        )
        summary = analytics.scan_summary(table)
        notes += [f"{k}: {why.detail}" for k, why in summary.excluded.items()]
        notes += [f"{k}: {summary.noise[k]}" for k in summary.noisy]
        j.table, j.symbols, j.notes, j.error = table, closes.shape[1], notes, ""
    except Exception as exc:  # shown in the tab; a scan must never take the dashboard down
        log.exception("market scan failed")
        j.error = str(exc)
    finally:
        j.stage, j.fraction, j.finished_at, j.running = "done", 1.0, time.time(), False


def pair_view(x: str, y: str, days: int, view_symbols: list[str]) -> dict[str, object]:
    """The sidebar and tab state that shows pair (x, y) in Pair Analytics on 1-minute bars, live, over the shortest
    lookback choice that covers the scanned days (at most the longest one)."""
    covering = [m for m in LOOKBACK_MINUTES if m >= days * 1_440]
    return {
        "view_symbols": list(dict.fromkeys([x, y, *view_symbols])),
        "pair_x": x,
        "pair_y": y,
        "timeframe": "1min",
        "lookback": covering[0] if covering else max(LOOKBACK_MINUTES),
        "end_mode": "now",
        "tab": "Pair Analytics",
    }


class ScanView(enum.StrEnum):
    """Which rows of a scan a trader sees: one row per discovery (the default of the tab and the API), every selected
    pair with its echoes, every pair the full test confirmed (selected or not), or every pair screened."""

    LEADS = "leads"
    SELECTED = "selected"
    CONFIRMED = "confirmed"
    TESTED = "tested"

    @property
    def label(self) -> str:
        return {
            ScanView.LEADS: "One pair per discovery (echoes folded)",
            ScanView.SELECTED: "Discoveries with their echoes",
            ScanView.CONFIRMED: "Every pair the full test confirmed",
            ScanView.TESTED: "Every pair screened",
        }[self]


def filtered(
    table: pd.DataFrame, *, view: ScanView = ScanView.LEADS, half_life: tuple[float, float] = (0.0, math.inf)
) -> pd.DataFrame:
    """The rows a trader asked for (see :class:`ScanView`; an echo, selected or not, only from SELECTED on), half-life
    within the range (a pair without one only when the range starts at 0)."""
    if view is ScanView.LEADS:
        rows = table.loc[table["lead"]]
    elif view is ScanView.SELECTED:
        rows = table.loc[table["selected"] | (table["group"] > 0)]
    elif view is ScanView.CONFIRMED:
        rows = table.loc[table["confirmed"]]
    else:
        rows = table
    hl = rows["half_life"]
    return rows.loc[(hl >= half_life[0]) & (hl <= half_life[1]) | (np.isnan(hl) & (half_life[0] <= 0))]


def by_edge(rows: pd.DataFrame) -> pd.DataFrame:
    """The rows sorted by the edge per day after costs, best first (pairs without one last, in their scan order):
    the default order a trader reads."""
    return rows.sort_values("edge_per_day", ascending=False, na_position="last", kind="stable")


def echoes_of(table: pd.DataFrame, group: int) -> pd.DataFrame:
    """The pairs folded under a group's lead (selected or not), best first."""
    return table.loc[(table["group"] == group) & ~table["lead"]]


def summary_line(summary: analytics.ScanSummary, fdr: float) -> str:
    """The scan in one sentence: what was tested, sent to the full test, confirmed and left unconfirmed, and what was
    selected in how many groups."""
    unconfirmed = (
        f", **{summary.pairs_unconfirmed:,} left unconfirmed** (the {summary.confirm_seconds:.0f} s "
        "budget ran out; never selected)"
        if summary.pairs_unconfirmed
        else ", none left unconfirmed"
    )
    noisy = len(summary.noisy)
    testable = summary.symbols - len(summary.excluded)
    left_out = f" ({len(summary.excluded)} left out, listed below)" if summary.excluded else ""
    return (
        f"{summary.pairs_tested:,} pairs of {testable:,} symbols{left_out} tested on "
        f"{summary.formation_bars:,} formation and {summary.validation_bars:,} validation bars; "
        f"{summary.pairs_sent:,} sent to the full test, {summary.pairs_confirmed:,} confirmed{unconfirmed}; "
        f"**{summary.pairs_selected} selected** at a false discovery rate of {fdr:.0%} and out of sample, "
        f"as {summary.pairs_groups} discoveries ({summary.pairs_echoes} echoes folded under them)."
        + (f" {noisy} symbols bounce (marked ⚠)." if noisy else "")
    )


@dataclass(frozen=True)
class RowVerdict:
    """A scanned pair's reading for a trader: selected or not, one headline, and its warnings."""

    selected: bool
    headline: str
    warnings: tuple[str, ...]


DSR_WARN = 0.95  # a pick whose deflated Sharpe is below this gets a warning


def row_verdict(row: pd.Series, fdr: float) -> RowVerdict:
    """What the scan says of one pair (a row of its table): the headline from the full test, the false discovery
    control and the out-of-sample test, warned where the pair falls short or a leg's returns bounce."""
    warnings = []
    if not row["confirmed"]:
        warnings.append("not confirmed by the full Engle–Granger test (screened only)")
    elif row["qvalue"] > fdr:
        warnings.append(f"not significant after the false discovery control (q {row['qvalue']:.3f} > {fdr:g})")
    if not row["oos_confirmed"]:
        warnings.append("does not hold out of sample (the last 30 % of the window)")
    if row["confirmed"] and pd.notna(row["dsr"]) and row["dsr"] < DSR_WARN:
        warnings.append(
            f"deflated for every pair the scan tested, the chance its band's in-sample Sharpe is real is only "
            f"{row['dsr']:.0%} (DSR)"
        )
    bounce = "'s returns bounce: half-life and crossings are bounce-robust estimates"
    warnings += [f"{row[leg]}{bounce}" for leg in ("x", "y") if row[f"noisy_{leg}"]]
    if row["selected"]:
        headline = "Selected: cointegrated after the false discovery control, and holds out of sample"
    elif not row["lead"] and row["group"] > 0:
        headline = "An echo of a discovery: it shares a leg with a selected pair"
    else:
        headline = "Not selected: no evidence of a tradable cointegration"
    return RowVerdict(bool(row["selected"]), headline, tuple(warnings))
