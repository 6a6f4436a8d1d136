"""data_feed: frame parsing, the live Binance feed against the fake server, REST client, simulated feed, recorder."""

from __future__ import annotations

import json
import time

import numpy as np
import pytest
from fake_binance import FakeBinance
from waiting import wait_until

import data_feed
from core.vocabulary import IdSpace
from data_feed import (
    BinanceFuturesFeed,
    BinanceRest,
    BinanceRestError,
    EventKind,
    FeedEvent,
    FeedState,
    FrameKind,
    FrameRecorder,
    ParseReport,
    ReplayFeed,
    SimulatedFeed,
    SimulatedMarket,
    Tick,
    UnknownSymbolError,
    decode_frame,
    iter_ticks_from_file,
    symbol_infos_from_exchange_info,
    validate_symbol,
)
from feed.rest import _WeightBudget

NOW = 1_723_161_256_322


class Sink:
    """Collects a feed's ticks and events (the callbacks run on feed threads; list.append is atomic)."""

    def __init__(self) -> None:
        self.ticks: list[Tick] = []
        self.events: list[FeedEvent] = []

    def attach(self, feed: data_feed.DataFeed) -> None:
        feed.set_callback(self.ticks.append)
        feed.set_event_callback(self.events.append)

    def ids(self, symbol: str) -> list[int]:
        return [t.trade_id for t in self.ticks if t.symbol == symbol]

    def kinds(self) -> list[str]:
        return [e.kind for e in self.events]


def assert_matches_history(fb: FakeBinance, sink: Sink, symbol: str) -> None:
    """The feed delivered exactly the exchange's trades of this symbol, once each, in order, with equal fields."""
    history = fb.history(symbol)
    ticks = [t for t in sink.ticks if t.symbol == symbol]
    assert [t.trade_id for t in ticks] == [h.agg_id for h in history]
    assert [(t.price, t.size, t.timestamp, t.is_buyer_maker) for t in ticks] == [
        (float(h.price), float(h.qty), h.time_ms, h.buyer_maker) for h in history
    ]


# ================================================================================================== frame decoding
def _agg(**extra) -> dict:
    payload = {
        "e": "aggTrade",
        "E": NOW,
        "a": 5933014,
        "s": "BTCUSDT",
        "p": "61800.30",
        "q": "0.006",
        "f": 100,
        "l": 105,
        "T": NOW - 2,
        "m": True,
    }
    payload.update(extra)
    return payload


def test_decode_combined_aggtrade_with_extra_fields():
    raw = json.dumps({"stream": "btcusdt@aggTrade", "data": _agg(nq="0.006", st=1)}).encode()
    frame = decode_frame(raw, NOW + 5)
    assert frame.kind is FrameKind.TICK
    assert frame.tick == Tick("BTCUSDT", 5933014, NOW - 2, 61800.3, 0.006, True, NOW + 5, IdSpace.AGG_TRADE)


def test_decode_raw_payload_and_trade_frames():
    assert decode_frame(json.dumps(_agg()), 1).tick.trade_id == 5933014
    trade = {
        "e": "trade",
        "E": NOW,
        "T": NOW,
        "s": "ETHUSDT",
        "t": 4308068523,
        "p": "2681.62",
        "q": "1.000",
        "X": "MARKET",
        "m": False,
    }
    frame = decode_frame(json.dumps({"stream": "ethusdt@trade", "data": trade}), 2)
    assert frame.tick == Tick("ETHUSDT", 4308068523, NOW, 2681.62, 1.0, False, 2, IdSpace.TRADE)


def test_zero_price_trade_rows_are_placeholders_not_ticks():
    row = {
        "e": "trade",
        "E": NOW,
        "T": NOW,
        "s": "BTCUSDT",
        "t": 77,
        "p": "0",
        "q": "0",
        "X": "NA",
        "m": False,
        "st": 1,
    }
    frame = decode_frame(json.dumps(row), 1)
    assert (frame.kind, frame.symbol, frame.trade_id, frame.tick) == (FrameKind.PLACEHOLDER, "BTCUSDT", 77, None)


@pytest.mark.parametrize(
    "raw, kind, detail",
    [
        ('{"result":null,"id":1}', FrameKind.REPLY, ""),
        ('{"result":["btcusdt@aggTrade"],"id":3}', FrameKind.REPLY, ""),
        (
            '{"error":{"code":2,"msg":"Invalid request: invalid stream"},"id":2}',
            FrameKind.ERROR_REPLY,
            "code 2: Invalid request: invalid stream",
        ),
        (
            '{"stream":"btcusdt@depth","data":{"e":"depthUpdate","u":1,"s":"BTCUSDT"}}',
            FrameKind.OTHER,
            "depthUpdate",
        ),
        ('{"lastUpdateId":1,"bids":[],"asks":[]}', FrameKind.OTHER, "no event type"),
    ],
)
def test_control_and_other_frames(raw, kind, detail):
    frame = decode_frame(raw, 0)
    assert frame.kind is kind
    assert frame.detail == detail


