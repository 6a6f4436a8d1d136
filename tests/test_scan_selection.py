"""What the scanner selects (issue 23): only pairs the full test confirmed and that hold out of sample, one
discovery per group of pairs sharing a leg, and nothing on null universes with bid/ask bounce, tick grids, heavy tails
and GARCH increments. Universes from tests/universe_fixtures.py (fixed seeds); the full-size studies are
bench/scan_selection.py."""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest
from universe_fixtures import VOL, found_pairs, market_universe, null_universe, ou, score

import analytics as A
from quant import unitroot
from quant.scan import SCAN_COST_BPS
from quant.scan_describe import describe_pair, noisy_spread, robust_hurst
from quant.scan_screen import iv_statistics, standardise, symbol_noise


@pytest.fixture(scope="module")
def bounce_market():
    """160 symbols × 7 days: market and sector factors, 8 planted pairs (2 with a bouncing y leg), 12 bouncing walks
    (0.3 % noise, 4 of them 1.5 %), 4 on a one-tick grid, 6 late listings, a halted symbol, 4 trap pairs."""
    u = market_universe(
        160,
        10_080,
        seed=23,
        n_planted=8,
        trap_pairs=4,
        n_late=6,
        n_bounce=12,
        strong_bounce=4,
        bounce_planted=2,
        n_tick=4,
    )
    return u, A.scan_pairs(u.prices)


def test_bounce_market_recall_and_false_share(bounce_market) -> None:
    u, table = bounce_market
    s = score(table, u.planted)
    assert s.recall >= 0.9 and s.false_share <= 0.1 and s.false_lead_share <= 0.1, s
    summary = A.scan_summary(table)
    assert summary.pairs_selected == s.selected and summary.pairs_groups == s.leads
    assert summary.pairs_sent == summary.pairs_confirmed + summary.pairs_unconfirmed
    assert summary.pairs_sent < 0.02 * summary.pairs_tested  # the screen sends few pairs to the full test
    excluded = {name: why.reason for name, why in summary.excluded.items()}
    assert all(excluded[name] is A.ExclusionReason.STOPPED_TRADING for name in u.halted)


def test_selected_means_confirmed_significant_and_out_of_sample(bounce_market) -> None:
    _, table = bounce_market
    sel = table.loc[table["selected"]]
    assert not sel.empty
    assert sel["confirmed"].all() and sel["oos_confirmed"].all() and (sel["qvalue"] <= 0.05).all()
    assert table.loc[~table["confirmed"], "pvalue"].isna().all()
    assert table["selected"].iloc[: len(sel)].all()  # selected first, each group's lead first
    assert (sel["group"] > 0).all() and sel.groupby("group")["lead"].first().all()


def test_bouncing_symbols_are_flagged_and_their_pairs_described_honestly(bounce_market) -> None:
    u, table = bounce_market
    summary = A.scan_summary(table)
    tested = set(summary.noise)
    assert set(summary.noisy) == u.bounce & tested  # every bounce and tick-grid symbol, and no other
    for name in summary.noisy:
        assert summary.noise[name].autocorr < -0.1 and summary.noise[name].roll_spread > 0
    flagged = table["noisy_x"] | table["noisy_y"]
    assert set(table.loc[flagged, "x"]) | set(table.loc[flagged, "y"]) >= set(summary.noisy)
    noisy_planted = [pair for pair in u.planted if pair & set(summary.noisy)]
    assert len(noisy_planted) == 2
    formation = u.prices.iloc[: summary.formation_bars]
    for pair in noisy_planted:
        row = table.loc[[frozenset(p) == pair for p in zip(table["x"], table["y"])]].iloc[0]
        assert row["selected"]
        truth = u.half_lives[pair]
        assert truth / 1.6 < row["half_life"] < truth * 1.6, (row["half_life"], truth)
        phi = 0.5 ** (1 / truth)
        expected = math.acos(phi) / math.pi * 1_440  # mean crossings a day of the AR(1) spread without the bounce
        assert expected / 1.6 < row["crossings_per_day"] < expected * 1.6, (row["crossings_per_day"], expected)
        resid = formation[row["y"]] - row["alpha"] - row["beta"] * formation[row["x"]]
        raw = np.count_nonzero(np.diff(np.sign(resid - resid.mean())) != 0) / (len(resid) / 1_440)
        assert raw > 2 * expected  # what the bounce makes of the raw spread: the honest estimate is needed


