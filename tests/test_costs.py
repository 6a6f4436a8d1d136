"""Costs in the pairs backtest: funding known answers, bid/ask round trips, contract steps, and a reconciliation
against an independent plain-loop simulator (which shares no code with quant/)."""

from __future__ import annotations

import bisect
import math

import numpy as np
import pandas as pd
import pytest
from analytics_fixtures import cointegrated_pair, time_index

import analytics as A
from core.contracts import ContractRules

pytestmark = pytest.mark.filterwarnings("error")

T0 = pd.Timestamp("2024-03-01", tz="UTC")


def _funding(times: list[pd.Timestamp], rates: list[float], marks: list[float]) -> pd.DataFrame:
    index = pd.DatetimeIndex(times, name="funding_time")
    return pd.DataFrame({"rate": rates, "mark_price": marks, "interval_hours": 8}, index=index)


# ---------------------------------------------------------------------------------------------------- funding


def test_funding_reference_table_short_one_btc() -> None:
    settlements = [T0 + pd.Timedelta(hours=h) for h in (8, 16, 24)]
    funding = _funding(settlements, [0.0001, -0.0002, 0.0003], [60_000.0, 61_000.0, 59_000.0])
    position = pd.Series([-1.0], index=[T0])
    cash = A.funding_payments(position, funding)
    np.testing.assert_allclose(cash.to_numpy(), [6.0, -12.2, 17.7], rtol=0, atol=1e-9)
    assert cash.sum() == pytest.approx(11.5, abs=1e-9)
    long_cash = A.funding_payments(-position, funding)  # a long pays a positive rate
    np.testing.assert_allclose(long_cash.to_numpy(), [-6.0, 12.2, -17.7], rtol=0, atol=1e-9)


def test_a_fill_exactly_at_a_settlement_falls_after_it() -> None:
    settle = T0 + pd.Timedelta(hours=8)
    funding = _funding([settle], [0.001], [100.0])
    opened_at = pd.Series([2.0], index=[settle])  # opened at the instant: pays nothing
    assert A.funding_payments(opened_at, funding).iloc[0] == 0.0
    closed_at = pd.Series([2.0, 0.0], index=[T0, settle])  # closed at the instant: pays
    assert A.funding_payments(closed_at, funding).iloc[0] == pytest.approx(-0.2)
    just_before = pd.Series([2.0], index=[settle - pd.Timedelta(milliseconds=1)])
    assert A.funding_payments(just_before, funding).iloc[0] == pytest.approx(-0.2)


def test_funding_charged_exactly_at_stored_settlements_across_8h_4h_1h_intervals() -> None:
    hours = [0, 8, 16, 20, 24, 25, 26, 27]  # 8 h, then 4 h, then 1 h settlements, as stored
    funding = _funding(
        [T0 + pd.Timedelta(hours=h) for h in hours], [1e-4 * (i + 1) for i in range(8)], [100.0 + i for i in range(8)]
    )
    position = pd.Series(
        [3.0, -1.0, 0.0],
        index=[T0 + pd.Timedelta(hours=6), T0 + pd.Timedelta(hours=22), T0 + pd.Timedelta(hours=26, minutes=30)],
    )
    cash = A.funding_payments(position, funding)
    expected = {
        8: -3 * 101 * 2e-4,
        16: -3 * 102 * 3e-4,
        20: -3 * 103 * 4e-4,
        24: 104 * 5e-4,
        25: 105 * 6e-4,
        26: 106 * 7e-4,
    }
    for h, value in zip(hours, cash.to_numpy(), strict=True):
        assert value == pytest.approx(expected.get(h, 0.0), abs=1e-12), h
    assert list(cash.index) == list(funding.index)


@pytest.mark.parametrize(
    ("position", "funding", "message"),
    [
        ([1.0], "bad", "funding must be a DataFrame"),
        ("naive", None, "tz-aware UTC"),
        ([np.nan], None, "position is not a finite number"),
        ([1.0], "no_mark", "no mark price"),
    ],
)
def test_funding_payments_rejects_bad_input(position, funding, message: str) -> None:
    good = _funding([T0 + pd.Timedelta(hours=8)], [1e-4], [100.0])
    frames = {None: good, "bad": good[["rate"]], "no_mark": good.assign(mark_price=np.nan)}
    if position == "naive":
        pos = pd.Series([1.0], index=pd.DatetimeIndex([T0.tz_localize(None)]))
    else:
        pos = pd.Series(position, index=[T0])
    with pytest.raises(ValueError, match=message):
        A.funding_payments(pos, frames[funding])


