"""The service layer's own actions, as both UIs call them: paper positions, the costs a backtest pays, signed links
(no Streamlit, no HTTP)."""

from __future__ import annotations

import dataclasses
import time
from pathlib import Path
from urllib.parse import parse_qs, urlsplit

import numpy as np
import pandas as pd
import pytest
from app_fixtures import PAIR, seed_database, sidebar_controls

import analytics
import database
from config import load_settings
from core.contracts import ContractRules
from data_feed import FundingRate, MarkPrice, QuoteBar, Tick
from service import costs, paper, research
from service.controls import Controls
from service.links import signed_link, verify_link
from service.window import Window, load_window, pair_closes, pair_of, reader

FREE = paper.PaperCosts(taker_fee_bps=0.0, stand_in_spread_bps=0.0)


def _store_price(db: str, symbol: str, price: float) -> None:
    with database.open_writer(db) as conn:
        database.write_ticks(conn, [Tick(symbol, 1, int(time.time() * 1000), price, 1.0, False, 0)])


def test_paper_open_and_close_at_the_latest_price(tmp_path) -> None:
    db = str(tmp_path / "ticks.db")
    with pytest.raises(paper.PaperRefused, match="No stored price for BTCUSDT yet"):
        paper.open_position(db, "BTCUSDT", database.PaperSide.LONG, 1000.0, FREE)
    _store_price(db, "BTCUSDT", 50_000.0)
    opened = paper.open_position(db, "BTCUSDT", database.PaperSide.SHORT, 1000.0, FREE)
    assert opened.side is database.PaperSide.SHORT and opened.price == 50_000.0 and opened.realized_pnl is None
    assert opened.message(1000.0) == (
        "Opened SHORT BTCUSDT worth 1,000 USDT at 50,000.00 (the last trade ± the stand-in spread; fee 0.00 USDT)."
    )
    with database.open_reader(db) as conn:
        (position,) = database.list_paper_positions(conn)
    assert position.side is database.PaperSide.SHORT and position.quantity == pytest.approx(0.02)
    closed = paper.close_position(db, position, FREE)
    assert closed.realized_pnl == pytest.approx(0.0)
    # A second close (another tab, another API client) is refused in the user's words, and stores nothing.
    with pytest.raises(paper.PaperRefused, match="is not open"):
        paper.close_position(db, position, FREE)
    with database.open_reader(db) as conn:
        assert [p.realized_pnl for p in database.list_paper_positions(conn)] == [pytest.approx(0.0)]


def test_paper_fills_cross_the_spread_and_pay_the_taker_fee(tmp_path) -> None:
    db = str(tmp_path / "ticks.db")
    _store_price(db, "BTCUSDT", 50_000.0)
    costs = paper.PaperCosts(taker_fee_bps=5.0, stand_in_spread_bps=2.0)
    stand_in = paper.open_position(db, "BTCUSDT", database.PaperSide.LONG, 1000.0, costs)
    assert stand_in.price == pytest.approx(50_010.0) and not stand_in.quoted and stand_in.fee == pytest.approx(0.5)
    second = (int(time.time()) - 1) * 1000
    with database.open_writer(db) as conn:
        database.write_quote_bars(conn, [QuoteBar("BTCUSDT", second, 49_990.0, 50_020.0, 1.0, 1.0, 15.0)])
    opened = paper.open_position(db, "BTCUSDT", database.PaperSide.LONG, 1000.0, costs)
    assert opened.price == 50_020.0 and opened.quoted  # a buy pays the ask
    with database.open_reader(db) as conn:
        position = next(p for p in database.list_paper_positions(conn) if p.id == opened.position_id)
    closed = paper.close_position(db, position, costs)  # a long sells at the bid
    qty = 1000.0 / 50_020.0
    fees = qty * (50_020.0 + 49_990.0) * 5e-4
    assert closed.price == 49_990.0 and closed.realized_pnl == pytest.approx(-30.0 * qty - fees, abs=1e-9)
    assert "P&L -1.60 USDT after fees" in closed.message()


