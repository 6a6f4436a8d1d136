"""The dashboard (dashboard/page.py, served by app.py) driven through AppTest on a database prepared by the test.

The database holds a cointegrated BTCUSDT/ETHUSDT pair (3,000 ticks per symbol over the last 30 minutes, so the
default 60-minute window sees all of it). Every test stops the process-wide collector in teardown, so no collector
thread leaks from one test into the next. The CSV builders behind the download buttons are tested as functions
(AppTest cannot fetch a download's bytes).
"""

from __future__ import annotations

import base64
import contextlib
import dataclasses
import io
import json
import re
import socket
import threading
import time
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import streamlit as st
from app_fixtures import PAIR, seed_database, sidebar_controls
from pg_cluster import database_env
from streamlit.testing.v1 import AppTest
from waiting import wait_until

import analytics as A
import collector
import config
import database
from core.vocabulary import IdSpace
from dashboard import page
from data_feed import MarkPrice, Tick
from service import alerts, deliveries, exports, uploads, window as service_window
from service.controls import Controls

ROOT = Path(__file__).resolve().parents[1]

N_PER_SYMBOL = 3000
SPAN_MS = 30 * 60_000


@pytest.fixture(autouse=True)
def no_collector_left_running():
    """After every test: the process-wide collector is stopped and none of its threads is left behind."""
    yield
    collector.stop_service()
    deadline = time.monotonic() + 5
    while (
        alive := [t.name for t in threading.enumerate() if t.name.startswith("collector-")]
    ) and time.monotonic() < deadline:
        time.sleep(0.05)
    assert not alive, f"collector threads leaked: {alive}"


@pytest.fixture
def seeded(db_path) -> str:
    """A database (a SQLite file, or a PostgreSQL database: conftest runs this module on both) with the synthetic
    pair ending now."""
    seed_database(db_path, N_PER_SYMBOL, SPAN_MS)
    return db_path


def use_database(monkeypatch: pytest.MonkeyPatch, target: str) -> None:
    """Point the page's settings at `target` as a user would: DATABASE_URL for a server, else CRYPTO_DB_PATH (and
    no DATABASE_URL, which would win)."""
    monkeypatch.delenv("DATABASE_URL", raising=False)
    for name, value in database_env(target).items():
        monkeypatch.setenv(name, value)


@pytest.fixture
def at(seeded, monkeypatch) -> AppTest:
    """The page, run once on the seeded database with the simulated feed configured (not started)."""
    use_database(monkeypatch, seeded)
    monkeypatch.setenv("DATA_FEED", "simulated")
    test = AppTest.from_file(str(ROOT / "dashboard" / "page.py"), default_timeout=60)
    test.run()
    yield test
    collector.stop_service()
    last = test.session_state.get("last_collector", None)
    if last is not None:
        last.stop()


def show(test: AppTest, tab: str) -> AppTest:
    """Switch the lazy tabs to `tab` and rerun."""
    test.session_state["tab"] = tab
    return test.run()


def assert_clean(test: AppTest) -> None:
    """No exception element and no error message on the page."""
    assert not test.exception, [e.value for e in test.exception]
    assert not test.error, [e.value for e in test.error]


def values(array: object) -> np.ndarray:
    """A figure's data array as numbers: Plotly ≥ 6 sends numeric arrays as base64 typed arrays (NaN inside)."""
    if isinstance(array, dict):
        return np.frombuffer(base64.b64decode(array["bdata"]), dtype=np.dtype(array["dtype"]))
    return np.array([np.nan if v is None else v for v in array], dtype=float)


def figures(test: AppTest) -> list[dict]:
    """Every chart on the page as its Plotly figure dict (dashboard.live_chart sends the figure JSON as the
    component's data)."""
    return [
        json.loads(json.loads(e.proto.json)["figure"])
        for e in test.get("bidi_component")
        if e.proto.component_name == "live_plotly_chart"
    ]


def chart_titles(test: AppTest) -> list[str]:
    """Titles (or first annotation) of every Plotly chart on the page."""
    titles = []
    for figure in figures(test):
        layout = figure["layout"]
        title = (layout.get("title") or {}).get("text") or ""
        notes = [a.get("text", "") for a in layout.get("annotations", [])]
        titles.append(title or (notes[0] if notes else ""))
    return titles


def metrics(test: AppTest) -> dict[str, str]:
    """Metric label → value on the main page."""
    return {m.label: m.value for m in test.main.metric}


def stored_ticks(path: str) -> int:
    """Ticks stored in the database."""
    conn = database.open_reader(path)
    try:
        return sum(s.tick_count for s in database.symbol_summaries(conn))
    finally:
        conn.close()


def test_page_runs_without_starting_a_collector(at):
    assert_clean(at)
    assert [t.label for t in at.tabs] == list(page.TABS)
    assert collector.current_collector() is None
    # the seeded ticks were received moments ago, as a headless collector's would be: the status says who writes
    assert any(
        "COLLECTOR RUNNING ELSEWHERE" in s.value and "2 symbols with trades in the last 1 min" in s.value
        for s in at.sidebar.success
    )


def test_quick_refreshes_measure_the_database_size_once(seeded, monkeypatch):
    """The sidebar's status and the Dashboard tab show the database's size at every refresh; on PostgreSQL
    pg_database_size walks the data directory, so it is measured once per target for a while (service.window)."""
    measured: list[str] = []
    real = database.database_size_bytes
    monkeypatch.setattr(database, "database_size_bytes", lambda target: measured.append(target) or real(target))
    use_database(monkeypatch, seeded)
    monkeypatch.setenv("DATA_FEED", "simulated")
    test = AppTest.from_file(str(ROOT / "dashboard" / "page.py"), default_timeout=60).run()
    test.run()
    assert_clean(test)
    assert measured == [seeded]
    assert any(c.value.startswith("Database ") and c.value.endswith(" MB") for c in test.sidebar.caption)


def test_the_status_tells_a_collector_writing_elsewhere_from_a_stopped_one(db_path, monkeypatch):
    """No collector runs in the dashboard's process, yet a headless one (or one on another machine) writes the
    database: the status said "Collector stopped — press Start". It now names the other writer, SIMULATED when its
    ticks are synthetic, with its rate once it has looked twice; ticks received over a minute ago are history."""
    now = database.now_ms()
    conn = database.open_writer(db_path)
    try:
        database.write_ticks(
            conn,
            [
                Tick("BTCUSDT", i, now - 600_000 + i, 60_000.0, 1.0, False, now - 600_000 + i, IdSpace.SIMULATED)
                for i in range(1, 11)
            ],
        )
        use_database(monkeypatch, db_path)
        test = AppTest.from_file(str(ROOT / "dashboard" / "page.py"), default_timeout=60).run()
        assert any("Collector stopped" in i.value for i in test.sidebar.info)
        for start in (100, 200):
            t = database.now_ms()
            database.write_ticks(
                conn,
                [Tick("BTCUSDT", start + i, t + i, 60_000.0, 1.0, False, t + i, IdSpace.SIMULATED) for i in range(50)],
            )
            time.sleep(0.3)
            test.run()
        (warning,) = [w.value for w in test.sidebar.warning if "SIMULATED FEED" in w.value]
        assert "another process" in warning and "1 symbol with trades" in warning and "ticks/s" in warning
        assert not any("Collector stopped" in i.value for i in test.sidebar.info)
    finally:
        conn.close()


