"""Pair analytics, the correlation matrix and the pair export: the one pair pipeline (analytics.pair_series /
pair_tests through the dashboard's model) and the cost-aware backtest, in the seed's answer shapes."""

from __future__ import annotations

import math
from collections.abc import Iterator, Mapping
from typing import Any

import numpy as np
import pandas as pd

import analytics
import database
from api import params
from api.errors import ApiError
from api.market import TS_FORMAT
from config import Settings
from service.alerts import alert_fires, rule_text
from service.costs import run_backtest
from service.window import Window, load_window, pair_of, reader, run_tests


def _num(value: Any) -> float | None:
    """A JSON-safe float (None for missing or non-finite)."""
    if value is None:
        return None
    out = float(value)
    return out if math.isfinite(out) else None


def jsonable(value: Any) -> Any:
    """A trade-log or metrics cell as JSON: times as text, durations in seconds, NaN as null, numpy as Python."""
    if isinstance(value, pd.Timestamp):
        return value.strftime(TS_FORMAT)
    if isinstance(value, pd.Timedelta):
        return value.total_seconds()
    if isinstance(value, (bool, np.bool_)):
        return bool(value)
    if isinstance(value, (int, np.integer)):
        return int(value)
    if isinstance(value, (float, np.floating)):
        return _num(value)
    if value is None or isinstance(value, str):
        return value
    return str(value)


def _series(s: pd.Series, points: int = params.SERIES_POINTS) -> dict[str, float | None]:
    """The last `points` values keyed by their 'YYYY-MM-DD HH:MM:SS' time, NaN (warm-up) left out."""
    tail = s.dropna().iloc[-points:]
    return dict(zip(pd.DatetimeIndex(tail.index).strftime(TS_FORMAT), (_num(v) for v in tail.to_numpy()), strict=True))


def _pair_args(q: Mapping[str, str]) -> tuple[str, str]:
    for name in ("x", "y"):
        if not q.get(name):
            raise ApiError(400, name, f"{name} is required (a symbol)")
    x, y = params.symbol(q["x"], "x"), params.symbol(q["y"], "y")
    if x == y:
        raise ApiError(400, "y", f"y={q['y']!r}: choose a symbol different from x")
    return x, y


def _stationarity(tests: analytics.PairTests) -> dict[str, Any]:
    """The seed's `adf` block, filled with our cointegration test of the pair: Engle–Granger on the prices (an
    ADF on an estimated residual needs its critical values); nulls with the reason while the data is too short."""
    eg = tests.engle_granger
    if eg is not None:
        return {
            "stat": _num(eg.statistic),
            "pvalue": _num(eg.pvalue),
            "nobs": eg.nobs,
            "test": analytics.PairTest.ENGLE_GRANGER.value,
        }
    return {
        "stat": None,
        "pvalue": None,
        "nobs": tests.n_bars,
        "test": analytics.PairTest.ENGLE_GRANGER.value,
        "problem": tests.problems.get(analytics.PairTest.ENGLE_GRANGER, ""),
    }


def _fired(conn: database.Connection, x: str, y: str, last: dict[str, float | None]) -> list[dict[str, Any]]:
    """Rules on this pair whose condition holds for the latest z-score/spread (read only; the sidebar records)."""
    out = []
    for rule in database.list_alert_rules(conn):
        value = last.get(rule.metric)
        if rule.enabled and {rule.symbol_x, rule.symbol_y} == {x, y} and value is not None and alert_fires(rule, value):
            out.append({"id": rule.id, "message": rule_text(rule)})
    return out


def pair_window(settings: Settings, q: Mapping[str, str]) -> tuple[str, str, Window]:
    """The pair's (x, y) from the query and the window the query asks for."""
    x, y = _pair_args(q)
    c = params.controls(q, settings, (x, y), (x, y))
    with reader(settings.db_target) as conn:
        return x, y, load_window(conn, c)


def pair(settings: Settings, q: Mapping[str, str]) -> dict[str, Any]:
    """`/api/analytics/pair`: hedge, stationarity, spread/zscore/corr, backtest and alerts; shortages as
    `{"error": ...}` (the seed's frontend shows it)."""
    x, y, window = pair_window(settings, q)
    c = window.controls
    with reader(settings.db_target) as conn:
        try:
            series = pair_of(window, c.pair)
            tests = run_tests(series, None).tests
            result = run_backtest(window)
        except analytics.InsufficientData as exc:
            return {"error": str(exc)}
        last = {
            "zscore": _num(series.zscore.dropna().iloc[-1]) if series.zscore.notna().any() else None,
            "spread": _num(series.spread.dropna().iloc[-1]) if series.spread.notna().any() else None,
        }
        fired = _fired(conn, x, y, last)
    return {
        "hedge": {
            "beta": _num(series.hedge.beta),
            "intercept": _num(series.hedge.alpha),
            "rsq": _num(series.hedge.r_squared),
            "method": series.hedge.method,
        },
        "adf": _stationarity(tests),
        "spread": _series(series.spread),
        "zscore": _series(series.zscore),
        "corr": _series(series.correlation),
        "backtest": {
            "trades": [
                {str(k): jsonable(v) for k, v in row.items()}
                for row in result.trades.tail(params.SERIES_POINTS).to_dict("records")
            ],
            "equity": _series(result.equity),
            "metrics": {k: jsonable(v) for k, v in result.metrics.items()},
            "breakdown": analytics.to_json(result.breakdown),
            "refused": [{str(k): jsonable(v) for k, v in row.items()} for row in result.refused.to_dict("records")],
            "notes": result.notes,
        },
        "last": last,
        "alerts": fired,
        "notes": series.notes,
        "verdict": analytics.to_json(analytics.pair_verdict(series, tests)),
    }


def corr_matrix(settings: Settings, q: Mapping[str, str]) -> dict[str, Any]:
    """`{"symbols": [...], "matrix": [[...]]}`: return correlations of the symbols' bars over the window."""
    syms = params.symbols(q.get("symbols", ""))
    c = params.controls(q, settings, syms)
    with reader(settings.db_target) as conn:
        window = load_window(conn, c)
    try:
        matrix = analytics.correlation_matrix(window.closes(syms, c.min_volume))
    except (analytics.InsufficientData, ValueError) as exc:
        return {"symbols": [s.lower() for s in syms], "matrix": [], "error": str(exc)}
    order = [s for s in syms if s in matrix.columns]
    return {"symbols": [s.lower() for s in order], "matrix": [[_num(matrix.loc[a, b]) for b in order] for a in order]}


def pair_export(settings: Settings, q: Mapping[str, str]) -> Iterator[str]:
    """CSV `ts,spread,zscore,corr` of the pair over the window (every bar, not only the last 500)."""
    _, _, window = pair_window(settings, q)
    try:
        series = pair_of(window, window.controls.pair)
    except analytics.InsufficientData as exc:
        raise ApiError(409, "x", str(exc)) from None
    frame = pd.DataFrame({"spread": series.spread, "zscore": series.zscore, "corr": series.correlation})
    frame = frame.dropna(subset=["spread"]).astype(object).where(frame.notna(), "")
    stamps = pd.DatetimeIndex(frame.index).strftime(TS_FORMAT)
    rows = zip(stamps, *(frame[k].tolist() for k in frame.columns), strict=True)
    return database.csv_chunks(("ts", "spread", "zscore", "corr"), [list(rows)])
