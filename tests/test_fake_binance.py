"""The fake Binance server itself speaks the protocol: WebSocket routes, control replies, faults, REST endpoints."""

from __future__ import annotations

import json
import time
import urllib.error
import urllib.request

import pytest
import websocket
from fake_binance import FakeBinance

pytestmark = [pytest.mark.network, pytest.mark.timeout(30)]


def _ws(url: str, timeout: float = 2.0) -> websocket.WebSocket:
    return websocket.create_connection(url, timeout=timeout)


def _recv_json(ws: websocket.WebSocket) -> dict:
    return json.loads(ws.recv())


def _silent(ws: websocket.WebSocket, seconds: float = 0.3) -> bool:
    """True if nothing arrives within `seconds`."""
    ws.settimeout(seconds)
    try:
        ws.recv()
    except websocket.WebSocketTimeoutException:
        return True
    return False


def _get(fb: FakeBinance, path: str) -> tuple[int, dict, object]:
    """(status, headers, decoded body) of a REST GET, for error statuses too."""
    try:
        with urllib.request.urlopen(fb.rest_base + path, timeout=5) as response:
            return response.status, dict(response.headers), json.loads(response.read())
    except urllib.error.HTTPError as err:
        body = err.read()
        try:
            return err.code, dict(err.headers), json.loads(body)
        except ValueError:
            return err.code, dict(err.headers), body


# ------------------------------------------------------------------------------------------------- WebSocket control
def test_subscribe_list_unsubscribe_replies_carry_the_request_id(fb):
    ws = _ws(fb.ws_base + "/ws")
    ws.send(json.dumps({"method": "SUBSCRIBE", "params": ["btcusdt@aggTrade", "ethusdt@aggTrade"], "id": 1}))
    assert _recv_json(ws) == {"result": None, "id": 1}
    ws.send(json.dumps({"method": "LIST_SUBSCRIPTIONS", "id": 2}))
    assert _recv_json(ws) == {"result": ["btcusdt@aggTrade", "ethusdt@aggTrade"], "id": 2}
    ws.send(json.dumps({"method": "UNSUBSCRIBE", "params": ["btcusdt@aggTrade"], "id": 3}))
    assert _recv_json(ws) == {"result": None, "id": 3}
    ws.send(json.dumps({"method": "LIST_SUBSCRIPTIONS", "id": 4}))
    assert _recv_json(ws) == {"result": ["ethusdt@aggTrade"], "id": 4}
    ws.send(json.dumps({"method": "GET_PROPERTY", "params": ["combined"], "id": 5}))
    assert _recv_json(ws) == {"result": False, "id": 5}
    ws.close()


@pytest.mark.parametrize(
    "request_, error",
    [
        (
            {"method": "SUBSCRIBE", "params": ["BTC USDT"], "id": 7},
            {"code": 2, "msg": "Invalid request: invalid stream"},
        ),
        (
            {"method": "SUBSCRIBE", "params": ["btcusdt@aggTrade"], "id": "abc"},
            {"code": 2, "msg": "Invalid request: request ID must be an unsigned integer"},
        ),
        ({"params": ["btcusdt@aggTrade"], "id": 7}, {"code": 2, "msg": "Invalid request: missing field `method`"}),
        (
            {"method": "SET_PROPERTY", "params": ["combined", "yes"], "id": 7},
            {"code": 1, "msg": "Invalid value type: expected Boolean"},
        ),
    ],
)
def test_bad_requests_get_binance_error_replies(fb, request_, error):
    ws = _ws(fb.ws_base + "/ws")
    ws.send(json.dumps(request_))
    reply = _recv_json(ws)
    assert reply["error"] == error
    assert reply["id"] == (request_["id"] if isinstance(request_["id"], int) else None)
    ws.close()


def test_unknown_method_and_invalid_json(fb):
    ws = _ws(fb.ws_base + "/ws")
    ws.send(json.dumps({"method": "SUBSCRIBEX", "id": 1}))
    reply = _recv_json(ws)
    assert reply["error"]["code"] == 2 and "unknown variant `SUBSCRIBEX`" in reply["error"]["msg"]
    ws.send("{not json")
    assert _recv_json(ws)["error"]["code"] == 3
    ws.close()