def test_dashboard_shows_price_cards_pair_and_compact_chart(at):
    found = metrics(at)
    assert {"BTCUSDT", "ETHUSDT"} <= set(found)
    assert float(found["BTCUSDT"].replace(",", "")) > 1000
    z = found["z-score ETHUSDT/BTCUSDT"]
    assert z != "—" and abs(float(z)) < 10
    assert 0.02 < float(found["Hedge ratio β (kalman)"]) < 0.06  # the fixture's beta is 0.04
    assert len(figures(at)) == 1  # lazy tabs: only the open tab draws


@pytest.mark.parametrize(
    "tab, min_charts",
    [("Charts", 5), ("Pair Analytics", 5), ("Backtest", 2), ("Portfolio", 0), ("Alerts", 0), ("Data Management", 0)],
)
def test_every_tab_renders(at, tab, min_charts):
    show(at, tab)
    assert_clean(at)
    assert not [i.value for i in at.main.info], "a view said it lacks data"
    assert len(figures(at)) >= min_charts


def test_backtest_shows_the_pnl_by_source_and_pair_analytics_the_next_funding(at, seeded):
    show(at, "Backtest")
    assert_clean(at)
    (table,) = [d.value for d in at.dataframe if "source" in d.value.columns]
    assert list(table["source"])[-1] == "net P&L"
    assert table["USDT"].iloc[:-1].sum() == pytest.approx(table["USDT"].iloc[-1], abs=1e-6)
    assert any("Stand-in cost" in w.value for w in at.main.warning)  # the fixture recorded no quotes
    with contextlib.closing(database.open_writer(seeded)) as conn:
        settles = database.now_ms() + 3_600_000
        database.write_mark_prices(conn, [MarkPrice(PAIR[1], database.now_ms(), 3_000.0, 1e-4, settles)], {})
    show(at, "Pair Analytics")
    assert_clean(at)
    (funding,) = [d.value for d in at.dataframe if "cash, long spread" in d.value.columns]
    row = funding.set_index("leg").loc[PAIR[1]]
    assert row["funding rate (%)"] == pytest.approx(0.01) and row["cash, long spread"] < 0  # a long y leg pays
    assert row["cash, short spread"] == pytest.approx(-row["cash, long spread"])


def test_charts_tab_candles_volume_normalised_statistics_distributions(at):
    show(at, "Charts")
    specs = figures(at)
    assert {t["type"] for t in specs[0]["data"]} == {"candlestick", "bar"}
    # the pair's two legs in one chart on one time axis: they zoom together (and cost the browser one graph)
    assert sum(t["type"] == "candlestick" for t in specs[0]["data"]) == 2
    assert any("Rebased" in (s["layout"].get("yaxis", {}).get("title") or {}).get("text", "") for s in specs)
    table = at.dataframe[0].value  # one column per symbol: no header cut, each in its tick decimals
    assert {"BTCUSDT", "ETHUSDT"} <= set(table.columns) and {"high", "low", "σ price", "volume", "bars"} <= set(
        table.index
    )
    btc = table["BTCUSDT"]
    assert re.fullmatch(r"\d{2},\d{3}\.\d{1,2}", btc["last"]) and re.fullmatch(r"-?\d+\.\d{3}", btc["change %"])
    assert re.fullmatch(r"[\d,]+", btc["trades"]) and all(len(v) <= 14 for v in table.to_numpy().ravel())
    at.toggle(key="show_volume").set_value(False).run()
    assert {t["type"] for t in figures(at)[0]["data"]} == {"candlestick"}
    show(at, "Dashboard")
    show(at, "Charts")
    assert at.toggle(key="show_volume").value is False  # in-tab widgets keep their state across tab switches


def test_regression_method_changes_the_hedge(at):
    show(at, "Pair Analytics")
    assert "Hedge ratio β (kalman)" in chart_titles(at)
    assert metrics(at)["R²"] == "—"
    at.selectbox(key="method").set_value("ols").run()
    assert_clean(at)
    assert "Hedge ratio β (ols)" in chart_titles(at)
    assert 0 < float(metrics(at)["R²"]) <= 1
    verdicts = at.table[0].value  # a static table: the readings wrap instead of being cut
    labels = {
        str(t.label)
        for t in (
            A.PairTest.ENGLE_GRANGER,
            A.PairTest.HALF_LIFE,
            A.PairTest.HURST,
            A.PairTest.STABILITY,
            A.PairTest.SPREAD_HALF_LIFE,
            A.PairTest.PERSISTENCE_CHANGE,
        )
    }
    assert labels <= set(verdicts.index) and not any("ADF on the spread" in t for t in verdicts.index)
    eg = verdicts.loc[A.PairTest.ENGLE_GRANGER.label, "reading"]
    banner = [b.value for b in (*at.main.success, *at.main.warning) if "Engle–Granger p" in b.value]
    assert len(banner) == 1  # one overall verdict, and it agrees with the test table beside it
    assert ("Not cointegrated" in banner[0]) == eg.startswith("No evidence")
    show(at, "Dashboard")
    assert any("Engle–Granger p" in b.value for b in (*at.main.success, *at.main.warning))


def test_a_tab_says_it_is_working_on_its_first_draw_only(seeded, monkeypatch):
    """A live tab's first draw for new settings (a long window's read, fits, tests) shows a line saying it is
    working; its refreshes with the same settings reuse the caches and show none (issue 25: an empty tab for 7.7 s)."""
    said: list[str] = []
    real = st.empty

    class Slot:
        """An st.empty() placeholder that records the captions written into it."""

        def __init__(self) -> None:
            self.slot = real()

        def caption(self, text: str, **kwargs: object) -> object:
            said.append(text)
            return self.slot.caption(text, **kwargs)

        def __getattr__(self, name: str) -> object:
            return getattr(self.slot, name)

    monkeypatch.setattr(st, "empty", Slot)
    use_database(monkeypatch, seeded)
    monkeypatch.setenv("DATA_FEED", "simulated")
    working = [
        f":material/hourglass_top: Reading the window and computing the {tab} tab…"
        for tab in ("Dashboard", "Pair Analytics")
    ]
    test = AppTest.from_file(str(ROOT / "dashboard" / "page.py"), default_timeout=60).run()
    assert [s for s in said if "Reading the window" in s] == working[:1]
    test.run()
    show(test, "Pair Analytics")
    test.run()
    assert [s for s in said if "Reading the window" in s] == working
    test.selectbox(key="method").set_value("ols").run()
    assert_clean(test)
    assert [s for s in said if "Reading the window" in s] == [*working, working[1]]
    assert not [c for c in test.main.caption if "Reading the window" in c.value]  # gone once drawn


