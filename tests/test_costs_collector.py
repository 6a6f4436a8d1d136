"""The collector records what trading costs: funding settlements over REST (resumable, intervals from the spacing),
the markPrice stream's next settlement, bookTicker quotes as 1-second bars with their holes, and contract rules —
the real clients against the fake exchange — and the simulated feed does the same offline."""

from __future__ import annotations

import contextlib
import time

import pandas as pd
import pytest
from test_quote_bars import reference
from waiting import wait_until

import collector
import database as db
from core.contracts import ContractRules
from data_feed import BinanceFuturesFeed, BinanceRest, Quote, SimulatedFeed

pytestmark = [
    pytest.mark.network,
    pytest.mark.timeout(90),
    pytest.mark.fake_binance(ping_interval_s=1.0, ping_timeout_s=5.0),
]
SYMS = ["BTCUSDT", "ETHUSDT"]
FAST = dict(stall_first_s=2.0, stall_idle_s=30.0, backoff_initial_s=0.05, backoff_max_s=0.3)


def costs_collector(fb, db_path: str, *, quotes: bool = True, funding: bool = True) -> collector.Collector:
    sides = []
    if quotes:
        sides.append(BinanceFuturesFeed(fb.ws_root + "/public", stream="bookTicker", **FAST))
    if funding:
        sides.append(BinanceFuturesFeed(fb.ws_base, stream="markPrice@1s", **FAST))
    return collector.Collector(
        db_path,
        BinanceFuturesFeed(fb.ws_base, **FAST),
        rest=BinanceRest(fb.rest_base, max_retry_wait_s=5),
        flush_interval_ms=50,
        record_quotes=quotes,
        record_funding=funding,
        funding_days=60,
        side_feeds=sides,
    )


def stored_quotes(db_path: str, symbol: str) -> pd.DataFrame:
    return db.quote_bars(db_path, symbol)


