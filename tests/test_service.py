"""The service layer's own actions, as both UIs call them: paper positions and signed links (no Streamlit, no HTTP)."""

from __future__ import annotations

import time
from urllib.parse import parse_qs, urlsplit

import pytest

import database
from config import load_settings
from data_feed import Tick
from service import paper
from service.links import signed_link, verify_link


def _store_price(db: str, symbol: str, price: float) -> None:
    with database.open_writer(db) as conn:
        database.write_ticks(conn, [Tick(symbol, 1, int(time.time() * 1000), price, 1.0, False, 0)])


def test_paper_open_and_close_at_the_latest_price(tmp_path) -> None:
    db = str(tmp_path / "ticks.db")
    with pytest.raises(paper.PaperRefused, match="No stored price for BTCUSDT yet"):
        paper.open_position(db, "BTCUSDT", database.PaperSide.LONG, 1000.0)
    _store_price(db, "BTCUSDT", 50_000.0)
    opened = paper.open_position(db, "BTCUSDT", database.PaperSide.SHORT, 1000.0)
    assert opened.side is database.PaperSide.SHORT and opened.price == 50_000.0 and opened.realized_pnl is None
    assert opened.message(1000.0) == "Opened SHORT BTCUSDT worth 1,000 USDT at 50,000.00."
    with database.open_reader(db) as conn:
        (position,) = database.list_paper_positions(conn)
    assert position.side is database.PaperSide.SHORT and position.quantity == pytest.approx(0.02)
    closed = paper.close_position(db, position)
    assert closed.realized_pnl == pytest.approx(0.0)
    # A second close (another tab, another API client) is refused in the user's words, and stores nothing.
    with pytest.raises(paper.PaperRefused, match="is not open"):
        paper.close_position(db, position)
    with database.open_reader(db) as conn:
        assert [p.realized_pnl for p in database.list_paper_positions(conn)] == [pytest.approx(0.0)]


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