def test_in_sample_option_is_labelled_and_pause_stops_refresh(at):
    show(at, "Backtest")
    assert at.checkbox(key="in_sample").disabled  # kalman: no in-sample variant
    at.selectbox(key="method").set_value("ols").run()
    at.checkbox(key="in_sample").check().run()
    assert_clean(at)
    assert any("IN-SAMPLE" in w.value for w in at.main.warning)
    at.toggle(key="paused").set_value(True).run()
    assert any("Auto-refresh paused" in c.value for c in at.sidebar.caption)


def test_lookback_timeframe_and_scroll_back_change_the_window(at):
    def bars_shown() -> int:
        return int(at.main.caption[1].value.split("·")[1].split()[0].replace(",", ""))

    full = bars_shown()
    at.selectbox(key="lookback").set_value(5).run()
    assert bars_shown() < full / 3
    at.selectbox(key="lookback").set_value(60)
    at.selectbox(key="timeframe").set_value("1min").run()
    assert 25 <= bars_shown() <= 32
    at.radio(key="end_mode").set_value("earlier").run()
    at.datetime_input(key="end_at").set_value(
        pd.Timestamp.now("UTC").tz_localize(None).floor("min") - pd.Timedelta(hours=3)
    ).run()
    assert_clean(at)
    assert any("no bars" in i.value for i in at.main.info)


def test_download_buttons_are_offered(at):
    show(at, "Data Management")
    labels = {b.proto.label for b in at.download_button}
    assert labels == {"OHLC bars (CSV)", "Pair analytics (CSV)", "Backtest trade log (CSV)"}
    [raw] = [e for e in at.get("link_button") if e.proto.label == "Raw ticks (CSV)"]  # streamed by the API
    assert raw.proto.url.startswith("/api/ticks.csv?symbols=BTCUSDT%2CETHUSDT&start=")
    show(at, "Backtest")
    assert "Download trade log (CSV)" in {b.proto.label for b in at.download_button}
    show(at, "Pair Analytics")
    assert "Download pair analytics (CSV)" in {b.proto.label for b in at.download_button}


def controls(db_path: str, **changes) -> Controls:
    """Controls as the sidebar defaults make them, for the CSV builders."""
    return sidebar_controls(db_path, **changes)


def test_csv_builders_columns_and_rows(seeded):
    c = controls(seeded)
    bars = pd.read_csv(io.BytesIO(exports.window_csv(c, exports.bars_frame)))
    assert list(bars.columns) == [
        "symbol",
        "timestamp",
        "time_utc",
        "open",
        "high",
        "low",
        "close",
        "volume",
        "trades",
        "filled",
    ]
    assert set(bars["symbol"]) == set(PAIR) and bars.groupby("symbol")["trades"].sum().eq(N_PER_SYMBOL).all()
    pair_csv = exports.window_csv(c, exports.pair_frame)
    pair = pd.read_csv(io.BytesIO(pair_csv), dtype=str)
    assert list(pair.columns) == [
        "timestamp",
        "time (UTC)",
        "BTCUSDT",
        "ETHUSDT",
        "β",
        "α",
        "spread",
        "z-score",
        "correlation",
        "quantity x",
        "quantity y",
        "price P&L x (USDT)",
        "price P&L y (USDT)",
        "fees (USDT)",
        "spread cost (USDT)",
        "slippage (USDT)",
        "funding x (USDT)",
        "funding y (USDT)",
        "net P&L (USDT)",
    ]
    assert len(pair) == (bars["symbol"] == "BTCUSDT").sum()
    digits = [v.lstrip("-").replace(".", "").lstrip("0") for v in pair["β"].dropna()]
    assert digits and all(len(d) <= 8 for d in digits)  # 8 significant digits, never 17 of binary noise
    trades = pd.read_csv(io.BytesIO(exports.window_csv(c, exports.trades_frame)))
    assert {
        "entry time (UTC)",
        "exit time (UTC)",
        "side",
        "net P&L (USDT)",
        "fees (USDT)",
        "spread cost (USDT)",
        "funding (USDT)",
        "exit reason",
    } <= set(trades.columns)
    assert not [col for col in trades.columns if "_" in col], "snake_case header"
    assert pd.api.types.is_numeric_dtype(trades["holding (s)"])  # seconds, never "0 days 00:01:08"
    assert (trades["holding (s)"] == trades["holding bars"] * 1.0).all()  # 1 s bars
    # the pair CSV's per-bar P&L by source adds up to the trade log's net P&L (both rounded to 1e-4 USDT)
    net = pd.to_numeric(pair["net P&L (USDT)"]).sum()
    assert net == pytest.approx(trades["net P&L (USDT)"].sum(), abs=1e-4 * (len(pair) + len(trades)))
    assert len(trades) > 0
    minute = pd.read_csv(io.BytesIO(exports.window_csv(controls(seeded, timeframe="1min"), exports.bars_frame)))
    assert 2 * 29 <= len(minute) <= 2 * 31


def ndjson(rows: list[dict]) -> bytes:
    """NDJSON upload bytes."""
    return "\n".join(json.dumps(r) for r in rows).encode()


def tick_rows(n: int, symbol: str = "SOLUSDT") -> list[dict]:
    """n valid NDJSON ticks one second apart ending now."""
    now = database.now_ms()
    return [{"symbol": symbol, "ts": now - (n - i) * 1000, "price": 150 + i * 0.01, "size": 1.0} for i in range(n)]


def test_parse_upload_rejects_bad_line_and_size(seeded):
    rows = tick_rows(5)
    rows[2]["price"] = "abc"
    with pytest.raises(uploads.UploadError, match=r"line 3"):
        uploads.parse_upload(ndjson(rows), "bad.ndjson", "ticks")
    with pytest.raises(uploads.UploadError, match=r"limit is 1 MB"):
        uploads.parse_upload(b"x" * (2**20 + 1), "big.ndjson", "ticks", max_mb=1)
    with pytest.raises(uploads.UploadError, match="need a symbol"):
        uploads.parse_upload(b"ts,open,high,low,close,volume\n1723161000000,1,1,1,1,1\n", "bars.csv", "bars")
    parsed = uploads.parse_upload(ndjson(tick_rows(5)), "good.ndjson", "ticks")
    assert parsed.count == 5 and list(uploads.preview(parsed).columns)[:3] == ["symbol", "trade_id", "timestamp"]
    assert "Stored 5 new ticks" in uploads.store_upload(seeded, parsed)


def test_upload_with_bad_row_shows_the_line_and_stores_nothing(at, seeded):
    show(at, "Data Management")
    before = stored_ticks(seeded)
    rows = tick_rows(50)
    rows[41]["size"] = -3
    at.file_uploader(key="upload_file").upload("ticks.ndjson", ndjson(rows), "application/x-ndjson").run()
    errors = [e.value for e in at.error]
    assert len(errors) == 1 and "line 42" in errors[0] and "Nothing was stored" in errors[0]
    assert "upload_store" not in {b.key for b in at.button}
    assert stored_ticks(seeded) == before


