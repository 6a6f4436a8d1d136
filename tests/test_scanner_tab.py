"""The Scanner tab (AppTest): offline universe history, a background scan with progress, the ranked table, and the
pair opened in Pair Analytics."""

from __future__ import annotations

import time
from pathlib import Path

import numpy as np
import pytest
from fake_binance import DEFAULT_SYMBOLS
from streamlit.testing.v1 import AppTest

import analytics
import collector
from dashboard.tab_scanner import NO_EDGE_MARK, NOISY_MARK
from service import scan_jobs as scanner

ROOT = Path(__file__).resolve().parents[1]


@pytest.fixture
def universe_db(tmp_path) -> tuple[str, set[frozenset[str]]]:
    path = str(tmp_path / "universe.db")
    planted = collector.store_simulated_history(path, symbols=24, days=3, planted=3, seed=3)
    return path, planted


def test_universe_history_is_stored_as_one_minute_bars(universe_db) -> None:
    import database

    path, _ = universe_db
    conn = database.open_reader(path)
    try:
        assert len(database.stored_symbols(conn)) == 24
        bars = database.read_bars(conn, ["P00XUSDT"], "1min")
    finally:
        conn.close()
    assert len(bars) == 3 * 1_440 and (bars["high"] >= bars[["open", "close"]].max(axis=1)).all()
    assert (bars["low"] <= bars[["open", "close"]].min(axis=1)).all()
    assert bars["timestamp"].diff().dropna().eq(60_000).all()
    with pytest.raises(ValueError, match="10–1,000 symbols"):
        collector.store_simulated_history(path, symbols=5)


@pytest.fixture
def page(universe_db, monkeypatch) -> AppTest:
    """The dashboard on the universe database with the simulated feed configured, run once."""
    monkeypatch.setenv("CRYPTO_DB_PATH", universe_db[0])
    monkeypatch.setenv("DATA_FEED", "simulated")
    at = AppTest.from_file(str(ROOT / "dashboard" / "page.py"), default_timeout=60)
    return at.run()


def test_scanner_tab_runs_a_scan_and_finds_the_planted_pairs(universe_db, page) -> None:
    path, planted = universe_db
    import database

    with database.open_reader(path) as conn:  # a symbol listed in the last hour: left out of the scan, counted apart
        last = int(database.read_bars(conn, ["P00XUSDT"], "1min")["timestamp"].iloc[-1])
    with database.open_writer(path) as conn:
        rows = [(last - k * 60_000, 10.0, 10.0, 10.0, 10.0 + 0.01 * (k % 7), 1.0, 1, 10.0) for k in range(60)]
        database.write_bars(conn, "1min", {"NEWUSDT": rows}, "upload")
    at = page
    at.session_state["tab"] = "Scanner"
    at.run()
    assert any("No scan yet" in i.value for i in at.main.info)
    at.number_input(key="scan_days").set_value(3).run()  # a browser reruns on the change before the click
    at.button(key="scan_run").click().run()
    req = scanner.ScanRequest(path, days=3)
    deadline = time.monotonic() + 60
    while (j := scanner.job(req)) is None or j.running:
        assert time.monotonic() < deadline, "the scan did not finish"
        time.sleep(0.2)
    at.run()
    assert not at.exception and not at.error, [e.value for e in at.error]
    assert j.table is not None
    sel = j.table.loc[j.table["selected"]]
    found = {frozenset(p) for p in zip(sel["x"], sel["y"])}
    assert found == planted
    leads = j.table.loc[j.table["lead"]]
    shown = at.dataframe[0].value
    assert len(shown) == len(leads) and set(shown["x"]) | set(shown["y"]) == set(leads["x"]) | set(leads["y"])
    summary = analytics.scan_summary(j.table)
    line = next(c.value for c in at.caption if "sent to the full test" in c.value)
    assert f"{len(sel)} selected" in line and f"{summary.pairs_confirmed:,} confirmed" in line
    assert "none left unconfirmed" in line and f"{len(summary.noisy)} symbols bounce" in line
    # the symbols counted are those tested: the ones left out (too little history, halted) are counted apart
    tested = summary.symbols - len(summary.excluded)
    assert summary.pairs_tested <= tested * (tested - 1) // 2 and f"of {tested:,} symbols" in line
    assert (f"({len(summary.excluded)} left out" in line) == bool(summary.excluded)
    assert summary.noisy  # the simulated universe's bouncing symbols, marked wherever they are shown
    at.selectbox(key="scan_view").set_value(scanner.ScanView.TESTED).run()
    every = at.dataframe[0].value
    assert len(every) == len(j.table)
    marked = {name.removesuffix(NOISY_MARK) for name in (*every["x"], *every["y"]) if name.endswith(NOISY_MARK)}
    assert marked == set(summary.noisy)
    assert all(any(name in note and "bounce" in note for note in j.notes) for name in summary.noisy)


