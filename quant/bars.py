"""Bars: epoch-ms to UTC time index, tick-to-OHLCV resampling, bar re-sampling and close alignment.

Why: turning raw ticks/bars into aligned, time-indexed closes is separate from any statistics on them.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from quant.validation import as_series, check_index, check_values
from quant.vocabulary import TIMEFRAMES, InsufficientData

# ----------------------------------------------------------------------------------------------------------------
# Bars
# ----------------------------------------------------------------------------------------------------------------


def to_time_index(df: pd.DataFrame, col: str = "timestamp") -> pd.DataFrame:
    """Turn an epoch-ms column into a sorted tz-aware UTC DatetimeIndex named "time" (the column is dropped)."""
    if col not in df.columns:
        raise ValueError(f"column {col!r} not found; columns are {list(df.columns)}")
    ts = df[col]
    if not pd.api.types.is_integer_dtype(ts.dtype) and (
        not pd.api.types.is_float_dtype(ts.dtype) or ts.isna().any() or (ts % 1 != 0).any()
    ):
        raise ValueError(f"column {col!r} must hold integer epoch milliseconds, got dtype {ts.dtype}")
    index = pd.DatetimeIndex(pd.to_datetime(ts.to_numpy(dtype="int64"), unit="ms", utc=True), name="time")
    out = df.drop(columns=col).set_axis(index, axis=0)
    return out if index.is_monotonic_increasing else out.sort_index(kind="mergesort")


def _utc_index(index: pd.DatetimeIndex) -> pd.DatetimeIndex:
    """Return index in UTC (naive stamps are taken as UTC) named "time"."""
    index = index.tz_localize("UTC") if index.tz is None else index.tz_convert("UTC")
    return index.rename("time")


def _tick_frame(tick_df: pd.DataFrame) -> pd.DataFrame:
    """Return ticks indexed by UTC time with float price and size columns, validated and sorted."""
    if not isinstance(tick_df, pd.DataFrame):
        raise ValueError(f"ticks must be a DataFrame, got {type(tick_df).__name__}")
    missing = {"price", "size"} - set(tick_df.columns)
    if missing:
        raise ValueError(f"ticks lack columns {sorted(missing)}; need price and size")
    if "symbol" in tick_df.columns and tick_df["symbol"].nunique() > 1:
        raise ValueError(f"ticks hold several symbols {sorted(tick_df['symbol'].unique())}; resample one at a time")
    if isinstance(tick_df.index, pd.DatetimeIndex):
        ticks = tick_df.set_axis(_utc_index(tick_df.index), axis=0)
    elif "timestamp" in tick_df.columns:
        ts = tick_df["timestamp"]
        if pd.api.types.is_numeric_dtype(ts.dtype):
            ticks = to_time_index(tick_df, "timestamp")
        else:
            index = pd.DatetimeIndex(pd.to_datetime(ts, utc=True, format="ISO8601"))
            ticks = tick_df.drop(columns="timestamp").set_axis(_utc_index(index), axis=0)
    else:
        raise ValueError("ticks need a DatetimeIndex or a 'timestamp' column (epoch ms)")
    if ticks.empty:
        raise InsufficientData("ticks are empty")
    price = as_series(ticks["price"], "price")
    size = as_series(ticks["size"], "size")
    check_values(price, "price", 1, constant_ok=True)
    check_values(size, "size", 1, constant_ok=True)
    if (price <= 0).any():
        raise ValueError(f"price must be > 0; {int((price <= 0).sum())} ticks are not")
    if (size < 0).any():
        raise ValueError(f"size must be >= 0; {int((size < 0).sum())} ticks are negative")
    out = pd.DataFrame({"price": price, "size": size})
    return out if out.index.is_monotonic_increasing else out.sort_index(kind="mergesort")


def _rule(timeframe: str) -> str:
    """Validate a timeframe string and return it as a pandas rule."""
    if timeframe not in TIMEFRAMES:
        raise ValueError(f"unknown timeframe {timeframe!r}; accepted: {', '.join(TIMEFRAMES)}")
    return timeframe


def _finish_bars(agg: pd.DataFrame, empty: np.ndarray, fill: bool) -> pd.DataFrame:
    """Drop empty intervals, or forward-fill them flat at the last close with zero volume and filled=True."""
    if not fill:
        out = agg.loc[~empty].copy()
        out["filled"] = False
    else:
        out = agg.copy()
        close = out["close"].ffill()
        for col in ("open", "high", "low", "close", "vwap"):
            out[col] = out[col].where(~empty, close)
        out.loc[empty, ["volume", "trades"]] = 0
        out["filled"] = empty
    out.index = out.index.rename("time")
    return out[["open", "high", "low", "close", "volume", "trades", "vwap", "filled"]]


def resample_ohlcv(tick_df: pd.DataFrame, timeframe: str = "1min", fill: bool = False) -> pd.DataFrame:
    """Aggregate trades into OHLCV bars stamped at OPEN time (UTC, epoch-aligned), with trades and VWAP.

    Empty intervals are absent (``fill=False``) or present flat at the previous close with zero volume and
    ``filled=True`` (``fill=True``); :func:`fill_fraction` reports their share. VWAP of a filled bar is that close.
    """
    rule = _rule(timeframe)
    ticks = _tick_frame(tick_df)
    ticks["notional"] = ticks["price"] * ticks["size"]
    grouped = ticks.resample(rule, label="left", closed="left", origin="epoch")
    agg = grouped["price"].ohlc()
    agg["volume"] = grouped["size"].sum()
    agg["trades"] = grouped["price"].count().astype("int64")
    notional = grouped["notional"].sum()
    agg["vwap"] = (notional / agg["volume"]).where(agg["volume"] > 0, agg["close"])
    return _finish_bars(agg, agg["trades"].to_numpy() == 0, fill)


def resample_bars(bars: pd.DataFrame, timeframe: str, fill: bool = False, source: str | None = None) -> pd.DataFrame:
    """Re-aggregate finer bars into a coarser timeframe; same columns and conventions as :func:`resample_ohlcv`.

    ``source`` is the input's bar size when the caller knows it (stored series): sparse bars (a symbol trading
    every 5 s) are then not mistaken for coarser ones; without it the size is inferred from the closest two bars.

    Input columns: open, high, low, close, volume, optional trades, quote_volume and filled (filled input bars are
    ignored). VWAP is quote_volume/volume when quote_volume is present, else the volume-weighted close; ``trades``
    is a nullable Int64 column that is <NA> when the input has no trade counts.
    """
    rule = _rule(timeframe)
    missing = {"open", "high", "low", "close", "volume"} - set(bars.columns)
    if missing:
        raise ValueError(f"bars lack columns {sorted(missing)}")
    if not isinstance(bars.index, pd.DatetimeIndex):
        raise ValueError("bars need a DatetimeIndex stamped at bar open time (see to_time_index)")
    if bars.empty:
        raise InsufficientData("bars are empty")
    src = bars.set_axis(_utc_index(bars.index), axis=0)
    check_index(src.index, "bars")
    if "filled" in src.columns:
        src = src.loc[~src["filled"].astype(bool)]
        if src.empty:
            raise InsufficientData("every input bar is filled (synthetic); there is nothing to aggregate")
    if source is not None:
        if TIMEFRAMES[source] > TIMEFRAMES[timeframe]:
            raise ValueError(f"cannot resample {source} bars into finer {timeframe} bars")
    elif len(src) > 1:
        step = pd.Series(src.index).diff().min()
        if step > pd.Timedelta(seconds=TIMEFRAMES[timeframe]):
            raise ValueError(f"cannot resample {step} bars into finer {timeframe} bars")
    has_trades = "trades" in src.columns
    weight = src["quote_volume"] if "quote_volume" in src.columns else src["close"] * src["volume"]
    work = pd.DataFrame(
        {
            "open": src["open"],
            "high": src["high"],
            "low": src["low"],
            "close": src["close"],
            "volume": src["volume"],
            "weight": weight,
            "trades": src["trades"] if has_trades else 0,
        }
    )
    grouped = work.resample(rule, label="left", closed="left", origin="epoch")
    agg = grouped.agg(
        {
            "open": "first",
            "high": "max",
            "low": "min",
            "close": "last",
            "volume": "sum",
            "weight": "sum",
            "trades": "sum",
        }
    )
    agg["vwap"] = (agg["weight"] / agg["volume"]).where(agg["volume"] > 0, agg["close"])
    agg["trades"] = agg["trades"].astype("Int64") if has_trades else pd.array([pd.NA] * len(agg), dtype="Int64")
    empty = grouped["close"].count().to_numpy() == 0
    return _finish_bars(agg.drop(columns="weight"), empty, fill)


def fill_fraction(bars: pd.DataFrame) -> float:
    """Share of bars that are synthetic (filled=True), for the data-quality badge."""
    if "filled" not in bars.columns:
        raise ValueError("bars have no 'filled' column; produce them with resample_ohlcv/resample_bars")
    if bars.empty:
        raise InsufficientData("bars are empty")
    return float(bars["filled"].astype(bool).mean())


def align_closes(bars_by_symbol: dict[str, pd.DataFrame], min_volume: float = 0.0) -> pd.DataFrame:
    """Closes of several symbols joined on common bar times; bars with volume < min_volume are dropped first."""
    if not bars_by_symbol:
        raise ValueError("no symbols given")
    if min_volume < 0:
        raise ValueError(f"min_volume must be >= 0, got {min_volume}")
    closes = {}
    for symbol, bars in bars_by_symbol.items():
        if "close" not in bars.columns or (min_volume > 0 and "volume" not in bars.columns):
            raise ValueError(f"bars for {symbol} need 'close' (and 'volume' for the liquidity filter) columns")
        if not isinstance(bars.index, pd.DatetimeIndex):
            raise ValueError(f"bars for {symbol} need a DatetimeIndex")
        kept = bars.loc[bars["volume"] >= min_volume] if min_volume > 0 else bars
        if kept.empty:
            raise InsufficientData(f"no bars for {symbol} with volume >= {min_volume}")
        closes[symbol] = kept["close"].set_axis(_utc_index(pd.DatetimeIndex(kept.index)), axis=0)
    out = pd.concat(closes, axis=1, join="inner").sort_index()
    if out.empty:
        raise InsufficientData(f"symbols {list(bars_by_symbol)} share no bar times")
    out.index = out.index.rename("time")
    return out


def mask_holes(bars: pd.DataFrame, min_bars: int) -> pd.DataFrame:
    """The bars with open/high/low/close/vwap blanked (NaN) inside every run of at least `min_bars` filled bars, so
    a hole in the data (a stopped collector, a missing day) is drawn as a gap, not as a flat line at the last price.
    Shorter runs (a quiet second or two) keep their carried-forward price. For drawing: statistics use the bars as
    they are."""
    if "filled" not in bars.columns or bars.empty:
        return bars
    filled = bars["filled"].to_numpy(dtype=bool)
    edges = np.flatnonzero(np.diff(np.r_[0, filled.astype(np.int8), 0]))
    hole = np.zeros(len(filled), dtype=bool)
    for start, stop in zip(edges[::2], edges[1::2], strict=True):
        if stop - start >= min_bars:
            hole[start:stop] = True
    if not hole.any():
        return bars
    out = bars.copy()
    out.loc[hole, [c for c in ("open", "high", "low", "close", "vwap") if c in out.columns]] = np.nan
    return out