def test_uploads_store_ticks_and_ohlcv_bars(at, seeded):
    show(at, "Data Management")
    at.file_uploader(key="upload_file").upload("sol.ndjson", ndjson(tick_rows(30)), "application/x-ndjson").run()
    assert_clean(at)
    assert len(at.dataframe) >= 1
    at.button(key="upload_store").click().run()
    assert any("Stored 30 new ticks" in s.value for s in at.success)
    assert stored_ticks(seeded) == 2 * N_PER_SYMBOL + 30

    at.radio(key="upload_kind").set_value("bars").run()
    at.text_input(key="upload_symbol").set_value("adausdt")
    at.selectbox(key="upload_timeframe").set_value("5min")
    start = database.now_ms() // 300_000 * 300_000 - 3_600_000
    csv = "ts,open,high,low,close,volume\n" + "".join(
        f"{start + i * 300_000},{0.45 + i / 1000},{0.46 + i / 1000},{0.44 + i / 1000},{0.455 + i / 1000},100\n"
        for i in range(12)
    )
    at.file_uploader(key="upload_file").clear().upload("ada.csv", csv.encode(), "text/csv").run()
    at.button(key="upload_store").click().run()
    assert any("Stored 12 5min bars for ADAUSDT" in s.value for s in at.success)
    at.button(key="upload_show").click().run()
    assert_clean(at)
    assert "ADAUSDT" in at.multiselect(key="view_symbols").value
    show(at, "Charts")
    assert any(t.startswith("ADAUSDT") for t in chart_titles(at))


def test_symbol_and_series_listings(seeded):
    with contextlib.closing(database.open_writer(seeded)) as conn:
        database.write_bars(conn, "5min", {"ADAUSDT": [(300_000 * 5_000_000, 1.0, 1.0, 1.0, 1.0, 5.0)]}, "upload")
        assert database.stored_symbols(conn) == ["ADAUSDT", "BTCUSDT", "ETHUSDT"]
        series = database.bar_series(conn)
    assert [(s, tf) for s, tf, _, _ in series] == [
        ("ADAUSDT", "5min"),
        ("BTCUSDT", "1min"),
        ("BTCUSDT", "1s"),
        ("ETHUSDT", "1min"),
        ("ETHUSDT", "1s"),
    ]


@pytest.mark.sqlite_only
def test_symbol_and_series_listings_use_index_seeks_only(seeded):
    """The listings' next-key step is an index seek (SQLite's plan; PostgreSQL's planner rightly scans a table this
    small whatever its indexes, so its plans are measured at size by bench/refresh.py instead)."""
    conn = database.open_writer(seeded)
    try:
        plan = " ".join(
            str(r)
            for r in conn.execute(
                "EXPLAIN QUERY PLAN SELECT symbol, timeframe FROM ohlc_data WHERE (symbol, timeframe, timestamp) > "
                "(?, ?, ?) ORDER BY symbol, timeframe, timestamp LIMIT 1",
                ("A", "1s", 0),
            ).fetchall()
        )
        assert "SEARCH" in plan and "SCAN" not in plan
    finally:
        conn.close()


def test_alert_rule_fires_once_with_toast_and_history(at, seeded):
    show(at, "Alerts")
    at.selectbox(key="alert_metric").set_value("price")
    at.selectbox(key="alert_x").set_value("BTCUSDT")
    at.selectbox(key="alert_op").set_value(">")
    at.number_input(key="alert_threshold").set_value(1.0)
    at.button(key="alert_add").click().run()
    assert_clean(at)
    assert any("price BTCUSDT > 1" in t.value for t in at.toast)
    history = at.dataframe[0].value
    assert len(history) == 1 and "price BTCUSDT > 1" in history["message"].iloc[0]

    at.selectbox(key="alert_metric").set_value("zscore").run()
    at.selectbox(key="alert_x").set_value("BTCUSDT")
    at.selectbox(key="alert_y").set_value("ETHUSDT")
    at.selectbox(key="alert_op").set_value(">")
    at.number_input(key="alert_threshold").set_value(-1000.0)
    at.button(key="alert_add").click().run()
    assert any("z-score ETHUSDT vs BTCUSDT > -1000" in t.value for t in at.toast)
    assert len(at.dataframe[0].value) == 2
    at.run()
    assert len(at.dataframe[0].value) == 2  # a level rule fires when it turns true, not on every refresh
    conn = database.open_reader(seeded)
    rules = database.list_alert_rules(conn)
    conn.close()
    at.button(key=f"alert_del_{rules[0].id}").click().run()
    assert len(at.dataframe[0].value) == 1


def test_alert_deliveries_section_shows_attempts_without_secrets(at, seeded):
    """A fired rule is handed to the delivery worker; its attempts (here to a closed port) show in the Alerts tab's
    Deliveries section with the target redacted, and the webhook's secret path appears nowhere on the page."""
    secret = "T0001/B0002/pagesecretXYZ"
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    env = {**database_env(seeded), "ALERT_SLACK_URL": f"http://127.0.0.1:{port}/{secret}", "ALERT_RETRIES": "0"}
    deliveries.start_deliveries(config.load_settings(env))
    try:
        show(at, "Alerts")
        assert any("No delivery attempt yet" in c.value for c in at.caption)
        at.selectbox(key="alert_metric").set_value("price")
        at.selectbox(key="alert_x").set_value("BTCUSDT")
        at.selectbox(key="alert_op").set_value(">")
        at.number_input(key="alert_threshold").set_value(1.0)
        at.button(key="alert_add").click().run()
        assert wait_until(lambda: deliveries.recent_attempts(seeded), timeout=30)
        at.run()
        [table] = [d.value for d in at.dataframe if "channel" in d.value.columns]
        assert table["status"].tolist() == ["dead"] and table["target"].tolist() == [f"http://127.0.0.1:{port}/…"]
        assert "price BTCUSDT > 1" in table["message"].iloc[0]
        assert any(f"http://127.0.0.1:{port}/…" in c.value for c in at.caption)
        page_text = " ".join([c.value for c in at.caption] + [d.value.to_csv() for d in at.dataframe])
        assert secret not in page_text and "pagesecret" not in page_text
    finally:
        deliveries.stop_deliveries()


def test_alert_fires_only_on_transition():
    rule = database.AlertRule(1, "zscore", "BTCUSDT", "ETHUSDT", ">", 2.0, True, 0, None, None)
    assert alerts.alert_fires(rule, 2.5)
    assert not alerts.alert_fires(dataclasses.replace(rule, last_value=2.2), 2.5)
    assert alerts.alert_fires(dataclasses.replace(rule, last_value=1.0), 2.5)
    crossing = dataclasses.replace(rule, op="crosses_below", threshold=0.0, last_value=0.3)
    assert alerts.alert_fires(crossing, -0.1) and not alerts.alert_fires(crossing, 0.2)


