"""Two-leg paper positions of a watched pair, opened and closed as one position, from a signal or by hand.

Both legs fill together, sized like the backtest: Q = capital / (p_y + |β|·p_x) units of y and β·Q units of x against
them, rounded toward zero to whole quantity steps where the contract's rules are stored (what rounding leaves
unhedged is kept as the position's x remainder), refused below a leg's minimum notional. Each leg fills at its
recorded best bid/ask (the quote bar complete by the fill), else at the price ± the watch's stand-in half-spread
(cost_bps), and pays the watch's fee on the fill notional: the backtest's own fill costs (analytics.leg_prices,
analytics.fill_costs). Funding is received or paid per leg at each stored settlement the position is open across
(analytics.funding_payments). A position with legs priced further apart in time than LEG_LAG_BARS bars is flagged
LAGGING; one whose rounded legs are out of balance by more than MAX_IMBALANCE is refused (hummingbot's stat-arb
controller blocks the over-filled leg at 10 %), as is one with a leg that has no price: neither leg opens. No
Streamlit, no HTTP.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass

import numpy as np
import pandas as pd

import analytics
import database
from core.clock import now_ms
from core.contracts import ContractRules
from service.controls import BAR_SECONDS
from service.watchlist import latest_series
from service.window import reader, writer

MAX_IMBALANCE = 0.10  # the rounded x leg may differ from β × the y leg by at most this share of its target
LEG_LAG_BARS = 5  # legs priced further apart in time than this many bars are flagged LAGGING
MANUAL = "manual"  # the close reason of a position closed by hand


class PositionRefused(ValueError):
    """A paper position action that cannot be carried out; the message says why, in the user's words."""


class PositionConflict(PositionRefused):
    """Refused because of what is stored: the pair has an open position, or the position is not open."""


class NoSuchPosition(PositionRefused):
    """No watched pair or position has that id."""


@dataclass(frozen=True)
class LegPrice:
    """A leg's last traded price (a bar close, or the latest stored trade) that its fill is priced from, and when it
    was traded (epoch ms)."""

    price: float
    traded_ms: int


@dataclass(frozen=True)
class LegSizes:
    """Signed leg quantities (long spread: +y, −β·y of x) and their imbalance after rounding to whole steps."""

    qty_x: float
    qty_y: float
    imbalance: float


def size_legs(
    side: database.PaperSide,
    capital: float,
    beta: float,
    price_x: float,
    price_y: float,
    rules: Mapping[str, ContractRules],
    symbols: tuple[str, str],
) -> LegSizes:
    """The backtest's sizing, rounded toward zero to whole steps of each leg's contract where its rules are known;
    PositionRefused when a leg rounds to nothing or the legs end up out of balance by more than MAX_IMBALANCE."""
    if not (math.isfinite(beta) and price_x > 0 and price_y > 0):
        raise PositionRefused(f"cannot size {symbols[1]} vs {symbols[0]}: hedge ratio {beta} or a price is missing")
    sign = 1.0 if side is database.PaperSide.LONG else -1.0
    qty_y = sign * capital / (price_y + abs(beta) * price_x)
    if symbols[1] in rules:
        qty_y = rules[symbols[1]].whole_steps(qty_y)
    target_x = -beta * qty_y
    qty_x = rules[symbols[0]].whole_steps(target_x) if symbols[0] in rules else target_x
    if qty_y == 0 or (target_x != 0 and qty_x == 0):
        raise PositionRefused(
            f"{capital:g} USDT is less than one quantity step of a leg of {symbols[1]} vs {symbols[0]}"
        )
    why = analytics.notional_problem("y", qty_y, price_y, rules.get(symbols[1])) or analytics.notional_problem(
        "x", qty_x, price_x, rules.get(symbols[0])
    )
    if why is not None:
        raise PositionRefused(f"{symbols[1]} vs {symbols[0]} with {capital:g} USDT: {why}")
    imbalance = abs(qty_x / target_x - 1.0) if target_x else 0.0
    if imbalance > MAX_IMBALANCE:
        raise PositionRefused(
            f"rounded to whole steps the {symbols[0]} leg is {imbalance:.0%} away from its hedge "
            f"(at most {MAX_IMBALANCE:.0%}): raise the capital"
        )
    return LegSizes(qty_x, qty_y, imbalance)


