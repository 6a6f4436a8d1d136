"""Tick and bar files: format detection, ``iter_ticks_from_file`` / ``parse_tick_file`` (NDJSON ticks, Binance
archive CSVs, recorded frames; plain, gzip or zip) and ``parse_ohlcv_csv`` (OHLCV / kline CSVs), with their row parsers.

Used by the replay feed and the dashboard's uploads; strict mode raises ``TickFileError`` naming line and problem.
"""

from __future__ import annotations

import contextlib
import csv
import dataclasses
import enum
import gzip
import io
import itertools
import logging
import re
import zipfile
import zlib
from collections.abc import Callable, Generator, Iterable, Iterator
from pathlib import Path
from typing import Any, ClassVar, TypeVar, cast

from core.symbols import validate_symbol
from core.vocabulary import IdSpace
from feed.errors import TickFileError
from feed.frames import FrameKind, decode_frame
from feed.parquet import is_parquet, iter_parquet_ticks
from feed.records import MAX_LINE_CHARS, MAX_UNPACKED_BYTES, MAX_UPLOAD_BYTES, OhlcvBar, ParseReport, Tick
from feed.values import (
    id_space,
    json_loads,
    make_tick,
    parse_boolean,
    parse_epoch_ms,
    parse_integer,
    parse_iso_ms,
    parse_number,
)

log = logging.getLogger("data_feed")  # one logger name for the whole feed layer, as before the split


# ======================================================================================================= file parsers
class FileFormat(enum.StrEnum):
    """File formats understood by the parsers (ticks: the first six; bars: the last two)."""

    NDJSON = "ndjson"
    TICKS_CSV = "ticks_csv"  # this platform's own tick export (symbol,trade_id,timestamp,price,size,...)
    PARQUET = "parquet"  # this platform's cold tier (one file per symbol-day), or any Parquet ticks
    AGG_TRADES_CSV = "agg_trades_csv"
    TRADES_CSV = "trades_csv"
    RAW_FRAMES = "raw_frames"
    OHLCV_CSV = "ohlcv_csv"
    KLINE_CSV = "kline_csv"


TICK_FORMATS = frozenset(
    {
        FileFormat.NDJSON,
        FileFormat.TICKS_CSV,
        FileFormat.PARQUET,
        FileFormat.AGG_TRADES_CSV,
        FileFormat.TRADES_CSV,
        FileFormat.RAW_FRAMES,
    }
)
BAR_FORMATS = frozenset({FileFormat.OHLCV_CSV, FileFormat.KLINE_CSV})
TickSource = str | Path | bytes
_FRAME_LINE = re.compile(r"(?:(\d+(?:\.\d+)?):?\s+)?(\{.*)", re.DOTALL)
_ARCHIVE_NAME = re.compile(r"([A-Za-z0-9]{2,20})-(?:aggTrades|trades)-", re.IGNORECASE)
_TS_NAMES = ("ts", "timestamp", "time", "date", "datetime", "open_time")
_DETECT_LINES = 20
_R = TypeVar("_R")


