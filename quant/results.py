"""The records the statistics return and the pair pipeline hands on: frozen dataclasses with named, typed fields
(as statsmodels' ADFullerResult), and the one conversion of a record to JSON.

Why: a result read by another module (the verdict, the tabs, the API) is read by attribute, so a misspelt field
fails mypy instead of a live refresh; no module reads another's result by string key.
"""

from __future__ import annotations

import dataclasses
import enum
import math
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, NamedTuple

import numpy as np
import pandas as pd

from quant.hedge import HedgeResult
from quant.vocabulary import BandObjective, LagCriterion, PairTest


@dataclass(frozen=True)
class CriticalValues:
    """MacKinnon's (2010) 1 %, 5 % and 10 % critical values of a unit-root statistic."""

    one_pct: float
    five_pct: float
    ten_pct: float


@dataclass(frozen=True)
class AdfResult:
    """Augmented Dickey–Fuller test with a constant (:func:`quant.stationarity.adf_test`)."""

    statistic: float
    pvalue: float
    critical_values: CriticalValues
    is_stationary: bool  # pvalue < SIGNIFICANCE
    lags: int  # lagged differences in the chosen regression
    nobs: int  # rows of that regression
    maxlag: int  # the top of the lag search (or the fixed lag)
    autolag: LagCriterion | None  # None: exactly maxlag lags


@dataclass(frozen=True)
class EngleGrangerResult:
    """Engle–Granger test of y on x (:func:`quant.stationarity.engle_granger`) and the static fit it tests."""

    statistic: float
    pvalue: float
    critical_values: CriticalValues  # N = 2 (cointegration), not the ADF table
    is_cointegrated: bool  # pvalue < SIGNIFICANCE
    nobs: int  # bars of the pair
    lags: int
    maxlag: int
    autolag: LagCriterion | None
    beta: float  # y = alpha + beta·x over the whole sample
    alpha: float
    r_squared: float


@dataclass(frozen=True)
class JohansenResult:
    """Johansen trace and max-eigenvalue tests (:func:`quant.stationarity.johansen`), one entry per rank r = 0, 1, …"""

    trace_stats: tuple[float, ...]
    crit_90: tuple[float, ...]
    crit_95: tuple[float, ...]
    crit_99: tuple[float, ...]
    max_eig_stats: tuple[float, ...]
    max_eig_crit_95: tuple[float, ...]
    eigenvalues: tuple[float, ...]
    eigenvectors: pd.DataFrame = field(compare=False)  # one column per relation, indexed by the series' names
    rank: int = 0  # leading trace statistics above their 95 % critical value
    det_order: int = 0
    k_ar_diff: int = 1
    nobs: int = 0

    @property
    def n_series(self) -> int:
        return len(self.trace_stats)


@dataclass(frozen=True)
class HalfLifeResult:
    """AR(1) half-life of mean reversion (:func:`quant.stationarity.half_life_fit`): Δs_t = λ·s_{t−1} + μ."""

    bars: float  # −ln 2 / ln(ar1); inf without mean reversion, 0 within one bar
    ar1: float  # median-unbiased AR(1) coefficient (capped at 1)
    nobs: int
    ar1_ols: float = math.nan  # the least-squares 1 + λ it corrects

    @property
    def mean_reverts(self) -> bool:
        return math.isfinite(self.bars)


@dataclass(frozen=True)
class HurstResult:
    """Hurst exponent (:func:`quant.stationarity.hurst_fit`): 0.5 random walk, < 0.5 mean reverting."""

    exponent: float
    lags: int  # log-spaced lags fitted
    max_lag: int  # the largest of them
    nobs: int


@dataclass(frozen=True)
class StabilityResult:
    """Static OLS β on consecutive equal parts of the window (:func:`quant.pair.beta_stability`)."""

    betas: tuple[float, ...]
    full_beta: float
    relative_range: float  # (max − min) / |full β|
    is_stable: bool  # within STABLE_BETA_RANGE, all of one sign


@dataclass(frozen=True)
class PersistenceChangeResult:
    """Did the spread stop mean-reverting over the last third of the window? (:func:`quant.stationarity.
    persistence_change`): the hedge fitted on the first two thirds, how far the last third's spread strays from
    that relation relative to how far the first two thirds' did, judged against the stationary null."""

    ratio: float  # mean |recent residual| / mean |formation residual|
    critical_value: float  # the ratio's 5 % critical value at the formation's persistence
    pvalue: float  # interpolated between 1 % and 50 % (clipped to them)
    ended: bool  # ratio > critical_value: mean reversion appears to have stopped
    caution_value: float  # the ratio's 20 % critical value (persistence.CAUTION_LEVEL)
    caution: bool  # ratio > caution_value: it may have stopped (fires on 20 % of spreads that did not; ended ⊂ caution)
    split: int  # bars in the formation; the recent part is bars split..nobs − 1
    nobs: int
    formation_ar1: float  # least-squares AR(1) of the formation residual