def test_echoes_of_a_planted_leg_are_folded_under_one_lead() -> None:
    """A market factor and spreads of 0.5 % of price: a planted y leg pairs 'significantly' with unrelated symbols
    (the full test rejects them; so does a reference Engle–Granger): they are echoes, never separate discoveries."""
    u = market_universe(
        120, 10_080, seed=2, n_planted=6, spread_sd=(0.005, 0.005), n_late=0, n_halted=0, n_bounce=0, trap_pairs=0
    )
    table = A.scan_pairs(u.prices)
    s = score(table, u.planted)
    assert s.recall == 1.0 and s.false_lead_share == 0.0 and s.false_share <= 0.1, s
    grouped = table.loc[table["group"] > 0]
    echoes = grouped.loc[~grouped["lead"]]
    summary = A.scan_summary(table)
    assert len(echoes) == summary.pairs_echoes > 0  # the test rejected them: they are shown, folded
    assert (echoes["qvalue"] <= 0.05).all() and (echoes["oos_confirmed"]).all()
    leads = grouped.loc[grouped["lead"]].set_index("group")
    for _, echo in echoes.iterrows():
        lead = leads.loc[echo["group"]]
        assert {echo["x"], echo["y"]} & {lead["x"], lead["y"]}
    assert (leads["echoes"] == grouped.groupby("group").size().loc[leads.index] - 1).all()
    assert found_pairs(table) - u.planted <= found_pairs(echoes)  # a false selection is never a lead


def test_null_universes_with_bounce_heavy_tails_and_garch_select_almost_nothing() -> None:
    """20 null universes (60 independent walks: normal, Student-t 3 and GARCH increments; 30 % bounce at 5× the
    increment sd; 10 % on a one-tick grid): at FDR 5 % a universe selects anything at most ~5 % of the time, so at
    most 1 of the 20 may (measured: none; bench/scan_selection.py --study null: none of 100 universes of 100 walks).
    The selection the issue measured (a screen p-value past the confirmation cap) selected hundreds in every one."""
    with_any, sent = 0, []
    for seed in range(20):
        u = null_universe(60, 5_000, seed=1_000 + seed, tick_share=0.1)
        table = A.scan_pairs(u.prices)
        summary = A.scan_summary(table)
        with_any += bool(table["selected"].any())
        sent.append(summary.pairs_sent)
        assert set(summary.noisy) >= {name for name in u.bounce if summary.noise[name].autocorr < -0.2}
    assert with_any <= 1, with_any
    assert max(sent) <= 30, sent  # the screen is not flooded by bounce pairs


def test_confirmation_is_bounded_by_time_and_reports_what_it_left() -> None:
    u = market_universe(60, 5_000, seed=5, n_planted=4, n_late=0, n_halted=0, n_bounce=4, trap_pairs=0)
    full = A.scan_pairs(u.prices)
    assert A.scan_summary(full).pairs_sent >= 4 and A.scan_summary(full).pairs_unconfirmed == 0
    late = A.scan_summary(A.scan_pairs(u.prices, confirm_seconds=1e-9))
    assert late.pairs_confirmed == 0 and late.pairs_unconfirmed == late.pairs_sent  # the budget ran out at once
    capped = A.scan_pairs(u.prices, max_confirm=2)
    summary = A.scan_summary(capped)
    assert summary.pairs_confirmed == 2 and summary.pairs_unconfirmed == summary.pairs_sent - 2
    assert capped.loc[capped["selected"], "confirmed"].all() and capped["selected"].sum() <= 2
    assert (capped.loc[~capped["confirmed"], "qvalue"] == 1.0).all()  # p = 1 for every pair not confirmed
    assert A.scan_summary(full).pairs_selected > summary.pairs_selected  # the cap changed what was confirmed only
    with pytest.raises(ValueError, match="confirm_seconds"):
        A.scan_pairs(u.prices, confirm_seconds=0)


def test_screen_statistics_equal_the_per_pair_formula() -> None:
    rng = np.random.default_rng(3)
    walks = np.cumsum(rng.normal(0, 1, (900, 5)), axis=0)
    walks[:, 1] = walks[:, 0] + ou(rng, 900, 5.0, 3.0) + rng.normal(0, 2.0, 900)
    z = standardise(walks)
    u_on_v, v_on_u, corr = iv_statistics(z, np.array([1, 3]))

    def direct(zy: np.ndarray, zx: np.ndarray) -> float:
        c = float(zy @ zx) / zy.size
        e = zy - c * zx
        lag1, lag2, diff = e[1:-1], e[:-2], e[2:] - e[1:-1]
        gamma = float(lag2 @ diff) / float(lag2 @ lag1)
        res = diff - gamma * lag1
        before = (lag1 - lag2) - gamma * lag2  # the residual one row earlier (its first row uses e_0, e_1)
        lrv = max(float(res @ res) + 2 * float(res @ before), 0.05 * float(res @ res)) / res.size
        return gamma * math.sqrt(float(lag1 @ lag1) / lrv)

    for a, i in enumerate((1, 3)):
        for j in (0, 2, 4) if i == 3 else (0, 2, 3, 4):
            assert u_on_v[a, j] == pytest.approx(direct(z[:, i], z[:, j]), rel=1e-9)
            assert v_on_u[a, j] == pytest.approx(direct(z[:, j], z[:, i]), rel=1e-9)
            assert corr[a, j] == pytest.approx(float(np.corrcoef(z[:, i], z[:, j])[0, 1]), rel=1e-9)
    assert unitroot.pvalue(max(u_on_v[0, 0], v_on_u[0, 0]), 2) < 1e-6  # the planted pair, through its bounce