def test_scripted_subscribe_error_and_subscription_cap():
    with FakeBinance(max_streams_per_connection=2) as fb:
        ws = _ws(fb.ws_base + "/ws")
        fb.fail_next_subscribe(code=2, msg="Invalid request: invalid stream")
        ws.send(json.dumps({"method": "SUBSCRIBE", "params": ["btcusdt@aggTrade"], "id": 1}))
        assert _recv_json(ws) == {"error": {"code": 2, "msg": "Invalid request: invalid stream"}, "id": 1}
        ws.send(
            json.dumps(
                {"method": "SUBSCRIBE", "params": ["a1usdt@aggTrade", "b1usdt@aggTrade", "c1usdt@aggTrade"], "id": 2}
            )
        )
        assert _recv_json(ws) == {"error": {"code": 4, "msg": "Too many subscriptions"}, "id": 2}
        ws.close()


def test_more_than_ten_messages_per_second_closes_the_connection(fb):
    ws = _ws(fb.ws_base + "/ws")
    for i in range(12):
        ws.send(json.dumps({"method": "LIST_SUBSCRIPTIONS", "id": i}))
    with pytest.raises((websocket.WebSocketConnectionClosedException, ConnectionError)):
        for _ in range(13):
            ws.recv()
    assert fb.stats().rate_limit_closes == 1


# ---------------------------------------------------------------------------------------------------- data routes
def test_routed_combined_stream_delivers_aggtrade_frames_matching_history(fb):
    ws = _ws(fb.ws_base + "/stream?streams=btcusdt@aggTrade")
    assert fb.wait_subscribed(["BTCUSDT"])
    fb.stream_trades(["BTCUSDT"], count=3).wait()
    frames = [_recv_json(ws) for _ in range(3)]
    history = fb.history("BTCUSDT")
    assert [f["stream"] for f in frames] == ["btcusdt@aggTrade"] * 3
    for frame, trade in zip(frames, history):
        data = frame["data"]
        assert data["e"] == "aggTrade" and data["s"] == "BTCUSDT"
        assert (data["a"], data["p"], data["q"], data["f"], data["l"], data["T"], data["m"]) == (
            trade.agg_id,
            trade.price,
            trade.qty,
            trade.first_id,
            trade.last_id,
            trade.time_ms,
            trade.buyer_maker,
        )
    assert [t.agg_id for t in history] == list(fb.history_ids("BTCUSDT"))
    ws.close()


def test_raw_path_sends_bare_payloads_and_public_route_serves_trade(fb):
    raw = _ws(fb.ws_base + "/ws/ethusdt@aggTrade")
    public = _ws(fb.ws_root + "/public/stream?streams=ethusdt@trade")
    assert fb.wait_subscribed(["ETHUSDT"])
    fb.stream_trades(["ETHUSDT"], count=1).wait()
    payload = _recv_json(raw)
    assert payload["e"] == "aggTrade" and "stream" not in payload
    trade = _recv_json(public)
    assert trade["stream"] == "ethusdt@trade" and trade["data"]["t"] == payload["a"]
    assert trade["data"]["X"] == "MARKET"
    raw.close()
    public.close()


@pytest.mark.parametrize("path", ["/stream", "/ws", "/public/ws"])
def test_unrouted_paths_ack_aggtrade_subscriptions_but_send_nothing(fb, path):
    ws = _ws(fb.ws_root + path)
    ws.send(json.dumps({"method": "SUBSCRIBE", "params": ["btcusdt@aggTrade"], "id": 1}))
    assert _recv_json(ws) == {"result": None, "id": 1}
    fb.stream_trades(["BTCUSDT"], count=20).wait()
    assert _silent(ws)
    ws.close()


def test_unknown_symbol_is_acknowledged_then_silent(fb):
    ws = _ws(fb.ws_base + "/ws")
    ws.send(json.dumps({"method": "SUBSCRIBE", "params": ["nosuchusdt@aggTrade"], "id": 9}))
    assert _recv_json(ws) == {"result": None, "id": 9}
    fb.stream_trades(["BTCUSDT"], count=5).wait()
    assert _silent(ws)
    ws.close()


def test_handshake_rejections(fb):
    with pytest.raises(websocket.WebSocketBadStatusException) as info:
        _ws(fb.ws_root + "/nowhere")
    assert info.value.status_code == 404
    fb.reject_connections(1, status=503)
    with pytest.raises(websocket.WebSocketBadStatusException) as info:
        _ws(fb.ws_base + "/ws")
    assert info.value.status_code == 503
    _ws(fb.ws_base + "/ws").close()
    assert fb.stats().handshakes_rejected == 1