@dataclass(frozen=True)
class OUFit:
    """Exact maximum-likelihood Ornstein–Uhlenbeck fit dX = μ(θ − X)dt + σ dW of a spread
    (:func:`quant.ou_bands.ou_fit`): θ in the spread's units, μ per year, σ per √year (365-day years of 24/7 bars)."""

    theta: float
    mu: float
    sigma: float
    bar_years: float  # one bar as a fraction of a year (1 min = 1/525,600)
    nobs: int
    ar1: float  # the bar-to-bar coefficient e^(−μ·bar_years)

    @property
    def stationary_sd(self) -> float:
        """The spread's long-run standard deviation σ/√(2μ), in its own units."""
        return self.sigma / math.sqrt(2.0 * self.mu)

    @property
    def half_life_years(self) -> float:
        """ln 2 / μ: the time a deviation takes to halve, in years."""
        return math.log(2.0) / self.mu


@dataclass(frozen=True)
class OUBands:
    """Bertram's (2010) optimal symmetric band of an OU spread (:func:`quant.ou_bands.ou_optimal_thresholds`), in the
    units of the inputs: go long at `entry` (below θ), exit at `exit` = 2θ − entry (and, symmetrically, short at
    `exit`, cover at `entry`). A trade cycle runs entry → exit → entry; its length T (years when μ is per year) and the
    return per unit time R = (exit − entry − cost)/T (spread units per year, one unit of spread held)."""

    entry: float
    exit: float
    expected_trade_length: float
    trade_length_variance: float
    expected_return: float
    return_variance: float
    sharpe: float  # (E[R] − r_f/E[T]) / √Var[R], Bertram's definition
    objective: BandObjective
    cost: float
    risk_free: float

    @property
    def half_width(self) -> float:
        """Distance of either band from θ."""
        return (self.exit - self.entry) / 2.0

    @property
    def two_sided_return(self) -> float:
        """Expected return per unit time when both sides are traded (long entry → exit, then short exit → entry):
        each half cycle earns exit − entry − cost in half the time, twice Bertram's one-sided figure."""
        return 2.0 * self.expected_return


@dataclass(frozen=True)
class SpreadEdge:
    """What a spread offers a trader after costs (:func:`quant.ou_bands.spread_edge`): its OU fit, Bertram's
    return-maximising band for the round-trip cost, and that band's expected return per day when both sides are
    traded, as a share of the gross notional of one unit of spread (p_y + |β|·p_x)."""

    fit: OUFit
    bands: OUBands
    cost: float  # one round trip of one unit of spread, in spread units
    notional: float  # p_y + |β|·p_x at the last bar
    edge_per_day: float  # both sides, after costs, fraction of notional per day
    trade_seconds: float  # expected length of a full cycle (entry → exit → entry)
    span_seconds: float  # the data the fit used
    bar_seconds: float

    @property
    def cost_bps(self) -> float:
        """The round trip's cost per leg per fill, in bps of the unit's gross notional."""
        return self.cost / (2e-4 * self.notional)

    @property
    def entry_z(self) -> float:
        """The band's distance from the mean in stationary standard deviations."""
        return self.bands.half_width / self.fit.stationary_sd

    @property
    def covers_cost(self) -> bool:
        """The edge is positive and the model expects at least one full trade cycle within the span it was fitted
        on (otherwise the band is too wide to trade: the costs eat every band the data has seen pay)."""
        return self.edge_per_day > 0 and self.trade_seconds <= self.span_seconds


@dataclass(frozen=True)
class SweepOverfitting:
    """How much a sweep's best cell owes to luck (:func:`quant.sweep_overfit.sweep_overfitting`): the cell, its raw
    annualised Sharpe ratio, its deflated Sharpe ratio with every cell counted as a trial, and the PBO of picking the
    best cell by Sharpe."""

    entry: float
    exit: float
    sharpe: float  # annualised, per-bar P&L over capital
    deflated: DeflatedSharpe
    overfitting: OverfittingResult

    def words(self) -> str:
        """The verdict a trader reads (saying first when even the best cell lost money: no luck to discount)."""
        losing = "Every cell lost money after costs. " if self.sharpe <= 0 else ""
        return losing + (
            f"After {self.deflated.n_trials} tries, the chance this Sharpe is real: {100 * self.deflated.dsr:.0f} %. "
            f"Chance the best cell of one half of the data is no better than the median in the other half (PBO): "
            f"{100 * self.overfitting.pbo:.0f} %."
        )


