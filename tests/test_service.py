"""The service layer's own actions, as both UIs call them: paper positions and signed links (no Streamlit, no HTTP)."""

from __future__ import annotations

import time
from urllib.parse import parse_qs, urlsplit

import pytest

import database
from config import load_settings
from data_feed import QuoteBar, Tick
from service import paper
from service.links import signed_link, verify_link

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
