"""The Kalman hedge: a time-varying (β, α) regression whose noise is learned from the data.

Why: a Kalman hedge with fixed noise settings only works at one price scale, one spread persistence and one speed of
change of β. Here the model is y_t = α_t + β_t·x_t + s_t on prices standardised by the warm-up, with the spread s_t
an AR(1) (coefficient φ) and (β, α) random walks. Filtering quasi-differenced observations (y_t − φ·y_{t−1} on
x_t − φ·x_{t−1}) makes the innovations white, so √P is an honest standard error of the filtered β (95 % bands cover
the true β on ≥ 90 % of bars; tests/test_statistics.py).

The settings, every one chosen from bars before the bar it is used on (so the hedge is causal):

* φ and the innovation variance r: the static OLS residual's AR(1) fit (Kendall-corrected) on the warm-up,
  re-estimated on all bars so far at 2, 4, 8 and 16 times the warm-up (a 180-bar warm-up holds few half-lives of a
  slow spread, and a wrong φ leaves persistent innovations that a long memory cannot absorb).
* The state noise, by maximum likelihood. A noise q = r/(v·L²) (v the variance of the quasi-differenced x) gives the
  filter a memory of L bars (steady-state gain 1/L); L is the memory that maximises the likelihood of the bars so
  far (older bars' weight fading over ~6,000 bars), never shorter than `memory` (KALMAN_MEMORY, the old fixed
  setting). The likelihood is the prediction-error
  decomposition of the filter in its fading-memory form (predicted covariance = last covariance / (1 − 1/L), the
  same memory), whose every prediction error follows from exponentially weighted sums (:func:`memory_loglik`), so
  four memories (300 to 90,000 bars at the default) are compared on every bar at about half the cost of the filter
  loop; the best is refined between them and re-chosen every 10 bars. On a stable pair the likelihood lengthens the
  memory as bars accrue, so β converges and its band narrows like a full-sample fit (issue 23's pair, constant β
  0.05, 6,000 bars: median error 2 % over seeds, against 15 % with the fixed 300-bar memory); on a pair whose β
  keeps moving it stays at the shortest memory.
* Breaks: the state noise still grows with the innovations when they outgrow the model or keep one sign
  (covariance matching and fading memory, :func:`filter_path`), but those alarms are tests of the model whose size
  falls as (memory/L)²: a false alarm throws away the information a long memory holds, so a stable pair must not
  fade on noise. When the likelihood's memory falls from a long one to the shortest (a break), the state's
  covariance grows so that it keeps the information of a few bars only, and the band widens at once. The honest
  trade-off: after a long stable stretch a break takes longer to believe (issue 23's pair, β doubling at bar 3,000:
  a median of ~240 bars to within 10 % of the new β, against ~140 with the fixed memory; the band covers 91 % of
  the bars from the step on), while a β that doubles 820 bars after the warm-up is back within 10 % after a median
  of ~47 bars (was ~66).

Hand-written: a 2-state scalar loop (~1 µs/bar) that tests check against a matrix-form filter, and the likelihood
checked against a fading-memory filter loop; statsmodels' state space has no adaptive noise and its MLE would refit
the whole sample (not causal).
"""

from __future__ import annotations

import itertools
import math
from dataclasses import dataclass
from typing import Any

import numpy as np
from scipy.signal import lfilter
from scipy.special import ndtr, ndtri

from quant.vocabulary import (
    KALMAN_ADAPT_SPAN,
    KALMAN_DRIFT_LEVEL,
    KALMAN_MEMORY,
    KALMAN_PHI_CAP,
    KALMAN_WARMUP,
    InsufficientData,
)