def test_book_ticker_and_mark_price_frames_are_records():
    book = {"e": "bookTicker", "u": 400900217, "s": "BNBUSDT", "b": "25.35190000", "B": "31.21000000"}
    book |= {"a": "25.36520000", "A": "40.66000000", "T": 1568014460891, "E": 1568014460893}
    frame = decode_frame(json.dumps({"stream": "bnbusdt@bookTicker", "data": book}), 7)
    assert frame.kind is FrameKind.QUOTE and frame.quote == data_feed.Quote(
        "BNBUSDT", 1568014460891, 25.3519, 31.21, 25.3652, 40.66, 7, 400900217
    )
    mark = {"e": "markPriceUpdate", "E": 1562305380000, "s": "BTCUSDT", "p": "11794.15000000", "i": "11784.6"}
    mark |= {"P": "11784.25", "r": "0.00038167", "T": 1562306400000}
    frame = decode_frame(json.dumps(mark), 0)
    assert frame.kind is FrameKind.MARK and frame.mark == data_feed.MarkPrice(
        "BTCUSDT", 1562305380000, 11794.15, 0.00038167, 1562306400000
    )
    crossed = decode_frame(json.dumps(book | {"b": "25.4"}), 0)
    assert crossed.kind is FrameKind.MALFORMED and "not a book" in crossed.detail
    partial = decode_frame(json.dumps({k: v for k, v in book.items() if k != "A"}), 0)
    assert partial.kind is FrameKind.MALFORMED and "missing field 'A'" in partial.detail


@pytest.mark.parametrize(
    "raw, needle",
    [
        (b'{"stream":"btcusdt@aggTrade","data":{"e":"aggTr', "not JSON"),
        ("<html>502</html>", "not JSON"),
        ("[1,2]", "not a JSON object"),
        (json.dumps(_agg(p="abc")), "price 'abc' is not a number"),
        (json.dumps({k: v for k, v in _agg().items() if k != "q"}), "missing field 'q'"),
        (json.dumps(_agg(a="12")), "trade id '12' is not an integer"),
        (json.dumps(_agg(T=12)), "trade time 12"),
        (json.dumps(_agg(s="btc usdt")), "invalid symbol"),
        (json.dumps(_agg(m="yes")), "buyer-is-maker"),
        (b"\xff\xfe", "not JSON"),
    ],
)
def test_malformed_frames_are_classified_with_a_reason(raw, needle):
    frame = decode_frame(raw, 0)
    assert frame.kind is FrameKind.MALFORMED
    assert needle in frame.detail


def test_validate_symbol():
    assert validate_symbol(" btcusdt ") == "BTCUSDT"
    for bad in ("BTC-USDT", "X", "A" * 21, "", "btc usdt", None):
        with pytest.raises(ValueError, match="invalid symbol"):
            validate_symbol(bad)
    with pytest.raises(ValueError, match=r"'BTC-USDT'.*'x'"):
        BinanceFuturesFeed().connect(["ETHUSDT", "BTC-USDT", "x"])


# ============================================================================================= live feed (network)
@pytest.fixture
def make_feed(fb):
    """Factory of BinanceFuturesFeeds on the fake server with test-sized timings; disconnects them afterwards."""
    feeds: list[BinanceFuturesFeed] = []

    def factory(url: str | None = None, **options) -> tuple[BinanceFuturesFeed, Sink]:
        settings = dict(
            backoff_initial_s=0.05, backoff_max_s=0.2, stall_first_s=3.0, stall_idle_s=3.0, rotation_overlap_s=0.2
        )
        settings.update(options)
        feed = BinanceFuturesFeed(url or fb.ws_base, **settings)
        sink = Sink()
        sink.attach(feed)
        feeds.append(feed)
        return feed, sink

    yield factory
    for feed in feeds:
        feed.disconnect()


PAIR = ["BTCUSDT", "ETHUSDT"]


@pytest.mark.network
@pytest.mark.timeout(30)
def test_thousands_of_trades_for_two_symbols_arrive_once_in_order(fb, make_feed):
    feed, sink = make_feed()
    feed.connect(PAIR)
    assert fb.wait_subscribed(PAIR)
    assert feed.is_connected() and feed.get_stats().state is FeedState.CONNECTED
    fb.stream_trades(PAIR, count=3000, rate_per_s=None).wait()
    assert wait_until(lambda: len(sink.ticks) == 6000)
    for symbol in PAIR:
        assert_matches_history(fb, sink, symbol)
    stats = feed.get_stats()
    assert (stats.ticks, stats.frames, stats.duplicates_dropped, stats.parse_errors) == (6000, 6000, 0, 0)
    assert stats.streams == ["btcusdt@aggTrade", "ethusdt@aggTrade"]
    assert stats.last_ids == {s: fb.history_ids(s)[-1] for s in PAIR}


