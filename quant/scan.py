"""The market scanner: every pair of a universe of aligned closes, screened at once, confirmed rigorously and ranked
with the false discovery rate controlled; a discovery is shown once, with the pairs that only echo it folded under it.

Why: statsmodels' coint costs ~0.35 s a pair, 12 hours for the ~125k pairs of 500 symbols. Here a dozen matrix
products give a noise-robust Dickey–Fuller statistic of every pair in both orientations (on means of a few bars, the
lag-2 level as the instrument of the lag-1 level, the long-run variance from two autocovariances: bid/ask bounce,
whose MA(1) component fools a lag-0 Dickey–Fuller test into ranking noise first, washes out of all three); the pairs
the screen ranks near the top are confirmed, best first and within a time budget, with the full test the Pair
Analytics tab uses (MAIC lag search over Schwert's bound, quant/unitroot.py). Benjamini–Hochberg (statsmodels'
multipletests, fdr_bh) runs over every pair screened, a pair the full test did not confirm counting as p = 1, and the
last part of the window re-tests the confirmed pairs out of sample: only a pair that passes all three is selected.

One job a module: quant/scan_screen.py (the universe made testable, the screen, which pairs are sent),
quant/scan_describe.py (the full test and the description of a confirmed pair), quant/scan_select.py (BH, the
out-of-sample requirement, discoveries and their echoes); this module runs them in order and summarises the scan.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from quant import unitroot
from quant.scan_describe import ConfirmedPair, describe_pair
from quant.scan_screen import (
    ExclusionReason,
    ScanExclusion,
    SymbolNoise,
    check_prices,
    prepare_universe,
    screen_pairs,
    to_confirm,
)
from quant.scan_select import select_pairs
from quant.vocabulary import InsufficientData

SUMMARY_ATTR = "scan"  # the result's attrs key of its ScanSummary
CONFIRM_SECONDS = 60.0  # default time budget of the full tests (pairs past it are reported left unconfirmed)
SCAN_COST_BPS = 5.0  # per leg per fill: the backtest's default taker fee (4 bps) + the stand-in half-spread (1 bps)
SCAN_COLUMNS = (
    "x",
    "y",
    "beta",
    "alpha",
    "pvalue",
    "pvalue_y_on_x",
    "pvalue_x_on_y",
    "statistic",
    "screen_pvalue",
    "qvalue",
    "selected",
    "lead",
    "group",
    "echoes",
    "confirmed",
    "noisy_x",
    "noisy_y",
    "half_life",
    "correlation",
    "spread_vol",
    "crossings_per_day",
    "hurst",
    "oos_pvalue",
    "oos_confirmed",
    "edge_per_day",
    "trade_hours",
    "covers_cost",
    "dsr",
    "n_bars",
)


@dataclass(frozen=True)
class ScanSummary:
    """What a scan tested, confirmed and left out, and why (kept in the result's ``attrs["scan"]``; read it with
    :func:`scan_summary`).

    pairs_sent: the pairs the screen sent to the full test; of those, pairs_confirmed were tested within the time
    budget and pairs_unconfirmed were not (they count as p = 1, never selected). pairs_groups: the groups the
    selected pairs form (a lead and the selected pairs sharing a leg with it). noise: every tested symbol's bounce
    measures (:class:`SymbolNoise`)."""

    symbols: int
    pairs_tested: int
    pairs_confirmed: int
    pairs_selected: int
    pairs_short_overlap: int
    formation_bars: int
    validation_bars: int
    excluded: dict[str, ScanExclusion] = field(default_factory=dict)
    pairs_sent: int = 0
    pairs_unconfirmed: int = 0
    pairs_groups: int = 0
    pairs_echoes: int = 0  # pairs folded under a group's lead (selected or not)
    third_sides: int = 0  # pairs the echo check confirmed beyond those the screen sent
    confirm_seconds: float = 0.0  # time the full tests took
    screen_bars: int = 1  # bars per mean the screen tested
    noise: dict[str, SymbolNoise] = field(default_factory=dict, repr=False)

    @property
    def noisy(self) -> list[str]:
        """The symbols flagged as bouncing."""
        return [name for name, n in self.noise.items() if n.noisy]


def scan_summary(table: pd.DataFrame) -> ScanSummary:
    """The :class:`ScanSummary` a :func:`scan_pairs` result carries."""
    summary = table.attrs.get(SUMMARY_ATTR)
    if not isinstance(summary, ScanSummary):
        raise ValueError("this table is not a scan_pairs result (it carries no scan summary)")
    return summary


def scan_pairs(
    prices: pd.DataFrame,
    *,
    validation_fraction: float = 0.3,
    fdr: float = 0.05,
    min_overlap: int = 1_440,
    screen_p: float = 0.05,
    confirm_seconds: float = CONFIRM_SECONDS,
    max_confirm: int | None = None,
    cost_bps: float = SCAN_COST_BPS,
    progress: Callable[[float], None] | None = None,
) -> pd.DataFrame:
    """Scan every pair of `prices` (aligned closes: a sorted UTC DatetimeIndex, one column per symbol, NaN before a
    symbol trades) for cointegration. Returns one row per tested pair (columns :data:`SCAN_COLUMNS`), best first,
    with a :class:`ScanSummary` in ``attrs["scan"]``.

    * Formation = the first 1 − validation_fraction of the rows, validation = the rest.
    * Screen (every pair, both orientations, on its common formation rows): the noise-robust Dickey–Fuller statistic
      of :func:`quant.scan_screen.iv_statistics` on means of :func:`quant.scan_screen.screen_bars` bars;
      ``screen_pvalue`` is its MacKinnon p-value by the weaker orientation. It only chooses which pairs the full test
      sees.
    * Confirmation: the pairs whose screen p-value is within CONFIRM_MARGIN times the screen's own Benjamini–Hochberg
      cutoff (and ≤ `screen_p`) get the full test the Pair Analytics tab runs (MAIC lag search), best screen p first,
      until `confirm_seconds` have passed (and at most `max_confirm` of them, when given); the summary counts those
      sent, confirmed and left unconfirmed. ``confirmed`` marks the pairs tested. `progress`, when given, is called
      after each full test with the share of the confirmation done (pairs or time budget, whichever is further).
    * ``pvalue`` = max(pvalue_y_on_x, pvalue_x_on_y) of the full test (NaN when not confirmed); (x, y) is oriented y
      on x where that p is the smaller, and beta/alpha are that regression's. ``qvalue`` is Benjamini–Hochberg over
      every pair screened, a pair not confirmed counting as p = 1 (so a screen p-value never selects).
    * ``oos_confirmed``: the validation residual under the formation's (α, β) rejects a unit root at 5 %.
    * ``selected`` = confirmed ∧ qvalue ≤ `fdr` ∧ oos_confirmed (the last only when the validation window has at
      least MIN_VALIDATION bars) ∧, for an echo, consistent with its group.
    * Echoes (:func:`quant.scan_select.select_pairs`): the pairs passing those tests, best first, form groups: a pair
      with no leg in a group leads a new one (``lead`` True, ``echoes`` = the other pairs folded under it); a pair
      sharing a leg joins the best group it touches as an echo (``lead`` False, ``echoes`` 0), selected only if its
      legs and those of the leads it touches are all cointegrated with each other. ``group`` numbers the groups from 1
      (0: none).
    * ``noisy_x``/``noisy_y``: the leg's 1-bar returns bounce (:class:`SymbolNoise`, every symbol's in the summary's
      ``noise``); such a pair's half_life (in bars), crossings_per_day and hurst come from
      :func:`quant.scan_describe.noisy_spread`. spread_vol is a share of y's mean price.
    * Edge after costs (confirmed pairs): ``edge_per_day`` is the expected return per day, as a share of the gross
      notional p_y + |β|·p_x, of Bertram's OU-optimal band on the formation residual traded both ways, after a round
      trip at `cost_bps` per leg per fill (:func:`quant.ou_bands.spread_edge`; NaN when the residual does not
      mean-revert bar to bar); ``trade_hours`` its expected cycle; ``covers_cost`` is False when no cycle is
      expected within the formation window (the band that would pay is too wide to trade). ``dsr`` is the chance
      that band's in-sample Sharpe is real with every pair tested counted as a trial
      (:func:`quant.scan_describe.pick_dsr`: after 4.5 M pairs a Sharpe of ~5.2/√n per bar over n bars reads 50 %).
    """
    check_prices(prices)
    if not 0 <= validation_fraction < 1:
        raise ValueError(f"validation_fraction must be in [0, 1), got {validation_fraction}")
    if not 0 < fdr < 1 or not 0 < screen_p <= 1:
        raise ValueError(f"fdr must be in (0, 1) and screen_p in (0, 1], got {fdr}, {screen_p}")
    if min_overlap < 100:
        raise ValueError(f"min_overlap must be at least 100 bars, got {min_overlap}")
    if not cost_bps > 0:
        raise ValueError(f"cost_bps must be > 0 (fees, half-spread and slippage per leg per fill), got {cost_bps}")
    if not confirm_seconds > 0 or (max_confirm is not None and max_confirm < 0):
        raise ValueError(f"confirm_seconds must be > 0 and max_confirm ≥ 0, got {confirm_seconds}, {max_confirm}")
    u = prepare_universe(prices, validation_fraction, min_overlap)
    if len(u.symbols) < 2:
        raise InsufficientData(
            f"the scan needs 2 testable symbols, have {len(u.symbols)}: "
            + "; ".join(f"{k}: {v.detail}" for k, v in u.excluded.items())
        )
    pairs = screen_pairs(u)
    recent = sum(why.reason is ExclusionReason.LISTED_RECENTLY for why in u.excluded.values())
    short = recent * len(u.symbols) + recent * (recent - 1) // 2  # pairs with a recent listing: too little overlap
    weaker = np.maximum(pairs["t_u_on_v"].to_numpy(), pairs["t_v_on_u"].to_numpy())
    screen = unitroot.pvalues(weaker, 2)
    candidates = to_confirm(screen, fdr, screen_p)
    bar_seconds = float(np.median(np.diff(prices.index.as_unit("ns").asi8))) / 1e9  # type: ignore[attr-defined]  # checked: a DatetimeIndex
    first, second, start = (pairs[c].to_numpy() for c in ("u", "v", "start"))
    noisy = np.array([u.noise[name].noisy for name in u.symbols], dtype=bool)
    described: dict[int, ConfirmedPair] = {}

    def full_test(i: int, j: int, s: int) -> ConfirmedPair:
        """The full test of symbols i and j on their common formation rows from s (y = i on x = j)."""
        xf, yf, xv, yv = u.formation[s:, j], u.formation[s:, i], u.validation[:, j], u.validation[:, i]
        return describe_pair(xf, yf, xv, yv, bar_seconds, bool(noisy[i] or noisy[j]), cost_bps, len(pairs))

    began = time.monotonic()
    for k in candidates.tolist():
        if (max_confirm is not None and len(described) >= max_confirm) or time.monotonic() - began > confirm_seconds:
            break
        described[k] = full_test(int(first[k]), int(second[k]), int(start[k]))
        if progress is not None:
            limit = len(candidates) if max_confirm is None else min(len(candidates), max_confirm)
            progress(min(1.0, max(len(described) / max(1, limit), (time.monotonic() - began) / confirm_seconds)))
    chosen = select_pairs(u, pairs, screen, described, fdr, full_test)
    span_hours = u.formation.shape[0] * bar_seconds / 3_600
    chosen.table["covers_cost"] = (chosen.table["edge_per_day"] > 0) & (chosen.table["trade_hours"] <= span_hours)
    table = chosen.table.loc[:, list(SCAN_COLUMNS)]
    spent = time.monotonic() - began
    table.attrs[SUMMARY_ATTR] = ScanSummary(
        len(prices.columns),
        len(table),
        len(described),
        int(table["selected"].sum()),
        short,
        u.formation.shape[0],
        u.validation.shape[0],
        u.excluded,
        pairs_sent=len(candidates),
        pairs_unconfirmed=len(candidates) - len(described),
        pairs_groups=int(table["lead"].sum()),
        pairs_echoes=int((table["group"] > 0).sum() - table["lead"].sum()),
        third_sides=chosen.third_sides,
        confirm_seconds=spent,
        screen_bars=int(pairs.attrs["bars"]),
        noise=u.noise,
    )
    return table