def test_funding_history_next_settlement_and_contract_rules(fb, db_path):
    """On start: the last 60 days of settlements (8 h, then 4 h, then 1 h: intervals as stored per settlement),
    each symbol's contract rules; live: the markPrice stream's rate and next settlement, and a settlement that
    passed is fetched without waiting for the next start."""
    made = fb.generate_funding("BTCUSDT", ((8, 100), (4, 30), (1, 20)))
    fb.generate_funding("ETHUSDT", ((8, 40),))
    c = costs_collector(fb, db_path, quotes=False).start(SYMS)
    try:
        in_window = [s for s in made if s.time_ms >= fb.now_ms() - 60 * 86_400_000]
        assert wait_until(lambda: len(db.funding_rates(db_path, "BTCUSDT")) == len(in_window), 20)
        frame = db.funding_rates(db_path, "BTCUSDT")
        assert list(frame.index.asi8 // 1_000_000) == [s.time_ms for s in in_window]
        assert frame.interval_hours.tolist() == [float(s.interval_hours) for s in in_window]
        assert frame.rate.tolist() == [float(s.rate) for s in in_window]
        assert frame.mark_price.tolist() == [float(s.mark) for s in in_window]
        assert wait_until(lambda: len(db.funding_rates(db_path, "ETHUSDT")) == 40, 10)  # fetched after BTCUSDT's
        assert db.funding_gaps(db_path, "BTCUSDT") == []
        assert db.contract_rules(db_path, "BTCUSDT") == ContractRules("BTCUSDT", 0.1, 0.001, 100.0)
        assert c.stats().symbol_rules["BTCUSDT"]["min_notional"] == 100.0

        assert wait_until(lambda: ("market", ["btcusdt@markPrice@1s", "ethusdt@markPrice@1s"]) in fb.subscriptions())
        due = made[-1].time_ms + 3_600_000
        fb.send_mark_price("BTCUSDT", "75100.0", "0.00020000", due)
        assert wait_until(lambda: db.next_funding(db_path, "BTCUSDT") is not None, 10)
        upcoming = db.next_funding(db_path, "BTCUSDT")
        assert (upcoming.rate, upcoming.mark_price, upcoming.interval_hours) == (0.0002, 75100.0, 1.0)
        assert upcoming.next_funding_time == pd.Timestamp(due, unit="ms", tz="UTC")

        settled = fb.generate_funding("BTCUSDT", ((1, 1),), start_ms=made[-1].time_ms)[-1]  # the settlement passes
        fb.send_mark_price("BTCUSDT", "75100.0", "0.00010000", due + 3_600_000)  # the stream moves on to the next
        assert wait_until(lambda: db.funding_rates(db_path, "BTCUSDT").index[-1].value // 10**6 == settled.time_ms, 15)
        assert c.stats().settlements >= len(in_window) + 40 + 1
    finally:
        c.stop()


def made_quotes(fb, symbol: str, first: int = 0) -> list[Quote]:
    """The fake exchange's quotes of a symbol from the `first`-th on, as the feed decodes them."""
    return [
        Quote(symbol, t, float(b), float(bq), float(a), float(aq), 0, u) for t, u, b, bq, a, aq in fb.quotes(symbol)
    ][first:]


def assert_bars(got: pd.DataFrame, want: list) -> None:
    assert list(got.index.asi8 // 1_000_000) == [b.second for b in want]
    assert got.half_spread.tolist() == pytest.approx([b.half_spread for b in want], rel=1e-12)
    assert got.bid.tolist() == [b.bid for b in want] and got.ask_size.tolist() == [b.ask_size for b in want]


def test_quotes_become_one_second_bars_and_a_disconnect_is_a_quote_gap(fb, db_path):
    """Bars while connected; a dropped /public connection is a quote gap from the last quote before it to the first
    after it (as a trade gap is), and the bars after it start afresh at that first quote: nothing is carried over."""
    c = costs_collector(fb, db_path, funding=False).start(SYMS)
    try:
        assert wait_until(lambda: any(r == "public" and s for r, s in fb.subscriptions()))
        fb.stream_quotes(SYMS, count=600, rate_per_s=300).wait(20)
        made = made_quotes(fb, "BTCUSDT")
        want = reference(made, last_second_ends_at_last_quote=False)
        assert wait_until(lambda: len(stored_quotes(db_path, "BTCUSDT")) == len(want), 15)
        assert_bars(stored_quotes(db_path, "BTCUSDT"), want)

        fb.drop_connections(route="public")
        assert wait_until(lambda: any(r == "public" and s for r, s in fb.subscriptions()), 15)
        time.sleep(0.2)
        fb.stream_quotes(SYMS, count=50, rate_per_s=200).wait(20)
        with contextlib.closing(db.open_reader(db_path)) as conn:
            assert wait_until(lambda: len(db.quote_gaps(conn, ["BTCUSDT"])) == 1, 15)
            hole = db.quote_gaps(conn, ["BTCUSDT"])[0]
        after = made_quotes(fb, "BTCUSDT", 600)
        assert hole.from_ts == made[-1].timestamp and hole.to_ts == after[0].timestamp
        assert "disconnected" in hole.note and c.stats().quote_gaps == 2
        resumed = reference(after, last_second_ends_at_last_quote=False)
        assert wait_until(lambda: len(stored_quotes(db_path, "BTCUSDT")) == len(want) + len(resumed), 15)
        assert_bars(stored_quotes(db_path, "BTCUSDT").iloc[len(want) :], resumed)
    finally:
        c.stop()
    assert c.stats().quotes == 1300 and c.stats().written == 0  # quotes never enter the ticks table


def test_a_restart_is_a_quote_gap_from_the_last_stored_second(fb, db_path):
    """The quotes a stopped collector missed are a gap, as its trades are: from the end of the last stored second
    to the first quote the restarted collector receives."""

    def public_subscribed() -> bool:
        return any(r == "public" and s for r, s in fb.subscriptions())

    c = costs_collector(fb, db_path, funding=False).start(SYMS)
    try:
        assert wait_until(public_subscribed)
        fb.stream_quotes(SYMS, count=100, rate_per_s=200).wait(20)
        assert wait_until(lambda: c.stats().quotes == 200, 10)
    finally:
        c.stop()
    last = made_quotes(fb, "BTCUSDT")[-1].timestamp // 1000 * 1000
    assert db.quote_bars(db_path, "BTCUSDT").index[-1].value // 10**6 == last  # the stop stored its open second
    assert wait_until(lambda: not public_subscribed() and fb.now_ms() >= last + 1000, 10)
    c = costs_collector(fb, db_path, funding=False).start(SYMS)
    try:
        assert wait_until(public_subscribed)
        fb.stream_quotes(SYMS, count=20, rate_per_s=200).wait(20)
        with contextlib.closing(db.open_reader(db_path)) as conn:
            assert wait_until(lambda: len(db.quote_gaps(conn, SYMS)) == 2, 10)
            hole = db.quote_gaps(conn, ["BTCUSDT"])[0]
    finally:
        c.stop()
    first = made_quotes(fb, "BTCUSDT", 100)[0].timestamp
    assert (hole.from_ts, hole.to_ts, hole.note) == (last + 1000, first, "collector restarted")


def test_a_restarted_collector_resumes_funding_after_the_last_stored_settlement(fb, db_path):
    """Stopped, then started again after five 4-hourly settlements passed: the new collector asks only for what
    follows the last stored settlement (one request a symbol, five rows written, not the history again), the store
    holds each settlement once with the 4 h interval from the spacing, and no hole is listed."""
    hour = fb.now_ms() // 3_600_000 * 3_600_000
    start = hour - (30 * 8 + 5 * 4) * 3_600_000
    first = fb.generate_funding("BTCUSDT", ((8, 30),), start_ms=start)
    fb.generate_funding("ETHUSDT", ((8, 30),), start_ms=start)
    c = costs_collector(fb, db_path, quotes=False).start(SYMS)
    try:
        assert wait_until(lambda: all(len(db.funding_rates(db_path, s)) == 30 for s in SYMS), 20)
    finally:
        c.stop()
    assert c.stats().settlements == 60

    everything = fb.generate_funding("BTCUSDT", ((4, 5),), start_ms=first[-1].time_ms)
    requests = fb.stats().rest_requests.get("/fapi/v1/fundingRate", 0)
    c = costs_collector(fb, db_path, quotes=False).start(SYMS)
    try:
        assert wait_until(lambda: fb.stats().rest_requests.get("/fapi/v1/fundingRate", 0) == requests + 2, 20)
        assert wait_until(lambda: len(db.funding_rates(db_path, "BTCUSDT")) == 35, 10)
    finally:
        c.stop()
    assert c.stats().settlements == 5 and fb.stats().rest_requests["/fapi/v1/fundingRate"] == requests + 2
    frame = db.funding_rates(db_path, "BTCUSDT")
    assert list(frame.index.asi8 // 1_000_000) == [s.time_ms for s in everything]
    assert frame.interval_hours.tolist() == [8.0] * 30 + [4.0] * 5
    assert frame.rate.tolist() == [float(s.rate) for s in everything]
    assert len(db.funding_rates(db_path, "ETHUSDT")) == 30 and db.funding_gaps(db_path, "BTCUSDT") == []


def test_simulated_feed_records_quotes_and_funding_offline(db_path):
    feed = SimulatedFeed(speed=50.0, quotes=True, funding=True, rate_per_symbol=40.0)
    c = collector.Collector(db_path, feed, flush_interval_ms=50, record_quotes=True, record_funding=True).start(SYMS)
    try:
        assert wait_until(lambda: len(db.quote_bars(db_path, "ETHUSDT")) >= 20, 30)
        assert wait_until(lambda: db.next_funding(db_path, "BTCUSDT") is not None, 10)
    finally:
        c.stop()
    funding = db.funding_rates(db_path, "BTCUSDT")
    assert len(funding) == 21 and set(funding.interval_hours) == {8.0}  # a week of 8-hourly settlements
    assert (funding.index.hour % 8 == 0).all() and funding.rate.abs().max() < 1e-3
    bars = db.quote_bars(db_path, "ETHUSDT")
    assert (bars.ask > bars.bid).all() and bars.half_spread.between(0.005, 0.025).all()  # 1..5 ticks of 0.01 wide
    ticks = db.read_ticks(db.open_reader(db_path), ["ETHUSDT"])
    assert abs(bars.bid.median() / ticks.price.median() - 1) < 0.01
    upcoming = db.next_funding(db_path, "BTCUSDT")
    assert upcoming.next_funding_time.hour % 8 == 0 and upcoming.interval_hours == 8.0
