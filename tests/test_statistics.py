"""Monte Carlo tests of what the pair statistics MEAN, against known answers on synthetic data: the size of the ADF test
under MA(1) errors, the overall verdict's false-positive rate on independent random walks and its power on OU
spreads, the Kalman hedge's tracking of a stepped β, and the coverage of the 95 % β bands (issue 9).

Every rate is measured with fixed seeds. A rejection rate is judged against its bound plus three binomial standard
errors, bound + 3·√(p(1 − p)/trials), so an honest implementation passes whatever draws it happens to get, while a
defect of the size issue 9 found (25 % size, 100 % false positives, 0–31 % band coverage) fails by a wide margin.
A coverage is the share of bars (after the fit's warm-up) whose band holds the true β, averaged over many seeds
(its standard error across seeds is ≤ ~0.01 at the trial counts used here). The experiments are plain functions so
that bench/pair_statistics.py runs the same ones with more trials; the counts here keep this module well under ~90 s
on two loaded cores.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import pandas as pd
import pytest
from analytics_fixtures import ar1, cointegrated_pair, random_walk_pair, time_index

import analytics as A

pytestmark = pytest.mark.filterwarnings("error")  # no RuntimeWarning/FutureWarning/ConvergenceWarning may leak

NOMINAL = 0.05
ADF_SIZE_BOUND = 0.07  # issue 9: nominal 5 % must mean at most ~7 % on a unit root with MA(1) errors
MIN_COVERAGE = 0.90  # issue 9: a nominal 95 % band must cover the true β on at least 90 % of bars
MIN_POWER = 0.90
TRACK_WITHIN = 0.10  # the filtered β counts as back once it is within 10 % of the new β


def binomial_slack(p: float, trials: int) -> float:
    """Three binomial standard errors of a rate p estimated from `trials` independent trials."""
    return 3.0 * math.sqrt(p * (1.0 - p) / trials)


# ---------------------------------------------------------------------------------------------- synthetic data


def ma1_unit_root(n: int, theta: float, rng: np.random.Generator) -> np.ndarray:
    """A unit root whose increments are the MA(1) e_t + θ·e_{t−1} (θ = −0.5: a large negative MA root, the case a
    too-short lag search gets wrong; θ = 0: a plain random walk)."""
    e = rng.normal(size=n + 1)
    return np.cumsum(e[1:] + theta * e[:-1])


@dataclass(frozen=True)
class KnownBetaPair:
    """A synthetic pair y_t = α_t + β_t·x_t + s_t with its true β per bar."""

    x: pd.Series
    y: pd.Series
    beta: np.ndarray


def stepped_beta_pair(
    n: int,
    seed: int,
    *,
    step: bool = True,
    beta0: float = 0.04,
    alpha0: float = 100.0,
    half_life: float = 50.0,
    spread_share: float = 0.002,
    x0: float = 60_000.0,
    x_vol: float = 3e-4,
) -> KnownBetaPair:
    """x a geometric random walk at BTC level (x_vol per bar), y at ETH level (~2,500). With step=True β doubles at
    bar n/2 while α drops by (β1 − β0)·x there, so the hedge ratio changes without a jump in y. The spread is an OU
    with the given half-life and a stationary sd of spread_share × the level of y."""
    rng = np.random.default_rng(seed)
    index = time_index(n)
    x = x0 * np.exp(np.cumsum(rng.normal(0.0, x_vol, n)))
    beta, alpha = np.full(n, beta0), np.full(n, alpha0)
    if step:
        at = n // 2
        beta[at:] = 2.0 * beta0
        alpha[at:] = alpha0 - beta0 * x[at]
    phi = 0.5 ** (1.0 / half_life)
    sd = spread_share * (alpha0 + beta0 * x0)
    spread = ar1(n, phi, sd * math.sqrt(1.0 - phi * phi), rng)
    return KnownBetaPair(
        pd.Series(x, index=index, name="x"), pd.Series(alpha + beta * x + spread, index=index, name="y"), beta
    )


def ou_pair(n: int, seed: int, half_life: float) -> KnownBetaPair:
    """A constant-β pair (β 0.04, α 100, x at BTC level) with an OU spread of the given half-life."""
    x, y, _ = cointegrated_pair(n, beta=0.04, alpha=100.0, half_life=half_life, seed=seed)
    return KnownBetaPair(x, y, np.full(n, 0.04))


# ---------------------------------------------------------------------------------------------- experiments


def adf_rejection_rate(n: int, theta: float, trials: int, seed: int) -> float:
    """Share of `trials` unit roots with MA(1) increments (θ) that A.adf_test (its default lag search) rejects at
    the nominal 5 %."""
    rejected = 0
    for trial in range(trials):
        v = ma1_unit_root(n, theta, np.random.default_rng([seed, n, trial]))
        rejected += A.adf_test(v).pvalue < NOMINAL
    return rejected / trials


@dataclass(frozen=True)
class VerdictRun:
    """What one pair_analytics call concluded and the numbers shown beside it, with the half-life and Hurst of the
    static OLS residual computed independently (numpy lstsq) for comparison."""

    verdict: A.Verdict
    headline: str
    eg_pvalue: float
    half_life: float
    hurst: float
    static_half_life: float
    static_hurst: float


def verdict_run(x: pd.Series, y: pd.Series, method: str) -> VerdictRun:
    """pair_analytics with the dashboard's default windows and the given hedge method."""
    pa = A.pair_analytics(x, y, method=method)
    design = np.column_stack([np.ones(len(x)), x.to_numpy()])
    coef, *_ = np.linalg.lstsq(design, y.to_numpy(), rcond=None)
    resid = y.to_numpy() - design @ coef
    eg, hl, hurst = pa.tests.engle_granger, pa.tests.half_life, pa.tests.hurst
    assert eg is not None and hl is not None and hurst is not None, pa.tests.problems
    return VerdictRun(
        pa.verdict.verdict,
        pa.verdict.headline,
        eg.pvalue,
        hl.bars,
        hurst.exponent,
        A.half_life(resid),
        A.hurst_exponent(resid),
    )


