"""The cointegration-break alarm: has a watched pair's spread stopped mean-reverting since its formation window?

Why: a spread that turns into a random walk turns a mean-reversion trade into an unhedged bet; the alarm must say so
as early as it can while staying silent on a spread that still reverts (at most 1 false onset per 10,000 bars).

Design (Page's CUSUM on the exact likelihood ratio). The formation window fixes an AR(1)/OU model of the spread,
s_t − μ = φ·(s_{t−1} − μ) + ε_t (μ the formation mean, φ the median-unbiased AR(1), quant.persistence). A break is
the alternative φ = 1 (a random walk, Δs_t = ε_t). With d = s_{t−1} − μ and u = Δs_t, both standardised by the
innovation σ, the log-likelihood ratio of one bar is

    llr_t = ((u + κ·d)² − u²) / 2 = κ·d·u + κ²·d²/2,   κ = 1 − φ,

(negative drift −κ²d²/2 under the OU, positive +κ²d²/2 under the random walk). The evidence S_t = max(0, S_{t−1} +
llr_t) is the CUSUM of these ratios, optimal for this change (Lorden 1971) and bounded under the null by Wald's
inequality (mean run between false alarms ≥ e^h). The alarm comes on when S_t > BREAK_ALARM_ON and goes off only
when S_t falls below BREAK_ALARM_OFF (hysteresis: one onset per episode). It reads both the level (d) and whether
the spread still moves back (the sign of d·u), which is why it beats a plain |z| > k band at the same false-alarm
rate (bench/break_alarm.py).

Robustness: σ is a causal EWMA of Δs² over the bars before t (Δs has variance σ² under both hypotheses, so a break
does not inflate it), which keeps the scale right under volatility clustering; u is clipped at ±BREAK_ALARM_CLIP σ,
so one heavy-tailed jump cannot raise the alarm by itself. Everything is vectorised (a linear filter, cumulative sums
and minima): about a millisecond for a few thousand bars; `break_alarm_update` adds one bar in a few microseconds.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np
import pandas as pd
from scipy.signal import lfilter

from quant.persistence import ar1_ols, median_unbiased_ar1
from quant.results import BreakAlarmFit, BreakAlarmState
from quant.validation import as_series, check_values
from quant.vocabulary import InsufficientData

# The evidence (a log-likelihood ratio) at which the alarm comes on, and below which it goes off again. ON = 6 gives
# 0.3–0.4 false onsets per 10,000 stationary bars on half-life-60 spreads after a 2,000-bar formation, with Gaussian,
# Student-t(4) or GARCH innovations (bench/break_alarm.py; Wald's bound, a mean run of e^6 ≈ 400 bars, is loose);
# OFF = ON / 4 keeps one episode one onset.
BREAK_ALARM_ON = 6.0
BREAK_ALARM_OFF = 1.5
# A standardised move beyond this many σ counts as this many (heavy tails); Student-t(4) innovations keep the rate.
BREAK_ALARM_CLIP = 4.0
# Half-life (bars) of the EWMA of Δs² that scales the moves: long against the noise of one bar, short against a
# volatility regime (GARCH-like clustering).
BREAK_ALARM_VOL_HALFLIFE = 250
# The formation must hold enough bars for its AR(1) to mean something (a few half-lives at least).
BREAK_ALARM_MIN_FORMATION = 200


def _formation(spread: Any, formation_bars: int) -> tuple[pd.Series, np.ndarray]:
    """The spread as a float Series and its formation values, validated: an integer formation of at least
    BREAK_ALARM_MIN_FORMATION bars, no NaN in it, no ±inf anywhere."""
    s = as_series(spread, "spread")
    if isinstance(formation_bars, bool) or not isinstance(formation_bars, (int, np.integer)):
        raise ValueError(f"formation_bars must be an integer number of bars, got {formation_bars!r}")
    if formation_bars < BREAK_ALARM_MIN_FORMATION:
        raise ValueError(f"formation_bars must be at least {BREAK_ALARM_MIN_FORMATION}, got {formation_bars}")
    if s.size < formation_bars:
        raise InsufficientData(f"spread has {s.size:,} bars, fewer than its formation window of {formation_bars:,}")
    check_values(s, "spread", formation_bars, allow_nan=True)
    head = s.to_numpy()[:formation_bars]
    if np.isnan(head).any():
        first = s.index[int(np.argmax(np.isnan(head)))]
        raise ValueError(
            f"spread has {int(np.isnan(head).sum())} NaN values inside its formation window (first at {first}); "
            "the formation must be complete bars"
        )
    return s, head


def break_alarm_fit(spread: Any, formation_bars: int, *, residual: bool = False) -> BreakAlarmFit:
    """The OU model the alarm holds the spread to: mean, median-unbiased AR(1) and innovation σ of the first
    `formation_bars` bars. `residual`: the spread is the residual of a hedge fitted on those same bars (the AR(1)
    bias is larger then). InsufficientData when the formation does not mean-revert (no cointegration to lose)."""
    return _fit(_formation(spread, formation_bars)[1], formation_bars, residual)


def _fit(head: np.ndarray, formation_bars: int, residual: bool) -> BreakAlarmFit:
    """break_alarm_fit of validated formation values."""
    mean = float(head.mean())
    ols = float(ar1_ols(head))
    phi = float(median_unbiased_ar1(ols, head.size, residual=residual)) if ols < 1.0 else 1.0
    if not phi < 1.0:
        raise InsufficientData(
            f"the formation window's spread does not mean-revert (AR(1) {ols:.4f} on {head.size:,} bars, "
            "indistinguishable from a random walk); there is no cointegration whose end an alarm could detect"
        )
    innovations = head[1:] - mean - phi * (head[:-1] - mean)
    sigma = float(innovations.std())
    if not sigma > 0:
        raise InsufficientData("the formation window's spread moves without noise; its OU model is degenerate")
    return BreakAlarmFit(
        mean=mean,
        ar1=phi,
        sigma=sigma,
        sigma_eq=sigma / math.sqrt(1.0 - phi * phi),
        half_life=-math.log(2.0) / math.log(phi) if phi > 0 else 0.0,
        formation_bars=int(formation_bars),
    )


def _alpha() -> float:
    """The EWMA's weight on the newest squared move."""
    return 1.0 - 0.5 ** (1.0 / BREAK_ALARM_VOL_HALFLIFE)


