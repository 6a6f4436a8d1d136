"""The scanner's selection: Benjamini–Hochberg over every pair screened (a pair the full test did not confirm counts as
p = 1), the out-of-sample requirement, and the grouping of the selected pairs into discoveries with their echoes
folded under them (a leg that holds a stationary spread lends it to every symbol it is regressed on).
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
import pandas as pd
from statsmodels.stats.multitest import multipletests

from quant.scan_describe import DESCRIBED_COLUMNS, MIN_VALIDATION, ConfirmedPair
from quant.scan_screen import Universe
from quant.vocabulary import SIGNIFICANCE

# the full test of symbols i and j on their common formation rows from s (y = i on x = j)
FullTest = Callable[[int, int, int], ConfirmedPair]


@dataclass(frozen=True)
class Selection:
    """The scan's table (one row per screened pair, selected first, each group's lead then its echoes, then the rest
    by rank; the helper columns u, v, start still in) and how many third sides the echo check confirmed beyond those
    the screen sent."""

    table: pd.DataFrame
    third_sides: int


def select_pairs(
    u: Universe,
    pairs: pd.DataFrame,
    screen: np.ndarray,
    described: dict[int, ConfirmedPair],
    fdr: float,
    full_test: FullTest,
) -> Selection:
    """``qvalue`` (BH over every pair, unconfirmed = p 1), ``oos_confirmed`` (the validation residual rejects at 5 %),
    ``selected`` = confirmed ∧ q ≤ `fdr` ∧ out of sample (when the validation window has MIN_VALIDATION bars) ∧, for
    an echo, consistent with its group (:func:`_group_echoes`, whose third sides `full_test` runs when the scan did
    not confirm them)."""
    table = _table(u, pairs, screen, described)
    table["qvalue"] = bh_qvalues(table["pvalue"].fillna(1.0).to_numpy())
    table["oos_confirmed"] = table["oos_pvalue"] < SIGNIFICANCE
    holds = table["oos_confirmed"] if u.validation.shape[0] >= MIN_VALIDATION else True
    table["selected"] = table["confirmed"] & (table["qvalue"] <= fdr) & holds
    table = table.sort_values(
        ["selected", "qvalue", "statistic", "screen_pvalue"],
        ascending=[False, True, True, True],
        kind="stable",
        na_position="last",
    )
    table = table.reset_index(drop=True)
    tu, tv, ts = (table[c].to_numpy(dtype=int) for c in ("u", "v", "start"))
    tested, tp = table["confirmed"].to_numpy(dtype=bool), table["pvalue"].to_numpy(dtype=float)
    row_of = {(int(i), int(j)): k for k, (i, j) in enumerate(zip(tu, tv))}
    index = {name: k for k, name in enumerate(u.symbols)}
    checked: dict[int, float] = {}

    def full_pvalue(a: str, b: str) -> float:
        """The full test's p-value of pair (a, b) (run now when the scan did not confirm it)."""
        k = row_of.get((index[a], index[b]), row_of.get((index[b], index[a]), -1))
        if k < 0:
            return math.nan
        if tested[k]:
            return float(tp[k])
        if k not in checked:
            checked[k] = full_test(int(tu[k]), int(tv[k]), int(ts[k])).pvalue
        return checked[k]

    passing = table["confirmed"] & (table["qvalue"] <= fdr)
    cutoff = float(table.loc[passing, "pvalue"].max()) if passing.any() else 0.0  # BH's p-value threshold
    table = _group_echoes(table, cutoff, full_pvalue)
    # selected first, each group's lead then its echoes, then the echoes left unselected, then the rest by rank
    table["_grouped"] = table["group"].where(table["group"] > 0, len(table) + 1)
    table = table.sort_values(
        ["selected", "_grouped", "lead", "qvalue", "statistic", "screen_pvalue"],
        ascending=[False, True, False, True, True, True],
        kind="stable",
        na_position="last",
    )
    return Selection(table.reset_index(drop=True), len(checked))


def bh_qvalues(p: np.ndarray) -> np.ndarray:
    """Benjamini–Hochberg q-values (statsmodels' multipletests, fdr_bh): q_(i) = min over k ≥ i of p_(k)·m/k,
    capped at 1."""
    return np.asarray(multipletests(p, method="fdr_bh")[1], dtype="float64")