def cost_model(spec: database.WatchSpec) -> analytics.CostModel:
    """The costs a watched pair's fills pay, as its backtest charges them: taker fills at the quotes, the watch's
    fee, its cost_bps as the stand-in half-spread where a leg has no recorded quote."""
    return analytics.CostModel(
        taker_fee_bps=spec.fee_bps, maker_fee_bps=spec.fee_bps, stand_in_half_spread_bps=spec.cost_bps
    )


@dataclass(frozen=True)
class Fill:
    """Both legs' fills of one side of a position: the mid each leg is marked at (its fill is the mid ± the
    half-spread) and the fees and spread cost paid (USDT)."""

    mid_x: float
    mid_y: float
    fees: float
    spread: float


def _fill_leg(
    db_target: str, symbol: str, traded: float, leg: LegPrice, fill_ms: int, costs: analytics.CostModel
) -> tuple[float, float, float]:
    """(mid, fee, spread cost) of trading `traded` units (+ bought) of one leg at `fill_ms`: at the quote bar
    complete by then (analytics.leg_prices), else at the price ± the stand-in half-spread."""
    start = pd.Timestamp(fill_ms - round(analytics.QUOTE_MAX_AGE_S * 1000) - 1000, unit="ms", tz="UTC")
    quotes = database.quote_bars(db_target, symbol, start, pd.Timestamp(fill_ms, unit="ms", tz="UTC"))
    close = np.array([leg.price])
    market = analytics.LegMarket(quotes=quotes)
    prices = analytics.leg_prices(close, np.array([fill_ms * 1_000_000]), market, costs.stand_in_half_spread_bps)
    paid = analytics.fill_costs(np.array([traded]), close, prices, costs, 0.0)
    return float(prices.mid[0]), float(paid.fees[0]), float(paid.spread[0])


def fill_pair(
    db_target: str, spec: database.WatchSpec, traded: tuple[float, float], legs: tuple[LegPrice, LegPrice], fill_ms: int
) -> Fill:
    """Fill both legs (`traded`: units of x and y bought, − sold) at `fill_ms` with the watch's costs."""
    costs = cost_model(spec)
    (mx, fx, sx), (my, fy, sy) = (
        _fill_leg(db_target, symbol, q, leg, fill_ms, costs)
        for symbol, q, leg in zip((spec.symbol_x, spec.symbol_y), traded, legs, strict=True)
    )
    return Fill(mx, my, fx + fy, sx + sy)


def _settled(funding: pd.DataFrame, qty: float, since_ms: int, until_ms: int, price: float) -> float:
    """Funding cash of `qty` held over (since_ms, until_ms] from a leg's stored settlements: Binance charges the
    position held at the settlement instant (analytics.funding_payments); one without a mark price at `price`."""
    if until_ms <= since_ms or qty == 0 or funding.empty:
        return 0.0
    stamps = pd.DatetimeIndex(funding.index).as_unit("ms").asi8
    inside = funding[(stamps > since_ms) & (stamps <= until_ms)]
    if inside.empty:
        return 0.0
    mark = inside["mark_price"]
    settlements = pd.DataFrame({"rate": inside["rate"], "mark_price": mark.where(mark > 0, price)})
    held = pd.Series([qty, 0.0], index=pd.DatetimeIndex(pd.to_datetime([since_ms, until_ms], unit="ms", utc=True)))
    return float(analytics.funding_payments(held, settlements).sum())


def _settlements(db_target: str, symbol: str, since_ms: int, until_ms: int) -> pd.DataFrame:
    """A leg's stored settlements in (since_ms, until_ms]."""
    start, end = (pd.Timestamp(ms + 1, unit="ms", tz="UTC") for ms in (since_ms, until_ms))
    return database.funding_rates(db_target, symbol, start, end)


def funding_of(
    db_target: str, o: database.PairOpening, until_ms: int, stored: Mapping[str, pd.DataFrame] | None = None
) -> tuple[float, float]:
    """Each leg's funding from the opening until `until_ms` (`stored`: settlements already read per symbol)."""
    out = []
    for symbol, qty, price in ((o.symbol_x, o.qty_x, o.entry_price_x), (o.symbol_y, o.qty_y, o.entry_price_y)):
        funding = stored[symbol] if stored is not None else _settlements(db_target, symbol, o.opened_at, until_ms)
        out.append(_settled(funding, qty, o.opened_at, until_ms, price))
    return out[0], out[1]


