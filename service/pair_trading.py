"""Two-leg paper positions of a watched pair, opened and closed as one position, from a signal or by hand.

Both legs fill together at one price each (a bar's close for a signal, the latest stored trade by hand), sized like
the backtest: Q = capital / (p_y + |β|·p_x) units of y and β·Q units of x against them, rounded to whole quantity
steps where the contract's rules are known; the stand-in cost (the watch's cost_bps, the backtest's slippage) and the
fee are charged on each leg's notional at each fill. A position whose legs' prices are further apart in time than
LEG_LAG_BARS bars is flagged LAGGING; one whose rounded legs are out of balance by more than MAX_IMBALANCE is
refused (hummingbot's stat-arb controller blocks the over-filled leg at 10 %). No Streamlit, no HTTP.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass

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
    """A leg's fill price and when that price was traded (epoch ms)."""

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
    imbalance = abs(qty_x / target_x - 1.0) if target_x else 0.0
    if imbalance > MAX_IMBALANCE:
        raise PositionRefused(
            f"rounded to whole steps the {symbols[0]} leg is {imbalance:.0%} away from its hedge "
            f"(at most {MAX_IMBALANCE:.0%}): raise the capital"
        )
    return LegSizes(qty_x, qty_y, imbalance)


def fill_costs(
    spec: database.WatchSpec, qty_x: float, qty_y: float, price_x: float, price_y: float
) -> tuple[float, float]:
    """(fees, spread cost) of filling both legs: the watch's bps on each leg's traded notional."""
    turnover = abs(qty_x) * price_x + abs(qty_y) * price_y
    return turnover * spec.fee_bps * 1e-4, turnover * spec.cost_bps * 1e-4


def open_pair(
    conn: database.Connection,
    watch: database.Watch,
    side: database.PaperSide,
    beta: float,
    leg_x: LegPrice,
    leg_y: LegPrice,
    opened_at: int,
    signal_id: int | None = None,
    rules: Mapping[str, ContractRules] | None = None,
) -> int | None:
    """Open both legs as one position; its id, or None when the pair already has an open position or the signal
    already opened one (the database refuses the second, so two callers at once open one position)."""
    sizes = size_legs(side, watch.spec.capital, beta, leg_x.price, leg_y.price, rules or {}, watch.pair)
    fees, spread = fill_costs(watch.spec, sizes.qty_x, sizes.qty_y, leg_x.price, leg_y.price)
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
        entry_price_x=leg_x.price,
        entry_price_y=leg_y.price,
        opened_at=opened_at,
        entry_fees=fees,
        entry_spread=spread,
        leg_status=database.LegStatus.LAGGING if lagging else database.LegStatus.OK,
        imbalance=sizes.imbalance,
        entry_signal_id=signal_id,
    )
    return database.open_pair_position(conn, opening)


@dataclass(frozen=True)
class PnlBreakdown:
    """A position's P&L the way the backtest reports a trade: each leg's price P&L, fees and spread cost paid
    (entry, plus exit once closed), and the net."""

    price_x: float
    price_y: float
    fees: float
    spread: float

    @property
    def gross(self) -> float:
        return self.price_x + self.price_y

    @property
    def net(self) -> float:
        return self.gross - self.fees - self.spread


def breakdown(position: database.PairPosition, price_x: float, price_y: float) -> PnlBreakdown:
    """The P&L of a position marked at (price_x, price_y) — for a closed one, at its exit fills."""
    c = position.closing
    if c is None:
        return _pnl(position.opening, price_x, price_y, 0.0, 0.0)
    return _pnl(position.opening, c.exit_price_x, c.exit_price_y, c.exit_fees, c.exit_spread)


def _pnl(o: database.PairOpening, price_x: float, price_y: float, exit_fees: float, exit_spread: float) -> PnlBreakdown:
    return PnlBreakdown(
        o.qty_x * (price_x - o.entry_price_x),
        o.qty_y * (price_y - o.entry_price_y),
        o.entry_fees + exit_fees,
        o.entry_spread + exit_spread,
    )


def close_pair(
    conn: database.Connection,
    watch: database.Watch,
    position: database.PairPosition,
    leg_x: LegPrice,
    leg_y: LegPrice,
    closed_at: int,
    reason: str,
    signal_id: int | None = None,
) -> bool:
    """Close both legs at these prices; False when someone else closed it first (it closes once, whoever asks)."""
    o = position.opening
    fees, spread = fill_costs(watch.spec, o.qty_x, o.qty_y, leg_x.price, leg_y.price)
    marked = _pnl(o, leg_x.price, leg_y.price, fees, spread)
    closing = database.PairClosing(
        leg_x.price, leg_y.price, closed_at, fees, spread, reason, marked.net, exit_signal_id=signal_id
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
        leg_x, leg_y = _latest_legs(conn, watch)
        position_id = open_pair(conn, watch, side, beta, leg_x, leg_y, now_ms())
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
        leg_x, leg_y = _latest_legs(conn, watch)
        if not close_pair(conn, watch, position, leg_x, leg_y, now_ms(), MANUAL):
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


def position_views(db_target: str, watch_id: int | None = None, open_only: bool = False) -> list[PositionView]:
    """Positions with their P&L, open ones marked to the latest stored prices."""
    with reader(db_target) as conn:
        positions = database.list_pair_positions(conn, watch_id, open_only)
        symbols = sorted({s for p in positions if p.is_open for s in (p.opening.symbol_x, p.opening.symbol_y)})
        prices = database.last_prices(conn, symbols) if symbols else {}
    views = []
    for p in positions:
        px = prices.get(p.opening.symbol_x, (0, p.opening.entry_price_x))[1]
        py = prices.get(p.opening.symbol_y, (0, p.opening.entry_price_y))[1]
        views.append(PositionView(p, breakdown(p, px, py)))
    return views
