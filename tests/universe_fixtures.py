"""Universes of 1-minute closes with known answers for the scanner's selection tests and its study
(bench/scan_selection.py): a market factor and sector factors on log prices, planted cointegrated pairs, late
listings, a halted symbol, bid/ask-bounce and tick-grid symbols, and null universes with heavy-tailed and GARCH
increments. Fixed seeds: the same arguments give the same universe.

Why not data_feed.simulate_universe: that one is the offline app's stand-in (one bounce model, no market factor, no
listings); these are the adversarial cases the issue measured (issue 23), each a knob.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

import numpy as np
import pandas as pd
from scipy.signal import lfilter

VOL = 8e-4  # per-bar sd of a symbol's log-price increments (about a liquid perpetual's 1-minute move)
INCREMENTS = ("normal", "t3", "garch")


@dataclass(frozen=True)
class SimUniverse:
    """Closes (UTC 1-minute index, NaN before a listing and after a halt) and the truth."""

    prices: pd.DataFrame
    planted: frozenset[frozenset[str]]  # the cointegrated pairs
    bounce: frozenset[str]  # symbols whose closes carry i.i.d. bid/ask noise or sit on a tick grid
    late: frozenset[str]  # listed during the window
    halted: frozenset[str]  # stopped trading during the window
    half_lives: dict[frozenset[str], float] = field(default_factory=dict)  # each planted pair's, in bars


def time_index(n_bars: int) -> pd.DatetimeIndex:
    return pd.date_range("2024-08-01", periods=n_bars, freq="1min", tz="UTC", name="time")


def increments(rng: np.random.Generator, n_bars: int, n: int, kind: str) -> np.ndarray:
    """Unit-variance i.i.d.-in-law increments, (n_bars, n): normal, Student-t with 3 degrees of freedom (heavy tails,
    infinite fourth moment) or GARCH(1,1) (α 0.1, β 0.85: volatility clusters)."""
    if kind == "normal":
        return rng.normal(0.0, 1.0, (n_bars, n))
    if kind == "t3":
        return rng.standard_t(3, (n_bars, n)) / math.sqrt(3.0)
    if kind == "garch":
        omega, alpha, beta = 0.05, 0.1, 0.85  # unconditional variance ω / (1 − α − β) = 1
        z = rng.normal(0.0, 1.0, (n_bars, n))
        out = np.empty_like(z)
        var = np.ones(n)
        for t in range(n_bars):
            out[t] = np.sqrt(var) * z[t]
            var = omega + alpha * out[t] ** 2 + beta * var
        return out
    raise ValueError(f"increments must be one of {INCREMENTS}, got {kind!r}")


def ou(rng: np.random.Generator, n_bars: int, half_life: float, sd: float) -> np.ndarray:
    """An AR(1)/OU path with the given half-life (bars) and stationary sd, started in its stationary law."""
    phi = 0.5 ** (1.0 / half_life)
    shocks = rng.normal(0.0, sd * math.sqrt(1 - phi * phi), n_bars)
    shocks[0] = rng.normal(0.0, sd)
    return np.asarray(lfilter([1.0], [1.0, -phi], shocks))


def add_bounce(log_price: np.ndarray, rng: np.random.Generator, sd: float) -> np.ndarray:
    """Last-trade closes of an illiquid symbol: i.i.d. N(0, sd) noise (a share of price) on the efficient log price;
    lag-1 return autocorrelation −sd²/(σ² + 2·sd²) for a per-bar sd σ (≈ −0.47 at sd 0.3 %, σ 0.08 %)."""
    return log_price + rng.normal(0.0, sd, log_price.shape)


def on_tick_grid(price: np.ndarray, tick: float) -> np.ndarray:
    """Prices rounded to a tick grid (a one-tick market when the tick exceeds the per-bar move)."""
    return np.round(price / tick) * tick


def market_universe(
    n_symbols: int = 500,
    n_bars: int = 10_080,
    *,
    seed: int,
    n_planted: int = 20,
    half_lives: tuple[float, float] = (10.0, 60.0),
    spread_sd: tuple[float, float] = (0.001, 0.005),
    market_weight: float = 0.6,
    sectors: int = 10,
    sector_weight: float = 0.6,
    trap_pairs: int = 5,
    n_late: int = 15,
    n_halted: int = 1,
    n_bounce: int = 15,
    bounce_sd: float = 0.003,
    strong_bounce: int = 0,
    bounce_planted: int = 0,
    n_tick: int = 0,
    tick_bars: float = 0.3,
    kind: str = "normal",
) -> SimUniverse:
    """A market of `n_symbols` 1-minute closes.

    Log-price increments = VOL·(market_weight·M + sector_weight·S_sector + rest·own), unit-variance shocks of `kind`.
    Planted pairs: y = α + β·x + OU with half-life uniform in `half_lives` bars and stationary sd uniform in
    `spread_sd` (a share of y's price); x is a factor-model symbol. `trap_pairs` pairs of walks whose returns
    correlate at 0.95 (correlated, not cointegrated). `n_late` walks listed at a row uniform over the window's 5–95 %
    (those listed late in the formation window are set aside by the scanner), `n_halted` walks stop trading (NaN) at
    50–80 %. `n_bounce` walks carry i.i.d. bounce noise of `bounce_sd` (a share of price; `strong_bounce` of them
    5× that), `bounce_planted` planted pairs a bouncing y leg, and `n_tick` walks sit on a tick grid whose tick is
    the per-bar move divided by `tick_bars` (0.3: a one-tick market moving 0.3 tick a bar)."""
    rng = np.random.default_rng(seed)
    rest = math.sqrt(max(1.0 - market_weight**2 - sector_weight**2, 0.0))
    market = increments(rng, n_bars, 1, kind)[:, 0]
    sector_shocks = increments(rng, n_bars, sectors, kind)

    def factor_walks(n: int) -> np.ndarray:
        sector = rng.integers(0, sectors, n)
        shocks = (
            market_weight * market[:, None]
            + sector_weight * sector_shocks[:, sector]
            + rest * increments(rng, n_bars, n, kind)
        )
        return np.log(rng.uniform(0.5, 500.0, n)) + np.cumsum(VOL * shocks, axis=0)

    n_walks = n_symbols - 2 * n_planted - 2 * trap_pairs
    if n_walks < n_late + n_halted + n_bounce + n_tick:
        raise ValueError("too few free symbols for the requested late, halted, bounce and tick-grid symbols")
    logs = {f"W{k:03d}USDT": col for k, col in enumerate(factor_walks(n_walks).T)}
    planted: set[frozenset[str]] = set()
    xs = np.exp(factor_walks(n_planted))
    bounce: set[str] = set()
    half_life: dict[frozenset[str], float] = {}
    for k in range(n_planted):
        x, name_x, name_y = xs[:, k], f"P{k:02d}XUSDT", f"P{k:02d}YUSDT"
        level = rng.uniform(1.0, 1_000.0)
        share = rng.uniform(0.5, 1.0)  # the part of y's price that is β·x
        beta = share * level / x.mean()
        hl = rng.uniform(*half_lives)
        spread = ou(rng, n_bars, hl, rng.uniform(*spread_sd) * level)
        y = (1 - share) * level + beta * x + spread
        logs[name_x], logs[name_y] = np.log(x), np.log(np.maximum(y, 1e-3 * level))
        if k < bounce_planted:
            logs[name_y] = add_bounce(logs[name_y], rng, bounce_sd)
            bounce.add(name_y)
        planted.add(frozenset((name_x, name_y)))
        half_life[frozenset((name_x, name_y))] = hl
    for k in range(trap_pairs):
        common = increments(rng, n_bars, 1, kind)[:, 0]
        for side in "AB":
            own = 0.95 * common + math.sqrt(1 - 0.95**2) * increments(rng, n_bars, 1, kind)[:, 0]
            logs[f"T{k:02d}{side}USDT"] = math.log(rng.uniform(1.0, 100.0)) + np.cumsum(VOL * own)
    walks = list(logs)[:n_walks]
    late = walks[:n_late]
    halted = walks[n_late : n_late + n_halted]
    noisy = walks[n_late + n_halted : n_late + n_halted + n_bounce]
    ticked = walks[n_late + n_halted + n_bounce : n_late + n_halted + n_bounce + n_tick]
    for k, name in enumerate(noisy):
        logs[name] = add_bounce(logs[name], rng, bounce_sd * (5.0 if k < strong_bounce else 1.0))
    prices = pd.DataFrame({name: np.exp(col) for name, col in logs.items()}, index=time_index(n_bars))
    for name in ticked:
        first = float(prices[name].iloc[0])
        prices[name] = on_tick_grid(prices[name].to_numpy(), first * VOL / tick_bars)
    for name in late:
        col = prices[name].to_numpy(copy=True)
        col[: int(rng.uniform(0.05, 0.95) * n_bars)] = np.nan
        prices[name] = col
    for name in halted:
        col = prices[name].to_numpy(copy=True)
        col[int(rng.uniform(0.5, 0.8) * n_bars) :] = np.nan
        prices[name] = col
    return SimUniverse(
        prices,
        frozenset(planted),
        frozenset(bounce | set(noisy) | set(ticked)),
        frozenset(late),
        frozenset(halted),
        half_life,
    )


def null_universe(
    n_symbols: int = 100,
    n_bars: int = 10_080,
    *,
    seed: int,
    kinds: tuple[str, ...] = INCREMENTS,
    bounce_share: float = 0.3,
    bounce_scale: float = 5.0,
    tick_share: float = 0.0,
    tick_bars: float = 0.3,
) -> SimUniverse:
    """Independent random walks, nothing cointegrated: increments cycle through `kinds` (normal, Student-t 3,
    GARCH(1,1)), a `bounce_share` of the symbols carry i.i.d. noise of `bounce_scale` times the increment sd, and a
    `tick_share` (after those) sit on a tick grid moving `tick_bars` tick a bar."""
    rng = np.random.default_rng(seed)
    shocks = np.empty((n_bars, n_symbols))
    for k, kind in enumerate(kinds):
        cols = np.arange(k, n_symbols, len(kinds))
        shocks[:, cols] = increments(rng, n_bars, cols.size, kind)
    logs = np.log(rng.uniform(0.5, 500.0, n_symbols)) + np.cumsum(VOL * shocks, axis=0)
    order = rng.permutation(n_symbols)
    n_bounce, n_tick = round(bounce_share * n_symbols), round(tick_share * n_symbols)
    noisy, ticked = order[:n_bounce], order[n_bounce : n_bounce + n_tick]
    logs[:, noisy] = add_bounce(logs[:, noisy], rng, bounce_scale * VOL)
    names = [f"N{k:03d}USDT" for k in range(n_symbols)]
    prices = pd.DataFrame(np.exp(logs), columns=names, index=time_index(n_bars))
    for k in ticked:
        col = prices.iloc[:, k].to_numpy()
        prices.iloc[:, k] = on_tick_grid(col, col[0] * VOL / tick_bars)
    return SimUniverse(prices, frozenset(), frozenset(names[k] for k in (*noisy, *ticked)), frozenset(), frozenset())


def found_pairs(table: pd.DataFrame, column: str = "selected") -> set[frozenset[str]]:
    """The pairs of a scan table's rows where `column` is True."""
    rows = table.loc[table[column].astype(bool)]
    return {frozenset(p) for p in zip(rows["x"], rows["y"])}


@dataclass(frozen=True)
class Score:
    """Recall of the planted pairs and the false share among the selected pairs and among the groups' leads."""

    recall: float
    selected: int
    false_selected: int
    leads: int
    false_leads: int

    @property
    def false_share(self) -> float:
        return self.false_selected / max(self.selected, 1)

    @property
    def false_lead_share(self) -> float:
        return self.false_leads / max(self.leads, 1)


def score(table: pd.DataFrame, planted: frozenset[frozenset[str]]) -> Score:
    found = found_pairs(table)
    leads = found_pairs(table, "lead") if "lead" in table.columns else found
    return Score(
        len(found & planted) / max(len(planted), 1), len(found), len(found - planted), len(leads), len(leads - planted)
    )
