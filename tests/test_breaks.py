"""Issue 23, on synthetic pairs with known answers: a cointegration that ended must not read "Cointegrated" without
a warning, the change-in-persistence test behind that fires at its level on spreads that did not change, and slow
half-lives are right in median.

The pairs (analytics_fixtures.broken_pair): x a geometric random walk at BTC level, y = 100 + 0.04·x + spread, the
spread an AR(1) of the given half-life, turning into a random walk with the same innovations over the last third
when ended=True. With x's default volatility the β of each third hardly moves when the spread breaks, so the
unstable-β warning cannot stand in for the test (issue 23 measured 17.5–19 % "Cointegrated" with no warning at all).
Rates are judged within three binomial standard errors (test_statistics.binomial_slack); bench/verdict_breaks.py
runs the same experiments with more pairs.
"""

from __future__ import annotations

import math

import numpy as np
import pytest
from analytics_fixtures import broken_pair
from test_statistics import NOMINAL, binomial_slack

import analytics as A
from quant import persistence as P
from quant.stationarity import BREAK_MIN_BARS

pytestmark = pytest.mark.filterwarnings("error")


def firing_rate(
    n: int, half_life: float, pairs: int, seed: int, *, ended: bool, tails: float | None = None, caution: bool = False
) -> float:
    """Share of `pairs` pairs on which A.persistence_change fires (says mean reversion stopped; with caution=True,
    its 20 % caution: may have stopped)."""
    fired = 0
    for k in range(pairs):
        x, y = broken_pair(n, half_life, seed=seed + k, ended=ended, tails=tails)
        change = A.persistence_change(x, y)
        fired += change.caution if caution else change.ended
    return fired / pairs


# ---------------------------------------------------------------------------------------------- the test's size


@pytest.mark.parametrize(
    ("n", "half_life", "pairs"), [(1_000, 10.0, 400), (3_600, 30.0, 400), (3_600, 100.0, 400), (10_000, 100.0, 150)]
)
def test_persistence_change_fires_at_its_level_on_a_spread_that_did_not_change(
    n: int, half_life: float, pairs: int
) -> None:
    """Null: the same AR(1) spread throughout. The test fires on 5 % of pairs (within three binomial s.e. either
    way) at every persistence: the critical value follows the formation's AR(1) (a fixed one fired on 12 % at
    half-life 100 on 1,000 bars and on 2 % of fast spreads)."""
    rate = firing_rate(n, half_life, pairs, seed=40_000, ended=False)
    assert abs(rate - NOMINAL) <= binomial_slack(NOMINAL, pairs), f"fired on {rate:.1%} (n {n:,}, hl {half_life})"


@pytest.mark.parametrize(("n", "half_life"), [(1_000, 30.0), (3_600, 100.0), (3_600, 10.0)])
def test_the_caution_fires_at_its_stated_rate_on_a_spread_that_did_not_change(n: int, half_life: float) -> None:
    """The caution warning says it fires on 20 % of pairs whose mean reversion did not stop: on unchanged spreads it
    does (within three binomial s.e.; bench/verdict_breaks.py measures 17–24 % with Gaussian innovations)."""
    level, pairs = P.CAUTION_LEVEL, 400
    rate = firing_rate(n, half_life, pairs, seed=46_000, ended=False, caution=True)
    assert abs(rate - level) <= binomial_slack(level, pairs), f"caution on {rate:.1%} (n {n:,}, hl {half_life})"


def test_the_verdict_does_not_read_an_ending_into_random_walks() -> None:
    """Two independent random walks break the test's null (no stationary spread), and it fires on a few of them
    (~8 %); the verdict acts on it only where Engle–Granger finds mean reversion, so an ending is never the first
    warning of a pair that is not cointegrated, and ENDED stays within Engle–Granger's 5 % false positives."""
    ended = 0
    for k in range(100):
        x, y = broken_pair(1_000, math.inf, seed=41_000 + k, ended=False)
        series = A.pair_series(x, y, method="rolling", window=60)
        verdict = A.pair_verdict(series, A.pair_tests(series))
        ended += verdict.verdict is A.Verdict.ENDED
        if verdict.verdict is A.Verdict.NOT_COINTEGRATED:
            assert not any(w.startswith(A.ENDED_TEXT) for w in verdict.warnings), verdict.warnings
    assert ended <= NOMINAL * 100 + 100 * binomial_slack(NOMINAL, 100)


# ---------------------------------------------------------------------------------------------- power and verdict


@pytest.mark.parametrize(("n", "half_life", "floor"), [(3_600, 30.0, 0.90), (10_000, 100.0, 0.85)])
def test_persistence_change_fires_on_an_ended_spread(n: int, half_life: float, floor: float) -> None:
    """A spread that becomes a random walk over the last third, which then spans 33–40 half-lives, is found on at
    least `floor` of pairs (measured ~95 % and ~92 %)."""
    rate = firing_rate(n, half_life, 100, seed=42_000, ended=True)
    assert rate >= floor, f"fired on {rate:.1%} of ended pairs (n {n:,}, half-life {half_life})"


