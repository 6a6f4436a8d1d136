"""The Kalman hedge's learned noise (issue 23): the likelihood it maximises is the fading-memory filter's own
prediction-error decomposition (checked against a loop written here), the memory it learns is long on a steady β and
short on a moving one, and nothing it shows at bar t depends on bars after t."""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest
from test_statistics import steady_beta_pair

import analytics as A
from quant import kalman

pytestmark = pytest.mark.filterwarnings("error")


def _fading_memory_loglik(h: np.ndarray, y: np.ndarray, memory: float, skip: int, span: float) -> np.ndarray:
    """Profile log-likelihood through each bar of the fading-memory filter, state [β, α], H = [h_t, 1], written as a
    matrix-form filter: predicted covariance P/λ (λ = 1 − 1/memory), r = 1 from the diffuse prior, then r profiled
    out over the bars from `skip` on, each bar's terms discounted by 1 − 1/span a bar."""
    lam, keep = 1.0 - 1.0 / memory, 1.0 - 1.0 / span
    theta, cov = np.zeros(2), kalman._DIFFUSE * np.eye(2)
    sq_sum = log_sum = count = 0.0
    out = np.full(h.size, np.nan)
    for t in range(h.size):
        hm = np.array([h[t], 1.0])
        pred = cov / lam
        f = float(hm @ pred @ hm) + 1.0
        e = float(y[t] - hm @ theta)
        gain = pred @ hm / f
        theta = theta + gain * e
        cov = pred - np.outer(gain, hm @ pred)
        if t >= skip:
            sq_sum = keep * sq_sum + e * e / f
            log_sum = keep * log_sum + math.log(f)
            count = keep * count + 1.0
            out[t] = -0.5 * count * math.log(sq_sum / count) - 0.5 * log_sum
    return out


def test_memory_likelihood_is_the_fading_memory_filters_own() -> None:
    """memory_loglik (exponentially weighted sums, one lfilter per memory) equals the prediction-error decomposition of
    a loop-form fading-memory filter, bar by bar, for short and long memories, with every bar alike and with older
    bars discounted."""
    rng = np.random.default_rng(5)
    n = 1_500
    h = np.cumsum(rng.normal(0.0, 0.1, n)) + rng.normal(size=n)
    y = 0.3 + (0.5 + np.cumsum(rng.normal(0.0, 0.01, n))) * h + rng.normal(size=n)
    memories = np.array([30.0, 300.0, 3_000.0])
    start = 200
    for span in (math.inf, 400.0):
        fast = kalman.memory_loglik(h, y, memories, start, span=span)
        for row, memory in zip(fast, memories):
            ref = _fading_memory_loglik(h, y, memory, kalman._SKIP, span)[start:]
            np.testing.assert_allclose(row, ref, rtol=1e-7, err_msg=f"memory {memory}, span {span}")


def test_learned_memory_refines_between_grid_points() -> None:
    """The maximum of a log-likelihood that is a parabola in log memory is found exactly between grid points, and at
    an end of the grid that end is taken."""
    memories = 300.0 * 4.0 ** np.arange(4)
    logm = np.log(memories)
    peaks = np.log([900.0, 300.0, 1e6])
    loglik = -((logm[:, None] - peaks[None, :]) ** 2)
    np.testing.assert_allclose(kalman.learned_memory(loglik, memories), [900.0, 300.0, memories[-1]], rtol=1e-9)


def test_memory_is_long_on_a_steady_beta_and_short_on_a_moving_one() -> None:
    """On issue 23's steady pair the likelihood lengthens the memory far past the shortest (300 bars); when β
    alternates between 0.05 and 0.10 every 500 bars it keeps the shortest (measured: all 20 seeds)."""
    steady, moving = [], []
    n, every = 6_000, 500
    for seed in range(20):
        pair = steady_beta_pair(n, seed)
        steady.append(kalman.kalman_hedge(pair.x.to_numpy(), pair.y.to_numpy()).noise.memory)
        x = pair.x.to_numpy()
        beta = np.where(np.arange(n) // every % 2 == 0, 0.05, 0.10)
        alpha = 150.0 - np.cumsum(np.concatenate([[0.0], np.diff(beta) * x[1:]]))  # no jump in y at a switch
        y = alpha + beta * x + (pair.y.to_numpy() - 150.0 - 0.05 * x)
        moving.append(kalman.kalman_hedge(x, y).noise.memory)
    assert float(np.median(steady)) >= 10 * A.KALMAN_MEMORY, sorted(steady)
    assert max(moving) <= 2 * A.KALMAN_MEMORY, sorted(moving)


@pytest.mark.parametrize("step_at", [None, 1_000])
@pytest.mark.parametrize("t", [178, 179, 359, 360, 719, 1_005, 2_879, 2_880, 4_321])
def test_kalman_hedge_never_looks_ahead(t: int, step_at: int | None) -> None:
    """Perturbing every bar after t (prices scaled, noise added, a different β) leaves the β, α and band of every
    bar up to t unchanged: φ, r and the memory used at a bar come from earlier bars only (t spans the warm-up's end,
    the re-estimation checkpoints at 360 … 2,880 bars and the 10-bar refreshes of the memory)."""
    pair = steady_beta_pair(6_000, 7, step_at=step_at)
    x, y = pair.x.to_numpy().copy(), pair.y.to_numpy().copy()
    base = A.fit_hedge(pair.x, pair.y, "kalman")
    rng = np.random.default_rng(t)
    x[t + 1 :] *= 1.0 + 0.01 * np.cumsum(rng.normal(size=x.size - t - 1))
    y[t + 1 :] = 0.2 * x[t + 1 :] + rng.normal(0.0, 50.0, y.size - t - 1)
    bent = A.fit_hedge(pd.Series(x, index=pair.x.index), pd.Series(y, index=pair.y.index), "kalman")
    assert base.beta_band is not None and bent.beta_band is not None
    for before, after in (
        (base.beta_series, bent.beta_series),
        (base.alpha_series, bent.alpha_series),
        (base.beta_band[0], bent.beta_band[0]),
        (base.beta_band[1], bent.beta_band[1]),
    ):
        np.testing.assert_array_equal(after.to_numpy()[: t + 1], before.to_numpy()[: t + 1])
    assert not np.allclose(bent.beta_series.to_numpy()[t + 1 :], base.beta_series.to_numpy()[t + 1 :])


def test_kalman_hedge_survives_a_flat_stretch_of_x() -> None:
    """Forward-filled bars (x constant for a stretch after the warm-up) leave every memory's likelihood degenerate
    there; the hedge still returns finite β and bands."""
    pair = steady_beta_pair(3_000, 3)
    x = pair.x.to_numpy().copy()
    x[500:1_500] = x[500]
    path = kalman.kalman_hedge(x, pair.y.to_numpy())
    assert np.isfinite(path.beta[179:]).all() and np.isfinite(path.beta_se[179:]).all()