# ---------------------------------------------------------------------------------------------------- fills


def _pair(n: int = 3_000, seconds: int = 60) -> tuple[pd.Series, pd.Series]:
    x, y, _ = cointegrated_pair(n, beta=0.04, alpha=100.0, half_life=20.0, seed=5)
    index = time_index(n, seconds)
    return pd.Series(x.to_numpy(), index=index, name="x"), pd.Series(y.to_numpy(), index=index, name="y")


def _params(**kw) -> A.BacktestParams:
    base = {
        "fee_bps": 4.0,
        "bar_seconds": 60.0,
        "hedge_method": "rolling",
        "hedge_window": 200,
        "z_window": 40,
        "rehedge_bars": None,
        "min_span_days": 0.0,
    }
    return A.BacktestParams(**{**base, **kw})


def _quotes(closes: pd.Series, rng: np.random.Generator, coverage: float = 1.0) -> pd.DataFrame:
    """One quote bar in the last second of each bar, its mid off the close, its half-spread random (some bars none)."""
    keep = rng.random(len(closes)) < coverage
    stamps = closes.index[keep] + pd.Timedelta(seconds=59)
    price = closes.to_numpy()[keep]
    half = price * rng.uniform(0.5e-4, 3e-4, keep.sum())
    mid = price * (1 + rng.normal(0, 1e-4, keep.sum()))
    return pd.DataFrame({"bid": mid - half, "ask": mid + half}, index=pd.DatetimeIndex(stamps, name="time"))


def test_zero_signal_round_trip_costs_two_half_spreads_per_leg_plus_fees() -> None:
    x, y = _pair()
    rng = np.random.default_rng(1)
    qx, qy = _quotes(x, rng), _quotes(y, rng)
    costs = A.CostModel(taker_fee_bps=4.0, x=A.LegMarket(quotes=qx), y=A.LegMarket(quotes=qy))
    res = A.backtest_pairs(x, y, _params(max_hold_bars=1), costs)  # every trade exits on the bar after its entry
    t = res.trades
    assert len(t) > 10 and (t["holding_bars"] == 1).all()
    assert res.breakdown.stand_in_fills == 0 and res.breakdown.fills_x == 2 * len(t)
    assert not any("STAND-IN COST" in note for note in res.notes)
    mids = {leg: (q["bid"] + q["ask"]) / 2 for leg, q in (("x", qx), ("y", qy))}
    halves = {leg: (q["ask"] - q["bid"]) / 2 for leg, q in (("x", qx), ("y", qy))}
    at = lambda s, times: s.reindex(pd.DatetimeIndex(times) + pd.Timedelta(seconds=59)).to_numpy()  # noqa: E731 - a local lookup
    price_pnl = t["qty_x"] * (at(mids["x"], t["exit_time"]) - at(mids["x"], t["entry_time"])) + t["qty_y"] * (
        at(mids["y"], t["exit_time"]) - at(mids["y"], t["entry_time"])
    )
    spread = t["qty_x"].abs() * (at(halves["x"], t["entry_time"]) + at(halves["x"], t["exit_time"])) + t[
        "qty_y"
    ].abs() * (at(halves["y"], t["entry_time"]) + at(halves["y"], t["exit_time"]))
    fill_notional = sum(
        t[q].abs() * (at(mids[leg], t[when]) + at(halves[leg], t[when]) * sign * np.sign(t[q]))
        for leg, q in (("x", "qty_x"), ("y", "qty_y"))
        for when, sign in (("entry_time", 1), ("exit_time", -1))
    )
    np.testing.assert_allclose(t["gross_pnl"], price_pnl, rtol=0, atol=1e-9)
    np.testing.assert_allclose(t["spread_cost"], spread, rtol=0, atol=1e-9)
    np.testing.assert_allclose(t["fees"], fill_notional * 4e-4, rtol=0, atol=1e-9)
    np.testing.assert_allclose(t["net_pnl"], price_pnl - spread - fill_notional * 4e-4, rtol=0, atol=1e-9)


