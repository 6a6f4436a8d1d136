"""Funding and quotes from Binance with the real clients against the fake exchange: REST fundingRate paging and
intervals, fundingInfo, the shared 500-per-5-minutes budget, the archive's monthly funding files joined with mark
prices (and agreeing with REST), and the bookTicker / markPrice streams."""

from __future__ import annotations

import datetime as dt
import math
import time

import pytest

from data_feed import ArchiveError, BinanceArchive, BinanceFuturesFeed, BinanceRest, BinanceRestError
from feed.funding import HOUR_MS, NEXT_PAGE_MS, funding_gaps, settlement_ms, with_intervals
from feed.records import FundingRate, MarkPrice, Quote

pytestmark = [pytest.mark.network, pytest.mark.timeout(60)]

JAN_2024 = 1_704_067_200_000
FEB_2024 = 1_706_745_600_000


def pages(rest: BinanceRest, symbol: str, start: int, end: int | None = None, limit: int = 1000) -> list[FundingRate]:
    """Every settlement from `start` (to `end`), a page at a time."""
    out: list[FundingRate] = []
    while True:
        page = rest.funding_rates(symbol, start_time=start, end_time=end, limit=limit)
        out += page
        if len(page) < limit:
            return out
        start = page[-1].funding_time + NEXT_PAGE_MS


def test_rest_funding_is_paged_with_intervals_from_the_spacing(fb):
    """8 h, then 4 h, then 1 h settlements: each row's interval is the spacing before it (never assumed 8 h), the
    first one's from the settlement before the page; stamps a few ms late name the settlement's second."""
    made = fb.generate_funding("BTCUSDT", ((8, 30), (4, 12), (1, 30)))
    rest = BinanceRest(fb.rest_base)
    rows = pages(rest, "BTCUSDT", made[1].time_ms, limit=7)
    assert [r.funding_time for r in rows] == [s.time_ms for s in made[1:]]
    assert all(math.isnan(r.interval_hours) for r in rows)
    got = with_intervals(rows, made[0].time_ms, 8.0)
    assert [r.interval_hours for r in got] == [s.interval_hours for s in made[1:]]
    assert [(r.rate, r.mark_price) for r in got] == [(float(s.rate), float(s.mark)) for s in made[1:]]
    assert rest.funding_intervals() == {"BTCUSDT": 1.0}  # fundingInfo lists only adjusted symbols
    assert settlement_ms(JAN_2024 + 6) == JAN_2024 and settlement_ms(JAN_2024 - 3) == JAN_2024


def test_missing_settlements_are_gaps_not_intervals():
    times = [0, 8 * HOUR_MS, 24 * HOUR_MS, 25 * HOUR_MS]
    assert funding_gaps(times) == [(8 * HOUR_MS, 24 * HOUR_MS)]
    rows = [FundingRate("X", t, 1e-4, None, math.nan) for t in times]
    assert [r.interval_hours for r in with_intervals(rows, None, 4.0)] == [8.0, 8.0, 8.0, 1.0]  # first: its spacing
    assert [r.interval_hours for r in with_intervals(rows[:1], None, 4.0)] == [4.0]  # alone: fundingInfo's


def test_funding_requests_share_a_five_minute_budget(fb):
    """fundingRate and fundingInfo share one budget: the client waits rather than spend past it, and a server
    that refuses anyway (429) is reported, never retried past the limit."""
    fb.generate_funding("ETHUSDT", ((8, 3),))
    clock = [1_000.0]
    rest = BinanceRest(
        fb.rest_base,
        max_funding_requests_per_5min=2,
        clock=lambda: clock[0],
        sleep=lambda s: clock.__setitem__(0, clock[0] + s),
    )
    rest.funding_rates("ETHUSDT")
    rest.funding_intervals()
    rest.funding_rates("ETHUSDT")
    assert rest.get_stats().waited_s >= 299
    fb.funding_request_limit = 3
    strict = BinanceRest(fb.rest_base, max_retries=0)
    with pytest.raises(BinanceRestError, match="rate limited"):
        strict.funding_rates("ETHUSDT")
    assert fb.stats().rest_requests["/fapi/v1/fundingRate"] == 3


def test_archive_and_rest_funding_agree_for_a_month(fb, tmp_path):
    """The month's fundingRate file (sha256-verified) joined with its markPriceKlines at the settlement minute is
    the same as REST's rows for that month: times, rates, marks and intervals (8 h, then 4 h)."""
    made = fb.generate_funding("BTCUSDT", ((8, 60), (4, 120)), start_ms=JAN_2024 - 16 * HOUR_MS)
    in_month = [s for s in made if JAN_2024 <= s.time_ms < FEB_2024]
    archive = BinanceArchive(fb.rest_base, tmp_dir=str(tmp_path))
    from_archive = archive.funding_month("BTCUSDT", dt.date(2024, 1, 1))
    rest = BinanceRest(fb.rest_base)
    before = rest.funding_rates("BTCUSDT", end_time=JAN_2024 - 1, limit=1)
    month = [r for r in pages(rest, "BTCUSDT", JAN_2024) if r.funding_time < FEB_2024]
    from_rest = with_intervals(month, before[0].funding_time, 8.0)
    assert [r.funding_time for r in from_archive] == [s.time_ms for s in in_month] and len(in_month) == 59 + 69
    assert from_archive == from_rest
    assert {r.interval_hours for r in from_archive} == {8.0, 4.0}
    assert archive.get_stats().files == 2
    with pytest.raises(ArchiveError, match="404"):
        archive.funding_month("BTCUSDT", dt.date(2023, 6, 1))


def test_side_streams_deliver_quotes_and_mark_prices(fb):
    """bookTicker on the /public route and markPrice@1s on /market, each on its own connection, decoded into Quote
    and MarkPrice records through the side callback."""
    quotes: list[Quote] = []
    marks: list[MarkPrice] = []
    book = BinanceFuturesFeed(fb.ws_root + "/public", stream="bookTicker")
    mark = BinanceFuturesFeed(fb.ws_base, stream="markPrice@1s")
    book.set_side_callback(quotes.append)
    mark.set_side_callback(marks.append)
    book.connect(["BTCUSDT", "ETHUSDT"])
    mark.connect(["BTCUSDT"])
    try:
        assert fb.wait_subscribed([]) and _wait(lambda: book.is_connected() and mark.is_connected())
        assert _wait(lambda: sorted(r for r, _ in fb.subscriptions()) == ["market", "public"])
        fb.stream_quotes(["BTCUSDT", "ETHUSDT"], count=300).wait()
        next_ms = fb.now_ms() + 3_600_000
        assert fb.send_mark_price("BTCUSDT", "75001.5", "0.00012", next_ms) == 1
        assert _wait(lambda: len(quotes) == 600 and len(marks) == 1)
    finally:
        book.disconnect()
        mark.disconnect()
    made = fb.quotes("BTCUSDT")
    got = [q for q in quotes if q.symbol == "BTCUSDT"]
    assert [(q.timestamp, q.update_id, q.bid, q.bid_size, q.ask, q.ask_size) for q in got] == [
        (t, u, float(b), float(bq), float(a), float(aq)) for t, u, b, bq, a, aq in made
    ]
    assert marks[0].rate == 0.00012 and marks[0].next_funding_time == next_ms and marks[0].mark_price == 75001.5
    assert book.get_stats().side_records == 600 and book.get_stats().ticks == 0


def _wait(condition, timeout: float = 10.0) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if condition():
            return True
        time.sleep(0.02)
    return False