def open_pair(
    conn: database.Connection,
    db_target: str,
    watch: database.Watch,
    side: database.PaperSide,
    beta: float,
    legs: tuple[LegPrice, LegPrice],
    opened_at: int,
    signal_id: int | None = None,
) -> int | None:
    """Open both legs as one position at `opened_at` (whole steps of each leg's stored contract rules); its id, or
    None when the pair already has an open position or the signal already opened one (the database refuses the
    second, so two callers at once open one position)."""
    rules = {s: r for s in watch.pair if (r := database.contract_rules(db_target, s)) is not None}
    leg_x, leg_y = legs
    sizes = size_legs(side, watch.spec.capital, beta, leg_x.price, leg_y.price, rules, watch.pair)
    fill = fill_pair(db_target, watch.spec, (sizes.qty_x, sizes.qty_y), legs, opened_at)
    lag_ms = LEG_LAG_BARS * BAR_SECONDS[watch.spec.timeframe] * 1000
    lagging = abs(leg_x.traded_ms - leg_y.traded_ms) > lag_ms
    opening = database.PairOpening(
        watch_id=watch.id,
        symbol_x=watch.spec.symbol_x,
        symbol_y=watch.spec.symbol_y,
        side=side,
        qty_x=sizes.qty_x,
        qty_y=sizes.qty_y,
        beta=beta,
        entry_price_x=fill.mid_x,
        entry_price_y=fill.mid_y,
        opened_at=opened_at,
        entry_fees=fill.fees,
        entry_spread=fill.spread,
        leg_status=database.LegStatus.LAGGING if lagging else database.LegStatus.OK,
        imbalance=sizes.imbalance,
        entry_signal_id=signal_id,
    )
    return database.open_pair_position(conn, opening)


@dataclass(frozen=True)
class PnlBreakdown:
    """A position's P&L the way the backtest reports a trade: each leg's price P&L (between the mids of its fills,
    or to the mark while open), fees and spread cost paid (entry, plus exit once closed), each leg's funding
    (+ received), and the net."""

    price_x: float
    price_y: float
    fees: float
    spread: float
    funding_x: float
    funding_y: float

    @property
    def gross(self) -> float:
        return self.price_x + self.price_y

    @property
    def funding(self) -> float:
        return self.funding_x + self.funding_y

    @property
    def net(self) -> float:
        return self.gross + self.funding - self.fees - self.spread


def breakdown(
    position: database.PairPosition, price_x: float, price_y: float, funding: tuple[float, float] = (0.0, 0.0)
) -> PnlBreakdown:
    """The P&L of a position marked at (price_x, price_y) with its legs' funding — for a closed one, at its exit
    fills."""
    c = position.closing
    if c is None:
        return _pnl(position.opening, price_x, price_y, 0.0, 0.0, funding)
    return _pnl(position.opening, c.exit_price_x, c.exit_price_y, c.exit_fees, c.exit_spread, funding)


def _pnl(
    o: database.PairOpening,
    price_x: float,
    price_y: float,
    exit_fees: float,
    exit_spread: float,
    funding: tuple[float, float],
) -> PnlBreakdown:
    return PnlBreakdown(
        o.qty_x * (price_x - o.entry_price_x),
        o.qty_y * (price_y - o.entry_price_y),
        o.entry_fees + exit_fees,
        o.entry_spread + exit_spread,
        *funding,
    )


def close_pair(
    conn: database.Connection,
    db_target: str,
    watch: database.Watch,
    position: database.PairPosition,
    legs: tuple[LegPrice, LegPrice],
    closed_at: int,
    reason: str,
    signal_id: int | None = None,
) -> bool:
    """Close both legs at `closed_at`, booking the funding of the settlements it was open across; False when
    someone else closed it first (it closes once, whoever asks)."""
    o = position.opening
    fill = fill_pair(db_target, watch.spec, (-o.qty_x, -o.qty_y), legs, closed_at)
    marked = _pnl(o, fill.mid_x, fill.mid_y, fill.fees, fill.spread, funding_of(db_target, o, closed_at))
    closing = database.PairClosing(
        fill.mid_x, fill.mid_y, closed_at, fill.fees, fill.spread, reason, marked.net, exit_signal_id=signal_id
    )
    return database.close_pair_position(conn, position.id, closing)