def contradiction(run: VerdictRun) -> str | None:
    """Why the verdict contradicts the Engle–Granger p-value shown beside it, or None when it does not: COINTEGRATED
    needs p < 5 % and a finite half-life and must quote that p; any other verdict needs p ≥ 5 % or no mean
    reversion in the static residual."""
    if run.verdict is A.Verdict.COINTEGRATED:
        if run.eg_pvalue >= NOMINAL or not math.isfinite(run.half_life):
            return f"cointegrated with EG p {run.eg_pvalue:.3f}, half-life {run.half_life}"
        return None if A.fmt_p(run.eg_pvalue) in run.headline else f"headline misquotes p: {run.headline}"
    if run.verdict is not A.Verdict.NOT_COINTEGRATED:
        return f"verdict {run.verdict} on a pair with enough data"
    if run.eg_pvalue < NOMINAL and math.isfinite(run.half_life):
        return f"not cointegrated with EG p {run.eg_pvalue:.3f} and half-life {run.half_life:.1f}"
    return None


def random_walk_runs(n: int, method: str, trials: int, seed: int) -> list[VerdictRun]:
    """Verdicts on `trials` pairs of independent BTC/ETH-scale geometric random walks (no cointegration)."""
    return [verdict_run(*random_walk_pair(n, seed=seed + trial), method) for trial in range(trials)]


def ou_runs(n: int, half_life: float, trials: int, seed: int, method: str = "kalman") -> list[VerdictRun]:
    """Verdicts on `trials` cointegrated pairs whose spread is an OU with the given half-life."""
    pairs = (ou_pair(n, seed + trial, half_life) for trial in range(trials))
    return [verdict_run(pair.x, pair.y, method) for pair in pairs]


def cointegrated_share(runs: list[VerdictRun]) -> float:
    """Share of runs whose verdict is COINTEGRATED."""
    return sum(run.verdict is A.Verdict.COINTEGRATED for run in runs) / len(runs)


