"""The augmented Dickey–Fuller regression with a fast information-criterion lag search.

Why: statsmodels' adfuller refits one OLS per candidate lag (~66 fits of 86,400 rows for a day of 1 s bars), too slow
for a live refresh, and a lag cap that does not grow with n wrecks the test's size under MA errors. The nested
candidate models share one cross-product matrix, so one Cholesky factor gives every candidate's residual sum of
squares; the chosen lag's t-statistic is then refitted on its full sample, as statsmodels does. Hand-written for that
reason only: tests check it against adfuller.
"""
from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
from statsmodels.tsa.adfvalues import mackinnoncrit, mackinnonp

from quant.vocabulary import InsufficientData


@dataclass(frozen=True)
class AdfFit:
    """The ADF regression Δv_t = c + γ·v_{t−1} + Σ_k φ_k·Δv_{t−k}: γ's t-statistic, lags used, rows fitted."""

    statistic: float
    lags: int
    nobs: int
    maxlag: int


def schwert_maxlag(n: int) -> int:
    """Schwert's upper bound 12·(n/100)^¼ on the lag search (grows with n), kept below n/2 − 3."""
    return max(0, min(math.ceil(12.0 * (n / 100.0) ** 0.25), n // 2 - 3))


def _design(v: np.ndarray, lags: int, constant: bool, first: int) -> tuple[np.ndarray, np.ndarray]:
    """Rows t ≥ first of the ADF regression with `lags` lagged differences: (regressors, Δv_t).

    Columns: [1 (if constant), v_{t−1}, Δv_{t−1}, …, Δv_{t−lags}]; v is centred so the columns are well scaled.
    """
    dv = np.diff(v)
    rows = dv.size - first
    cols = [np.ones(rows)] if constant else []
    cols.append(v[first:-1])
    cols += [dv[first - k:dv.size - k] for k in range(1, lags + 1)]
    return np.column_stack(cols), dv[first:]


def _aic_lag(v: np.ndarray, maxlag: int, constant: bool) -> int:
    """Lag in 0..maxlag minimising AIC = n·ln(RSS/n) + 2·k over the common sample t ≥ maxlag + 1 (statsmodels'
    rule), with every candidate's RSS read off one Cholesky factor of the largest model's cross products."""
    x, y = _design(v, maxlag, constant, maxlag)
    gram, xty = x.T @ x, x.T @ y
    scale = np.sqrt(np.diag(gram))
    scale[scale == 0] = 1.0
    gram, xty = gram / np.outer(scale, scale), xty / scale
    try:
        chol = np.linalg.cholesky(gram)
    except np.linalg.LinAlgError as exc:
        raise InsufficientData("the ADF regressors are collinear (the series is constant or piecewise linear)") \
            from exc
    z = np.linalg.solve(chol, xty) if chol.shape[0] else np.empty(0)
    base = int(constant) + 1
    rss = float(y @ y) - np.cumsum(z * z)[base - 1:]
    rss = np.maximum(rss, np.finfo(float).tiny)
    n = y.size
    aic = n * np.log(rss / n) + 2.0 * np.arange(base, base + maxlag + 1)
    return int(np.argmin(aic))


def adf_fit(v: np.ndarray, maxlag: int | None = None, *, constant: bool = True, search: bool = True) -> AdfFit:
    """ADF t-statistic of v with the lag chosen by AIC over 0..maxlag (default :func:`schwert_maxlag`), or exactly
    `maxlag` lags when search is False."""
    v = np.asarray(v, dtype="float64")
    v = v - v.mean()
    top = schwert_maxlag(v.size) if maxlag is None else maxlag
    if top < 0 or top > v.size // 2 - 3:
        raise ValueError(f"maxlag must be in 0..{max(0, v.size // 2 - 3)} for {v.size} values, got {top}")
    lags = _aic_lag(v, top, constant) if search and top > 0 else top
    x, y = _design(v, lags, constant, lags)
    coef, _, rank, _ = np.linalg.lstsq(x, y, rcond=None)
    if rank < x.shape[1]:
        raise InsufficientData("the ADF regressors are collinear (the series is constant or piecewise linear)")
    resid = y - x @ coef
    dof = y.size - x.shape[1]
    sigma2 = float(resid @ resid) / dof
    if sigma2 <= 0:
        raise InsufficientData("the series' differences are an exact linear recursion; ADF is undefined")
    g = int(constant)
    cov_gg = np.linalg.inv(x.T @ x)[g, g]
    return AdfFit(float(coef[g] / math.sqrt(sigma2 * cov_gg)), lags, int(y.size), top)


def pvalue(statistic: float, n_vars: int = 1) -> float:
    """MacKinnon (1994) approximate p-value of an ADF (n_vars=1) or Engle–Granger (n_vars=k) statistic, constant."""
    return float(mackinnonp(statistic, regression="c", N=n_vars))


def critical_values(nobs: int, n_vars: int = 1) -> dict[str, float]:
    """MacKinnon (2010) 1/5/10 % critical values for nobs rows (constant)."""
    crit = mackinnoncrit(N=n_vars, regression="c", nobs=nobs)
    return dict(zip(("1%", "5%", "10%"), (float(c) for c in crit)))
