"""Input validation for the analytics layer: turn arbitrary input into clean pandas Series or raise ValueError.

Why: every public function checks its input the same way, with the same messages.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd

from quant.vocabulary import InsufficientData

# ----------------------------------------------------------------------------------------------------------------
# Input validation
# ----------------------------------------------------------------------------------------------------------------


def as_series(values: Any, name: str) -> pd.Series:
    """Return values as a float64 Series, or raise ValueError naming the argument."""
    if isinstance(values, pd.DataFrame):
        raise ValueError(f"{name} must be a 1-D series, got a DataFrame with columns {list(values.columns)}")
    s = values if isinstance(values, pd.Series) else pd.Series(np.asarray(values))
    if s.ndim != 1:
        raise ValueError(f"{name} must be 1-D, got {s.ndim} dimensions")
    if not (pd.api.types.is_numeric_dtype(s.dtype) and not pd.api.types.is_bool_dtype(s.dtype)):
        raise ValueError(f"{name} must be numeric, got dtype {s.dtype}")
    return s.astype("float64")


def check_values(s: pd.Series, name: str, min_n: int, *, allow_nan: bool = False, constant_ok: bool = False) -> None:
    """Raise ValueError when s is empty, all-NaN, has inf (or NaN unless allowed), is too short or constant."""
    v = s.to_numpy()
    if v.size == 0:
        raise InsufficientData(f"{name} is empty")
    nan = np.isnan(v)
    n_nan = int(nan.sum())
    if n_nan == v.size:
        raise InsufficientData(f"{name} is all NaN ({v.size} values)")
    if np.isinf(v).any():
        raise ValueError(f"{name} contains ±inf values")
    if n_nan and not allow_nan:
        raise ValueError(f"{name} contains {n_nan} NaN values of {v.size}; drop them or align the inputs first")
    if v.size - n_nan < min_n:
        raise InsufficientData(f"{name} is too short: {v.size - n_nan} finite values, need at least {min_n}")
    if not constant_ok and np.nanmax(v) == np.nanmin(v):
        raise InsufficientData(f"{name} is constant (every value is {np.nanmax(v)!r}); the statistic is undefined")


def check_index(index: pd.Index, name: str) -> None:
    """Raise ValueError when a time index is unsorted or has duplicate stamps."""
    if isinstance(index, pd.DatetimeIndex):
        if not index.is_monotonic_increasing:
            raise ValueError(f"{name} has an unsorted time index; sort it first")
        if index.has_duplicates:
            raise ValueError(f"{name} has duplicate time stamps; one bar per time is required")


def aligned_pair(x: Any, y: Any, min_n: int, constant_ok: bool = False) -> tuple[pd.Series, pd.Series]:
    """Validate an aligned (x, y) price pair and return float64 Series sharing one index."""
    for name, values in (("x", x), ("y", y)):
        if isinstance(values, pd.DataFrame):
            as_series(values, name)
    if isinstance(x, pd.Series) and not isinstance(y, pd.Series) and len(np.asarray(y)) == len(x):
        y = pd.Series(np.asarray(y), index=x.index)
    elif isinstance(y, pd.Series) and not isinstance(x, pd.Series) and len(np.asarray(x)) == len(y):
        x = pd.Series(np.asarray(x), index=y.index)
    xs, ys = as_series(x, "x"), as_series(y, "y")
    if len(xs) != len(ys):
        raise ValueError(
            f"x and y are misaligned: lengths {len(xs)} and {len(ys)}; join them on common bar times "
            "first (align_closes)"
        )
    if not xs.index.equals(ys.index):
        raise ValueError(
            "x and y are misaligned: their indexes differ; join them on common bar times first (align_closes)"
        )
    check_index(xs.index, "x")
    check_values(xs, "x", min_n, constant_ok=constant_ok)
    check_values(ys, "y", min_n, constant_ok=constant_ok)
    return xs, ys


def check_window(window: Any, name: str, n: int | None, minimum: int = 2) -> int:
    """Return window as int, or raise ValueError when it is not an integer in [minimum, n] (n=None: no cap)."""
    if isinstance(window, bool) or not isinstance(window, (int, np.integer)):
        raise ValueError(f"{name} must be an integer, got {window!r}")
    if window < minimum:
        raise ValueError(f"{name}={window} is out of range: need {name} >= {minimum}")
    if n is not None and window > n:
        raise InsufficientData(f"{name}={window} needs at least {window} bars; have {n}")
    return int(window)


def check_choice(value: Any, name: str, accepted: tuple[str, ...]) -> str:
    """Return value when it is one of accepted, else raise ValueError listing the accepted values."""
    if value not in accepted:
        raise ValueError(f"unknown {name} {value!r}; accepted: {', '.join(accepted)}")
    return value
