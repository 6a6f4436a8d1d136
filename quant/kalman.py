"""The Kalman hedge: a time-varying (β, α) regression whose noise is set from the data.

Why: a Kalman hedge with fixed noise settings only works at one price scale and one spread persistence. Here the
model is y_t = α_t + β_t·x_t + s_t on prices standardised by the warm-up, with the spread s_t an AR(1) (coefficient
φ) and (β, α) random walks. φ and the innovation variance r come from the warm-up's static OLS residual; the state
noise is set so that the filter forgets within KALMAN_MEMORY bars, and it grows with the innovations when they
outgrow the model or keep one sign (covariance matching and fading memory: a β that doubles after the warm-up is
within 10 % of its new value after a median of ~70 bars). Filtering quasi-differenced observations
(y_t − φ·y_{t−1} on x_t − φ·x_{t−1}) makes the innovations white, so √P is an honest standard error of the filtered β
(95 % bands cover the true β on ≥ 90 % of bars; tests/test_statistics.py). Hand-written: a 2-state scalar loop
(~1 µs/bar) that tests check against a matrix-form filter; statsmodels' state space has no adaptive noise and would
need a custom MLEModel.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

import numpy as np

from quant.vocabulary import (
    KALMAN_ADAPT_SPAN,
    KALMAN_DRIFT_LEVEL,
    KALMAN_MEMORY,
    KALMAN_PHI_CAP,
    KALMAN_WARMUP,
    InsufficientData,
)

_DIFFUSE = 1e4  # prior variance of the standardised state: diffuse against β, α of order 1


@dataclass(frozen=True)
class KalmanNoise:
    """The model's settings, in standardised units: AR(1) coefficient of the spread, innovation variance, state
    noise of β and α per bar, the warm-up they were estimated on and the memory they give."""

    phi: float
    obs_var: float
    q_beta: float
    q_alpha: float
    warmup: int
    memory: int


@dataclass(frozen=True)
class KalmanPath:
    """Filtered state per bar in raw price units: β, α and the standard error of β (NaN before the warm-up ends)."""

    beta: np.ndarray
    alpha: np.ndarray
    beta_se: np.ndarray
    noise: KalmanNoise


def filter_path(
    h: np.ndarray, yq: np.ndarray, c: float, q_beta: float, q_alpha: float, r: float, adapt: int = 0
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Kalman FILTER (never smoother) of yq_t = β_t·h_t + α_t·c + η_t, var(η) = r, with random-walk β, α (state
    noise q_beta, q_alpha) from a diffuse prior. Returns the filtered β, α and var(β) per bar.

    adapt > 0 makes it adaptive. Two exponentially weighted means (span `adapt` bars) of the past normalised
    innovations e/√F watch the model: m_t of their squares (1 while the model holds) and d_t, the squared mean over
    its null variance (~χ²₁ while the model holds). The state noise is scaled by max(1, m_t)² (covariance
    matching); when the innovations are too large (m_t > 1.5) or keep one sign (d_t > KALMAN_DRIFT_LEVEL: after a β
    step the level error grows with x), the predicted covariance is also inflated (fading memory), so the gain and
    the band widen and the filter re-converges. On a stable pair both stay near 1 and the filter is the plain one.
    """
    b = a = 0.0
    p00 = p11 = _DIFFUSE
    p01 = 0.0
    n = h.size
    betas, alphas, beta_vars = [0.0] * n, [0.0] * n, [0.0] * n
    w = 2.0 / (adapt + 1.0) if adapt > 0 else 0.0
    m, bias = 1.0, 0.0
    bias_var = w / (2.0 - w) if w else 1.0  # variance of the bias EWMA when the innovations are white
    for i, (f, obs) in enumerate(zip(h.tolist(), yq.tolist())):
        scale = m * m if m > 1.0 else 1.0  # covariance matching: the state noise follows the innovations' excess
        drift = bias * bias / bias_var  # ~χ²₁ while the model holds; large when the innovations keep one sign
        fade = max(m - 0.5 if m > 1.5 else 1.0, drift / KALMAN_DRIFT_LEVEL if drift > KALMAN_DRIFT_LEVEL else 1.0)
        r00, r01, r11 = fade * p00 + q_beta * scale, fade * p01, fade * p11 + q_alpha * scale
        g0, g1 = r00 * f + r01 * c, r01 * f + r11 * c  # R·Hᵀ with H = [f, c]
        qv = f * g0 + c * g1 + r  # innovation variance H·R·Hᵀ + r
        e = obs - b * f - a * c
        k0, k1 = g0 / qv, g1 / qv
        b += k0 * e
        a += k1 * e
        p00, p01, p11 = r00 - k0 * g0, r01 - k0 * g1, r11 - k1 * g1  # P = R − K·H·R
        betas[i], alphas[i], beta_vars[i] = b, a, p00
        if i >= 2:  # the first innovations carry the diffuse prior, not the model
            m += w * (e * e / qv - m)
            bias += w * (e / math.sqrt(qv) - bias)
    return np.array(betas), np.array(alphas), np.array(beta_vars)


