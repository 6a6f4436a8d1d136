"""Parquet tick files — this platform's cold tier (storage.retention writes one per symbol-day) or any Parquet
table with at least symbol, timestamp (or ts), price and size columns — read back in record batches, each row
validated like a CSV row, so replay and import treat them as any other tick file.

Every page is read with its CRC checked (the cold tier writes page checksums): a flipped byte or a cut-off file is
a TickFileError naming the file, never wrong prices stored or a decompression error escaping as a crash. A file
written without page checksums (the cold tier before they were added, or another writer) is still read, with a log
line saying damage inside it cannot be detected; retention re-writes a cold file with checksums whenever it merges
new ticks into it."""

from __future__ import annotations

import contextlib
import functools
import io
import logging
from collections.abc import Iterator
from pathlib import Path
from typing import BinaryIO

import pyarrow as pa
import pyarrow.parquet as pq

from feed.errors import TickFileError
from feed.records import ParseReport, Tick
from feed.values import id_space, make_tick, parse_number

log = logging.getLogger("data_feed")

PARQUET_MAGIC = b"PAR1"
BATCH_ROWS = 50_000
_REQUIRED = ("symbol", "trade_id", "price", "size")
# A page header is Thrift compact: fields 1-3 (type, uncompressed size, compressed size) are i32s, each a field
# byte 0x15 (delta 1, type i32) and a varint; an optional field 4, the page's CRC, is one more 0x15.
_I32_FIELD = 0x15
ParquetSource = str | Path | bytes


def is_parquet(source: ParquetSource) -> bool:
    """Whether a path or bytes holds a Parquet file (its magic number)."""
    if isinstance(source, (bytes, bytearray, memoryview)):
        return bytes(source[:4]) == PARQUET_MAGIC
    try:
        with open(source, "rb") as f:
            return f.read(4) == PARQUET_MAGIC
    except OSError:
        return False


def open_parquet(source: ParquetSource, display: str) -> pq.ParquetFile:
    """A Parquet file opened for reading with every page's CRC checked; a file whose footer cannot be read (cut
    off, damaged, not Parquet) is a TickFileError naming it."""
    try:
        return pq.ParquetFile(
            io.BytesIO(source) if isinstance(source, bytes) else source, page_checksum_verification=True
        )
    except (pa.ArrowException, OSError) as exc:
        raise TickFileError(
            0, f"{display} is not a readable Parquet file (truncated or damaged?): {str(exc).rstrip('.')}"
        ) from None


def damaged(display: str, exc: BaseException) -> TickFileError:
    """The error of a Parquet file whose pages fail their checksum or cannot be decoded."""
    why = str(exc).rstrip(".")
    return TickFileError(0, f"{display} is damaged (a page failed its checksum or could not be decoded): {why}")


def has_page_checksums(table: pq.ParquetFile, source: ParquetSource) -> bool:
    """Whether the writer stored page CRCs (read from the first page header of each column of the first row group;
    a writer stores them for every page or for none)."""
    meta = table.metadata
    if meta.num_row_groups == 0:
        return True  # no pages: nothing to check
    group = meta.row_group(0)
    with _binary(source) as f:
        for i in range(group.num_columns):
            column = group.column(i)
            f.seek(column.dictionary_page_offset if column.has_dictionary_page else column.data_page_offset)
            if not _header_has_crc(f.read(32)):
                return False
    return True


def verify_parquet(source: ParquetSource, display: str) -> int:
    """Read every page of a Parquet file, checking each one's CRC, before anything is taken from it (a replay
    delivers ticks as it reads, so a file damaged half-way must be refused before the first); returns its rows.
    A file without page checksums is read as it is, with a log line."""
    table = open_parquet(source, display)
    warn_without_checksums(table, source, display)
    try:
        for _ in table.iter_batches(batch_size=BATCH_ROWS):
            pass
    except (pa.ArrowException, OSError) as exc:
        raise damaged(display, exc) from None
    return table.metadata.num_rows


def warn_without_checksums(table: pq.ParquetFile, source: ParquetSource, display: str) -> None:
    """Log that a file has no page checksums (damage inside it would go unseen)."""
    try:
        checked = has_page_checksums(table, source)
    except OSError:
        return  # unreadable headers: the pages' own read reports the damage
    if not checked:
        _warn_once(display, table.metadata.num_rows)


@functools.lru_cache(maxsize=256)
def _warn_once(display: str, rows: int) -> None:
    """One log line per file (an import reads a file twice: to check it, then to store it)."""
    log.warning(
        "%s has no page checksums (written before they were added, or by another program): its %d rows are read, "
        "but damage inside its pages cannot be detected",
        display,
        rows,
    )


def iter_parquet_ticks(source: ParquetSource, display: str, report: ParseReport, *, strict: bool) -> Iterator[Tick]:
    """Ticks of a Parquet table, BATCH_ROWS at a time (memory bounded by a batch, not the file); a page that fails
    its checksum or cannot be decoded raises TickFileError naming the file."""
    table = open_parquet(source, display)
    names = set(table.schema_arrow.names)
    stamp = "timestamp" if "timestamp" in names else "ts"
    missing = [c for c in (*_REQUIRED, stamp) if c not in names]
    if missing:
        raise TickFileError(
            0,
            f"{display}: Parquet ticks need columns symbol, trade_id, timestamp (or ts), price "
            f"and size; missing {', '.join(missing)}",
        )
    warn_without_checksums(table, source, display)
    wanted = [
        c
        for c in ("symbol", stamp, "price", "size", "trade_id", "is_buyer_maker", "received_at", "id_space")
        if c in names
    ]
    line = 0
    for batch in _batches(table, wanted, display):
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


def _batches(table: pq.ParquetFile, columns: list[str], display: str) -> Iterator[pa.RecordBatch]:
    batches = table.iter_batches(batch_size=BATCH_ROWS, columns=columns)
    while True:
        try:
            batch = next(batches)
        except StopIteration:
            return
        except (pa.ArrowException, OSError) as exc:
            raise damaged(display, exc) from None
        yield batch


def _header_has_crc(header: bytes) -> bool:
    pos = 0
    for _ in range(3):  # type, uncompressed_page_size, compressed_page_size
        if pos >= len(header) or header[pos] != _I32_FIELD:
            return False
        pos += 1
        while pos < len(header) and header[pos] & 0x80:  # the varint's continuation bytes
            pos += 1
        pos += 1
    return pos < len(header) and header[pos] == _I32_FIELD


@contextlib.contextmanager
def _binary(source: ParquetSource) -> Iterator[BinaryIO]:
    """A path or bytes as a seekable binary file."""
    with io.BytesIO(source) if isinstance(source, bytes) else open(source, "rb") as f:
        yield f


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
