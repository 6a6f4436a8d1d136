"""Pure analytics for the Binance Analytics Platform: bars, hedge ratios, pair statistics and a pairs backtest.

Conventions (binding for every function below):

* Time: pandas objects are indexed by a tz-aware UTC ``DatetimeIndex`` named ``"time"``; bars are stamped at their
  OPEN time on exchange time (``T`` of a trade). Epoch-ms columns are converted with :func:`to_time_index`.
* Pairs: ``x`` (alias ``price1``) is the independent leg, ``y`` (alias ``price2``) the dependent leg, and
  ``y ≈ alpha + beta·x``. Every spread in this module is ``y − (alpha + beta·x)``; a long spread is long ``y`` and
  short ``beta`` units of ``x``.
* Causality: every series marked *causal* has, at bar t, a value computed from bars ``≤ t`` only. Hedge ratios used
  by the backtest are causal (rolling, Kalman filter, or an expanding fit); a fit on the whole sample exists only as
  the explicitly labelled in-sample option.
* Bad input (too short, constant, all-NaN, misaligned, unknown option) raises ``ValueError`` saying what is wrong.

Library choices: statsmodels (OLS, adfuller, coint, coint_johansen), scikit-learn (HuberRegressor), numpy (SVD).
Hand-written, because no library does them well here: the rolling/expanding single-regressor OLS (closed form on
pandas rolling moments; statsmodels RollingOLS needs ~1 s for 86,400 bars), the Kalman filter loop (pykalman is
~50x slower) and the backtest state machine.

Layout: this module is a facade; the implementation lives in the ``quant`` package, one job per file:

* ``quant/vocabulary.py``   InsufficientData, HedgeMethod, PairTest, LagCriterion and the tuning constants (AlertOp
                            and AlertMetric are core.vocabulary's: the database stores them too).
* ``quant/validation.py``   input checks shared by every function.
* ``quant/persistence.py``  the AR(1) fit, its median-unbiased correction and the last-third test's tables.
* ``quant/results.py``      the frozen result records (AdfResult, EngleGrangerResult, JohansenResult, HalfLifeResult,
                            HurstResult, StabilityResult, PersistenceChangeResult), PairSeries, PairTests and
                            ``to_json``.
* ``quant/bars.py``         to_time_index, resample_ohlcv, resample_bars, fill_fraction, align_closes, mask_holes.
* ``quant/hedge.py``        HedgeResult, fit_hedge and its OLS/Huber/TLS/rolling/Kalman fits, spread, z-score.
* ``quant/stationarity.py`` ADF, Engle-Granger, Johansen, half-life, Hurst, returns, correlations, statistics.
* ``quant/pair.py``         PairAnalytics and the pair pipeline (pair_series, pair_tests, beta_stability).
* ``quant/verdict.py``      Verdict, PairVerdict, pair_verdict: the one overall reading of a pair.
* ``quant/scan.py``         scan_pairs, ScanSummary, ScanExclusion (an ExclusionReason and its sentence); the screen,
                            the full test and the selection in quant/scan_screen, scan_describe, scan_select.
* ``quant/ou_bands.py``     ou_fit (exact-MLE OU), ou_band_stats, ou_optimal_thresholds (Bertram's 2010 bands),
                            round_trip_cost, spread_edge (the edge per day after costs).
* ``quant/overfitting.py``  deflated_sharpe_ratio, expected_max_sharpe, trials_deflated_sharpe,
                            probability_of_overfitting.
* ``quant/sweep_overfit.py`` sweep_returns, sweep_overfitting: a sweep's best cell, deflated Sharpe and PBO.
* ``quant/walkforward.py``  WalkForwardParams, walk_forward, walk_forward_windows: formation/trading windows, out of
                            sample, with purge and embargo.
* ``quant/metrics.py``      annualization_factor, Sharpe, Sortino, CAGR, max drawdown, Calmar.
* ``quant/costs.py``        funding_payments, CostModel (fees, stand-in half-spread, Liquidity), LegMarket (a leg's
                            quotes, funding and contract rules), CostBreakdown: what a pair trade pays on perpetuals;
                            pair_market, pair_cost_bps (a unit of spread's cost per fill, for the OU band);
                            leg_prices and fill_costs price one fill at the quotes (the paper positions' fills).
* ``quant/simulate.py``     the backtest's money accounting: whole-step legs, bid/ask fills, fees, funding per trade.
* ``quant/backtest.py``     BacktestParams, BacktestResult, backtest_pairs, backtest_mean_reversion, parameter_sweep.
* ``quant/alerts.py``       evaluate_alert.
* ``quant/breakalarm.py``   spread_break_alarm, break_evidence, break_alarm_fit, break_alarm_state/_update:
                            the cointegration-break alarm (BreakAlarmFit, BreakAlarmState in results.py).
* ``quant/signals.py``      SignalBands, SignalState, step_signal: the backtest's band rules one bar at a time;
                            rolling_tail: the rolling hedge's β, α, spread and z of the last bars, in numpy.

Seed-compatible API: the Streamlit seed's README documents ``Analytics.resample_ohlcv``,
``Analytics.calculate_hedge_ratio`` and ``Analytics.backtest_mean_reversion``. The ``Analytics`` namespace class
below keeps those calls (and the other functions under the same names) working. Nothing in the product calls
``resample_ohlcv``, ``calculate_hedge_ratio`` or ``backtest_mean_reversion`` (it reads stored bars and calls
``fit_hedge`` and ``backtest_pairs``): they are kept for the seed, tested in tests/test_analytics.py and
tests/test_backtest.py. This module re-exports no private name.
"""

