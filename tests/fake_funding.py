"""The fake exchange's funding and quote side (used by tests/fake_binance.py): a per-symbol schedule of funding
settlements whose interval changes over time (8 h → 4 h → 1 h, as Binance's do), rendered the ways Binance serves it —
REST fundingRate rows (fundingTime a few ms late, as real stamps are), fundingInfo rows, the archive's monthly
fundingRate CSV and 1-minute markPriceKlines CSV — plus bookTicker and markPriceUpdate payloads."""

from __future__ import annotations

import calendar
import datetime as dt
import hashlib
import random
from collections.abc import Sequence
from dataclasses import dataclass

HOUR_MS = 3_600_000
MINUTE_MS = 60_000
FUNDING_HEADER = "calc_time,funding_interval_hours,last_funding_rate\n"
MARK_KLINES_HEADER = (
    "open_time,open,high,low,close,volume,close_time,quote_volume,count,taker_buy_volume,"
    "taker_buy_quote_volume,ignore\n"
)


@dataclass(frozen=True, slots=True)
class FakeSettlement:
    """One funding settlement as the fake exchange made it (rate and mark as the exact strings sent)."""

    time_ms: int
    rate: str
    mark: str
    interval_hours: int

    @property
    def rest_time_ms(self) -> int:
        """fundingTime as REST sends it: a few ms after the settlement (real stamps arrive late)."""
        return self.time_ms + self.time_ms // HOUR_MS % 7


def make_settlements(
    symbol: str, seed: int, start_ms: int, schedule: Sequence[tuple[int, int]], price: float, decimals: int
) -> list[FakeSettlement]:
    """Settlements from start_ms: `schedule` is (interval hours, count) runs, e.g. ((8, 30), (4, 12), (1, 24));
    rates are small (≈ ±0.01 %), marks a seeded random walk around `price` on the symbol's tick grid."""
    rng = random.Random(f"{seed}:funding:{symbol}")
    out, t, mark = [], start_ms, price
    for hours, count in schedule:
        for _ in range(count):
            t += hours * HOUR_MS
            mark *= 1 + rng.gauss(0.0, 0.004)
            out.append(FakeSettlement(t, f"{rng.gauss(1e-4, 1e-4):.8f}", f"{mark:.{decimals}f}", hours))
    return out


def rest_rows(symbol: str, settlements: Sequence[FakeSettlement]) -> list[dict]:
    """``GET /fapi/v1/fundingRate`` rows."""
    return [
        {"symbol": symbol, "fundingTime": s.rest_time_ms, "fundingRate": s.rate, "markPrice": s.mark}
        for s in settlements
    ]


def info_row(symbol: str, hours: int) -> dict:
    """A ``GET /fapi/v1/fundingInfo`` row (Binance lists the symbols whose cap, floor or interval was adjusted)."""
    return {
        "symbol": symbol,
        "adjustedFundingRateCap": "0.02000000",
        "adjustedFundingRateFloor": "-0.02000000",
        "fundingIntervalHours": hours,
        "disclaimer": False,
    }


def month_span(month: dt.date) -> tuple[int, int]:
    """[first ms, end ms) of a calendar month."""
    start = calendar.timegm((month.year, month.month, 1, 0, 0, 0)) * 1000
    days = calendar.monthrange(month.year, month.month)[1]
    return start, start + days * 86_400_000


def funding_csv(settlements: Sequence[FakeSettlement]) -> str:
    """The archive's monthly fundingRate CSV (calc_time exact, no mark price)."""
    return FUNDING_HEADER + "".join(f"{s.time_ms},{s.interval_hours},{s.rate}\n" for s in settlements)


def mark_klines_csv(settlements: Sequence[FakeSettlement], month: dt.date) -> str:
    """The archive's monthly 1-minute markPriceKlines CSV: every minute of the month, the mark of the latest
    settlement at or before it (the first one's before any), so a settlement minute opens at its own mark."""
    lo, hi = month_span(month)
    rows, k = [], 0
    for minute in range(lo, hi, MINUTE_MS):
        while k + 1 < len(settlements) and settlements[k + 1].time_ms <= minute:
            k += 1
        m = settlements[k].mark
        rows.append(f"{minute},{m},{m},{m},{m},0,{minute + MINUTE_MS - 1},0,60,0,0,0\n")
    return MARK_KLINES_HEADER + "".join(rows)


def checksum(data: bytes, name: str) -> str:
    """A .CHECKSUM file's line (sha256sum format)."""
    return f"{hashlib.sha256(data).hexdigest()}  {name}\n"


def book_ticker(symbol: str, update_id: int, time_ms: int, bid: str, bid_qty: str, ask: str, ask_qty: str) -> bytes:
    """A ``<symbol>@bookTicker`` payload as Binance formats it."""
    return (
        f'{{"e":"bookTicker","u":{update_id},"s":"{symbol}","b":"{bid}","B":"{bid_qty}","a":"{ask}",'
        f'"A":"{ask_qty}","T":{time_ms},"E":{time_ms + 1}}}'
    ).encode()


def mark_price_update(symbol: str, time_ms: int, mark: str, rate: str, next_funding_ms: int) -> bytes:
    """A ``<symbol>@markPrice@1s`` payload as Binance formats it."""
    return (
        f'{{"e":"markPriceUpdate","E":{time_ms},"s":"{symbol}","p":"{mark}","ap":"{mark}","P":"{mark}",'
        f'"i":"{mark}","r":"{rate}","T":{next_funding_ms}}}'
    ).encode()