def kendall(rho: Any, n: Any) -> Any:
    """Kendall's (1954) first-order bias correction of a sample AR(1) coefficient with the mean estimated:
    ρ̂ + (1 + 3ρ̂)/n, capped at 1; without it a short sample of a persistent series looks less persistent."""
    return np.minimum(rho + (1.0 + 3.0 * rho) / n, 1.0)


def _quasi_difference(xs: np.ndarray, ys: np.ndarray, phi: float) -> tuple[np.ndarray, np.ndarray, float]:
    """(x_t − φ·x_{t−1}, y_t − φ·y_{t−1}, 1 − φ) for t ≥ 1: the regression whose errors are the AR(1) innovations."""
    return xs[1:] - phi * xs[:-1], ys[1:] - phi * ys[:-1], 1.0 - phi


def estimate_noise(xs: np.ndarray, ys: np.ndarray, memory: int) -> KalmanNoise:
    """The model's settings from standardised warm-up prices: φ (Kendall-corrected) and the innovation variance r
    from the static OLS residual's AR(1) fit; the state noise from the memory: for a regressor of variance v a
    steady-state gain of 1/memory needs q = r / (v·memory²). α's noise keeps the same memory as β's."""
    design = np.column_stack([xs, np.ones_like(xs)])
    coef, *_ = np.linalg.lstsq(design, ys, rcond=None)
    resid = ys - design @ coef
    lagged, current = resid[:-1], resid[1:]
    denom = float(lagged @ lagged)
    raw = float(lagged @ current) / denom if denom > 0 else 0.0
    phi = min(max(float(kendall(raw, resid.size)), 0.0), KALMAN_PHI_CAP)
    hq, _, c = _quasi_difference(xs, ys, phi)
    innov = current - phi * lagged
    r = float(innov @ innov) / max(innov.size - 2, 1)
    if not r > 0:
        raise InsufficientData("the warm-up's residual has no variance; the Kalman noise cannot be estimated")
    v_beta = float(hq.var())
    if not v_beta > 0:
        raise InsufficientData("x does not move over the Kalman warm-up; β cannot be estimated")
    q_beta = r / (v_beta * memory * memory)
    return KalmanNoise(phi, r, q_beta, q_beta * v_beta / (c * c), xs.size, memory)


def kalman_hedge(
    x: np.ndarray, y: np.ndarray, *, warmup: int = KALMAN_WARMUP, memory: int = KALMAN_MEMORY
) -> KalmanPath:
    """Causal Kalman hedge of raw prices y on x. Prices are standardised by the warm-up's (first `warmup` bars) mean
    and standard deviation, which also fix the noise (:func:`estimate_noise`); the filter then runs over every bar,
    and its output is NaN before bar warmup − 1, so every value shown at bar t uses bars ≤ t only."""
    if warmup < 30:
        raise ValueError(f"the Kalman warm-up must be at least 30 bars, got {warmup}")
    if memory < 2:
        raise ValueError(f"the Kalman memory must be at least 2 bars, got {memory}")
    if x.size < warmup:
        raise InsufficientData(f"the Kalman hedge estimates its noise on a {warmup:,}-bar warm-up; have {x.size:,}")
    mx, sx = float(x[:warmup].mean()), float(x[:warmup].std())
    my, sy = float(y[:warmup].mean()), float(y[:warmup].std())
    if sx == 0 or sy == 0:
        raise InsufficientData(f"{'x' if sx == 0 else 'y'} is constant over the {warmup:,}-bar Kalman warm-up")
    xs, ys = (x - mx) / sx, (y - my) / sy
    noise = estimate_noise(xs[:warmup], ys[:warmup], memory)
    hq, yq, c = _quasi_difference(xs, ys, noise.phi)
    beta_n, alpha_n, var_n = filter_path(hq, yq, c, noise.q_beta, noise.q_alpha, noise.obs_var, adapt=KALMAN_ADAPT_SPAN)
    # ys = α_n + β_n·xs  ⇔  y = (my + sy·α_n − β·mx) + β·x with β = β_n·sy/sx
    beta = np.concatenate([[np.nan], beta_n * (sy / sx)])
    alpha = np.concatenate([[np.nan], my + sy * alpha_n]) - beta * mx
    se = np.concatenate([[np.nan], np.sqrt(var_n) * (sy / sx)])
    hidden = slice(0, warmup - 1)
    beta[hidden] = alpha[hidden] = se[hidden] = np.nan
    return KalmanPath(beta, alpha, se, noise)
