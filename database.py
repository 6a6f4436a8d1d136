"""Storage: schema and migrations, batched tick writes with 1s/1min rollups, windowed reads, streaming exports.

A thin facade over the storage/ package (one module per table group; see its docstring). All SQL of the platform
lives there; every statement is parameterised. Connections are per thread: the collector's writer owns one write
connection; readers (dashboard reruns, exports) open short-lived read-only connections.
"""

from __future__ import annotations

from core.clock import now_ms
from storage.alerts import (
    AlertRule,
    add_alert_rule,
    alert_history,
    delete_alert_rule,
    list_alert_rules,
    record_alert_check,
)
from storage.bars import BAR_COLUMNS, bar_series, read_bars, stored_symbols, write_bars
from storage.connection import (
    database_exists,
    database_size_bytes,
    describe_target,
    ensure_database,
    open_reader,
    open_writer,
    reopen,
    repair_locks,
    same_target,
    session_lost,
    store_info,
)
from storage.contracts import contract_rules, write_contract_rules
from storage.csv_export import csv_chunks, dataframe_to_csv, export_ticks_csv, neutralise_cell, tick_csv_chunks
from storage.cursors import IdCursor, load_cursors
from storage.funding import (
    NextFunding,
    funding_gaps,
    funding_rates,
    last_funding_time,
    next_funding,
    write_funding_rates,
    write_mark_prices,
)
from storage.gaps import Gap, get_backfill, list_gaps, open_gaps, record_gap, save_backfill, update_gap
from storage.paper import PaperPosition, PaperSide, close_paper_position, list_paper_positions, open_paper_position
from storage.postgres import RepairLocks
from storage.quotes import QuoteGap, last_quote_seconds, quote_bars, quote_gaps, record_quote_gaps, write_quote_bars
from storage.retention import RetentionReport, apply_retention, cold_path, cold_tier_usage, export_day
from storage.schema import SCHEMA_VERSION, clear_all, migrate
from storage.sql import (
    DATABASE_ERRORS,
    INTEGRITY_ERRORS,
    Connection,
    DamagedDatabase,
    StoreInfo,
    error_line,
    is_busy,
    is_unreachable,
)
from storage.ticks import (
    TICK_COLUMNS,
    SymbolSummary,
    WriteResult,
    last_prices,
    read_ticks,
    stream_ticks,
    symbol_summaries,
    write_ticks,
)

__all__ = [
    "BAR_COLUMNS",
    "DATABASE_ERRORS",
    "INTEGRITY_ERRORS",
    "SCHEMA_VERSION",
    "TICK_COLUMNS",
    "AlertRule",
    "Connection",
    "DamagedDatabase",
    "Gap",
    "IdCursor",
    "NextFunding",
    "PaperPosition",
    "PaperSide",
    "QuoteGap",
    "RepairLocks",
    "RetentionReport",
    "StoreInfo",
    "SymbolSummary",
    "WriteResult",
    "add_alert_rule",
    "alert_history",
    "apply_retention",
    "bar_series",
    "clear_all",
    "close_paper_position",
    "cold_path",
    "cold_tier_usage",
    "contract_rules",
    "csv_chunks",
    "database_exists",
    "database_size_bytes",
    "dataframe_to_csv",
    "delete_alert_rule",
    "describe_target",
    "ensure_database",
    "error_line",
    "export_day",
    "export_ticks_csv",
    "funding_gaps",
    "funding_rates",
    "get_backfill",
    "is_busy",
    "is_unreachable",
    "last_funding_time",
    "last_prices",
    "last_quote_seconds",
    "list_alert_rules",
    "list_gaps",
    "list_paper_positions",
    "load_cursors",
    "migrate",
    "neutralise_cell",
    "next_funding",
    "now_ms",
    "open_gaps",
    "open_paper_position",
    "open_reader",
    "open_writer",
    "quote_bars",
    "quote_gaps",
    "read_bars",
    "read_ticks",
    "record_alert_check",
    "record_gap",
    "record_quote_gaps",
    "reopen",
    "repair_locks",
    "same_target",
    "save_backfill",
    "session_lost",
    "store_info",
    "stored_symbols",
    "stream_ticks",
    "symbol_summaries",
    "tick_csv_chunks",
    "update_gap",
    "write_bars",
    "write_contract_rules",
    "write_funding_rates",
    "write_mark_prices",
    "write_quote_bars",
    "write_ticks",
]
