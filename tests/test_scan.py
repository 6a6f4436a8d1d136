"""The market scanner on synthetic universes with known answers: planted cointegrated pairs among sector-correlated
random walks, correlated-but-not-cointegrated traps and bid/ask-bounce noise; false discoveries controlled."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

import analytics as A
from data_feed import simulate_universe as synthetic_universe
from quant.scan_select import bh_qvalues


def _found(table: pd.DataFrame) -> set[frozenset[str]]:
    sel = table.loc[table["selected"]]
    return {frozenset(p) for p in zip(sel["x"], sel["y"])}


@pytest.fixture(scope="module")
def universe() -> tuple[pd.DataFrame, set[frozenset[str]], pd.DataFrame]:
    prices, planted = synthetic_universe(120, 10_080, n_planted=12, seed=4, bounce=15, trap_pairs=6)
    return prices, planted, A.scan_pairs(prices)


def test_planted_pairs_are_found_and_false_discoveries_stay_rare(universe) -> None:
    prices, planted, table = universe
    found = _found(table)
    recall = len(found & planted) / len(planted)
    false_share = len(found - planted) / max(len(found), 1)
    assert recall >= 0.9 and false_share <= 0.1, (recall, false_share)
    n = prices.shape[1]
    assert len(table) == n * (n - 1) // 2  # every pair tested once
    summary = A.scan_summary(table)
    assert summary.pairs_tested == len(table) and summary.pairs_selected == len(found)
    assert list(table.columns) == list(A.SCAN_COLUMNS)
    assert table["selected"].iloc[: len(found)].all()  # best first


def test_traps_and_bounce_are_not_selected(universe) -> None:
    _, _, table = universe
    for _, row in table.loc[table["selected"]].iterrows():
        assert not (row["x"].startswith("T") and row["y"].startswith("T")), "correlated random walks selected"
        assert not (row["x"].startswith("W") and row["y"].startswith("W")), "unrelated walks selected"
    traps = table.loc[
        table["x"].str.startswith("T") & table["y"].str.startswith("T") & (table["x"].str[:3] == table["y"].str[:3])
    ]
    assert (traps["correlation"] > 0.85).all() and not traps["selected"].any()  # correlated is not cointegrated


def test_null_universe_with_heavy_bounce_selects_nothing() -> None:
    prices, _ = synthetic_universe(60, 10_080, n_planted=0, seed=11, bounce=30, bounce_bps=20)
    table = A.scan_pairs(prices)
    assert not table["selected"].any()
    summary = A.scan_summary(table)
    assert summary.pairs_sent <= 20  # the screen is not fooled by the bounce (a lag-0 screen sent ~1,000 here)
    assert sorted(summary.noisy) == sorted(prices.columns[:30])  # the bouncing symbols are flagged, only they


def test_selected_rows_agree_with_engle_granger_and_describe_the_pair(universe) -> None:
    prices, _, table = universe
    row = table.iloc[0]
    formation = prices.iloc[: A.scan_summary(table).formation_bars]
    eg = A.engle_granger(formation[row["x"]], formation[row["y"]])
    assert row["pvalue_y_on_x"] == pytest.approx(eg.pvalue, rel=1e-9)
    assert row["beta"] == pytest.approx(eg.beta, rel=1e-9)
    reverse = A.engle_granger(formation[row["y"]], formation[row["x"]])
    assert row["pvalue"] == pytest.approx(max(eg.pvalue, reverse.pvalue), rel=1e-9)
    assert 5 < row["half_life"] < 120 and row["crossings_per_day"] > 10 and row["hurst"] < 0.5
    assert row["oos_confirmed"] and row["spread_vol"] > 0
    q = table["qvalue"].to_numpy()
    p = table["pvalue"].fillna(1.0).to_numpy()
    assert (q >= p - 1e-15).all() and (q <= 1).all()
    assert row["statistic"] == pytest.approx(max(eg.statistic, reverse.statistic), rel=1e-9)


def test_benjamini_hochberg_matches_statsmodels(universe) -> None:
    from statsmodels.stats.multitest import multipletests

    _, _, table = universe
    full = table["pvalue"].fillna(1.0).to_numpy()  # a pair the full test did not confirm counts as p = 1
    ref = multipletests(full, alpha=0.05, method="fdr_bh")
    np.testing.assert_allclose(table["qvalue"].to_numpy(), ref[1], rtol=1e-12)
    assert table["pvalue"].isna().to_numpy().tolist() == (~table["confirmed"]).to_numpy().tolist()
    selected = table["selected"].to_numpy()
    assert ref[0][selected].all() and table.loc[selected, "oos_confirmed"].all()  # selected ⊆ BH ∩ out of sample


def test_benjamini_hochberg_q_values_known_answer() -> None:
    # q_(i) = min over k ≥ i of p_(k)·m/k, capped at 1 (the hand-written formula the scanner used before statsmodels)
    p = np.array([0.01, 0.04, 0.03, 0.005, 0.5, 0.9, 0.2])
    order = np.argsort(p)
    scaled = p[order] * p.size / np.arange(1, p.size + 1)
    hand = np.empty(p.size)
    hand[order] = np.minimum.accumulate(scaled[::-1])[::-1].clip(max=1.0)
    np.testing.assert_allclose(bh_qvalues(p), hand, rtol=1e-15)
    np.testing.assert_allclose(bh_qvalues(p)[:4], [0.035, 0.07, 0.07, 0.035])


def test_listings_delistings_and_halts_are_handled_with_notes() -> None:
    prices, planted = synthetic_universe(20, 6_000, n_planted=3, seed=5)
    prices = prices.copy()
    prices.iloc[:5_000, 0] = np.nan  # listed late: too little history
    prices.iloc[1_500:, 1] = np.nan  # delisted
    prices.iloc[:, 2] = 42.0  # halted all window
    prices.iloc[:2_000, 3] = np.nan  # listed during the window, enough history
    prices.iloc[2_500:2_600, 4] = np.nan  # a quiet spell: carried forward
    table = A.scan_pairs(prices, min_overlap=1_000)
    excluded = A.scan_summary(table).excluded
    names = list(prices.columns)
    reasons = {name: why.reason for name, why in excluded.items()}
    assert reasons == {
        names[0]: A.ExclusionReason.LISTED_RECENTLY,
        names[1]: A.ExclusionReason.STOPPED_TRADING,
        names[2]: A.ExclusionReason.CONSTANT,
    }
    short = excluded[names[0]].detail
    assert "history only since" in short and "collected or listed recently" in short
    assert "stopped trading" in excluded[names[1]].detail
    assert "constant" in excluded[names[2]].detail
    tested = set(table["x"]) | set(table["y"])
    assert names[3] in tested and not {names[0], names[1], names[2]} & tested
    assert A.scan_summary(table).pairs_short_overlap == 17  # the late listing with each of the 17 testable symbols
    assert (table.loc[(table["x"] == names[3]) | (table["y"] == names[3]), "n_bars"] < 4_200 - 1_900).all()
    assert _found(table) >= planted


@pytest.mark.parametrize(
    ("call", "message"),
    [
        (lambda p: A.scan_pairs(p.iloc[:, :1]), "at least 2 symbols"),
        (lambda p: A.scan_pairs(p.reset_index(drop=True)), "DatetimeIndex"),
        (lambda p: A.scan_pairs(p.iloc[::-1]), "sorted"),
        (lambda p: A.scan_pairs(p.set_axis(["A"] * p.shape[1], axis=1)), "duplicate"),
        (lambda p: A.scan_pairs(p, fdr=0.0), "fdr"),
        (lambda p: A.scan_pairs(p, validation_fraction=1.0), "validation_fraction"),
        (lambda p: A.scan_pairs(p.iloc[:500]), "testable symbols"),
    ],
)
def test_bad_input_is_refused_with_a_reason(call, message: str) -> None:
    prices, _ = synthetic_universe(6, 3_000, n_planted=1, seed=6)
    with pytest.raises(ValueError, match=message):
        call(prices)


def test_edge_after_costs_is_the_ou_band_of_the_formation_residual(universe) -> None:
    prices, _, table = universe
    row = table.iloc[0]
    formation = prices.iloc[: A.scan_summary(table).formation_bars]
    x, y = formation[row["x"]], formation[row["y"]]
    edge = A.spread_edge(y - row["alpha"] - row["beta"] * x, x.iloc[-1], y.iloc[-1], row["beta"], 60.0, A.SCAN_COST_BPS)
    assert row["edge_per_day"] == pytest.approx(edge.edge_per_day, rel=1e-9) and row["edge_per_day"] > 0
    assert row["trade_hours"] == pytest.approx(edge.trade_seconds / 3_600, rel=1e-9)
    assert row["covers_cost"] == edge.covers_cost
    confirmed = table.loc[table["confirmed"]]
    assert (
        confirmed["edge_per_day"].notna().mean() > 0.9 and table.loc[~table["confirmed"], "edge_per_day"].isna().all()
    )
    # a dearer round trip buys a wider band, a longer cycle and a smaller edge, and marks more pairs
    dear = A.scan_pairs(prices, cost_bps=25.0)
    joined = table.merge(dear, on=["x", "y"], suffixes=("", "_dear")).loc[lambda t: t["confirmed"]]
    both = joined.dropna(subset=["edge_per_day", "edge_per_day_dear"])
    assert len(both) > 10 and (both["edge_per_day_dear"] < both["edge_per_day"]).all()
    assert (~joined["covers_cost_dear"]).sum() > (~joined["covers_cost"]).sum()


def test_progress_reports_the_share_of_full_tests_done() -> None:
    prices, _ = synthetic_universe(16, 3_000, n_planted=3, seed=2)
    shares: list[float] = []
    table = A.scan_pairs(prices, min_overlap=1_000, progress=shares.append)
    summary = A.scan_summary(table)
    assert len(shares) == summary.pairs_sent > 0  # one call per pair sent to the full test
    assert shares == sorted(shares) and shares[-1] == 1.0 and 0 < shares[0] < 1


def test_band_pnl_trades_both_sides_with_next_close_fills() -> None:
    """band_pnl against a plain loop: signal at a close, fill at the next, half the round trip per unit moved."""
    from quant.scan_describe import band_pnl

    rng = np.random.default_rng(3)
    resid = np.zeros(400)
    for t in range(1, resid.size):
        resid[t] = 0.9 * resid[t - 1] + rng.normal()
    theta, h, cost = 0.1, 1.2, 0.3
    pnl = band_pnl(resid, theta, h, cost)
    want, signal, position = np.zeros(resid.size), 0.0, 0.0
    for t in range(resid.size):
        want[t] = position * (resid[t] - resid[t - 1]) if t else 0.0
        moved = signal  # the previous close's signal fills at this close
        want[t] -= cost / 2 * abs(moved - position)
        position = moved
        if resid[t] <= theta - h:
            signal = 1.0
        elif resid[t] >= theta + h:
            signal = -1.0
    np.testing.assert_allclose(pnl, want, atol=1e-12)
    assert (pnl != 0).sum() > 100  # it traded both ways


def test_a_picks_deflated_sharpe_counts_every_pair_tested(universe) -> None:
    """pick_dsr is the deflated Sharpe of the band's P&L with the pairs tested as trials and the no-skill
    estimator variance; more trials deflate it more; planted pairs keep a high chance, and a Sharpe of noise none."""
    from scipy import stats

    from quant.scan_describe import band_pnl, pick_dsr

    pnl = np.random.default_rng(8).normal(0.02, 1.0, 5_000)
    n = pnl.size
    sharpe = pnl.mean() / pnl.std(ddof=1)
    want = A.deflated_sharpe_ratio(sharpe, 7_140, 1 / (n - 1), n, stats.skew(pnl), stats.kurtosis(pnl, fisher=False))
    assert pick_dsr(pnl, 7_140) == pytest.approx(want.dsr, rel=1e-12)
    assert pick_dsr(pnl, 10) > pick_dsr(pnl, 7_140) > pick_dsr(pnl, 4_498_500)
    assert np.isnan(pick_dsr(np.zeros(100), 10))  # never traded: no Sharpe to deflate
    noise = np.random.default_rng(9).normal(0.0, 1.0, (200, 2_000))
    assert np.mean([pick_dsr(row, 7_140) > 0.95 for row in noise]) < 0.01  # luck alone rarely reads "real"
    prices, _, table = universe
    cheap = A.scan_pairs(prices, cost_bps=0.01)  # the planted reversion itself, almost free to trade: real
    picked = cheap.loc[cheap["selected"]].merge(table, on=["x", "y"], suffixes=("", "_default"))
    assert len(picked) >= 10 and picked["dsr"].median() > 0.95, picked["dsr"].describe()
    # at the default round trip (5 bps a leg a fill) the same picks' in-sample Sharpe is mostly within luck's reach
    assert (picked["dsr_default"] < picked["dsr"]).all() and picked["dsr_default"].median() < 0.5
    assert table.loc[~table["confirmed"], "dsr"].isna().all()
    rng = np.random.default_rng(5)
    walk = np.cumsum(rng.normal(size=10_000))  # a random walk traded at a band: no edge after costs
    assert pick_dsr(band_pnl(walk, walk.mean(), walk.std(), 0.1), len(table)) < 0.5
