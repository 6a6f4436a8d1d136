"""The overfitting odds of an entry × exit sweep: every cell's per-bar returns from the backtest, the best cell's
deflated Sharpe ratio with every cell counted as a trial, and the probability of backtest overfitting (CSCV).

Why: the sweep heatmap's best cell is the maximum of many noisy trials; this says how much of its Sharpe is luck.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import replace
from typing import Any

import numpy as np
import pandas as pd

from quant.backtest import BacktestParams, backtest_pairs
from quant.costs import CostModel
from quant.metrics import annualization_factor
from quant.overfitting import probability_of_overfitting, trials_deflated_sharpe
from quant.results import SweepOverfitting


def sweep_returns(
    x: Any,
    y: Any,
    params: BacktestParams,
    entries: Sequence[float],
    exits: Sequence[float],
    costs: CostModel | None = None,
) -> pd.DataFrame:
    """Per-bar returns (net P&L over capital, paying `costs` as :func:`quant.backtest.backtest_pairs`) of the backtest
    of every valid (entry, exit) cell (exit < entry), one column per cell named "entry/exit"."""
    columns = {}
    for entry in entries:
        for exit_ in exits:
            if exit_ < entry:
                result = backtest_pairs(x, y, replace(params, entry=float(entry), exit=float(exit_)), costs)
                columns[f"{entry:g}/{exit_:g}"] = (result.pnl / params.capital).to_numpy()
    if len(columns) < 2:
        raise ValueError("the sweep needs at least two cells with exit < entry")
    return pd.DataFrame(columns)


def sweep_overfitting(
    x: Any,
    y: Any,
    params: BacktestParams,
    entries: Sequence[float],
    exits: Sequence[float],
    costs: CostModel | None = None,
) -> SweepOverfitting:
    """The best cell (by Sharpe) of the entry × exit sweep paying `costs`, its annualised Sharpe ratio, deflated Sharpe
    ratio and the sweep's PBO (:func:`quant.overfitting.probability_of_overfitting`)."""
    returns = sweep_returns(x, y, params, entries, exits, costs)
    deflated = trials_deflated_sharpe(returns)
    values = returns.to_numpy()
    sd = values.std(axis=0, ddof=1)
    per_bar = np.divide(values.mean(axis=0), sd, out=np.zeros(values.shape[1]), where=sd > 0)
    best = str(returns.columns[int(np.argmax(per_bar))])
    entry, exit_ = (float(v) for v in best.split("/"))
    return SweepOverfitting(
        entry=entry,
        exit=exit_,
        sharpe=deflated.sharpe * math.sqrt(annualization_factor(params.bar_seconds)),
        deflated=deflated,
        overfitting=probability_of_overfitting(returns),
    )