def detect_tick_format(source: TickSource, *, name: str | None = None) -> FileFormat:
    """Tell the format of a tick or bar file (path or bytes; zip/gzip unpacked) from its first lines."""
    if is_parquet(source):
        return FileFormat.PARQUET
    with _open_text(source, name) as (display, lines):
        return _detect(display, list(itertools.islice(lines, _DETECT_LINES)))


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
        row=lambda fmt, display: _tick_row_parser(fmt, display, symbol, report),
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
        row=lambda fmt, _: _kline_row if fmt is FileFormat.KLINE_CSV else _OhlcvRows().parse,
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
        fmt = _detect(display, head)
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
    and the line length bounded while reading; yields (name, lines)."""
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
            member = _zip_member(archive, display)
            binary = stack.enter_context(archive.open(member))
            display = member.filename.rsplit("/", 1)[-1]
        elif magic[:2] == b"\x1f\x8b":
            binary = stack.enter_context(gzip.GzipFile(fileobj=binary))
            display = display[:-3] if display.lower().endswith(".gz") else display
        bounded = io.BufferedReader(_Bounded(binary, max_unpacked, display), 1 << 16)
        yield display, _lines(io.TextIOWrapper(bounded, encoding="utf-8-sig", errors="replace"), display)


def _zip_member(archive: zipfile.ZipFile, display: str) -> zipfile.ZipInfo:
    """The data member of a zip (Binance archives hold exactly one CSV)."""
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


def _detect(display: str, head: list[str]) -> FileFormat:
    """Format from the first recognisable line among the first few (header lines and URL banners are skipped)."""
    for line in head:
        text = line.strip()
        if text:
            fmt = _classify_line(text)
            if fmt is not None:
                return fmt
    if not any(line.strip() for line in head):
        raise TickFileError(0, f"{display} is empty")
    raise TickFileError(
        0,
        f"{display}: unrecognised format; expected NDJSON ticks {{symbol, ts, price, size}}, "
        "a Binance aggTrades/trades/klines CSV, recorded frames '<receive_ns> <json>' or an "
        "OHLCV CSV (ts,open,high,low,close,volume)",
    )


def _classify_line(text: str) -> FileFormat | None:
    match = _FRAME_LINE.fullmatch(text)
    if match is not None:
        return _classify_json(match.group(2), prefixed=match.group(1) is not None)
    fields = [f.strip().strip('"') for f in text.split(",")]
    if _is_number(fields[0]):
        return _classify_numeric_row(fields)
    return _classify_header(fields)


def _classify_json(text: str, *, prefixed: bool) -> FileFormat | None:
    try:
        obj = json_loads(text)
    except ValueError:
        return FileFormat.RAW_FRAMES if prefixed else None
    if type(obj) is not dict:
        return None
    if "symbol" in obj and not prefixed:
        return FileFormat.NDJSON
    if prefixed or "stream" in obj or "e" in obj or "data" in obj:
        return FileFormat.RAW_FRAMES
    return None


def _classify_numeric_row(fields: list[str]) -> FileFormat | None:
    count = len(fields)
    if count == 12:
        return FileFormat.KLINE_CSV
    if count in (6, 7) and _is_bool(fields[5]):
        return FileFormat.TRADES_CSV  # futures 6 columns; spot adds is_best_match
    if count in (7, 8) and _is_bool(fields[6]):
        return FileFormat.AGG_TRADES_CSV  # futures 7 columns; spot adds is_best_match
    if count in (6, 7):
        return FileFormat.OHLCV_CSV
    return None


def _classify_header(fields: list[str]) -> FileFormat | None:
    """Header rows by their column names; an ISO time in the first column means a header-less OHLCV row."""
    names = [f.lower() for f in fields]
    if names[0] == "symbol" and {"price", "size"} <= set(names) and set(names) & {"timestamp", "ts"}:
        return FileFormat.TICKS_CSV
    if names[0] == "agg_trade_id":
        return FileFormat.AGG_TRADES_CSV
    if names[:3] == ["id", "price", "qty"]:
        return FileFormat.TRADES_CSV
    if names[0] == "open_time" and len(names) == 12:
        return FileFormat.KLINE_CSV
    if set(names) & set(_TS_NAMES) and {"open", "high", "low", "close"} <= set(names):
        return FileFormat.OHLCV_CSV
    if len(fields) in (6, 7) and _is_timestamp_text(fields[0]):
        return FileFormat.OHLCV_CSV
    return None


def _is_number(text: str) -> bool:
    try:
        float(text)
    except ValueError:
        return False
    return True


def _is_bool(text: str) -> bool:
    return text.strip().lower() in ("true", "false")


def _is_timestamp_text(text: str) -> bool:
    try:
        parse_iso_ms(text, "ts")
    except ValueError:
        return False
    return True


def _tick_row_parser(
    fmt: FileFormat, display: str, symbol: str | None, report: ParseReport
) -> Callable[[str], Tick | None]:
    """The row parser for a tick format (CSV formats need a symbol from the argument or the file name)."""
    if fmt is FileFormat.NDJSON:
        return _NdjsonRows().parse
    if fmt is FileFormat.RAW_FRAMES:
        return _FrameRows(report).parse
    if fmt is FileFormat.TICKS_CSV:
        return _TickCsvRows().parse
    csv_symbol = _csv_symbol(display, symbol)
    if fmt is FileFormat.AGG_TRADES_CSV:
        return _CsvRows(csv_symbol, _agg_trade_fields, "agg_trade_id", IdSpace.AGG_TRADE).parse
    return _CsvRows(csv_symbol, _trade_fields, "id", IdSpace.TRADE).parse


def _csv_symbol(display: str, symbol: str | None) -> str:
    match = _ARCHIVE_NAME.match(display)
    if symbol:
        chosen = validate_symbol(symbol)
        if match is not None and validate_symbol(match.group(1)) != chosen:
            raise TickFileError(
                0,
                f"{display} is a {match.group(1).upper()} archive, not {chosen}: its prices "
                f"would be stored under the wrong symbol",
            )
        return chosen
    if match is None:
        raise TickFileError(
            0,
            f"{display}: cannot tell the symbol; name the file like "
            "BTCUSDT-aggTrades-2024-08-08.csv or pass the symbol",
        )
    return validate_symbol(match.group(1))


class _NdjsonRows:
    """NDJSON ticks ``{symbol, ts, price, size[, trade_id][, is_buyer_maker][, id_space]}``; id-less rows get
    negative ids; ids are an upload's numbering unless the row names its id space (this project's exports do)."""

    _REQUIRED = ("symbol", "ts", "price", "size")

    def __init__(self) -> None:
        self._ids = _NegativeIds()

    def parse(self, text: str) -> Tick:
        try:
            obj = json_loads(text)
        except ValueError as exc:
            raise ValueError(f"not valid JSON ({exc})") from None
        if type(obj) is not dict:
            raise ValueError("expected a JSON object {symbol, ts, price, size}")
        missing = [k for k in self._REQUIRED if k not in obj]
        if missing:
            raise ValueError(f"missing field(s) {', '.join(missing)}")
        symbol = validate_symbol(obj["symbol"])
        ts = parse_epoch_ms(obj["ts"], "ts")
        price = parse_number(obj["price"], "price")
        size = parse_number(obj["size"], "size")
        maker = parse_boolean(obj.get("is_buyer_maker", obj.get("m", False)), "is_buyer_maker")
        raw_id = obj.get("trade_id", obj.get("id"))
        trade_id = self._ids.assign(symbol, ts) if raw_id is None else parse_integer(raw_id, "trade_id")
        return make_tick(symbol, trade_id, ts, price, size, maker, ts, id_space(obj.get("id_space")))


class _TickCsvRows:
    """This platform's tick CSV (the Data Management and API exports): a header naming at least symbol, timestamp
    (or ts), price and size, optionally trade_id, is_buyer_maker, received_at and id_space; other columns are
    ignored. Rows without a trade id get negative ids, as in NDJSON."""

    def __init__(self) -> None:
        self._columns: dict[str, int] | None = None
        self._width = 0
        self._ids = _NegativeIds()

    def parse(self, text: str) -> Tick | None:
        fields = next(csv.reader([text]))
        if self._columns is None:
            self._width = len(fields)
            self._columns = {name.strip().lower(): i for i, name in enumerate(fields)}
            self._columns.setdefault("timestamp", self._columns.get("ts", -1))
            return None
        if len(fields) != self._width:
            raise ValueError(f"expected {self._width} columns like the header, found {len(fields)}")
        cell = self._cell(fields)
        symbol = validate_symbol(cell("symbol"))
        ts = parse_epoch_ms(cell("timestamp"), "timestamp")
        raw_id = cell("trade_id")
        trade_id = self._ids.assign(symbol, ts) if raw_id == "" else parse_integer(raw_id, "trade_id")
        maker = parse_boolean(cell("is_buyer_maker") or "false", "is_buyer_maker")
        received = cell("received_at")
        return make_tick(
            symbol,
            trade_id,
            ts,
            parse_number(cell("price"), "price"),
            parse_number(cell("size"), "size"),
            maker,
            parse_epoch_ms(received, "received_at") if received else ts,
            id_space(cell("id_space")),
        )

    def _cell(self, fields: list[str]) -> Callable[[str], str]:
        columns = cast(dict[str, int], self._columns)
        return lambda name: fields[columns[name]].strip() if columns.get(name, -1) >= 0 else ""


class _NegativeIds:
    """Deterministic ids for id-less ticks: ``-(ts_ms*1000 + k)``, k = occurrence within symbol and millisecond.

    Counts older than 10 minutes behind the newest row of a symbol are forgotten once a symbol has 100k of them; a
    row older than that horizon is rejected (its id could collide) with a message asking for a time-ordered file.
    """

    _HORIZON_MS = 600_000
    _PRUNE_AT = 100_000

    def __init__(self) -> None:
        self._counts: dict[str, dict[int, int]] = {}
        self._newest: dict[str, int] = {}
        self._floor: dict[str, int] = {}

    def assign(self, symbol: str, ts: int) -> int:
        floor = self._floor.get(symbol)
        if floor is not None and ts < floor:
            raise ValueError(
                f"ts {ts} is more than 10 minutes older than an earlier {symbol} row; "
                "files without trade ids must be in time order"
            )
        counts = self._counts.setdefault(symbol, {})
        k = counts.get(ts, 0)
        if k >= 1000:
            raise ValueError(f"more than 1000 {symbol} ticks without trade ids in millisecond {ts}")
        counts[ts] = k + 1
        newest = max(ts, self._newest.get(symbol, ts))
        self._newest[symbol] = newest
        if len(counts) > self._PRUNE_AT:
            horizon = newest - self._HORIZON_MS
            self._floor[symbol] = horizon
            self._counts[symbol] = {t: c for t, c in counts.items() if t >= horizon}
        return -(ts * 1000 + k)


def _agg_trade_fields(f: list[str]) -> tuple[str, str, str, str, str]:
    """(id, price, qty, time, maker) of ``agg_trade_id,price,quantity,first_trade_id,last_trade_id,transact_time,
    is_buyer_maker[,is_best_match]``."""
    if len(f) not in (7, 8):
        raise ValueError(f"expected 7 aggTrades columns, found {len(f)}")
    return f[0], f[1], f[2], f[5], f[6]


def _trade_fields(f: list[str]) -> tuple[str, str, str, str, str]:
    """(id, price, qty, time, maker) of ``id,price,qty,quote_qty,time,is_buyer_maker[,is_best_match]``."""
    if len(f) not in (6, 7):
        raise ValueError(f"expected 6 trades columns, found {len(f)}")
    return f[0], f[1], f[2], f[4], f[5]


class _CsvRows:
    """Binance archive aggTrades/trades rows of one symbol; a non-numeric first line is the header.

    The column count is fixed by the header or the first row, so a stray comma is reported as such.
    """

    def __init__(
        self, symbol: str, columns: Callable[[list[str]], tuple[str, str, str, str, str]], id_name: str, space: IdSpace
    ) -> None:
        self._symbol = symbol
        self._columns = columns
        self._id_name = id_name
        self._space = space
        self._width: int | None = None

    def parse(self, text: str) -> Tick | None:
        fields = [f.strip() for f in text.split(",")]
        if self._width is None:
            self._width = len(fields)
            if not _is_number(fields[0]):
                return None
        if len(fields) != self._width:
            raise ValueError(f"expected {self._width} columns like the first line, found {len(fields)}")
        raw_id, price, qty, ts, maker = self._columns(fields)
        time_ms = parse_epoch_ms(ts, "time")
        return make_tick(
            self._symbol,
            parse_integer(raw_id, self._id_name),
            time_ms,
            parse_number(price, "price"),
            parse_number(qty, "quantity"),
            parse_boolean(maker, "is_buyer_maker"),
            time_ms,
            self._space,
        )


class _FrameRows:
    """Recorded frames ``<receive time> <json>`` (ns, ms or s; optional ':'; the prefix itself is optional)."""

    def __init__(self, report: ParseReport) -> None:
        self._report = report

    def parse(self, text: str) -> Tick | None:
        match = _FRAME_LINE.fullmatch(text)
        if match is None:
            raise ValueError("expected '<receive time> <json frame>'")
        stamp, body = match.groups()
        received_at = parse_epoch_ms(stamp, "receive time") if stamp is not None else 0
        frame = decode_frame(body, received_at)
        if frame.kind is FrameKind.TICK:
            tick = cast(Tick, frame.tick)  # a TICK frame always carries its tick
            return tick if stamp is not None else dataclasses.replace(tick, received_at=tick.timestamp)
        if frame.kind is FrameKind.MALFORMED:
            raise ValueError(frame.detail)
        if frame.kind is FrameKind.PLACEHOLDER:
            self._report.placeholders += 1
        else:
            self._report.skipped += 1
        return None


class _OhlcvRows:
    """OHLCV rows ``ts,open,high,low,close,volume``; a header row may name and reorder the columns and add ``symbol``,
    ``trades`` and ``filled`` columns (this platform's bar export: a filled bar had no trade, so it is skipped, not
    stored as a flat bar)."""

    _NAMES: ClassVar[dict[str, tuple[str, ...]]] = {
        "ts": _TS_NAMES,
        "open": ("open", "o"),
        "high": ("high", "h"),
        "low": ("low", "l"),
        "close": ("close", "c"),
        "volume": ("volume", "vol", "v"),
    }

    def __init__(self) -> None:
        self._first = True
        self._positions: tuple[int, ...] = (0, 1, 2, 3, 4, 5)
        self._symbol_at: int | None = None
        self._trades_at: int | None = None
        self._filled_at: int | None = None

    def parse(self, text: str) -> OhlcvBar | None:
        fields = [f.strip().strip('"') for f in text.split(",")]
        if self._first:
            self._first = False
            if self._read_header(fields):
                return None
        if len(fields) < 6:
            raise ValueError(f"expected 6 columns ts,open,high,low,close,volume, found {len(fields)}")
        ts, o, h, lo, c, v = (fields[i] for i in self._positions)
        if self._filled_at is not None and parse_boolean(fields[self._filled_at], "filled"):
            return None
        symbol = None if self._symbol_at is None else validate_symbol(fields[self._symbol_at])
        trades = None if self._trades_at is None else parse_integer(fields[self._trades_at], "trades")
        return _make_bar(parse_epoch_ms(ts, "ts"), o, h, lo, c, v, trades, symbol)

    def _read_header(self, fields: list[str]) -> bool:
        names = [f.lower() for f in fields]
        if _is_number(names[0]) or _is_timestamp_text(fields[0]):
            return False
        positions = []
        for key, aliases in self._NAMES.items():
            found = [i for i, name in enumerate(names) if name in aliases]
            if not found:
                raise ValueError(f"header has no {key!r} column (expected ts,open,high,low,close,volume)")
            positions.append(found[0])
        self._positions = tuple(positions)
        self._symbol_at = names.index("symbol") if "symbol" in names else None
        self._trades_at = next((names.index(n) for n in ("trades", "trade_count") if n in names), None)
        self._filled_at = names.index("filled") if "filled" in names else None
        return True


def _kline_row(text: str) -> OhlcvBar | None:
    """Binance kline CSV row (12 columns; a header row is skipped)."""
    fields = [f.strip() for f in text.split(",")]
    if not _is_number(fields[0]):
        return None
    if len(fields) != 12:
        raise ValueError(f"expected 12 kline columns, found {len(fields)}")
    return _make_bar(
        parse_epoch_ms(fields[0], "open_time"),
        fields[1],
        fields[2],
        fields[3],
        fields[4],
        fields[5],
        parse_integer(fields[8], "count"),
    )


def _make_bar(
    ts: int, o: str, h: str, lo: str, c: str, v: str, trades: int | None, symbol: str | None = None
) -> OhlcvBar:
    """Validated bar: positive prices, high >= max(open, close), low <= min(open, close), volume >= 0."""
    open_, high, low, close = (
        parse_number(o, "open"),
        parse_number(h, "high"),
        parse_number(lo, "low"),
        parse_number(c, "close"),
    )
    volume = parse_number(v, "volume")
    if min(open_, high, low, close) <= 0:
        raise ValueError("prices must be positive")
    if high < max(open_, close):
        raise ValueError(f"high {h} is below max(open, close) = {max(open_, close):g}")
    if low > min(open_, close):
        raise ValueError(f"low {lo} is above min(open, close) = {min(open_, close):g}")
    if volume < 0:
        raise ValueError(f"volume {v} is negative")
    return OhlcvBar(ts, open_, high, low, close, volume, trades, symbol)