@dataclass(frozen=True)
class DeflatedSharpe:
    """Bailey & López de Prado's (2014) deflated Sharpe ratio (:func:`quant.overfitting.deflated_sharpe_ratio`), per
    observation: `sr0` the Sharpe ratio the best of `n_trials` skill-less trials would reach by luck, `dsr` the
    probability that the true Sharpe ratio exceeds it (the chance the observed Sharpe is real)."""

    sharpe: float
    sr0: float
    dsr: float
    n_trials: int
    n_obs: int


@dataclass(frozen=True)
class OverfittingResult:
    """The probability of backtest overfitting by combinatorially symmetric cross-validation (Bailey, Borwein, López
    de Prado & Zhu 2015; :func:`quant.overfitting.probability_of_overfitting`): of the ways to split the sample into
    halves, the share where the configuration best in one half ranks at or below the median in the other."""

    pbo: float
    logits: tuple[float, ...]  # ln(ω/(1 − ω)) of the in-sample best's out-of-sample relative rank ω, per split
    n_configs: int
    n_blocks: int  # S: the sample is cut into S blocks, S/2 of them in-sample per split
    n_splits: int  # C(S, S/2)


@dataclass(frozen=True)
class WalkForwardWindow:
    """One walk-forward step (:func:`quant.walkforward.walk_forward`): what was fitted on its formation bars only, and
    how its levels did in sample (on the formation) and out of sample (on the trading bars). Bars are positions in
    the pair's aligned index; `trade_end` is exclusive."""

    formation_start: int
    formation_end: int  # exclusive; the purge gap follows
    trade_start: int
    trade_end: int
    beta: float  # static OLS y = α + β·x on the formation
    alpha: float
    ou: OUFit | None  # None when the formation spread did not mean-revert (the window then stays flat)
    entry_z: float  # in units of the formation spread's stationary sd around its OU mean
    exit_z: float
    bands: OUBands | None  # with BandChoice.OPTIMAL
    is_pnl: float  # money, formation bars, same levels (in sample)
    oos_pnl: float  # money, trading bars (out of sample)
    is_trades: int
    oos_trades: int
    is_costs: float  # fees, spread and slippage paid, money
    oos_costs: float
    is_funding: float  # funding, money, + received
    oos_funding: float
    note: str = ""


@dataclass(frozen=True)
class WalkForwardResult:
    """A walk-forward (:func:`quant.walkforward.walk_forward`): its windows, the out-of-sample trading windows stitched
    into one per-bar P&L and equity curve (money, after fees, spread, slippage and funding; bars outside a trading
    window are flat and left out), the in-sample P&L of the same levels on the formation windows, and the
    walk-forward efficiency."""

    windows: tuple[WalkForwardWindow, ...]
    oos_pnl: pd.Series = field(compare=False)
    oos_equity: pd.Series = field(compare=False)
    is_pnl: pd.Series = field(compare=False)  # per formation bar of every window, concatenated (bars repeat)
    capital: float
    bar_seconds: float
    is_annual_return: float  # fraction of capital per 365-day year, simple (fixed notional, no compounding)
    oos_annual_return: float
    efficiency: float  # oos_annual_return / is_annual_return (NaN when the in-sample return is not positive)
    oos_sharpe: float  # annualised, per-bar P&L over capital (NaN when flat)
    is_sharpe: float
    is_trades: int
    oos_trades: int
    is_costs: float
    oos_costs: float
    is_funding: float
    oos_funding: float


@dataclass(frozen=True)
class BreakAlarmFit:
    """The OU model of a spread's formation window that the break alarm holds it to
    (:func:`quant.breakalarm.break_alarm_fit`)."""

    mean: float  # the formation mean μ
    ar1: float  # median-unbiased AR(1) φ < 1
    sigma: float  # innovation σ of s_t − μ = φ·(s_{t−1} − μ) + ε_t
    sigma_eq: float  # the stationary σ, σ / √(1 − φ²)
    half_life: float  # bars, −ln 2 / ln φ
    formation_bars: int