@pytest.mark.network
@pytest.mark.timeout(30)
@pytest.mark.parametrize("abrupt", [True, False], ids=["tcp-close", "close-frame"])
def test_feed_reconnects_by_itself_after_the_server_drops_mid_stream(fb, make_feed, abrupt):
    feed, sink = make_feed()
    feed.connect(PAIR)
    assert fb.wait_subscribed(PAIR)
    job = fb.stream_trades(PAIR, count=3000, rate_per_s=3000)
    assert wait_until(lambda: len(sink.ticks) > 500)
    fb.drop_connections(abrupt=abrupt)
    job.wait()
    for symbol in PAIR:
        assert wait_until(lambda s=symbol: sink.ids(s)[-1:] == [fb.history_ids(s)[-1]])
        ids = sink.ids(symbol)
        assert ids == sorted(set(ids)), "in order, none twice"
        assert set(ids) <= set(fb.history_ids(symbol))
    stats = feed.get_stats()
    assert stats.reconnects >= 1 and stats.state is FeedState.CONNECTED
    kinds = sink.kinds()
    assert kinds.count(EventKind.CONNECTED) >= 2 and EventKind.DISCONNECTED in kinds and EventKind.RECONNECTING in kinds
    assert fb.stats().connections_accepted >= 2


@pytest.mark.network
@pytest.mark.timeout(30)
def test_malformed_truncated_and_unknown_frames_are_counted_and_skipped(fb, make_feed):
    feed, sink = make_feed()
    feed.connect(PAIR)
    assert fb.wait_subscribed(PAIR)
    fb.inject_garbage(every=10)
    fb.stream_trades(PAIR, count=1000).wait()
    assert wait_until(lambda: len(sink.ticks) == 2000)
    for symbol in PAIR:
        assert_matches_history(fb, sink, symbol)
    garbage = fb.stats().garbage_sent
    stats = feed.get_stats()
    assert stats.parse_errors == garbage["truncated"] + garbage["not_json"] + garbage["bad_field"] > 0
    assert stats.unknown_events == garbage["unknown_event"] > 0
    assert stats.state is FeedState.CONNECTED and stats.reconnects == 0


@pytest.mark.network
@pytest.mark.timeout(30)
def test_streams_beyond_the_url_are_subscribed_by_message(fb, make_feed):
    symbols = ["BTCUSDT", "ETHUSDT", "SOLUSDT"]
    feed, sink = make_feed(url_streams_max=1)
    feed.connect(symbols)
    assert fb.wait_subscribed(symbols)
    assert fb.stats().control_messages == 1, "one SUBSCRIBE for the two streams that did not go in the URL"
    fb.stream_trades(symbols, count=50).wait()
    assert wait_until(lambda: len(sink.ticks) == 150)
    for symbol in symbols:
        assert_matches_history(fb, sink, symbol)


@pytest.mark.network
@pytest.mark.timeout(30)
def test_subscribe_error_is_an_event_and_not_a_stall(fb, make_feed):
    feed, sink = make_feed(url_streams_max=1, stall_first_s=0.5)
    fb.fail_next_subscribe(code=2, msg="Invalid request: invalid stream")
    job = fb.stream_trades(PAIR, count=None, rate_per_s=100)
    try:
        feed.connect(PAIR)
        assert wait_until(lambda: EventKind.SUBSCRIBE_ERROR in sink.kinds())
        time.sleep(1.0)
    finally:
        job.stop()
    event = next(e for e in sink.events if e.kind is EventKind.SUBSCRIBE_ERROR)
    assert event.symbol == "ETHUSDT" and "Invalid request: invalid stream" in event.message
    assert EventKind.STALLED not in sink.kinds(), "a rejected stream is reported once, not treated as a stall"
    stats = feed.get_stats()
    assert stats.subscribe_errors == 1 and "Invalid request" in stats.last_error and stats.reconnects == 0
    btc = sink.ids("BTCUSDT")
    assert len(btc) > 50 and btc == list(range(btc[0], btc[-1] + 1)) and not sink.ids("ETHUSDT")


@pytest.mark.network
@pytest.mark.timeout(30)
def test_unrouted_base_url_is_reported_as_stalled_quickly(fb, make_feed):
    feed, sink = make_feed(url=fb.ws_root, stall_first_s=0.3)
    feed.connect(PAIR)
    job = fb.stream_trades(PAIR, count=None, rate_per_s=100)
    try:
        assert wait_until(lambda: sink.kinds().count(EventKind.STALLED) >= 2, timeout=3)
        stats = feed.get_stats()
        assert stats.state is FeedState.STALLED
        assert stats.stalled_streams == ["btcusdt@aggTrade", "ethusdt@aggTrade"]
        assert not sink.ticks
        stalled = [e for e in sink.events if e.kind is EventKind.STALLED]
        assert {e.symbol for e in stalled} == set(PAIR) and "no first message within 0.3 s" in stalled[0].message
        assert wait_until(lambda: feed.get_stats().reconnects >= 1, timeout=3)
    finally:
        job.stop()