def test_signed_link_opens_its_own_export_only(monkeypatch) -> None:
    monkeypatch.setenv("API_TOKEN", "s3cret")
    settings = load_settings()
    link = signed_link(settings, "/api/ticks.csv", {"symbols": "BTCUSDT", "start": "1", "end": "2"})
    parts = urlsplit(link)
    assert "s3cret" not in link and "sig" in parse_qs(parts.query)
    assert verify_link("GET", parts.path, parts.query, "s3cret")
    assert not verify_link("POST", parts.path, parts.query, "s3cret")
    assert not verify_link("GET", "/api/bars", parts.query, "s3cret")
    assert not verify_link("GET", parts.path, parts.query.replace("end=2", "end=3"), "s3cret")
    assert not verify_link("GET", parts.path, parts.query, "other-token")


def _costs_controls(db: str, lookback_min: int, end_ms: int) -> Controls:
    return sidebar_controls(
        db, lookback_min=lookback_min, end_ms=end_ms, method="rolling", hedge_window=120, entry=1.5, stop=None
    )


def _costs_window(tmp_path: Path) -> tuple[str, int, Window]:
    """A database with 20 minutes of the seeded pair ending 5 minutes ago, and the window of the cost tests over it
    (rolling hedge of 120 bars, entry ±1.5, no stop): the database, the window's end and the window."""
    db = str(tmp_path / "ticks.db")
    end_ms = (int(time.time()) // 60 - 5) * 60_000
    seed_database(db, 3000, 20 * 60_000, end_ms=end_ms)
    with reader(db) as conn:
        return db, end_ms, load_window(conn, _costs_controls(db, 20, end_ms))


def _store_quotes_and_funding(db: str, window: Window, end_ms: int, rates: tuple[float, float]) -> None:
    """Quote bars half a USDT either side of every close of the pair, and a funding settlement every minute of the
    last 19 (rates for x and y), as a collector with quotes and funding on would have stored them."""
    closes = window.closes(PAIR)
    bars = [
        QuoteBar(s, int(t.value // 1_000_000), p - 0.5, p + 0.5, 1.0, 1.0, 0.5)
        for s in PAIR
        for t, p in closes[s].items()
    ]
    minutes = range(end_ms - 19 * 60_000, end_ms, 60_000)
    with database.open_writer(db) as conn:
        database.write_quote_bars(conn, bars)
        database.write_funding_rates(
            conn, [FundingRate(s, m, rate, None, 1.0) for s, rate in zip(PAIR, rates, strict=True) for m in minutes]
        )


def test_backtest_pays_the_stored_quotes_funding_and_contract_steps(tmp_path) -> None:
    db, end_ms, window = _costs_window(tmp_path)
    _store_quotes_and_funding(db, window, end_ms, (1e-4, -2e-4))
    with database.open_writer(db) as conn:
        database.write_contract_rules(
            conn, [ContractRules(PAIR[0], 0.1, 0.001, 5.0), ContractRules(PAIR[1], 0.01, 0.01, 5.0)]
        )
    res = costs.run_backtest(window)
    b = res.breakdown
    assert len(res.trades) > 2 and b.stand_in_fills == 0 and b.fills_x > 0
    assert b.funding_x != 0 and b.funding_y != 0  # marks unknown: priced at the bar close
    steps = res.trades["qty_y"] / 0.01
    assert (steps - steps.round()).abs().max() < 1e-6
    np.testing.assert_allclose(
        res.trades["spread_cost"],
        0.5 * (res.trades["qty_x"].abs() + res.trades["exit_qty_x"].abs() + 2 * res.trades["qty_y"].abs()),
        rtol=1e-9,
    )


def test_research_pays_the_stored_quotes_and_funding(tmp_path) -> None:
    """The walk-forward, the OU band's edge and the sweep's odds pay what the backtest pays (issue 27)."""
    db, end_ms, window = _costs_window(tmp_path)
    before_edge = research.pair_edge(window)
    fixed = analytics.BandChoice.FIXED
    before = research.run_walk_forward(window, fixed)
    _store_quotes_and_funding(db, window, end_ms, (1e-4, 1e-4))
    walk = research.run_walk_forward(window, fixed)
    assert walk.oos_trades == before.oos_trades > 0 and walk.oos_funding != 0 and before.oos_funding == 0
    assert walk.oos_costs != pytest.approx(before.oos_costs)
    at_band = research.optimal_band_backtest(window, before_edge).breakdown
    assert at_band.stand_in_fills == 0 and at_band.funding != 0  # the backtest at the band pays them too
    # the band's round trip: the fee and each leg's recorded half-spread of 0.5 USDT, not the 1 bps stand-in
    edge = research.pair_edge(window)
    x, y = pair_closes(window, PAIR)
    beta = (edge.notional - float(y.iloc[-1])) / float(x.iloc[-1])  # notional = p_y + |β|·p_x
    assert before_edge.cost_bps == pytest.approx(4.0 + 1.0)
    assert edge.cost_bps == pytest.approx(4.0 + 0.5e4 * (1 + beta) / edge.notional, rel=0.05)


def test_next_funding_flows_per_leg(tmp_path) -> None:
    db = str(tmp_path / "ticks.db")
    end_ms = (int(time.time()) // 60 - 5) * 60_000
    seed_database(db, 3000, 20 * 60_000, end_ms=end_ms)
    c = _costs_controls(db, 20, end_ms)
    with reader(db) as conn:
        pair = pair_of(load_window(conn, c), PAIR)
    settles = end_ms + 3_600_000
    with database.open_writer(db) as conn:
        database.write_mark_prices(conn, [MarkPrice(PAIR[1], end_ms, 3_000.0, 1e-4, settles)], {PAIR[1]: 4.0})
    x_leg, y_leg = costs.next_funding_flows(c, pair)
    assert x_leg.next is None and x_leg.cash is None  # no markPrice update stored for x
    assert y_leg.next is not None and y_leg.next.interval_hours == 4.0
    assert y_leg.quantity > 0 and y_leg.cash == pytest.approx(-y_leg.quantity * 3_000.0 * 1e-4)
    assert x_leg.quantity == pytest.approx(-float(pair.hedge.beta) * y_leg.quantity)


def test_a_zero_signal_round_trip_on_recorded_quotes_costs_two_half_spreads_per_leg_plus_fees(tmp_path) -> None:
    """Quotes recorded for every second with a still mid and a changing spread; each trade enters and exits on the
    next bar (max hold 1), so its net P&L is exactly −(both half-spreads of each leg × its quantity + the fees)."""
    db = str(tmp_path / "ticks.db")
    end_ms = (int(time.time()) // 60 - 5) * 60_000
    seed_database(db, 3000, 20 * 60_000, end_ms=end_ms)
    c = dataclasses.replace(_costs_controls(db, 20, end_ms), max_hold=1)
    with reader(db) as conn:
        window = load_window(conn, c)
    closes = window.closes(PAIR)
    rng = np.random.default_rng(4)
    mids = {PAIR[0]: 60_000.0, PAIR[1]: 3_000.0}
    book = {
        (s, int(t.value // 1_000_000)): (mids[s] - h, mids[s] + h)
        for s in PAIR
        for t, h in zip(closes.index, mids[s] * rng.uniform(0.5e-4, 3e-4, len(closes)), strict=True)
    }
    with database.open_writer(db) as conn:
        database.write_quote_bars(
            conn, [QuoteBar(s, ms, b, a, 1.0, 1.0, (a - b) / 2) for (s, ms), (b, a) in book.items()]
        )
    t = costs.run_backtest(window).trades
    assert len(t) > 5 and (t["holding_bars"] == 1).all()

    def paid(symbol: str, qty: float, at: pd.Timestamp, sign: float) -> tuple[float, float]:
        """(half-spread × |qty|, fee) of a fill of `sign`·qty at the quote recorded in that bar's second."""
        bid, ask = book[(symbol, int(at.value // 1_000_000))]
        price = ask if sign * qty > 0 else bid
        return abs(qty) * (ask - bid) / 2, abs(qty) * price * 4e-4

    for _, row in t.iterrows():
        fills = [
            paid(symbol, row[q], row[when], sign)
            for symbol, q in ((PAIR[0], "qty_x"), (PAIR[1], "qty_y"))
            for when, sign in (("entry_time", 1.0), ("exit_time", -1.0))
        ]
        spread, fees = sum(f[0] for f in fills), sum(f[1] for f in fills)
        assert row["spread_cost"] == pytest.approx(spread, abs=1e-9) and row["fees"] == pytest.approx(fees, abs=1e-9)
        assert row["gross_pnl"] == pytest.approx(0.0, abs=1e-9)  # the mid never moved
        assert row["net_pnl"] == pytest.approx(-(spread + fees), abs=1e-9)