_DIFFUSE = 1e4  # prior variance of the standardised state: diffuse against β, α of order 1
_SKIP = 10  # the first innovations carry the diffuse prior, not the model: the likelihood starts after them
# φ and r are re-estimated on the bars seen so far at 2, 4, 8 and 16 times the warm-up; later re-estimates would
# mostly fold breaks into φ (the static residual of a long window with a break looks like a unit root).
_REFITS = 4
# Memories the likelihood compares: the shortest memory (the `memory` argument) times 1, ∛300, ∛300², 300 (300 to
# 90,000 bars at the default); the best is refined by a parabola in log memory and refreshed every _REFRESH bars.
_GRID = 4
_GRID_FACTOR = 300.0 ** (1.0 / 3.0)
_REFRESH = 10
# The alarms of the adaptive filter are tests of the model: at the shortest memory they fire when m_t > 1.5 or
# d_t > KALMAN_DRIFT_LEVEL, at memory L their size shrinks by (memory/L)^_ALARM_POWER.
_EXCESS_LEVEL = 1.5
_ALARM_POWER = 2.0
# When the memory in force shortens, the state forgets what the longer memory held: its covariance grows by the
# ratio of the bars each memory holds. A fall from at least _BREAK_FROM times the shortest memory to within
# _BREAK_TO times it is the likelihood's verdict that the relation broke: the state then keeps only the information
# of memory/_BREAK_FORGET bars, so the band widens and β re-converges at once (the evidence for the break took the
# likelihood a few hundred bars to gather; the bars before the step are no guide to the new β).
_BREAK_FROM = 3.0
_BREAK_TO = 2.0
_BREAK_FORGET = 100.0
# The likelihood that chooses the memory weighs bar t − k by (1 − 1/_LIKELIHOOD_SPAN)^k: a long stable stretch then
# cannot outvote the bars after a break for ever (with every bar weighted alike, a β step after 3,000 steady bars took
# ~260 bars to believe and the band covered 89.7 % of the bars after it; with this span ~240 bars and 90.8 %), while
# a steady β still converges (issue 23's pair: 94 of 100 seeds within 10 % at bar 6,000, 97 with no discount).
_LIKELIHOOD_SPAN = 6_000.0