from __future__ import annotations

import logging

from core.vocabulary import AlertMetric, AlertOp, Liquidity
from quant.alerts import (
    evaluate_alert,
)
from quant.backtest import (
    BacktestParams,
    BacktestResult,
    backtest_mean_reversion,
    backtest_pairs,
    parameter_sweep,
)
from quant.bars import (
    align_closes,
    fill_fraction,
    mask_holes,
    resample_bars,
    resample_ohlcv,
    to_time_index,
)
from quant.breakalarm import (
    BREAK_ALARM_MIN_FORMATION,
    BREAK_ALARM_OFF,
    BREAK_ALARM_ON,
    break_alarm_fit,
    break_alarm_state,
    break_alarm_update,
    break_evidence,
    spread_break_alarm,
)
from quant.costs import (
    QUOTE_MAX_AGE_S,
    CostBreakdown,
    CostModel,
    LegMarket,
    LegPrices,
    PairMarket,
    fill_costs,
    funding_payments,
    leg_prices,
    notional_problem,
    pair_cost_bps,
    pair_market,
)
from quant.hedge import (
    HedgeResult,
    calculate_hedge_ratio,
    calculate_spread,
    calculate_zscore,
    fit_hedge,
)
from quant.metrics import (
    annualization_factor,
    cagr,
    calmar_ratio,
    max_drawdown,
    sharpe_ratio,
    sortino_ratio,
)
from quant.ou_bands import (
    ou_band_stats,
    ou_fit,
    ou_optimal_thresholds,
    round_trip_cost,
    spread_edge,
)
from quant.overfitting import (
    deflated_sharpe_ratio,
    expected_max_sharpe,
    probability_of_overfitting,
    trials_deflated_sharpe,
)
from quant.pair import (
    PairAnalytics,
    beta_stability,
    pair_analytics,
    pair_series,
    pair_tests,
    pair_warmup,
)
from quant.persistence import CAUTION_LEVEL
from quant.results import (
    AdfResult,
    BreakAlarmFit,
    BreakAlarmState,
    CriticalValues,
    DeflatedSharpe,
    EngleGrangerResult,
    HalfLifeResult,
    HurstResult,
    JohansenResult,
    OUBands,
    OUFit,
    OverfittingResult,
    PairSeries,
    PairTests,
    PersistenceChangeResult,
    SpreadEdge,
    StabilityResult,
    StaticFit,
    SweepOverfitting,
    WalkForwardResult,
    WalkForwardWindow,
    to_json,
)
from quant.scan import SCAN_COLUMNS, SCAN_COST_BPS, ScanSummary, scan_pairs, scan_summary
from quant.scan_screen import ExclusionReason, ScanExclusion
from quant.signals import SignalBands, SignalState, TailSeries, rolling_tail, step_signal
from quant.stationarity import (
    adf_test,
    correlation_matrix,
    distribution,
    engle_granger,
    half_life,
    half_life_fit,
    hurst_exponent,
    hurst_fit,
    johansen,
    persistence_change,
    returns,
    rolling_correlation,
    static_fit,
    summary_statistics,
)
from quant.sweep_overfit import sweep_overfitting, sweep_returns
from quant.verdict import (
    CAUTION_TEXT,
    ENDED_TEXT,
    SHORT_RECENT_TEXT,
    PairVerdict,
    Verdict,
    ending_text,
    fmt_break_p,
    fmt_p,
    not_enough_data,
    pair_verdict,
    stability_text,
)
from quant.vocabulary import (
    ALERT_OPS,
    EXPANDING_REFIT_GROWTH,
    HEDGE_METHODS,
    KALMAN_MEMORY,
    KALMAN_WARMUP,
    MIN_STAT_OBS,
    SECONDS_PER_YEAR,
    SIGNIFICANCE,
    STATIC_METHODS,
    TIMEFRAMES,
    BandChoice,
    BandObjective,
    HedgeMethod,
    InsufficientData,
    LagCriterion,
    PairTest,
)
from quant.walkforward import WalkForwardParams, walk_forward, walk_forward_windows

logger = logging.getLogger(__name__)

# ----------------------------------------------------------------------------------------------------------------
# Seed-compatible namespace
# ----------------------------------------------------------------------------------------------------------------


