"""The augmented Dickey–Fuller regression with a fast information-criterion lag search (MAIC or AIC).

Why: statsmodels' adfuller refits one OLS per candidate lag (~66 fits of 86,400 rows for a day of 1 s bars), too slow
for a live refresh, and it offers no MAIC; a lag cap that does not grow with n, or plain AIC on a residual with a
large negative MA root (bid/ask bounce), wrecks the test's size. The nested candidate models share one cross-product
matrix, so one Cholesky factor gives every candidate's residual sum of squares and level coefficient; the chosen
lag's t-statistic is then refitted on its full sample, as statsmodels does. Hand-written for those reasons only:
tests check the AIC search against adfuller and the MAIC choice against brute-force refits.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
from scipy.linalg import solve_triangular
from scipy.stats import norm
from statsmodels.tsa import adfvalues
from statsmodels.tsa.adfvalues import mackinnoncrit, mackinnonp

from quant.blas import one_blas_thread
from quant.results import CriticalValues
from quant.vocabulary import InsufficientData, LagCriterion


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
    cols += [dv[first - k : dv.size - k] for k in range(1, lags + 1)]
    return np.column_stack(cols), dv[first:]


def _select_lag(v: np.ndarray, maxlag: int, constant: bool, criterion: LagCriterion) -> int:
    """Lag in 0..maxlag minimising the criterion over the common sample t ≥ maxlag + 1, every candidate read off one
    Cholesky factor of the largest model's cross products (nested models share its leading blocks).

    "aic": n·ln(RSS/n) + 2·k (statsmodels' rule). "maic": Ng & Perron's (2001) modified AIC,
    ln(σ̂²_k) + 2·(τ_k + k)/n with τ_k = γ̂_k²·Σv²_{t−1}/σ̂²_k, which keeps the test's size when the differences
    carry a large negative MA root (bid/ask bounce, a noisy stationary part) where AIC picks too few lags."""
    x, y = _design(v, maxlag, constant, maxlag)
    gram, xty = x.T @ x, x.T @ y
    scale = np.sqrt(np.diag(gram))
    scale[scale == 0] = 1.0
    gram, xty = gram / np.outer(scale, scale), xty / scale
    try:
        chol = np.linalg.cholesky(gram)
    except np.linalg.LinAlgError as exc:
        raise InsufficientData("the ADF regressors are collinear (the series is constant or piecewise linear)") from exc
    z = solve_triangular(chol, xty, lower=True) if chol.shape[0] else np.empty(0)
    base = int(constant) + 1
    rss = float(y @ y) - np.cumsum(z * z)[base - 1 :]
    rss = np.maximum(rss, np.finfo(float).tiny)
    n = y.size
    ks = np.arange(maxlag + 1)
    if criterion is LagCriterion.AIC:
        return int(np.argmin(n * np.log(rss / n) + 2.0 * (base + ks)))
    # γ̂_k·‖v_{t−1}‖ (scaled coordinates) of every nested model at once: the inverse of a triangular factor's leading
    # block is the leading block of its inverse, so γ̂_k = Σ_{j<m} W[level, j]·z_j with W = (Lᵀ)⁻¹
    w = solve_triangular(chol.T, np.eye(chol.shape[0]), lower=False)
    gamma = np.cumsum(w[base - 1] * z)[base - 1 :]
    sigma2 = rss / n
    return int(np.argmin(np.log(sigma2) + 2.0 * (gamma * gamma / sigma2 + ks) / n))


@one_blas_thread
def adf_fit(
    v: np.ndarray,
    maxlag: int | None = None,
    *,
    constant: bool = True,
    criterion: LagCriterion | None = LagCriterion.MAIC,
) -> AdfFit:
    """ADF t-statistic of v with the lag chosen by `criterion` (MAIC, the default, or plain AIC; see
    :func:`_select_lag`) over 0..maxlag (default :func:`schwert_maxlag`), or exactly `maxlag` lags when criterion is
    None."""
    v = np.asarray(v, dtype="float64")
    v = v - v.mean()
    top = schwert_maxlag(v.size) if maxlag is None else maxlag
    if top < 0 or top > v.size // 2 - 3:
        raise ValueError(f"maxlag must be in 0..{max(0, v.size // 2 - 3)} for {v.size} values, got {top}")
    if criterion is not None and criterion not in set(LagCriterion):
        raise ValueError(f"criterion must be 'maic', 'aic' or None, got {criterion!r}")
    lags = _select_lag(v, top, constant, LagCriterion(criterion)) if criterion and top > 0 else top
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


def critical_values(nobs: int, n_vars: int = 1) -> CriticalValues:
    """MacKinnon (2010) 1/5/10 % critical values for nobs rows (constant)."""
    one, five, ten = (float(c) for c in mackinnoncrit(N=n_vars, regression="c", nobs=nobs))
    return CriticalValues(one_pct=one, five_pct=five, ten_pct=ten)


@dataclass(frozen=True)
class MacKinnonTable:
    """MacKinnon's (1994) p-value polynomials for one number of variables (constant), as statsmodels' mackinnonp
    evaluates them: the small-p polynomial up to `star`, the large-p one above; p = 0 below `tau_min`, 1 above
    `tau_max`. Coefficients lowest order first."""

    small: tuple[float, ...]
    large: tuple[float, ...]
    star: float
    tau_min: float
    tau_max: float


def mackinnon_table(n_vars: int = 1) -> MacKinnonTable:
    """The table mackinnonp uses for n_vars variables, read from statsmodels' private module tables (the only
    private names this package reads; tests/test_analytics.py pins them against mackinnonp, so a statsmodels
    release that moves or changes them fails the suite, not a scan)."""
    k = n_vars - 1
    return MacKinnonTable(
        small=tuple(float(c) for c in adfvalues._tau_smallps["c"][k]),
        large=tuple(float(c) for c in adfvalues._tau_largeps["c"][k]),
        star=float(adfvalues._tau_stars["c"][k]),
        tau_min=float(adfvalues._tau_mins["c"][k]),
        tau_max=float(adfvalues._tau_maxs["c"][k]),
    )


def pvalues(statistics: np.ndarray, n_vars: int = 1) -> np.ndarray:
    """:func:`pvalue` for an array of statistics at once (the scanner has ~125k): MacKinnon's (1994) polynomials
    (:func:`mackinnon_table`) evaluated with numpy; equal to mackinnonp element by element."""
    table = mackinnon_table(n_vars)
    stats = np.asarray(statistics, dtype="float64")
    small = np.polyval(np.asarray(table.small)[::-1], stats)
    large = np.polyval(np.asarray(table.large)[::-1], stats)
    p = norm.cdf(np.where(stats <= table.star, small, large))
    p = np.where(stats > table.tau_max, 1.0, p)
    return np.where(stats < table.tau_min, 0.0, p)
