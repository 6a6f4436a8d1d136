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
from statsmodels.tsa.adfvalues import mackinnoncrit

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


def pvalue(statistic: float, n_vars: int = 1, nobs: int | None = None) -> float:
    """p-value of an ADF (n_vars=1) or Engle–Granger (n_vars=k) statistic with a constant: :func:`pvalues` for one
    statistic."""
    return float(pvalues(np.asarray([statistic], dtype="float64"), n_vars, nobs)[0])


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


# The Engle–Granger (2 variables, constant) left tail, fitted by `python bench/pvalue_tails.py fit` to the
# importance-sampled null of the scanner's lag-0 statistic at 250 … 10,000 bars (4.6 G draws; the simulated points in
# tests/data/eg_null_tail.csv): ln p = a + b·x + c·x² with x = −τ, each coefficient θ∞ + θ₁/T for T bars (θ∞ when
# nobs is not given). The quadratic is the Gaussian-type decay the small-ball probability of Brownian motion gives a
# Dickey–Fuller statistic; within 0.56–1.31× of every simulated point the table keeps (README, Performance).
EG_TAIL: tuple[tuple[float, float], tuple[float, float], tuple[float, float]] = (
    (-2.2342359, 779.44046),
    (1.9434306, -411.47439),
    (-0.65415724, 56.11258),
)
EG_TAIL_BLEND = (-3.75, -3.5)  # MacKinnon above −3.5, the simulated tail below −3.75, ln p blended in between
EG_TAIL_MIN_NOBS = 100  # shorter samples use the 100-bar tail (the fit's 1/T term extrapolated from 250)
P_FLOOR = 1e-300  # the smallest p-value returned (never 0: ties at 0 would void the ranking)


def _mackinnon(stats: np.ndarray, n_vars: int) -> np.ndarray:
    """MacKinnon's (1994) polynomials (:func:`mackinnon_table`) as mackinnonp evaluates them, made non-decreasing
    where mackinnonp is not: below the small-p quadratic's vertex (~tau_min, where mackinnonp drops to 0) the value at
    the vertex (~1e-29 … 1e-63); just above `star`, where the large-p polynomial starts below the small-p one (a step
    down of ≤ 0.4 % in p for 2 and 6 variables), the value at star; near tau_max, past the large-p cubic's peak (4 and
    5 variables, within 0.01 of tau_max), the peak's value."""
    table = mackinnon_table(n_vars)
    small, large = np.polynomial.Polynomial(table.small), np.polynomial.Polynomial(table.large)
    vertex = max(table.tau_min, float(small.deriv().roots()[0].real))
    peaks = [float(r.real) for r in large.deriv().roots() if abs(r.imag) < 1e-12]
    peaks = [r for r in peaks if table.star < r < table.tau_max]
    below = small(np.maximum(stats, vertex))
    above = np.maximum(large(np.minimum(stats, min(peaks, default=table.tau_max))), small(table.star))
    p = norm.cdf(np.where(stats <= table.star, below, above))
    return np.asarray(np.where(stats > table.tau_max, 1.0, p))


def eg_tail_log_pvalue(stats: np.ndarray, nobs: np.ndarray | int | None = None) -> np.ndarray:
    """ln p of the simulated Engle–Granger (2 variables) left tail at statistics τ and sample sizes nobs (None:
    asymptotic), :data:`EG_TAIL`; decreasing in −τ on the tail's range (x ≥ 3.5)."""
    inv = 0.0 if nobs is None else 1.0 / np.maximum(np.asarray(nobs, dtype="float64"), EG_TAIL_MIN_NOBS)
    a, b, c = (inf + one * inv for inf, one in EG_TAIL)
    x = -np.asarray(stats, dtype="float64")
    return np.asarray(a + x * (b + c * x))