def test_opening_a_pair_makes_it_the_analysed_pair_in_pair_analytics(page) -> None:
    at = page
    view = scanner.pair_view("P00XUSDT", "P00YUSDT", 3, ["BTCUSDT"])  # what the row's Open button applies
    at.session_state["view_symbols"] = view.pop("view_symbols")  # AppTest cannot select a dataframe row, and it
    at.run()  # re-sends the previous run's selectboxes, so the new pair must be among their options first
    for key, value in view.items():
        at.session_state[key] = value
    at.run()
    assert at.session_state["tab"] == "Pair Analytics" and "BTCUSDT" in at.session_state["view_symbols"]
    assert (at.session_state["pair_x"], at.session_state["pair_y"]) == ("P00XUSDT", "P00YUSDT")
    assert at.session_state["timeframe"] == "1min" and at.session_state["lookback"] == 7 * 1_440  # covers 3 days
    assert not at.exception
    # the verdict of that pair (a planted one: Cointegrated, or — the last-third test's 5 % false alarms — stopped)
    banner = [b.value for b in (*at.main.success, *at.main.warning) if b.value.startswith("**P00YUSDT / P00XUSDT")]
    assert banner and ("Cointegrated" in banner[0] or "Mean reversion appears to have stopped" in banner[0]), banner