# ----------------------------------------------------------------------------------------------------------- faults
def test_abrupt_drop_has_no_close_frame_and_graceful_drop_has_one(fb):
    abrupt = _ws(fb.ws_base + "/ws/btcusdt@aggTrade")
    assert fb.wait_subscribed(["BTCUSDT"])
    assert fb.drop_connections(abrupt=True) == 1
    with pytest.raises((websocket.WebSocketConnectionClosedException, ConnectionError)):
        abrupt.recv()
    polite = _ws(fb.ws_base + "/ws/btcusdt@aggTrade")
    assert fb.wait_subscribed(["BTCUSDT"])
    fb.drop_connections(abrupt=False)
    opcode, frame = polite.recv_data_frame(control_frame=True)
    assert opcode == websocket.ABNF.OPCODE_CLOSE
    assert int.from_bytes(frame.data[:2], "big") == 1001


def test_stall_silence_and_garbage(fb):
    ws = _ws(fb.ws_base + "/ws/btcusdt@aggTrade")
    assert fb.wait_subscribed(["BTCUSDT"])
    fb.stall(0.5)
    fb.stream_trades(["BTCUSDT"], count=3).wait()
    assert _silent(ws, 0.2)
    time.sleep(0.4)
    fb.silence(["BTCUSDT"])
    fb.stream_trades(["BTCUSDT"], count=3).wait()
    assert _silent(ws, 0.2)
    fb.unsilence()
    fb.inject_garbage(every=1)
    fb.stream_trades(["BTCUSDT"], count=4).wait()
    ws.settimeout(2)
    received = [ws.recv() for _ in range(8)]
    good = [json.loads(r) for r in received[0::2]]
    assert [g["a"] for g in good] == list(fb.history_ids("BTCUSDT"))[-4:]
    assert sum(fb.stats().garbage_sent.values()) == 4
    assert len(fb.history("BTCUSDT")) == 10


def test_connection_age_cut():
    with FakeBinance(max_connection_age_s=0.3) as fb:
        ws = _ws(fb.ws_base + "/ws/btcusdt@aggTrade")
        opcode, _frame = ws.recv_data_frame(control_frame=True)
        assert opcode == websocket.ABNF.OPCODE_CLOSE
        assert fb.stats().age_cuts == 1


def test_server_pings():
    with FakeBinance(ping_interval_s=0.1, ping_timeout_s=1.0) as fb:
        ws = _ws(fb.ws_base + "/ws/btcusdt@aggTrade")
        opcode, _ = ws.recv_data_frame(control_frame=True)
        assert opcode == websocket.ABNF.OPCODE_PING
        ws.close()


# ------------------------------------------------------------------------------------------------------------- REST
def test_rest_ping_time_and_exchange_info(fb):
    assert _get(fb, "/fapi/v1/ping")[2] == {}
    status, headers, body = _get(fb, "/fapi/v1/time")
    assert status == 200 and abs(body["serverTime"] - fb.now_ms()) < 5000
    assert int(headers["X-MBX-USED-WEIGHT-1M"]) >= 1
    fb.add_symbol("OLDUSDT", status="SETTLING")
    info = _get(fb, "/fapi/v1/exchangeInfo")[2]
    assert {"rateLimitType": "REQUEST_WEIGHT", "interval": "MINUTE", "intervalNum": 1, "limit": 2400} in info[
        "rateLimits"
    ]
    symbols = {s["symbol"]: s for s in info["symbols"]}
    btc = symbols["BTCUSDT"]
    filters = {f["filterType"]: f for f in btc["filters"]}
    assert (
        btc["status"],
        btc["contractType"],
        filters["PRICE_FILTER"]["tickSize"],
        filters["LOT_SIZE"]["stepSize"],
        filters["MIN_NOTIONAL"]["notional"],
    ) == ("TRADING", "PERPETUAL", "0.10", "0.001", "100")
    assert symbols["OLDUSDT"]["status"] == "SETTLING"


