"""Funding settlements from Binance's two sources, made one record: REST ``/fapi/v1/fundingRate`` rows (rate and mark
price, no interval) and the archive's monthly ``fundingRate`` files (rate and interval, no mark price: joined with the
``markPriceKlines`` archive at the settlement minute). Intervals are read or derived per settlement, never assumed.
"""

from __future__ import annotations

import csv
import io
import itertools
import math
import zipfile
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import replace

from feed.records import FundingRate
from feed.values import parse_integer, parse_number

HOUR_MS = 3_600_000
MAX_INTERVAL_HOURS = 8.0  # Binance's longest funding interval: settlements further apart mean some are missing
DEFAULT_INTERVAL_HOURS = 8.0  # fundingInfo lists only symbols whose interval was adjusted from this default
NEXT_PAGE_MS = 60_000  # a page goes on a minute after its last settlement (stamps run ms late; settlements: hours)
FUNDING_ARCHIVE_HEADER = ("calc_time", "funding_interval_hours", "last_funding_rate")


def settlement_ms(stamp_ms: int) -> int:
    """A settlement's time to the whole second: REST stamps arrive a few ms late (1704067200004), the archive's
    calc_time is exact; both name the same settlement."""
    return (stamp_ms + 500) // 1000 * 1000


def funding_rows(symbol: str, payload: object, where: str) -> list[FundingRate]:
    """REST fundingRate rows (``fundingTime``, ``fundingRate``, ``markPrice``) as settlements whose interval is
    still NaN (with_intervals fills it); a malformed row raises ValueError naming `where` and the row."""
    if type(payload) is not list:
        raise ValueError(f"{where}: expected a JSON list, got {str(payload)[:120]}")
    out = []
    for row in payload:
        try:
            mark = row.get("markPrice")
            out.append(
                FundingRate(
                    symbol,
                    settlement_ms(parse_integer(row["fundingTime"], "fundingTime")),
                    parse_number(row["fundingRate"], "fundingRate"),
                    parse_number(mark, "markPrice") if mark not in (None, "") else None,
                    math.nan,
                )
            )
        except (AttributeError, KeyError, TypeError, ValueError) as exc:
            raise ValueError(f"{where}: bad fundingRate row {str(row)[:120]} ({exc})") from None
    return sorted(out, key=lambda r: r.funding_time)


def with_intervals(rates: Sequence[FundingRate], previous_ms: int | None, fallback_hours: float) -> list[FundingRate]:
    """Settlements in time order with interval_hours = the hours since the one before (`previous_ms` for the first;
    when there is none — a symbol's first settlement — the spacing to the next, else `fallback_hours`, the symbol's
    interval from fundingInfo). A spacing longer than Binance's longest interval means missing settlements (see
    funding_gaps), not an interval: the interval before it is kept."""
    out = []
    last_ms, last_hours = previous_ms, fallback_hours
    if previous_ms is None and len(rates) > 1:
        first = (rates[1].funding_time - rates[0].funding_time) / HOUR_MS
        last_hours = first if 0 < first <= MAX_INTERVAL_HOURS else fallback_hours
    for rate in rates:
        hours = last_hours if last_ms is None else (rate.funding_time - last_ms) / HOUR_MS
        if not 0 < hours <= MAX_INTERVAL_HOURS:
            hours = last_hours
        out.append(replace(rate, interval_hours=hours))
        last_ms, last_hours = rate.funding_time, hours
    return out


def funding_gaps(times_ms: Sequence[int]) -> list[tuple[int, int]]:
    """(after, before) pairs of consecutive settlements further apart than Binance's longest interval: the
    settlements between them are missing from the source."""
    return [(a, b) for a, b in itertools.pairwise(times_ms) if b - a > MAX_INTERVAL_HOURS * HOUR_MS]


def parse_funding_archive(symbol: str, data: bytes, name: str) -> list[tuple[int, float, float]]:
    """(settlement ms, interval hours, rate) rows of a monthly fundingRate zip (``calc_time,
    funding_interval_hours,last_funding_rate``, header row optional); ValueError naming the file and line."""
    try:
        with zipfile.ZipFile(io.BytesIO(data)) as archive:
            members = [m for m in archive.namelist() if m.endswith(".csv")]
            if len(members) != 1:
                raise ValueError(f"{name}: expected one CSV inside, found {members or 'none'}")
            text = archive.read(members[0]).decode("utf-8")
    except zipfile.BadZipFile as exc:
        raise ValueError(f"{name}: not a zip file ({exc})") from None
    rows = []
    for line_no, fields in enumerate(csv.reader(io.StringIO(text)), start=1):
        if not fields or (line_no == 1 and tuple(f.strip() for f in fields) == FUNDING_ARCHIVE_HEADER):
            continue
        try:
            if len(fields) != 3:
                raise ValueError(f"expected 3 columns {','.join(FUNDING_ARCHIVE_HEADER)}, got {len(fields)}")
            rows.append(
                (
                    settlement_ms(parse_integer(fields[0].strip(), "calc_time")),
                    parse_number(fields[1].strip(), "funding_interval_hours"),
                    parse_number(fields[2].strip(), "last_funding_rate"),
                )
            )
        except ValueError as exc:
            raise ValueError(f"{name} line {line_no}: {exc}") from None
    return sorted(rows)


def join_marks(symbol: str, rows: Iterable[tuple[int, float, float]], marks: Mapping[int, float]) -> list[FundingRate]:
    """Archive settlements with their mark price: the open of the 1-minute mark-price kline of the settlement minute
    (`marks`: minute open time → open); None where the mark archive has no such minute."""
    return [FundingRate(symbol, ms, rate, marks.get(ms - ms % 60_000), hours) for ms, hours, rate in rows]