def test_portfolio_open_and_close_a_paper_position(at):
    show(at, "Portfolio")
    at.selectbox(key="pf_symbol").set_value("ETHUSDT")
    at.radio(key="pf_side").set_value("SHORT")
    at.number_input(key="pf_notional").set_value(2500.0)
    at.button(key="pf_open").click().run()
    assert_clean(at)
    assert metrics(at)["Open positions"] == "1"
    assert any("Opened SHORT ETHUSDT worth 2,500" in s.value for s in at.success)
    close = [b for b in at.button if b.key and b.key.startswith("pf_close_")]
    close[0].click().run()
    assert metrics(at)["Open positions"] == "0"
    assert metrics(at)["Win rate"] in ("0%", "100%")
    assert len(at.dataframe[0].value) == 1


def test_clear_database_needs_confirmation(at, seeded):
    show(at, "Data Management")
    assert at.button(key="clear_db").disabled
    at.checkbox(key="confirm_clear").check().run()
    at.button(key="clear_db").click().run()
    assert any("Database cleared" in s.value for s in at.success)
    assert stored_ticks(seeded) == 0


def test_start_and_stop_the_simulated_collector(at):
    at.button(key="start").click().run()
    assert_clean(at)
    assert any("SIMULATED FEED" in w.value for w in at.sidebar.warning)
    running = collector.current_collector()
    assert running is not None and running.feed.kind == "simulated"
    deadline = time.monotonic() + 10
    while running.stats().written == 0 and time.monotonic() < deadline:
        time.sleep(0.2)
    at.run()
    assert int({m.label: m.value for m in at.sidebar.metric}["Written"].replace(",", "")) > 0
    at.button(key="stop").click().run()
    assert collector.current_collector() is None
    assert any("Collector stopped" in i.value for i in at.sidebar.info)


def closed_port() -> int:
    """A loopback port nothing listens on."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def test_no_network_shows_the_error_and_switches_to_simulated(seeded, monkeypatch):
    port = closed_port()
    use_database(monkeypatch, seeded)
    monkeypatch.setenv("DATA_FEED", "binance")
    monkeypatch.setenv("BINANCE_WS_URL", f"ws://127.0.0.1:{port}")
    monkeypatch.setenv("BINANCE_REST_URL", f"http://127.0.0.1:{port}")
    test = AppTest.from_file(str(ROOT / "dashboard" / "page.py"), default_timeout=60)
    try:
        test.run()
        test.button(key="start").click().run()
        deadline = time.monotonic() + 15
        while not [e for e in test.sidebar.error if "Cannot get data from Binance" in e.value]:
            assert time.monotonic() < deadline, [e.value for e in test.sidebar.error]
            time.sleep(0.5)
            test.run()
        assert not test.exception
        message = next(e.value for e in test.sidebar.error if "Cannot get data from Binance" in e.value)
        assert "refused" in message.lower()
        test.button(key="switch_simulated").click().run()
        assert not test.exception
        running = collector.current_collector()
        assert running is not None and running.feed.kind == "simulated"
        assert test.session_state["feed"] == "simulated"
        assert any("SIMULATED FEED" in w.value for w in test.sidebar.warning)
    finally:
        collector.stop_service()


def test_bad_configuration_and_unusable_database_are_shown_not_raised(seeded, monkeypatch, tmp_path):
    """A bad setting, then a database that cannot be opened (a file in a missing folder; a server nothing listens
    on): each is an error message on the page, never an exception."""
    use_database(monkeypatch, seeded)
    monkeypatch.setenv("REFRESH_INTERVAL", "fast")
    test = AppTest.from_file(str(ROOT / "dashboard" / "page.py"), default_timeout=60).run()
    assert not test.exception
    assert "REFRESH_INTERVAL='fast'" in test.error[0].value
    monkeypatch.delenv("REFRESH_INTERVAL")
    server = seeded.startswith("postgresql://")
    unusable = (
        f"postgresql://postgres:s3cret@127.0.0.1:{closed_port()}/ticks"
        if server
        else str(tmp_path / "missing-dir" / "ticks.db")
    )
    use_database(monkeypatch, unusable)
    test = AppTest.from_file(str(ROOT / "dashboard" / "page.py"), default_timeout=60).run()
    assert not test.exception
    if server:  # an unreachable server is an outage: said as such, and tried again until it answers
        (message,) = [w.value for w in test.warning]
        assert "is unreachable" in message and "comes back by itself" in message and "refused" in message
    else:
        message = test.error[0].value
        assert "Cannot open the database" in message
    assert "s3cret" not in message  # the password is never shown
    assert ("(DATABASE_URL)" if server else "(CRYPTO_DB_PATH)") in message


@pytest.mark.timeout(120)
def test_history_backfill_from_the_sidebar_fills_the_database(db_path, monkeypatch):
    from fake_binance import FakeBinance

    with FakeBinance() as fb:
        for symbol in ("BTCUSDT", "ETHUSDT"):
            fb.generate(symbol, 2000, spacing_ms=100)  # 200 s of trades before Start
        use_database(monkeypatch, db_path)
        monkeypatch.setenv("DATA_FEED", "binance")
        monkeypatch.setenv("BINANCE_WS_URL", fb.ws_base)
        monkeypatch.setenv("BINANCE_REST_URL", fb.rest_base)
        test = AppTest.from_file(str(ROOT / "dashboard" / "page.py"), default_timeout=60)
        try:
            test.run()
            test.number_input(key="backfill_minutes").set_value(10).run()
            test.button(key="start").click().run()
            deadline = time.monotonic() + 30
            while True:
                test.run()
                bars = [p for p in test.sidebar.get("progress") if "Backfill" in p.proto.text]
                if bars and all(p.proto.text.endswith("100%") for p in bars) and len(bars) == 2:
                    break
                assert time.monotonic() < deadline, [p.proto.text for p in bars]
                time.sleep(0.5)
            assert not test.exception
            conn = database.open_reader(db_path)
            for symbol in ("BTCUSDT", "ETHUSDT"):
                ids = [
                    r[0] for r in conn.execute("SELECT trade_id FROM ticks WHERE symbol=? ORDER BY trade_id", (symbol,))
                ]
                assert ids[:2000] == list(fb.history_ids(symbol))[:2000]
        finally:
            collector.stop_service()


def test_streamlit_seed_ohlc_upload_format_with_a_symbol_column(seeded):
    data = (
        b"symbol,timestamp,open,high,low,close,volume\n"
        b"SOLUSDT,1723161000000,150,151,149,150.5,10\nBNBUSDT,1723161060000,600,601,599,600.5,5\n"
    )
    parsed = uploads.parse_upload(data, "seed_ohlc.csv", "bars", timeframe="1min")
    assert parsed.symbols == ["BNBUSDT", "SOLUSDT"]
    assert "2 1min bars for BNBUSDT, SOLUSDT" in uploads.store_upload(seeded, parsed)
    conn = database.open_reader(seeded)
    assert conn.execute("SELECT symbol, open FROM ohlc_data WHERE source='upload' ORDER BY symbol").fetchall() == [
        ("BNBUSDT", 600.0),
        ("SOLUSDT", 150.0),
    ]
    with pytest.raises(uploads.UploadError, match=r"bad.csv: line 2: .*BTC/USDT"):
        uploads.parse_upload(b"symbol,timestamp,open,high,low,close,volume\nBTC/USDT,1,1,1,1,1,1\n", "bad.csv", "bars")


def test_guard_shows_data_shortage_as_info_and_any_other_analytics_error_as_error():
    def script():
        import analytics
        from dashboard.widgets import guard

        with guard("Short section"):
            raise analytics.InsufficientData("need 120 bars, have 45")
        with guard("Broken section"):
            analytics.fit_hedge([1.0, 2.0, 3.0, 4.0, 5.0], [2.0, 4.0, 6.0, 8.0, 11.0], "nonsense")

    at = AppTest.from_function(script).run(timeout=30)
    assert [i.value for i in at.info] == ["**Short section** — need 120 bars, have 45"]
    assert len(at.error) == 1 and "Broken section** failed" in at.error[0].value
    assert "unknown hedge method" in at.error[0].value


def test_first_ticks_after_an_empty_read_load_with_the_session_cache(db_path):
    """Start on an empty database: the cached empty read (object dtype) must not poison the next refresh's bars
    (it raised "column 'timestamp' must hold integer epoch milliseconds, got dtype object" until the full re-read)."""
    from service import window as model

    path = db_path
    database.open_writer(path).close()
    c = controls(path)
    cache: dict = {}
    conn = database.open_reader(path)
    try:
        with pytest.raises(A.InsufficientData):
            model.load_window(conn, c, cache=cache).require()
        seed_database(path, 300, 60_000)
        window = model.load_window(conn, c, cache=cache)
        assert set(window.require()) == set(PAIR)
    finally:
        conn.close()


def add_sparse_symbol(path: str) -> None:
    """SOLUSDT as 199 uploaded 1s bars 5 s apart, ending now."""
    end = database.now_ms() // 1000 * 1000
    with contextlib.closing(database.open_writer(path)) as writer:
        bars = [(end - k * 5000, 10.0, 10.5, 9.5, 10.0 + k / 100, 1.0, 3, 10.0) for k in range(1, 200)]
        database.write_bars(writer, "1s", {"SOLUSDT": bars}, source="upload")


def test_sparse_symbol_with_5s_gaps_loads_as_1s_bars(db_path):
    """1s bars 5 s apart (a sparse upload) are sparse 1s bars, not 5s bars: the window loads them (it raised
    "cannot resample 0 days 00:00:05 bars into finer 1s bars", which replaced the whole Dashboard)."""
    from service import window as model

    path = db_path
    add_sparse_symbol(path)
    conn = database.open_reader(path)
    try:
        window = model.load_window(conn, controls(path, symbols=["SOLUSDT"], pair=None))
    finally:
        conn.close()
    sol = window.require(["SOLUSDT"])["SOLUSDT"]
    assert (~sol["filled"]).sum() == 199 and sol.index.to_series().diff().min() == pd.Timedelta(seconds=1)


def test_price_card_change_names_the_span_covered_and_rate_only_when_live(at):
    """30 min of data in a 1 h window: the change reads "over 30 min", not "(1 h)"; a window in the past shows no
    "0.0 ticks/s" (there is no live rate to report)."""
    delta = next(m.proto.delta for m in at.main.metric if m.label == "BTCUSDT")
    assert "(1 h)" not in delta and delta.endswith("over 30 min"), delta
    assert "ticks/s" in at.main.caption[1].value
    at.radio(key="end_mode").set_value("earlier").run()
    at.datetime_input(key="end_at").set_value(
        pd.Timestamp.now("UTC").tz_localize(None).floor("min") + pd.Timedelta(minutes=1)
    ).run()
    assert_clean(at)
    captions = [c.value for c in at.main.caption]
    assert any(c.endswith(" bars") for c in captions) and not any("ticks/s" in c for c in captions), captions


def test_hedge_ratio_axis_names_the_assets(at):
    """The β axis says what β is in the pair's assets (BTC per ETH held), not "leg 2 per unit of leg 1"."""
    show(at, "Pair Analytics")
    titles = []
    for figure in figures(at):
        layout = figure["layout"]
        titles += [((layout.get(axis) or {}).get("title") or {}).get("text") or "" for axis in ("yaxis",)]
    beta = [t for t in titles if t.startswith("β")]
    assert beta == ["β (BTC per ETH held)"], titles


