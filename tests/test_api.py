"""The HTTP/WebSocket API against the real server: `streamlit run app.py` on a free loopback port, called with a
real HTTP client (requests) and a real WebSocket client (websocket-client). Every endpoint of SEED_API.md in the
seed's shapes, every error path as a 4xx JSON naming the parameter, the live heartbeat, and the security rules
(foreign Origin refused, no wildcard CORS, optional token)."""

from __future__ import annotations

import contextlib
import dataclasses
import http.client
import json
import sqlite3
import time

import pytest
import requests
import websocket
from app_fixtures import seed_database
from pg_cluster import database_env
from served import free_port, serve
from waiting import wait_until

import collector
import config
import data_feed
import database
from core.vocabulary import DeliveryStatus, NoticeKind
from service import deliveries
from service.links import signed_link
from service.webhooks import Notice

pytestmark = pytest.mark.timeout(240)
PAIR = {"x": "btcusdt", "y": "ethusdt"}
METHODS = ("ols", "kalman", "rolling", "tls", "huber")


@pytest.fixture(scope="module", params=["sqlite", "postgresql"])
def db(request, tmp_path_factory) -> str:
    """The seeded pair on each backend: the whole API suite runs against SQLite, then PostgreSQL."""
    path = (
        str(tmp_path_factory.mktemp("api") / "ticks.db")
        if request.param == "sqlite"
        else request.getfixturevalue("pg_server").create_database()
    )
    seed_database(path, 3000, 30 * 60_000, id_sign=-1)
    return path


@pytest.fixture(scope="module")
def url(db, tmp_path_factory):
    with serve(
        tmp_path_factory.mktemp("log") / "server.log",
        {"DATA_FEED": "simulated", **database_env(db), "API_CORS_ORIGINS": "http://allowed.example"},
    ) as u:
        yield u


def error_body(resp: requests.Response, status: int) -> dict:
    """Assert an error answer with this status in the one error shape of every API error; return its body."""
    assert resp.status_code == status, resp.text
    assert resp.headers["content-type"].startswith("application/json") and "Traceback" not in resp.text
    body = resp.json()
    assert set(body) == {"status", "error", "msg", "param"} and body["status"] == "error"
    assert body["msg"] == body["error"] != ""
    return body


def refused(resp: requests.Response, status: int, param: str) -> dict:
    """Assert a JSON error with this status naming `param` (and no traceback); return its body."""
    body = error_body(resp, status)
    assert body["param"] == param
    assert param in body["msg"] or param in ("file", "body", "Origin", "token")
    return body


def test_symbols(url):
    found = requests.get(f"{url}/api/symbols", timeout=30).json()["symbols"]
    assert {"btcusdt", "ethusdt"} <= set(found) and all(s == s.lower() for s in found)


def test_resampled_bars_are_bounded_and_oldest_first(url):
    data = requests.get(f"{url}/api/resampled/BTCUSDT", timeout=30).json()["data"]
    assert 0 < len(data) <= 1000 and set(data[0]) == {"ts", "open", "high", "low", "close", "volume"}
    assert [d["ts"] for d in data] == sorted(d["ts"] for d in data) and isinstance(data[0]["ts"], str)
    assert all(d["low"] <= min(d["open"], d["close"]) <= max(d["open"], d["close"]) <= d["high"] for d in data)
    five = requests.get(f"{url}/api/resampled/btcusdt", params={"limit": 5, "timeframe": "1min"}, timeout=30).json()
    assert len(five["data"]) == 5 and five["data"][-1]["ts"].endswith(":00")
    end = database.now_ms() - 10 * 60_000
    window = requests.get(
        f"{url}/api/resampled/btcusdt", params={"start": end - 120_000, "end": end, "limit": 10_000}, timeout=30
    ).json()["data"]
    assert 100 <= len(window) <= 120
    assert requests.get(f"{url}/api/resampled/solusdt", timeout=30).json() == {"data": []}


