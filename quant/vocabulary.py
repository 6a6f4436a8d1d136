"""Shared vocabulary of the analytics layer: the error type, option enums and tuning constants.

Why: every other quant module validates against and defaults to these names, so they live in one place.
"""
from __future__ import annotations

import enum

from core.vocabulary import Timeframe

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


class AlertOp(enum.StrEnum):
    """Conditions an alert rule can test; `label` is what the user reads."""

    GT = ">"
    GE = ">="
    LT = "<"
    LE = "<="
    CROSSES_ABOVE = "crosses_above"
    CROSSES_BELOW = "crosses_below"

    @property
    def label(self) -> str:
        return {">=": "≥", "<=": "≤", "crosses_above": "crosses above",
                "crosses_below": "crosses below"}.get(self.value, self.value)


class AlertMetric(enum.StrEnum):
    """What an alert rule watches; `label` is what the user reads."""

    ZSCORE = "zscore"
    SPREAD = "spread"
    PRICE = "price"

    @property
    def label(self) -> str:
        return {"zscore": "z-score of a pair", "spread": "spread of a pair", "price": "price of a symbol"}[self.value]

    @property
    def noun(self) -> str:
        """The metric's name in a rule's sentence ('z-score ETHUSDT vs BTCUSDT crosses above 2')."""
        return {"zscore": "z-score", "spread": "spread", "price": "price"}[self.value]


HEDGE_METHODS: tuple[str, ...] = tuple(HedgeMethod)
STATIC_METHODS: tuple[str, ...] = tuple(m for m in HedgeMethod if m.is_static)
ALERT_OPS: tuple[str, ...] = tuple(AlertOp)

# Kalman defaults, in NORMALISED price units (each leg divided by its first price, so both start at 1.0):
# obs_var = 1e-6 is a residual standard deviation of 0.1 % of price; delta = 1e-12 gives a state noise
# Vw = delta/(1-delta) per bar per state, i.e. Vw/obs_var = 1e-6 and an adaptation memory of roughly
# sqrt(obs_var/Vw) ≈ 1,000 bars, slow enough not to absorb a spread with a half-life of ~100 bars. Raise delta to
# adapt faster (Chan's delta=1e-4, Ve=1e-3 on raw ~$100 prices is a memory of a few bars), lower it for a steadier
# hedge. Only the ratio Vw/obs_var and the price units matter for beta; obs_var alone scales the band.
KALMAN_DELTA = 1e-12
KALMAN_OBS_VAR = 1e-6
KALMAN_PRIOR_VAR = 1.0  # P0 = I in normalised units: diffuse relative to beta ≈ 1; prior mean [0, 0] (Chan).

# Static robust/orthogonal fits are refitted causally on a geometric schedule: fit on bars [0, c) at
# c = window, ceil(window·g), ceil(window·g²), ... and forward-filled, so the value at bar t omits at most the
# last (1 − 1/g)·t bars (20 % of the history for g = 1.25; ~33 refits for 86,400 bars).
# The schedule does not depend on the sample length, so truncating the future never changes earlier values.
EXPANDING_REFIT_GROWTH = 1.25

# Unit-root tests: AIC lag search over 0..maxlag with maxlag = min(Schwert's 12·(n/100)^¼, AUTOLAG_BUDGET // n),
# so the search costs at most ~AUTOLAG_BUDGET row-regressions: Schwert's rule up to ~3,000 bars, 10 lags at 10,000,
# 1 lag at 86,400 1s bars (~40 ms per test). MacKinnon p-values stay valid for the selected lag (few lags suffice
# for 1s spreads, whose differences are close to white noise); pass maxlag explicitly for a wider search.
AUTOLAG_BUDGET = 100_000
MIN_STAT_OBS = 20
SIGNIFICANCE = 0.05

SECONDS_PER_YEAR = 365 * 86_400  # 24/7 markets: 365 days, as vectorbt's year_freq="365 days".
