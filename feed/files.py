"""Tick and bar files: ``iter_ticks_from_file`` / ``parse_tick_file`` (NDJSON ticks, Binance archive CSVs, recorded
frames; plain, gzip or zip) and ``parse_ohlcv_csv`` (OHLCV / kline CSVs): opening, unpacking within limits, format
detection (feed.file_formats) and the row parsers (feed.file_rows).

Used by the replay feed and the dashboard's uploads; strict mode raises ``TickFileError`` naming line and problem.
"""

from __future__ import annotations

import contextlib
import gzip
import io
import itertools
import logging
import zipfile
import zlib
from collections.abc import Callable, Generator, Iterable, Iterator
from pathlib import Path
from typing import Any, TypeVar

from feed.errors import TickFileError
from feed.file_formats import BAR_FORMATS, TICK_FORMATS, FileFormat, detect_format
from feed.file_rows import OhlcvRows, kline_row, tick_row_parser
from feed.parquet import is_parquet, iter_parquet_ticks
from feed.records import MAX_LINE_CHARS, MAX_UNPACKED_BYTES, MAX_UPLOAD_BYTES, OhlcvBar, ParseReport, Tick

log = logging.getLogger("data_feed")  # one logger name for the whole feed layer, as before the split


# ======================================================================================================= file parsers
TickSource = str | Path | bytes
_DETECT_LINES = 20
_R = TypeVar("_R")


def detect_tick_format(source: TickSource, *, name: str | None = None) -> FileFormat:
    """Tell the format of a tick or bar file (path or bytes; zip/gzip unpacked) from its first lines."""
    if is_parquet(source):
        return FileFormat.PARQUET
    with _open_text(source, name) as (display, lines):
        return detect_format(display, list(itertools.islice(lines, _DETECT_LINES)))


def iter_ticks_from_file(
    source: TickSource,
    *,
    name: str | None = None,
    symbol: str | None = None,
    strict: bool = False,
    report: ParseReport | None = None,
    max_bytes: int | None = None,
) -> Generator[Tick, None, None]:
    """Stream ticks from any tick format; strict raises TickFileError at the first bad line, lenient counts it.

    ``received_at`` is the recorded receive time for raw frames and the exchange time otherwise. CSV files take
    their symbol from ``symbol`` or from a Binance archive name such as ``BTCUSDT-aggTrades-2024-08-08.csv``.
    Id-less NDJSON ticks get deterministic negative ids ``-(ts_ms*1000 + k)`` (k = occurrence within symbol+ms).
    """
    report = report if report is not None else ParseReport()
    if is_parquet(source):
        report.format = FileFormat.PARQUET.value
        display = name or (Path(source).name if isinstance(source, (str, Path)) else "upload")
        yield from iter_parquet_ticks(source, display, report, strict=strict)
        return
    yield from _records(
        source,
        name,
        report,
        TICK_FORMATS,
        strict=strict,
        max_bytes=max_bytes,
        row=lambda fmt, display: tick_row_parser(fmt, display, symbol, report),
    )


def iter_bars_from_file(
    source: TickSource, *, name: str | None = None, strict: bool = True, report: ParseReport | None = None
) -> Generator[OhlcvBar, None, None]:
    """Stream bars from an OHLCV CSV (``ts,open,high,low,close,volume``; ts ISO or epoch s/ms) or a Binance kline
    CSV, path or bytes, zip/gzip unpacked with the unpacked size bounded: memory stays one line deep."""
    report = report if report is not None else ParseReport()
    yield from _records(
        source,
        name,
        report,
        BAR_FORMATS,
        strict=strict,
        max_bytes=MAX_UNPACKED_BYTES,
        row=lambda fmt, _: kline_row if fmt is FileFormat.KLINE_CSV else OhlcvRows().parse,
    )


