"""The watchlist, signals and two-leg paper positions over HTTP, against the served app on both backends: CRUD, the
live values, signals the server's watch monitor writes with no tab open, positions opened and closed once, every
error path, and the same Origin guard as the rest of the API."""

from __future__ import annotations

import threading

import pytest
import requests
from app_fixtures import seed_database
from pg_cluster import database_env
from served import serve
from test_api import refused
from waiting import wait_until

pytestmark = pytest.mark.timeout(240)
WATCH = {"symbol_x": "btcusdt", "symbol_y": "ethusdt", "hedge_window": 120, "z_window": 30, "entry": 1.0}


@pytest.fixture(scope="module", params=["sqlite", "postgresql"])
def url(request, tmp_path_factory):
    db = (
        str(tmp_path_factory.mktemp("watch") / "ticks.db")
        if request.param == "sqlite"
        else request.getfixturevalue("pg_server").create_database()
    )
    seed_database(db, 3000, 30 * 60_000, id_sign=-1)
    with serve(tmp_path_factory.mktemp("log") / "server.log", {"DATA_FEED": "simulated", **database_env(db)}) as u:
        yield u


def test_watchlist_crud_and_live_values(url):
    added = requests.post(f"{url}/api/watchlist", json=WATCH, timeout=30)
    assert added.status_code == 200, added.text
    watch = added.json()
    assert (watch["symbol_x"], watch["symbol_y"], watch["band_kind"], watch["entry"]) == (
        "BTCUSDT", "ETHUSDT", "fixed_z", 1.0,
    )  # fmt: skip
    refused(requests.post(f"{url}/api/watchlist", json=WATCH, timeout=30), 409, "body")
    (row,) = [w for w in requests.get(f"{url}/api/watchlist", timeout=60).json() if w["id"] == watch["id"]]
    assert row["zscore"] is not None and row["beta"] is not None and row["problem"] == ""
    assert row["next_funding_ms"] is None and row["next_funding_cash"] is None  # no markPrice stream stored
    assert row["verdict"] in ("cointegrated", "ended", "not_cointegrated", "not_enough_data")
    changed = requests.put(f"{url}/api/watchlist/{watch['id']}", json={"entry": 2.5, "stop": 4.0}, timeout=30).json()
    assert (changed["entry"], changed["stop"], changed["hedge_window"]) == (2.5, 4.0, 120)
    # the server's monitor evaluates the stored bars by itself: signals appear with no tab open
    assert wait_until(
        lambda: requests.get(f"{url}/api/signals", params={"watch_id": watch["id"]}, timeout=30).json(), 60, 0.5
    )
    signal = requests.get(f"{url}/api/signals", params={"watch_id": watch["id"], "limit": 1}, timeout=30).json()[0]
    assert signal["watch_id"] == watch["id"] and signal["price_x"] > 0 and signal["kind"]
    assert requests.delete(f"{url}/api/watchlist/{watch['id']}", timeout=30).json() == {"removed": True}
    assert requests.delete(f"{url}/api/watchlist/{watch['id']}", timeout=30).json() == {"removed": False}
    refused(requests.put(f"{url}/api/watchlist/{watch['id']}", json={"entry": 2}, timeout=30), 404, "watch_id")


@pytest.mark.parametrize(
    ("body", "param"),
    [
        ({"symbol_y": "ethusdt"}, "symbol_x"),
        ({**WATCH, "symbol_x": "not a symbol!"}, "symbol_x"),
        ({**WATCH, "entry": "2"}, "entry"),
        ({**WATCH, "hedge_window": 2.5}, "hedge_window"),
        ({**WATCH, "auto_trade": 1}, "auto_trade"),
        ({**WATCH, "colour": "red"}, "colour"),
        ({**WATCH, "exit": 3.0}, "body"),
        ({**WATCH, "timeframe": "2s"}, "body"),
        ({**WATCH, "band_kind": "ou"}, "body"),
        ([1, 2], "body"),
    ],
)
def test_bad_watchlist_entries(url, body, param):
    refused(requests.post(f"{url}/api/watchlist", json=body, timeout=30), 400, param)