def _ewma(moves: np.ndarray, sigma: float) -> tuple[np.ndarray, np.ndarray]:
    """(weighted sum, sum of weights) of the recursive EWMA of the formation's σ² (weight 1, first) then each squared
    move; a NaN move (a hole) is skipped, the weights renormalised. Entry i covers σ² and the first i moves."""
    alpha = _alpha()
    squares = np.concatenate([[sigma * sigma], moves * moves])
    known = ~np.isnan(squares)
    filt = ([alpha], [1.0, alpha - 1.0])
    num = lfilter(*filt, np.where(known, squares, 0.0), zi=[(1.0 - alpha) * sigma * sigma])[0]
    den = lfilter(*filt, known.astype("float64"), zi=[1.0 - alpha])[0]
    return num, den


def _llr(value: Any, previous: Any, scale: Any, fit: BreakAlarmFit) -> Any:
    """One bar's log-likelihood ratio "random walk" vs "the formation's OU" (0 for a hole)."""
    kappa = 1.0 - fit.ar1
    u = np.clip((value - previous) / scale, -BREAK_ALARM_CLIP, BREAK_ALARM_CLIP)
    d = (previous - fit.mean) / scale
    return np.nan_to_num(kappa * d * u + 0.5 * kappa * kappa * d * d, nan=0.0)


def _evidence(v: np.ndarray, fit: BreakAlarmFit) -> np.ndarray:
    """The evidence on each bar after the formation, of validated values."""
    moves = np.diff(v)
    num, den = _ewma(moves[:-1], fit.sigma)  # the scale of bar t reads the moves before it
    llr = _llr(v[1:], v[:-1], np.sqrt(num / den), fit)[fit.formation_bars - 1 :]
    total = np.cumsum(llr)
    return total - np.minimum(np.minimum.accumulate(total), 0.0)


