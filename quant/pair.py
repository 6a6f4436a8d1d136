"""The pair pipeline: hedge -> spread -> z-score series, then the pair's statistical tests, as dataclasses.

Why: one call gives the dashboard everything about a pair, composed from hedge and stationarity.
"""

from __future__ import annotations

import itertools
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, TypeVar

import numpy as np
import pandas as pd

from quant.blas import one_blas_thread
from quant.hedge import calculate_spread, calculate_zscore, fit_hedge
from quant.results import PairSeries, PairTests, StabilityResult
from quant.stationarity import (
    engle_granger,
    half_life_fit,
    hurst_fit,
    johansen,
    rolling_correlation,
    static_fit,
)
from quant.validation import aligned_pair, check_choice
from quant.verdict import PairVerdict, pair_verdict
from quant.vocabulary import (
    HEDGE_METHODS,
    KALMAN_WARMUP,
    MIN_STAT_OBS,
    STABILITY_PARTS,
    STABLE_BETA_RANGE,
    HedgeMethod,
    InsufficientData,
    PairTest,
)

T = TypeVar("T")

# ----------------------------------------------------------------------------------------------------------------
# Pair analytics (one call per dashboard refresh)
# ----------------------------------------------------------------------------------------------------------------


@dataclass
class PairAnalytics:
    """Everything the pair view shows: the series and the tests."""

    series: PairSeries
    tests: PairTests

    @property
    def verdict(self) -> PairVerdict:
        """The pair's one overall verdict from these tests (quant.verdict)."""
        return pair_verdict(self.series, self.tests)

    def to_frame(self) -> pd.DataFrame:
        return self.series.to_frame()


def pair_warmup(method: str, window: int, z_window: int, *, causal: bool = True) -> int:
    """Bars a pair needs before its series and tests mean anything: the hedge's warm-up (the window for rolling and
    causal static fits, max(window, KALMAN_WARMUP) for Kalman), then the z window over the spread that warm-up
    leaves (the two run one after the other: the z-score starts where the spread does), plus MIN_STAT_OBS."""
    hedge = HedgeMethod(method)
    warm = (
        max(window, KALMAN_WARMUP)
        if hedge is HedgeMethod.KALMAN
        else window
        if hedge is HedgeMethod.ROLLING or (hedge.is_static and causal)
        else 0
    )
    return warm + z_window + MIN_STAT_OBS


def pair_series(
    x: Any,
    y: Any,
    *,
    method: str = "kalman",
    window: int = 60,
    z_window: int = 60,
    corr_window: int | None = None,
    **hedge_kw: Any,
) -> PairSeries:
    """Hedge, spread y − (alpha_t + beta_t·x), causal z-score and return correlation (window `corr_window`,
    default the hedge window). The spread uses the hedge's causal beta/alpha series (expanding for static methods
    unless causal=False is passed). InsufficientData while there are fewer bars than `pair_warmup`."""
    xs, ys = aligned_pair(x, y, 3)
    xs.name, ys.name = getattr(x, "name", None), getattr(y, "name", None)
    method = check_choice(method, "hedge method", HEDGE_METHODS)
    need = pair_warmup(method, window, z_window, causal=hedge_kw.get("causal", True))
    if len(xs) < need:
        warm = need - z_window - MIN_STAT_OBS
        hedge_warmup = (
            ""
            if not warm
            else f"the Kalman warm-up {warm}, then "
            if method == HedgeMethod.KALMAN
            else f"the hedge window {warm}, then "
        )
        raise InsufficientData(
            f"the pair needs at least {need:,} aligned bars ({hedge_warmup}the z window "
            f"{z_window}, plus {MIN_STAT_OBS} for the tests); have {len(xs):,}"
        )
    static_fit(xs, ys)  # refuses a degenerate pair (identical legs, a float-noise spread) before any fit
    hedge = fit_hedge(xs, ys, method, window=window, **hedge_kw)
    spread = calculate_spread(xs, ys, hedge.beta_series, hedge.alpha_series)
    notes = []
    if not hedge.params.get("causal", True):
        notes.append("in-sample hedge: the spread uses a full-sample fit (look-ahead)")
    return PairSeries(
        x=xs,
        y=ys,
        hedge=hedge,
        spread=spread,
        zscore=calculate_zscore(spread, z_window),
        correlation=rolling_correlation(xs, ys, window if corr_window is None else corr_window),
        notes=notes,
    )


def beta_stability(x: pd.Series, y: pd.Series, parts: int = STABILITY_PARTS) -> StabilityResult:
    """Static OLS β on each of `parts` consecutive equal pieces of the window and their spread relative to the
    full-window β: a cointegrating relation that holds should give similar β in every piece."""
    edges = np.linspace(0, len(x), parts + 1).astype(int)
    full = static_fit(x, y).beta
    betas = tuple(static_fit(x.iloc[lo:hi], y.iloc[lo:hi]).beta for lo, hi in itertools.pairwise(edges))
    spread = (max(betas) - min(betas)) / abs(full)
    return StabilityResult(
        betas=betas,
        full_beta=full,
        relative_range=spread,
        is_stable=bool(spread <= STABLE_BETA_RANGE and min(betas) * max(betas) > 0),
    )


@one_blas_thread
def pair_tests(series: PairSeries, closes: pd.DataFrame | None = None) -> PairTests:
    """Cointegration evidence on the right objects: Engle–Granger on the prices, half-life and Hurst of its static
    (whole-window OLS) residual, β stability over the window's thirds and, given the closes of 2+ symbols,
    Johansen; plus the half-life of the adaptive trading spread, labelled descriptive (an adaptive residual
    mean-reverts by construction, so it is no evidence). A test the data cannot support yet is reported in
    `problems`; any other error propagates."""
    x, y = series.x, series.y

    def static_residual() -> pd.Series:
        beta, alpha, _, _ = static_fit(x, y)
        return y - alpha - beta * x

    problems: dict[PairTest, str] = {}

    def attempt(test: PairTest, job: Callable[[], T]) -> T | None:
        try:
            return job()
        except InsufficientData as exc:
            problems[test] = str(exc)
            return None

    return PairTests(
        n_bars=series.n_bars,
        engle_granger=attempt(PairTest.ENGLE_GRANGER, lambda: engle_granger(x, y)),
        half_life=attempt(PairTest.HALF_LIFE, lambda: half_life_fit(static_residual())),
        hurst=attempt(PairTest.HURST, lambda: hurst_fit(static_residual())),
        stability=attempt(PairTest.STABILITY, lambda: beta_stability(x, y)),
        spread_half_life=attempt(PairTest.SPREAD_HALF_LIFE, lambda: half_life_fit(series.spread)),
        johansen=None if closes is None else attempt(PairTest.JOHANSEN, lambda: johansen(closes)),
        problems=problems,
    )


def pair_analytics(
    x: Any,
    y: Any,
    *,
    method: str = "kalman",
    window: int = 60,
    z_window: int = 60,
    corr_window: int | None = None,
    closes: pd.DataFrame | None = None,
    **hedge_kw: Any,
) -> PairAnalytics:
    """The one pair pipeline (dashboard, exports, API, alerts, benchmarks): `pair_series` then `pair_tests`."""
    series = pair_series(x, y, method=method, window=window, z_window=z_window, corr_window=corr_window, **hedge_kw)
    return PairAnalytics(series, pair_tests(series, closes))