def test_stand_in_half_spread_is_charged_and_said_where_no_quotes_exist() -> None:
    x, y = _pair()
    free = A.backtest_pairs(x, y, _params())
    costly = A.backtest_pairs(x, y, _params(), A.CostModel(stand_in_half_spread_bps=2.0))
    t = free.trades
    turnover = t["qty_x"].abs() * (t["entry_price_x"] + t["exit_price_x"]) + t["qty_y"].abs() * (
        t["entry_price_y"] + t["exit_price_y"]
    )
    np.testing.assert_allclose(costly.trades["spread_cost"], turnover * 2e-4, rtol=1e-12)
    assert costly.breakdown.stand_in_fills == costly.breakdown.fills_x + costly.breakdown.fills_y > 0
    assert any("STAND-IN COST" in note for note in costly.notes)
    assert costly.metrics["total_spread_cost"] == pytest.approx(costly.breakdown.spread_cost)


def test_maker_fills_earn_the_half_spread_and_pay_the_maker_fee() -> None:
    x, y = _pair()
    taker = A.backtest_pairs(x, y, _params(), A.CostModel(stand_in_half_spread_bps=2.0))
    maker = A.backtest_pairs(
        x, y, _params(), A.CostModel(maker_fee_bps=1.0, stand_in_half_spread_bps=2.0, liquidity=A.Liquidity.MAKER)
    )
    assert maker.breakdown.spread_cost == pytest.approx(-taker.breakdown.spread_cost)
    assert maker.breakdown.fees < taker.breakdown.fees / 3


def test_contract_steps_unhedged_remainder_and_min_notional_refusal() -> None:
    x, y = _pair()
    rules_x, rules_y = ContractRules("X", 0.1, 0.001, 5.0), ContractRules("Y", 0.01, 0.01, 5.0)
    costs = A.CostModel(x=A.LegMarket(rules=rules_x), y=A.LegMarket(rules=rules_y))
    res = A.backtest_pairs(x, y, _params(), costs)
    t = res.trades
    assert len(t) > 5
    for column, step in (("qty_x", 0.001), ("qty_y", 0.01)):
        steps = t[column] / step
        np.testing.assert_allclose(steps, steps.round(), atol=1e-6)
    np.testing.assert_allclose(t["unhedged_x"], -t["qty_y"] * t["entry_beta"] - t["qty_x"], atol=1e-12)
    assert (t["unhedged_x"].abs() < 0.001).all() and (t["unhedged_x"] != 0).any()
    big = A.CostModel(x=A.LegMarket(rules=ContractRules("X", 0.1, 0.001, 1e9)), y=A.LegMarket(rules=rules_y))
    refused = A.backtest_pairs(x, y, _params(), big)
    assert refused.trades.empty and len(refused.refused) == len(t)
    assert (
        "x leg (X) notional" in refused.refused["reason"].iloc[0]
        and "below the minimum 1e+09 USDT" in (refused.refused["reason"].iloc[0])
    )
    assert any("refused by the contract rules" in note for note in refused.notes)


def test_fee_given_twice_must_agree() -> None:
    x, y = _pair()
    with pytest.raises(ValueError, match="disagree"):
        A.backtest_pairs(x, y, _params(fee_bps=4.0), A.CostModel(taker_fee_bps=5.0))


def test_sweep_pays_the_same_costs_as_the_backtest() -> None:
    x, y = _pair()
    rng = np.random.default_rng(3)
    costs = A.CostModel(stand_in_half_spread_bps=1.0, x=A.LegMarket(quotes=_quotes(x, rng, 0.5)))
    grid = A.parameter_sweep(x, y, _params(), [1.5, 2.0], [0.0], metric="total_return", costs=costs)
    for entry in (1.5, 2.0):
        single = A.backtest_pairs(x, y, _params(entry=entry, exit=0.0), costs)
        assert grid.loc[entry, 0.0] == pytest.approx(single.metrics["total_return"], abs=1e-9)


# ---------------------------------------------------------------------------------------------------- independent


def _steps(q: float, step: float) -> float:
    n = math.floor(abs(q) / step + 1e-9)
    return math.copysign(round(n * step, 12), q) if n else 0.0


