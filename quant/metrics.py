"""Performance metrics on per-bar returns: annualisation, Sharpe, Sortino, CAGR, drawdown, Calmar.

Why: the backtest and its sweep share these, and they know nothing of pairs.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np

from quant.vocabulary import SECONDS_PER_YEAR

# ----------------------------------------------------------------------------------------------------------------
# Performance metrics (vectorbt formulas; year = 365 days for 24/7 markets)
# ----------------------------------------------------------------------------------------------------------------


def annualization_factor(bar_seconds: float) -> float:
    """Bars per year for a 24/7 market: 365·86400 / bar_seconds (31,536,000 for 1s bars, 525,600 for 1min)."""
    if not bar_seconds > 0:
        raise ValueError(f"bar_seconds must be > 0, got {bar_seconds}")
    return SECONDS_PER_YEAR / bar_seconds


def _returns_array(returns: Any) -> np.ndarray:
    """Per-period returns as a float array with NaN dropped; ValueError if fewer than 2 or not finite."""
    r = np.asarray(returns, dtype="float64")
    r = r[~np.isnan(r)]
    if r.size < 2:
        raise ValueError(f"need at least 2 returns, got {r.size}")
    if np.isinf(r).any() or (r <= -1.0).any():
        raise ValueError("returns must be finite and > -100 %")
    return r


def sharpe_ratio(returns: Any, ann_factor: float, risk_free: float = 0.0) -> float:
    """Annualised Sharpe: mean(r − rf) / std(r − rf, ddof=1) · √ann_factor (vectorbt)."""
    r = _returns_array(returns) - risk_free
    sd = r.std(ddof=1)
    if sd == 0:
        raise ValueError("returns have zero variance; Sharpe is undefined")
    return float(r.mean() / sd * math.sqrt(ann_factor))


def sortino_ratio(returns: Any, ann_factor: float, required_return: float = 0.0) -> float:
    """Annualised Sortino: mean(r − req)·ann / (√mean(min(r − req, 0)²)·√ann), mean over all periods (vectorbt)."""
    adj = _returns_array(returns) - required_return
    downside = math.sqrt(float(np.mean(np.minimum(adj, 0.0) ** 2))) * math.sqrt(ann_factor)
    if downside == 0:
        raise ValueError("no returns below the required return; Sortino is undefined")
    return float(adj.mean() * ann_factor / downside)


def cagr(returns: Any, ann_factor: float) -> float:
    """Compound annual growth rate: (Π(1 + r))^(ann_factor / n) − 1."""
    r = _returns_array(returns)
    log_growth = float(np.log1p(r).sum()) * ann_factor / r.size
    if log_growth > 700:
        raise ValueError("annualised growth overflows: the sample is far too short to annualise")
    return math.expm1(log_growth)


def max_drawdown_values(values: np.ndarray) -> float:
    """Largest peak-to-trough fall of a value path, as a negative fraction (0 when it never falls)."""
    return float(np.min(values / np.maximum.accumulate(values)) - 1.0)


def max_drawdown(returns: Any) -> float:
    """Maximum drawdown of the compounded path starting at 1, as a negative fraction (vectorbt)."""
    r = _returns_array(returns)
    return max_drawdown_values(np.concatenate([[1.0], np.cumprod(1.0 + r)]))


def calmar_ratio(returns: Any, ann_factor: float) -> float:
    """Calmar: CAGR / |max drawdown| (vectorbt); undefined without a drawdown."""
    mdd = max_drawdown(returns)
    if mdd == 0:
        raise ValueError("no drawdown; Calmar is undefined")
    return cagr(returns, ann_factor) / abs(mdd)
