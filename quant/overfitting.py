"""Overfitting accounting for parameter searches: the deflated Sharpe ratio (Bailey & López de Prado 2014) and the
probability of backtest overfitting by combinatorially symmetric cross-validation (Bailey, Borwein, López de Prado &
Zhu 2015).

Why: the best cell of a sweep is the maximum of many noisy trials, so its Sharpe ratio is biased upward; the deflated
Sharpe ratio says how likely it is to be real given how many configurations were tried, and the PBO how often the
in-sample winner turns out no better than the median out of sample.
"""

from __future__ import annotations

import itertools
import math
from typing import Any

import numpy as np
import pandas as pd
from scipy import stats

from quant.results import DeflatedSharpe, OverfittingResult
from quant.vocabulary import InsufficientData

EULER_GAMMA = 0.5772156649015329
PBO_BLOCKS = 16  # CSCV cuts the sample into 16 blocks: C(16, 8) = 12,870 splits


def expected_max_sharpe(n_trials: int, sharpe_variance: float) -> float:
    """SR₀: the expected maximum Sharpe ratio of `n_trials` independent skill-less trials whose Sharpe ratios vary
    with `sharpe_variance`, √V·((1 − γ)Φ⁻¹(1 − 1/N) + γΦ⁻¹(1 − 1/(N·e))) (γ Euler's constant); 0 for one trial."""
    if n_trials < 1:
        raise ValueError(f"n_trials must be >= 1, got {n_trials}")
    if not sharpe_variance >= 0:
        raise ValueError(f"sharpe_variance must be >= 0, got {sharpe_variance}")
    if n_trials == 1:
        return 0.0
    quantiles = (1 - EULER_GAMMA) * stats.norm.ppf(1 - 1 / n_trials) + EULER_GAMMA * stats.norm.ppf(
        1 - 1 / (n_trials * math.e)
    )
    return math.sqrt(sharpe_variance) * float(quantiles)


def deflated_sharpe_ratio(
    sharpe: float, n_trials: int, sharpe_variance: float, n_obs: int, skew: float, kurtosis: float
) -> DeflatedSharpe:
    """The deflated Sharpe ratio of the best of `n_trials` trials, everything per observation (not annualised;
    `kurtosis` not excess, 3 for a normal): DSR = Φ((SR − SR₀)·√(n − 1) / √(1 − skew·SR + (kurtosis − 1)/4·SR²)),
    the probabilistic Sharpe ratio against SR₀ = :func:`expected_max_sharpe`."""
    if not math.isfinite(sharpe):
        raise ValueError(f"sharpe must be finite, got {sharpe}")
    if n_obs < 2:
        raise ValueError(f"n_obs must be >= 2, got {n_obs}")
    if not kurtosis >= 1:
        raise ValueError(f"kurtosis must be >= 1 (not excess kurtosis: a normal has 3), got {kurtosis}")
    sr0 = expected_max_sharpe(n_trials, sharpe_variance)
    spread = 1 - skew * sharpe + (kurtosis - 1) / 4 * sharpe**2
    if not spread > 0:
        raise ValueError(f"skew {skew} and kurtosis {kurtosis} leave the Sharpe ratio's variance non-positive")
    z = (sharpe - sr0) * math.sqrt(n_obs - 1) / math.sqrt(spread)
    return DeflatedSharpe(sharpe=sharpe, sr0=sr0, dsr=float(stats.norm.cdf(z)), n_trials=n_trials, n_obs=n_obs)


def _returns_matrix(returns: Any, min_rows: int) -> np.ndarray:
    """A (bars × configurations) matrix of finite per-bar returns with at least two configurations."""
    frame = returns if isinstance(returns, pd.DataFrame) else pd.DataFrame(np.asarray(returns, dtype="float64"))
    values = frame.to_numpy(dtype="float64")
    if values.ndim != 2 or values.shape[1] < 2:
        raise ValueError(f"returns must be a bars × configurations matrix with 2+ configurations, got {values.shape}")
    if not np.isfinite(values).all():
        raise ValueError("returns must be finite (a configuration without a return on a bar has 0 there)")
    if values.shape[0] < min_rows:
        raise InsufficientData(f"{values.shape[0]} bars of returns; this needs at least {min_rows}")
    return values


def _sharpe(total: np.ndarray, squares: np.ndarray, n: float) -> np.ndarray:
    """Per-observation Sharpe ratios from sums of returns and of their squares over n bars (0 where flat)."""
    mean = total / n
    var = np.maximum(squares / n - mean * mean, 0.0) * n / (n - 1)
    sd = np.sqrt(var)
    return np.divide(mean, sd, out=np.zeros_like(mean), where=sd > 1e-15 * np.maximum(np.abs(mean), 1e-300))


def trials_deflated_sharpe(returns: Any) -> DeflatedSharpe:
    """The deflated Sharpe ratio of the best column of a (bars × configurations) matrix of per-bar returns: its
    per-bar Sharpe ratio, deflated by the variance of all columns' Sharpe ratios and the skew and (non-excess)
    kurtosis of its own returns, with every column counted as a trial."""
    values = _returns_matrix(returns, 3)
    n = values.shape[0]
    sharpes = _sharpe(values.sum(axis=0), (values * values).sum(axis=0), n)
    best = int(np.argmax(sharpes))
    chosen = values[:, best]
    flat = np.ptp(chosen) == 0
    skew = 0.0 if flat else float(stats.skew(chosen))
    kurtosis = 3.0 if flat else float(stats.kurtosis(chosen, fisher=False))
    return deflated_sharpe_ratio(
        float(sharpes[best]), values.shape[1], float(np.var(sharpes, ddof=1)), n, skew, kurtosis
    )


def probability_of_overfitting(returns: Any, n_blocks: int = PBO_BLOCKS) -> OverfittingResult:
    """PBO of choosing the configuration with the best in-sample Sharpe ratio, by CSCV: the bars (rows; the last
    n mod S dropped) are cut into S = `n_blocks` consecutive blocks; for each of the C(S, S/2) ways to take half the
    blocks as in-sample, the in-sample best configuration's relative rank ω = rank/(N + 1) among the N
    configurations on the other half gives the logit ln(ω/(1 − ω)); PBO is the share of logits ≤ 0."""
    if n_blocks < 2 or n_blocks % 2:
        raise ValueError(f"n_blocks must be an even number >= 2, got {n_blocks}")
    values = _returns_matrix(returns, 2 * n_blocks)
    rows, configs = values.shape
    size = rows // n_blocks
    blocks = values[: size * n_blocks].reshape(n_blocks, size, configs)
    sums, squares = blocks.sum(axis=1), (blocks * blocks).sum(axis=1)
    chosen = np.array(list(itertools.combinations(range(n_blocks), n_blocks // 2)))
    half = size * (n_blocks // 2)
    train_sum, train_sq = sums[chosen].sum(axis=1), squares[chosen].sum(axis=1)
    train = _sharpe(train_sum, train_sq, half)
    test = _sharpe(sums.sum(axis=0) - train_sum, squares.sum(axis=0) - train_sq, half)
    best = np.argmax(train, axis=1)
    best_test = test[np.arange(best.size), best][:, None]
    rank = (test < best_test).sum(axis=1) + 0.5 * ((test == best_test).sum(axis=1) - 1) + 1
    omega = rank / (configs + 1)
    logits = np.log(omega / (1 - omega))
    return OverfittingResult(
        pbo=float(np.mean(logits <= 0)),
        logits=tuple(float(v) for v in logits),
        n_configs=configs,
        n_blocks=n_blocks,
        n_splits=int(chosen.shape[0]),
    )