def _independent(
    x: pd.Series, y: pd.Series, res: A.BacktestResult, setup: dict
) -> tuple[float, list[float], np.ndarray]:
    """A plain per-bar loop: the same signals (z, beta), its own fills, fees, steps and funding. Returns the final
    P&L, each round trip's net and the P&L after each bar (cash plus the legs marked at the close)."""
    p = res.params
    z, beta = res.zscore.to_numpy(), res.hedge.beta_series.ffill().to_numpy()
    px, py = x.to_numpy(), y.to_numpy()
    n, bar_ns = len(x), int(p.bar_seconds * 1e9)
    closes = [int(t) + bar_ns for t in x.index.as_unit("ns").asi8]
    fee, slip, h = setup["fee"] * 1e-4, p.slippage_bps * 1e-4, setup["stand_in"] * 1e-4

    books = {
        leg: ([int(s) + 1_000_000_000 for s in f.index.as_unit("ns").asi8], list(f["bid"]), list(f["ask"]))
        for leg, f in setup["quotes"].items()
    }
    settlements = {
        leg: list(zip(f.index.as_unit("ns").asi8.tolist(), f["rate"], f["mark_price"], strict=True))
        for leg, f in setup["funding"].items()
    }

    def quote(leg: str, t: int) -> tuple[float, float] | None:
        ends, bids, asks = books[leg]
        i = bisect.bisect_right(ends, closes[t]) - 1
        if i < 0 or closes[t] - ends[i] > 60 * 1_000_000_000:
            return None
        return bids[i], asks[i]

    cash, pos, trade_nets, trade_start, marked = 0.0, {"x": 0.0, "y": 0.0}, [], 0.0, []
    state, entry_bar = 0, -1
    pending: int | None = None  # side to enter (+1/−1) or 0 to exit at this bar

    def fill(leg: str, t: int, dq: float) -> None:
        nonlocal cash
        if dq == 0:
            return
        close = px[t] if leg == "x" else py[t]
        q = quote(leg, t)
        mid, half = ((q[0] + q[1]) / 2, (q[1] - q[0]) / 2) if q else (close, close * h)
        touch = mid + half if dq > 0 else mid - half
        price = touch * (1 + slip) if dq > 0 else touch * (1 - slip)
        cash -= dq * price + abs(dq) * price * fee
        pos[leg] += dq

    for t in range(n):
        low = closes[t - 1] if t else -(10**30)
        for leg in ("x", "y"):
            for when, rate, mark in settlements[leg]:
                if low < when <= closes[t]:
                    cash += -pos[leg] * mark * rate
        if pending is not None:
            if pending == 0:
                fill("x", t, -pos["x"])
                fill("y", t, -pos["y"])
                trade_nets.append(cash - trade_start)
                state = 0
            else:
                trade_start = cash
                qy = _steps(pending * p.capital / (py[t] + abs(beta[t - 1]) * px[t]), setup["step_y"])
                fill("y", t, qy)
                fill("x", t, _steps(-qy * beta[t - 1], setup["step_x"]))
                state, entry_bar = pending, t
            pending = None
        elif state and p.rehedge_bars and t > entry_bar and (t - entry_bar) % p.rehedge_bars == 0:
            target = _steps(-pos["y"] * beta[t - 1], setup["step_x"])
            if abs(target - pos["x"]) * px[t] >= setup["min_notional_x"]:
                fill("x", t, target - pos["x"])
        if state and t == n - 1:
            fill("x", t, -pos["x"])
            fill("y", t, -pos["y"])
            trade_nets.append(cash - trade_start)
        marked.append(cash + pos["x"] * px[t] + pos["y"] * py[t])
        if t < p.warmup or math.isnan(z[t]):
            continue
        if state == 0 and abs(z[t]) > p.entry and t < n - 2:
            pending = -1 if z[t] > 0 else 1
        elif (state == -1 and z[t] <= p.exit) or (state == 1 and z[t] >= -p.exit):
            pending = 0
    return cash, trade_nets, np.array(marked)