def _latest_legs(conn: database.Connection, watch: database.Watch) -> tuple[LegPrice, LegPrice]:
    prices = database.last_prices(conn, list(watch.pair))
    missing = [s for s in watch.pair if s not in prices]
    if missing:
        raise PositionRefused(f"no stored price for {', '.join(missing)} yet: neither leg was opened")
    (tx, px), (ty, py) = prices[watch.spec.symbol_x], prices[watch.spec.symbol_y]
    return LegPrice(px, tx), LegPrice(py, ty)


def open_by_hand(
    db_target: str, watch_id: int, side: database.PaperSide, beta: float | None = None
) -> database.PairPosition:
    """Open a watched pair's position now at the latest stored prices with hedge ratio `beta` (default: the pair's
    latest causal β over its watch settings)."""
    with writer(db_target) as conn:
        watch = database.get_watch(conn, watch_id)
        if watch is None:
            raise NoSuchPosition(f"no watched pair #{watch_id}")
        if beta is None:
            try:
                beta = latest_series(conn, db_target, watch).hedge.beta
            except analytics.InsufficientData as exc:
                pair = f"{watch.spec.symbol_y} vs {watch.spec.symbol_x}"
                raise PositionRefused(f"no hedge ratio for {pair} yet: {exc}") from None
        position_id = open_pair(conn, db_target, watch, side, beta, _latest_legs(conn, watch), now_ms())
        if position_id is None:
            raise PositionConflict(f"{watch.spec.symbol_y} vs {watch.spec.symbol_x} already has an open position")
        return _stored(conn, position_id)


def close_by_hand(db_target: str, position_id: int) -> database.PairPosition:
    """Close a position now at the latest stored prices; PositionRefused when it is not open (closed already, by
    another tab, client or an exit signal)."""
    with writer(db_target) as conn:
        position = database.get_pair_position(conn, position_id)
        watch = None if position is None else database.get_watch(conn, position.opening.watch_id)
        if position is None or watch is None:
            raise NoSuchPosition(f"no paper position #{position_id}")
        if not position.is_open:
            raise PositionConflict(f"paper position #{position_id} is not open (closed already)")
        if not close_pair(conn, db_target, watch, position, _latest_legs(conn, watch), now_ms(), MANUAL):
            raise PositionConflict(f"paper position #{position_id} was closed by someone else meanwhile")
        return _stored(conn, position_id)


def _stored(conn: database.Connection, position_id: int) -> database.PairPosition:
    """A position this connection has just written."""
    position = database.get_pair_position(conn, position_id)
    if position is None:
        raise RuntimeError(f"paper position #{position_id} vanished after it was written")
    return position


@dataclass(frozen=True)
class PositionView:
    """A position with its P&L breakdown, marked at the latest stored prices while open."""

    position: database.PairPosition
    pnl: PnlBreakdown


def view_of(db_target: str, position: database.PairPosition) -> PositionView:
    """A position just opened or closed with its P&L: an open one marked at its entry mids (costs only)."""
    o, c = position.opening, position.closing
    funding = funding_of(db_target, o, c.closed_at) if c is not None else (0.0, 0.0)
    return PositionView(position, breakdown(position, o.entry_price_x, o.entry_price_y, funding))


def position_views(db_target: str, watch_id: int | None = None, open_only: bool = False) -> list[PositionView]:
    """Positions with their P&L, open ones marked to the latest stored prices with the funding of the settlements
    since they opened."""
    with reader(db_target) as conn:
        positions = database.list_pair_positions(conn, watch_id, open_only)
        symbols = sorted({s for p in positions if p.is_open for s in (p.opening.symbol_x, p.opening.symbol_y)})
        prices = database.last_prices(conn, symbols) if symbols else {}
    now = now_ms()
    until = {p.id: now if p.closing is None else p.closing.closed_at for p in positions}
    stored = {}
    for symbol in {s for p in positions for s in (p.opening.symbol_x, p.opening.symbol_y)}:
        held = [p for p in positions if symbol in (p.opening.symbol_x, p.opening.symbol_y)]
        since = min(p.opening.opened_at for p in held)
        stored[symbol] = _settlements(db_target, symbol, since, max(until[p.id] for p in held))
    views = []
    for p in positions:
        px = prices.get(p.opening.symbol_x, (0, p.opening.entry_price_x))[1]
        py = prices.get(p.opening.symbol_y, (0, p.opening.entry_price_y))[1]
        funding = funding_of(db_target, p.opening, until[p.id], stored)
        views.append(PositionView(p, breakdown(p, px, py, funding)))
    return views
