"""CSV out of the database: bounded-memory streaming of ticks, whole-frame CSV for window-sized exports, and
spreadsheet formula-injection neutralisation of every cell."""

from __future__ import annotations

import csv
import io
import itertools
from collections.abc import Iterable, Iterator, Sequence

import numpy as np
import pandas as pd

from storage.connection import open_reader
from storage.sql import Connection
from storage.ticks import TICK_COLUMNS, stream_ticks

_FORMULA_PREFIXES = ("=", "+", "-", "@", "\t", "\r")


def neutralise_cell(value: object) -> object:
    """Defuse spreadsheet formula injection: a text cell starting with = + - @ that is not a number gets a quote."""
    if value is None or value is pd.NaT or (isinstance(value, float) and value != value):
        return ""  # a missing value is an empty cell, never "nan"
    if isinstance(value, str) and value.startswith(_FORMULA_PREFIXES):
        try:
            float(value)
        except ValueError:
            return "'" + value
    return value


def csv_chunks(columns: Sequence[str], row_chunks: Iterable[Sequence[Sequence]]) -> Iterator[str]:
    """CSV text chunk by chunk (header first), every cell neutralised; memory stays bounded by one chunk."""
    buf = io.StringIO()
    writer = csv.writer(buf, lineterminator="\n")
    writer.writerow(columns)
    yield buf.getvalue()
    for rows in row_chunks:
        buf.seek(0)
        buf.truncate()
        writer.writerows([[neutralise_cell(v) for v in row] for row in rows])
        yield buf.getvalue()


def dataframe_to_csv(df: pd.DataFrame, index: bool = False) -> bytes:
    """Whole-frame CSV bytes with formula-injection neutralisation (for window-sized exports): missing values are
    empty cells (not "nan"), floats carry at most 12 decimals in plain notation, so computed values lose their
    binary noise (0.42400000000000004 → 0.424) and small ones their exponent (1e-05 → 0.00001)."""
    frame = (df.reset_index() if index else df).copy()
    for column in frame.columns[[pd.api.types.is_float_dtype(t) for t in frame.dtypes]]:
        frame[column] = [_plain_float(v) for v in frame[column].to_numpy()]
    rows = frame.itertuples(index=False, name=None)
    return "".join(csv_chunks([str(c) for c in frame.columns], [list(rows)])).encode()


def _plain_float(value: float) -> str:
    return "" if np.isnan(value) else np.format_float_positional(value, precision=12, unique=True, trim="-")


def tick_csv_chunks(
    conn: Connection,
    symbols: Sequence[str] | None = None,
    start_ms: int | None = None,
    end_ms: int | None = None,
) -> Iterator[str]:
    """Ticks as CSV chunks (header first, TICK_COLUMNS), streamed from `stream_ticks`, whose query has run and read
    its first rows when this returns: a database that cannot be read fails here, before an HTTP answer streaming
    these chunks has sent its status (a 200 cut after the header told nobody that rows were missing)."""
    rows = stream_ticks(conn, symbols, start_ms, end_ms)
    first = next(rows, None)
    return csv_chunks(TICK_COLUMNS, rows if first is None else itertools.chain([first], rows))


def export_ticks_csv(
    db_target: str,
    out_path: str,
    symbols: Sequence[str] | None = None,
    start_ms: int | None = None,
    end_ms: int | None = None,
) -> int:
    """Stream ticks into a CSV file and return the row count."""
    conn = open_reader(db_target)
    count = 0
    try:
        with open(out_path, "w", encoding="utf-8", newline="") as out:

            def counted() -> Iterator[list[tuple]]:
                nonlocal count
                for rows in stream_ticks(conn, symbols, start_ms, end_ms):
                    count += len(rows)
                    yield rows

            for text in csv_chunks(TICK_COLUMNS, counted()):
                out.write(text)
    finally:
        conn.close()
    return count
