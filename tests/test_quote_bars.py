"""1-second quote bars (collection.quotes.QuoteBook) against an independent computation: the last quote of each
second and the half-spread integrated over the step function of the standing quote; breaks end a second at its last
quote and carry nothing across the hole."""

from __future__ import annotations

import random

import numpy as np
import pytest

from collection.quotes import QuoteBook
from data_feed import Quote, QuoteBar

T0 = 1_723_161_000_000


def reference(quotes: list[Quote], last_second_ends_at_last_quote: bool) -> list[QuoteBar]:
    """Bars from first principles: h(t) = the half-spread of the latest quote at or before t; each second with
    quotes integrates h over [max(second, first quote), second end) (the last second ends at its last quote)."""
    times = np.array([q.timestamp for q in quotes])
    half = np.array([(q.ask - q.bid) / 2 for q in quotes])
    seconds = sorted({q.timestamp // 1000 * 1000 for q in quotes})
    out = []
    for k, second in enumerate(seconds):
        end = int(times[-1]) if (k == len(seconds) - 1 and last_second_ends_at_last_quote) else second + 1000
        grid = np.arange(max(second, int(times[0])), end)  # 1 ms resolution: the quotes' own resolution
        standing = np.searchsorted(times, grid, side="right") - 1
        inside = [q for q in quotes if second <= q.timestamp < second + 1000]
        last = inside[-1]
        value = float(half[standing].mean()) if len(grid) else (last.ask - last.bid) / 2
        out.append(QuoteBar(last.symbol, second, last.bid, last.ask, last.bid_size, last.ask_size, value))
    return out


def random_quotes(n: int, seed: int) -> list[Quote]:
    rng = random.Random(seed)
    t, out = T0 + 137, []
    for i in range(n):
        t += int(rng.expovariate(1 / 180))
        bid = 60_000 + rng.randint(-50, 50) * 0.1
        out.append(Quote("BTCUSDT", t, bid, rng.randint(1, 9) / 10, bid + 0.1 * rng.randint(1, 4), 0.5, t, i + 1))
    return out


@pytest.mark.parametrize("seed", [1, 2, 3])
def test_bars_match_the_integrated_half_spread(seed):
    quotes = random_quotes(400, seed)
    book = QuoteBook()
    for q in quotes:
        book.add(q)
    book.break_stream(None, "end")
    bars, holes = book.take()
    want = reference(quotes, last_second_ends_at_last_quote=True)
    assert [b.second for b in bars] == [b.second for b in want] and not holes
    for got, exp in zip(bars, want, strict=True):
        assert got.half_spread == pytest.approx(exp.half_spread, rel=1e-12)
        assert (got.bid, got.ask, got.bid_size, got.ask_size) == (exp.bid, exp.ask, exp.bid_size, exp.ask_size)


def test_a_second_finished_by_the_clock_carries_its_quote_and_is_never_rewritten():
    book = QuoteBook()
    book.add(Quote("ETHUSDT", T0 + 200, 3000.0, 1, 3000.2, 1, 0, 1))  # half-spread 0.1 from 200 ms
    book.add(Quote("ETHUSDT", T0 + 700, 3000.0, 1, 3000.6, 1, 0, 2))  # 0.3 from 700 ms
    book.finish_before(T0 + 1000)
    book.add(Quote("ETHUSDT", T0 + 900, 3000.0, 1, 3001.0, 1, 0, 3))  # late for a finished second: not in a bar
    book.add(Quote("ETHUSDT", T0 + 2500, 3000.0, 1, 3000.2, 1, 0, 4))  # the late quote stood from 2000 to 2500
    book.finish_before(T0 + 3000)
    bars, _ = book.take()
    assert [b.second for b in bars] == [T0, T0 + 2000]
    assert bars[0].half_spread == pytest.approx((500 * 0.1 + 300 * 0.3) / 800)
    assert bars[1].half_spread == pytest.approx((500 * 0.5 + 500 * 0.1) / 1000)
    assert book.late == 1


def test_a_stream_read_late_keeps_its_seconds_open_until_it_is_read_past_them():
    """Quotes read 5 s after their exchange time (a busy socket thread): a second ended 2 s ago by the clock is
    still being read, so it stays open and its last quote is in its bar; it is finished once the reading is past."""
    book = QuoteBook()
    book.add(Quote("ETHUSDT", T0 + 200, 3000.0, 1, 3000.2, 1, T0 + 5_200, 1))
    book.finish_before(T0 + 5_300 - 2_000)  # the writer, 2 s after the second ended by the clock
    book.add(Quote("ETHUSDT", T0 + 900, 3000.0, 1, 3000.6, 1, T0 + 5_900, 2))
    book.finish_before(T0 + 5_950 - 2_000)
    assert book.take() == ([], []) and book.late == 0
    book.finish_before(T0 + 8_000 - 2_000)  # the stream is read 2 s past the second: it is finished
    bars, _ = book.take()
    assert [(b.second, b.ask) for b in bars] == [(T0, 3000.6)]
    assert bars[0].half_spread == pytest.approx((700 * 0.1 + 100 * 0.3) / 800)


def test_a_break_is_a_hole_and_carries_nothing_across_it():
    book = QuoteBook()
    book.add(Quote("BTCUSDT", T0 + 100, 100.0, 1, 100.2, 1, 0, 1))
    book.add(Quote("BTCUSDT", T0 + 600, 100.0, 1, 100.4, 1, 0, 2))
    book.break_stream(["BTCUSDT"], "disconnected: test")
    book.add(Quote("BTCUSDT", T0 + 5_300, 100.0, 1, 100.6, 1, 0, 3))
    book.add(Quote("BTCUSDT", T0 + 5_800, 100.0, 1, 100.2, 1, 0, 4))
    book.finish_before(T0 + 6_000)
    bars, holes = book.take()
    assert [(b.second, b.half_spread) for b in bars] == [
        (T0, pytest.approx(0.1)),  # ended at its last quote: only 100..600 ms counted
        (T0 + 5_000, pytest.approx((500 * 0.3 + 200 * 0.1) / 700)),  # nothing carried from before the hole
    ]
    assert [(h.symbol, h.from_ts, h.to_ts, h.note) for h in holes] == [
        ("BTCUSDT", T0 + 600, T0 + 5_300, "disconnected: test")
    ]
