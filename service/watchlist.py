"""The watchlist as the UIs act on it: add a pair (from a scanner row, Pair Analytics or by hand), change its bands,
remove it, and read the live table (z, spread, verdict, time in position, the latest signal). No Streamlit, no HTTP."""

from __future__ import annotations

import contextlib
import dataclasses
import math
from collections.abc import Mapping
from dataclasses import dataclass

import pandas as pd

import analytics
import database
from core.vocabulary import Liquidity, SignalKind, WatchSource
from service.controls import BAR_SECONDS, Controls
from service.window import load_window, pair_of, reader, writer

WatchSpec = database.WatchSpec


class WatchRefused(ValueError):
    """A watchlist action that cannot be carried out; the message says why, in the user's words."""


class WatchConflict(WatchRefused):
    """Refused because of what is stored: the pair is watched already, or has an open position."""


class NoSuchWatch(WatchRefused):
    """No watched pair has that id."""


def check_spec(spec: WatchSpec) -> WatchSpec:
    """The spec with upper-case symbols, or WatchRefused naming the first setting that is wrong."""
    x, y = spec.symbol_x.strip().upper(), spec.symbol_y.strip().upper()
    if not x or not y or x == y:
        raise WatchRefused(f"a watched pair needs two different symbols, got x={x or '—'} and y={y or '—'}")
    if spec.timeframe not in BAR_SECONDS:
        raise WatchRefused(f"timeframe {spec.timeframe!r}: expected one of {', '.join(BAR_SECONDS)}")
    if spec.capital <= 0 or spec.fee_bps < 0 or spec.cost_bps < 0:
        raise WatchRefused("capital must be > 0, and fee_bps and cost_bps ≥ 0")
    spec = dataclasses.replace(spec, symbol_x=x, symbol_y=y)
    try:
        backtest_params(spec).validate()
    except ValueError as exc:
        raise WatchRefused(f"{y} vs {x}: {exc}") from None
    return spec


def backtest_params(spec: WatchSpec) -> analytics.BacktestParams:
    """The backtest a watched pair's signals and paper positions reproduce: its hedge, windows and bands, its
    notional and fee (its stand-in half-spread is in the cost model, service.costs.pair_costs of watch_controls'
    window), no slippage, legs fixed for the life of a trade (no re-hedging)."""
    return analytics.BacktestParams(
        entry=spec.entry,
        exit=spec.exit,
        stop=spec.stop,
        max_hold_bars=spec.max_hold_bars,
        z_window=spec.z_window,
        hedge_method=spec.hedge_method,
        hedge_window=spec.hedge_window,
        capital=spec.capital,
        fee_bps=spec.fee_bps,
        slippage_bps=0.0,
        rehedge_bars=None,
        bar_seconds=float(BAR_SECONDS[spec.timeframe]),
    )


def spec_from_controls(c: Controls, source: WatchSource = WatchSource.PAIR) -> WatchSpec:
    """The sidebar's pair, hedge, windows, bands and costs as a watchlist entry (the Pair Analytics button)."""
    if c.pair is None:
        raise WatchRefused("choose two different symbols for the pair in the sidebar first")
    return WatchSpec(
        symbol_x=c.pair[0],
        symbol_y=c.pair[1],
        timeframe=c.bar_timeframe,
        hedge_method=c.method,
        hedge_window=c.hedge_window,
        z_window=c.z_window,
        entry=c.entry,
        exit=c.exit,
        stop=c.stop,
        max_hold_bars=c.max_hold,
        capital=c.capital,
        fee_bps=c.fee_bps,
        cost_bps=c.stand_in_spread_bps,
        source=source,
    )


def add_watch(db_target: str, spec: WatchSpec) -> database.Watch:
    """Store a checked watchlist entry; WatchRefused when it is wrong or the pair is already watched."""
    spec = check_spec(spec)
    with writer(db_target) as conn:
        try:
            watch_id = database.add_watch(conn, spec)
        except ValueError as exc:
            raise WatchConflict(str(exc)) from None
        return _found(conn, watch_id)