@pytest.mark.parametrize(
    ("query", "param"),
    [
        ({"timeframe": "abc"}, "timeframe"),
        ({"limit": "0"}, "limit"),
        ({"limit": "x"}, "limit"),
        ({"start": "5", "end": "4"}, "start"),
        ({"end": "soon"}, "end"),
        ({"start": "0"}, "start"),
    ],
)
def test_resampled_bad_parameters(url, query, param):
    refused(requests.get(f"{url}/api/resampled/btcusdt", params=query, timeout=30), 400, param)


def test_bad_symbol_in_path(url):
    refused(requests.get(f"{url}/api/resampled/btc-usdt!", timeout=30), 400, "symbol")
    refused(requests.get(f"{url}/api/export/btc-usdt!", timeout=30), 400, "symbol")


def test_export_streams_ohlcv_csv(url):
    resp = requests.get(f"{url}/api/export/btcusdt", params={"limit": 50}, stream=True, timeout=30)
    assert resp.status_code == 200 and resp.headers["content-type"].startswith("text/csv")
    lines = resp.text.splitlines()
    assert lines[0] == "ts,open,high,low,close,volume" and len(lines) == 51


def test_raw_ticks_stream_as_csv_that_imports_back(url, db, tmp_path):
    """The dashboard's "Raw ticks (CSV)" link: every tick of the window, streamed, in a file the importer reads."""
    end = database.now_ms() + 1
    resp = requests.get(
        f"{url}/api/ticks.csv", params={"symbols": "btcusdt,ETHUSDT", "start": 0, "end": end}, stream=True, timeout=60
    )
    assert resp.status_code == 200 and resp.headers["content-type"].startswith("text/csv")
    assert resp.headers["content-disposition"] == 'attachment; filename="BTCUSDT-ETHUSDT_ticks.csv"'
    out = tmp_path / "ticks.csv"
    out.write_bytes(resp.content)
    ticks = list(data_feed.iter_ticks_from_file(out))
    assert len(ticks) == 6000 and {t.symbol for t in ticks} == {"BTCUSDT", "ETHUSDT"}
    with contextlib.closing(database.open_reader(db)) as conn:
        stored = database.read_ticks(conn, ["BTCUSDT", "ETHUSDT"])
    assert sorted((t.symbol, t.trade_id, t.space) for t in ticks) == sorted(
        zip(stored.symbol, stored.trade_id, stored.id_space)
    )


@pytest.mark.parametrize(
    "query, param",
    [
        ({"symbols": "nope!"}, "symbols"),
        ({"symbols": ""}, "symbols"),
        ({"symbols": "btcusdt", "start": "1_000"}, "start"),
        ({"symbols": "btcusdt", "start": "5", "end": "5"}, "start"),
    ],
)
def test_raw_ticks_bad_parameters(url, query, param):
    refused(requests.get(f"{url}/api/ticks.csv", params=query, timeout=30), 400, param)


@pytest.mark.parametrize("method", METHODS)
def test_pair_analytics_every_hedge_method(url, method):
    body = requests.get(
        f"{url}/api/analytics/pair", params={**PAIR, "regression": method, "roll_window": 60}, timeout=60
    ).json()
    assert "error" not in body, body
    # the fixture's β is 0.04; the last 60-bar rolling OLS estimate is the noisiest of the five
    low, high = (0.01, 0.08) if method == "rolling" else (0.02, 0.06)
    assert body["hedge"]["method"] == method and low < body["hedge"]["beta"] < high
    assert set(body["adf"]) >= {"stat", "pvalue", "nobs"} and 0 <= body["adf"]["pvalue"] <= 1
    for key in ("spread", "zscore", "corr"):
        assert 0 < len(body[key]) <= 500
    assert list(body["zscore"])[-1] == list(body["spread"])[-1]
    equity = list(body["backtest"]["equity"].values())
    assert 9_000 < equity[-1] < 11_000  # USDT on 10,000 capital, not z-units
    assert all(
        {"net_pnl", "fees", "spread_cost", "funding", "price_pnl_x"} <= set(t) for t in body["backtest"]["trades"]
    )
    breakdown = body["backtest"]["breakdown"]  # the P&L by source; no quotes recorded: every fill is a stand-in
    assert breakdown["net"] == pytest.approx(equity[-1] - 10_000, abs=1e-6)
    assert breakdown["quoted_fills_x"] == 0 and any("STAND-IN COST" in n for n in body["backtest"]["notes"])
    assert body["last"]["zscore"] == pytest.approx(list(body["zscore"].values())[-1])
    assert body["alerts"] == []
    assert body["verdict"]["verdict"] and body["verdict"]["headline"] and isinstance(body["verdict"]["reasons"], list)


