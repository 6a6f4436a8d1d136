"""Importing tick and bar files — the one path behind the dashboard's upload and `python collector.py import`.

A file is first validated completely, streaming (only counts, the time extent and a preview are kept, never the
parsed records), then stored in bounded batches: through the running collector's writer when one writes to the
same database in this process, else in short transactions of its own. Either way an import never holds the write
lock long enough to stall live collection (a batch commits in a fraction of SQLite's busy_timeout), and memory
stays bounded whatever the file unpacks to.
"""

from __future__ import annotations

import array
import contextlib
import datetime as dt
import functools
import itertools
import logging
import os
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

import database
from collection.service import current_collector
from collection.writer import patiently
from config import parse_symbols
from core.vocabulary import Timeframe
from data_feed import OhlcvBar, ParseReport, Tick, TickFileError, iter_bars_from_file, iter_ticks_from_file

log = logging.getLogger(__name__)

IMPORT_BATCH = 20_000  # records per transaction (~0.1 s of write lock)
PREVIEW_ROWS = 20
Source = bytes | str | Path
Progress = Callable[[int, int], None]  # (records stored so far, records in the file)


class ImportRefused(ValueError):
    """A file was refused; the message names the file, the line and the problem. Nothing was stored."""


@dataclass
class ImportPlan:
    """A validated file waiting to be stored: what it holds, not the records themselves."""

    name: str
    kind: str  # "ticks" or "bars"
    fmt: str
    source: Source
    count: int
    symbols: list[str]
    first_ts: int
    last_ts: int
    symbol: str | None
    timeframe: str | None
    head: list[Tick] | list[OhlcvBar] = field(default_factory=list)


def validate_import(
    source: Source, name: str, kind: str, *, symbol: str = "", timeframe: str = "1min", max_bytes: int = 200 * 2**20
) -> ImportPlan:
    """Check a whole file (size, format, every line, one symbol per archive, unique aligned bars) without
    keeping its records; raise ImportRefused naming the line and the problem."""
    size = len(source) if isinstance(source, bytes) else _file_size(source)
    if size > max_bytes:
        raise ImportRefused(
            f"{name} is {size / 2**20:.1f} MB; the upload limit is {max_bytes / 2**20:.0f} MB "
            "(MAX_UPLOAD_MB). Nothing was stored."
        )
    if size == 0:
        raise ImportRefused(f"{name} is empty. Nothing was stored.")
    try:
        sym = parse_symbols(symbol)[0] if symbol.strip() else None
    except ValueError as exc:
        raise ImportRefused(f"symbol {symbol!r}: {exc}") from None
    if kind == "bars" and timeframe not in tuple(Timeframe):
        raise ImportRefused(f"timeframe {timeframe!r} is not one of {', '.join(Timeframe)}")
    report = ParseReport()
    plan = ImportPlan(name, kind, "", source, 0, [], 0, 0, sym, timeframe if kind == "bars" else None)
    try:
        if kind == "ticks":
            _scan(plan, ((t.symbol, t.timestamp, t) for t in _ticks(plan, report)))
        else:
            _scan(plan, ((b.symbol or sym or "", b.ts, b) for b in _checked_bars(plan, report)))
    except TickFileError as exc:
        where = "" if str(exc).startswith(name) else f"{name}: "
        raise ImportRefused(f"{where}{exc}. Nothing was stored: fix the file and upload it again.") from None
    plan.fmt = report.format
    if not plan.count:
        raise ImportRefused(f"{name} holds no {kind}. Nothing was stored.")
    return plan


def store_import(db_target: str, plan: ImportPlan, progress: Progress | None = None) -> str:
    """Store a validated file in bounded batches (see the module docstring) and say what was stored."""
    if plan.kind == "bars":
        return _store_bars(db_target, plan, progress)
    inserted: dict[str, int] = {}
    duplicates = done = 0
    with contextlib.closing(database.open_writer(db_target)) as conn:
        for batch in _batched(_ticks(plan, ParseReport())):
            new, dup = _store_ticks(db_target, conn, batch)
            for t_symbol, n in new.items():
                inserted[t_symbol] = inserted.get(t_symbol, 0) + n
            duplicates += dup
            done += len(batch)
            if progress is not None:
                progress(done, plan.count)
    total = sum(inserted.values())
    return f"Stored {total:,} new ticks ({duplicates:,} were already stored) for {', '.join(sorted(plan.symbols))}."