@pytest.mark.network
@pytest.mark.timeout(30)
def test_silent_stream_and_idle_stall_recover_after_reconnect(fb, make_feed):
    feed, sink = make_feed(stall_first_s=0.4, stall_idle_s=0.4)
    fb.silence(["ETHUSDT"])
    feed.connect(PAIR)
    job = fb.stream_trades(PAIR, count=None, rate_per_s=200)
    try:
        assert wait_until(lambda: any(e.kind is EventKind.STALLED and e.symbol == "ETHUSDT" for e in sink.events))
        fb.unsilence()
        assert wait_until(lambda: len(sink.ids("ETHUSDT")) > 20 and feed.get_stats().state is FeedState.CONNECTED)
        fb.stall(1.5)
        assert wait_until(
            lambda: any("silent for more than" in e.message for e in sink.events if e.kind is EventKind.STALLED)
        )
        before = len(sink.ticks)
        assert wait_until(lambda: len(sink.ticks) > before + 50 and feed.get_stats().stalled_streams == [])
    finally:
        job.stop()
    for symbol in PAIR:
        ids = sink.ids(symbol)
        assert ids == sorted(set(ids))


@pytest.mark.network
@pytest.mark.timeout(30)
def test_stall_recovery_is_make_before_break_so_flowing_streams_lose_nothing(fb, make_feed):
    feed, sink = make_feed(stall_first_s=0.4)
    fb.silence(["ETHUSDT"])
    job = fb.stream_trades(["BTCUSDT"], count=None, rate_per_s=300)
    try:
        feed.connect(PAIR)
        assert wait_until(lambda: feed.get_stats().reconnects >= 3, timeout=10)
    finally:
        job.stop()
    job.wait()
    assert wait_until(lambda: sink.ids("BTCUSDT")[-1:] == [fb.history_ids("BTCUSDT")[-1]])
    btc = sink.ids("BTCUSDT")
    assert btc == list(range(btc[0], fb.history_ids("BTCUSDT")[-1] + 1)), "no BTC trade lost or doubled"
    stats = feed.get_stats()
    assert stats.state is FeedState.STALLED and stats.stalled_streams == ["ethusdt@aggTrade"]
    assert EventKind.DISCONNECTED not in sink.kinds() and fb.stats().connections_accepted >= 4


@pytest.mark.network
@pytest.mark.timeout(30)
def test_rotation_before_the_cut_overlaps_and_deduplicates_without_loss(make_feed):
    with FakeBinance(max_connection_age_s=1.5) as fb:
        feed, sink = make_feed(url=fb.ws_base, rotate_after_s=0.6, rotation_overlap_s=0.2)
        feed.connect(PAIR)
        assert fb.wait_subscribed(PAIR)
        fb.stream_trades(PAIR, count=2500, rate_per_s=1000).wait()
        assert wait_until(lambda: len(sink.ticks) == 5000)
        for symbol in PAIR:
            assert_matches_history(fb, sink, symbol)
        stats = feed.get_stats()
        assert stats.rotations >= 2 and stats.reconnects == 0 and fb.stats().age_cuts == 0
        assert stats.duplicates_dropped > 0, "the overlap delivered every trade twice; the copies were dropped"
        # each rotation is counted before its event reaches the callback: let the last event arrive
        assert wait_until(lambda: sink.kinds().count(EventKind.ROTATED) == feed.get_stats().rotations, timeout=5)
        feed.disconnect()


@pytest.mark.network
@pytest.mark.timeout(30)
def test_server_age_cut_without_rotation_reconnects(make_feed):
    with FakeBinance(max_connection_age_s=0.5) as fb:
        feed, sink = make_feed(url=fb.ws_base)
        feed.connect(PAIR)
        assert wait_until(lambda: feed.get_stats().reconnects >= 1 and feed.is_connected(), timeout=5)
        # the counter is raised before the event reaches the callback (another thread): wait for the event too
        assert wait_until(
            lambda: any("code 1000" in e.message for e in sink.events if e.kind is EventKind.DISCONNECTED), timeout=5
        )
        feed.disconnect()