def pvalues(statistics: np.ndarray, n_vars: int = 1, nobs: np.ndarray | int | None = None) -> np.ndarray:
    """p-values of ADF (n_vars=1) or Engle–Granger (n_vars=k) statistics with a constant, for an array at once (the
    scanner has millions); never 0 (at least :data:`P_FLOOR`), non-decreasing in the statistic.

    MacKinnon's (1994) polynomials (:func:`mackinnon_table`, equal to mackinnonp) above τ = −3.5. For Engle–Granger
    with 2 variables (the scanner's pairs) the left tail comes from the simulated null instead (:data:`EG_TAIL`,
    for `nobs` bars; None = asymptotic), where MacKinnon extrapolates and returns exactly 0 below τ = −18.86:
    Benjamini–Hochberg over 4.5 M pairs needs p ≈ 1e-8. Its error is measured by bench/pvalue_tails.py (README,
    Market scanner). Other n_vars keep MacKinnon's tail, held at its value at tau_min below tau_min."""
    stats = np.asarray(statistics, dtype="float64")
    sizes = None
    if nobs is not None:
        stats, sizes = np.broadcast_arrays(stats, np.asarray(nobs, dtype="float64"))
    p = _mackinnon(stats, n_vars)
    if n_vars == 2:
        lo, hi = EG_TAIL_BLEND
        tail = stats < hi
        if tail.any():
            sel = stats[tail]
            log_tail = eg_tail_log_pvalue(sel, None if sizes is None else sizes[tail])
            u = np.clip((sel - lo) / (hi - lo), 0.0, 1.0)
            weight = u * u * (3 - 2 * u)  # smoothstep: 0 at lo (the tail alone), 1 at hi (MacKinnon alone)
            p[tail] = np.exp((1 - weight) * log_tail + weight * np.log(np.maximum(p[tail], P_FLOOR)))
    return np.asarray(np.maximum(p, P_FLOOR))


def eg_lag0_statistics(z_u: np.ndarray, z_v: np.ndarray | None = None) -> np.ndarray:
    """Lag-0 Engle–Granger (Dickey–Fuller) t-statistics of standardised columns (each mean 0, standard deviation 1,
    one shared sample), as the scanner's screen computes them: entry [i, j] tests the OLS residual of z_u's column i
    on z_v's column j (constant in the regression, none in the DF regression, T − 2 degrees of freedom). Without z_v,
    every ordered pair of z_u's columns (the diagonal NaN).

    With e = u − ρ·v (ρ their correlation), Σe²_{t−1}, Σe_{t−1}Δe_t and ΣΔe_t² are quadratic forms in the lag and
    difference cross products; the lag/difference ones enter only as their sum, which telescopes
    (Σ u_{t−1}Δv_t + Δu_t v_{t−1} + Δu_tΔv_t = u_T v_T − u_0 v_0), so two matrix products serve every pair (BLAS's
    symmetric product when z_v is z_u)."""
    same = z_v is None or z_v is z_u
    z_v = z_u if z_v is None else z_v
    t = z_u.shape[0]
    lag_u, lag_v = z_u[:-1], z_v[:-1]
    d_u = np.diff(z_u, axis=0)
    d_v = d_u if same else np.diff(z_v, axis=0)
    s, g = lag_u.T @ lag_v, d_u.T @ d_v
    last = np.outer(z_u[-1], z_v[-1])
    cross = last - np.outer(z_u[0], z_v[0]) - g  # Σ u_{t−1}Δv_t + Δu_t v_{t−1}
    s_u, g_u, m_u = (lag_u * lag_u).sum(0), (d_u * d_u).sum(0), (lag_u * d_u).sum(0)
    s_v, g_v, m_v = (lag_v * lag_v).sum(0), (d_v * d_v).sum(0), (lag_v * d_v).sum(0)
    rho = (s + last) / t
    col, row = (slice(None), None), (None, slice(None))
    with np.errstate(divide="ignore", invalid="ignore"):
        den = s_u[col] - 2 * rho * s + rho * rho * s_v[row]
        num = m_u[col] - rho * cross + rho * rho * m_v[row]
        gam = num / den
        rss = g_u[col] - 2 * rho * g + rho * rho * g_v[row] - gam * num
        tau = np.asarray(gam / np.sqrt(np.maximum(rss, 1e-300) / (t - 2) / den))
    if same:
        np.fill_diagonal(tau, np.nan)
    return tau