def _records(
    source: TickSource,
    name: str | None,
    report: ParseReport,
    wanted: frozenset[FileFormat],
    *,
    strict: bool,
    max_bytes: int | None,
    row: Callable[[FileFormat, str], Callable[[str], _R | None]],
) -> Generator[_R, None, None]:
    """Open, detect the format, refuse a file of the other kind (ticks vs bars) by name, then parse row by row."""
    with _open_text(source, name) as (display, lines):
        head = list(itertools.islice(lines, _DETECT_LINES))
        fmt = detect_format(display, head)
        report.format = fmt.value
        if fmt not in wanted and fmt in BAR_FORMATS:
            raise TickFileError(0, f"{display} holds OHLCV bars ({fmt.value}), not ticks; load it as bars")
        if fmt not in wanted:
            raise TickFileError(
                0,
                f"{display} holds ticks ({fmt.value}), not bars; expected an OHLCV CSV "
                "(ts,open,high,low,close,volume) or a Binance kline CSV",
            )
        yield from _parse_rows(
            itertools.chain(head, lines), row(fmt, display), strict=strict, report=report, max_bytes=max_bytes
        )


def parse_tick_file(
    data: bytes,
    name: str,
    *,
    strict: bool = True,
    symbol: str | None = None,
    report: ParseReport | None = None,
    max_bytes: int = MAX_UPLOAD_BYTES,
) -> list[Tick]:
    """Parse an uploaded tick file completely (size-limited); strict mode rejects the file at its first bad line."""
    _check_upload_size(data, name, max_bytes)
    return list(
        iter_ticks_from_file(data, name=name, symbol=symbol, strict=strict, report=report, max_bytes=MAX_UNPACKED_BYTES)
    )


def parse_ohlcv_csv(
    data: bytes,
    strict: bool = True,
    *,
    name: str = "upload.csv",
    report: ParseReport | None = None,
    max_bytes: int = MAX_UPLOAD_BYTES,
) -> list[OhlcvBar]:
    """Parse a whole uploaded bar file (size-limited): ``iter_bars_from_file`` as a list."""
    _check_upload_size(data, name, max_bytes)
    return list(iter_bars_from_file(data, name=name, strict=strict, report=report))


def _check_upload_size(data: bytes, name: str, max_bytes: int) -> None:
    if len(data) > max_bytes:
        raise TickFileError(
            0, f"{name} is {len(data) / 2**20:.1f} MB; the upload limit is {max_bytes / 2**20:.0f} MB (MAX_UPLOAD_MB)"
        )


class _Bounded(io.RawIOBase):
    """A byte stream that refuses to yield more than ``limit`` bytes: the unpacked size is checked while
    decompressing, so a decompression bomb is stopped after ``limit`` bytes, not after it has been inflated."""

    def __init__(self, inner: Any, limit: int, display: str) -> None:
        self._inner, self._limit, self._display, self._total = inner, limit, display, 0

    def readable(self) -> bool:
        return True

    def readinto(self, buffer: Any) -> int:
        data = self._inner.read(min(len(buffer), self._limit - self._total + 1))
        self._total += len(data)
        if self._total > self._limit:
            raise TickFileError(0, f"{self._display}: unpacked data exceeds the limit of {self._limit / 2**20:.0f} MB")
        buffer[: len(data)] = data
        return len(data)


def _lines(text: io.TextIOWrapper, display: str) -> Iterator[str]:
    """Text lines, each at most MAX_LINE_CHARS long (a line is never assembled beyond that)."""
    line_no = 0
    while True:
        line = text.readline(MAX_LINE_CHARS + 1)
        if not line:
            return
        line_no += 1
        if len(line) > MAX_LINE_CHARS and not line.endswith("\n"):
            raise TickFileError(
                line_no, f"{display}: line longer than {MAX_LINE_CHARS:,} characters (no tick or bar row is this long)"
            )
        yield line