@pytest.fixture(scope="module")
def ended_verdicts() -> list[tuple[A.PairVerdict, A.PairTests]]:
    """The pipeline's verdict on 100 ended pairs of 3,600 bars, half-life 30 (issue 23: 37.5 % "Cointegrated")."""
    out = []
    for k in range(100):
        x, y = broken_pair(3_600, 30.0, seed=43_000 + k)
        series = A.pair_series(x, y, method="rolling", window=60)
        tests = A.pair_tests(series)
        out.append((A.pair_verdict(series, tests), tests))
    return out


def test_an_ended_cointegration_rarely_reads_cointegrated_without_a_warning(ended_verdicts) -> None:
    """At most 5 % (plus noise) of ended pairs read "Cointegrated" with no warning; issue 23 measured 19 %, and ~40 %
    on these pairs, whose β does not move."""
    clean = sum(v.verdict is A.Verdict.COINTEGRATED and not v.warnings for v, _ in ended_verdicts)
    rate = clean / len(ended_verdicts)
    assert rate <= NOMINAL + binomial_slack(NOMINAL, len(ended_verdicts)), f"{rate:.1%} clean Cointegrated"


def test_an_ended_cointegration_is_said_first(ended_verdicts) -> None:
    """Where Engle–Granger still rejects on the whole window and the test fires, the verdict is ENDED: its headline
    and its first warning say, in words, that mean reversion appears to have stopped in the last third, and the
    headline still quotes the Engle–Granger p it overrides. Where Engle–Granger does not reject, the verdict is Not
    cointegrated and the firing test is one of its reasons."""
    seen = 0
    for verdict, tests in ended_verdicts:
        change, eg = tests.persistence_change, tests.engle_granger
        assert change is not None and eg is not None
        if not change.ended:
            assert verdict.verdict is not A.Verdict.ENDED
            continue
        seen += 1
        assert any(r.startswith(A.ENDED_TEXT) for r in verdict.reasons), verdict.reasons
        if verdict.verdict is A.Verdict.ENDED:
            assert verdict.warnings and verdict.warnings[0].startswith(A.ENDED_TEXT), verdict.warnings
            assert f"{change.ratio:.1f}×" in verdict.warnings[0]
            assert verdict.headline.startswith("Mean reversion appears to have stopped in the last third")
            assert A.fmt_p(eg.pvalue) in verdict.headline and eg.pvalue < NOMINAL
        else:
            assert verdict.verdict is A.Verdict.NOT_COINTEGRATED
    assert seen >= 90


@pytest.mark.parametrize(("n", "half_life"), [(1_000, 30.0), (3_600, 100.0)])
def test_an_ending_the_last_third_can_barely_see_still_gets_a_warning(n: int, half_life: float) -> None:
    """Where the last third spans only 11–12 half-lives the 5 % test finds under half of the endings and 16–21 % of
    ended pairs read Cointegrated without a warning (bench/verdict_breaks.py). The first warning of every
    Cointegrated ended pair is now the ending's, the 20 % caution's or the too-few-half-lives note, so at most 5 %
    (plus noise) read Cointegrated without a warning (measured 0–0.5 %); the caution and the note state their
    rates in words."""
    pairs, clean = 100, 0
    for k in range(pairs):
        x, y = broken_pair(n, half_life, seed=47_000 + k)
        series = A.pair_series(x, y, method="rolling", window=60)
        tests = A.pair_tests(series)
        verdict = A.pair_verdict(series, tests)
        clean += verdict.verdict is A.Verdict.COINTEGRATED and not verdict.warnings
        if verdict.verdict is A.Verdict.COINTEGRATED and verdict.warnings:
            first = verdict.warnings[0]
            change = tests.persistence_change
            assert change is not None
            if change.caution:
                assert first.startswith(A.CAUTION_TEXT) and "fires on 20 % of pairs" in first, first
            elif first.startswith(A.SHORT_RECENT_TEXT):
                assert "shown for every pair this slow" in first, first
    assert clean / pairs <= NOMINAL + binomial_slack(NOMINAL, pairs), f"{clean / pairs:.1%} clean Cointegrated"


def test_the_test_costs_a_stationary_pair_about_its_level() -> None:
    """On the same pairs without the ending, the verdict stays Cointegrated on at least 90 % (Engle–Granger finds
    all of them; the test fires on ~5 %), and ENDED always has the test behind it."""
    verdicts = []
    for k in range(60):
        x, y = broken_pair(3_600, 30.0, seed=44_000 + k, ended=False)
        series = A.pair_series(x, y, method="rolling", window=60)
        verdicts.append(A.pair_verdict(series, A.pair_tests(series)).verdict)
    assert verdicts.count(A.Verdict.COINTEGRATED) >= 0.9 * len(verdicts), verdicts