def _group_echoes(table: pd.DataFrame, cutoff: float, pvalue_of: Callable[[str, str], float]) -> pd.DataFrame:
    """Fold echoes under their discovery, over the rows that pass (``selected`` on entry: confirmed, q ≤ fdr, out of
    sample), best first. First the leads: a pair with neither leg in a group leads a new one. Then the others, each
    joining the best group it shares a leg with, as an echo; an echo stays selected only if it is consistent with
    the groups it touches. Cointegration is transitive (y ~ x and y ~ z imply x ~ z), so the echo's legs and the
    legs of the leads of the groups it touches must all be cointegrated with each other: every pair among them is a
    discovery by the scan's own standard (the full test's p at most `cutoff`, Benjamini–Hochberg's p-value
    threshold; `pvalue_of` runs the full test on a pair the scan did not confirm).

    Why: a leg that holds a stationary spread (the y of a planted pair, y = α + β·x + OU) lends it to every symbol
    it is regressed on: y − c·z of an unrelated z is the OU plus a random walk that is small at this sample size,
    and the full test rejects (a reference Engle–Granger does too). Its third side x ~ z is the random walk alone
    and fails; a plain 5 % level would not do (an echo is selected because z stayed near x, so its third side looks
    better than chance: p ~ 0.01 measured), nor would checking one triangle when the echo's other leg is another
    planted y (then its third side holds that y's OU: the legs of both groups' leads must be checked)."""
    passing = np.flatnonzero(table["selected"].to_numpy()).tolist()
    xs, ys = table["x"].astype(str).to_numpy(), table["y"].astype(str).to_numpy()
    selected = np.zeros(len(table), dtype=bool)
    group = np.zeros(len(table), dtype=int)
    lead = np.zeros(len(table), dtype=bool)
    leg_group: dict[str, int] = {}
    leads: dict[int, tuple[str, str]] = {}
    echoes = []
    for k in passing:
        if xs[k] in leg_group or ys[k] in leg_group:
            echoes.append(k)
            continue
        group[k] = len(leads) + 1
        selected[k] = lead[k] = True
        leads[int(group[k])] = (xs[k], ys[k])
        leg_group[xs[k]] = leg_group[ys[k]] = int(group[k])
    for k in echoes:
        touched = sorted({leg_group[leg] for leg in (xs[k], ys[k]) if leg in leg_group})
        group[k] = touched[0]
        legs = sorted({xs[k], ys[k], *(leg for g in touched for leg in leads[g])})
        pairs = [(a, b) for n, a in enumerate(legs) for b in legs[n + 1 :] if {a, b} != {xs[k], ys[k]}]
        selected[k] = all(pvalue_of(a, b) <= cutoff for a, b in pairs)
        if selected[k]:
            leg_group.setdefault(xs[k], touched[0])
            leg_group.setdefault(ys[k], touched[0])
    sizes = np.bincount(group, minlength=1)
    table["group"] = group
    table["lead"] = lead
    table["echoes"] = np.where(lead, sizes[group] - 1, 0)
    table["selected"] = selected
    return table


def _table(u: Universe, pairs: pd.DataFrame, screen: np.ndarray, described: dict[int, ConfirmedPair]) -> pd.DataFrame:
    """One row per pair; pairs not confirmed have no p-value and no descriptive numbers."""
    first, second = pairs["u"].to_numpy(), pairs["v"].to_numpy()
    swap = np.zeros(len(pairs), dtype=bool)
    extra = pd.DataFrame(np.nan, index=pairs.index, columns=[*DESCRIBED_COLUMNS, "pvalue"], dtype="float64")
    if described:
        keys = list(described)
        extra.loc[keys, list(DESCRIBED_COLUMNS)] = np.array([described[k].numbers() for k in keys])
        extra.loc[keys, "pvalue"] = [described[k].pvalue for k in keys]
        swap[keys] = [described[k].swap for k in keys]
    # the confirmed orientation: y = u regressed on x = v unless the reverse regression rejected more strongly
    xi, yi = np.where(swap, first, second), np.where(swap, second, first)
    symbols = np.array(u.symbols, dtype=object)
    noisy = np.array([u.noise[name].noisy for name in u.symbols], dtype=bool)
    table = pd.DataFrame(
        {
            "x": symbols[xi],
            "y": symbols[yi],
            "u": first,
            "v": second,
            "start": pairs["start"].to_numpy(),
            "screen_pvalue": screen,
            "confirmed": pairs.index.isin(list(described)),
            "noisy_x": noisy[xi],
            "noisy_y": noisy[yi],
            "correlation": pairs["correlation"].to_numpy(),
            "n_bars": pairs["n_bars"].to_numpy(),
        }
    )
    return pd.concat([table, extra], axis=1)
