"""Spreads with a known break for the cointegration-break alarm's tests and its benchmark (bench/break_alarm.py): an
AR(1)/OU with a given half-life that turns into a random walk with the same innovations at a known bar, with Gaussian,
Student-t(4) or GARCH(1,1) innovations. Fixed seeds give the same paths."""

from __future__ import annotations

import enum
import math

import numpy as np
from scipy.signal import lfilter
from universe_fixtures import increments

HALF_LIFE = 60.0  # bars: the OU


class Innovations(enum.StrEnum):
    """The law of the spread's unit-variance innovations."""

    NORMAL = "normal"
    T4 = "t4"  # Student t with 4 degrees of freedom (heavy tails), scaled to unit variance
    GARCH = "garch"  # GARCH(1,1), α 0.1, β 0.85: volatility clusters


def shocks(rng: np.random.Generator, pairs: int, bars: int, kind: Innovations) -> np.ndarray:
    """Unit-variance innovations, (pairs, bars)."""
    if kind is Innovations.T4:
        return rng.standard_t(4, (pairs, bars)) / math.sqrt(2.0)
    return increments(rng, bars, pairs, str(kind)).T


def ou_then_walk(
    rng: np.random.Generator,
    pairs: int,
    bars: int,
    break_at: int | None,
    kind: Innovations = Innovations.NORMAL,
    half_life: float = HALF_LIFE,
) -> np.ndarray:
    """(pairs, bars) spreads: an OU of the given half-life started in its stationary law, a random walk with the
    same innovations from bar `break_at` on (None: never)."""
    e = shocks(rng, pairs, bars, kind)
    phi = 0.5 ** (1.0 / half_life)
    e[:, 0] /= math.sqrt(1.0 - phi * phi)
    end = bars if break_at is None else break_at
    out = np.empty((pairs, bars))
    out[:, :end] = lfilter([1.0], [1.0, -phi], e[:, :end], axis=1)
    if end < bars:
        out[:, end:] = out[:, end - 1 : end] + np.cumsum(e[:, end:], axis=1)
    return out


def onsets(standing: np.ndarray, start: int) -> np.ndarray:
    """Alarm onsets per row from bar `start` on (a row standing at `start` counts one)."""
    a = standing[..., start:]
    return a[..., 0].astype(int) + (a[..., 1:] & ~a[..., :-1]).sum(axis=-1)


def delays(standing: np.ndarray, break_at: int) -> np.ndarray:
    """Bars from the break to the first bar the alarm stands on (at or after it); NaN where it never does."""
    after = standing[..., break_at:]
    first = np.argmax(after, axis=-1).astype("float64")
    first[~after.any(axis=-1)] = np.nan
    return first