def test_withheld_metrics_and_an_empty_sweep_are_explained_in_words(at):
    """30 min of data: the withheld annualised ratios are explained in words with their labels (not
    "sharpe … min_span_days=1.0"), and sweeping "sharpe" says why the grid is empty (not just "no sweep results")."""
    show(at, "Backtest")
    text = " ".join(c.value for c in at.main.caption)
    assert "min_span_days" not in text and "Withheld Sharpe (ann.)" in text, text
    assert "at least 1 day of data" in text, text
    at.selectbox(key="sweep_metric").set_value("sharpe")
    at.button(key="run_sweep").click().run()
    assert_clean(at)
    sweep = [figure["layout"] for figure in figures(at)][-1]
    notes = " ".join(a.get("text", "") for a in sweep.get("annotations", []))
    assert "at least 1 day of data" in notes, notes


def test_tiles_never_use_scientific_notation():
    """α of a BTC/ETH pair (≈ 12,150) read "1.215e+04" in its tile; tiles use plain notation with separators."""
    from service.controls import fmt_value

    assert fmt_value(12150.3) == "12,150" and fmt_value(0.0000123) == "0.00001230"
    assert fmt_value(0.0400123, 5) == "0.040012" and fmt_value(-3.5e7, 4) == "-35,000,000"
    assert fmt_value(0.0) == "0" and fmt_value(float("nan")) == "—"


def test_a_historical_window_counts_trades_instead_of_a_live_rate(at):
    at.radio(key="end_mode").set_value("earlier").run()
    at.datetime_input(key="end_at").set_value(
        pd.Timestamp.now("UTC").tz_localize(None).floor("min") + pd.Timedelta(minutes=1)
    ).run()
    assert_clean(at)
    captions = [c.value for c in at.main.caption]
    assert any("trades in the window" in c for c in captions), captions
    assert not any("ticks/s" in c for c in captions)


def test_typing_all_collects_the_universe_but_keeps_an_analysable_pair(at):
    at.text_input(key="symbols_text").set_value("all").run()
    assert_clean(at)
    assert "ALL" not in at.session_state["view_symbols"]
    assert at.session_state["pair_x"] != "ALL" and at.session_state["pair_y"] != "ALL"


def test_symbols_all_in_the_settings_starts_with_an_analysable_pair(seeded, monkeypatch):
    use_database(monkeypatch, seeded)
    monkeypatch.setenv("DATA_FEED", "simulated")
    monkeypatch.setenv("SYMBOLS", "ALL")
    test = AppTest.from_file(str(ROOT / "dashboard" / "page.py"), default_timeout=60).run()
    assert_clean(test)
    assert test.session_state["view_symbols"] == ["BTCUSDT", "ETHUSDT"]