class Analytics:
    """Thin namespace keeping the seed's documented ``Analytics.<name>(...)`` calls working (same functions).

    Only tests call it in this repository: it is the seed-compatible API (docs/CONTRACTS.md), not dead code."""

    to_time_index = staticmethod(to_time_index)
    resample_ohlcv = staticmethod(resample_ohlcv)
    resample_bars = staticmethod(resample_bars)
    fill_fraction = staticmethod(fill_fraction)
    align_closes = staticmethod(align_closes)
    fit_hedge = staticmethod(fit_hedge)
    calculate_hedge_ratio = staticmethod(calculate_hedge_ratio)
    calculate_spread = staticmethod(calculate_spread)
    calculate_zscore = staticmethod(calculate_zscore)
    adf_test = staticmethod(adf_test)
    engle_granger = staticmethod(engle_granger)
    johansen = staticmethod(johansen)
    half_life = staticmethod(half_life)
    hurst_exponent = staticmethod(hurst_exponent)
    returns = staticmethod(returns)
    rolling_correlation = staticmethod(rolling_correlation)
    correlation_matrix = staticmethod(correlation_matrix)
    summary_statistics = staticmethod(summary_statistics)
    distribution = staticmethod(distribution)
    pair_analytics = staticmethod(pair_analytics)
    backtest_pairs = staticmethod(backtest_pairs)
    backtest_mean_reversion = staticmethod(backtest_mean_reversion)
    parameter_sweep = staticmethod(parameter_sweep)
    evaluate_alert = staticmethod(evaluate_alert)


__all__ = [
    "ALERT_OPS",
    "BREAK_ALARM_MIN_FORMATION",
    "BREAK_ALARM_OFF",
    "BREAK_ALARM_ON",
    "CAUTION_LEVEL",
    "CAUTION_TEXT",
    "ENDED_TEXT",
    "EXPANDING_REFIT_GROWTH",
    "HEDGE_METHODS",
    "KALMAN_MEMORY",
    "KALMAN_WARMUP",
    "MIN_STAT_OBS",
    "QUOTE_MAX_AGE_S",
    "SCAN_COLUMNS",
    "SCAN_COST_BPS",
    "SECONDS_PER_YEAR",
    "SHORT_RECENT_TEXT",
    "SIGNIFICANCE",
    "STATIC_METHODS",
    "TIMEFRAMES",
    "AdfResult",
    "AlertMetric",
    "AlertOp",
    "Analytics",
    "BacktestParams",
    "BacktestResult",
    "BandChoice",
    "BandObjective",
    "BreakAlarmFit",
    "BreakAlarmState",
    "CostBreakdown",
    "CostModel",
    "CriticalValues",
    "DeflatedSharpe",
    "EngleGrangerResult",
    "ExclusionReason",
    "HalfLifeResult",
    "HedgeMethod",
    "HedgeResult",
    "HurstResult",
    "InsufficientData",
    "JohansenResult",
    "LagCriterion",
    "LegMarket",
    "LegPrices",
    "Liquidity",
    "OUBands",
    "OUFit",
    "OverfittingResult",
    "PairAnalytics",
    "PairMarket",
    "PairSeries",
    "PairTest",
    "PairTests",
    "PairVerdict",
    "PersistenceChangeResult",
    "ScanExclusion",
    "ScanSummary",
    "SignalBands",
    "SignalState",
    "SpreadEdge",
    "StabilityResult",
    "StaticFit",
    "SweepOverfitting",
    "TailSeries",
    "Verdict",
    "WalkForwardParams",
    "WalkForwardResult",
    "WalkForwardWindow",
    "adf_test",
    "align_closes",
    "annualization_factor",
    "backtest_mean_reversion",
    "backtest_pairs",
    "beta_stability",
    "break_alarm_fit",
    "break_alarm_state",
    "break_alarm_update",
    "break_evidence",
    "cagr",
    "calculate_hedge_ratio",
    "calculate_spread",
    "calculate_zscore",
    "calmar_ratio",
    "correlation_matrix",
    "deflated_sharpe_ratio",
    "distribution",
    "ending_text",
    "engle_granger",
    "evaluate_alert",
    "expected_max_sharpe",
    "fill_costs",
    "fill_fraction",
    "fit_hedge",
    "fmt_break_p",
    "fmt_p",
    "funding_payments",
    "half_life",
    "half_life_fit",
    "hurst_exponent",
    "hurst_fit",
    "johansen",
    "leg_prices",
    "mask_holes",
    "max_drawdown",
    "not_enough_data",
    "notional_problem",
    "ou_band_stats",
    "ou_fit",
    "ou_optimal_thresholds",
    "pair_analytics",
    "pair_cost_bps",
    "pair_market",
    "pair_series",
    "pair_tests",
    "pair_verdict",
    "pair_warmup",
    "parameter_sweep",
    "persistence_change",
    "probability_of_overfitting",
    "resample_bars",
    "resample_ohlcv",
    "returns",
    "rolling_correlation",
    "rolling_tail",
    "round_trip_cost",
    "scan_pairs",
    "scan_summary",
    "sharpe_ratio",
    "sortino_ratio",
    "spread_break_alarm",
    "spread_edge",
    "stability_text",
    "static_fit",
    "step_signal",
    "summary_statistics",
    "sweep_overfitting",
    "sweep_returns",
    "to_json",
    "to_time_index",
    "trials_deflated_sharpe",
    "walk_forward",
    "walk_forward_windows",
]