@dataclass(frozen=True)
class BreakAlarmState:
    """Where the alarm of one spread stands after its latest bar, to add the next bar in O(1)."""

    fit: BreakAlarmFit
    bars: int  # bars seen, the formation included
    last: float  # the latest value (NaN after a hole)
    weighted: float  # the EWMA of squared moves: weighted sum and sum of weights (the next bar's σ² is their ratio)
    weights: float
    evidence: float
    standing: bool


class StaticFit(NamedTuple):
    """OLS y = α + β·x over the whole sample (:func:`quant.stationarity.static_fit`)."""

    beta: float
    alpha: float
    r_squared: float
    residual: np.ndarray


@dataclass
class PairSeries:
    """The per-bar series of a pair: causal hedge, spread y − (α_t + β_t·x), its z-score, rolling return correlation.

    x is the independent leg, y the dependent one; `x_symbol`/`y_symbol` are the series' names.
    """

    x: pd.Series
    y: pd.Series
    hedge: HedgeResult
    spread: pd.Series
    zscore: pd.Series
    correlation: pd.Series
    notes: list[str] = field(default_factory=list)

    @property
    def x_symbol(self) -> str:
        """The x leg's name (its series name; "price_x" when unnamed or named like y)."""
        return str(self.x.name) if self.x.name is not None and self.x.name != self.y.name else "price_x"

    @property
    def y_symbol(self) -> str:
        """The y leg's name (its series name; "price_y" when unnamed or named like x)."""
        return str(self.y.name) if self.y.name is not None and self.x.name != self.y.name else "price_y"

    @property
    def n_bars(self) -> int:
        return len(self.x)

    def latest(self, name: str) -> float:
        """Latest finite value of one of the series (spread, zscore, correlation, x, y); NaN while there is none."""
        valid = getattr(self, name).dropna()
        return float(valid.iloc[-1]) if len(valid) else math.nan

    def to_frame(self) -> pd.DataFrame:
        """Per-bar export (index "time"): both prices (columns named after the legs), beta, alpha, spread, zscore,
        correlation — the columns of the dashboard's pair CSV."""
        frame = pd.DataFrame(
            {
                self.x_symbol: self.x,
                self.y_symbol: self.y,
                "beta": self.hedge.beta_series,
                "alpha": self.hedge.alpha_series,
                "spread": self.spread,
                "zscore": self.zscore,
                "correlation": self.correlation,
            }
        )
        frame.index = frame.index.rename("time")
        return frame


@dataclass(frozen=True)
class PairTests:
    """The pair's tests (:func:`quant.pair.pair_tests`), one typed field per :class:`PairTest` (None when it did not
    run), and, for each test the data could not support yet, the reason."""

    n_bars: int
    engle_granger: EngleGrangerResult | None = None
    half_life: HalfLifeResult | None = None  # of the static residual
    hurst: HurstResult | None = None  # of the static residual
    stability: StabilityResult | None = None
    spread_half_life: HalfLifeResult | None = None  # of the trading spread: descriptive only
    johansen: JohansenResult | None = None  # given the closes of 2+ symbols
    persistence_change: PersistenceChangeResult | None = None  # the last third against the first two
    problems: Mapping[PairTest, str] = field(default_factory=dict)


def to_json(value: Any) -> Any:
    """A record (or a list, mapping or value inside one) as JSON-ready Python: dataclasses and named tuples become
    objects of their fields, enums their values, tuples and arrays lists, numpy scalars Python numbers, NaN and ±inf
    null, DataFrames {"index", "columns", "data"}. The one conversion the API uses for records."""
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return {f.name: to_json(getattr(value, f.name)) for f in dataclasses.fields(value)}
    if isinstance(value, tuple) and hasattr(value, "_fields"):
        return {name: to_json(v) for name, v in zip(value._fields, value)}
    if isinstance(value, enum.Enum):
        return to_json(value.value)
    if isinstance(value, (bool, np.bool_)):
        return bool(value)
    if isinstance(value, (int, np.integer)):
        return int(value)
    if isinstance(value, (float, np.floating)):
        out = float(value)
        return out if math.isfinite(out) else None
    if value is None or isinstance(value, str):
        return value
    if isinstance(value, Mapping):
        return {str(to_json(k)): to_json(v) for k, v in value.items()}
    if isinstance(value, pd.DataFrame):
        return {
            "index": to_json(list(value.index)),
            "columns": to_json(list(value.columns)),
            "data": to_json(value.to_numpy().tolist()),
        }
    if isinstance(value, (list, tuple, np.ndarray, pd.Series)):
        return [to_json(v) for v in list(value)]
    raise TypeError(f"to_json: no JSON form for {type(value).__name__}")