def test_positions_open_list_and_close_once(url):
    watch = requests.post(f"{url}/api/watchlist", json={**WATCH, "timeframe": "5s"}, timeout=30).json()
    opened = requests.post(f"{url}/api/positions", json={"watch_id": watch["id"], "side": "short"}, timeout=60)
    assert opened.status_code == 200, opened.text
    position = opened.json()
    assert position["open"] and position["side"] == "SHORT" and position["qty_y"] < 0 < position["qty_x"]
    assert position["pnl"]["net"] == pytest.approx(-position["entry_fees"] - position["entry_spread"])
    refused(
        requests.post(f"{url}/api/positions", json={"watch_id": watch["id"], "side": "LONG"}, timeout=60),
        409,
        "watch_id",
    )
    refused(requests.delete(f"{url}/api/watchlist/{watch['id']}", timeout=30), 409, "watch_id")
    listed = requests.get(f"{url}/api/positions", params={"watch_id": watch["id"], "open": 1}, timeout=30).json()
    assert [p["id"] for p in listed] == [position["id"]]
    assert set(listed[0]["pnl"]) >= {"price_x", "price_y", "fees", "spread", "funding_x", "funding_y", "net"}
    assert listed[0]["unhedged_x"] == pytest.approx(-position["beta"] * position["qty_y"] - position["qty_x"])
    barrier, answers = threading.Barrier(2), []

    def close() -> None:  # two API clients closing the same position at once
        barrier.wait()
        answers.append(requests.post(f"{url}/api/positions/{position['id']}/close", timeout=60))

    threads = [threading.Thread(target=close) for _ in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert sorted(a.status_code for a in answers) == [200, 409]
    closed = next(a.json() for a in answers if a.status_code == 200)
    assert not closed["open"] and closed["close_reason"] == "manual"
    assert closed["pnl"]["net"] == pytest.approx(closed["realized_pnl"])
    assert requests.delete(f"{url}/api/watchlist/{watch['id']}", timeout=30).json() == {"removed": True}


@pytest.mark.parametrize(
    ("body", "status", "param"),
    [
        ({"watch_id": 999_999, "side": "LONG"}, 404, "watch_id"),
        ({"watch_id": "x", "side": "LONG"}, 400, "watch_id"),
        ({"watch_id": 1, "side": "up"}, 400, "side"),
        ({"watch_id": 1, "side": "LONG", "beta": "a"}, 400, "beta"),
        ("LONG", 400, "body"),
    ],
)
def test_bad_position_requests(url, body, status, param):
    refused(requests.post(f"{url}/api/positions", json=body, timeout=30), status, param)


def test_bad_ids_and_queries(url):
    refused(requests.post(f"{url}/api/positions/999999/close", timeout=30), 404, "position_id")
    refused(requests.post(f"{url}/api/positions/abc/close", timeout=30), 400, "position_id")
    refused(requests.delete(f"{url}/api/watchlist/0", timeout=30), 400, "watch_id")
    refused(requests.get(f"{url}/api/signals", params={"limit": 0}, timeout=30), 400, "limit")
    refused(requests.get(f"{url}/api/positions", params={"open": 2}, timeout=30), 400, "open")


def test_a_foreign_origin_cannot_change_the_watchlist_or_trade(url):
    evil = {"Origin": "http://evil.example"}
    refused(requests.post(f"{url}/api/watchlist", json=WATCH, headers=evil, timeout=30), 403, "Origin")
    refused(requests.put(f"{url}/api/watchlist/1", json={"entry": 3}, headers=evil, timeout=30), 403, "Origin")
    refused(
        requests.post(f"{url}/api/positions", json={"watch_id": 1, "side": "LONG"}, headers=evil, timeout=30),
        403,
        "Origin",
    )
    refused(requests.post(f"{url}/api/positions/1/close", headers=evil, timeout=30), 403, "Origin")