def update_watch(db_target: str, watch_id: int, spec: WatchSpec) -> database.Watch:
    """Change a watched pair's hedge, windows, bands or sizing (its symbols and timeframe stay)."""
    with writer(db_target) as conn:
        current = _found(conn, watch_id)
        spec = check_spec(
            dataclasses.replace(
                spec, symbol_x=current.spec.symbol_x, symbol_y=current.spec.symbol_y, timeframe=current.spec.timeframe
            )
        )
        database.update_watch(conn, watch_id, spec)
        return _found(conn, watch_id)


def remove_watch(db_target: str, watch_id: int) -> bool:
    """Stop watching a pair (its signal history goes with it); refused while it has an open paper position."""
    with writer(db_target) as conn:
        if database.list_pair_positions(conn, watch_id, open_only=True):
            raise WatchConflict(f"watch #{watch_id} has an open paper position: close it first")
        return database.delete_watch(conn, watch_id)


def list_watches(db_target: str) -> list[database.Watch]:
    """Every watched pair."""
    with reader(db_target) as conn:
        return database.list_watches(conn)


def _found(conn: database.Connection, watch_id: int) -> database.Watch:
    watch = database.get_watch(conn, watch_id)
    if watch is None:
        raise NoSuchWatch(f"no watched pair #{watch_id}")
    return watch


def watch_controls(
    db_target: str, watch: database.Watch, end_ms: int | None, bars: int, symbols: tuple[str, ...] = ()
) -> Controls:
    """Window controls reading the last `bars` bars of a watched pair (and of `symbols` besides: the monitor reads
    the watched pairs of one timeframe in one window) before `end_ms` (None: now) with its settings, so the
    watchlist, the monitor and the backtest all read bars through the one window path."""
    s = watch.spec
    minutes = max(1, math.ceil(bars * BAR_SECONDS[s.timeframe] / 60))
    return Controls(
        db_target=db_target,
        symbols=tuple(dict.fromkeys((*watch.pair, *symbols))),
        pair=watch.pair,
        timeframe=s.timeframe,
        lookback_min=minutes,
        end_ms=end_ms,
        min_volume=0.0,
        method=s.hedge_method,
        hedge_window=s.hedge_window,
        z_window=s.z_window,
        entry=s.entry,
        exit=s.exit,
        stop=s.stop,
        max_hold=s.max_hold_bars,
        fee_bps=s.fee_bps,
        slippage_bps=0.0,
        maker_fee_bps=s.fee_bps,
        stand_in_spread_bps=s.cost_bps,  # charged where a leg has no recorded quote, as the paper fills do
        liquidity=Liquidity.TAKER,
        capital=s.capital,
        in_sample=False,
    )