@dataclass(frozen=True)
class KalmanNoise:
    """The model's settings, in standardised units: AR(1) coefficient of the spread, innovation variance, state
    noise of β and α per bar, the warm-up (or the bars) they were estimated on and the memory they give. A fitted
    hedge reports those in force at its last bar (its memory the one the likelihood chose)."""

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
    h: np.ndarray,
    yq: np.ndarray,
    c: float | np.ndarray,
    q_beta: float | np.ndarray,
    q_alpha: float | np.ndarray,
    r: float | np.ndarray,
    adapt: int = 0,
    m_level: float | np.ndarray = _EXCESS_LEVEL,
    d_level: float | np.ndarray = KALMAN_DRIFT_LEVEL,
    memory: float | np.ndarray = math.inf,
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Kalman FILTER (never smoother) of yq_t = β_t·h_t + α_t·c_t + η_t, var(η_t) = r_t, with random-walk β, α (state
    noise q_beta_t, q_alpha_t) from a diffuse prior. c, q_beta, q_alpha, r and the alarm levels are scalars or one
    value per bar (the loop runs over stretches of bars that share them). Returns the filtered β, α and var(β).

    adapt > 0 makes it adaptive. Two exponentially weighted means (span `adapt` bars) of the past normalised
    innovations e/√F watch the model: m_t of their squares (1 while the model holds) and d_t, the squared mean over
    its null variance (~χ²₁ while the model holds). The state noise is scaled by max(1, m_t)² (covariance
    matching); when the innovations are too large (m_t > m_level, 1.5 at the shortest memory) or keep one sign
    (d_t > d_level, KALMAN_DRIFT_LEVEL at the shortest memory: after a β step the level error grows with x), the
    predicted covariance is also inflated by m_t − m_level + 1 or d_t/d_level (fading memory), so the gain and the
    band widen and the filter re-converges. On a stable pair both stay near 1 and the filter is the plain one.

    `memory` (per bar, or inf) is the memory in force: where it shortens, the covariance grows by the ratio of the
    bars the two memories hold, and by _BREAK_FORGET more on a fall from a long memory to the shortest (a break).
    """
    b = a = 0.0
    p00 = p11 = _DIFFUSE
    p01 = 0.0
    n = h.size
    betas, alphas, beta_vars = [0.0] * n, [0.0] * n, [0.0] * n
    w = 2.0 / (adapt + 1.0) if adapt > 0 else 0.0
    m, bias = 1.0, 0.0
    bias_var = w / (2.0 - w) if w else 1.0  # variance of the bias EWMA when the innovations are white
    settings = np.vstack(
        [
            np.broadcast_to(np.asarray(v, dtype=float), h.shape)
            for v in (c, q_beta, q_alpha, r, m_level, d_level, memory)
        ]
    )
    edges = [0, *(np.flatnonzero(np.any(settings[:, 1:] != settings[:, :-1], axis=0)) + 1).tolist(), n]
    hs, obs_all = h.tolist(), yq.tolist()
    held, shortest = math.inf, float(settings[6].min())
    for lo, hi in itertools.pairwise(edges):  # runs of bars with the same settings
        cc, qb, qa, rr, ml, dl, mem = settings[:, lo].tolist()
        if lo > 0 and mem < held:  # the state forgets what the longer memory held (bars held: memory, at most lo)
            broke = held >= _BREAK_FROM * shortest and mem <= _BREAK_TO * shortest
            grow = min(held, lo) / max(min(mem / _BREAK_FORGET if broke else mem, lo), 1.0)
            p00, p01, p11 = p00 * grow, p01 * grow, p11 * grow
        held = mem
        for i, f, obs in zip(range(lo, hi), hs[lo:hi], obs_all[lo:hi]):
            scale = m * m if m > 1.0 else 1.0  # covariance matching: the state noise follows the innovations' excess
            drift = bias * bias / bias_var  # ~χ²₁ while the model holds; large when the innovations keep one sign
            fade = max(m - ml + 1.0 if m > ml else 1.0, drift / dl if drift > dl else 1.0)
            r00, r01, r11 = fade * p00 + qb * scale, fade * p01, fade * p11 + qa * scale
            g0, g1 = r00 * f + r01 * cc, r01 * f + r11 * cc  # R·Hᵀ with H = [f, c]
            qv = f * g0 + cc * g1 + rr  # innovation variance H·R·Hᵀ + r
            e = obs - b * f - a * cc
            k0, k1 = g0 / qv, g1 / qv
            b += k0 * e
            a += k1 * e
            p00, p01, p11 = r00 - k0 * g0, r01 - k0 * g1, r11 - k1 * g1  # P = R − K·H·R
            betas[i], alphas[i], beta_vars[i] = b, a, p00
            if i >= 2:  # the first innovations carry the diffuse prior, not the model
                m += w * (e * e / qv - m)
                bias += w * (e / math.sqrt(qv) - bias)
    return np.array(betas), np.array(alphas), np.array(beta_vars)


def memory_loglik(
    h: np.ndarray, yq: np.ndarray, memories: np.ndarray, start: int, every: int = 1, *, span: float
) -> np.ndarray:
    """Log-likelihood of yq_t = β_t·h_t + α_t + η_t through bars start, start + every, … < n (one row per memory):
    the prediction-error decomposition of the fading-memory filter whose memory is L, i.e. whose predicted
    covariance is the last one over λ = 1 − 1/L, with r profiled out (r̂ = weighted mean of e²/f), from bar _SKIP on,
    bar t − k weighted by (1 − 1/span)^k (span = inf: every bar alike).

    That filter is exponentially weighted least squares with the diffuse prior, so every bar's prediction error and
    variance factor f = F/r follow from exponentially weighted sums (one lfilter per memory) instead of a loop:
    S_t = λ·S_{t−1} + H_tᵀH_t, b_t = λ·b_{t−1} + H_tᵀ·yq_t, θ_t = S_t⁻¹·b_t, e_t = yq_t − H_t·θ_{t−1} and
    f_t = 1 + H_t·S_{t−1}⁻¹·H_tᵀ/λ. A regressor that does not move over a memory leaves S_t singular; its
    determinant is floored at 1e-12 of its scale, so that memory predicts no better than it can (f stays finite)."""
    n = h.size
    if not 1 <= start < n:
        raise ValueError(f"the likelihood is reported from bar 1 to bar {n - 1:,}, got start {start:,}")
    u = np.empty((n, 5))
    u[:, 0] = h * h
    u[:, 1] = h
    u[:, 2] = 1.0
    u[:, 3] = h * yq
    u[:, 4] = yq
    hn, yn = h[1:], yq[1:]
    hh = hn * hn
    zi = np.zeros((1, 5))
    zi[0, 0] = zi[0, 2] = 1.0 / _DIFFUSE
    bars = np.arange(start, n, every)
    through = bars - 1
    keep = 1.0 - 1.0 / span
    count = lfilter([1.0], [1.0, -keep], (np.arange(n - 1) >= _SKIP - 1).astype(float))[through]
    out = np.empty((memories.size, bars.size))
    for g, mem in enumerate(memories.tolist()):
        lam = 1.0 - 1.0 / mem
        sums = lfilter([1.0], [1.0, -lam], u, axis=0, zi=lam * zi)[0][:-1]  # through bars 0 … n − 2
        s11, s12, s22, b1, b2 = np.ascontiguousarray(sums.T)
        det = np.maximum(s11 * s22 - s12 * s12, 1e-12 * s11 * s22 + 1e-300)
        beta = s22 * b1 - s12 * b2
        alpha = s11 * b2 - s12 * b1
        f = (hh * s22 - 2.0 * hn * s12 + s11) / (det * lam)  # bar i's terms sit at i − 1
        e = yn - (hn * beta + alpha) / det
        f += 1.0
        sq = e * e / f
        lf = np.log(f)
        sq[: _SKIP - 1] = lf[: _SKIP - 1] = 0.0  # the bars before _SKIP carry the prior
        a_cum, b_cum = (lfilter([1.0], [1.0, -keep], v)[through] for v in (sq, lf))
        with np.errstate(divide="ignore", invalid="ignore"):
            out[g] = -0.5 * count * np.log(np.maximum(a_cum, 1e-300) / np.maximum(count, 1e-300)) - 0.5 * b_cum
    out[~np.isfinite(out)] = -np.inf
    return out


def learned_memory(loglik: np.ndarray, memories: np.ndarray) -> np.ndarray:
    """Per column of `loglik` (rows: the memories, a geometric grid) the memory of highest likelihood, refined by
    the parabola through it and its neighbours in log memory (within half a grid step); the shortest memory where
    nothing is finite."""
    n = loglik.shape[1]
    best = np.argmax(loglik, axis=0)
    cols = np.arange(n)
    inner = np.clip(best, 1, memories.size - 2)
    lo, mid, hi = loglik[inner - 1, cols], loglik[inner, cols], loglik[inner + 1, cols]
    curv = lo - 2.0 * mid + hi
    with np.errstate(divide="ignore", invalid="ignore"):
        shift = np.where((best == inner) & (curv < 0), 0.5 * (lo - hi) / curv, 0.0)
    shift = np.nan_to_num(shift, nan=0.0, posinf=0.0, neginf=0.0)
    logm = np.log(memories)
    return np.exp(logm[best] + np.clip(shift, -0.5, 0.5) * (logm[1] - logm[0]))


def kendall(rho: Any, n: Any) -> Any:
    """Kendall's (1954) first-order bias correction of a sample AR(1) coefficient with the mean estimated:
    ρ̂ + (1 + 3ρ̂)/n, capped at 1; without it a short sample of a persistent series looks less persistent."""
    return np.minimum(rho + (1.0 + 3.0 * rho) / n, 1.0)


def _quasi_difference(xs: np.ndarray, ys: np.ndarray, phi: float) -> tuple[np.ndarray, np.ndarray, float]:
    """(x_t − φ·x_{t−1}, y_t − φ·y_{t−1}, 1 − φ) for t ≥ 1: the regression whose errors are the AR(1) innovations."""
    return xs[1:] - phi * xs[:-1], ys[1:] - phi * ys[:-1], 1.0 - phi


def estimate_noise(xs: np.ndarray, ys: np.ndarray, memory: int) -> KalmanNoise:
    """The model's settings from standardised prices (the warm-up, or every bar before a checkpoint): φ
    (Kendall-corrected) and the innovation variance r from the static OLS residual's AR(1) fit; the state noise from
    the memory: for a regressor of variance v a steady-state gain of 1/memory needs q = r / (v·memory²). α's noise
    keeps the same memory as β's."""
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
    and standard deviation; φ and r come from the warm-up, then from all bars before 2, 4, 8 and 16 times it
    (:func:`estimate_noise`), and the state noise from the memory of highest likelihood on the bars before each block
    of 10 (:func:`memory_loglik`), never shorter than `memory`. The filter then runs over every bar, and its output
    is NaN before bar warmup − 1, so every value shown at bar t uses bars ≤ t only."""
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
    points = [warmup]  # re-estimate φ and r on the bars before each checkpoint
    while points[-1] * 2 < x.size and len(points) <= _REFITS:
        points.append(points[-1] * 2)
    fits = [estimate_noise(xs[:t], ys[:t], memory) for t in points]
    # quasi-differenced bar i is price bar i + 1; it uses the fit of the last checkpoint ≤ i + 1 (the first fit
    # before the first checkpoint: those bars are hidden but for bar warmup − 1, which the warm-up includes)
    bounds = [0, *(t - 1 for t in points[1:]), x.size - 1]
    seg = np.repeat(np.arange(len(fits)), np.diff(bounds))
    phi, r, qb, qa = (np.array([getattr(fit, k) for fit in fits])[seg] for k in ("phi", "obs_var", "q_beta", "q_alpha"))
    hq, yq, c = xs[1:] - phi * xs[:-1], ys[1:] - phi * ys[:-1], 1.0 - phi
    block_memory = _memory_path(xs, ys, fits, bounds, memory)
    block_levels = _alarm_levels(block_memory / memory)
    mem, m_level, d_level = (np.repeat(v, _REFRESH)[: hq.size] for v in (block_memory, *block_levels))
    ratio = (memory / mem) ** 2  # q = r / (v·L²): the shortest memory's noise scaled to memory L
    beta_n, alpha_n, var_n = filter_path(
        hq, yq, c, qb * ratio, qa * ratio, r, adapt=KALMAN_ADAPT_SPAN, m_level=m_level, d_level=d_level, memory=mem
    )
    # ys = α_n + β_n·xs  ⇔  y = (my + sy·α_n − β·mx) + β·x with β = β_n·sy/sx
    beta = np.concatenate([[np.nan], beta_n * (sy / sx)])
    alpha = np.concatenate([[np.nan], my + sy * alpha_n]) - beta * mx
    se = np.concatenate([[np.nan], np.sqrt(var_n) * (sy / sx)])
    hidden = slice(0, warmup - 1)
    beta[hidden] = alpha[hidden] = se[hidden] = np.nan
    last = fits[-1]
    noise = KalmanNoise(
        last.phi, last.obs_var, float(qb[-1] * ratio[-1]), float(qa[-1] * ratio[-1]), warmup, round(float(mem[-1]))
    )
    return KalmanPath(beta, alpha, se, noise)


def _memory_path(xs: np.ndarray, ys: np.ndarray, fits: list[KalmanNoise], bounds: list[int], memory: int) -> np.ndarray:
    """The memory of each block of _REFRESH quasi-differenced bars (block j: bars j·_REFRESH …): the maximum-
    likelihood memory (:func:`memory_loglik`, :func:`learned_memory`) on the bars before the block's first bar,
    quasi-differenced by the φ in force at that bar; the shortest memory for the first blocks."""
    n = xs.size - 1
    memories = memory * _GRID_FACTOR ** np.arange(_GRID)
    chosen = np.full(-(-n // _REFRESH), float(memory))
    for k, fit in enumerate(fits):
        first = max(-(-bounds[k] // _REFRESH), -(-(_SKIP + 2) // _REFRESH))  # blocks starting in this fit's bars
        stop = -(-bounds[k + 1] // _REFRESH)
        if first < stop:  # block j's memory: the likelihood through bar j·_REFRESH − 1
            end = (stop - 1) * _REFRESH  # the last bar the likelihood needs is end − 1
            h_k, y_k = xs[1 : end + 1] - fit.phi * xs[:end], ys[1 : end + 1] - fit.phi * ys[:end]
            loglik = memory_loglik(h_k, y_k, memories, first * _REFRESH - 1, _REFRESH, span=_LIKELIHOOD_SPAN)
            chosen[first:stop] = learned_memory(loglik, memories)
    return chosen


def _alarm_levels(size: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """The adaptive filter's alarm levels (m_t's and d_t's) at memory size × the shortest: m_t is a mean of
    KALMAN_ADAPT_SPAN squared standard normals (χ²_ν/ν, ν = the span; Wilson–Hilferty), d_t ~ χ²₁; each test's
    size at the shortest memory (m_t > 1.5, d_t > KALMAN_DRIFT_LEVEL) is divided by size^_ALARM_POWER."""
    nu = float(KALMAN_ADAPT_SPAN)
    spread = math.sqrt(2.0 / (9.0 * nu))
    z_m = (_EXCESS_LEVEL ** (1.0 / 3.0) - 1.0 + 2.0 / (9.0 * nu)) / spread
    shrink = size**_ALARM_POWER
    z_m = -ndtri(ndtr(-z_m) / shrink)
    z_d = -ndtri(ndtr(-math.sqrt(KALMAN_DRIFT_LEVEL)) / shrink)
    return (1.0 - 2.0 / (9.0 * nu) + z_m * spread) ** 3, z_d * z_d