@contextlib.contextmanager
def _open_text(
    source: TickSource, name: str | None, max_unpacked: int = MAX_UNPACKED_BYTES
) -> Iterator[tuple[str, Iterator[str]]]:
    """Open a path or bytes as text lines, unpacking zip (its one data member) or gzip, with the unpacked size
    and the line length bounded while reading; yields (name, lines). The unpacked size an archive declares is
    checked before anything is inflated (a zip's central directory, a gzip's trailer), and the size actually
    inflated is counted all the same (a declared size can lie)."""
    with contextlib.ExitStack() as stack:
        if isinstance(source, (bytes, bytearray, memoryview)):
            binary: Any = io.BytesIO(source)
            display = name or "upload"
        else:
            path = Path(source)
            try:
                binary = stack.enter_context(open(path, "rb"))
            except OSError as exc:
                raise TickFileError(0, f"cannot open {path}: {exc.strerror or exc}") from None
            display = name or path.name
        magic = binary.read(4)
        binary.seek(0)
        if magic == b"PK\x03\x04":
            try:
                archive = stack.enter_context(zipfile.ZipFile(binary))
            except zipfile.BadZipFile as exc:
                raise TickFileError(0, f"{display} is not a readable zip archive: {exc}") from None
            member = _zip_member(archive, display, max_unpacked)
            binary = stack.enter_context(archive.open(member))
            display = member.filename.rsplit("/", 1)[-1]
        elif magic[:2] == b"\x1f\x8b":
            _check_gzip_size(binary, display, max_unpacked)
            binary = stack.enter_context(gzip.GzipFile(fileobj=binary))
            display = display[:-3] if display.lower().endswith(".gz") else display
        bounded = io.BufferedReader(_Bounded(binary, max_unpacked, display), 1 << 16)
        yield display, _lines(io.TextIOWrapper(bounded, encoding="utf-8-sig", errors="replace"), display)


def _zip_member(archive: zipfile.ZipFile, display: str, max_unpacked: int = MAX_UNPACKED_BYTES) -> zipfile.ZipInfo:
    """The data member of a zip (Binance archives hold exactly one CSV), refused before it is inflated when the
    central directory declares more than `max_unpacked` bytes for it or for the whole archive."""
    declared = sum(m.file_size for m in archive.infolist())
    if declared > max_unpacked:
        raise TickFileError(
            0,
            f"{display} declares {_size(declared)} unpacked; the limit is {_size(max_unpacked)} - refused before "
            "unpacking it",
        )
    members = [m for m in archive.infolist() if not m.is_dir() and not m.filename.startswith("__MACOSX")]
    if not members:
        raise TickFileError(0, f"{display}: the zip archive is empty")
    if len(members) > 1:
        raise TickFileError(
            0,
            f"{display} holds {len(members)} files ({', '.join(m.filename for m in members[:3])}"
            f"{', ...' if len(members) > 3 else ''}); a Binance archive holds exactly one - "
            "upload each file on its own",
        )
    return members[0]


def _check_gzip_size(binary: Any, display: str, max_unpacked: int) -> None:
    """Refuse a gzip file whose trailer declares more than `max_unpacked` bytes before inflating it. The trailer
    holds the size modulo 4 GiB, never more than the true size, so this refuses only what is surely too large;
    the count while inflating catches the rest."""
    binary.seek(0, io.SEEK_END)
    if binary.tell() >= 18:  # a 10-byte header and an 8-byte trailer at least
        binary.seek(-4, io.SEEK_END)
        declared = int.from_bytes(binary.read(4), "little")
        if declared > max_unpacked:
            raise TickFileError(
                0,
                f"{display}: its gzip trailer declares {_size(declared)} unpacked, over the limit of "
                f"{_size(max_unpacked)} (or the file is cut short) - refused before unpacking it",
            )
    binary.seek(0)


def _size(count: int) -> str:
    return f"{count / 2**30:.2f} GiB" if count >= 2**30 else f"{count / 2**20:.0f} MB"


def _parse_rows(
    lines: Iterable[str], row: Callable[[str], _R | None], *, strict: bool, report: ParseReport, max_bytes: int | None
) -> Iterator[_R]:
    """Drive a row parser over lines: count, stop at the size limit, raise (strict) or skip (lenient) bad lines."""
    line_no = 0
    consumed = 0
    iterator = iter(lines)
    while True:
        try:
            line = next(iterator)
        except StopIteration:
            return
        except (OSError, EOFError, zlib.error) as exc:
            raise TickFileError(line_no + 1, f"cannot read the file: {exc}") from None
        line_no += 1
        consumed += len(line)
        if max_bytes is not None and consumed > max_bytes:
            raise TickFileError(line_no, f"unpacked data exceeds the limit of {max_bytes / 2**20:.0f} MB")
        text = line.strip()
        if not text:
            continue
        report.lines += 1
        try:
            item = row(text)
        except ValueError as exc:
            report.errors += 1
            if strict:
                raise TickFileError(line_no, str(exc)) from None
            if report.first_error is None:
                report.first_error = f"line {line_no}: {exc}"
            continue
        if item is not None:
            report.records += 1
            yield item
