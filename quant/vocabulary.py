"""Shared vocabulary of the analytics layer: the error type, option enums and tuning constants (AlertOp and
AlertMetric live in core.vocabulary: the database layer stores them too).

Why: every other quant module validates against and defaults to these names, so they live in one place.
"""

from __future__ import annotations

import enum

from core.vocabulary import AlertOp, Timeframe

TIMEFRAMES: dict[str, int] = {tf.value: tf.seconds for tf in Timeframe}


class InsufficientData(ValueError):
    """The data cannot support the result yet (too few bars, a constant series, no common bar times): an expected
    state of a live window, shown to the user as "not enough data", unlike a ValueError from bad arguments."""


class HedgeMethod(enum.StrEnum):
    """How the hedge ratio is fitted (the dashboard lists them in this order)."""

    KALMAN = "kalman"
    ROLLING = "rolling"
    TLS = "tls"
    OLS = "ols"
    HUBER = "huber"

    @property
    def is_static(self) -> bool:
        """One (β, α) for the whole sample (refitted on an expanding window when causal), not a dynamic series."""
        return self in (HedgeMethod.OLS, HedgeMethod.HUBER, HedgeMethod.TLS)


class LagCriterion(enum.StrEnum):
    """How a unit-root test chooses its lag: Ng & Perron's modified AIC (MAIC, the default) or plain AIC
    (statsmodels' rule; it picks too few lags when the differences carry a large negative MA root)."""

    MAIC = "maic"
    AIC = "aic"


class BandObjective(enum.StrEnum):
    """What Bertram's (2010) optimal OU band maximises: the expected return per unit time, or its Sharpe ratio for a
    given risk-free rate."""

    RETURN = "return"
    SHARPE = "sharpe"


class BandChoice(enum.StrEnum):
    """How a walk-forward window sets its entry/exit levels from its formation window: the fixed z levels given,
    Bertram's OU-optimal band, or the best cell of an entry × exit sweep (by in-sample net return)."""

    FIXED = "fixed"
    OPTIMAL = "optimal"
    SWEEP = "sweep"


HEDGE_METHODS: tuple[str, ...] = tuple(HedgeMethod)
STATIC_METHODS: tuple[str, ...] = tuple(m for m in HedgeMethod if m.is_static)
ALERT_OPS: tuple[str, ...] = tuple(AlertOp)

# Kalman hedge (quant/kalman.py): φ and the observation noise are estimated on the first max(window, KALMAN_WARMUP)
# bars (the output is NaN before then) and re-estimated at 2, 4, 8, 16 times that; the state noise gives the memory
# (in bars) of highest likelihood on the bars so far, never shorter than KALMAN_MEMORY, and adapts when the last
# ~KALMAN_ADAPT_SPAN normalised innovations are larger than the model says or keep one sign (at the shortest memory;
# the alarms grow stricter as the memory lengthens). The spread's AR(1) coefficient is capped at KALMAN_PHI_CAP so
# that a unit-root residual keeps an identified intercept.
KALMAN_WARMUP = 180
KALMAN_MEMORY = 300
KALMAN_PHI_CAP = 0.999
KALMAN_ADAPT_SPAN = 60
# ... and fades when the squared mean of those innovations exceeds this many times its variance under the model
# (at the shortest memory).
KALMAN_DRIFT_LEVEL = 3.5

# Static robust/orthogonal fits are refitted causally on a geometric schedule: fit on bars [0, c) at
# c = window, ceil(window·g), ceil(window·g²), ... and forward-filled, so the value at bar t omits at most the
# last (1 − 1/g)·t bars (20 % of the history for g = 1.25; ~33 refits for 86,400 bars).
# The schedule does not depend on the sample length, so truncating the future never changes earlier values.
EXPANDING_REFIT_GROWTH = 1.25

# Unit-root tests choose their lag by Ng & Perron's MAIC over 0..12·(n/100)^¼ (Schwert's bound, which grows with n),
# see quant/unitroot.py; their size under MA(1) errors is measured in tests/test_statistics.py and
# bench/pair_statistics.py (5.5–7.1 % at θ = −0.5 and −0.8 for n = 600 and 3,600; ~6 % at 86,400).
MIN_STAT_OBS = 20
SIGNIFICANCE = 0.05
# A residual whose std is below FLOAT_NOISE × the price level is rounding error, not a spread (y = 2x + 1e-9·ε).
FLOAT_NOISE = 1e-9

# Hedge-ratio bands are 95 % intervals β ± BAND_Z·s.e.; OLS/rolling standard errors are HAC: the iid error inflated
# by the AR(1) long-run-variance factor (1 + ρ)/(1 − ρ) of the regression score, ρ capped at RHO_CAP.
BAND_Z = 1.959964
RHO_CAP = 0.995

# The verdict calls β stable when OLS on each of the window's STABILITY_PARTS thirds gives β within
# STABLE_BETA_RANGE (relative range (max − min)/|β|) of each other, all with one sign.
STABILITY_PARTS = 3
# The verdict warns when the static fit's R² is below LOW_R_SQUARED.
LOW_R_SQUARED = 0.5
STABLE_BETA_RANGE = 0.25

SECONDS_PER_YEAR = 365 * 86_400  # 24/7 markets: 365 days, as vectorbt's year_freq="365 days".


class PairTest(enum.StrEnum):
    """The statistical tests of a pair; `label` says what each is computed on."""

    ENGLE_GRANGER = "engle_granger"
    HALF_LIFE = "half_life"
    HURST = "hurst"
    STABILITY = "stability"
    SPREAD_HALF_LIFE = "spread_half_life"
    JOHANSEN = "johansen"
    PERSISTENCE_CHANGE = "persistence_change"

    @property
    def label(self) -> str:
        return {
            "engle_granger": "Engle–Granger (prices; ADF of the static residual)",
            "half_life": "Half-life of the static residual",
            "hurst": "Hurst exponent of the static residual",
            "stability": "β over the window's thirds",
            "spread_half_life": "Half-life of the trading spread (adaptive; descriptive, not evidence)",
            "johansen": "Johansen trace (prices)",
            "persistence_change": "Mean reversion over the last third (hedge of the first two thirds)",
        }[self.value]