def band_coverage(fit: A.HedgeResult, true_beta: np.ndarray) -> float:
    """Share of the bars with a band (those after the fit's warm-up) whose 95 % band contains the true β."""
    assert fit.beta_band is not None, f"{fit.method} has no β band"
    lower, upper = (band.to_numpy() for band in fit.beta_band)
    known = ~np.isnan(lower) & ~np.isnan(upper)
    return float(((lower <= true_beta) & (true_beta <= upper))[known].mean())


def coverage_shares(method: str, *, n: int, half_life: float, window: int, trials: int, seed: int) -> list[float]:
    """Band coverage of a constant true β (OU spread of the given half-life) on each of `trials` pairs."""
    pairs = (ou_pair(n, seed + trial, half_life) for trial in range(trials))
    return [band_coverage(A.fit_hedge(pair.x, pair.y, method, window=window), pair.beta) for pair in pairs]


@dataclass(frozen=True)
class Tracking:
    """The default Kalman hedge on a pair whose β doubles at bar n/2: bars after the step until the filtered β first
    comes within TRACK_WITHIN of the new β (inf if never), its mean absolute error over the sample's last quarter
    relative to the new β, and the band's coverage of the true β over every bar after the warm-up."""

    bars_to_track: float
    late_error: float
    coverage: float


