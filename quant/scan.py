"""The market scanner: every pair of a universe of aligned closes, screened at once, confirmed rigorously and ranked
with the false discovery rate controlled.

Why: statsmodels' coint costs ~0.35 s a pair, 12 hours for the ~125k pairs of 500 symbols. Here three matrix products
give the lag-0 Engle–Granger (Dickey–Fuller) statistic of every pair in both orientations; the pairs that pass a
lenient screen are confirmed with the full test the Pair Analytics tab uses (MAIC lag search over Schwert's bound,
quant/unitroot.py), which keeps its size when bid/ask bounce puts MA errors into a residual. Benjamini–Hochberg
(statsmodels' multipletests, fdr_bh) then runs over every pair tested, and the last part of the window re-tests the
selected pairs out of sample.
"""

from __future__ import annotations

import dataclasses
import enum
import math
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd
from statsmodels.stats.multitest import multipletests

from quant import unitroot
from quant.stationarity import half_life, hurst_exponent
from quant.vocabulary import SIGNIFICANCE, InsufficientData

SUMMARY_ATTR = "scan"  # the result's attrs key of its ScanSummary
CONFIRM_MARGIN = 20.0  # confirm pairs whose screen p-value is within 20× the screen's Benjamini–Hochberg cutoff
SCAN_COLUMNS = (
    "x",
    "y",
    "beta",
    "alpha",
    "pvalue",
    "pvalue_y_on_x",
    "pvalue_x_on_y",
    "qvalue",
    "selected",
    "confirmed",
    "half_life",
    "correlation",
    "spread_vol",
    "crossings_per_day",
    "hurst",
    "oos_pvalue",
    "oos_confirmed",
    "n_bars",
)


class ExclusionReason(enum.StrEnum):
    """Why the scanner set a symbol aside before pairing it."""

    NO_CLOSES = "no_closes"  # no close anywhere in the window
    STOPPED_TRADING = "stopped_trading"  # no close in the window's last 1 % (delisted or halted)
    LISTED_RECENTLY = "listed_recently"  # too little history in the formation window
    NON_POSITIVE = "non_positive"  # a price ≤ 0 in the formation window
    CONSTANT = "constant"  # constant over the formation window (halted)


@dataclass(frozen=True)
class ScanExclusion:
    """A symbol the scan left out: the reason, and the sentence a user reads (with its numbers)."""

    reason: ExclusionReason
    detail: str

    def __str__(self) -> str:
        return self.detail


@dataclass(frozen=True)
class ScanSummary:
    """What a scan tested and what it left out, and why (kept in the result's ``attrs["scan"]``; read it with
    :func:`scan_summary`)."""

    symbols: int
    pairs_tested: int
    pairs_confirmed: int
    pairs_selected: int
    pairs_short_overlap: int
    formation_bars: int
    validation_bars: int
    excluded: dict[str, ScanExclusion] = field(default_factory=dict)


def scan_summary(table: pd.DataFrame) -> ScanSummary:
    """The :class:`ScanSummary` a :func:`scan_pairs` result carries."""
    summary = table.attrs.get(SUMMARY_ATTR)
    if not isinstance(summary, ScanSummary):
        raise ValueError("this table is not a scan_pairs result (it carries no scan summary)")
    return summary


@dataclass(frozen=True)
class ConfirmedPair:
    """The full Engle–Granger test of a screened pair in both orientations (:func:`_describe`), oriented y on x where
    that p is the smaller, and what a trader ranks it by."""

    swap: bool  # the reverse regression rejected more strongly: x and y swapped
    beta: float
    alpha: float
    pvalue_y_on_x: float
    pvalue_x_on_y: float
    half_life: float
    spread_vol: float
    crossings_per_day: float
    hurst: float
    oos_pvalue: float

    @property
    def pvalue(self) -> float:
        """The weaker orientation's p-value: the pair must reject both ways."""
        return max(self.pvalue_y_on_x, self.pvalue_x_on_y)

    def numbers(self) -> tuple[float, ...]:
        """Its values for the table's DESCRIBED_COLUMNS, in that order."""
        return tuple(float(getattr(self, name)) for name in DESCRIBED_COLUMNS)


# the columns a confirmed pair fills (its number fields; the rest of SCAN_COLUMNS come from the screen)
DESCRIBED_COLUMNS = tuple(f.name for f in dataclasses.fields(ConfirmedPair) if f.name != "swap")


