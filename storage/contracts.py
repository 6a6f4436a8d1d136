"""The contract_rules table: each symbol's tick size, step size and minimum notional from exchangeInfo, stored
when a collector validates its symbols, so backtests and paper trades size orders offline."""

from __future__ import annotations

import contextlib
from collections.abc import Iterable

from core.clock import now_ms
from core.contracts import ContractRules
from storage.connection import open_reader
from storage.sql import Connection, transaction


def write_contract_rules(conn: Connection, rules: Iterable[ContractRules]) -> int:
    """Store (replace) the rules of some symbols, stamped with the time they were read; returns the rows written."""
    stamp = now_ms()
    rows = [(r.symbol, r.tick_size, r.step_size, r.min_notional, stamp) for r in rules]
    if not rows:
        return 0
    with transaction(conn):
        conn.executemany(
            "INSERT INTO contract_rules(symbol, tick_size, step_size, min_notional, updated_at) VALUES (?,?,?,?,?) "
            "ON CONFLICT(symbol) DO UPDATE SET tick_size=excluded.tick_size, step_size=excluded.step_size, "
            "min_notional=excluded.min_notional, updated_at=excluded.updated_at",
            rows,
        )
    return len(rows)


def contract_rules(db_target: str, symbol: str) -> ContractRules | None:
    """A symbol's stored contract rules, or None when no collector has read them yet."""
    with contextlib.closing(open_reader(db_target)) as conn:
        row = conn.execute(
            "SELECT symbol, tick_size, step_size, min_notional FROM contract_rules WHERE symbol=?", (symbol,)
        ).fetchone()
    return None if row is None else ContractRules(row[0], float(row[1]), float(row[2]), float(row[3]))
