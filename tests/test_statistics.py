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


def steady_beta_pair(n: int, seed: int, *, step_at: int | None = None) -> KnownBetaPair:
    """Issue 23's pair: x an arithmetic random walk of step 15 from 60,000, y = 150 + 0.05·x + an AR(1) spread
    (φ 0.95, innovation σ 3). With step_at, β doubles at that bar while α drops by 0.05·x there (no jump in y)."""
    rng = np.random.default_rng(seed)
    x = 60_000.0 + np.cumsum(rng.normal(0.0, 15.0, n))
    beta, alpha = np.full(n, 0.05), np.full(n, 150.0)
    if step_at is not None:
        beta[step_at:] = 0.10
        alpha[step_at:] = 150.0 - 0.05 * x[step_at]
    spread = ar1(n, 0.95, 3.0, rng)
    index = time_index(n)
    return KnownBetaPair(
        pd.Series(x, index=index, name="x"), pd.Series(alpha + beta * x + spread, index=index, name="y"), beta
    )


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
    ended: bool = False  # the change-in-persistence test fired
    first_warning: str = ""


def verdict_run(x: pd.Series, y: pd.Series, method: str) -> VerdictRun:
    """pair_analytics with the dashboard's default windows and the given hedge method."""
    pa = A.pair_analytics(x, y, method=method)
    design = np.column_stack([np.ones(len(x)), x.to_numpy()])
    coef, *_ = np.linalg.lstsq(design, y.to_numpy(), rcond=None)
    resid = y.to_numpy() - design @ coef
    eg, hl, hurst = pa.tests.engle_granger, pa.tests.half_life, pa.tests.hurst
    assert eg is not None and hl is not None and hurst is not None, pa.tests.problems
    change, verdict = pa.tests.persistence_change, pa.verdict
    return VerdictRun(
        verdict.verdict,
        verdict.headline,
        eg.pvalue,
        hl.bars,
        hurst.exponent,
        A.half_life(resid),
        A.hurst_exponent(resid),
        change is not None and change.ended,
        verdict.warnings[0] if verdict.warnings else "",
    )


def contradiction(run: VerdictRun) -> str | None:
    """Why the verdict contradicts the Engle–Granger p-value or the last-third test shown beside it, or None when
    it does not: COINTEGRATED needs p < 5 %, a finite half-life and a last third that did not stop reverting, and
    must quote that p; ENDED needs p < 5 %, a finite half-life and the last-third test firing, says so first in
    its headline and first warning, and quotes p; any other verdict needs p ≥ 5 % or no mean reversion in the
    static residual."""
    if run.verdict in (A.Verdict.COINTEGRATED, A.Verdict.ENDED):
        if run.eg_pvalue >= NOMINAL or not math.isfinite(run.half_life):
            return f"{run.verdict} with EG p {run.eg_pvalue:.3f}, half-life {run.half_life}"
        if run.ended != (run.verdict is A.Verdict.ENDED):
            return f"{run.verdict} while the last-third test {'fired' if run.ended else 'did not fire'}"
        if run.verdict is A.Verdict.ENDED and not (
            run.headline.startswith("Mean reversion appears to have stopped")
            and run.first_warning.startswith(A.ENDED_TEXT)
        ):
            return f"an ended relation not said first: {run.headline} / {run.first_warning}"
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


def band_coverage(fit: A.HedgeResult, true_beta: np.ndarray, start: int = 0) -> float:
    """Share of the bars with a band (those after the fit's warm-up), from bar `start` on, whose 95 % band contains
    the true β."""
    assert fit.beta_band is not None, f"{fit.method} has no β band"
    lower, upper = (band.to_numpy()[start:] for band in fit.beta_band)
    known = ~np.isnan(lower) & ~np.isnan(upper)
    return float(((lower <= true_beta[start:]) & (true_beta[start:] <= upper))[known].mean())


def coverage_shares(method: str, *, n: int, half_life: float, window: int, trials: int, seed: int) -> list[float]:
    """Band coverage of a constant true β (OU spread of the given half-life) on each of `trials` pairs."""
    pairs = (ou_pair(n, seed + trial, half_life) for trial in range(trials))
    return [band_coverage(A.fit_hedge(pair.x, pair.y, method, window=window), pair.beta) for pair in pairs]


@dataclass(frozen=True)
class Tracking:
    """The default Kalman hedge on a pair whose β doubles at bar n/2: bars after the step until the filtered β first
    comes within TRACK_WITHIN of the new β (inf if never), its mean absolute error over the sample's last quarter
    relative to the new β, and the band's coverage of the true β over every bar after the warm-up and over the bars
    from the step on."""

    bars_to_track: float
    late_error: float
    coverage: float
    coverage_after: float


