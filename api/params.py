"""Query-parameter parsing: each function returns a typed value or raises ApiError naming the parameter."""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping
from typing import Any

import analytics
import database
from api.errors import ApiError
from config import Settings, parse_symbols
from core.vocabulary import Timeframe
from service.controls import Controls

MAX_WINDOW_MIN = 60 * 24 * 31  # the longest window one answer may cover (31 days)
MAX_LIMIT = 10_000  # most points in one answer
DEFAULT_LIMIT = 1_000
SERIES_POINTS = 500  # the pair endpoint's series are the last this many points (as the seed's)


def symbol(raw: str, param: str = "symbol") -> str:
    """One symbol, any case, as stored (upper-case)."""
    try:
        found = parse_symbols(raw)
    except ValueError as exc:
        raise ApiError(400, param, f"{param}={raw!r}: {exc}") from None
    if len(found) != 1:
        raise ApiError(400, param, f"{param}={raw!r}: expected one symbol")
    return found[0]


def symbols(raw: str, param: str = "symbols") -> tuple[str, ...]:
    """A comma-separated list of symbols."""
    try:
        return parse_symbols(raw)
    except ValueError as exc:
        raise ApiError(400, param, f"{param}={raw!r}: {exc}") from None


def timeframe(q: Mapping[str, str], param: str = "timeframe") -> str:
    """A stored/shown bar size (default 1s)."""
    raw = q.get(param, "1s")
    if raw not in set(Timeframe):
        raise ApiError(400, param, f"{param}={raw!r}: expected one of {', '.join(Timeframe)}")
    return raw


def number(q: Mapping[str, str], param: str, default: float, low: float, high: float) -> float:
    """A finite float in [low, high]."""
    return _bounded(q, param, default, low, high, float, "a number", "g")


def integer(q: Mapping[str, str], param: str, default: int | None, low: int, high: int) -> int | None:
    """An integer in [low, high], or the default when absent."""
    return _bounded(q, param, default, low, high, int, "an integer", "")


def _bounded(
    q: Mapping[str, str],
    param: str,
    default: Any,
    low: Any,
    high: Any,
    convert: Callable[[str], Any],
    noun: str,
    fmt: str,
) -> Any:
    """`param` converted and checked against [low, high] (finite), the default when absent; a 400 naming it."""
    raw = q.get(param)
    if raw is None or raw == "":
        return default
    try:
        if not raw.isascii() or "_" in raw:  # int()/float() take "1_000" and non-ASCII digits
            raise ValueError(raw)
        value = convert(raw)
    except ValueError:
        raise ApiError(400, param, f"{param}={raw!r}: expected {noun}") from None
    if not math.isfinite(value) or not low <= value <= high:
        raise ApiError(400, param, f"{param}={raw!r}: expected {noun} from {low:{fmt}} to {high:{fmt}}")
    return value


def method(q: Mapping[str, str], param: str = "regression") -> str:
    """A hedge method: any of ours (the seed knew ols and kalman)."""
    raw = q.get(param, "ols").lower()
    if raw not in set(analytics.HedgeMethod):
        raise ApiError(400, param, f"{param}={raw!r}: expected one of {', '.join(analytics.HedgeMethod)}")
    return raw


def window(q: Mapping[str, str], settings: Settings) -> tuple[int, int | None]:
    """(lookback minutes, end ms or None for now) from `start`/`end` (epoch ms); default: the last
    LOOKBACK_MINUTES ending now. A window longer than 31 days is refused."""
    end = integer(q, "end", None, 0, 2**53)
    start = integer(q, "start", None, 0, 2**53)
    if start is None:
        return settings.lookback_minutes, end
    stop = end if end is not None else database.now_ms()
    if start >= stop:
        raise ApiError(400, "start", f"start={start} must be before end={stop}")
    minutes = math.ceil((stop - start) / 60_000)
    if minutes > MAX_WINDOW_MIN:
        raise ApiError(400, "start", f"start={start}: the window may cover at most {MAX_WINDOW_MIN // 1440} days")
    return minutes, end


def controls(
    q: Mapping[str, str], settings: Settings, syms: tuple[str, ...], pair: tuple[str, str] | None = None
) -> Controls:
    """The Controls record the dashboard's model reads, built from query parameters instead of the sidebar."""
    lookback, end = window(q, settings)
    roll = integer(q, "roll_window", 60, 2, 100_000) or 60
    return Controls(
        db_target=settings.db_target,
        symbols=syms,
        pair=pair,
        timeframe=timeframe(q),
        lookback_min=lookback,
        end_ms=end,
        min_volume=number(q, "min_volume", 0.0, 0.0, 1e18),
        method=method(q),
        hedge_window=roll,
        z_window=roll,
        entry=number(q, "entry", 2.0, 0.0, 100.0),
        exit=number(q, "exit", 0.0, -100.0, 100.0),
        stop=None,
        max_hold=None,
        fee_bps=settings.fee_bps,
        slippage_bps=settings.slippage_bps,
        capital=number(q, "capital", 10_000.0, 1.0, 1e12),
        in_sample=False,
        maker_fee_bps=settings.maker_fee_bps,
        stand_in_spread_bps=settings.stand_in_spread_bps,
        liquidity=settings.liquidity,
    )