@dataclass(frozen=True)
class _Universe:
    """Formation closes (forward-filled after each listing), each symbol's first usable row, the validation closes."""

    formation: np.ndarray
    validation: np.ndarray
    symbols: list[str]
    start: np.ndarray
    excluded: dict[str, ScanExclusion]


def _universe(prices: pd.DataFrame, validation_fraction: float, min_overlap: int) -> _Universe:
    """Split the window, forward-fill bars without trades, and set aside symbols that cannot be tested: constant
    over the formation window (halted), no close in the last 1 % of the window (delisted), or too little history."""
    n = len(prices)
    n_val = int(n * validation_fraction)
    n_form = n - n_val
    values = prices.to_numpy(dtype="float64", copy=True)
    excluded: dict[str, ScanExclusion] = {}
    keep: list[int] = []
    starts: list[int] = []
    tail = max(1, n // 100)
    grid = max(1, n_form // 100)  # listings are grouped on a grid of 1 % of the formation window (fewer groups)
    for k, name in enumerate(map(str, prices.columns)):
        col = values[:, k]
        valid = np.flatnonzero(np.isfinite(col))
        if valid.size == 0:
            excluded[name] = ScanExclusion(ExclusionReason.NO_CLOSES, "no closes in the window")
        elif valid[-1] < n - tail:
            excluded[name] = ScanExclusion(
                ExclusionReason.STOPPED_TRADING, f"stopped trading at {prices.index[valid[-1]]} (delisted or halted)"
            )
        elif n_form - valid[0] < min_overlap:
            excluded[name] = ScanExclusion(
                ExclusionReason.LISTED_RECENTLY,
                f"{max(n_form - valid[0], 0):,} bars of history in the formation window, "
                f"fewer than the {min_overlap:,} a test needs (listed recently)",
            )
        elif (col[valid[0] : n_form] <= 0).any():
            excluded[name] = ScanExclusion(ExclusionReason.NON_POSITIVE, "non-positive prices")
        else:
            filled = pd.Series(col[valid[0] :]).ffill().to_numpy()
            if np.ptp(filled[: n_form - valid[0]]) == 0:
                excluded[name] = ScanExclusion(ExclusionReason.CONSTANT, "constant over the formation window (halted)")
                continue
            values[valid[0] :, k] = filled
            keep.append(k)
            starts.append(min(-(-int(valid[0]) // grid) * grid, n_form - min_overlap))
    return _Universe(
        values[:n_form, keep],
        values[n_form:, keep],
        [str(prices.columns[k]) for k in keep],
        np.array(starts, dtype=int),
        excluded,
    )


def _df_statistics(z_u: np.ndarray, z_v: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Lag-0 Dickey–Fuller t-statistics of the OLS residuals of every u on every v and every v on every u, from
    standardised columns sharing one sample.

    With e = z_u − b·z_v (both mean 0, b their correlation), Σe_{t−1}², Σe_{t−1}Δe_t and ΣΔe_t² are quadratic forms
    in the lag/lag, lag/diff and diff/diff cross products. The lag/diff ones enter only as their sum, which telescopes
    (Σ u_{t−1}Δv_t + Δu_t v_{t−1} + Δu_tΔv_t = u_T v_T − u_0 v_0), so two matrix products serve every pair; when z_u
    is z_v they are BLAS's symmetric product (half the work) and the reverse orientation is the transpose."""
    t = z_u.shape[0]
    lag_u, lag_v = z_u[:-1], z_v[:-1]
    d_u = np.diff(z_u, axis=0)
    d_v = d_u if z_v is z_u else np.diff(z_v, axis=0)
    s_uv, g_uv = lag_u.T @ lag_v, d_u.T @ d_v
    m_sum = np.outer(z_u[-1], z_v[-1]) - np.outer(z_u[0], z_v[0]) - g_uv  # Σ u_{t−1}Δv_t + Δu_t v_{t−1}
    s_u, s_v = (lag_u * lag_u).sum(0), (lag_v * lag_v).sum(0)
    m_u, m_v = (lag_u * d_u).sum(0), (lag_v * d_v).sum(0)
    g_u, g_v = (d_u * d_u).sum(0), (d_v * d_v).sum(0)
    corr = (s_uv + np.outer(z_u[-1], z_v[-1])) / t

    def tstat(b: np.ndarray, s_yy: Any, s_xx: Any, m_yy: Any, m_xx: Any, g_yy: Any, g_xx: Any) -> np.ndarray:
        den = s_yy - 2 * b * s_uv + b * b * s_xx
        num = m_yy - b * m_sum + b * b * m_xx
        gam = num / den
        rss = g_yy - 2 * b * g_uv + b * b * g_xx - gam * num
        return np.asarray(gam / np.sqrt(np.maximum(rss, 1e-300) / (t - 2) / den))

    col, row = (slice(None), None), (None, slice(None))
    with np.errstate(divide="ignore", invalid="ignore"):  # a symbol against itself (dropped by the caller)
        u_on_v = tstat(corr, s_u[col], s_v[row], m_u[col], m_v[row], g_u[col], g_v[row])
        v_on_u = u_on_v.T if z_v is z_u else tstat(corr, s_v[row], s_u[col], m_v[row], m_u[col], g_v[row], g_u[col])
    return u_on_v, v_on_u


def _standardise(block: np.ndarray) -> np.ndarray:
    return (block - block.mean(0)) / block.std(0)


def _screen(u: _Universe) -> pd.DataFrame:
    """Every pair with enough common history: the lag-0 statistics of both orientations on their common sample.
    Symbols are grouped by first usable row; each group is paired with every symbol listed no later, on the rows
    from the group's start."""
    frames = []
    order = np.argsort(u.start, kind="stable")
    for s in np.unique(u.start):
        new = np.flatnonzero(u.start == s)
        old = order[u.start[order] <= s]
        z = _standardise(u.formation[s:, old])
        pos = {int(k): i for i, k in enumerate(old)}
        every = np.array_equal(new, old)  # one listing group: z itself, so the products are symmetric (BLAS syrk)
        z_new = z if every else z[:, [pos[int(k)] for k in new]]
        a, b = _df_statistics(z_new, z)
        rets = _standardise(np.diff(np.log(u.formation[s:, old]), axis=0))
        rcorr = (rets if every else rets[:, [pos[int(k)] for k in new]]).T @ rets / rets.shape[0]
        ii, jj = np.meshgrid(np.arange(new.size), np.arange(old.size), indexing="ij")
        sym_u, sym_v = new[ii.ravel()], old[jj.ravel()]
        keep = (sym_u != sym_v) & ((u.start[sym_v] < s) | (sym_u < sym_v))  # each unordered pair once
        frames.append(
            pd.DataFrame(
                {
                    "u": sym_u[keep],
                    "v": sym_v[keep],
                    "t_u_on_v": a.ravel()[keep],
                    "t_v_on_u": b.ravel()[keep],
                    "correlation": rcorr.ravel()[keep],
                    "n_bars": u.formation.shape[0] - s,
                    "start": s,
                }
            )
        )
    return pd.concat(frames, ignore_index=True)


def _to_confirm(screen: np.ndarray, fdr: float, screen_p: float, max_confirm: int) -> np.ndarray:
    """The pairs worth the full test, best screen p-value first: those within CONFIRM_MARGIN times the
    Benjamini–Hochberg cutoff the screen itself implies (at least one discovery's), at most `screen_p`, at most
    `max_confirm` of them. A pair further out would need the lag search to shrink its p-value by that factor to be
    selected, which an OU spread's white innovations do not allow."""
    m = screen.size
    order = np.argsort(screen, kind="stable")
    ranked = screen[order]
    passing = np.flatnonzero(ranked <= fdr * np.arange(1, m + 1) / m)
    cutoff = fdr * max(passing[-1] + 1 if passing.size else 1, 1) / m
    limit = min(screen_p, CONFIRM_MARGIN * cutoff)
    return order[: min(int(np.searchsorted(ranked, limit, side="right")), max_confirm)]


def bh_qvalues(p: np.ndarray) -> np.ndarray:
    """Benjamini–Hochberg q-values (statsmodels' multipletests, fdr_bh): q_(i) = min over k ≥ i of p_(k)·m/k,
    capped at 1."""
    return np.asarray(multipletests(p, method="fdr_bh")[1], dtype="float64")


def _eg(x: np.ndarray, y: np.ndarray) -> tuple[float, float, float, np.ndarray]:
    """Engle–Granger of y on x exactly as analytics.engle_granger: (p, β, α, residual)."""
    xc = x - x.mean()
    beta = float(xc @ (y - y.mean())) / float(xc @ xc)
    alpha = float(y.mean() - beta * x.mean())
    resid = y - alpha - beta * x
    fit = unitroot.adf_fit(resid, constant=False)
    return unitroot.pvalue(fit.statistic, 2), beta, alpha, resid


def _describe(x: np.ndarray, y: np.ndarray, xv: np.ndarray, yv: np.ndarray, bar_seconds: float) -> ConfirmedPair:
    """The confirmed pair's Engle–Granger in both orientations, oriented y on x where that p is the smaller, and what
    a trader ranks by: half-life, spread volatility (share of y), mean crossings per day, Hurst, and the out-of-sample
    ADF of the validation window's residual under the formation's (α, β) (no estimation there: plain ADF values)."""
    forward, reverse = _eg(x, y), _eg(y, x)
    swap = reverse[0] < forward[0]
    if swap:
        x, y, xv, yv = y, x, yv, xv
        forward, reverse = reverse, forward
    p_yx, beta, alpha, resid = forward
    centred = resid - resid.mean()
    days = resid.size * bar_seconds / 86_400
    descriptive = []
    for fn in (half_life, hurst_exponent):
        try:
            descriptive.append(float(fn(resid)))
        except InsufficientData:
            descriptive.append(math.nan)
    oos_pvalue = math.nan
    if xv.size >= 30 and np.isfinite(xv).all() and np.isfinite(yv).all():
        fit = unitroot.adf_fit(yv - alpha - beta * xv, constant=True)
        oos_pvalue = unitroot.pvalue(fit.statistic)
    return ConfirmedPair(
        swap=bool(swap),
        beta=beta,
        alpha=alpha,
        pvalue_y_on_x=p_yx,
        pvalue_x_on_y=reverse[0],
        half_life=descriptive[0],
        spread_vol=float(resid.std() / abs(y.mean())),
        crossings_per_day=float(np.count_nonzero(np.diff(np.sign(centred)) != 0) / days),
        hurst=descriptive[1],
        oos_pvalue=oos_pvalue,
    )


def scan_pairs(
    prices: pd.DataFrame,
    *,
    validation_fraction: float = 0.3,
    fdr: float = 0.05,
    min_overlap: int = 1_440,
    screen_p: float = 0.05,
    max_confirm: int = 2_000,
) -> pd.DataFrame:
    """Scan every pair of `prices` (aligned closes: a sorted UTC DatetimeIndex, one column per symbol, NaN before a
    symbol trades) for cointegration. Returns one row per tested pair (columns :data:`SCAN_COLUMNS`), best first,
    with a :class:`ScanSummary` in ``attrs["scan"]``.

    * Formation = the first 1 − validation_fraction of the rows, validation = the rest.
    * Screen: lag-0 Engle–Granger statistic of every pair in both orientations on its common formation rows; a pair
      counts by the weaker orientation (it must reject both ways, so its p-value does not depend on an arbitrary
      choice of y). The pairs whose screen p-value is within CONFIRM_MARGIN times the screen's own
      Benjamini–Hochberg cutoff (and ≤ `screen_p`; at most `max_confirm`) are confirmed with the full test the Pair
      Analytics tab runs (MAIC lag search); a pair not confirmed keeps its screen p-value.
    * ``pvalue`` = max(pvalue_y_on_x, pvalue_x_on_y); (x, y) is oriented y on x where that p is the smaller, and
      beta/alpha are that regression's; ``qvalue`` is Benjamini–Hochberg over all pairs tested; ``selected`` means
      qvalue ≤ `fdr`. ``oos_confirmed``: the validation residual under the formation's (α, β) rejects a unit root at
      5 %. half_life is in bars, spread_vol a share of y's mean price.
    """
    _check_prices(prices)
    if not 0 <= validation_fraction < 1:
        raise ValueError(f"validation_fraction must be in [0, 1), got {validation_fraction}")
    if not 0 < fdr < 1 or not 0 < screen_p <= 1:
        raise ValueError(f"fdr must be in (0, 1) and screen_p in (0, 1], got {fdr}, {screen_p}")
    if min_overlap < 100:
        raise ValueError(f"min_overlap must be at least 100 bars, got {min_overlap}")
    u = _universe(prices, validation_fraction, min_overlap)
    if len(u.symbols) < 2:
        raise InsufficientData(
            f"the scan needs 2 testable symbols, have {len(u.symbols)}: "
            + "; ".join(f"{k}: {v.detail}" for k, v in u.excluded.items())
        )
    pairs = _screen(u)
    recent = sum(why.reason is ExclusionReason.LISTED_RECENTLY for why in u.excluded.values())
    short = recent * len(u.symbols) + recent * (recent - 1) // 2  # pairs with a recent listing: too little overlap
    weaker = np.maximum(pairs["t_u_on_v"].to_numpy(), pairs["t_v_on_u"].to_numpy())
    pvalue = unitroot.pvalues(weaker, 2, nobs=pairs["n_bars"].to_numpy())
    confirm = _to_confirm(pvalue, fdr, screen_p, max_confirm)
    bar_seconds = float(np.median(np.diff(prices.index.as_unit("ns").asi8))) / 1e9  # type: ignore[attr-defined]  # checked: a DatetimeIndex
    first, second, start = (pairs[c].to_numpy() for c in ("u", "v", "start"))
    described = {}
    for k in confirm.tolist():
        i, j, s = int(first[k]), int(second[k]), int(start[k])
        described[k] = _describe(
            u.formation[s:, j], u.formation[s:, i], u.validation[:, j], u.validation[:, i], bar_seconds
        )
        pvalue[k] = described[k].pvalue
    table = _table(u, pairs, pvalue, described)
    table["qvalue"] = bh_qvalues(table["pvalue"].to_numpy())
    table["selected"] = table["qvalue"] <= fdr
    table["oos_confirmed"] = table["oos_pvalue"] < SIGNIFICANCE
    table = table.sort_values(["selected", "qvalue", "pvalue"], ascending=[False, True, True], kind="stable")
    table = table.loc[:, list(SCAN_COLUMNS)].reset_index(drop=True)
    table.attrs[SUMMARY_ATTR] = ScanSummary(
        len(prices.columns),
        len(table),
        len(described),
        int(table["selected"].sum()),
        short,
        u.formation.shape[0],
        u.validation.shape[0],
        u.excluded,
    )
    return table


def _table(u: _Universe, pairs: pd.DataFrame, pvalue: np.ndarray, described: dict[int, ConfirmedPair]) -> pd.DataFrame:
    """One row per pair; pairs not confirmed keep their screen p-value and no descriptive numbers."""
    first, second = pairs["u"].to_numpy(), pairs["v"].to_numpy()
    swap = np.zeros(len(pairs), dtype=bool)
    extra = pd.DataFrame(index=pairs.index, columns=list(DESCRIBED_COLUMNS), dtype="float64")
    for k, row in described.items():
        swap[k] = row.swap
        extra.loc[k] = row.numbers()
    # the confirmed orientation: y = u regressed on x = v unless the reverse regression rejected more strongly
    xi, yi = np.where(swap, first, second), np.where(swap, second, first)
    symbols = np.array(u.symbols, dtype=object)
    table = pd.DataFrame(
        {
            "x": symbols[xi],
            "y": symbols[yi],
            "pvalue": pvalue,
            "confirmed": pairs.index.isin(list(described)),
            "correlation": pairs["correlation"].to_numpy(),
            "n_bars": pairs["n_bars"].to_numpy(),
        }
    )
    return pd.concat([table, extra], axis=1)


def _check_prices(prices: Any) -> None:
    """prices must be a DataFrame of ≥ 2 uniquely named numeric columns on a sorted, unique DatetimeIndex."""
    if not isinstance(prices, pd.DataFrame):
        raise ValueError(f"scan_pairs needs a DataFrame of closes, got {type(prices).__name__}")
    if prices.shape[1] < 2:
        raise ValueError(f"scan_pairs needs at least 2 symbols, got {prices.shape[1]}")
    dup = sorted({str(c) for c in prices.columns[prices.columns.duplicated()]})
    if dup:
        raise ValueError(f"scan_pairs: duplicate symbol columns {dup}")
    if not isinstance(prices.index, pd.DatetimeIndex):
        raise ValueError("scan_pairs needs a DatetimeIndex (bar times)")
    if not prices.index.is_monotonic_increasing or not prices.index.is_unique:
        raise ValueError("scan_pairs needs sorted, unique bar times")
    bad = [str(c) for c in prices.columns if not pd.api.types.is_numeric_dtype(prices[c])]
    if bad:
        raise ValueError(f"scan_pairs: non-numeric columns {bad}")