def kalman_tracking(n: int, seed: int, *, step: bool = True) -> Tracking:
    """Tracking and coverage of the Kalman hedge (warm-up KALMAN_WARMUP) on stepped_beta_pair(n, seed)."""
    pair = stepped_beta_pair(n, seed, step=step)
    fit = A.fit_hedge(pair.x, pair.y, "kalman")
    est = fit.beta_series.to_numpy()
    at = n // 2
    new = pair.beta[at]
    close = np.flatnonzero(np.abs(est[at:] - new) <= TRACK_WITHIN * abs(new))
    late = float(np.mean(np.abs(est[-(n // 4) :] - new))) / abs(new)
    bars = float(close[0]) if close.size else math.inf
    return Tracking(bars, late, band_coverage(fit, pair.beta), band_coverage(fit, pair.beta, at))


def tracking_runs(n: int, seeds: range, *, step: bool = True) -> list[Tracking]:
    """kalman_tracking on each seed."""
    return [kalman_tracking(n, seed, step=step) for seed in seeds]


@dataclass(frozen=True)
class Convergence:
    """The default Kalman hedge on steady_beta_pair without a step: |β − 0.05|/0.05 at the last bar, the 95 % band's
    width at bar `early` and at the last bar, and the band's coverage of the true β after the warm-up."""

    error: float
    early_width: float
    width: float
    coverage: float


def kalman_convergence(n: int, seed: int, early: int) -> Convergence:
    """Convergence of the Kalman hedge on steady_beta_pair(n, seed)."""
    pair = steady_beta_pair(n, seed)
    fit = A.fit_hedge(pair.x, pair.y, "kalman")
    assert fit.beta_band is not None, "the Kalman hedge has a band"
    width = (fit.beta_band[1] - fit.beta_band[0]).to_numpy()
    return Convergence(
        abs(fit.beta - 0.05) / 0.05, float(width[early]), float(width[-1]), band_coverage(fit, pair.beta)
    )


def steady_step_tracking(n: int, seed: int, at: int) -> Tracking:
    """Tracking and coverage of the Kalman hedge on steady_beta_pair(n, seed, step_at=at): bars after the step until
    the filtered β first comes within TRACK_WITHIN of 0.10, the error over the last quarter, coverage."""
    pair = steady_beta_pair(n, seed, step_at=at)
    fit = A.fit_hedge(pair.x, pair.y, "kalman")
    est = fit.beta_series.to_numpy()
    close = np.flatnonzero(np.abs(est[at:] - 0.10) <= TRACK_WITHIN * 0.10)
    late = float(np.mean(np.abs(est[-(n // 4) :] - 0.10))) / 0.10
    bars = float(close[0]) if close.size else math.inf
    return Tracking(bars, late, band_coverage(fit, pair.beta), band_coverage(fit, pair.beta, at))


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
# The bars to come back are spread wide (deciles over 300 seeds: 17, 31 (25 %), 47 (median), 73 (75 %), 118): the
# median of 300 seeds is within ~±10 bars of its expectation (bench/pair_statistics.py).
STEP_SEEDS = 300
TRACK_BARS = 150


@pytest.fixture(scope="module")
def stepped_tracking() -> list[Tracking]:
    """The default Kalman hedge on STEP_SEEDS stepped-β pairs (a fit costs a few ms)."""
    return tracking_runs(STEP_BARS, range(STEP_SEEDS))


def test_kalman_tracks_a_stepped_beta(stepped_tracking) -> None:
    """β doubles at mid-sample without a jump in y (half-life 50, spread sd 0.2 % of y, x at 60,000 with 3e-4 per-bar
    vol): the filtered β comes within 10 % of the new β within TRACK_BARS bars (median over seeds; measured 47, 66
    with the fixed 300-bar memory before issue 23) and stays close afterwards (mean absolute error over the last
    quarter ≤ 10 % of the new β; measured ~3.2 %)."""
    runs = stepped_tracking
    bars = float(np.median([run.bars_to_track for run in runs]))
    late = float(np.mean([run.late_error for run in runs]))
    assert bars <= TRACK_BARS, f"median {bars:.0f} bars to come within 10 % of the new β"
    assert late <= TRACK_WITHIN, f"mean absolute error {late:.1%} of the new β over the last quarter"


STEADY_BARS = 6_000
STEADY_SEEDS = 20


def test_kalman_learns_a_steady_beta() -> None:
    """Issue 23: on a pair whose β never moves (steady_beta_pair) the learned noise lets the hedge converge: at bar
    6,000 β is within 10 % of 0.05 (measured over seeds 0–19: median error 2.2 %, worst 6.1 %; over 100 seeds 2.4 %
    and 15.5 %, 94 within 10 %; the fixed 300-bar memory: median 15 %, worst 131 %), the band is narrower at 6,000
    bars than at 1,500 on every seed (median width 0.064 → 0.008; fixed memory 0.070 → 0.065) and still covers the
    true β (measured 98.7 %)."""
    runs = [kalman_convergence(STEADY_BARS, seed, early=1_500) for seed in range(STEADY_SEEDS)]
    errors = np.array([run.error for run in runs])
    assert float(np.median(errors)) <= 0.05, f"median error {np.median(errors):.1%} at bar {STEADY_BARS:,}"
    assert (errors <= TRACK_WITHIN).sum() >= STEADY_SEEDS - 2, f"errors {np.sort(errors).round(3)}"
    assert all(run.width < run.early_width for run in runs), [(run.early_width, run.width) for run in runs]
    coverage = float(np.mean([run.coverage for run in runs]))
    assert coverage >= MIN_COVERAGE, f"Kalman band coverage {coverage:.1%} (steady β)"


def test_kalman_tracks_a_step_after_a_long_steady_stretch() -> None:
    """The honest trade-off of a long memory: when β doubles at bar 3,000 of steady_beta_pair the hedge still comes
    within 10 % of the new β on every seed, but later (measured median 212 bars over seeds 0–19, 238 over 100; the
    fixed 300-bar memory took ~165), and the band still covers the true β on ≥ 90 % of bars, before the step and
    from the step on (measured 94 % and 91.0 %; 90.8 % after the step over 100 seeds; 85.8 % before the
    likelihood's weights faded and a break reset the state's covariance)."""
    runs = [steady_step_tracking(STEADY_BARS, seed, STEADY_BARS // 2) for seed in range(STEADY_SEEDS)]
    bars = np.array([run.bars_to_track for run in runs])
    assert np.isfinite(bars).all() and float(np.median(bars)) <= 600, f"bars to come back {np.sort(bars)}"
    coverage = float(np.mean([run.coverage for run in runs]))
    assert coverage >= MIN_COVERAGE, f"Kalman band coverage {coverage:.1%} (steady β, then a step)"
    after = float(np.mean([run.coverage_after for run in runs]))
    assert after >= MIN_COVERAGE, f"Kalman band coverage {after:.1%} from the step on (steady β, then a step)"


# ---------------------------------------------------------------------------------------------- band coverage


def test_kalman_band_covers_a_constant_beta() -> None:
    """The pair of test_kalman_tracks_a_stepped_beta without the step."""
    coverage = float(np.mean([run.coverage for run in tracking_runs(STEP_BARS, range(100), step=False)]))
    assert coverage >= MIN_COVERAGE, f"Kalman band coverage {coverage:.1%} (constant β)"


def test_kalman_band_covers_a_stepped_beta(stepped_tracking) -> None:
    """The pairs of test_kalman_tracks_a_stepped_beta: every bar after the warm-up counts, those right after the step
    (while the filter re-converges and its band should widen) included, and the bars from the step on alone
    (measured 95.2 % and 93.2 %)."""
    coverage = float(np.mean([run.coverage for run in stepped_tracking]))
    assert coverage >= MIN_COVERAGE, f"Kalman band coverage {coverage:.1%} (stepped β)"
    after = float(np.mean([run.coverage_after for run in stepped_tracking]))
    assert after >= MIN_COVERAGE, f"Kalman band coverage {after:.1%} from the step on (stepped β)"


@pytest.mark.parametrize(("method", "half_life"), [("ols", 10.0), ("ols", 20.0), ("ols", 100.0), ("rolling", 10.0)])
def test_hac_band_covers_a_constant_beta(method: str, half_life: float) -> None:
    """OLS (expanding, causal) and rolling OLS with HAC bands, window 500 = 5–50 half-lives of the OU residual
    (issue 9 measured 18–31 % with the iid standard error)."""
    coverage = float(np.mean(coverage_shares(method, n=3_000, half_life=half_life, window=500, trials=150, seed=5_000)))
    assert coverage >= MIN_COVERAGE, f"{method} band coverage {coverage:.1%} (window 500, half-life {half_life})"


@pytest.mark.parametrize("half_life", [50.0, 100.0])
def test_expanding_ols_band_covers_slow_spreads_from_a_short_window(half_life: float) -> None:
    """Issue 23: expanding OLS from the default 60-bar window over 1,000 bars covered the true β on 86.5 % of bars
    at half-life 100 (88 % at 50): early windows hold less than one half-life, Kendall's correction left the
    residual's AR(1) far too small, and the HAC standard error of a few effective observations is itself noisy.
    The median-unbiased AR(1) and Student's t for those observations bring it to ~93 % (bench/verdict_breaks.py)."""
    coverage = float(np.mean(coverage_shares("ols", n=1_000, half_life=half_life, window=60, trials=150, seed=5_500)))
    assert coverage >= MIN_COVERAGE, f"OLS band coverage {coverage:.1%} (window 60, 1,000 bars, half-life {half_life})"


def test_rolling_band_covers_when_the_window_spans_few_half_lives() -> None:
    """A 120-bar window of a spread with half-life 50 holds ~2.4 half-lives: the HAC band covered only ~81 % of bars
    (a documented limitation) until the residual's AR(1) was median-unbiased and the band took Student's t for the
    score's few effective observations (issue 23); measured 90 %. The floor is a little below the target: this is
    the hardest case the bands meet."""
    coverage = float(np.mean(coverage_shares("rolling", n=3_000, half_life=50.0, window=120, trials=100, seed=6_000)))
    assert coverage >= 0.87, f"rolling band coverage {coverage:.1%} (window 120, half-life 50)"