def _standing(evidence: np.ndarray) -> np.ndarray:
    """The hysteresis: on above BREAK_ALARM_ON, off below BREAK_ALARM_OFF, else as on the bar before (off first)."""
    decided = (evidence > BREAK_ALARM_ON) | (evidence < BREAK_ALARM_OFF)
    last = np.maximum.accumulate(np.where(decided, np.arange(evidence.size), -1))
    return (last >= 0) & (evidence[np.maximum(last, 0)] > BREAK_ALARM_ON)


def break_evidence(spread: Any, formation_bars: int, *, residual: bool = False) -> pd.Series:
    """The alarm's evidence S_t (causal): the CUSUM of the per-bar log-likelihood ratio "random walk" vs "the
    formation's OU", NaN during the formation. A NaN bar (a hole) adds no evidence."""
    s, head = _formation(spread, formation_bars)
    fit = _fit(head, formation_bars, residual)
    out = np.full(s.size, np.nan)
    out[formation_bars:] = _evidence(s.to_numpy(), fit)
    return pd.Series(out, index=s.index, name="break_evidence")


def spread_break_alarm(spread: Any, formation_bars: int, *, residual: bool = False) -> pd.Series:
    """True on the bars where the cointegration-break alarm stands (causal: bar t uses bars ≤ t), False during the
    formation window (its first `formation_bars` bars): on when :func:`break_evidence` exceeds BREAK_ALARM_ON, off
    again only below BREAK_ALARM_OFF. Bad arguments raise ValueError; a formation without mean reversion raises
    InsufficientData. A few thousand bars cost well under a millisecond; a monitor adding one bar at a time can
    carry a :class:`BreakAlarmState` instead (:func:`break_alarm_state`, :func:`break_alarm_update`)."""
    s, head = _formation(spread, formation_bars)
    fit = _fit(head, formation_bars, residual)
    out = np.zeros(s.size, dtype=bool)
    out[formation_bars:] = _standing(_evidence(s.to_numpy(), fit))
    return pd.Series(out, index=s.index, name="break_alarm")


def break_alarm_state(spread: Any, formation_bars: int, *, residual: bool = False) -> BreakAlarmState:
    """The alarm's state after the last bar of `spread` (at least its formation window): what
    :func:`break_alarm_update` continues from, bar by bar, with the result of :func:`spread_break_alarm`."""
    s, head = _formation(spread, formation_bars)
    fit = _fit(head, formation_bars, residual)
    v = s.to_numpy()
    evidence = _evidence(v, fit)
    num, den = _ewma(np.diff(v), fit.sigma)
    return BreakAlarmState(
        fit=fit,
        bars=int(v.size),
        last=float(v[-1]),
        weighted=float(num[-1]),
        weights=float(den[-1]),
        evidence=float(evidence[-1]) if evidence.size else 0.0,
        standing=bool(_standing(evidence)[-1]) if evidence.size else False,
    )


def break_alarm_update(state: BreakAlarmState, value: float) -> BreakAlarmState:
    """The state after one more bar (`value`, NaN for a hole): O(1), for a monitor evaluating many pairs per bar."""
    scale = math.sqrt(state.weighted / state.weights)
    kappa = 1.0 - state.fit.ar1
    u = min(max((value - state.last) / scale, -BREAK_ALARM_CLIP), BREAK_ALARM_CLIP)
    d = (state.last - state.fit.mean) / scale
    llr = kappa * d * u + 0.5 * kappa * kappa * d * d  # as _llr, on one bar
    evidence = state.evidence if math.isnan(llr) else max(0.0, state.evidence + llr)
    standing = evidence > BREAK_ALARM_ON or (state.standing and evidence >= BREAK_ALARM_OFF)
    move = value - state.last
    known = not math.isnan(move)
    keep = 1.0 - _alpha()
    return BreakAlarmState(
        fit=state.fit,
        bars=state.bars + 1,
        last=float(value),
        weighted=keep * state.weighted + (1.0 - keep) * (move * move if known else 0.0),
        weights=keep * state.weights + (1.0 - keep) * known,
        evidence=evidence,
        standing=standing,
    )