def kalman_tracking(n: int, seed: int, *, step: bool = True) -> Tracking:
    """Tracking and coverage of the Kalman hedge (warm-up KALMAN_WARMUP) on stepped_beta_pair(n, seed)."""
    pair = stepped_beta_pair(n, seed, step=step)
    fit = A.fit_hedge(pair.x, pair.y, "kalman")
    est = fit.beta_series.to_numpy()
    at = n // 2
    new = pair.beta[at]
    close = np.flatnonzero(np.abs(est[at:] - new) <= TRACK_WITHIN * abs(new))
    late = float(np.mean(np.abs(est[-(n // 4) :] - new))) / abs(new)
    return Tracking(float(close[0]) if close.size else math.inf, late, band_coverage(fit, pair.beta))


def tracking_runs(n: int, seeds: range, *, step: bool = True) -> list[Tracking]:
    """kalman_tracking on each seed."""
    return [kalman_tracking(n, seed, step=step) for seed in seeds]


# ---------------------------------------------------------------------------------------------- ADF size


@pytest.mark.parametrize(
    ("n", "theta", "trials"),
    [(600, -0.5, 1_000), (3_600, -0.5, 250), (20_000, -0.5, 100), (600, -0.8, 1_000), (3_600, -0.8, 250)],
)
def test_adf_size_under_ma1_errors_is_at_most_7_percent(n: int, theta: float, trials: int) -> None:
    """A unit root with MA(1) increments e_t + θ·e_{t−1}: the old lag cap rejected ~25 % at a nominal 5 % (θ = −0.5);
    the lag search must keep the rejection rate within the issue's ~7 % (plus 3 binomial s.e.: 9.4 % at 1,000
    trials, 11.8 % at 250, 14.7 % at 100). bench/pair_statistics.py measures 5–6 % at 600–20,000 bars."""
    rate = adf_rejection_rate(n, theta, trials, seed=91)
    assert rate <= ADF_SIZE_BOUND + binomial_slack(ADF_SIZE_BOUND, trials), f"ADF size {rate:.1%} at n = {n:,}"


def test_adf_size_on_a_random_walk_is_nominal() -> None:
    """On a plain random walk the rejection rate is the nominal 5 % (within 3 binomial s.e. either way: an
    undersized test wastes power)."""
    trials = 1_000
    rate = adf_rejection_rate(600, 0.0, trials, seed=92)
    assert abs(rate - NOMINAL) <= binomial_slack(NOMINAL, trials), f"ADF size {rate:.1%} on a random walk"


# ---------------------------------------------------------------------------------------------- overall verdict

RW_BARS = 1_000
# Every method runs on the first RW_TRIALS[method] of the same pairs. OLS gets the most (bound 8.8 %); the others
# fewer, so each has a looser bound of its own (11.5 %; Huber, whose causal fit refits on a geometric schedule,
# 15.3 %) and test_verdict_rests_on_prices_not_on_the_hedge_method ties their verdicts to OLS's.
RW_TRIALS = {"ols": 300, "tls": 100, "rolling": 100, "kalman": 100, "huber": 40}


@pytest.fixture(scope="module")
def random_walk_verdicts() -> dict[str, list[VerdictRun]]:
    """Verdicts of every hedge method on the same independent random walks (seeds 1,000 on; Huber on the first
    RW_TRIALS["huber"] of them). Rolling uses the default 60-bar window, whose spread ADF used to reject 100 %."""
    return {method: random_walk_runs(RW_BARS, method, trials, seed=1_000) for method, trials in RW_TRIALS.items()}


@pytest.mark.parametrize("method", list(RW_TRIALS))
def test_verdict_false_positive_rate_on_random_walks(random_walk_verdicts, method: str) -> None:
    """Independent random walks are not cointegrated: the overall verdict may say so on at most 5 % of pairs (plus
    noise) whatever the hedge method. Issue 9 measured 100 % (rolling 60), ~33 % (Kalman) and 15–20 % (OLS) when the
    evidence came from the adaptive spread."""
    runs = random_walk_verdicts[method]
    rate = cointegrated_share(runs)
    assert rate <= NOMINAL + binomial_slack(NOMINAL, len(runs)), f"{method}: false positives {rate:.1%}"


def test_verdict_rests_on_prices_not_on_the_hedge_method(random_walk_verdicts) -> None:
    """A pair's verdict is the same for every hedge method (Engle–Granger on the prices, qualified by the static
    residual), so every method has the false-positive rate measured on the most trials."""
    reference = [run.verdict for run in random_walk_verdicts["ols"]]
    for method, runs in random_walk_verdicts.items():
        assert [run.verdict for run in runs] == reference[: len(runs)], method


def test_verdict_never_contradicts_eg_and_uses_the_static_residual(random_walk_verdicts) -> None:
    """On independent random walks, for every method: the half-life and Hurst beside the verdict are those of the
    static OLS residual (not of the adaptive spread, which mean-reverts by construction), and no verdict contradicts
    the Engle–Granger p-value shown beside it (COINTEGRATED with p ≥ 5 %, or a misquoted p)."""
    for method, runs in random_walk_verdicts.items():
        for run in runs:
            assert run.half_life == pytest.approx(run.static_half_life, rel=1e-9), method
            assert run.hurst == pytest.approx(run.static_hurst, rel=1e-9), method
            assert contradiction(run) is None, (method, contradiction(run))


POWER_BARS = 3_600  # an hour of 1 s bars
POWER_TRIALS = 50


@pytest.mark.parametrize("half_life", [10.0, 50.0])
def test_verdict_power_on_fast_ou_spreads(half_life: float) -> None:
    """An OU spread with 72–360 half-lives in the window is found on at least 90 % of pairs (measured: all), and no
    verdict contradicts the EG p-value beside it."""
    runs = ou_runs(POWER_BARS, half_life, POWER_TRIALS, seed=2_000)
    assert cointegrated_share(runs) >= MIN_POWER, f"power {cointegrated_share(runs):.1%} at half-life {half_life}"
    assert [contradiction(run) for run in runs] == [None] * len(runs)


def test_verdict_power_falls_with_the_half_life() -> None:
    """Slow spreads are legitimately hard: 3,600 bars hold 36 half-lives of 100 bars but only 7 of 500, where an OU
    is hard to tell from a random walk with any test at 5 % size. Asserted: with 36 half-lives most pairs are found
    (≥ 70 %; bench/pair_statistics.py measures ~83 %), and power does not rise as the spread slows (500 bars: ~9 %,
    documented in the bench, not asserted against a floor)."""
    power = {hl: cointegrated_share(ou_runs(POWER_BARS, hl, POWER_TRIALS, seed=3_000)) for hl in (100.0, 500.0)}
    assert power[100.0] >= 0.70, power
    assert power[500.0] <= power[100.0], power


# ---------------------------------------------------------------------------------------------- Kalman tracking

STEP_BARS = 2_000  # warm-up 180, β doubles at bar 1,000, 1,000 bars to follow it
# The bars to come back are bimodal (deciles over 600 seeds: 48, 69, 94, 126, 176, 251, 359, 431, 515): the median
# of 60 seeds ranges over 140–320 bars, that of 300 seeds is within ~±25 bars of the 187 measured on 1,500.
STEP_SEEDS = 300
TRACK_BARS = 150


@pytest.fixture(scope="module")
def stepped_tracking() -> list[Tracking]:
    """The default Kalman hedge on STEP_SEEDS stepped-β pairs (a fit costs a few ms)."""
    return tracking_runs(STEP_BARS, range(STEP_SEEDS))


def test_kalman_tracks_a_stepped_beta(stepped_tracking) -> None:
    """β doubles at mid-sample without a jump in y (half-life 50, spread sd 0.2 % of y, x at 60,000 with 3e-4 per-bar
    vol): the filtered β comes within 10 % of the new β within TRACK_BARS bars (median over seeds; measured ~72) and
    stays close afterwards (mean absolute error over the last quarter ≤ 10 % of the new β; measured ~4.6 %)."""
    runs = stepped_tracking
    bars = float(np.median([run.bars_to_track for run in runs]))
    late = float(np.mean([run.late_error for run in runs]))
    assert bars <= TRACK_BARS, f"median {bars:.0f} bars to come within 10 % of the new β"
    assert late <= TRACK_WITHIN, f"mean absolute error {late:.1%} of the new β over the last quarter"


# ---------------------------------------------------------------------------------------------- band coverage


def test_kalman_band_covers_a_constant_beta() -> None:
    """The pair of test_kalman_tracks_a_stepped_beta without the step."""
    coverage = float(np.mean([run.coverage for run in tracking_runs(STEP_BARS, range(100), step=False)]))
    assert coverage >= MIN_COVERAGE, f"Kalman band coverage {coverage:.1%} (constant β)"


def test_kalman_band_covers_a_stepped_beta(stepped_tracking) -> None:
    """The pairs of test_kalman_tracks_a_stepped_beta: every bar after the warm-up counts, those right after the step
    (while the filter re-converges and its band should widen) included."""
    coverage = float(np.mean([run.coverage for run in stepped_tracking]))
    assert coverage >= MIN_COVERAGE, f"Kalman band coverage {coverage:.1%} (stepped β)"


@pytest.mark.parametrize(("method", "half_life"), [("ols", 10.0), ("ols", 20.0), ("rolling", 10.0)])
def test_hac_band_covers_a_constant_beta(method: str, half_life: float) -> None:
    """OLS (expanding, causal) and rolling OLS with HAC bands, window 500 = 25–50 half-lives of the OU residual
    (issue 9 measured 18–31 % with the iid standard error). Rolling at half-life 20 (25 half-lives a window) sits at
    the bound (90.4 % ± 0.3 % over 750 seeds) and is measured in the bench, not asserted."""
    coverage = float(np.mean(coverage_shares(method, n=3_000, half_life=half_life, window=500, trials=150, seed=5_000)))
    assert coverage >= MIN_COVERAGE, f"{method} band coverage {coverage:.1%} (window 500, half-life {half_life})"


def test_rolling_band_under_covers_when_the_window_spans_few_half_lives() -> None:
    """Known limitation, documented in README: a 120-bar window of a spread with half-life 50 holds ~2.4
    half-lives, too few independent observations for any standard error, and the band covers only ~81 % of bars.
    Asserted here is a floor far above the iid standard error's 18–31 %, so a regression of the HAC band fails."""
    coverage = float(np.mean(coverage_shares("rolling", n=3_000, half_life=50.0, window=120, trials=100, seed=6_000)))
    assert coverage >= 0.75, f"rolling band coverage {coverage:.1%} (window 120, half-life 50)"