@pytest.mark.parametrize("rehedge", [None, 7])
def test_backtest_reconciles_with_an_independent_simulator(rehedge: int | None) -> None:
    x, y = _pair()
    rng = np.random.default_rng(11)
    quotes = {"x": _quotes(x, rng, 0.7), "y": _quotes(y, rng, 0.9)}
    hours_x = [h for h in range(0, 24, 8)] + [h for h in range(24, 36, 4)] + list(range(36, 52))
    funding = {
        "x": _funding(
            [x.index[0] + pd.Timedelta(hours=hx) for hx in hours_x],
            list(rng.normal(1e-4, 3e-4, len(hours_x))),
            list(60_000 * (1 + rng.normal(0, 1e-3, len(hours_x)))),
        ),
        "y": _funding(
            [x.index[0] + pd.Timedelta(hours=hy) for hy in range(1, 50)]
            + [x.index[1500] + pd.Timedelta(seconds=60)],  # exactly at a bar close
            list(rng.normal(-1e-4, 3e-4, 50)),
            list(2_500 * (1 + rng.normal(0, 1e-3, 50))),
        ).sort_index(),
    }
    rules_x, rules_y = ContractRules("X", 0.1, 0.0001, 5.0), ContractRules("Y", 0.01, 0.001, 5.0)
    costs = A.CostModel(
        taker_fee_bps=4.0,
        stand_in_half_spread_bps=1.5,
        x=A.LegMarket(quotes=quotes["x"], funding=funding["x"], rules=rules_x),
        y=A.LegMarket(quotes=quotes["y"], funding=funding["y"], rules=rules_y),
    )
    res = A.backtest_pairs(x, y, _params(slippage_bps=0.5, rehedge_bars=rehedge), costs)
    setup = {
        "fee": 4.0,
        "stand_in": 1.5,
        "quotes": quotes,
        "funding": funding,
        "step_x": 0.0001,
        "step_y": 0.001,
        "min_notional_x": 5.0,
    }
    total, nets, marked = _independent(x, y, res, setup)
    assert len(nets) == len(res.trades) > 10 and res.refused.empty
    assert (
        res.breakdown.funding != 0 and 0 < res.breakdown.stand_in_fills < res.breakdown.fills_x + res.breakdown.fills_y
    )
    assert res.equity.iloc[-1] - res.params.capital == pytest.approx(total, abs=1e-9)
    np.testing.assert_allclose(res.trades["net_pnl"], nets, rtol=0, atol=1e-9)
    b = res.breakdown
    assert b.net == pytest.approx(b.gross - b.fees - b.spread_cost - b.slippage + b.funding, abs=1e-9)
    np.testing.assert_allclose(res.bar_pnl["net"].cumsum() + res.params.capital, res.equity, atol=1e-9)
    # Sharpe and the tiles are the net P&L's: recomputed here from the independent loop's marked equity
    np.testing.assert_allclose(res.equity, res.params.capital + marked, rtol=0, atol=1e-9)
    equity = res.params.capital + marked
    r = np.diff(equity) / equity[:-1]
    m = res.metrics
    assert m["sharpe"] == pytest.approx(r.mean() / r.std(ddof=1) * math.sqrt(res.ann_factor), rel=1e-9)
    assert m["total_return"] == pytest.approx(total, abs=1e-9) and m["expectancy"] == pytest.approx(np.mean(nets))
    assert m["win_rate"] == pytest.approx(np.mean(np.array(nets) > 0))
    assert m["total_fees"] == pytest.approx(res.trades["fees"].sum(), abs=1e-9)


# ---------------------------------------------------------------------------------------------------- walk-forward


def _walk(**kw) -> A.WalkForwardParams:
    base = {"formation_bars": 1_500, "trading_bars": 500, "purge_bars": 5, "bands": A.BandChoice.FIXED, "fee_bps": 4.0}
    return A.WalkForwardParams(**{**base, **kw, "bar_seconds": 60.0})


def test_sweep_overfitting_judges_the_cells_after_costs() -> None:
    x, y = _pair()
    costs = A.CostModel(stand_in_half_spread_bps=2.0)
    returns = A.sweep_returns(x, y, _params(), [1.5, 2.0], [0.0], costs)
    for entry in (1.5, 2.0):
        single = A.backtest_pairs(x, y, _params(entry=entry, exit=0.0), costs)
        np.testing.assert_allclose(returns[f"{entry:g}/0"], single.pnl / single.params.capital, rtol=0, atol=1e-15)
    free = A.sweep_returns(x, y, _params(), [1.5, 2.0], [0.0])
    assert (free.sum() > returns.sum()).all()  # the half-spread is paid on every fill
