"""Research answers for a pair: the OU-optimal band with its edge after costs, the walk-forward out of sample, and
the deflated Sharpe ratio and PBO of the Backtest tab's entry × exit sweep (service.research computes them for both
UIs)."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import analytics
from api.errors import ApiError
from api.pair import jsonable, pair_window
from config import Settings
from service import research
from service.window import Window

EQUITY_POINTS = 2_000  # the stitched out-of-sample equity curve is thinned to at most this many points


def _window(settings: Settings, q: Mapping[str, str]) -> Window:
    return pair_window(settings, q)[2]


def _short(window: Window, exc: analytics.InsufficientData) -> ApiError:
    """A 409 naming the pair: its window cannot support the answer yet."""
    x, y = window.controls.pair or ("", "")
    return ApiError(409, "x", f"x={x.lower()}, y={y.lower()}: {exc}")


def bands(settings: Settings, q: Mapping[str, str]) -> dict[str, Any]:
    """`/api/research/bands`: the OU fit of the pair's static spread, Bertram's optimal band for the round trip
    (service.research.cost_bps), its expected cycle and the edge per day after costs."""
    window = _window(settings, q)
    try:
        edge = research.pair_edge(window)
    except analytics.InsufficientData as exc:
        raise _short(window, exc) from None
    return {
        **analytics.to_json(edge),
        "entry_z": edge.entry_z,
        "covers_cost": edge.covers_cost,
        "cost_bps": edge.cost_bps,
        "units": "spread = y − α − β·x in y's quote currency; μ per year, σ per √year (365-day years); "
        "edge_per_day a fraction of the gross notional p_y + |β|·p_x, both sides traded, after costs",
    }


def walk_forward(settings: Settings, q: Mapping[str, str]) -> dict[str, Any]:
    """`/api/research/walkforward?bands=fixed|optimal|sweep`: in sample vs out of sample, the efficiency, every
    window's fits, and the stitched out-of-sample equity curve (thinned to EQUITY_POINTS)."""
    raw = q.get("bands", analytics.BandChoice.OPTIMAL.value)
    try:
        choice = analytics.BandChoice(raw)
    except ValueError:
        raise ApiError(400, "bands", f"bands={raw!r}: one of {', '.join(analytics.BandChoice)}") from None
    window = _window(settings, q)
    try:
        result = research.run_walk_forward(window, choice)
    except analytics.InsufficientData as exc:
        raise _short(window, exc) from None
    equity = result.oos_equity.iloc[:: max(1, len(result.oos_equity) // EQUITY_POINTS)]
    summary = {
        "in_sample": {
            "annual_return": result.is_annual_return,
            "sharpe": result.is_sharpe,
            "pnl": float(result.is_pnl.sum()),
            "trades": result.is_trades,
            "costs": result.is_costs,
            "funding": result.is_funding,
        },
        "out_of_sample": {
            "annual_return": result.oos_annual_return,
            "sharpe": result.oos_sharpe,
            "pnl": float(result.oos_pnl.sum()),
            "trades": result.oos_trades,
            "costs": result.oos_costs,
            "funding": result.oos_funding,
        },
        "efficiency": result.efficiency,
        "windows": list(result.windows),
    }
    return {
        "bands": choice.value,
        **analytics.to_json(summary),
        "equity": {jsonable(t): jsonable(v) for t, v in equity.items()},
    }


def deflated_sharpe(settings: Settings, q: Mapping[str, str]) -> dict[str, Any]:
    """`/api/research/dsr`: the sweep's best cell by Sharpe, its deflated Sharpe ratio with every cell counted as a
    trial, the sweep's PBO (without the per-split logits) and the verdict in words."""
    window = _window(settings, q)
    try:
        odds = research.sweep_odds(window)
    except analytics.InsufficientData as exc:
        raise _short(window, exc) from None
    overfitting = analytics.to_json(odds.overfitting)
    overfitting.pop("logits")
    return {
        "entry": odds.entry,
        "exit": odds.exit,
        "sharpe": analytics.to_json(odds.sharpe),
        "deflated": analytics.to_json(odds.deflated),
        "overfitting": overfitting,
        "words": odds.words(),
    }