def every_tab_is_clean(test: AppTest) -> list[str]:
    """Open every tab; assert no exception or error element anywhere; return the info messages seen."""
    seen = []
    for tab in page.TABS:
        show(test, tab)
        assert_clean(test)
        seen += [i.value for i in test.main.info]
    return seen


def test_the_first_minute_from_an_empty_database(db_path, monkeypatch):
    """An empty database, then the first minute of a live pair: never an error; Pair Analytics and Backtest say how
    far they have got and how long is left (a progress bar), and become ready once there are enough bars."""
    path = db_path
    use_database(monkeypatch, path)
    monkeypatch.setenv("DATA_FEED", "simulated")
    test = AppTest.from_file(str(ROOT / "dashboard" / "page.py"), default_timeout=60).run()
    every_tab_is_clean(test)
    seed_database(path, 120, 60_000)  # one minute of both symbols: 60 aligned 1 s bars
    infos = every_tab_is_clean(test)
    pair = [i for i in infos if i.startswith("**Pair analytics**")]
    assert pair and "so far — about" in pair[0] and "ready ≈" in pair[0], infos
    assert "needs 260 aligned 1s bars (the kalman hedge's warm-up of 180, then the z window of 60, plus 20" in pair[0]
    show(test, "Pair Analytics")
    [bar] = test.get("progress")
    assert "of the bars needed — about" in bar.proto.text and 0 < bar.proto.value < 100
    show(test, "Backtest")
    assert test.get("progress"), "the Backtest tab shows its progress too"
    seed_database(path, 2000, 20 * 60_000, seed=8)  # twenty minutes more: enough for every view
    test.session_state["_bar_cache"] = {}  # (older bars than the tail: the 30 s full re-read's job)
    show(test, "Pair Analytics")
    assert_clean(test) and not test.get("progress")
    assert any("Cointegrated" in s.value or "cointegrat" in s.value for s in [*test.main.success, *test.main.warning])


def test_an_empty_window_over_stored_history_offers_a_jump_to_it(db_path, monkeypatch):
    """Data recorded three hours ago and a live 1 h window: the view says where the data is, and one click moves the
    window there (scrolled back, with a notice that it no longer follows live data)."""
    path = db_path
    seed_database(path, 1500, 20 * 60_000, end_ms=database.now_ms() - 3 * 3_600_000)
    use_database(monkeypatch, path)
    monkeypatch.setenv("DATA_FEED", "simulated")
    test = AppTest.from_file(str(ROOT / "dashboard" / "page.py"), default_timeout=60).run()
    show(test, "Charts")
    assert any("the database holds BTCUSDT, ETHUSDT from" in i.value for i in test.main.info), [
        i.value for i in test.main.info
    ]
    test.button(key="jump_Charts").click().run()
    assert_clean(test)
    assert test.session_state["end_mode"] == "earlier" and test.session_state["lookback"] == 30
    assert any("no longer follows live data" in t.proto.body for t in test.get("toast"))
    assert not any("no bars" in i.value for i in test.main.info) and figures(test)


def test_prices_show_the_decimals_of_their_tick():
    """A price card showed BTCUSDT 60,000.10 and a 0.12345 coin as 0.123450: the tick's decimals, read off the
    traded prices, with thousands separators."""
    from service.controls import fmt_price, tick_decimals

    assert [
        tick_decimals(p)
        for p in ([60000.1, 60001.3, 59999.0], [3000.12, 3001.5], [0.12345, 0.1234], [60000.0, 60001.0], [0.1 + 0.2])
    ] == [1, 2, 5, 0, 1]
    assert tick_decimals([348.914766421137, 3915.02730219573]) == 3  # off every grid (simulated): 6 significant digits
    assert fmt_price(60000.1, 1) == "60,000.1" and fmt_price(0.12345, 5) == "0.12345"


def test_a_sparse_symbol_gets_a_note_on_its_card_and_the_others_are_untouched(seeded, monkeypatch):
    """Bars 5 s apart next to a liquid pair: the Dashboard still shows every card; the sparse one says so."""
    add_sparse_symbol(seeded)
    use_database(monkeypatch, seeded)
    monkeypatch.setenv("DATA_FEED", "simulated")
    test = AppTest.from_file(str(ROOT / "dashboard" / "page.py"), default_timeout=60).run()
    test.multiselect(key="view_symbols").set_value(["BTCUSDT", "ETHUSDT", "SOLUSDT"]).run()
    assert_clean(test)
    assert {"BTCUSDT", "ETHUSDT", "SOLUSDT"} <= set(metrics(test))
    notes = [c.value for c in test.main.caption if "sparse" in c.value]
    assert len(notes) == 1 and "sparse: trades in 20% of the 1s bars" in notes[0], notes


def test_the_bar_export_imports_back_without_its_filled_bars(seeded, tmp_path):
    """The OHLC bars CSV of Data Management uploads back as bars: traded bars with their trade counts; filled
    (no-trade) bars are skipped rather than stored as flat bars."""
    c = controls(seeded)
    data = exports.window_csv(c, exports.bars_frame)
    frame = pd.read_csv(io.BytesIO(data))
    plan = uploads.parse_upload(data, "bars.csv", "bars", timeframe="1s")
    assert plan.count == int((~frame["filled"]).sum()) and plan.symbols == sorted(PAIR)
    other = str(tmp_path / "other.db")
    uploads.store_upload(other, uploads.parse_upload(data, "bars.csv", "bars", timeframe="1s"))
    with contextlib.closing(database.open_reader(other)) as conn:
        back = database.read_bars(conn, list(PAIR), "1s")
    assert len(back) == plan.count and back["trade_count"].sum() == frame["trades"].sum()


def test_data_management_shows_disk_use_retention_and_the_store(at, seeded):
    show(at, "Data Management")
    assert_clean(at)
    found = metrics(at)
    assert found["Database size"].endswith(" MB") and found["Cold tier (Parquet)"] == "0.0 MB"
    captions = [c.value for c in at.main.caption]
    assert any("Retention: off" in c for c in captions)
    engine = "Store: PostgreSQL" if seeded.startswith("postgresql://") else "Store: SQLite"
    assert any(c.startswith(engine) for c in captions), captions


def test_a_hole_in_the_data_is_drawn_as_a_gap_not_a_flat_line(db_path, monkeypatch):
    """Ten minutes of the pair, a 30-minute hole (the collector was stopped), ten more minutes: the price charts
    break the line over the hole (null points), while quiet seconds inside the traded stretches keep their price."""
    path = db_path
    end = database.now_ms()
    seed_database(path, 600, 10 * 60_000, end_ms=end)
    seed_database(path, 600, 10 * 60_000, end_ms=end - 40 * 60_000, seed=9, id_sign=-1)
    use_database(monkeypatch, path)
    monkeypatch.setenv("DATA_FEED", "simulated")
    test = AppTest.from_file(str(ROOT / "dashboard" / "page.py"), default_timeout=60).run()
    assert_clean(test)
    [compact] = figures(test)
    assert all(np.isnan(values(trace["y"])).sum() >= 1 for trace in compact["data"])  # each line breaks
    show(test, "Charts")
    candles = [t for f in figures(test) for t in f["data"] if t["type"] == "candlestick"]
    gaps = [np.diff(values(t["x"])).max() for t in candles]  # no flat candles over the hole
    assert candles and all(gap >= 29 * 60_000 for gap in gaps), gaps