def test_rest_agg_trades_paging_window_and_errors(fb):
    now = fb.now_ms()
    old = fb.generate("BTCUSDT", 50, start_ms=now - 50 * 3600 * 1000, spacing_ms=1000)
    recent = fb.generate("BTCUSDT", 1500, start_ms=now - 10_000, spacing_ms=5)
    page = _get(fb, f"/fapi/v1/aggTrades?symbol=BTCUSDT&fromId={recent[0]}&limit=1000")[2]
    assert [r["a"] for r in page] == list(recent[:1000])
    assert set(page[0]) == {"a", "p", "q", "f", "l", "T", "m"}
    page2 = _get(fb, f"/fapi/v1/aggTrades?symbol=BTCUSDT&fromId={page[-1]['a'] + 1}&limit=1000")[2]
    assert [r["a"] for r in page2] == list(recent[1000:])
    outside = _get(fb, f"/fapi/v1/aggTrades?symbol=BTCUSDT&fromId={old[0]}&limit=10")[2]
    assert outside[0]["a"] == recent[0], "trades older than the 48 h window are not served"
    latest = _get(fb, "/fapi/v1/aggTrades?symbol=BTCUSDT&limit=3")[2]
    assert [r["a"] for r in latest] == list(recent[-3:])
    window = _get(fb, f"/fapi/v1/aggTrades?symbol=BTCUSDT&startTime={now - 10_000}&endTime={now - 9_990}")[2]
    assert [r["a"] for r in window] == list(recent[:3])
    status, _, body = _get(fb, f"/fapi/v1/aggTrades?symbol=BTCUSDT&startTime={now - 7_200_000}&endTime={now}")
    assert (status, body) == (400, {"code": -1127, "msg": "More than 1 hours between startTime and endTime."})
    assert _get(fb, "/fapi/v1/aggTrades?symbol=NOPEUSDT")[::2] == (400, {"code": -1121, "msg": "Invalid symbol."})
    assert _get(fb, "/fapi/v1/aggTrades?symbol=BTCUSDT&limit=1001")[2]["code"] == -1130
    assert _get(fb, "/fapi/v1/aggTrades?symbol=BTCUSDT&fromId=abc")[2]["code"] == -1100
    assert _get(fb, "/fapi/v1/aggTrades")[2]["code"] == -1102
    assert _get(fb, "/fapi/v1/nothing")[0] == 404


def test_rest_klines_aggregate_the_history(fb):
    start = (fb.now_ms() // 60_000 - 10) * 60_000
    fb.generate("ETHUSDT", 120, start_ms=start, spacing_ms=1000)
    rows = _get(fb, f"/fapi/v1/klines?symbol=ETHUSDT&interval=1m&startTime={start}&limit=1500")[2]
    history = fb.history("ETHUSDT")
    assert [r[0] for r in rows] == [start, start + 60_000]
    first = [t for t in history if t.time_ms < start + 60_000]
    prices = [float(t.price) for t in first]
    assert (float(rows[0][1]), float(rows[0][2]), float(rows[0][3]), float(rows[0][4])) == (
        prices[0],
        max(prices),
        min(prices),
        prices[-1],
    )
    assert float(rows[0][5]) == pytest.approx(sum(float(t.qty) for t in first))
    assert rows[0][6] == start + 59_999 and rows[0][8] == sum(t.last_id - t.first_id + 1 for t in first)
    assert _get(fb, "/fapi/v1/klines?symbol=ETHUSDT&interval=7m")[2]["code"] == -1120
    assert _get(fb, "/fapi/v1/klines?symbol=ETHUSDT&interval=1m&limit=1501")[2]["code"] == -1130


def test_rest_scripted_faults_and_weight_limit():
    with FakeBinance(rest_weight_limit=25) as fb:
        fb.clock_offset_ms = 1000 - fb.now_ms() % 60_000  # a fresh weight minute with 59 s left
        fb.fail_rest(429, count=1, retry_after_s=3)
        status, headers, body = _get(fb, "/fapi/v1/ping")
        assert (status, headers["Retry-After"], body["code"]) == (429, "3", -1003)
        fb.fail_rest(418, retry_after_s=120)
        assert _get(fb, "/fapi/v1/ping")[0] == 418
        fb.fail_rest(200, body="<html>maintenance</html>", content_type="text/html", path="/fapi/v1/time")
        with urllib.request.urlopen(fb.rest_base + "/fapi/v1/time", timeout=5) as response:
            assert response.read() == b"<html>maintenance</html>"
        assert _get(fb, "/fapi/v1/aggTrades?symbol=BTCUSDT&limit=1")[0] == 200  # weight 20 of 25
        status, headers, body = _get(fb, "/fapi/v1/aggTrades?symbol=BTCUSDT&limit=1")
        assert status == 429 and int(headers["Retry-After"]) >= 1 and body["code"] == -1003
        stats = fb.stats()
        assert stats.rest_requests["/fapi/v1/aggTrades"] == 2 and stats.rest_faults_served == 3
        fb.fail_rest(503, count=5)
        fb.clear_faults()
        assert _get(fb, "/fapi/v1/time")[0] == 200