@pytest.mark.network
def test_binance_history_comes_from_verified_daily_klines_and_rest_and_resumes(fb, tmp_path) -> None:
    import datetime as dt

    import database
    from data_feed import BinanceArchive, BinanceRest

    now = fb.now_ms()
    today = now - now % 86_400_000
    for symbol in ("BTCUSDT", "ETHUSDT"):
        fb.generate(symbol, 3 * 1_440 + (now - today) // 60_000, start_ms=today - 3 * 86_400_000, spacing_ms=60_000)
    missing_day = dt.datetime.fromtimestamp((today - 2 * 86_400_000) / 1000, dt.UTC).date()
    fb.archive_missing("ETHUSDT", missing_day)
    path = str(tmp_path / "history.db")
    archive, rest = BinanceArchive(fb.rest_base), BinanceRest(fb.rest_base)
    seen: list[float] = []
    report = collector.load_binance_history(
        path, ["BTCUSDT", "ETHUSDT"], 3, archive, rest, progress=lambda f, _: seen.append(f)
    )
    assert report.archive_days == 5 and seen == [0.5, 1.0]
    assert len(report.missing) == 1 and "ETHUSDT" in report.missing[0] and "404" in report.missing[0]
    conn = database.open_reader(path)
    try:
        btc = database.read_bars(conn, ["BTCUSDT"], "1min", today - 3 * 86_400_000, now)
    finally:
        conn.close()
    assert len(btc) >= 3 * 1_440 + (now - today) // 60_000 - 1 and btc["timestamp"].is_unique
    again = collector.load_binance_history(path, ["BTCUSDT", "ETHUSDT"], 3, archive, rest)
    assert again.archive_days == 0 and again.skipped_days == 5  # resumes: stored days are not fetched again


@pytest.mark.network
def test_scanner_tab_loads_the_binance_universe_history_with_progress(fb, tmp_path, monkeypatch) -> None:
    now = fb.now_ms()
    today = now - now % 86_400_000
    universe = sorted(DEFAULT_SYMBOLS)  # the fake exchange lists these perpetuals
    for symbol in universe:
        fb.generate(symbol, 1_440 + (now - today) // 60_000, start_ms=today - 86_400_000, spacing_ms=60_000)
    path = str(tmp_path / "live.db")
    monkeypatch.setenv("CRYPTO_DB_PATH", path)
    monkeypatch.setenv("DATA_FEED", "binance")
    monkeypatch.setenv("BINANCE_REST_URL", fb.rest_base)
    monkeypatch.setenv("BINANCE_ARCHIVE_URL", fb.rest_base)
    at = AppTest.from_file(str(ROOT / "dashboard" / "page.py"), default_timeout=60).run()
    at.session_state["tab"] = "Scanner"
    at.run()
    at.number_input(key="scan_days").set_value(1).run()
    at.button(key="scan_history").click().run()
    deadline = time.monotonic() + 60
    while (h := scanner.history_job(path)) is None or h.running:
        assert time.monotonic() < deadline, "the history load did not finish"
        time.sleep(0.2)
    at.run()
    assert not at.exception and not at.error, [e.value for e in at.error]
    assert h.report is not None and h.report.archive_days == len(universe) and not h.report.missing
    assert any("symbol-days from the archive" in c.value for c in at.caption)


def test_the_tab_folds_echoes_under_their_discovery_and_marks_bouncing_legs() -> None:
    from universe_fixtures import market_universe

    from dashboard.tab_scanner import table_view

    u = market_universe(
        120, 10_080, seed=2, n_planted=6, spread_sd=(0.005, 0.005), n_late=0, n_halted=0, n_bounce=6, trap_pairs=0
    )
    table = analytics.scan_pairs(u.prices)
    leads = scanner.filtered(table)  # the default view: one row per discovery
    assert leads["lead"].all() and len(leads) == analytics.scan_summary(table).pairs_groups
    shown = table_view(leads)
    assert "echoes" in shown.columns and "selected" not in shown.columns
    assert shown["echoes"].sum() == analytics.scan_summary(table).pairs_echoes > 0
    with_echoes = leads.loc[leads["echoes"] > 0].iloc[0]
    echoes = scanner.echoes_of(table, int(with_echoes["group"]))
    assert len(echoes) == with_echoes["echoes"] and not echoes["lead"].any()
    assert {with_echoes["x"], with_echoes["y"]} & (set(echoes["x"]) | set(echoes["y"]))
    everything = table_view(scanner.filtered(table, view=scanner.ScanView.TESTED), scanner.ScanView.TESTED)
    marked = {n.removesuffix(NOISY_MARK) for n in (*everything["x"], *everything["y"]) if n.endswith(NOISY_MARK)}
    assert marked == set(analytics.scan_summary(table).noisy) == u.bounce
    discoveries = scanner.filtered(table, view=scanner.ScanView.SELECTED)
    assert set(discoveries.index) == set(table.index[table["group"] > 0])
    ranked = scanner.by_edge(scanner.filtered(table, view=scanner.ScanView.CONFIRMED))  # the default order
    edges = ranked["edge_per_day"].dropna().to_numpy()
    assert (np.diff(edges) <= 0).all() and ranked["edge_per_day"].isna().to_numpy()[len(edges) :].all()
    shown = table_view(ranked, scanner.ScanView.CONFIRMED)
    assert {"edge/day after costs", "trade cycle", "covers costs"} <= set(shown.columns)
    assert shown["edge/day after costs"].iloc[0].endswith(" %")
    assert set(shown["covers costs"]) <= {"yes", NO_EDGE_MARK}
    assert shown["chance real (DSR)"].iloc[0].endswith(" %")
    lead = ranked.iloc[0]
    low, high = lead.copy(), lead.copy()
    low["dsr"], high["dsr"] = 0.3, 0.99
    [warned] = [w for w in scanner.row_verdict(low, 0.05).warnings if "DSR" in w]
    assert "30%" in warned and "every pair the scan tested" in warned
    assert not [w for w in scanner.row_verdict(high, 0.05).warnings if "DSR" in w]


def test_the_simulated_universe_is_stored_in_the_background_with_progress(tmp_path) -> None:
    path = str(tmp_path / "sim.db")
    j = scanner.start_simulated_history(path, symbols=40, days=1)
    assert scanner.start_simulated_history(path, symbols=40, days=1) is j  # one load per database at a time
    seen: set[str] = set()
    deadline = time.monotonic() + 60
    while j.running:
        assert time.monotonic() < deadline, "the simulated universe was not stored"
        seen.add(j.stage)
        time.sleep(0.01)
    assert not j.error and j.fraction == 1.0 and j.done.startswith("Stored 1 day of 1-minute bars for 40")
    assert any("of 40 symbols stored" in s for s in seen) and j.left_s() is not None and j.left_s() <= 0.0 + 1e-9
    import database

    with database.open_reader(path) as conn:
        assert len(database.stored_symbols(conn)) == 40


def test_time_left_follows_the_rate_so_far() -> None:
    from core.clock import time_left

    assert time_left(time.monotonic(), 0.01) is None  # too early to say
    assert time_left(time.monotonic() - 10.0, 0.5) == pytest.approx(10.0, abs=0.5)
    assert time_left(time.monotonic() - 10.0, 1.0) == 0.0