def _store_ticks(db_target: str, conn: database.Connection, batch: list[Tick]) -> tuple[dict[str, int], int]:
    """One batch: through the live writer when this process's collector writes to this file, else directly."""
    live = current_collector()
    if live is not None and live.running and database.same_target(live.db_target, db_target):
        done = live.import_ticks(batch)
        if not done.error:
            return done.inserted, done.duplicates
        log.warning("import through the collector failed (%s); storing directly", done.error)
    result = patiently(conn, lambda: database.write_ticks(conn, batch))
    return dict(result.inserted), result.duplicates


def _store_bars(db_target: str, plan: ImportPlan, progress: Progress | None) -> str:
    count = done = 0
    symbols: set[str] = set()
    with contextlib.closing(database.open_writer(db_target)) as conn:
        for batch in _batched(_checked_bars(plan, ParseReport())):
            by_symbol: dict[str, list[tuple]] = {}
            for b in batch:  # a symbol column wins over the symbol typed in the form
                by_symbol.setdefault(b.symbol or plan.symbol or "", []).append(
                    (b.ts, b.open, b.high, b.low, b.close, b.volume, b.trades)
                )
            count += patiently(
                conn, functools.partial(database.write_bars, conn, plan.timeframe or "1min", by_symbol, source="upload")
            )
            symbols |= set(by_symbol)
            done += len(batch)
            if progress is not None:
                progress(done, plan.count)
    return (
        f"Stored {count:,} {plan.timeframe} bars for {', '.join(sorted(symbols))}; they show at a "
        f"timeframe of {plan.timeframe} or coarser."
    )


def _ticks(plan: ImportPlan, report: ParseReport) -> Iterator[Tick]:
    return iter_ticks_from_file(plan.source, name=plan.name, symbol=plan.symbol, strict=True, report=report)


def _checked_bars(plan: ImportPlan, report: ParseReport) -> Iterator[OhlcvBar]:
    """Bars streamed from the file, each aligned to the timeframe and given once per symbol (a second bar at one
    time would silently replace the first). Bar times are kept as 8-byte integers per symbol (array('q'), not
    objects), so even a 200 MB file's check stays within tens of MB; repeats are found once the file is read."""
    step = Timeframe(plan.timeframe or "1min").seconds * 1000
    stamps: dict[str, array.array] = {}
    for bar in iter_bars_from_file(plan.source, name=plan.name, strict=True, report=report):
        bar_symbol = bar.symbol or plan.symbol
        if bar_symbol is None:
            raise TickFileError(
                0, "OHLCV bars need a symbol: type it in the Symbol field or give the file a symbol column"
            )
        if bar.ts % step:
            raise TickFileError(
                report.lines,
                f"bar time {bar.ts} is not aligned to {plan.timeframe} bars (a multiple of {step // 1000} s)",
            )
        stamps.setdefault(bar_symbol, array.array("q")).append(bar.ts)
        yield bar
    for bar_symbol, times in stamps.items():
        ordered = np.sort(np.frombuffer(times, dtype=np.int64))
        repeated = ordered[1:][np.diff(ordered) == 0]
        if repeated.size:
            first = dt.datetime.fromtimestamp(int(repeated[0]) / 1000, dt.UTC)
            raise TickFileError(
                0,
                f"{repeated.size} {bar_symbol} bar time(s) appear more than once (first: "
                f"{first:%Y-%m-%d %H:%M:%S} UTC); each bar time may appear once",
            )


def _scan(plan: ImportPlan, rows: Iterator[tuple[str, int, Tick | OhlcvBar]]) -> None:
    """Count the records and note their symbols, time extent and first rows."""
    symbols: set[str] = set()
    head: list = []
    first, last = None, None
    for row_symbol, ts, record in rows:
        plan.count += 1
        symbols.add(row_symbol)
        first = ts if first is None or ts < first else first
        last = ts if last is None or ts > last else last
        if len(head) < PREVIEW_ROWS:
            head.append(record)
    plan.symbols, plan.head = sorted(symbols), head
    plan.first_ts, plan.last_ts = first or 0, last or 0


def _batched(records: Iterator) -> Iterator[list]:
    while batch := list(itertools.islice(records, IMPORT_BATCH)):
        yield batch


def _file_size(path: str | Path) -> int:
    try:
        return os.path.getsize(path)
    except OSError as exc:
        raise ImportRefused(f"cannot open {path}: {exc.strerror or exc}") from None