def test_mask_holes_blanks_only_long_runs_of_filled_bars():
    from analytics import mask_holes

    index = pd.date_range("2024-01-01", periods=12, freq="1s", tz="UTC")
    filled = [False, True, False, True, True, True, True, False, False, True, True, False]
    bars = pd.DataFrame(
        {"open": 1.0, "high": 1.0, "low": 1.0, "close": 1.0, "volume": 0.0, "filled": filled}, index=index
    )
    out = mask_holes(bars, 3)
    assert out["close"].isna().tolist() == [
        False,
        False,
        False,
        True,
        True,
        True,
        True,
        False,
        False,
        False,
        False,
        False,
    ]
    assert out["volume"].tolist() == bars["volume"].tolist() and mask_holes(bars, 5).equals(bars)


def test_the_tick_rate_of_the_first_seconds_is_over_the_seconds_covered():
    """Eight seconds after Start the card said "2.4 ticks/s" for a symbol trading 20/s: 8 s of trades over 60 s."""
    from dashboard.tab_dashboard import recent_rate

    end = 1_800_000_000_000
    first = pd.date_range(pd.Timestamp(end - 8000, unit="ms", tz="UTC"), periods=8, freq="1s")
    later = pd.date_range(pd.Timestamp(end - 600_000, unit="ms", tz="UTC"), periods=600, freq="1s")
    assert recent_rate(pd.DataFrame({"trades": [20] * 8}, index=first), end) == 20.0
    assert recent_rate(pd.DataFrame({"trades": [20] * 600}, index=later), end) == 20.0


@pytest.mark.timeout(120)
@pytest.mark.parametrize("tab", ["Dashboard", "Charts", "Pair Analytics", "Backtest"])
def test_a_server_outage_keeps_each_views_last_data_on_screen(pg_server, monkeypatch, tab):
    """The database server restarts (or fails over) under an open page: each view showed the driver's error in
    place of its charts, so they blanked and a zoom on them was lost. Now a view keeps its last reads with a
    notice of their time, and reads afresh, without the notice, once the server answers."""
    import psycopg

    url = pg_server.create_database()
    seed_database(url, N_PER_SYMBOL, SPAN_MS)
    use_database(monkeypatch, url)
    monkeypatch.setenv("DATA_FEED", "simulated")
    test = show(AppTest.from_file(str(ROOT / "dashboard" / "page.py"), default_timeout=60).run(), tab)
    assert_clean(test)
    shown = [f["layout"].get("title") for f in figures(test)]

    def reachable() -> bool:
        try:
            psycopg.connect(url, connect_timeout=2).close()
        except psycopg.OperationalError:
            return False
        return True

    restart = threading.Thread(target=pg_server.restart, args=(6.0,), daemon=True)
    restart.start()
    deadline = time.monotonic() + 10
    while reachable():
        assert time.monotonic() < deadline, "the server did not stop"
        time.sleep(0.1)
    test.run()
    assert_clean(test)
    notices = [w.value for w in test.main.warning if "showing the data read at" in w.value]
    assert len(notices) == 1 and "unreachable" in notices[0] and "\n" not in notices[0]
    assert [f["layout"].get("title") for f in figures(test)] == shown
    frozen = ([m.value for m in test.main.metric], [c.value for c in test.main.caption], figures(test))
    time.sleep(1.5)
    test.run()  # later in the outage: the same reads, so the same numbers
    assert ([m.value for m in test.main.metric], [c.value for c in test.main.caption], figures(test)) == frozen
    restart.join(60)
    assert reachable()
    test.run()
    assert_clean(test)
    assert not [w for w in test.main.warning if "unreachable" in w.value]
    assert [f["layout"].get("title") for f in figures(test)] == shown


def test_pair_statistics_skip_a_hole_in_the_data_instead_of_reading_it_as_a_flat_price(db_path):
    """A 30-minute hole (the collector was stopped) between two traded stretches: the pair's closes hold no bar
    inside it (they held 1,800 forward-filled flat bars: a spread without variance, then a jump in z that the
    backtest traded), and the z-score where the data resumes stays in the range of the traded stretches."""
    end = database.now_ms()
    seed_database(db_path, 600, 10 * 60_000, end_ms=end)
    seed_database(db_path, 600, 10 * 60_000, end_ms=end - 40 * 60_000, seed=9, id_sign=-1)
    c = controls(db_path, lookback_min=60, method="ols", z_window=60)
    with contextlib.closing(database.open_reader(db_path)) as conn:
        window = service_window.load_window(conn, c)
    x, _ = service_window.pair_closes(window, PAIR)
    times = pd.DatetimeIndex(x.index).as_unit("ms").asi8
    hole_start, hole_end = end - 40 * 60_000, end - 10 * 60_000
    assert not ((times > hole_start + 60_000) & (times < hole_end - 60_000)).any()
    assert np.diff(times).max() >= 29 * 60_000
    z = service_window.pair_of(window, PAIR).zscore.dropna()
    resumed = z[pd.DatetimeIndex(z.index).as_unit("ms").asi8 >= hole_end - 60_000]
    assert resumed.abs().max() < 10, resumed.abs().max()


def test_pair_analytics_suggests_the_optimal_bands(at):
    show(at, "Pair Analytics")
    assert_clean(at)
    found = metrics(at)
    assert re.fullmatch(r"±\d+\.\d\d", found["Band (z)"]), found
    assert re.fullmatch(r"±[\d.]+(e[-+]\d+)?", found["Band (spread, USDT)"]), found  # short enough to show whole
    assert found["Covers its costs"] in {"yes", "no"} and found["Expected trade cycle"] != "—"
    assert found["Edge/day after costs"].endswith(" %")
    assert any("Bertram's (2010) return-maximising band" in c.value for c in at.main.caption)


def test_backtest_shows_walk_forward_and_the_sweep_odds(at):
    show(at, "Backtest")
    at.toggle(key="bt_optimal").set_value(True).run()
    assert_clean(at)
    assert any("Entry ±" in m.value and "USDT" in m.value for m in at.main.markdown)
    at.button(key="run_wf").click().run()
    assert_clean(at)
    table = at.table[-1].value
    assert list(table.columns) == ["in sample (formation windows)", "out of sample (trading windows)"]
    shown = {"P&L after costs", "trades", "fees, spread and slippage", "funding (+ received)", "time covered"}
    assert shown <= set(table.index)
    assert table.loc["time covered"].str.contains(r"bars \(").all() and not table.isin(["—"]).any().any()
    assert any("Walk-forward efficiency" in m.value for m in at.main.markdown)
    at.button(key="run_odds").click().run()
    assert_clean(at)
    words = [m.value for m in at.main.markdown if "the chance this Sharpe is real" in m.value]
    assert len(words) == 1 and "After 19 tries" in words[0] and "raw Sharpe" in words[0], words