def test_screen_keeps_its_size_under_bounce() -> None:
    """40 independent walks, half with bounce 5× their increment sd: a lag-0 Dickey–Fuller screen rejects nearly
    every pair with a bouncing leg at 0.1 %; the screen rejects about as often as its level says."""
    u = null_universe(40, 7_000, seed=77, kinds=("normal",), bounce_share=0.5)
    z = standardise(u.prices.to_numpy())
    bars = 8
    means = standardise(z[z.shape[0] % bars :].reshape(-1, bars, z.shape[1]).mean(axis=1))
    a, b, _ = iv_statistics(means, np.arange(40))
    upper = np.triu_indices(40, 1)
    p = unitroot.pvalues(np.maximum(a, b)[upper], 2)
    assert (p < 0.001).mean() <= 0.005 and (p < 0.05).mean() <= 0.1


def test_symbol_noise_known_answers() -> None:
    rng = np.random.default_rng(9)
    log_walk = np.cumsum(VOL * rng.normal(0, 1, 20_000))
    clean = symbol_noise(np.exp(log_walk))
    assert abs(clean.autocorr) < 0.03 and not clean.noisy
    bounced = symbol_noise(np.exp(log_walk + rng.normal(0, 0.003, log_walk.size)))
    assert bounced.autocorr == pytest.approx(-(0.003**2) / (VOL**2 + 2 * 0.003**2), abs=0.02) and bounced.noisy
    assert bounced.roll_spread == pytest.approx(2 * 0.003, rel=0.05)  # Roll: 2·√(−cov) = 2·noise sd


def test_noisy_spread_recovers_the_signal() -> None:
    rng = np.random.default_rng(4)
    for hl in (10.0, 40.0):
        signal = ou(rng, 40_000, hl, 0.005)
        observed = signal + rng.normal(0, 0.003, signal.size)
        model = noisy_spread(observed - observed.mean())
        assert model.half_life == pytest.approx(hl, rel=0.2)
        assert math.sqrt(model.noise_var) == pytest.approx(0.003, rel=0.1)
        assert math.sqrt(model.signal_var) == pytest.approx(0.005, rel=0.15)
        assert robust_hurst(observed - observed.mean(), model.noise_var) < 0.5
    assert math.isnan(noisy_spread(rng.normal(0, 1, 5_000) * 0 + np.tile([1.0, -1.0], 2_500)).phi)


@pytest.mark.parametrize(("n", "half_life"), [(3_600, 80.0), (3_600, 180.0), (7_056, 180.0)])
@pytest.mark.parametrize("bounce", [0.0, 0.003])
def test_half_lives_of_slow_pairs_are_right_in_median(n: int, half_life: float, bounce: float) -> None:
    """Issue 23: the scanner read slow pairs (80–180 bars) 20–50 % short, and a bouncing pair's autocovariance
    ratio 20–40 % short on 3,600–7,056 bars (the mean's estimation). describe_pair, as the scan calls it (a leg
    with a 0.3 % bounce flagged noisy), on y = 0.5·x·e^s with s an AR(1) of sd 0.2 %: the median half-life of 200
    pairs is within ±20 % of the truth (measured 0.97–1.16; the median of 100 pairs moves by ~±0.1. On 1,000 bars,
    5.5 half-lives of a 180-bar spread, the bouncing reading is 0.65×; the plain one 1.0×)."""
    bars = []
    for seed in range(200):
        rng = np.random.default_rng([23, n, seed])
        x = 60_000.0 * np.exp(np.cumsum(rng.normal(0.0, 1e-3, n)))
        y = 0.5 * x * np.exp(ou(rng, n, half_life, 0.002) + rng.normal(0.0, bounce, n))
        bars.append(describe_pair(x, y, x[:0], y[:0], 60.0, bounce > 0, SCAN_COST_BPS, 1).half_life)
    ratio = float(np.median(bars)) / half_life
    assert 0.8 <= ratio <= 1.2, f"median half-life {ratio:.2f} × the truth (n {n:,}, half-life {half_life}, {bounce})"


def test_the_summary_and_columns_describe_the_selection(bounce_market) -> None:
    _, table = bounce_market
    assert list(table.columns) == list(A.SCAN_COLUMNS)
    summary = A.scan_summary(table)
    assert summary.screen_bars == 8 and summary.confirm_seconds > 0
    assert summary.pairs_echoes == int(((table["group"] > 0) & ~table["lead"]).sum())
    leads = table.loc[table["lead"]]
    assert leads["selected"].all() and pd.api.types.is_integer_dtype(table["group"])