def test_pair_shortage_is_an_error_field(url):
    body = requests.get(f"{url}/api/analytics/pair", params={"x": "btcusdt", "y": "solusdt"}, timeout=30).json()
    assert "solusdt".upper() in body["error"]


@pytest.mark.parametrize(
    ("query", "param"),
    [
        ({**PAIR, "timeframe": "abc"}, "timeframe"),
        ({**PAIR, "roll_window": "-5"}, "roll_window"),
        ({**PAIR, "regression": "magic"}, "regression"),
        ({"y": "ethusdt"}, "x"),
        ({"x": "btcusdt"}, "y"),
        ({"x": "btcusdt", "y": "BTCUSDT"}, "y"),
        ({**PAIR, "min_volume": "nan"}, "min_volume"),
    ],
)
def test_pair_bad_parameters(url, query, param):
    refused(requests.get(f"{url}/api/analytics/pair", params=query, timeout=30), 400, param)
    refused(requests.get(f"{url}/api/analytics/pair_export", params=query, timeout=30), 400, param)


def test_corr_matrix(url):
    body = requests.get(f"{url}/api/analytics/corr_matrix", params={"symbols": "btcusdt,ethusdt"}, timeout=30).json()
    assert body["symbols"] == ["btcusdt", "ethusdt"]
    assert body["matrix"][0][0] == pytest.approx(1) and 0.3 < body["matrix"][0][1] == body["matrix"][1][0] < 1
    refused(requests.get(f"{url}/api/analytics/corr_matrix", params={"symbols": "btc$"}, timeout=30), 400, "symbols")


def test_pair_export_csv(url):
    resp = requests.get(f"{url}/api/analytics/pair_export", params=PAIR, timeout=60)
    lines = resp.text.splitlines()
    assert resp.status_code == 200 and lines[0] == "ts,spread,zscore,corr" and len(lines) > 1000


def test_alert_rules_round_trip_and_firing(url):
    rule = {"symbol_x": "btcusdt", "symbol_y": "ethusdt", "metric": "zscore", "op": ">", "threshold": -1000}
    stored = requests.post(f"{url}/api/alerts", json=rule, timeout=30).json()
    assert isinstance(stored["id"], int) and stored["symbol_x"] == "btcusdt" and stored["threshold"] == -1000
    assert stored["id"] in [r["id"] for r in requests.get(f"{url}/api/alerts", timeout=30).json()]
    fired = requests.get(f"{url}/api/analytics/pair", params=PAIR, timeout=60).json()["alerts"]
    assert [a["id"] for a in fired] == [stored["id"]] and "z-score" in fired[0]["message"]
    assert requests.delete(f"{url}/api/alerts/{stored['id']}", timeout=30).json() == {"removed": True}
    assert requests.delete(f"{url}/api/alerts/{stored['id']}", timeout=30).json() == {"removed": False}


@pytest.mark.parametrize(
    ("rule", "param"),
    [
        ({"symbol_x": "btcusdt", "symbol_y": "ethusdt", "metric": "zscore", "op": "!=", "threshold": 2}, "op"),
        ({"symbol_x": "btcusdt", "symbol_y": "ethusdt", "metric": "volume", "op": ">", "threshold": 2}, "metric"),
        ({"symbol_x": "btcusdt", "symbol_y": "ethusdt", "metric": "zscore", "op": ">", "threshold": "x"}, "threshold"),
        ({"symbol_x": "btcusdt", "symbol_y": "ethusdt", "metric": "zscore", "op": ">"}, "threshold"),
        ({"symbol_x": "b@d", "symbol_y": "ethusdt", "metric": "zscore", "op": ">", "threshold": 1}, "symbol_x"),
        ([1, 2], "body"),
    ],
)
def test_alert_bad_rules(url, rule, param):
    refused(requests.post(f"{url}/api/alerts", json=rule, timeout=30), 400, param)


