"""Parquet tick files — this platform's cold tier (storage.retention writes one per symbol-day) or any Parquet
table with at least symbol, timestamp (or ts), price and size columns — read back in record batches, each row
validated like a CSV row, so replay and import treat them as any other tick file."""

from __future__ import annotations

import io
from collections.abc import Iterator
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq

from feed.errors import TickFileError
from feed.records import ParseReport, Tick
from feed.values import id_space, make_tick, parse_number

PARQUET_MAGIC = b"PAR1"
BATCH_ROWS = 50_000
_REQUIRED = ("symbol", "trade_id", "price", "size")


def is_parquet(source: str | Path | bytes) -> bool:
    """Whether a path or bytes holds a Parquet file (its magic number)."""
    if isinstance(source, (bytes, bytearray, memoryview)):
        return bytes(source[:4]) == PARQUET_MAGIC
    try:
        with open(source, "rb") as f:
            return f.read(4) == PARQUET_MAGIC
    except OSError:
        return False


def iter_parquet_ticks(
    source: str | Path | bytes, display: str, report: ParseReport, *, strict: bool
) -> Iterator[Tick]:
    """Ticks of a Parquet table, BATCH_ROWS at a time (memory bounded by a batch, not the file)."""
    try:
        table = pq.ParquetFile(io.BytesIO(source) if isinstance(source, bytes) else source)
    except (pa.ArrowException, OSError) as exc:
        raise TickFileError(0, f"{display} is not a readable Parquet file: {exc}") from None
    names = set(table.schema_arrow.names)
    stamp = "timestamp" if "timestamp" in names else "ts"
    missing = [c for c in (*_REQUIRED, stamp) if c not in names]
    if missing:
        raise TickFileError(
            0,
            f"{display}: Parquet ticks need columns symbol, trade_id, timestamp (or ts), price "
            f"and size; missing {', '.join(missing)}",
        )
    wanted = [
        c
        for c in ("symbol", stamp, "price", "size", "trade_id", "is_buyer_maker", "received_at", "id_space")
        if c in names
    ]
    line = 0
    for batch in table.iter_batches(batch_size=BATCH_ROWS, columns=wanted):
        columns = {name: batch.column(name).to_pylist() for name in wanted}
        for i in range(batch.num_rows):
            line += 1
            report.lines += 1
            try:
                tick = _row(columns, i, stamp)
            except (TypeError, ValueError) as exc:
                report.errors += 1
                if strict:
                    raise TickFileError(line, str(exc)) from None
                if report.first_error is None:
                    report.first_error = f"row {line}: {exc}"
                continue
            report.records += 1
            yield tick


def _row(columns: dict[str, list], i: int, stamp: str) -> Tick:
    ts = columns[stamp][i]
    maker = bool(columns["is_buyer_maker"][i]) if "is_buyer_maker" in columns else False
    received = columns["received_at"][i] if "received_at" in columns else None
    space = id_space(columns["id_space"][i] if "id_space" in columns else None)
    return make_tick(
        columns["symbol"][i],
        columns["trade_id"][i],
        ts,
        parse_number(columns["price"][i], "price"),
        parse_number(columns["size"][i], "size"),
        maker,
        received if received is not None else ts,
        space,
    )