def closed_end(
    conn: database.Connection,
    watch: database.Watch,
    final: bool,
    last_prices: Mapping[str, tuple[int, float]] | None = None,
) -> int | None:
    """End (exclusive, epoch ms) of the pair's closed bars: both legs have traded after them. The bar holding the
    lagging leg's last trade may still grow, unless `final` (the collector has stopped and flushed). `last_prices`:
    database.last_prices already read for these symbols."""
    known = last_prices if last_prices is not None else database.last_prices(conn, list(watch.pair))
    last = {s: known[s] for s in watch.pair if s in known}
    if len(last) < 2:
        return None
    tf_ms = BAR_SECONDS[watch.spec.timeframe] * 1000
    lagging = min(ts for ts, _ in last.values())
    return (lagging // tf_ms + (1 if final else 0)) * tf_ms


def warmup_bars(spec: WatchSpec) -> int:
    """Bars a watched pair's z-score and tests need before its latest value means anything."""
    return analytics.pair_warmup(spec.hedge_method, spec.hedge_window, spec.z_window)


@dataclass(frozen=True)
class NextFundingOf:
    """A watched pair's next funding settlement (the earlier of its legs', as the markPrice stream states it) and
    what it would pay the open position at the current rates and marks (USDT, + received; None when flat)."""

    at: pd.Timestamp
    cash: float | None


def next_funding_of(
    watch: database.Watch,
    position: database.PairPosition | None,
    nexts: Mapping[str, database.NextFunding | None],
) -> NextFundingOf | None:
    """The pair's next settlement from each symbol's (`nexts`: database.next_funding per symbol), None before the
    markPrice stream has stated one for either leg."""
    legs = {s: n for s in watch.pair if (n := nexts.get(s)) is not None}
    if not legs:
        return None
    cash = None
    if position is not None:
        o = position.opening
        held = ((o.symbol_x, o.qty_x), (o.symbol_y, o.qty_y))
        cash = sum(-qty * legs[s].mark_price * legs[s].rate for s, qty in held if s in legs) + 0.0
    return NextFundingOf(min(n.next_funding_time for n in legs.values()), cash)


@dataclass(frozen=True)
class WatchRow:
    """One line of the live watchlist: the pair's latest z, spread and β, its verdict, the paper position side and
    since when (epoch ms), the latest signal, whether the break alarm stands, why the numbers are missing when they
    are, and the next funding settlement."""

    watch: database.Watch
    zscore: float
    spread: float
    beta: float
    verdict: analytics.Verdict | None
    position: database.PairPosition | None
    last_signal: database.SignalEvent | None
    alarm: bool
    problem: str = ""
    next_funding: NextFundingOf | None = None

    @property
    def in_position_since_ms(self) -> int | None:
        return None if self.position is None else self.position.opening.opened_at


def watch_rows(db_target: str, with_verdict: bool = True) -> list[WatchRow]:
    """The live watchlist: every watched pair over its latest bars (a pair without enough data says why)."""
    rows = []
    with reader(db_target) as conn:
        positions = {p.opening.watch_id: p for p in database.list_pair_positions(conn, open_only=True)}
        watches = database.list_watches(conn)
        nexts = {s: database.next_funding(db_target, s) for s in {s for w in watches for s in w.pair}}
        for watch in watches:
            signals = database.list_signals(conn, watch.id, limit=50)
            alarms = [s for s in signals if s.kind.is_alarm]
            z = spread = beta = math.nan
            verdict, problem = None, ""
            try:
                series = latest_series(conn, db_target, watch)
                z, spread, beta = series.latest("zscore"), series.latest("spread"), series.hedge.beta
                verdict = _verdict(series) if with_verdict else None
            except analytics.InsufficientData as exc:
                problem = str(exc)
            rows.append(
                WatchRow(
                    watch,
                    z,
                    spread,
                    beta,
                    verdict,
                    positions.get(watch.id),
                    signals[0] if signals else None,
                    bool(alarms) and alarms[0].kind is SignalKind.BREAK,
                    problem,
                    next_funding_of(watch, positions.get(watch.id), nexts),
                )
            )
    return rows


def latest_series(conn: database.Connection, db_target: str, watch: database.Watch) -> analytics.PairSeries:
    """A watched pair's series over its latest stored bars (three warm-ups' worth), through the one pair pipeline;
    InsufficientData saying what is missing."""
    end = closed_end(conn, watch, final=True)
    if end is None:
        raise analytics.InsufficientData(f"no stored trades of {' and '.join(watch.pair)} yet")
    window = load_window(conn, watch_controls(db_target, watch, end, 3 * warmup_bars(watch.spec)))
    return pair_of(window, watch.pair)


def _verdict(series: analytics.PairSeries) -> analytics.Verdict | None:
    with contextlib.suppress(analytics.InsufficientData, ValueError):
        return analytics.pair_verdict(series, analytics.pair_tests(series, None)).verdict
    return None