def test_alert_bad_body_and_id(url):
    refused(requests.post(f"{url}/api/alerts", data="{not json", timeout=30), 400, "body")
    refused(requests.delete(f"{url}/api/alerts/abc", timeout=30), 400, "id")


def test_deliveries_listing_and_its_errors(url, db):
    attempt = database.DeliveryAttempt(
        0,
        "abc-slack",
        "alert",
        "slack",
        "https://hooks.slack.com/…",
        "price BTCUSDT > 1",
        1,
        "dead",
        500,
        "HTTP 500",
        9,
        1,
    )
    with contextlib.closing(database.open_writer(db)) as conn:
        stored = database.record_delivery_attempt(conn, attempt)
    body = requests.get(f"{url}/api/deliveries", timeout=30).json()
    assert body["worker"] == {"running": False, "targets": [], "queued": 0, "scheduled": 0}  # no target configured
    assert body["deliveries"][0] == {**dataclasses.asdict(attempt), "id": stored}
    dead = requests.get(f"{url}/api/deliveries", params={"status": "DEAD", "limit": 1}, timeout=30).json()
    assert [d["id"] for d in dead["deliveries"]] == [stored]
    assert requests.get(f"{url}/api/deliveries", params={"status": "delivered"}, timeout=30).json()["deliveries"] == []
    refused(requests.get(f"{url}/api/deliveries", params={"status": "lost"}, timeout=30), 400, "status")
    refused(requests.get(f"{url}/api/deliveries", params={"limit": "0"}, timeout=30), 400, "limit")
    refused(requests.get(f"{url}/api/deliveries", params={"limit": "5000"}, timeout=30), 400, "limit")


def test_deliveries_never_show_a_webhook_secret(db, tmp_path):
    """A server configured with webhooks shows its targets and their attempts redacted, in its answers and its log."""
    secret, token = "T0001/B0002/apisecretXYZ", "123456:AAapiTOKENsecret_value"
    env = {
        "DATA_FEED": "simulated",
        **database_env(db),
        "ALERT_SLACK_URL": f"http://127.0.0.1:{free_port()}/{secret}",
        "ALERT_TELEGRAM_TOKEN": token,
        "ALERT_TELEGRAM_CHAT_ID": "-100123",
        "TELEGRAM_API_URL": f"http://127.0.0.1:{free_port()}",
        "ALERT_RETRIES": "0",
        "LOG_LEVEL": "DEBUG",
    }
    with serve(tmp_path / "server.log", env) as u:
        worker = deliveries.start_deliveries(config.load_settings(env))  # this process, the same targets
        assert worker is not None
        try:
            worker.submit(Notice(NoticeKind.ALARM, "ETHUSDT/BTCUSDT", "cointegration break"))
            assert wait_until(lambda: len(deliveries.recent_attempts(db, status=DeliveryStatus.DEAD)) >= 2, 30)
        finally:
            deliveries.stop_deliveries()
        answer = requests.get(f"{u}/api/deliveries", timeout=30)
        body = answer.json()
        assert body["worker"]["running"] and len(body["worker"]["targets"]) == 2
        assert {d["channel"] for d in body["deliveries"] if d["message"] == "cointegration break"} == {
            "slack",
            "telegram",
        }
    shown = answer.text + (tmp_path / "server.log").read_text()
    for hidden in (secret, "apisecret", token, token.split(":")[1]):
        assert hidden not in shown


def test_upload_ndjson_all_or_nothing(url, db):
    base = database.now_ms() - 3_600_000
    good = "\n".join(
        json.dumps({"symbol": "xrpusdt", "ts": base + i, "price": 0.5 + i / 1e4, "size": 1}) for i in range(3)
    )
    bad = good + '\n{"symbol": "xrpusdt", "ts": "yesterday", "price": 1, "size": 1}\n'
    body = refused(
        requests.post(f"{url}/api/upload_ndjson", files={"file": ("t.ndjson", bad)}, timeout=30), 400, "file"
    )
    assert "line 4" in body["msg"]
    assert "xrpusdt" not in requests.get(f"{url}/api/symbols", timeout=30).json()["symbols"]
    ok = requests.post(f"{url}/api/upload_ndjson", files={"file": ("t.ndjson", good)}, timeout=30).json()
    assert ok == {"status": "ok", "loaded": 3}
    assert "xrpusdt" in requests.get(f"{url}/api/symbols", timeout=30).json()["symbols"]
    refused(requests.post(f"{url}/api/upload_ndjson", data={"x": "1"}, timeout=30), 400, "file")


