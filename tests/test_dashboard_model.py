"""The dashboard's data path without Streamlit: the session bar cache across the first minute of collection."""
from __future__ import annotations

import dataclasses

from app_fixtures import PAIR, seed_database

import database
from dashboard.controls import Controls
from dashboard.model import load_window


def test_a_cached_empty_read_followed_by_new_bars_loads_cleanly(tmp_path) -> None:
    """First minute from an empty database: the first refresh caches an empty read (object columns); the next one
    used to fail with "column 'timestamp' must hold integer epoch milliseconds, got dtype object"."""
    path = str(tmp_path / "first.db")
    database.ensure_database(path)
    c = Controls(db_path=path, symbols=PAIR, pair=PAIR, timeframe="1s", lookback_min=60, end_ms=None,
                 min_volume=0.0, method="ols", hedge_window=60, z_window=60, entry=2.0, exit=0.0, stop=None,
                 max_hold=None, fee_bps=4.0, slippage_bps=1.0, capital=10_000.0, in_sample=False)
    cache: dict = {}
    conn = database.open_reader(path)
    try:
        assert load_window(conn, c, cache=cache).bars == {}
    finally:
        conn.close()
    seed_database(path, 500, 60_000)
    conn = database.open_reader(path)
    try:
        window = load_window(conn, dataclasses.replace(c), cache=cache)
    finally:
        conn.close()
    assert set(window.bars) == set(PAIR) and all(len(b) > 0 for b in window.bars.values())


def test_a_change_is_labelled_with_the_span_the_bars_cover() -> None:
    import pandas as pd

    from dashboard.tab_dashboard import fmt_span
    index = pd.date_range("2026-01-01", periods=67, freq="1s", tz="UTC")
    bars = pd.DataFrame({"close": 1.0}, index=index)
    assert fmt_span(bars, 60) == "66 s"  # 66 s of data is not "% (1 h)"
    assert fmt_span(bars.reindex(pd.date_range(index[0], periods=3601, freq="1s")), 60) == "1 h"
    assert fmt_span(bars.reindex(pd.date_range(index[0], periods=601, freq="1s")), 60) == "10 min"


def test_liveness_lists_ages_for_a_pair_and_summarises_a_universe() -> None:
    from types import SimpleNamespace

    from dashboard.sidebar import liveness
    now = 1_000_000
    pair = SimpleNamespace(symbols=("BTCUSDT", "ETHUSDT"), last_receive_ms={"BTCUSDT": now - 100})
    assert liveness(pair, now) == "Last tick age: BTCUSDT 0.1 s · ETHUSDT —"  # type: ignore[arg-type]
    symbols = tuple(f"S{k:03d}USDT" for k in range(300))
    ages = {s: now - (120_000 if k % 100 == 0 else 1_000) for k, s in enumerate(symbols)}
    text = liveness(SimpleNamespace(symbols=symbols, last_receive_ms=ages), now)  # type: ignore[arg-type]
    assert text == "297 of 300 symbols traded in the last 60 s; quiet: S000USDT, S100USDT, S200USDT"
