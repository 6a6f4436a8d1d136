"""Numbers as people read them, one layer for tiles, hovers, tables and CSVs: significant digits in plain notation
with thousands separators (12,150 and 0.00001230, never 1.215e+04 or 12.2k), prices at their tick's decimals, counts,
durations in their natural unit, percentages, USDT amounts, p-values with a floor, and human column headers."""

from __future__ import annotations

import math

P_FLOOR = 1e-16  # below double precision's resolution near 1: a p-value under it is written "< 1e-16", never 0

# Column headers a trader reads, for the names the analytics use (the rest: underscores become spaces).
HEADERS = {
    "pct_return": "return (%)",
    "total_return": "total P&L (USDT)",
    "net_pnl": "net P&L (USDT)",
    "gross_pnl": "gross P&L (USDT)",
    "fees": "fees (USDT)",
    "slippage": "slippage (USDT)",
    "spread_cost": "spread cost (USDT)",
    "funding": "funding (USDT)",
    "funding_x": "funding x (USDT)",
    "funding_y": "funding y (USDT)",
    "price_pnl_x": "price P&L x (USDT)",
    "price_pnl_y": "price P&L y (USDT)",
    "qty_x": "quantity x",
    "qty_y": "quantity y",
    "exit_qty_x": "exit quantity x",
    "unhedged_x": "unhedged x",
    "fired_at": "fired at (UTC)",
    "entry_time": "entry time (UTC)",
    "exit_time": "exit time (UTC)",
    "holding_seconds": "holding (s)",
    "entry_zscore": "entry z",
    "exit_zscore": "exit z",
    "entry_beta": "entry β",
    "zscore": "z-score",
    "beta": "β",
    "alpha": "α",
    "pvalue": "p-value",
    "qvalue": "q-value (BH)",
    "oos_pvalue": "out-of-sample p",
    "oos_confirmed": "holds out of sample",
    "time_utc": "time (UTC)",
}


def significant(value: float, digits: int = 4) -> str:
    """`value` to `digits` significant digits in plain notation with thousands separators; '—' when missing or not
    finite."""
    if value is None or not math.isfinite(value):
        return "—"
    decimals = max(0, digits - 1 - math.floor(math.log10(abs(value)))) if value else 0
    return f"{round(value, decimals):,.{decimals}f}"


def compact(value: float, digits: int = 3) -> str:
    """`significant` without trailing zeros, for labels inside cells and bars ('2,430', '1.3', never '2.43e+03')."""
    text = significant(value, digits)
    return text.rstrip("0").rstrip(".") if "." in text else text


def count(n: int | float) -> str:
    """A count with thousands separators ('3,876')."""
    return f"{n:,.0f}" if math.isfinite(n) else "—"


def duration(seconds: float) -> str:
    """A duration in its natural unit: '45 s', '20 min', '3.5 h', '2.1 d' (minutes on minute bars, never '1,212 s')."""
    if not math.isfinite(seconds):
        return "—"
    if abs(seconds) < 120:
        return f"{seconds:.0f} s"
    if abs(seconds) < 120 * 60:
        return f"{seconds / 60:,.0f} min"
    if abs(seconds) < 48 * 3600:
        return f"{seconds / 3600:,.1f} h"
    return f"{seconds / 86400:,.1f} d"


def percent(value: float, decimals: int = 2, *, signed: bool = False) -> str:
    """A value already in percent with its sign ('−5.03 %' as '-5.03%'); '+' shown when `signed`."""
    if value is None or not math.isfinite(value):
        return "—"
    return f"{value:{'+' if signed else ''},.{decimals}f}%"


def usdt(value: float, *, signed: bool = True) -> str:
    """A USDT amount with separators, cents and its unit ('+1,234.56 USDT')."""
    if value is None or not math.isfinite(value):
        return "—"
    return f"{value:{'+' if signed else ''},.2f} USDT"


def pvalue(p: float) -> str:
    """A p-value: 4 significant digits, '< 1e-16' below P_FLOOR (a computed 0 is a bound, not a certainty)."""
    if p is None or not math.isfinite(p):
        return "—"
    return f"< {P_FLOOR:g}" if p < P_FLOOR else f"{p:.4g}"


def header(name: str) -> str:
    """The column header a trader reads for an analytics column name (HEADERS, else underscores as spaces)."""
    return HEADERS.get(name, name.replace("_", " "))