@pytest.mark.network
@pytest.mark.timeout(30)
def test_disconnect_is_prompt_while_streaming_stalled_or_backing_off(fb, make_feed):
    feed, _ = make_feed()
    feed.connect(PAIR)
    assert fb.wait_subscribed(PAIR)
    job = fb.stream_trades(PAIR, count=None, rate_per_s=None)
    time.sleep(0.3)
    started = time.monotonic()
    feed.disconnect()
    assert time.monotonic() - started < 1.5
    job.stop()
    assert not feed.is_connected() and feed.get_stats().state is FeedState.STOPPED
    feed.disconnect()  # idempotent

    stalled, _ = make_feed()
    stalled.connect(PAIR)
    assert fb.wait_subscribed(PAIR)
    fb.stall(10)
    started = time.monotonic()
    stalled.disconnect()
    assert time.monotonic() - started < 1.5

    fb.reject_connections(1000)
    backing_off, _ = make_feed(backoff_initial_s=5.0, backoff_max_s=5.0)
    backing_off.connect(PAIR)
    assert wait_until(lambda: backing_off.get_stats().reconnects >= 1)
    started = time.monotonic()
    backing_off.disconnect()
    assert time.monotonic() - started < 1.5


@pytest.mark.network
@pytest.mark.timeout(30)
def test_more_symbols_than_streams_per_connection_use_several_connections(fb, make_feed):
    symbols = ["BTCUSDT", "ETHUSDT", "SOLUSDT"]
    feed, sink = make_feed(max_streams_per_connection=1)
    feed.connect(symbols)
    assert fb.wait_subscribed(["BTCUSDT"]) and fb.wait_subscribed(["SOLUSDT"])
    assert wait_until(lambda: feed.get_stats().connections == 3)
    fb.stream_trades(symbols, count=100).wait()
    assert wait_until(lambda: len(sink.ticks) == 300)
    for symbol in symbols:
        assert_matches_history(fb, sink, symbol)
    assert sorted(route for route, _ in fb.subscriptions()) == ["market"] * 3


@pytest.mark.network
@pytest.mark.timeout(30)
def test_server_pings_are_answered(make_feed):
    with FakeBinance(ping_interval_s=0.1, ping_timeout_s=0.3) as fb:
        feed, sink = make_feed(url=fb.ws_base)
        feed.connect(PAIR)
        assert fb.wait_subscribed(PAIR)
        time.sleep(1.5)
        fb.stream_trades(PAIR, count=10).wait()
        assert wait_until(lambda: len(sink.ticks) == 20)
        assert fb.stats().connections_accepted == 1 and feed.get_stats().reconnects == 0
        feed.disconnect()


@pytest.mark.network
@pytest.mark.timeout(30)
def test_connection_attempts_are_capped(fb, make_feed):
    fb.reject_connections(1000)
    feed, sink = make_feed(backoff_initial_s=0.01, backoff_max_s=0.01, max_connect_attempts=3, connect_window_s=60)
    feed.connect(PAIR)
    assert wait_until(lambda: fb.stats().handshakes_rejected == 3)
    time.sleep(0.5)
    assert fb.stats().handshakes_rejected == 3
    assert any("503" in e.message for e in sink.events if e.kind is EventKind.ERROR)


@pytest.mark.network
@pytest.mark.timeout(30)
def test_trade_stream_on_public_route_and_placeholder_ids(fb, make_feed):
    feed, sink = make_feed(url=fb.ws_root + "/public", stream="trade")
    feed.connect(["BTCUSDT"])
    assert fb.wait_subscribed(["BTCUSDT"])
    placeholder_id = fb.history_ids("BTCUSDT").start - 1
    fb.send_raw(
        json.dumps(
            {
                "stream": "btcusdt@trade",
                "data": {
                    "e": "trade",
                    "E": NOW,
                    "T": NOW,
                    "s": "BTCUSDT",
                    "t": placeholder_id,
                    "p": "0",
                    "q": "0",
                    "X": "NA",
                    "m": False,
                },
            }
        )
    )
    assert wait_until(lambda: feed.get_stats().placeholders == 1)
    fb.stream_trades(["BTCUSDT"], count=20).wait()
    assert wait_until(lambda: len(sink.ticks) == 20)
    assert_matches_history(fb, sink, "BTCUSDT")
    stats = feed.get_stats()
    assert stats.placeholder_ids == {"BTCUSDT": [placeholder_id]} and stats.duplicates_dropped == 0


@pytest.mark.network
@pytest.mark.timeout(30)
def test_recorded_session_replays_into_the_same_ticks(fb, make_feed, tmp_path):
    path = tmp_path / "session.frames.gz"
    recorder = FrameRecorder(path)
    feed, sink = make_feed(recorder=recorder)
    feed.connect(PAIR)
    assert fb.wait_subscribed(PAIR)
    fb.inject_garbage(every=50)
    fb.stream_trades(PAIR, count=500).wait()
    assert wait_until(lambda: len(sink.ticks) == 1000)
    feed.disconnect()
    recorder.close()
    report = ParseReport()
    assert list(iter_ticks_from_file(path, report=report)) == sink.ticks
    assert report.format == "raw_frames" and report.lines == recorder.frames == feed.get_stats().frames
    replay = ReplayFeed(path, speed=0)
    replayed = Sink()
    replayed.attach(replay)
    replay.connect(PAIR)
    assert wait_until(lambda: EventKind.FINISHED in replayed.kinds())
    strip = [(t.symbol, t.trade_id, t.timestamp, t.price, t.size, t.is_buyer_maker) for t in sink.ticks]
    assert [(t.symbol, t.trade_id, t.timestamp, t.price, t.size, t.is_buyer_maker) for t in replayed.ticks] == strip
    assert replay.get_stats().parse_errors == feed.get_stats().parse_errors