def test_too_short_a_window_is_reported_not_guessed() -> None:
    x, y = broken_pair(BREAK_MIN_BARS - 1, 10.0, seed=1, ended=False)
    with pytest.raises(A.InsufficientData, match="last-third test needs"):
        A.persistence_change(x, y)
    tests = A.pair_tests(A.pair_series(x, y, method="rolling", window=60))
    assert tests.persistence_change is None and A.PairTest.PERSISTENCE_CHANGE in tests.problems


def test_the_record_is_consistent_and_json_ready() -> None:
    x, y = broken_pair(2_000, 20.0, seed=2)
    change = A.persistence_change(x, y)
    z, ratio = P.recent_deviation(x.to_numpy(), y.to_numpy())
    assert change.ratio == pytest.approx(float(ratio)) and change.split == 2_000 - 2_000 // 3 and change.nobs == 2_000
    assert change.ended == (change.ratio > change.critical_value) == (change.pvalue < NOMINAL)
    assert change.caution == (change.ratio > change.caution_value) and change.caution_value < change.critical_value
    assert change.formation_ar1 == pytest.approx(1.0 + float(z) / change.split)
    assert A.to_json(change)["ended"] is change.ended


# ---------------------------------------------------------------------------------------------- tables


def test_tables_are_ordered() -> None:
    """Critical values rise as the level falls and as the formation reverts more slowly; the medians fall as the
    persistence parameter c rises; the 5 % level is tabulated."""
    crit = np.asarray(P.BREAK_LOG_CRIT)
    assert NOMINAL in P.BREAK_LEVELS and list(P.BREAK_LEVELS) == sorted(P.BREAK_LEVELS, reverse=True)
    assert crit.shape == (len(P.BREAK_LEVELS), len(P.BREAK_KNOTS)) and (np.diff(crit, axis=0) >= 0).all()
    assert (np.diff(P.BREAK_KNOTS) > 0).all() and crit[:, 0].min() > crit[:, -1].max()
    for medians in (P.MU_MEDIAN_RESIDUAL, P.MU_MEDIAN_PLAIN):
        assert len(medians) == len(P.MU_C) and (np.diff(medians) < 0).all()


def test_break_pvalue_is_monotone_and_clipped() -> None:
    ratios = np.geomspace(0.5, 50.0, 60)
    for z in (-5.0, -50.0, -500.0, -5_000.0):
        p = [P.break_pvalue(z, float(r)) for r in ratios]
        assert (np.diff(p) <= 1e-12).all() and min(p) >= min(P.BREAK_LEVELS) - 1e-12 and max(p) <= 0.5 + 1e-12


def test_median_unbiased_ar1() -> None:
    """The correction: none is needed on a long fast series; a least-squares φ at or above a unit root's median
    estimate is a unit root; a hedge residual's φ is raised more than a plain series'; arrays and scalars agree."""
    assert P.median_unbiased_ar1(0.5, 200_000) == pytest.approx(0.5, abs=1e-4)
    at_root = 1.0 + P.MU_MEDIAN_RESIDUAL[0] / 1_000
    assert P.median_unbiased_ar1(at_root, 1_000) == 1.0 and P.median_unbiased_ar1(1.02, 1_000) == 1.0
    for phi in (0.9, 0.98, 0.995):
        plain = P.median_unbiased_ar1(phi, 1_000, residual=False)
        resid = P.median_unbiased_ar1(phi, 1_000)
        assert phi < plain < resid <= 1.0
    grid = np.linspace(0.0, 1.0, 400)
    out = P.median_unbiased_ar1(grid, 1_000)
    assert np.allclose(out, [P.median_unbiased_ar1(float(g), 1_000) for g in grid])
    assert (np.diff(out) >= -1e-12).all()


# ---------------------------------------------------------------------------------------------- half-life


@pytest.mark.parametrize(
    ("n", "half_life"), [(1_000, 80.0), (3_600, 120.0), (3_600, 180.0), (1_000, 5.0), (3_600, 20.0)]
)
def test_static_residual_half_life_is_right_in_median(n: int, half_life: float) -> None:
    """Issue 23: the scanner's and the pair view's half-lives were 20–50 % short for slow pairs (least squares on
    1,000 bars read 80 bars as ~43, on 3,600 bars 180 as ~120). The median-unbiased AR(1) puts the median within
    ±20 % of the truth, and fast pairs stay where they were."""
    bars = [
        A.half_life_fit(A.static_fit(*broken_pair(n, half_life, seed=45_000 + k, ended=False)).residual).bars
        for k in range(200)
    ]
    ratio = float(np.median(bars)) / half_life
    assert 0.8 <= ratio <= 1.2, f"median half-life {ratio:.2f} × the truth (n {n:,}, half-life {half_life})"


def test_a_plain_series_half_life_is_not_corrected_for_a_hedge() -> None:
    """A spread observed as is (residual=False) gets the smaller, plain-series correction."""
    s = broken_pair(3_000, 50.0, seed=3, ended=False)[1].to_numpy() - 100.0
    plain, resid = A.half_life_fit(s, residual=False), A.half_life_fit(s)
    assert plain.ar1_ols == resid.ar1_ols and plain.ar1_ols < plain.ar1 < resid.ar1
