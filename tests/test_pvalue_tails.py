"""The Engle–Granger p-value's left tail (quant/unitroot.py): calibrated against the simulated null the scanner's
Benjamini–Hochberg rests on (tests/data/eg_null_tail.csv, written by bench/pvalue_tails.py), monotone, never 0, and
MacKinnon's where MacKinnon is calibrated."""

from __future__ import annotations

import csv
import math
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from statsmodels.tsa.adfvalues import mackinnonp

import analytics as A
from quant import unitroot
from quant.blas import one_blas_thread

TABLE = Path(__file__).parent / "data" / "eg_null_tail.csv"
TAIL_ERROR = 0.35  # README: the tail is within 35 % of the simulated null (or 2 standard errors) to p ≈ 1e-8


def _simulated() -> list[tuple[int, float, float, float]]:
    with TABLE.open(encoding="utf-8") as f:
        rows = [r for r in csv.reader(f) if r and not r[0].startswith("#")]
    return [(int(r[0]), float(r[1]), float(r[2]), float(r[3])) for r in rows[1:]]


def _walks(rng: np.random.Generator, bars: int, n: int) -> np.ndarray:
    w = np.cumsum(rng.standard_normal((bars, n)), axis=0)
    return (w - w.mean(0)) / w.std(0)


def test_lag0_statistic_is_the_engle_granger_dickey_fuller_of_the_ols_residual() -> None:
    rng = np.random.default_rng(1)
    raw = np.cumsum(rng.standard_normal((400, 5)), axis=0)
    z = (raw - raw.mean(0)) / raw.std(0)
    every, block = unitroot.eg_lag0_statistics(z), unitroot.eg_lag0_statistics(z[:, :2], z[:, 2:])
    for i, j in [(0, 1), (1, 0), (0, 3), (4, 2)]:
        x, y = raw[:, j], raw[:, i]
        xc = x - x.mean()
        resid = y - y.mean() - float(xc @ (y - y.mean())) / float(xc @ xc) * xc
        expected = unitroot.adf_fit(resid, 0, constant=False, criterion=None).statistic
        assert every[i, j] == pytest.approx(expected, rel=1e-9)
    assert block[0, 1] == pytest.approx(every[0, 3], rel=1e-12)
    assert np.isnan(np.diag(every)).all()


def test_tail_matches_the_simulated_null() -> None:
    rows = _simulated()
    assert {bars for bars, *_ in rows} >= {1_000}
    # BH's first threshold at 4.5 M pairs, 0.05/m ≈ 1.1e-8, lies one decade below the deepest point the simulation
    # estimates (README: the fit held out from that decade predicts it within 0.74–1.08×)
    assert min(p for *_, p, _ in rows) < 1e-7
    for bars, tau, p, se in rows:
        ours = unitroot.pvalue(tau, 2, nobs=bars)
        allowed = max(math.log1p(TAIL_ERROR), 2 * se / p)
        assert abs(math.log(ours / p)) <= allowed, (bars, tau, p, ours)


def test_tail_matches_a_fresh_simulation() -> None:
    # an independent draw (plain random walks, not the table's importance sampling): 40 universes of 500 walks of
    # 500 bars; pairs sharing walks are dependent, so 10 M draws estimate p = 1e-2 to ~3 % and 1e-3 to ~10 %
    rng = np.random.default_rng(20_240_601)
    statistics = one_blas_thread(unitroot.eg_lag0_statistics)  # small products: BLAS threads only wait when loaded
    draws = np.concatenate([statistics(_walks(rng, 500, 500))[~np.eye(500, dtype=bool)] for _ in range(40)])
    for tau, tolerance in ((-3.9, 0.12), (-4.5, 0.4)):
        simulated = float(np.mean(draws < tau))
        assert unitroot.pvalue(tau, 2, nobs=500) == pytest.approx(simulated, rel=tolerance)


@pytest.mark.parametrize("n_vars", range(1, 7))
@pytest.mark.parametrize("nobs", [None, 100, 1_000, 7_056, 100_000])
def test_pvalues_are_monotone_and_never_zero(n_vars: int, nobs: int | None) -> None:
    grid = np.linspace(-80.0, 10.0, 300_001)
    p = unitroot.pvalues(grid, n_vars, nobs)
    assert (np.diff(p) >= 0).all()
    assert p.min() >= unitroot.P_FLOOR > 0 and p.max() == 1.0
    assert np.isnan(unitroot.pvalues(np.array([np.nan]), n_vars, nobs)).all()
    assert unitroot.pvalue(-25.0, n_vars, nobs) > 0  # mackinnonp returns exactly 0 below τ = −18.86 (2 variables)


def test_agrees_with_mackinnon_where_mackinnon_is_calibrated() -> None:
    # MacKinnon's surface is fitted on p from 1e-4 to 0.9999; for p in 1e-3 … 0.5 the simulated tail is within 7 %
    # of it (MacKinnon is asymptotic: a few % low at 1,000 bars), and above τ = −3.5 it is MacKinnon's exactly
    for tau in np.linspace(-4.6, -0.5, 60):
        expected = mackinnonp(tau, regression="c", N=2)
        for nobs in (None, 1_000, 10_000):
            got = unitroot.pvalue(float(tau), 2, nobs)
            assert got == pytest.approx(expected, rel=0.07 if tau < unitroot.EG_TAIL_BLEND[1] else 1e-12)


def test_tail_grows_heavier_in_short_samples() -> None:
    # finite samples have heavier tails: the p-value of a given τ falls toward the asymptotic one as T grows
    taus = np.array([-4.5, -5.5, -6.5])
    by_size = [unitroot.pvalues(taus, 2, nobs) for nobs in (500, 2_000, 10_000)]
    assert (by_size[0] >= by_size[1]).all() and (by_size[1] >= by_size[2]).all()
    np.testing.assert_allclose(unitroot.pvalues(taus, 2, 10**9), unitroot.pvalues(taus, 2), rtol=1e-6)


def test_scan_p_values_are_positive_for_an_exactly_cointegrated_pair() -> None:
    # a spread of white noise gives τ ≈ −40: mackinnonp said p = 0, so q = 0 and the ranking was void
    rng = np.random.default_rng(3)
    index = pd.date_range("2024-01-01", periods=3_000, freq="1min", tz="UTC", name="time")
    x = 100 * np.exp(np.cumsum(rng.normal(0, 1e-3, 3_000)))
    prices = pd.DataFrame(
        {
            "AUSDT": x,
            "BUSDT": 2 * x + rng.normal(0, 1e-3, 3_000),
            "CUSDT": 50 * np.exp(np.cumsum(rng.normal(0, 1e-3, 3_000))),
        },
        index=index,
    )
    table = A.scan_pairs(prices)
    tested = table.loc[table["confirmed"]]  # unconfirmed pairs have no full-test p-value (NaN; 1 for BH)
    assert len(tested) >= 1 and (tested["pvalue"] > 0).all() and (table["qvalue"] > 0).all()
    assert table.iloc[0][["x", "y"]].tolist() in (["AUSDT", "BUSDT"], ["BUSDT", "AUSDT"])