# ====================================================================================================== REST client
@pytest.fixture
def rest(fb):
    return BinanceRest(fb.rest_base, retry_backoff_s=0.05)


@pytest.mark.network
@pytest.mark.timeout(30)
def test_rest_symbol_info_and_unknown_symbols(fb, rest):
    fb.add_symbol("OLDUSDT", status="SETTLING")
    infos = rest.symbol_info(["btcusdt", "ETHUSDT"])
    assert infos["BTCUSDT"] == data_feed.SymbolInfo("BTCUSDT", "TRADING", 0.1, 0.001, "PERPETUAL", "USDT", 100.0)
    assert list(infos) == PAIR
    with pytest.raises(UnknownSymbolError) as info:
        rest.symbol_info(["BTCUSDT", "NOPEUSDT", "OLDUSDT", "bad-name"])
    assert info.value.symbols == ["bad-name", "NOPEUSDT", "OLDUSDT"]
    message = str(info.value)
    assert "NOPEUSDT is not listed" in message and "OLDUSDT has status SETTLING" in message
    assert "'bad-name' is not a valid symbol" in message
    assert rest.exchange_info()["rateLimits"][0]["limit"] == 2400


@pytest.mark.network
@pytest.mark.timeout(30)
def test_rest_agg_trades_paging_and_klines(fb, rest):
    start = (fb.now_ms() // 60_000 - 30) * 60_000
    fb.generate("BTCUSDT", 2500, start_ms=start, spacing_ms=500)
    collected: list[Tick] = []
    from_id = fb.history_ids("BTCUSDT").start
    while True:
        page = rest.agg_trades("BTCUSDT", from_id=from_id)
        if not page:
            break
        collected += page
        from_id = page[-1].trade_id + 1
    history = fb.history("BTCUSDT")
    assert [(t.trade_id, t.price, t.size, t.timestamp, t.is_buyer_maker) for t in collected] == [
        (h.agg_id, float(h.price), float(h.qty), h.time_ms, h.buyer_maker) for h in history
    ]
    assert fb.stats().rest_requests["/fapi/v1/aggTrades"] == 4
    bars = rest.klines("BTCUSDT", "1m", start_time=start, limit=1500)
    assert len(bars) == 21 and bars[0].open_time == start and bars[0].close_time == start + 59_999
    first_minute = [h for h in history if h.time_ms < start + 60_000]
    assert bars[0].high == max(float(h.price) for h in first_minute)
    assert bars[0].trades == sum(h.last_id - h.first_id + 1 for h in first_minute)
    assert sum(b.volume for b in bars) == pytest.approx(sum(float(h.qty) for h in history))
    assert rest.get_stats().used_weight_1m > 0, "X-MBX-USED-WEIGHT-1M is read (it resets each minute)"


@pytest.mark.network
@pytest.mark.timeout(30)
def test_rest_binance_error_bodies_become_clear_errors(fb, rest):
    now = fb.now_ms()
    with pytest.raises(BinanceRestError) as info:
        rest.agg_trades("BTCUSDT", start_time=now - 7_200_000, end_time=now)
    assert (info.value.status, info.value.code) == (400, -1127)
    assert "Binance error -1127: More than 1 hours between startTime and endTime." in str(info.value)
    with pytest.raises(BinanceRestError, match=r"HTTP 400.*-1121: Invalid symbol"):
        rest.agg_trades("NOPEUSDT")
    with pytest.raises(ValueError):
        rest.agg_trades("BTCUSDT", limit=1001)


@pytest.mark.network
@pytest.mark.timeout(30)
def test_rest_429_retry_after_is_honoured(fb, rest):
    fb.fail_rest(429, retry_after_s=1)
    started = time.monotonic()
    assert abs(rest.server_time() - fb.now_ms()) < 5000
    assert time.monotonic() - started >= 1.0
    stats = rest.get_stats()
    assert (stats.requests, stats.retries, stats.rate_limited) == (2, 1, 1)
    assert 0.5 < stats.waited_s <= 1.0  # the block runs from the 429's arrival, so the sleep itself is a bit shorter


@pytest.mark.network
@pytest.mark.timeout(30)
def test_rest_gives_up_on_persistent_rate_limits_and_long_bans(fb):
    rest = BinanceRest(fb.rest_base, max_retries=2, max_retry_wait_s=30)
    fb.fail_rest(429, count=5, retry_after_s=0.1)
    with pytest.raises(BinanceRestError, match=r"rate limited.*HTTP 429.*-1003") as info:
        rest.server_time()
    assert info.value.status == 429 and rest.get_stats().requests == 3
    fb.fail_rest(418, retry_after_s=120)
    started = time.monotonic()
    with pytest.raises(BinanceRestError, match=r"Retry-After 120 s.*HTTP 418.*IP banned"):
        rest.exchange_info()
    assert time.monotonic() - started < 1.0


@pytest.mark.network
@pytest.mark.timeout(30)
def test_rest_non_json_bodies_timeouts_and_server_errors(fb):
    rest = BinanceRest(fb.rest_base, max_retries=1, retry_backoff_s=0.05, timeout_s=0.3)
    fb.fail_rest(200, body="<html>maintenance</html>", content_type="text/html")
    with pytest.raises(BinanceRestError, match=r"exchangeInfo: response is not JSON \(HTTP 200; body '<html>"):
        rest.exchange_info()
    fb.fail_rest(502, body="<html>bad gateway</html>", content_type="text/html")
    assert rest.server_time() > 0 and rest.get_stats().retries == 1
    fb.fail_rest(None, count=2, delay_s=0.6)
    with pytest.raises(BinanceRestError, match=r"timed out after 0\.3 s"):
        rest.server_time()
    with pytest.raises(BinanceRestError, match="connection failed"):
        BinanceRest("http://127.0.0.1:9", max_retries=0).server_time()


def test_rest_client_side_weight_budget_waits_before_exceeding():
    clock = {"now": 1_000_000.0}
    sleeps: list[float] = []

    def sleep(seconds: float) -> None:
        sleeps.append(seconds)
        clock["now"] += seconds

    budget = _WeightBudget(40, lambda: clock["now"], sleep)
    assert budget.acquire(20) == 0 and budget.acquire(20) == 0
    clock["now"] += 10
    assert budget.acquire(20) == pytest.approx(50.0)
    budget.block(7)
    assert budget.acquire(1) == pytest.approx(7.0)
    assert sleeps == [pytest.approx(50.0), pytest.approx(7.0)]


# ==================================================================================================== simulated feed
def test_simulated_market_is_deterministic_with_contiguous_ids():
    def run(seed: int) -> list[Tick]:
        market = SimulatedMarket(["BTCUSDT", "ETHUSDT", "SOLUSDT", "FOOUSDT"], seed=seed, start_ms=NOW)
        return [market.next_tick() for _ in range(3000)]

    first, again, other = run(3), run(3), run(4)
    assert first == again and first != other
    for symbol in ("BTCUSDT", "ETHUSDT", "SOLUSDT", "FOOUSDT"):
        ids = [t.trade_id for t in first if t.symbol == symbol]
        assert ids == list(range(ids[0], ids[0] + len(ids)))
    prices = {t.symbol: t.price for t in first}
    assert 60_000 < prices["BTCUSDT"] < 100_000 and 2_000 < prices["ETHUSDT"] < 4_000
    assert 50 < prices["SOLUSDT"] < 400
    assert [t.timestamp for t in first] == sorted(t.timestamp for t in first)
    rate = 3000 / ((first[-1].timestamp - NOW) / 1000)
    assert 60 < rate < 100, "4 symbols at 20 trades/s each"


def test_simulated_pair_is_cointegrated_with_the_documented_beta():
    market = SimulatedMarket(["BTCUSDT", "ETHUSDT"], seed=11, start_ms=NOW, beta=0.04, half_life_s=60.0)
    ticks = [market.next_tick() for _ in range(120_000)]
    seconds = int((ticks[-1].timestamp - NOW) / 1000)
    last = {"BTCUSDT": np.full(seconds + 1, np.nan), "ETHUSDT": np.full(seconds + 1, np.nan)}
    for t in ticks:
        last[t.symbol][(t.timestamp - NOW) // 1000] = t.price
    btc, eth = (_ffill(last[s]) for s in ("BTCUSDT", "ETHUSDT"))
    ok = ~np.isnan(btc) & ~np.isnan(eth)
    beta, alpha = np.polyfit(btc[ok], eth[ok], 1)
    assert beta == pytest.approx(0.04, rel=0.15)
    residual = eth[ok] - (alpha + beta * btc[ok])
    phi = np.polyfit(residual[:-1], residual[1:], 1)[0]
    half_life = np.log(2) / -np.log(phi)
    assert 20 < half_life < 180, "mean-reverting spread with a half-life near the configured 60 s"


def _ffill(values: np.ndarray) -> np.ndarray:
    index = np.where(~np.isnan(values), np.arange(len(values)), 0)
    np.maximum.accumulate(index, out=index)
    filled = values[index]
    filled[: np.argmax(~np.isnan(values))] = np.nan
    return filled


@pytest.mark.timeout(30)
def test_simulated_feed_runs_compressed_time_and_stops_promptly():
    feed = SimulatedFeed(seed=5, speed=20.0)
    sink = Sink()
    sink.attach(feed)
    feed.connect(PAIR)
    assert wait_until(lambda: len(sink.ticks) >= 200)
    assert feed.is_connected()
    started = time.monotonic()
    feed.disconnect()
    assert time.monotonic() - started < 1.0
    stats = feed.get_stats()
    assert stats.kind == "simulated" and stats.state is FeedState.STOPPED and "pair ETHUSDT" in stats.source
    assert stats.ticks == len(sink.ticks) and sink.kinds() == [EventKind.CONNECTED]
    span_s = (sink.ticks[-1].timestamp - sink.ticks[0].timestamp) / 1000
    wall_s = (sink.ticks[-1].received_at - sink.ticks[0].received_at) / 1000
    assert span_s > 5 * wall_s


# ================================================================================================ real recordings
HFT_FILES = [
    ("btcusdt_20240808.gz", 21_313, 5_266_583_935, 5_266_605_247),
    ("ethusdt_20240808.gz", 14_076, 4_308_068_523, 4_308_082_598),
    ("btcusdt_20240718.gz", 974, 5_182_005_737, 5_182_006_710),
    ("btcusdt_20240719.gz", 9_727, 5_182_006_711, 5_182_016_437),
    ("ethusdt_20240718.gz", 1_640, 4_217_896_584, 4_217_898_223),
    ("ethusdt_20240719.gz", 12_015, 4_217_898_224, 4_217_910_238),
]


@pytest.mark.parametrize("name, count, first, last", HFT_FILES)
def test_real_usdm_recordings_parse_to_the_documented_trade_counts(shared_data, name, count, first, last):
    report = ParseReport()
    ticks = list(iter_ticks_from_file(shared_data / "hftbacktest_usdm" / name, report=report))
    assert len(ticks) == count and report.errors == 0
    assert [t.trade_id for t in ticks] == list(range(first, last + 1)), "contiguous, no gaps"
    assert report.skipped == report.lines - count, "bookTicker, depth and the REST snapshot are skipped"
    assert all(t.symbol == name[:7].upper() for t in ticks)


def test_real_aggtrade_recording_and_exchange_info(shared_data):
    report = ParseReport()
    ticks = list(iter_ticks_from_file(shared_data / "cryptofeed_sample" / "BINANCE_FUTURES.ws.1.0", report=report))
    assert len(ticks) == 91 and report.errors == 1, "91 aggTrades; the URL banner line is the one bad line"
    assert {t.symbol for t in ticks} <= {"SUSHIUSDT", "AKROUSDT", "KEEPUSDT", "CTKUSDT"}
    text = (shared_data / "cryptofeed_sample" / "BINANCE_FUTURES.0").read_text()
    document, _ = json.JSONDecoder().raw_decode(text[text.index("{") :])
    infos = symbol_infos_from_exchange_info(document)
    assert infos["BTCUSDT"] == data_feed.SymbolInfo("BTCUSDT", "TRADING", 0.01, 0.001, "PERPETUAL", "USDT", 5.0)


def test_real_message_samples_classify(shared_data):
    samples = [json.loads(line) for line in (shared_data / "ws_message_samples.jsonl").read_text().splitlines()]
    kinds = [decode_frame(s["raw"], 0).kind for s in samples]
    assert kinds.count(FrameKind.TICK) == 4
    assert kinds.count(FrameKind.OTHER) == 2 and kinds.count(FrameKind.QUOTE) == 1  # the real bookTicker is a quote
    assert kinds.count(FrameKind.REPLY) == 1 and kinds.count(FrameKind.ERROR_REPLY) == 2


@pytest.mark.network
@pytest.mark.timeout(30)
def test_feed_callback_exceptions_are_counted_not_fatal(fb, make_feed):
    feed, _ = make_feed()
    calls = []

    def flaky(tick: Tick) -> None:
        calls.append(tick)
        if len(calls) % 2:
            raise RuntimeError("consumer bug")

    feed.set_callback(flaky)
    feed.connect(["BTCUSDT"])
    assert fb.wait_subscribed(["BTCUSDT"])
    fb.stream_trades(["BTCUSDT"], count=10).wait()
    assert wait_until(lambda: len(calls) == 10)
    assert feed.get_stats().callback_errors == 5 and feed.is_connected()


def test_rest_universe_lists_trading_perpetuals_of_a_quote(fb, rest):
    fb.add_symbol("OLDUSDT", status="SETTLING")
    fb.add_symbol("BTCUSDT_261225", contract_type="CURRENT_QUARTER")
    fb.add_symbol("SOLUSDT", price=150.0)
    universe = rest.universe("USDT")
    assert "SOLUSDT" in universe and "BTCUSDT" in universe and universe == sorted(universe)
    assert "OLDUSDT" not in universe and "BTCUSDT_261225" not in universe  # settling, and not a perpetual
    assert rest.universe("USDC") == [] and rest.universe("") == universe