def test_upload_ohlcv(url):
    start = (database.now_ms() // 60_000 - 30) * 60_000
    rows = "\n".join(f"{start + i * 60_000},10,11,9,10.5,3" for i in range(5))
    ok = requests.post(
        f"{url}/api/upload_ohlcv",
        data={"symbol": "adausdt", "timeframe": "1min"},
        files={"file": ("b.csv", "ts,open,high,low,close,volume\n" + rows)},
        timeout=30,
    ).json()
    assert ok == {"status": "ok", "symbol": "adausdt", "timeframe": "1min"}
    bars = requests.get(f"{url}/api/resampled/adausdt", params={"timeframe": "1min"}, timeout=30).json()["data"]
    assert [b["close"] for b in bars if b["volume"]] == [10.5] * 5
    bad = requests.post(
        f"{url}/api/upload_ohlcv",
        data={"symbol": "adausdt", "timeframe": "1min"},
        files={"file": ("b.csv", "ts,open,high,low,close,volume\n1,a,b,c,d,e\n")},
        timeout=30,
    )
    assert bad.status_code == 400 and bad.json()["status"] == "error" and "Traceback" not in bad.text
    refused(
        requests.post(
            f"{url}/api/upload_ohlcv",
            data={"symbol": "adausdt", "timeframe": "2min"},
            files={"file": ("b.csv", "ts,open,high,low,close,volume\n" + rows)},
            timeout=30,
        ),
        400,
        "timeframe",
    )
    refused(
        requests.post(
            f"{url}/api/upload_ohlcv",
            data={"symbol": "ada$", "timeframe": "1min"},
            files={"file": ("b.csv", "ts,open,high,low,close,volume\n" + rows)},
            timeout=30,
        ),
        400,
        "symbol",
    )
    refused(
        requests.post(
            f"{url}/api/upload_ohlcv", files={"file": ("b.csv", "ts,open,high,low,close,volume\n" + rows)}, timeout=30
        ),
        400,
        "file",
    )


def heartbeats(url: str, count: int, **options) -> list[dict]:
    """`count` messages from /ws/live."""
    ws = websocket.create_connection(url.replace("http://", "ws://") + "/ws/live", timeout=15, **options)
    try:
        return [json.loads(ws.recv()) for _ in range(count)]
    finally:
        ws.close()


def test_ingest_start_status_live_and_stop(url):
    refused(requests.post(f"{url}/api/ingest/start", json={"mode": "ws", "symbols": []}, timeout=30), 400, "symbols")
    refused(
        requests.post(f"{url}/api/ingest/start", json={"mode": "ftp", "symbols": ["btcusdt"]}, timeout=30), 400, "mode"
    )
    refused(requests.post(f"{url}/api/ingest/start", json={"symbols": ["b@d"]}, timeout=30), 400, "symbols")
    started = requests.post(
        f"{url}/api/ingest/start", json={"mode": "simulated", "symbols": ["BTCUSDT", "ethusdt"]}, timeout=30
    ).json()
    assert started == {"status": "ok", "mode": "simulated", "symbols": ["btcusdt", "ethusdt"]}
    try:
        status = requests.get(f"{url}/api/ingest/status", timeout=30).json()
        assert status["state"] != "stopped" and status["symbols"] == ["btcusdt", "ethusdt"]
        beats = heartbeats(url, 3)
        assert all(b["type"] == "heartbeat" and isinstance(b["ts"], float) for b in beats)
        assert set(beats[-1]["symbols"]) == {"btcusdt", "ethusdt"} and beats[-1]["symbols"]["btcusdt"]["price"] > 0
        assert beats[-1]["collector"]["state"] != "stopped"
        assert 0.5 < beats[2]["ts"] - beats[1]["ts"] < 2.5
    finally:
        stopped = requests.post(f"{url}/api/ingest/stop", json={}, timeout=30).json()
    assert stopped == {"status": "ok", "stopped": True}
    assert requests.get(f"{url}/api/ingest/status", timeout=30).json()["state"] == "stopped"


def test_live_serves_many_clients_at_once(url):
    sockets = [websocket.create_connection(url.replace("http://", "ws://") + "/ws/live", timeout=15) for _ in range(20)]
    try:
        first = [json.loads(ws.recv()) for ws in sockets]
        assert all(m["type"] == "heartbeat" and "btcusdt" in m["symbols"] for m in first)
        began = time.monotonic()
        assert requests.get(f"{url}/api/symbols", timeout=30).status_code == 200
        assert time.monotonic() - began < 2
    finally:
        for ws in sockets:
            ws.close()


def test_gaps(url):
    assert requests.get(f"{url}/api/gaps", params={"symbol": "btcusdt"}, timeout=30).json() == {"gaps": []}
    refused(requests.get(f"{url}/api/gaps", params={"limit": "-1"}, timeout=30), 400, "limit")


def test_foreign_origin_cannot_change_or_stream(url):
    evil = {"Origin": "http://evil.example"}
    rule = {"symbol_x": "btcusdt", "symbol_y": "ethusdt", "metric": "zscore", "op": ">", "threshold": 1}
    before = requests.get(f"{url}/api/alerts", timeout=30).json()
    refused(requests.post(f"{url}/api/alerts", json=rule, headers=evil, timeout=30), 403, "Origin")
    refused(
        requests.post(f"{url}/api/ingest/start", json={"symbols": ["btcusdt"]}, headers=evil, timeout=30), 403, "Origin"
    )
    assert requests.get(f"{url}/api/alerts", timeout=30).json() == before
    with pytest.raises(websocket.WebSocketException):
        heartbeats(url, 1, origin="http://evil.example")
    read = requests.get(f"{url}/api/symbols", headers=evil, timeout=30)
    assert "access-control-allow-origin" not in {k.lower() for k in read.headers}  # the browser will not show it
    allowed = requests.get(f"{url}/api/symbols", headers={"Origin": "http://allowed.example"}, timeout=30)
    assert allowed.headers["access-control-allow-origin"] == "http://allowed.example"
    own = requests.post(f"{url}/api/alerts", json=rule, headers={"Origin": url}, timeout=30).json()
    assert requests.delete(f"{url}/api/alerts/{own['id']}", headers={"Origin": url}, timeout=30).json()["removed"]


def test_token_when_configured(db, tmp_path):
    with serve(tmp_path / "server.log", {"DATA_FEED": "simulated", **database_env(db), "API_TOKEN": "s3cret"}) as u:
        refused(requests.get(f"{u}/api/symbols", timeout=30), 401, "token")
        with pytest.raises(websocket.WebSocketException):
            heartbeats(u, 1)
        refused(requests.get(f"{u}/api/symbols", headers={"Authorization": "Bearer nope"}, timeout=30), 401, "token")
        ok = requests.get(f"{u}/api/symbols", headers={"Authorization": "Bearer s3cret"}, timeout=30)
        assert ok.status_code == 200 and "btcusdt" in ok.json()["symbols"]
        ws = websocket.create_connection(u.replace("http://", "ws://") + "/ws/live?token=s3cret", timeout=15)
        assert json.loads(ws.recv())["type"] == "heartbeat"
        ws.close()
        assert requests.get(f"{u}/_stcore/health", timeout=30).text == "ok"  # the dashboard itself is not gated
        settings = dataclasses.replace(config.load_settings({}), api_token="s3cret")
        link = signed_link(settings, "/api/ticks.csv", {"symbols": "BTCUSDT", "start": "0"})
        text = requests.get(u + link, timeout=30).text
        assert "s3cret" not in link and text.count("\nBTCUSDT,") >= 3000 and "ETHUSDT" not in text
        refused(requests.get(u + link.replace("BTCUSDT", "ETHUSDT"), timeout=30), 401, "token")  # altered
        refused(requests.get(u + link.replace("/api/ticks.csv", "/api/symbols"), timeout=30), 401, "token")
        forged = signed_link(dataclasses.replace(settings, api_token="guess"), "/api/ticks.csv", {"symbols": "BTCUSDT"})
        refused(requests.get(u + forged, timeout=30), 401, "token")


def test_unknown_paths_and_methods_answer_in_the_error_shape(url):
    refused(requests.get(f"{url}/api/nope", timeout=30), 404, "path")
    wrong = requests.delete(f"{url}/api/symbols", timeout=30)
    assert "GET" in refused(wrong, 405, "method")["msg"] and wrong.headers["allow"] == "GET, HEAD"
    refused(requests.get(f"{url}/api/alerts/3", timeout=30), 405, "method")
    assert requests.get(f"{url}/", timeout=30).headers["content-type"].startswith("text/html")  # the page


def test_an_upload_over_the_limit_is_a_413_before_its_body_is_read(url):
    """A multipart body announcing more than MAX_UPLOAD_MB is refused at once (nothing of it is read)."""
    host = url.removeprefix("http://")
    conn = http.client.HTTPConnection(host, timeout=30)
    try:
        conn.putrequest("POST", "/api/upload_ndjson")
        conn.putheader("Content-Type", "multipart/form-data; boundary=b")
        conn.putheader("Content-Length", str(10 * 2**30))
        conn.endheaders()
        answer = conn.getresponse()
        status, text = answer.status, answer.read().decode()
    finally:
        conn.close()
    body = json.loads(text)
    assert status == 413 and body["param"] == "file" and body["msg"] == body["error"] and "MAX_UPLOAD_MB" in body["msg"]
    assert set(body) == {"status", "error", "msg", "param"}
    refused(
        requests.post(
            f"{url}/api/upload_ndjson",
            data=b"--b\r\nnot a form",
            headers={"Content-Type": "multipart/form-data; boundary=b"},
            timeout=30,
        ),
        400,
        "file",
    )


def test_a_fault_of_the_server_is_a_500_in_the_error_shape(tmp_path):
    """A database written by a newer version of the program: a write refuses to migrate it, which no handler
    expects; the answer is a 500 in the error shape, the traceback goes to the server log only."""
    path = str(tmp_path / "newer.db")
    database.ensure_database(path)
    with contextlib.closing(sqlite3.connect(path)) as conn:
        conn.execute("PRAGMA user_version=9999")
    rule = {"symbol_x": "btcusdt", "symbol_y": "ethusdt", "metric": "zscore", "op": ">", "threshold": 1}
    log = tmp_path / "server.log"
    with serve(log, {"DATA_FEED": "simulated", "DATABASE_URL": "", "CRYPTO_DB_PATH": path}) as u:
        body = refused(requests.post(f"{u}/api/alerts", json=rule, timeout=30), 500, "")
    assert "internal error" in body["msg"]
    assert "API handler failed" in log.read_text() and "Traceback" in log.read_text()


def test_an_unreachable_database_is_a_503_in_the_error_shape(tmp_path):
    """A PostgreSQL server that does not answer (nothing listens on its port): every read and write is a 503."""
    target = f"postgresql://nobody@127.0.0.1:{free_port()}/ticks"
    rule = {"symbol_x": "btcusdt", "symbol_y": "ethusdt", "metric": "zscore", "op": ">", "threshold": 1}
    with serve(tmp_path / "server.log", {"DATA_FEED": "simulated", "DATABASE_URL": target}) as u:
        for resp in (
            requests.get(f"{u}/api/symbols", timeout=30),
            requests.get(f"{u}/api/gaps", timeout=30),
            requests.post(f"{u}/api/alerts", json=rule, timeout=30),
        ):
            body = refused(resp, 503, "database")
            assert body["msg"].startswith("database unavailable")


def test_scanner_run_and_results(url, db):
    planted = collector.store_simulated_history(db, symbols=12, days=2, planted=2)
    query = {"days": 2, "quote": "", "fdr": 0.05}
    assert requests.get(f"{url}/api/scanner", params={**query, "days": 3}, timeout=30).json() == {
        "state": "none",
        "pairs": [],
    }
    assert requests.post(f"{url}/api/scanner/run", params=query, timeout=30).json()["state"] in ("running", "done")
    deadline = time.monotonic() + 120
    while (found := requests.get(f"{url}/api/scanner", params=query, timeout=30).json())["state"] == "running":
        assert time.monotonic() < deadline
        time.sleep(0.5)
    assert found["error"] == "" and found["symbols"] >= 12 and found["pairs"]
    best = {frozenset((found["pairs"][0]["x"], found["pairs"][0]["y"]))}
    assert best <= planted
    assert found["view"] == "leads" and all(p["lead"] and p["selected"] for p in found["pairs"])  # one per discovery
    summary = found["summary"]
    assert summary["tested"] == 66 and summary["selected"] >= len(found["pairs"]) == summary["groups"]
    assert summary["sent"] == summary["confirmed"] + summary["unconfirmed"]
    tested = requests.get(f"{url}/api/scanner", params={**query, "view": "tested", "limit": 500}, timeout=30).json()
    assert len(tested["pairs"]) == 66 and not all(p["confirmed"] for p in tested["pairs"])
    refused(requests.get(f"{url}/api/scanner", params={**query, "view": "all"}, timeout=30), 400, "view")
    refused(requests.get(f"{url}/api/scanner", params={"fdr": "0.2"}, timeout=30), 400, "fdr")
    refused(requests.get(f"{url}/api/scanner", params={"days": "99"}, timeout=30), 400, "days")
    refused(
        requests.post(f"{url}/api/scanner/run", headers={"Origin": "http://evil.example"}, timeout=30), 403, "Origin"
    )


def test_research_bands_walk_forward_and_dsr(url):
    bands = requests.get(f"{url}/api/research/bands", params=PAIR, timeout=60).json()
    assert bands["bands"]["entry"] < bands["fit"]["theta"] < bands["bands"]["exit"], bands
    assert bands["entry_z"] > 0 and isinstance(bands["covers_cost"], bool) and bands["cost_bps"] > 0
    assert bands["trade_seconds"] > 0 and bands["fit"]["bar_years"] > 0 and "units" in bands
    walk = requests.get(f"{url}/api/research/walkforward", params={**PAIR, "bands": "fixed"}, timeout=60).json()
    assert walk["bands"] == "fixed" and len(walk["windows"]) >= 2, walk
    assert set(walk["in_sample"]) == set(walk["out_of_sample"])
    assert set(walk["in_sample"]) == {"annual_return", "sharpe", "pnl", "trades", "costs", "funding"}
    assert walk["out_of_sample"]["trades"] >= 0
    assert all(w["formation_end"] <= w["trade_start"] for w in walk["windows"])
    assert list(walk["equity"].values())[-1] == pytest.approx(10_000 + walk["out_of_sample"]["pnl"], abs=1e-6)
    dsr = requests.get(f"{url}/api/research/dsr", params=PAIR, timeout=120).json()
    assert dsr["deflated"]["n_trials"] == 19 and 0 <= dsr["deflated"]["dsr"] <= 1
    assert 0 <= dsr["overfitting"]["pbo"] <= 1 and "logits" not in dsr["overfitting"]
    assert "After 19 tries, the chance this Sharpe is real" in dsr["words"]


@pytest.mark.parametrize("path", ["bands", "walkforward", "dsr"])
def test_research_bad_parameters(url, path):
    refused(requests.get(f"{url}/api/research/{path}", params={"y": "ethusdt"}, timeout=30), 400, "x")
    refused(
        requests.get(f"{url}/api/research/{path}", params={**PAIR, "timeframe": "abc"}, timeout=30), 400, "timeframe"
    )
    refused(requests.get(f"{url}/api/research/{path}", params={"x": "btcusdt", "y": "solusdt"}, timeout=30), 409, "x")


def test_research_walk_forward_refuses_unknown_levels(url):
    refused(
        requests.get(f"{url}/api/research/walkforward", params={**PAIR, "bands": "magic"}, timeout=30), 400, "bands"
    )
