"""Feed layer: Binance USD-M trade feeds, offline feeds, wire/file parsers, REST client and frame recorder.

Everything that turns bytes (from Binance or from a file) into ``Tick`` records lives here, behind ONE parsing path
shared by the live WebSocket feed, the replay feed, the REST client and the dashboard's uploads:

* ``decode_frame`` classifies one WebSocket text frame (combined ``{"stream","data"}`` or raw payload): aggTrade /
  trade -> ``Tick``; zero-price placeholder rows (ids consumed, not trades); SUBSCRIBE replies and error replies;
  other event types; malformed input. Never raises.
* ``iter_ticks_from_file`` / ``parse_tick_file`` read NDJSON ticks ``{symbol, ts, price, size}``, Binance archive
  CSVs (futures aggTrades / trades, with or without header row, optionally zipped) and recorded frames
  (``<receive_ns> <json>`` lines, plain or gzip); ``detect_tick_format`` tells them apart; ``parse_ohlcv_csv``
  reads bar uploads (``ts,open,high,low,close,volume`` or Binance kline CSVs). Strict mode raises
  ``TickFileError`` naming the line and the problem.
* ``BinanceFuturesFeed``: websocket-client connections to ``{base}/stream?streams=...`` with its own reconnect loop
  (capped exponential backoff + jitter, <= 300 connection attempts per 5 minutes), per-stream liveness watchdog,
  proactive rotation before Binance's 24 h cut (overlap, switch, de-duplicate by id) and <= 1024 streams per
  connection. ``SimulatedFeed`` (offline market with a cointegrated pair) and ``ReplayFeed`` (files) share the
  ``DataFeed`` interface.
* ``BinanceRest``: urllib client for exchangeInfo / aggTrades / klines with a client-side weight budget and
  ``Retry-After`` handling of HTTP 429/418.
* ``BinanceArchive``: the data.binance.vision daily aggTrades archive (sha256-verified, streamed through a temporary
  file) for trade-id gaps older than the REST window; failures raise ``ArchiveError``.
* ``FrameRecorder`` writes raw frames so a live session can be replayed by ``ReplayFeed``.

The module imports nothing from the project (docs/CONTRACTS.md). Times are epoch milliseconds unless named _ns/_s.
"""
from __future__ import annotations

import abc
import contextlib
import dataclasses
import datetime as dt
import enum
import gzip
import hashlib
import http.client
import io
import itertools
import json
import logging
import math
import os
import random
import re
import socket
import ssl
import tempfile
import threading
import time
import urllib.error
import urllib.parse
import urllib.request
import zipfile
import zlib
from collections import deque
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, ClassVar, Iterable, Iterator, Sequence, TypeVar

import websocket

from core.vocabulary import FeedKind, StreamKind

try:
    import orjson
except ImportError:  # optional speed-up; the stdlib parser gives identical results
    orjson = None

log = logging.getLogger(__name__)

_loads: Callable[[bytes | str], Any] = orjson.loads if orjson is not None else json.loads

DEFAULT_WS_BASE = "wss://fstream.binance.com/market"
DEFAULT_REST_BASE = "https://fapi.binance.com"
DEFAULT_ARCHIVE_BASE = "https://data.binance.vision"
MAX_UPLOAD_BYTES = 200 * 1024 * 1024            # uploads larger than this are refused with a clear message
MAX_UNPACKED_BYTES = 2 * 1024 * 1024 * 1024     # a compressed upload may not unpack to more than this
MAX_STREAMS_PER_CONNECTION = 1024               # Binance USD-M limit per WebSocket connection
EVENT_KINDS = ("connected", "disconnected", "reconnecting", "stalled", "subscribe_error", "rotated", "finished",
               "error")
KLINE_INTERVALS = ("1m", "3m", "5m", "15m", "30m", "1h", "2h", "4h", "6h", "8h", "12h", "1d", "3d", "1w", "1M")
SYMBOL_PATTERN = re.compile(r"[A-Z0-9]{2,20}")
_MIN_MS = 946_684_800_000                       # 2000-01-01: anything earlier is not a trade time
_MAX_MS = 4_102_444_800_000                     # 2100-01-01
_EPOCH = dt.datetime(1970, 1, 1, tzinfo=dt.timezone.utc)
_MS = dt.timedelta(milliseconds=1)


# ============================================================================================================ records
@dataclass(frozen=True, slots=True)
class Tick:
    """One trade as stored: exchange id and time, price, size, aggressor flag and local receive time (ms)."""

    symbol: str
    trade_id: int
    timestamp: int
    price: float
    size: float
    is_buyer_maker: bool
    received_at: int


@dataclass(frozen=True, slots=True)
class FeedEvent:
    """A feed state change for the collector/UI; ``kind`` is one of EVENT_KINDS."""

    kind: str
    symbol: str | None
    message: str
    at_ms: int


@dataclass(slots=True)
class FeedStats:
    """Counters and state of one feed; ``get_stats()`` returns a copy, ``to_dict()`` makes it JSON-friendly.

    ``state``: idle, connecting, connected, stalled, reconnecting, finished, stopped or failed. ``frames``: frames
    (or replayed lines) seen; ``skipped``: replayed non-trade frames; ``placeholders`` / ``placeholder_ids``: zero-price
    trade rows (their ids are consumed, not gaps); ``last_ids``: highest id per symbol, placeholders included.
    """

    kind: FeedKind
    state: str = "idle"
    connected: bool = False
    source: str = ""
    frames: int = 0
    ticks: int = 0
    parse_errors: int = 0
    unknown_events: int = 0
    skipped: int = 0
    placeholders: int = 0
    duplicates_dropped: int = 0
    subscribe_errors: int = 0
    callback_errors: int = 0
    reconnects: int = 0
    rotations: int = 0
    stalls: int = 0
    connections: int = 0
    streams: list[str] = field(default_factory=list)
    stalled_streams: list[str] = field(default_factory=list)
    last_error: str | None = None
    last_ids: dict[str, int] = field(default_factory=dict)
    last_tick_at: dict[str, int] = field(default_factory=dict)
    placeholder_ids: dict[str, list[int]] = field(default_factory=dict)
    started_at: int | None = None

    def copy(self) -> FeedStats:
        """Snapshot with copied containers, safe to hand to another thread."""
        return dataclasses.replace(
            self, streams=list(self.streams), stalled_streams=list(self.stalled_streams),
            last_ids=dict(self.last_ids), last_tick_at=dict(self.last_tick_at),
            placeholder_ids={k: list(v) for k, v in self.placeholder_ids.items()})

    def to_dict(self) -> dict[str, Any]:
        """Plain dict of all fields (for status lines and the dashboard)."""
        return dataclasses.asdict(self)


@dataclass(frozen=True, slots=True)
class SymbolInfo:
    """Trading rules of one USD-M symbol from exchangeInfo."""

    symbol: str
    status: str
    tick_size: float
    step_size: float
    contract_type: str


@dataclass(frozen=True, slots=True)
class KlineBar:
    """One Binance kline (REST ``/fapi/v1/klines`` row); times are epoch ms, ``trades`` is the trade count."""

    open_time: int
    open: float
    high: float
    low: float
    close: float
    volume: float
    close_time: int
    quote_volume: float
    trades: int


@dataclass(frozen=True, slots=True)
class OhlcvBar:
    """One uploaded OHLCV bar stamped at its open time (epoch ms); ``trades`` is known for kline CSVs only,
    ``symbol`` for files with a symbol column (the Streamlit seed's ``symbol,timestamp,open,...`` format)."""

    ts: int
    open: float
    high: float
    low: float
    close: float
    volume: float
    trades: int | None = None
    symbol: str | None = None


@dataclass(slots=True)
class ParseReport:
    """What a file parse saw: non-empty lines, records produced, lines skipped or rejected, and the first error."""

    format: str = ""
    lines: int = 0
    records: int = 0
    placeholders: int = 0
    skipped: int = 0
    errors: int = 0
    first_error: str | None = None


@dataclass(frozen=True, slots=True)
class RestStats:
    """Counters of a BinanceRest client; ``used_weight_1m`` is the last X-MBX-USED-WEIGHT-1M header seen."""

    requests: int
    retries: int
    rate_limited: int
    used_weight_1m: int | None
    waited_s: float
    last_error: str | None


@dataclass(frozen=True, slots=True)
class ArchiveStats:
    """Counters of a BinanceArchive client: verified files and bytes downloaded, ticks handed out, last failure."""

    files: int
    bytes: int
    ticks: int
    last_error: str | None


# ============================================================================================================= errors
class TickFileError(ValueError):
    """A tick/bar file could not be parsed; ``line_no`` is 1-based (0 = the file as a whole)."""

    def __init__(self, line_no: int, message: str) -> None:
        super().__init__(f"line {line_no}: {message}" if line_no > 0 else message)
        self.line_no = line_no
        self.message = message


class BinanceRestError(RuntimeError):
    """A REST call failed; carries the HTTP status, Binance's error code/msg when given, and the path."""

    def __init__(self, message: str, *, status: int | None = None, code: int | None = None, msg: str | None = None,
                 path: str = "", body: str = "") -> None:
        super().__init__(message)
        self.status = status
        self.code = code
        self.msg = msg
        self.path = path
        self.body = body


class ArchiveError(Exception):
    """A daily archive file could not be fetched or verified; ``status`` is the HTTP status when there was one."""

    def __init__(self, message: str, *, url: str, status: int | None = None) -> None:
        super().__init__(message)
        self.url = url
        self.status = status

    @property
    def missing(self) -> bool:
        """True when the archive answered 404: the file is not published (yet) or never will be."""
        return self.status == 404


class UnknownSymbolError(ValueError):
    """Symbols that are malformed, not listed, or not TRADING on Binance USD-M futures; ``symbols`` lists them."""

    def __init__(self, symbols: Sequence[str], details: Sequence[str]) -> None:
        super().__init__("not tradable on Binance USD-M futures: " + "; ".join(details))
        self.symbols = list(symbols)


# ========================================================================================================= validation
def validate_symbol(symbol: str) -> str:
    """Upper-case a symbol and check it against the strict pattern (it ends up in URLs, SQL and file names)."""
    if not isinstance(symbol, str):
        raise ValueError(f"invalid symbol {symbol!r}: expected text such as BTCUSDT")
    clean = symbol.strip().upper()
    if not SYMBOL_PATTERN.fullmatch(clean):
        raise ValueError(f"invalid symbol {symbol!r}: expected 2-20 letters or digits such as BTCUSDT")
    return clean


def _validate_symbols(symbols: Iterable[str]) -> list[str]:
    """Validate and de-duplicate (order kept); the error names every bad symbol."""
    good: list[str] = []
    bad: list[str] = []
    for raw in symbols:
        try:
            sym = validate_symbol(raw)
        except ValueError:
            bad.append(repr(raw))
            continue
        if sym not in good:
            good.append(sym)
    if bad:
        raise ValueError(f"invalid symbol(s) {', '.join(bad)}: expected 2-20 letters or digits such as BTCUSDT")
    if not good:
        raise ValueError("no symbols given")
    return good


def _number(value: Any, name: str) -> float:
    """A finite float from a JSON number or numeric text; the error names the field and the value."""
    kind = type(value)
    if kind is float or kind is int:
        number = float(value)
    elif kind is str:
        try:
            number = float(value)
        except ValueError:
            raise ValueError(f"{name} {value!r} is not a number") from None
    else:
        raise ValueError(f"{name} {value!r} is not a number")
    if not math.isfinite(number):
        raise ValueError(f"{name} {value!r} is not a finite number")
    return number


def _integer(value: Any, name: str) -> int:
    """An int from a JSON integer or integer text."""
    if type(value) is int:
        return value
    if type(value) is str:
        try:
            return int(value)
        except ValueError:
            pass
    raise ValueError(f"{name} {value!r} is not an integer")


def _boolean(value: Any, name: str) -> bool:
    """A bool from JSON true/false, 0/1 or text such as 'True'/'false'."""
    if type(value) is bool:
        return value
    text = str(value).strip().lower()
    if text in ("true", "1", "t", "yes"):
        return True
    if text in ("false", "0", "f", "no"):
        return False
    raise ValueError(f"{name} {value!r} is not true/false")


def _epoch_ms(value: Any, name: str = "ts") -> int:
    """Epoch ms from an ISO-8601 string or an epoch number in s, ms, us or ns (told apart by magnitude)."""
    kind = type(value)
    if kind is str:
        text = value.strip()
        if text.isdigit():
            return _scaled_ms(int(text), name, value)
        try:
            return _scaled_ms(float(text), name, value)
        except ValueError:
            return _iso_ms(text, name)
    if kind is int or kind is float:
        return _scaled_ms(value, name, value)
    raise ValueError(f"{name} {value!r} is not a timestamp")


def _scaled_ms(number: int | float, name: str, original: Any) -> int:
    """Scale an epoch number to ms by magnitude (floor, so ns->ms matches integer division)."""
    if not math.isfinite(number):
        raise ValueError(f"{name} {original!r} is not a timestamp")
    size = abs(number)
    if size < 1e11:
        ms = math.floor(number * 1000)
    elif size < 1e14:
        ms = math.floor(number)
    elif size < 1e17:
        ms = int(number) // 1000 if type(number) is int else math.floor(number / 1000)
    else:
        ms = int(number) // 1_000_000 if type(number) is int else math.floor(number / 1e6)
    return _check_ms(ms, name, original)


def _iso_ms(text: str, name: str) -> int:
    """Epoch ms from ISO-8601 text (naive times are UTC)."""
    try:
        moment = dt.datetime.fromisoformat(text)
    except ValueError:
        raise ValueError(f"{name} {text!r} is neither an ISO-8601 time nor an epoch number") from None
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=dt.timezone.utc)
    return _check_ms((moment - _EPOCH) // _MS, name, text)


def _check_ms(ms: int, name: str, original: Any) -> int:
    if not _MIN_MS <= ms < _MAX_MS:
        raise ValueError(f"{name} {original!r} is outside 2000-2100")
    return ms


def _make_tick(symbol: Any, trade_id: Any, timestamp: Any, price: float, size: float, is_buyer_maker: Any,
               received_at: int) -> Tick:
    """The one Tick constructor of every path: checks symbol, id, time, positive price/size and the maker flag."""
    if type(symbol) is not str or not SYMBOL_PATTERN.fullmatch(symbol):
        symbol = validate_symbol(symbol)
    if type(trade_id) is not int:
        raise ValueError(f"trade id {trade_id!r} is not an integer")
    if type(timestamp) is not int or not _MIN_MS <= timestamp < _MAX_MS:
        raise ValueError(f"trade time {timestamp!r} is not epoch milliseconds within 2000-2100")
    if not price > 0.0:
        raise ValueError(f"price {price!r} must be positive")
    if not size > 0.0:
        raise ValueError(f"size {size!r} must be positive")
    if type(is_buyer_maker) is not bool:
        raise ValueError(f"buyer-is-maker flag {is_buyer_maker!r} is not true/false")
    return Tick(symbol, trade_id, timestamp, price, size, is_buyer_maker, received_at)


def _now_ms() -> int:
    return time.time_ns() // 1_000_000


def _preview(raw: bytes | str, limit: int = 120) -> str:
    """Short printable excerpt of a frame for log and error messages."""
    text = raw.decode("utf-8", "replace") if isinstance(raw, (bytes, bytearray, memoryview)) else str(raw)
    return repr(text if len(text) <= limit else text[:limit] + "...")


# ===================================================================================================== frame decoding
class FrameKind(enum.Enum):
    """What a WebSocket text frame turned out to be."""

    TICK = "tick"
    PLACEHOLDER = "placeholder"     # trade row with price 0 (NA / insurance-fund): consumes an id, not a trade
    REPLY = "reply"                 # {"result": ..., "id": N}
    ERROR_REPLY = "error_reply"     # {"error": {"code", "msg"}, "id": N}
    OTHER = "other"                 # valid JSON, not a trade (bookTicker, depth, unknown event types, ...)
    MALFORMED = "malformed"         # not JSON, truncated, or a trade with missing/bad fields


@dataclass(slots=True)
class Frame:
    """Result of ``decode_frame``: the kind plus the tick, placeholder id, reply or problem description."""

    kind: FrameKind
    tick: Tick | None = None
    symbol: str | None = None
    trade_id: int | None = None
    request_id: Any = None
    result: Any = None
    detail: str = ""


_ID_KEYS = {"aggTrade": "a", "trade": "t"}


def decode_frame(raw: bytes | str, received_at: int) -> Frame:
    """Classify one frame (combined or raw payload) and parse aggTrade/trade payloads; never raises."""
    try:
        message = _loads(raw)
    except ValueError as exc:
        return Frame(FrameKind.MALFORMED, detail=f"not JSON ({exc}): {_preview(raw)}")
    if type(message) is not dict:
        return Frame(FrameKind.MALFORMED, detail=f"not a JSON object: {_preview(raw)}")
    payload = message.get("data")
    if type(payload) is not dict:
        if "error" in message or ("result" in message and "id" in message):
            return _control_frame(message)
        payload = message
    event = payload.get("e")
    id_key = _ID_KEYS.get(event) if type(event) is str else None
    if id_key is None:
        return Frame(FrameKind.OTHER, detail=str(event) if event is not None else "no event type")
    try:
        return _trade_frame(payload["s"], payload, id_key, received_at)
    except (KeyError, TypeError, ValueError) as exc:
        return Frame(FrameKind.MALFORMED, detail=f"bad {event} frame ({_describe(exc)}): {_preview(raw)}")


def _trade_frame(symbol: Any, payload: dict, id_key: str, received_at: int) -> Frame:
    """Tick or placeholder from an aggTrade/trade payload (also REST aggTrades rows, which carry no 's')."""
    trade_id = payload[id_key]
    price = _number(payload["p"], "price")
    if price == 0.0:
        if type(trade_id) is not int:
            raise ValueError(f"trade id {trade_id!r} is not an integer")
        return Frame(FrameKind.PLACEHOLDER, symbol=validate_symbol(symbol), trade_id=trade_id)
    tick = _make_tick(symbol, trade_id, payload["T"], price, _number(payload["q"], "quantity"), payload["m"],
                      received_at)
    return Frame(FrameKind.TICK, tick=tick)


def _control_frame(message: dict) -> Frame:
    """Reply to a SUBSCRIBE/UNSUBSCRIBE/LIST_SUBSCRIPTIONS request."""
    error = message.get("error")
    if error is not None:
        detail = (f"code {error.get('code')}: {error.get('msg')}" if type(error) is dict else str(error))
        return Frame(FrameKind.ERROR_REPLY, request_id=message.get("id"), detail=detail)
    return Frame(FrameKind.REPLY, request_id=message.get("id"), result=message.get("result"))


def _describe(exc: Exception) -> str:
    if isinstance(exc, KeyError):
        return f"missing field {exc.args[0]!r}"
    return str(exc)


# ======================================================================================================= file parsers
class FileFormat(enum.StrEnum):
    """File formats understood by the parsers (ticks: the first four; bars: the last two)."""

    NDJSON = "ndjson"
    AGG_TRADES_CSV = "agg_trades_csv"
    TRADES_CSV = "trades_csv"
    RAW_FRAMES = "raw_frames"
    OHLCV_CSV = "ohlcv_csv"
    KLINE_CSV = "kline_csv"


TICK_FORMATS = frozenset({FileFormat.NDJSON, FileFormat.AGG_TRADES_CSV, FileFormat.TRADES_CSV,
                          FileFormat.RAW_FRAMES})
BAR_FORMATS = frozenset({FileFormat.OHLCV_CSV, FileFormat.KLINE_CSV})
TickSource = str | Path | bytes
_FRAME_LINE = re.compile(r"(?:(\d+(?:\.\d+)?):?\s+)?(\{.*)", re.DOTALL)
_ARCHIVE_NAME = re.compile(r"([A-Za-z0-9]{2,20})-(?:aggTrades|trades)-", re.IGNORECASE)
_TS_NAMES = ("ts", "timestamp", "time", "date", "datetime", "open_time")
_DETECT_LINES = 20
_R = TypeVar("_R")


def detect_tick_format(source: TickSource, *, name: str | None = None) -> FileFormat:
    """Tell the format of a tick or bar file (path or bytes; zip/gzip unpacked) from its first lines."""
    with _open_text(source, name) as (display, lines):
        return _detect(display, list(itertools.islice(lines, _DETECT_LINES)))


def iter_ticks_from_file(source: TickSource, *, name: str | None = None, symbol: str | None = None,
                         strict: bool = False, report: ParseReport | None = None,
                         max_bytes: int | None = None) -> Iterator[Tick]:
    """Stream ticks from any tick format; strict raises TickFileError at the first bad line, lenient counts it.

    ``received_at`` is the recorded receive time for raw frames and the exchange time otherwise. CSV files take
    their symbol from ``symbol`` or from a Binance archive name such as ``BTCUSDT-aggTrades-2024-08-08.csv``.
    Id-less NDJSON ticks get deterministic negative ids ``-(ts_ms*1000 + k)`` (k = occurrence within symbol+ms).
    """
    report = report if report is not None else ParseReport()
    with _open_text(source, name) as (display, lines):
        head = list(itertools.islice(lines, _DETECT_LINES))
        fmt = _detect(display, head)
        report.format = fmt.value
        if fmt in BAR_FORMATS:
            raise TickFileError(0, f"{display} holds OHLCV bars ({fmt.value}), not ticks; load it as bars")
        row = _tick_row_parser(fmt, display, symbol, report)
        yield from _parse_rows(itertools.chain(head, lines), row, strict=strict, report=report,
                               max_bytes=max_bytes)


def parse_tick_file(data: bytes, name: str, *, strict: bool = True, symbol: str | None = None,
                    report: ParseReport | None = None, max_bytes: int = MAX_UPLOAD_BYTES) -> list[Tick]:
    """Parse an uploaded tick file completely (size-limited); strict mode rejects the file at its first bad line."""
    _check_upload_size(data, name, max_bytes)
    return list(iter_ticks_from_file(data, name=name, symbol=symbol, strict=strict, report=report,
                                     max_bytes=MAX_UNPACKED_BYTES))


def parse_ohlcv_csv(data: bytes, strict: bool = True, *, name: str = "upload.csv",
                    report: ParseReport | None = None, max_bytes: int = MAX_UPLOAD_BYTES) -> list[OhlcvBar]:
    """Parse an OHLCV CSV (``ts,open,high,low,close,volume``; ts ISO or epoch s/ms) or a Binance kline CSV."""
    _check_upload_size(data, name, max_bytes)
    report = report if report is not None else ParseReport()
    with _open_text(data, name) as (display, lines):
        head = list(itertools.islice(lines, _DETECT_LINES))
        fmt = _detect(display, head)
        report.format = fmt.value
        if fmt not in BAR_FORMATS:
            raise TickFileError(0, f"{display} holds ticks ({fmt.value}), not bars; expected an OHLCV CSV "
                                   "(ts,open,high,low,close,volume) or a Binance kline CSV")
        row = _kline_row if fmt is FileFormat.KLINE_CSV else _OhlcvRows().parse
        return list(_parse_rows(itertools.chain(head, lines), row, strict=strict, report=report,
                                max_bytes=MAX_UNPACKED_BYTES))


def _check_upload_size(data: bytes, name: str, max_bytes: int) -> None:
    if len(data) > max_bytes:
        raise TickFileError(0, f"{name} is {len(data) / 2**20:.1f} MB; the upload limit is "
                               f"{max_bytes / 2**20:.0f} MB (MAX_UPLOAD_MB)")


@contextlib.contextmanager
def _open_text(source: TickSource, name: str | None) -> Iterator[tuple[str, Iterator[str]]]:
    """Open a path or bytes as text lines, unpacking zip (first data member) or gzip; yields (name, lines)."""
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
        yield display, iter(io.TextIOWrapper(binary, encoding="utf-8-sig", errors="replace"))


def _zip_member(archive: zipfile.ZipFile, display: str) -> zipfile.ZipInfo:
    """The data member of a zip (Binance archives hold exactly one CSV)."""
    members = [m for m in archive.infolist() if not m.is_dir() and not m.filename.startswith("__MACOSX")]
    if not members:
        raise TickFileError(0, f"{display}: the zip archive is empty")
    if len(members) > 1:
        log.warning("%s holds %d files; reading only %s", display, len(members), members[0].filename)
    return members[0]


def _parse_rows(lines: Iterable[str], row: Callable[[str], _R | None], *, strict: bool, report: ParseReport,
                max_bytes: int | None) -> Iterator[_R]:
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
    raise TickFileError(0, f"{display}: unrecognised format; expected NDJSON ticks {{symbol, ts, price, size}}, "
                           "a Binance aggTrades/trades/klines CSV, recorded frames '<receive_ns> <json>' or an "
                           "OHLCV CSV (ts,open,high,low,close,volume)")


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
        obj = _loads(text)
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
        return FileFormat.TRADES_CSV          # futures 6 columns; spot adds is_best_match
    if count in (7, 8) and _is_bool(fields[6]):
        return FileFormat.AGG_TRADES_CSV      # futures 7 columns; spot adds is_best_match
    if count in (6, 7):
        return FileFormat.OHLCV_CSV
    return None


def _classify_header(fields: list[str]) -> FileFormat | None:
    """Header rows by their column names; an ISO time in the first column means a header-less OHLCV row."""
    names = [f.lower() for f in fields]
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
        _iso_ms(text, "ts")
    except ValueError:
        return False
    return True


def _tick_row_parser(fmt: FileFormat, display: str, symbol: str | None,
                     report: ParseReport) -> Callable[[str], Tick | None]:
    """The row parser for a tick format (CSV formats need a symbol from the argument or the file name)."""
    if fmt is FileFormat.NDJSON:
        return _NdjsonRows().parse
    if fmt is FileFormat.RAW_FRAMES:
        return _FrameRows(report).parse
    csv_symbol = _csv_symbol(display, symbol)
    if fmt is FileFormat.AGG_TRADES_CSV:
        return _CsvRows(csv_symbol, _agg_trade_fields, "agg_trade_id").parse
    return _CsvRows(csv_symbol, _trade_fields, "id").parse


def _csv_symbol(display: str, symbol: str | None) -> str:
    if symbol:
        return validate_symbol(symbol)
    match = _ARCHIVE_NAME.match(display)
    if match is None:
        raise TickFileError(0, f"{display}: cannot tell the symbol; name the file like "
                               "BTCUSDT-aggTrades-2024-08-08.csv or pass the symbol")
    return validate_symbol(match.group(1))


class _NdjsonRows:
    """NDJSON ticks ``{symbol, ts, price, size[, trade_id][, is_buyer_maker]}``; id-less rows get negative ids."""

    _REQUIRED = ("symbol", "ts", "price", "size")

    def __init__(self) -> None:
        self._ids = _NegativeIds()

    def parse(self, text: str) -> Tick:
        try:
            obj = _loads(text)
        except ValueError as exc:
            raise ValueError(f"not valid JSON ({exc})") from None
        if type(obj) is not dict:
            raise ValueError("expected a JSON object {symbol, ts, price, size}")
        missing = [k for k in self._REQUIRED if k not in obj]
        if missing:
            raise ValueError(f"missing field(s) {', '.join(missing)}")
        symbol = validate_symbol(obj["symbol"])
        ts = _epoch_ms(obj["ts"], "ts")
        price = _number(obj["price"], "price")
        size = _number(obj["size"], "size")
        maker = _boolean(obj.get("is_buyer_maker", obj.get("m", False)), "is_buyer_maker")
        raw_id = obj.get("trade_id", obj.get("id"))
        trade_id = self._ids.assign(symbol, ts) if raw_id is None else _integer(raw_id, "trade_id")
        return _make_tick(symbol, trade_id, ts, price, size, maker, ts)


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
            raise ValueError(f"ts {ts} is more than 10 minutes older than an earlier {symbol} row; "
                             "files without trade ids must be in time order")
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

    def __init__(self, symbol: str, columns: Callable[[list[str]], tuple[str, str, str, str, str]],
                 id_name: str) -> None:
        self._symbol = symbol
        self._columns = columns
        self._id_name = id_name
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
        time_ms = _epoch_ms(ts, "time")
        return _make_tick(self._symbol, _integer(raw_id, self._id_name), time_ms, _number(price, "price"),
                          _number(qty, "quantity"), _boolean(maker, "is_buyer_maker"), time_ms)


class _FrameRows:
    """Recorded frames ``<receive time> <json>`` (ns, ms or s; optional ':'; the prefix itself is optional)."""

    def __init__(self, report: ParseReport) -> None:
        self._report = report

    def parse(self, text: str) -> Tick | None:
        match = _FRAME_LINE.fullmatch(text)
        if match is None:
            raise ValueError("expected '<receive time> <json frame>'")
        stamp, body = match.groups()
        received_at = _epoch_ms(stamp, "receive time") if stamp is not None else 0
        frame = decode_frame(body, received_at)
        if frame.kind is FrameKind.TICK:
            tick = frame.tick
            return tick if stamp is not None else dataclasses.replace(tick, received_at=tick.timestamp)
        if frame.kind is FrameKind.MALFORMED:
            raise ValueError(frame.detail)
        if frame.kind is FrameKind.PLACEHOLDER:
            self._report.placeholders += 1
        else:
            self._report.skipped += 1
        return None


class _OhlcvRows:
    """OHLCV rows ``ts,open,high,low,close,volume[,trades]``; a header row may name and reorder the columns and add
    a ``symbol`` column."""

    _NAMES = {"ts": _TS_NAMES, "open": ("open", "o"), "high": ("high", "h"), "low": ("low", "l"),
              "close": ("close", "c"), "volume": ("volume", "vol", "v")}

    def __init__(self) -> None:
        self._first = True
        self._positions = (0, 1, 2, 3, 4, 5)
        self._symbol_at: int | None = None

    def parse(self, text: str) -> OhlcvBar | None:
        fields = [f.strip().strip('"') for f in text.split(",")]
        if self._first:
            self._first = False
            if self._read_header(fields):
                return None
        if len(fields) < 6:
            raise ValueError(f"expected 6 columns ts,open,high,low,close,volume, found {len(fields)}")
        ts, o, h, lo, c, v = (fields[i] for i in self._positions)
        symbol = None if self._symbol_at is None else validate_symbol(fields[self._symbol_at])
        return _make_bar(_epoch_ms(ts, "ts"), o, h, lo, c, v, None, symbol)

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
        return True


def _kline_row(text: str) -> OhlcvBar | None:
    """Binance kline CSV row (12 columns; a header row is skipped)."""
    fields = [f.strip() for f in text.split(",")]
    if not _is_number(fields[0]):
        return None
    if len(fields) != 12:
        raise ValueError(f"expected 12 kline columns, found {len(fields)}")
    return _make_bar(_epoch_ms(fields[0], "open_time"), fields[1], fields[2], fields[3], fields[4], fields[5],
                     _integer(fields[8], "count"))


def _make_bar(ts: int, o: str, h: str, lo: str, c: str, v: str, trades: int | None,
              symbol: str | None = None) -> OhlcvBar:
    """Validated bar: positive prices, high >= max(open, close), low <= min(open, close), volume >= 0."""
    open_, high, low, close = (_number(o, "open"), _number(h, "high"), _number(lo, "low"), _number(c, "close"))
    volume = _number(v, "volume")
    if min(open_, high, low, close) <= 0:
        raise ValueError("prices must be positive")
    if high < max(open_, close):
        raise ValueError(f"high {h} is below max(open, close) = {max(open_, close):g}")
    if low > min(open_, close):
        raise ValueError(f"low {lo} is above min(open, close) = {min(open_, close):g}")
    if volume < 0:
        raise ValueError(f"volume {v} is negative")
    return OhlcvBar(ts, open_, high, low, close, volume, trades, symbol)


# ============================================================================================================ recorder
class FrameRecorder:
    """Thread-safe writer of raw frames as ``<receive_ns> <json>`` lines (gzip when the path ends in .gz).

    Appends (a restarted recording continues the file; gzip members concatenate). Lines are buffered and written at
    least once a second; ``close()`` flushes everything.
    """

    _FLUSH_BYTES = 256 * 1024
    _FLUSH_S = 1.0

    def __init__(self, path: str | Path) -> None:
        self.path = Path(path)
        self.frames = 0
        self._lock = threading.Lock()
        self._buffer: list[bytes] = []
        self._buffered = 0
        self._last_flush = time.monotonic()
        self._file: Any = (gzip.open(self.path, "ab", compresslevel=6) if self.path.suffix == ".gz"
                           else open(self.path, "ab"))

    def write(self, raw: bytes | str, receive_ns: int | None = None) -> None:
        """Record one frame (newlines inside it become spaces, which JSON treats alike)."""
        data = raw.encode("utf-8") if isinstance(raw, str) else bytes(raw)
        if b"\n" in data or b"\r" in data:
            data = data.replace(b"\r", b" ").replace(b"\n", b" ")
        line = b"%d %s\n" % (time.time_ns() if receive_ns is None else receive_ns, data)
        with self._lock:
            if self._file is None:
                return
            self._buffer.append(line)
            self._buffered += len(line)
            self.frames += 1
            if self._buffered >= self._FLUSH_BYTES or time.monotonic() - self._last_flush >= self._FLUSH_S:
                self._write_buffer()

    def flush(self) -> None:
        """Write buffered lines to the file."""
        with self._lock:
            if self._file is not None:
                self._write_buffer()
                self._file.flush()

    def close(self) -> None:
        """Flush and close (idempotent)."""
        with self._lock:
            if self._file is None:
                return
            self._write_buffer()
            self._file.close()
            self._file = None

    def _write_buffer(self) -> None:
        if self._buffer:
            self._file.write(b"".join(self._buffer))
            self._buffer.clear()
            self._buffered = 0
        self._last_flush = time.monotonic()

    def __enter__(self) -> FrameRecorder:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


# ================================================================================================ feed interface/base
class _RateLimitedLog:
    """Log at most one message per key per interval and report how many were suppressed."""

    def __init__(self, logger: logging.Logger, interval_s: float = 10.0) -> None:
        self._logger = logger
        self._interval = interval_s
        self._last: dict[str, tuple[float, int]] = {}

    def __call__(self, level: int, key: str, msg: str, *args: Any, **kwargs: Any) -> None:
        now = time.monotonic()
        last, suppressed = self._last.get(key, (-math.inf, 0))
        if now - last < self._interval:
            self._last[key] = (last, suppressed + 1)
            return
        if suppressed:
            msg += " (%d similar messages suppressed)"
            args = (*args, suppressed)
        self._logger.log(level, msg, *args, **kwargs)
        self._last[key] = (now, 0)


class DataFeed(abc.ABC):
    """Pluggable tick source: ``connect`` starts its own thread(s), ticks and events arrive through callbacks."""

    kind: ClassVar[FeedKind]
    #: Which trade-id sequence the ticks carry (Binance aggTrade or trade ids); None when the ids are not the
    #: exchange's (simulated ids, files without ids), so no REST repair applies.
    stream: StreamKind | None = None
    #: Where raw frames are recorded (``--record``); None when not recording.
    recorder: FrameRecorder | None = None

    def __init__(self) -> None:
        self._callback: Callable[[Tick], None] | None = None
        self._event_callback: Callable[[FeedEvent], None] | None = None
        self._lock = threading.RLock()
        self._stats = FeedStats(kind=self.kind)
        self._ratelog = _RateLimitedLog(log)

    def set_callback(self, callback: Callable[[Tick], None]) -> None:
        """Receive every tick (called on the feed's thread; must be cheap, e.g. append to a queue)."""
        self._callback = callback

    def set_event_callback(self, callback: Callable[[FeedEvent], None]) -> None:
        """Receive FeedEvents (connected, stalled, rotated, ...)."""
        self._event_callback = callback

    @abc.abstractmethod
    def connect(self, symbols: Sequence[str]) -> None:
        """Start delivering ticks for these symbols on background thread(s); returns at once."""

    @abc.abstractmethod
    def disconnect(self) -> None:
        """Stop promptly (< 1 s), join the threads; idempotent."""

    @abc.abstractmethod
    def is_connected(self) -> bool:
        """True while the feed is delivering (or able to deliver) ticks."""

    def get_stats(self) -> FeedStats:
        """A snapshot of the feed's counters and state."""
        with self._lock:
            return self._stats.copy()

    def _emit(self, kind: str, message: str, symbol: str | None = None) -> None:
        """Log an event and pass it to the event callback (its exceptions are logged, never propagated)."""
        level = logging.WARNING if kind in ("disconnected", "stalled", "subscribe_error", "error") else logging.INFO
        log.log(level, "%s feed %s%s: %s", self.kind, kind, f" [{symbol}]" if symbol else "", message)
        callback = self._event_callback
        if callback is None:
            return
        try:
            callback(FeedEvent(kind, symbol, message, _now_ms()))
        except Exception:  # noqa: BLE001 - a broken UI callback must not stop the feed
            log.exception("event callback failed")

    def _deliver(self, tick: Tick) -> None:
        """Count and hand one tick to the callback (caller holds ``self._lock``)."""
        stats = self._stats
        stats.ticks += 1
        stats.last_tick_at[tick.symbol] = tick.received_at
        callback = self._callback
        if callback is None:
            return
        try:
            callback(tick)
        except Exception:  # noqa: BLE001 - a failing consumer must not kill the socket thread
            stats.callback_errors += 1
            self._ratelog(logging.ERROR, "callback", "tick callback failed", exc_info=True)


# ======================================================================================================= Binance feed
_SUBSCRIBE_CHUNK = 200          # streams per SUBSCRIBE message
_SUBSCRIBE_SPACING_S = 0.25     # <= 4 control messages/s per connection (Binance allows 10 incl. pings/pongs)
_PLACEHOLDER_IDS_KEPT = 1000


class _Role(enum.Enum):
    ACTIVE = "active"       # delivers ticks
    STANDBY = "standby"     # replacement (stall recovery or rotation) in overlap: buffers until the switch
    RETIRED = "retired"     # replaced: its late frames are ignored


class _Link:
    """One WebSocket connection: thread, socket, role and per-symbol liveness (state owned by the supervisor)."""

    def __init__(self, feed: BinanceFuturesFeed, url: str, symbols: Sequence[str], url_symbols: int,
                 role: _Role) -> None:
        self.feed = feed
        self.url = url
        self.symbols = tuple(symbols)
        self.role = role
        self.pending: deque[list[str]] = deque(
            list(symbols[i:i + _SUBSCRIBE_CHUNK]) for i in range(url_symbols, len(symbols), _SUBSCRIBE_CHUNK))
        self._url_symbols = tuple(symbols[:url_symbols])
        self.buffer: list[Frame] = []
        self.last_seen: dict[str, float] = {}
        self.sub_started: dict[str, float] = {}
        self.failed: set[str] = set()
        self.next_sub_at = 0.0
        self.opened_at: float | None = None
        self.announced = False
        self.ended = False
        self.closing = False
        self.close_info = ""
        self.error = ""
        self.stall_note = ""
        self.app: websocket.WebSocketApp | None = None
        self.raw_sock: socket.socket | None = None
        self.thread = threading.Thread(target=self._run, name="binance-ws", daemon=True)

    def start(self) -> _Link:
        self.thread.start()
        return self

    def _run(self) -> None:
        feed = self.feed
        try:
            self.raw_sock = _open_socket(self.url, feed._connect_timeout_s)
            if self.closing:
                return
            self.app = websocket.WebSocketApp(
                self.url, on_open=self._on_open, on_message=self._on_message, on_error=self._on_error,
                on_close=self._on_close, socket=self.raw_sock)
            self.app.run_forever(ping_interval=feed._ping_interval_s,
                                 ping_timeout=min(10.0, feed._ping_interval_s / 2) if feed._ping_interval_s else None,
                                 skip_utf8_validation=feed._skip_utf8_validation)
        except Exception as exc:  # noqa: BLE001 - any connect failure ends this link; the supervisor retries
            self.error = self.error or _describe_exc(exc)
        finally:
            if self.raw_sock is not None:
                with contextlib.suppress(OSError):
                    self.raw_sock.close()
            self.ended = True
            feed._wake.set()

    def _on_open(self, _app: websocket.WebSocketApp) -> None:
        now = time.monotonic()
        for symbol in self._url_symbols:
            self.sub_started[symbol] = now
        self.opened_at = now
        self.feed._wake.set()

    def _on_message(self, _app: websocket.WebSocketApp, raw: bytes | str) -> None:
        self.feed._on_frame(self, raw)

    def _on_error(self, _app: websocket.WebSocketApp, exc: Exception) -> None:
        if not self.closing:
            self.error = _describe_exc(exc)

    def _on_close(self, _app: websocket.WebSocketApp, code: int | None, reason: str | None) -> None:
        if code is not None and not self.closing:
            self.close_info = f"server closed the connection (code {code}{': ' + reason if reason else ''})"

    def send(self, text: str) -> None:
        """Send a control message (SUBSCRIBE) from the supervisor thread."""
        if self.app is None:
            raise ConnectionError("not connected")
        self.app.send(text)

    def close(self) -> None:
        """Stop the reader now: keep_running off, polite close frame (short timeout), then shut the socket down."""
        self.closing = True
        app = self.app
        if app is not None:
            app.keep_running = False
            ws = app.sock
            if ws is not None and ws.connected and self.raw_sock is not None:
                with contextlib.suppress(Exception):
                    self.raw_sock.settimeout(0.1)
                    ws.send_close()
        if self.raw_sock is not None:
            with contextlib.suppress(OSError):
                self.raw_sock.shutdown(socket.SHUT_RDWR)

    @property
    def is_open(self) -> bool:
        return self.opened_at is not None and not self.ended and not self.closing

    def end_reason(self) -> str:
        return self.stall_note or self.close_info or self.error or "connection closed"


class _Slot:
    """A fixed group of streams (<= max per connection) served by one active link at a time."""

    def __init__(self, symbols: Sequence[str]) -> None:
        self.symbols = list(symbols)
        self.active: _Link | None = None
        self.standby: _Link | None = None
        self.attempt = 0
        self.next_attempt_at = 0.0
        self.replacing: str | None = None       # "stall" or "rotation" while a replacement link is due/opening
        self.replace_attempt = 0
        self.next_replace_at = 0.0
        self.ever_connected = False


class _AttemptLimiter:
    """Sliding-window cap on connection attempts (Binance allows 300 per 5 minutes per IP)."""

    def __init__(self, max_attempts: int, window_s: float) -> None:
        self._max = max_attempts
        self._window = window_s
        self._times: deque[float] = deque()

    def wait_s(self, now: float) -> float:
        """Seconds until another attempt is allowed (0 = now)."""
        while self._times and now - self._times[0] >= self._window:
            self._times.popleft()
        return 0.0 if len(self._times) < self._max else self._times[0] + self._window - now

    def record(self, now: float) -> None:
        self._times.append(now)


def _open_socket(url: str, timeout_s: float) -> socket.socket:
    """TCP (+TLS) connection with a timeout, so a dead host cannot pin a connection thread forever."""
    parts = urllib.parse.urlsplit(url)
    secure = parts.scheme == "wss"
    host = parts.hostname or ""
    sock = socket.create_connection((host, parts.port or (443 if secure else 80)), timeout=timeout_s)
    sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    if secure:
        sock = ssl.create_default_context().wrap_socket(sock, server_hostname=host)
    return sock


def _join(thread: threading.Thread, timeout: float) -> None:
    """Join with a timeout, tolerating a call from that very thread (e.g. disconnect() inside a callback)."""
    if thread is not threading.current_thread():
        thread.join(timeout=max(0.0, timeout))


def _describe_exc(exc: BaseException) -> str:
    text = str(exc)
    return f"{type(exc).__name__}: {text}" if text else type(exc).__name__


class BinanceFuturesFeed(DataFeed):
    """Live Binance USD-M trades over WebSocket (websocket-client), built to run 24/7 without silent holes.

    * Connects to ``{ws_base_url}/stream?streams=<sym>@<stream>/...`` (the routed ``/market`` path serves
      aggTrade since 2026-04-23; the unrouted paths acknowledge and stay silent). Up to ``url_streams_max`` streams
      go in the URL, the rest of a connection's streams (<= ``max_streams_per_connection``) are SUBSCRIBEd at
      <= 4 messages/s; more symbols use more connections.
    * Own reconnect loop: capped exponential backoff with jitter, reset after a connection delivered data for
      ``stable_after_s``; at most ``max_connect_attempts`` per ``connect_window_s`` (Binance: 300 per 5 min).
    * Liveness per stream: no message within ``stall_first_s`` of subscribing, or none for ``stall_idle_s`` on a
      stream that was flowing -> log, stats state "stalled" with the stream names, FeedEvent("stalled"), reconnect.
    * Make-before-break replacement, used both for stalls (after the backoff delay) and for the rotation before
      the 24 h server cut (after ``rotate_after_s``): a standby connection subscribes the same streams and buffers;
      after ``rotation_overlap_s`` it takes over, the old one is closed, and the buffer is merged through the
      per-symbol id de-duplication (FeedEvent("rotated") / "connected"). So one silent or illiquid stream never
      punches holes into the streams that still flow. Only a connection that actually ends is replaced after it
      is gone (FeedEvent("disconnected"), "reconnecting"). Ticks with an id <= the last id seen for the symbol
      are dropped and counted (``duplicates_dropped``); gap detection and repair are the collector's job.
    * Trade streams: zero-price placeholder rows are not ticks; their ids are counted in stats
      (``placeholders``, ``placeholder_ids``, ``last_ids``) so they are not mistaken for gaps.
    * The tick callback runs on a socket thread (or the supervisor thread while a rotation buffer is merged),
      in id order per symbol, under the feed lock: keep it cheap. ``disconnect()`` returns within about 1 s.
    """

    kind = FeedKind.BINANCE

    def __init__(self, ws_base_url: str = DEFAULT_WS_BASE, stream: str = StreamKind.AGG_TRADE, *,
                 stall_first_s: float = 10.0, stall_idle_s: float = 60.0, rotate_after_s: float = 23 * 3600,
                 rotation_overlap_s: float = 5.0, backoff_initial_s: float = 1.0, backoff_max_s: float = 30.0,
                 ping_interval_s: float = 20, recorder: FrameRecorder | None = None,
                 max_streams_per_connection: int = MAX_STREAMS_PER_CONNECTION, url_streams_max: int = 200,
                 connect_timeout_s: float = 10.0, stable_after_s: float = 10.0, skip_utf8_validation: bool = True,
                 max_connect_attempts: int = 300, connect_window_s: float = 300.0) -> None:
        super().__init__()
        if stream not in _ID_KEYS:
            raise ValueError(f"stream {stream!r} is not supported: use 'aggTrade' (default) or 'trade'")
        if not ws_base_url.startswith(("ws://", "wss://")):
            raise ValueError(f"WebSocket base URL {ws_base_url!r} must start with ws:// or wss://")
        if not 1 <= max_streams_per_connection <= MAX_STREAMS_PER_CONNECTION or url_streams_max < 1:
            raise ValueError(f"max_streams_per_connection must be 1..{MAX_STREAMS_PER_CONNECTION} and "
                             "url_streams_max >= 1")
        for name, value in (("stall_first_s", stall_first_s), ("stall_idle_s", stall_idle_s),
                            ("rotate_after_s", rotate_after_s), ("backoff_initial_s", backoff_initial_s),
                            ("backoff_max_s", backoff_max_s), ("connect_timeout_s", connect_timeout_s)):
            if not value > 0:
                raise ValueError(f"{name} must be positive, got {value!r}")
        self.ws_base_url = ws_base_url.rstrip("/")
        self.stream: StreamKind = StreamKind(stream)
        self.recorder = recorder
        self._stall_first_s = stall_first_s
        self._stall_idle_s = stall_idle_s
        self._rotate_after_s = rotate_after_s
        self._overlap_s = max(0.0, rotation_overlap_s)
        self._backoff_initial_s = backoff_initial_s
        self._backoff_max_s = backoff_max_s
        self._ping_interval_s = max(0.0, float(ping_interval_s))
        self._max_streams = max_streams_per_connection
        self._url_streams_max = url_streams_max
        self._connect_timeout_s = connect_timeout_s
        self._stable_after_s = stable_after_s
        self._skip_utf8_validation = skip_utf8_validation
        self._limiter = _AttemptLimiter(max_connect_attempts, connect_window_s)
        self._tick_s = max(0.02, min(0.1, stall_first_s / 5))
        self._rng = random.Random()
        self._stop = threading.Event()
        self._wake = threading.Event()
        self._supervisor: threading.Thread | None = None
        self._slots: list[_Slot] = []
        self._links: set[_Link] = set()
        self._requests: dict[int, tuple[_Link, list[str]]] = {}
        self._request_ids = itertools.count(1)
        self._stalled: set[str] = set()

    def stream_name(self, symbol: str) -> str:
        """Wire name of a symbol's stream, e.g. ``btcusdt@aggTrade``."""
        return f"{symbol.lower()}@{self.stream}"

    # ------------------------------------------------------------------------------------------------ public API
    def connect(self, symbols: Sequence[str]) -> None:
        """Validate symbols and start the supervisor, which opens and maintains the connections."""
        clean = _validate_symbols(symbols)
        with self._lock:
            if self._supervisor is not None:
                raise RuntimeError("feed is already connected; call disconnect() first")
            self._stop.clear()
            self._slots = [_Slot(clean[i:i + self._max_streams]) for i in range(0, len(clean), self._max_streams)]
            self._stalled.clear()
            stats = self._stats
            stats.state, stats.source = "connecting", self.ws_base_url
            stats.streams = [self.stream_name(s) for s in clean]
            stats.started_at = _now_ms()
            self._supervisor = threading.Thread(target=self._supervise, name="binance-feed-supervisor",
                                                daemon=True)
            self._supervisor.start()

    def disconnect(self) -> None:
        """Stop the supervisor and every connection (close frame + socket shutdown); returns within ~1 s."""
        with self._lock:
            supervisor, self._supervisor = self._supervisor, None
        if supervisor is None:
            return
        deadline = time.monotonic() + 1.0
        self._stop.set()
        self._wake.set()
        _join(supervisor, 0.5)
        links = list(self._links)
        for link in links:
            link.close()
        for link in links:
            _join(link.thread, deadline - time.monotonic())
        with self._lock:
            self._links.clear()
            self._slots = []
            stats = self._stats
            stats.state, stats.connected, stats.connections, stats.stalled_streams = "stopped", False, 0, []
        log.info("%s feed stopped", self.kind)

    def is_connected(self) -> bool:
        """True while at least one connection is open."""
        with self._lock:
            return self._stats.connected

    # ------------------------------------------------------------------------------------------- socket threads
    def _on_frame(self, link: _Link, raw: bytes | str) -> None:
        """Hot path, once per frame on a socket thread: record, decode, liveness, de-dup, deliver."""
        receive_ns = time.time_ns()
        recorder = self.recorder
        if recorder is not None:
            recorder.write(raw, receive_ns)
        frame = decode_frame(raw, receive_ns // 1_000_000)
        kind = frame.kind
        with self._lock:
            self._stats.frames += 1
            if kind is FrameKind.TICK or kind is FrameKind.PLACEHOLDER:
                symbol = frame.tick.symbol if kind is FrameKind.TICK else frame.symbol
                link.last_seen[symbol] = time.monotonic()
                if link.role is _Role.ACTIVE:
                    self._apply(frame)
                elif link.role is _Role.STANDBY:
                    link.buffer.append(frame)
            else:
                self._on_other_frame(link, frame, raw)

    def _apply(self, frame: Frame) -> None:
        """De-duplicate by per-symbol id and deliver a tick, or account a placeholder (lock held)."""
        stats = self._stats
        if frame.kind is FrameKind.TICK:
            tick = frame.tick
            last = stats.last_ids.get(tick.symbol)
            if last is not None and tick.trade_id <= last:
                stats.duplicates_dropped += 1
                return
            stats.last_ids[tick.symbol] = tick.trade_id
            self._deliver(tick)
            return
        symbol, trade_id = frame.symbol, frame.trade_id
        stats.placeholders += 1
        if trade_id > stats.last_ids.get(symbol, trade_id - 1):
            stats.last_ids[symbol] = trade_id
        kept = stats.placeholder_ids.setdefault(symbol, [])
        kept.append(trade_id)
        if len(kept) > 2 * _PLACEHOLDER_IDS_KEPT:
            del kept[:-_PLACEHOLDER_IDS_KEPT]

    def _on_other_frame(self, link: _Link, frame: Frame, raw: bytes | str) -> None:
        """Replies, subscribe errors, unknown events and malformed frames: count and log (lock held)."""
        stats = self._stats
        if frame.kind is FrameKind.REPLY:
            if type(frame.request_id) is int:
                self._requests.pop(frame.request_id, None)
            log.debug("reply to request %s: %r", frame.request_id, frame.result)
        elif frame.kind is FrameKind.ERROR_REPLY:
            request_id = frame.request_id
            _, streams = self._requests.pop(request_id, (None, [])) if type(request_id) is int else (None, [])
            stats.subscribe_errors += 1
            stats.last_error = f"subscribe request {frame.request_id} rejected: {frame.detail}"
            symbols = [s.split("@", 1)[0].upper() for s in streams]
            link.failed.update(symbols)
            for symbol in symbols or [None]:
                self._emit("subscribe_error", f"{stats.last_error} ({', '.join(streams) or 'unknown streams'})",
                           symbol)
        elif frame.kind is FrameKind.OTHER:
            stats.unknown_events += 1
            self._ratelog(logging.WARNING, "unknown", "unexpected event type %s: %s", frame.detail, _preview(raw))
        else:
            stats.parse_errors += 1
            stats.last_error = f"malformed frame: {frame.detail}"
            self._ratelog(logging.WARNING, "malformed", "skipped malformed frame: %s", frame.detail)

    # ------------------------------------------------------------------------------------------------ supervisor
    def _supervise(self) -> None:
        """Own loop: (re)connect with backoff, subscribe, watch liveness, rotate; wakes on link events."""
        while not self._stop.is_set():
            now = time.monotonic()
            for slot in self._slots:
                try:
                    self._service(slot, now)
                except Exception:  # noqa: BLE001 - the supervisor must survive anything and keep trying
                    self._ratelog(logging.ERROR, "supervisor", "feed supervisor error", exc_info=True)
            self._refresh_state()
            self._wake.wait(self._tick_s)
            self._wake.clear()

    def _service(self, slot: _Slot, now: float) -> None:
        self._reap_standby(slot, now)
        if slot.active is not None and slot.active.ended:
            self._on_active_ended(slot, now)
        if slot.active is None and now >= slot.next_attempt_at:
            slot.active = self._start_link(slot, _Role.ACTIVE, now)
        active = slot.active
        if active is None or not active.is_open:
            return
        self._announce(slot, active)
        self._send_pending(active, now)
        if slot.replacing is None:
            if self._check_liveness(active, now):
                self._plan_replacement(slot, active, "stall", now)
            elif now - active.opened_at >= self._rotate_after_s:
                self._plan_replacement(slot, active, "rotation", now)
        if slot.replacing is not None and slot.standby is None and now >= slot.next_replace_at:
            slot.standby = self._start_link(slot, _Role.STANDBY, now)
        standby = slot.standby
        if standby is not None and standby.is_open:
            self._send_pending(standby, now)
            if now - standby.opened_at >= self._overlap_s and not standby.pending:
                self._switch(slot)

    def _plan_replacement(self, slot: _Slot, active: _Link, reason: str, now: float) -> None:
        """Schedule a make-before-break replacement of the active link (stall recovery or 24 h rotation)."""
        slot.replacing = reason
        if reason == "rotation":
            slot.next_replace_at = now
            return
        if active.last_seen and now - active.opened_at >= self._stable_after_s:
            slot.attempt = 0
        delay = self._backoff(slot.attempt)
        slot.attempt += 1
        slot.next_replace_at = now + delay
        self._emit("reconnecting", f"opening a fresh connection in {delay:.2f} s; the current one stays "
                                   "until it is up (no gap for streams that still flow)")

    def _reap_standby(self, slot: _Slot, now: float) -> None:
        standby = slot.standby
        if standby is None or not standby.ended:
            return
        slot.standby = None
        self._links.discard(standby)
        delay = self._backoff(slot.replace_attempt)
        slot.replace_attempt += 1
        slot.next_replace_at = now + delay
        self._emit("error", f"replacement connection failed ({standby.end_reason()}); retrying in {delay:.1f} s")

    def _on_active_ended(self, slot: _Slot, now: float) -> None:
        old = slot.active
        self._links.discard(old)
        standby = slot.standby
        if standby is not None and standby.is_open:
            self._switch(slot)
            return
        slot.active = None
        slot.replacing = None
        if standby is not None:
            standby.close()
            slot.standby = None
        if old.opened_at is not None and old.last_seen and now - old.opened_at >= self._stable_after_s:
            slot.attempt = 0
        delay = self._backoff(slot.attempt)
        slot.attempt += 1
        slot.next_attempt_at = now + delay
        with self._lock:
            self._stats.reconnects += 1
            self._stats.last_error = old.end_reason()
        if old.opened_at is not None:
            self._emit("disconnected", old.end_reason())
        else:
            self._emit("error", f"cannot connect to {old.url}: {old.end_reason()}")
        self._emit("reconnecting", f"reconnecting in {delay:.2f} s (attempt {slot.attempt})")

    def _start_link(self, slot: _Slot, role: _Role, now: float) -> _Link | None:
        """Open a connection for the slot's streams unless the attempt limiter says wait."""
        wait = self._limiter.wait_s(now)
        if wait > 0:
            if role is _Role.ACTIVE:
                slot.next_attempt_at = now + wait
            else:
                slot.next_replace_at = now + wait
            self._ratelog(logging.WARNING, "limiter", "connection attempt limit reached; waiting %.0f s", wait)
            return None
        self._limiter.record(now)
        in_url = min(len(slot.symbols), self._url_streams_max)
        url = f"{self.ws_base_url}/stream?streams=" + "/".join(self.stream_name(s) for s in slot.symbols[:in_url])
        link = _Link(self, url, slot.symbols, in_url, role)
        self._links.add(link)
        return link.start()

    def _announce(self, slot: _Slot, link: _Link) -> None:
        if link.announced:
            return
        link.announced = True
        again = slot.ever_connected
        slot.ever_connected = True
        self._emit("connected", f"{'re' if again else ''}connected to {self.ws_base_url} "
                                f"({len(link.symbols)} streams)")

    def _send_pending(self, link: _Link, now: float) -> None:
        """SUBSCRIBE the streams that did not fit in the URL, one message per spacing interval."""
        if not link.pending or now < link.next_sub_at:
            return
        symbols = link.pending.popleft()
        streams = [self.stream_name(s) for s in symbols]
        request_id = next(self._request_ids)
        with self._lock:
            for stale in [rid for rid, (owner, _) in self._requests.items() if owner.ended]:
                del self._requests[stale]
            self._requests[request_id] = (link, streams)
        try:
            link.send(json.dumps({"method": "SUBSCRIBE", "params": streams, "id": request_id}))
        except Exception as exc:  # noqa: BLE001 - a failed send means a dead connection: recycle it
            link.error = f"SUBSCRIBE failed: {_describe_exc(exc)}"
            link.close()
            return
        for symbol in symbols:
            link.sub_started[symbol] = now
        link.next_sub_at = now + _SUBSCRIBE_SPACING_S

    def _check_liveness(self, link: _Link, now: float) -> bool:
        """Report stalled streams of the active link once (log, stats, events); True if any stalled."""
        first_late: list[str] = []
        idle: list[str] = []
        for symbol in link.symbols:
            started = link.sub_started.get(symbol)
            if started is None or symbol in link.failed:
                continue
            seen = link.last_seen.get(symbol)
            if seen is None:
                if now - started > self._stall_first_s:
                    first_late.append(symbol)
            elif now - seen > self._stall_idle_s:
                idle.append(symbol)
            else:
                self._stalled.discard(self.stream_name(symbol))
        if not first_late and not idle:
            return False
        notes = []
        if first_late:
            notes.append(f"no first message within {self._stall_first_s:g} s of subscribing")
        if idle:
            notes.append(f"silent for more than {self._stall_idle_s:g} s")
        names = [self.stream_name(s) for s in first_late + idle]
        link.stall_note = f"stalled: {', '.join(names)} ({'; '.join(notes)})"
        with self._lock:
            self._stalled.update(names)
            self._stats.stalls += 1
            self._stats.last_error = link.stall_note
        for symbol, name in zip(first_late + idle, names):
            self._emit("stalled", f"{name}: {'; '.join(notes)}; reconnecting", symbol)
        return True

    def _switch(self, slot: _Slot) -> None:
        """Make the standby link active: merge its buffer through the de-duplication, retire the old link."""
        old, new, reason = slot.active, slot.standby, slot.replacing or "rotation"
        with self._lock:
            before = self._stats.duplicates_dropped
            if old is not None:
                old.role = _Role.RETIRED
            new.role = _Role.ACTIVE
            for frame in new.buffer:
                self._apply(frame)
            merged = len(new.buffer)
            new.buffer.clear()
            overlap = self._stats.duplicates_dropped - before
            if reason == "rotation":
                self._stats.rotations += 1
            else:
                self._stats.reconnects += 1
        slot.active, slot.standby, slot.replacing = new, None, None
        new.announced = True
        slot.replace_attempt = 0
        if old is not None:
            self._links.discard(old)
            old.close()
        detail = f"{merged} buffered frames merged, {overlap} overlapping ticks de-duplicated"
        if reason == "rotation":
            self._emit("rotated", f"switched to a fresh connection before the 24 h cut; {detail}")
        else:
            self._emit("connected", f"reconnected to {self.ws_base_url} after a stall (make-before-break); {detail}")

    def _backoff(self, attempt: int) -> float:
        """Capped exponential backoff with equal jitter."""
        base = min(self._backoff_max_s, self._backoff_initial_s * 2 ** min(attempt, 30))
        return base * (0.5 + 0.5 * self._rng.random())

    def _refresh_state(self) -> None:
        with self._lock:
            stats = self._stats
            if self._stop.is_set():
                return
            open_links = [link for link in self._links if link.is_open]
            stats.connections = len(open_links)
            stats.connected = any(s.active is not None and s.active.is_open for s in self._slots)
            stats.stalled_streams = sorted(self._stalled)
            if self._stalled:
                stats.state = "stalled"
            elif self._slots and all(s.active is not None and s.active.is_open for s in self._slots):
                stats.state = "connected"
            elif any(s.ever_connected for s in self._slots):
                stats.state = "reconnecting"
            else:
                stats.state = "connecting"


# ==================================================================================================== simulated feed
_SIM_MARKETS: dict[str, tuple[float, float, float]] = {   # symbol: (price level, tick size, step size)
    "BTCUSDT": (75_000.0, 0.1, 0.001),
    "ETHUSDT": (3_000.0, 0.01, 0.001),
    "SOLUSDT": (150.0, 0.01, 0.01),
    "BNBUSDT": (600.0, 0.01, 0.01),
    "XRPUSDT": (0.6, 0.0001, 0.1),
    "DOGEUSDT": (0.15, 0.00001, 1.0),
    "ADAUSDT": (0.45, 0.0001, 1.0),
    "LTCUSDT": (80.0, 0.01, 0.001),
}


def _sim_market_params(symbol: str) -> tuple[float, float, float]:
    """Known level/tick/step, or a deterministic pseudo-random level (0.1..1000) for other symbols."""
    if symbol in _SIM_MARKETS:
        return _SIM_MARKETS[symbol]
    level = 10 ** random.Random(f"level:{symbol}").uniform(-1, 3)
    tick = 10.0 ** (math.floor(math.log10(level)) - 4)
    step = 0.001 if level >= 100 else 0.01 if level >= 10 else 0.1 if level >= 1 else 1.0
    return level, tick, step


def _round_to(value: float, increment: float) -> float:
    decimals = max(0, -math.floor(math.log10(increment)) + 1)
    return round(round(value / increment) * increment, decimals)


class SimulatedMarket:
    """Deterministic trade generator behind SimulatedFeed (no threads, no wall clock; usable directly in tests).

    Trades arrive as a Poisson process (``rate_per_symbol`` per simulated second per symbol). Independent symbols
    follow geometric random walks (``vol_per_sqrt_s`` log-vol per sqrt second). The pair (BTCUSDT/ETHUSDT when both
    are present, else the first two symbols) is cointegrated: ``B = alpha + beta * A + s`` where ``s`` is an
    Ornstein-Uhlenbeck spread with mean 0, half-life ``half_life_s`` and stationary std ``spread_std`` (default 0.05%
    of B's level), and ``alpha = level_B - beta * level_A``. Prices are rounded to tick size, sizes are lognormal
    multiples of the step size, trade ids are contiguous per symbol, and the same seed gives the same sequence.
    """

    def __init__(self, symbols: Sequence[str], *, seed: int = 7, rate_per_symbol: float = 20.0, beta: float = 0.04,
                 half_life_s: float = 120.0, spread_std: float | None = None, vol_per_sqrt_s: float = 1e-4,
                 start_ms: int | None = None) -> None:
        if rate_per_symbol <= 0 or half_life_s <= 0:
            raise ValueError("rate_per_symbol and half_life_s must be positive")
        self.symbols = _validate_symbols(symbols)
        self.start_ms = _now_ms() if start_ms is None else start_ms
        self.beta = beta
        self.half_life_s = half_life_s
        self._rng = random.Random(seed)
        self._rate = rate_per_symbol * len(self.symbols)
        self._vol = vol_per_sqrt_s
        self._kappa = math.log(2) / half_life_s
        self._params = {s: _sim_market_params(s) for s in self.symbols}
        self._log_price = {s: math.log(self._params[s][0]) for s in self.symbols}
        self._updated = {s: 0.0 for s in self.symbols}
        # Ids start at the start time in ms (plus a seeded offset < 1000): at fewer than 1,000 trades per simulated
        # second they never catch up with the clock, so a later session never reuses an earlier session's ids.
        self._next_id = {s: self.start_ms + random.Random(f"{seed}:{s}").randrange(1000) for s in self.symbols}
        self.pair = self._pick_pair()
        self.alpha = 0.0
        self.spread_std = 0.0
        self._spread = 0.0
        self._spread_updated = 0.0
        if self.pair is not None:
            level_a, level_b = self._params[self.pair[0]][0], self._params[self.pair[1]][0]
            self.alpha = level_b - beta * level_a
            self.spread_std = 0.0005 * level_b if spread_std is None else spread_std
        self.elapsed_s = 0.0

    def _pick_pair(self) -> tuple[str, str] | None:
        if "BTCUSDT" in self.symbols and "ETHUSDT" in self.symbols:
            return "BTCUSDT", "ETHUSDT"
        return (self.symbols[0], self.symbols[1]) if len(self.symbols) >= 2 else None

    def next_tick(self) -> Tick:
        """Advance simulated time to the next trade and return it (``received_at`` = exchange time)."""
        self.elapsed_s += self._rng.expovariate(self._rate)
        symbol = self._rng.choice(self.symbols)
        _, tick_size, step = self._params[symbol]
        price = _round_to(self._price(symbol), tick_size)
        size = max(step, _round_to(math.exp(self._rng.gauss(math.log(2000.0 / price), 1.0)), step))
        trade_id = self._next_id[symbol]
        self._next_id[symbol] = trade_id + 1
        ts = self.start_ms + int(self.elapsed_s * 1000)
        return Tick(symbol, trade_id, ts, price, size, self._rng.random() < 0.5, ts)

    def _price(self, symbol: str) -> float:
        """Current fair price: random walk, or alpha + beta*A + OU spread for the pair's second leg."""
        if self.pair is not None and symbol == self.pair[1]:
            leader = self.pair[0]
            self._advance(leader)
            self._advance_spread()
            return max(self.alpha + self.beta * math.exp(self._log_price[leader]) + self._spread,
                       self._params[symbol][1])
        self._advance(symbol)
        return math.exp(self._log_price[symbol])

    def _advance(self, symbol: str) -> None:
        dt_s = self.elapsed_s - self._updated[symbol]
        if dt_s > 0:
            self._log_price[symbol] += self._vol * math.sqrt(dt_s) * self._rng.gauss(0.0, 1.0)
            self._updated[symbol] = self.elapsed_s

    def _advance_spread(self) -> None:
        """Exact OU transition of the spread over the time since its last update."""
        dt_s = self.elapsed_s - self._spread_updated
        if dt_s > 0:
            decay = math.exp(-self._kappa * dt_s)
            noise = self.spread_std * math.sqrt(1 - decay * decay) * self._rng.gauss(0.0, 1.0)
            self._spread = self._spread * decay + noise
            self._spread_updated = self.elapsed_s


class _ProducerFeed(DataFeed):
    """Base of feeds that produce ticks on one background thread (simulated market, file replay)."""

    def __init__(self) -> None:
        super().__init__()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def connect(self, symbols: Sequence[str]) -> None:
        """Prepare (may raise for bad input) and start the producer thread."""
        with self._lock:
            if self._thread is not None:
                raise RuntimeError("feed is already connected; call disconnect() first")
            self._prepare(symbols)
            self._stop.clear()
            self._stats.state, self._stats.connected, self._stats.started_at = "connected", True, _now_ms()
            self._emit("connected", f"{self.kind.lower()} feed started ({self._stats.source})")
            self._thread = threading.Thread(target=self._run, name=f"{self.kind.lower()}-feed", daemon=True)
            self._thread.start()

    def disconnect(self) -> None:
        """Stop the producer thread (it checks the stop flag between ticks and while waiting)."""
        with self._lock:
            thread, self._thread = self._thread, None
        if thread is None:
            return
        self._stop.set()
        _join(thread, 1.0)
        with self._lock:
            if self._stats.state != "finished":
                self._stats.state = "stopped"
            self._stats.connected = False

    def is_connected(self) -> bool:
        """True while the producer runs."""
        with self._lock:
            return self._stats.connected

    def _run(self) -> None:
        try:
            self._produce()
        except Exception as exc:  # noqa: BLE001 - reported as an event; the feed stops cleanly
            log.exception("%s feed failed", self.kind)
            with self._lock:
                self._stats.last_error = _describe_exc(exc)
                self._stats.state, self._stats.connected = "failed", False
            self._emit("error", f"{self.kind.lower()} feed failed: {_describe_exc(exc)}")

    def _sleep_until(self, due: float) -> bool:
        """Wait until a monotonic deadline; False if the feed was stopped meanwhile."""
        delay = due - time.monotonic()
        if delay > 0.001:
            return not self._stop.wait(delay)
        return not self._stop.is_set()

    @abc.abstractmethod
    def _prepare(self, symbols: Sequence[str]) -> None:
        """Validate inputs and build the producer's state (lock held)."""

    @abc.abstractmethod
    def _produce(self) -> None:
        """Produce ticks until done or stopped."""


class SimulatedFeed(_ProducerFeed):
    """Offline market for demos and tests, labelled SIMULATED (see SimulatedMarket for the price model).

    Exchange time starts at ``start_ms`` (default: now) and runs ``speed`` times faster than the wall clock, so
    ``speed > 1`` compresses time for tests. ``received_at`` is the wall-clock delivery time.
    """

    kind = FeedKind.SIMULATED

    def __init__(self, *, seed: int = 7, rate_per_symbol: float = 20.0, speed: float = 1.0, beta: float = 0.04,
                 half_life_s: float = 120.0, spread_std: float | None = None, start_ms: int | None = None) -> None:
        super().__init__()
        if speed <= 0:
            raise ValueError(f"speed must be positive, got {speed!r}")
        self._options = dict(seed=seed, rate_per_symbol=rate_per_symbol, beta=beta, half_life_s=half_life_s,
                             spread_std=spread_std, start_ms=start_ms)
        self.speed = speed
        self.market: SimulatedMarket | None = None

    def _prepare(self, symbols: Sequence[str]) -> None:
        self.market = SimulatedMarket(symbols, **self._options)
        pair = self.market.pair
        self._stats.streams = list(self.market.symbols)
        self._stats.source = (f"seed {self._options['seed']}, pair {pair[1]} = {self.market.alpha:g} + "
                              f"{self.market.beta:g}*{pair[0]} + OU" if pair else f"seed {self._options['seed']}")

    def _produce(self) -> None:
        market = self.market
        started = time.monotonic()
        while True:
            tick = market.next_tick()
            if not self._sleep_until(started + market.elapsed_s / self.speed):
                return
            with self._lock:
                self._stats.frames += 1
                self._stats.last_ids[tick.symbol] = tick.trade_id
                self._deliver(dataclasses.replace(tick, received_at=_now_ms()))


# ======================================================================================================= replay feed
class ReplayFeed(_ProducerFeed):
    """Replays a tick file (any ``detect_tick_format`` format) through the shared parsers, labelled REPLAY.

    ``speed`` multiplies the recorded pace (0 = as fast as possible). Symbols are filtered by the constructor's
    ``symbols`` and by ``connect(symbols)`` (an empty list means all). With ``loop=True`` the file repeats with
    times shifted by the file's span and positive ids shifted by each symbol's id span, so every pass yields new
    trades. ``received_at`` is the wall-clock delivery time; a FeedEvent("finished") marks the end.
    """

    kind = FeedKind.REPLAY

    def __init__(self, path: str | Path, *, speed: float = 1.0, symbols: Sequence[str] | None = None,
                 loop: bool = False, symbol: str | None = None) -> None:
        super().__init__()
        self.path = Path(path)
        if not self.path.is_file():
            raise FileNotFoundError(f"replay file {self.path} does not exist")
        if speed < 0:
            raise ValueError(f"speed must be >= 0 (0 = as fast as possible), got {speed!r}")
        self.speed = speed
        self.loop = loop
        self._symbol = symbol
        self._own_filter = set(_validate_symbols(symbols)) if symbols else None
        self._filter: set[str] | None = None

    def _prepare(self, symbols: Sequence[str]) -> None:
        fmt = detect_tick_format(self.path)
        if fmt in BAR_FORMATS:
            raise TickFileError(0, f"{self.path.name} holds OHLCV bars ({fmt.value}); a replay needs ticks")
        wanted = set(_validate_symbols(symbols)) if symbols else None
        if self._own_filter is not None and wanted is not None:
            self._filter = self._own_filter & wanted
        else:
            self._filter = self._own_filter if self._own_filter is not None else wanted
        self._stats.source = f"{self.path.name} ({fmt.value}, speed {self.speed:g})"
        self._stats.streams = sorted(self._filter) if self._filter else []

    def _produce(self) -> None:
        shift = _LoopShift()
        passes = 0
        while True:
            report = ParseReport()
            completed = self._replay_pass(shift, passes, report)
            with self._lock:
                self._stats.parse_errors += report.errors
                self._stats.skipped += report.skipped
                self._stats.placeholders += report.placeholders
                if report.first_error:
                    self._stats.last_error = report.first_error
            if not completed:
                return
            passes += 1
            if not self.loop or shift.span_ms == 0:
                break
        with self._lock:
            self._stats.state, self._stats.connected = "finished", False
            ticks = self._stats.ticks
        self._emit("finished", f"replayed {ticks} ticks from {self.path.name} in {passes} pass(es)")

    def _replay_pass(self, shift: _LoopShift, pass_no: int, report: ParseReport) -> bool:
        """One pass over the file; False if stopped."""
        started = time.monotonic()
        first_ts: int | None = None
        for tick in iter_ticks_from_file(self.path, symbol=self._symbol, report=report):
            if self._filter is not None and tick.symbol not in self._filter:
                continue
            if pass_no == 0:
                shift.observe(tick)
            else:
                tick = shift.apply(tick, pass_no)
            if first_ts is None:
                first_ts = tick.timestamp
            if self.speed > 0:
                if not self._sleep_until(started + (tick.timestamp - first_ts) / 1000.0 / self.speed):
                    return False
            elif self._stop.is_set():
                return False
            with self._lock:
                self._stats.frames += 1
                self._stats.last_ids[tick.symbol] = tick.trade_id
                self._deliver(dataclasses.replace(tick, received_at=_now_ms()))
        return True


class _LoopShift:
    """Time and id offsets that make each looped replay pass continue after the previous one."""

    def __init__(self) -> None:
        self._first_ts: int | None = None
        self._last_ts = 0
        self._ids: dict[str, tuple[int, int]] = {}

    def observe(self, tick: Tick) -> None:
        if self._first_ts is None or tick.timestamp < self._first_ts:
            self._first_ts = tick.timestamp
        self._last_ts = max(self._last_ts, tick.timestamp)
        low, high = self._ids.get(tick.symbol, (tick.trade_id, tick.trade_id))
        self._ids[tick.symbol] = (min(low, tick.trade_id), max(high, tick.trade_id))

    @property
    def span_ms(self) -> int:
        return 0 if self._first_ts is None else self._last_ts - self._first_ts + 1

    def apply(self, tick: Tick, pass_no: int) -> Tick:
        shift_ms = self.span_ms * pass_no
        if tick.trade_id < 0:
            trade_id = tick.trade_id - shift_ms * 1000
        else:
            low, high = self._ids[tick.symbol]
            trade_id = tick.trade_id + (high - low + 1) * pass_no
        return dataclasses.replace(tick, trade_id=trade_id, timestamp=tick.timestamp + shift_ms)


# ======================================================================================================== REST client
class _WeightBudget:
    """Client-side request-weight budget over a sliding minute, plus server-imposed blocks (Retry-After)."""

    def __init__(self, limit: int, clock: Callable[[], float], sleep: Callable[[float], None]) -> None:
        self._limit = limit
        self._clock = clock
        self._sleep = sleep
        self._spent: deque[tuple[float, int]] = deque()
        self._blocked_until = 0.0
        self._server_used: tuple[int, int] | None = None   # (minute, weight) from X-MBX-USED-WEIGHT-1M
        self._lock = threading.Lock()

    def acquire(self, weight: int) -> float:
        """Block until ``weight`` fits the budget; returns the seconds waited."""
        waited = 0.0
        while True:
            with self._lock:
                delay = self._delay(weight)
                if delay <= 0:
                    self._spent.append((self._clock(), weight))
                    return waited
            log.info("REST weight budget: waiting %.1f s", delay)
            self._sleep(delay)
            waited += delay

    def _delay(self, weight: int) -> float:
        now = self._clock()
        while self._spent and now - self._spent[0][0] >= 60.0:
            self._spent.popleft()
        if now < self._blocked_until:
            return self._blocked_until - now
        if self._spent and sum(w for _, w in self._spent) + weight > self._limit:
            return self._spent[0][0] + 60.0 - now
        minute = int(now // 60)
        if self._server_used and self._server_used[0] == minute and self._server_used[1] + weight > self._limit:
            return (minute + 1) * 60.0 - now
        return 0.0

    def block(self, seconds: float) -> None:
        with self._lock:
            self._blocked_until = max(self._blocked_until, self._clock() + seconds)

    def server_used(self, weight: int) -> None:
        with self._lock:
            self._server_used = (int(self._clock() // 60), weight)


class BinanceRest:
    """Binance USD-M public market-data REST client (urllib; no extra dependency).

    Keeps a client-side weight budget (``max_weight_per_min``, default half of Binance's 2400) and sleeps before
    exceeding it; on HTTP 429/418 honours ``Retry-After`` (bounded by ``max_retries`` and ``max_retry_wait_s``),
    retries timeouts, connection errors and 5xx with backoff, and raises ``BinanceRestError`` with a clear message
    for everything else (Binance ``{"code","msg"}`` bodies, non-JSON bodies). Thread-safe.
    """

    available: ClassVar[bool] = True

    def __init__(self, base_url: str = DEFAULT_REST_BASE, *, timeout_s: float = 10.0, max_weight_per_min: int = 1200,
                 max_retries: int = 3, max_retry_wait_s: float = 120.0, retry_backoff_s: float = 1.0,
                 headers: dict[str, str] | None = None, clock: Callable[[], float] = time.time,
                 sleep: Callable[[float], None] = time.sleep) -> None:
        if not base_url.startswith(("http://", "https://")):
            raise ValueError(f"REST base URL {base_url!r} must start with http:// or https://")
        self.base_url = base_url.rstrip("/")
        self._timeout_s = timeout_s
        self._max_retries = max_retries
        self._max_retry_wait_s = max_retry_wait_s
        self._retry_backoff_s = retry_backoff_s
        self._headers = {"User-Agent": "binance-analytics-platform/1.0", "Accept": "application/json",
                         **(headers or {})}
        self._sleep = sleep
        self._budget = _WeightBudget(max_weight_per_min, clock, sleep)
        self._lock = threading.Lock()
        self._counts = {"requests": 0, "retries": 0, "rate_limited": 0}
        self._used_weight: int | None = None
        self._waited_s = 0.0
        self._last_error: str | None = None

    # ---------------------------------------------------------------------------------------------- endpoints
    def exchange_info(self) -> dict[str, Any]:
        """Raw ``GET /fapi/v1/exchangeInfo`` (weight 1)."""
        info = self._get("/fapi/v1/exchangeInfo", {}, weight=1)
        if type(info) is not dict or type(info.get("symbols")) is not list:
            raise BinanceRestError("exchangeInfo response has no 'symbols' list", path="/fapi/v1/exchangeInfo")
        return info

    def symbol_info(self, symbols: Sequence[str]) -> dict[str, SymbolInfo]:
        """Rules of each symbol; raises UnknownSymbolError naming every malformed, unlisted or non-TRADING one."""
        wanted, bad, details = [], [], []
        for raw in symbols:
            try:
                wanted.append(validate_symbol(raw))
            except ValueError:
                bad.append(str(raw))
                details.append(f"{raw!r} is not a valid symbol name")
        listed = symbol_infos_from_exchange_info(self.exchange_info())
        for symbol in wanted:
            info = listed.get(symbol)
            if info is None:
                bad.append(symbol)
                details.append(f"{symbol} is not listed")
            elif info.status != "TRADING":
                bad.append(symbol)
                details.append(f"{symbol} has status {info.status}")
        if bad:
            raise UnknownSymbolError(bad, details)
        return {symbol: listed[symbol] for symbol in wanted}

    def agg_trades(self, symbol: str, from_id: int | None = None, start_time: int | None = None,
                   end_time: int | None = None, limit: int = 1000) -> list[Tick]:
        """``GET /fapi/v1/aggTrades`` (weight 20) as ticks in id order; Binance serves the last 48 h only."""
        symbol = validate_symbol(symbol)
        if not 1 <= limit <= 1000:
            raise ValueError(f"limit must be 1..1000, got {limit}")
        params = _params(symbol=symbol, fromId=from_id, startTime=start_time, endTime=end_time, limit=limit)
        rows = self._get("/fapi/v1/aggTrades", params, weight=20)
        received_at = _now_ms()
        ticks = []
        for row in _rows(rows, "/fapi/v1/aggTrades"):
            try:
                frame = _trade_frame(symbol, row, "a", received_at)
            except (KeyError, TypeError, ValueError) as exc:
                raise BinanceRestError(f"bad aggTrades row {_preview(str(row))}: {_describe(exc)}",
                                       path="/fapi/v1/aggTrades") from None
            if frame.kind is FrameKind.TICK:
                ticks.append(frame.tick)
        return ticks

    def klines(self, symbol: str, interval: str = "1m", start_time: int | None = None, end_time: int | None = None,
               limit: int = 1500) -> list[KlineBar]:
        """``GET /fapi/v1/klines`` (weight 1-10 by limit); the last bar may still be open."""
        symbol = validate_symbol(symbol)
        if interval not in KLINE_INTERVALS:
            raise ValueError(f"interval {interval!r} is not one of {', '.join(KLINE_INTERVALS)}")
        if not 1 <= limit <= 1500:
            raise ValueError(f"limit must be 1..1500, got {limit}")
        weight = 1 if limit < 100 else 2 if limit < 500 else 5 if limit <= 1000 else 10
        params = _params(symbol=symbol, interval=interval, startTime=start_time, endTime=end_time, limit=limit)
        bars = []
        for row in _rows(self._get("/fapi/v1/klines", params, weight=weight), "/fapi/v1/klines"):
            try:
                bars.append(KlineBar(int(row[0]), float(row[1]), float(row[2]), float(row[3]), float(row[4]),
                                     float(row[5]), int(row[6]), float(row[7]), int(row[8])))
            except (IndexError, TypeError, ValueError) as exc:
                raise BinanceRestError(f"bad kline row {_preview(str(row))}: {exc}", path="/fapi/v1/klines") from None
        return bars

    def server_time(self) -> int:
        """``GET /fapi/v1/time`` (weight 1): Binance's clock in epoch ms."""
        reply = self._get("/fapi/v1/time", {}, weight=1)
        if type(reply) is not dict or type(reply.get("serverTime")) is not int:
            raise BinanceRestError(f"bad time response {_preview(str(reply))}", path="/fapi/v1/time")
        return reply["serverTime"]

    def get_stats(self) -> RestStats:
        """Request counters, the last used-weight header and the total time spent waiting."""
        with self._lock:
            return RestStats(self._counts["requests"], self._counts["retries"], self._counts["rate_limited"],
                             self._used_weight, round(self._waited_s, 3), self._last_error)

    # ------------------------------------------------------------------------------------------------ transport
    def _get(self, path: str, params: dict[str, Any], *, weight: int) -> Any:
        """GET with budget, retries and error mapping; returns the decoded JSON body."""
        url = f"{self.base_url}{path}" + (f"?{urllib.parse.urlencode(params)}" if params else "")
        attempt = 0
        while True:
            self._note_wait(self._budget.acquire(weight))
            status, headers, body, failure = self._fetch(url)
            if headers is not None:
                self._note_weight(headers)
            delay = self._retry_delay(path, status, headers, body, failure, attempt)
            if delay is None:
                return self._decode(path, status, body)
            attempt += 1
            with self._lock:
                self._counts["retries"] += 1
            self._sleep(delay)
            self._note_wait(delay)

    def _fetch(self, url: str) -> tuple[int | None, Any, bytes, str | None]:
        """One HTTP exchange: (status, headers, body, failure description for network errors)."""
        with self._lock:
            self._counts["requests"] += 1
        request = urllib.request.Request(url, headers=self._headers)
        try:
            with urllib.request.urlopen(request, timeout=self._timeout_s) as response:
                return response.status, response.headers, response.read(), None
        except urllib.error.HTTPError as err:
            with err:
                return err.code, err.headers, err.read(), None
        except (OSError, http.client.HTTPException) as exc:
            return None, None, b"", _network_failure(exc, self._timeout_s)

    def _retry_delay(self, path: str, status: int | None, headers: Any, body: bytes, failure: str | None,
                     attempt: int) -> float | None:
        """Seconds to wait before retrying, None if the response is final; raises when retries are exhausted."""
        if status in (429, 418):
            retry_after = _retry_after_s(headers)
            with self._lock:
                self._counts["rate_limited"] += 1
            self._budget.block(retry_after)
            if attempt >= self._max_retries or retry_after > self._max_retry_wait_s:
                raise self._error(path, status, body, f"rate limited (Retry-After {retry_after:g} s)")
            log.warning("%s: HTTP %d, honouring Retry-After %g s", path, status, retry_after)
            return 0.0
        if failure is not None or (status is not None and status >= 500):
            if attempt >= self._max_retries:
                raise self._error(path, status, body, failure or "server error")
            delay = self._retry_backoff_s * 2 ** attempt
            log.warning("%s: %s; retrying in %g s", path, failure or f"HTTP {status}", delay)
            return delay
        return None

    def _decode(self, path: str, status: int | None, body: bytes) -> Any:
        try:
            payload = _loads(body)
        except ValueError:
            payload = None
            if status is not None and status < 400:
                raise self._error(path, status, body, "response is not JSON") from None
        if status is not None and status >= 400:
            raise self._error(path, status, body, "request rejected", payload)
        return payload

    def _error(self, path: str, status: int | None, body: bytes, what: str,
               payload: Any = None) -> BinanceRestError:
        """Build (and remember) a BinanceRestError naming the path, status, Binance code/msg or a body excerpt."""
        text = body.decode("utf-8", "replace")
        if payload is None:
            with contextlib.suppress(ValueError):
                payload = _loads(body)
        code = payload.get("code") if type(payload) is dict else None
        msg = payload.get("msg") if type(payload) is dict else None
        parts = [f"GET {path}", what]
        if status is not None:
            parts.append(f"HTTP {status}")
        if code is not None or msg is not None:
            parts.append(f"Binance error {code}: {msg}")
        elif text:
            parts.append(f"body {_preview(text)}")
        error = BinanceRestError(": ".join(parts[:2]) + (f" ({'; '.join(parts[2:])})" if parts[2:] else ""),
                                 status=status, code=code if type(code) is int else None, msg=msg, path=path,
                                 body=text)
        with self._lock:
            self._last_error = str(error)
        return error

    def _note_weight(self, headers: Any) -> None:
        value = headers.get("X-MBX-USED-WEIGHT-1M")
        if value is not None and str(value).isdigit():
            with self._lock:
                self._used_weight = int(value)
            self._budget.server_used(int(value))

    def _note_wait(self, seconds: float) -> None:
        if seconds > 0:
            with self._lock:
                self._waited_s += seconds


def _network_failure(exc: BaseException, timeout_s: float) -> str:
    """Describe a urllib/socket failure (timeout or connection problem) for an error message."""
    reason = exc.reason if isinstance(exc, urllib.error.URLError) else exc
    if isinstance(reason, (TimeoutError, socket.timeout)):
        return f"timed out after {timeout_s:g} s"
    if isinstance(exc, urllib.error.URLError):
        return f"connection failed: {reason}"
    return f"connection failed: {_describe_exc(exc)}"


def _params(**values: Any) -> dict[str, Any]:
    return {key: value for key, value in values.items() if value is not None}


def _rows(payload: Any, path: str) -> list:
    if type(payload) is not list:
        raise BinanceRestError(f"GET {path}: expected a JSON list, got {_preview(str(payload))}", path=path)
    return payload


def _retry_after_s(headers: Any) -> float:
    """Seconds from a Retry-After header (default 60 s when missing or unreadable)."""
    value = headers.get("Retry-After") if headers is not None else None
    try:
        return max(0.0, float(value))
    except (TypeError, ValueError):
        return 60.0


def symbol_infos_from_exchange_info(info: dict[str, Any]) -> dict[str, SymbolInfo]:
    """SymbolInfo per symbol from an exchangeInfo document (PRICE_FILTER tickSize, LOT_SIZE stepSize)."""
    result = {}
    for entry in info.get("symbols", []):
        filters = {f.get("filterType"): f for f in entry.get("filters", []) if type(f) is dict}
        try:
            result[entry["symbol"]] = SymbolInfo(
                symbol=entry["symbol"], status=entry.get("status", "UNKNOWN"),
                tick_size=float(filters.get("PRICE_FILTER", {}).get("tickSize", "nan")),
                step_size=float(filters.get("LOT_SIZE", {}).get("stepSize", "nan")),
                contract_type=entry.get("contractType", ""))
        except (KeyError, TypeError, ValueError):
            log.warning("exchangeInfo entry without usable symbol/filters skipped: %s", _preview(str(entry)))
    return result


# ===================================================================================================== archive client
_ARCHIVE_BLOCK_BYTES = 1 << 20          # download block: the file goes to disk, never whole into memory
_CHECKSUM_MAX_BYTES = 4096              # a .CHECKSUM is one sha256sum line
_CHECKSUM_LINE = re.compile(r"([0-9a-fA-F]{64}) [ *](\S+)")


class BinanceArchive:
    """Client of Binance's public daily archive (data.binance.vision) for USD-M aggTrades; urllib, thread-safe.

    It repairs trade-id gaps older than the 48 h REST window. Each daily file (tens of MB) is streamed to a temporary
    file while its sha256 is computed, checked against the sibling ``.CHECKSUM`` and then parsed by
    ``iter_ticks_from_file``; an unverifiable file is never used. Failures raise ``ArchiveError``.
    """

    available: ClassVar[bool] = True

    def __init__(self, base_url: str = DEFAULT_ARCHIVE_BASE, *, timeout_s: float = 60.0,
                 tmp_dir: str | None = None) -> None:
        if not base_url.startswith(("http://", "https://")):
            raise ValueError(f"archive base URL {base_url!r} must start with http:// or https://")
        self.base_url = base_url.rstrip("/")
        self._timeout_s = timeout_s
        self._tmp_dir = tmp_dir
        self._headers = {"User-Agent": "binance-analytics-platform/1.0"}
        self._lock = threading.Lock()
        self._counts = {"files": 0, "bytes": 0, "ticks": 0}
        self._last_error: str | None = None

    def url(self, symbol: str, day: dt.date) -> str:
        """Address of the daily aggTrades zip of a symbol (its checksum is the same URL plus ``.CHECKSUM``)."""
        symbol = validate_symbol(symbol)
        return f"{self.base_url}/data/futures/um/daily/aggTrades/{symbol}/{symbol}-aggTrades-{day.isoformat()}.zip"

    def iter_agg_trades(self, symbol: str, day: dt.date, *, first_id: int | None = None, last_id: int | None = None,
                        chunk: int = 20_000) -> Iterator[list[Tick]]:
        """Ticks of one UTC day with ``first_id <= trade_id <= last_id``, in lists of at most ``chunk``.

        Arguments are checked at once; the download starts at the first ``next``. Nothing is yielded before the
        sha256 is verified; reading stops once an id passes ``last_id``; the temporary file is deleted when the
        iterator is exhausted, closed or fails. ``received_at`` is the exchange time.
        """
        if chunk < 1:
            raise ValueError(f"chunk must be at least 1, got {chunk}")
        return self._iter_agg_trades(validate_symbol(symbol), day, first_id, last_id, chunk)

    def get_stats(self) -> ArchiveStats:
        """Verified files and bytes downloaded, ticks handed out and the last error."""
        with self._lock:
            return ArchiveStats(self._counts["files"], self._counts["bytes"], self._counts["ticks"],
                                self._last_error)

    # ------------------------------------------------------------------------------------------------ internals
    def _iter_agg_trades(self, symbol: str, day: dt.date, first_id: int | None, last_id: int | None,
                         chunk: int) -> Iterator[list[Tick]]:
        """Fetch the checksum, download and verify the zip into a temporary file, yield its ticks, delete it."""
        url = self.url(symbol, day)
        name = url.rsplit("/", 1)[-1]
        want = self._expected_sha256(url, name)
        fd, tmp_path = tempfile.mkstemp(prefix=f"{name}.", suffix=".part", dir=self._tmp_dir)
        try:
            with os.fdopen(fd, "wb") as out:
                got = self._download(url, out)
            if got != want:
                raise self._error(f"{url}: sha256 {got} does not match .CHECKSUM {want}", url)
            with self._lock:
                self._counts["files"] += 1
            yield from self._read(url, tmp_path, name, symbol, first_id, last_id, chunk)
        finally:
            with contextlib.suppress(OSError):
                os.unlink(tmp_path)

    def _read(self, url: str, path: str, name: str, symbol: str, first_id: int | None, last_id: int | None,
              chunk: int) -> Iterator[list[Tick]]:
        """Parse the verified file and yield the id range in lists of at most ``chunk``."""
        batch: list[Tick] = []
        try:
            fmt = detect_tick_format(path, name=name)
            if fmt is not FileFormat.AGG_TRADES_CSV:
                raise self._error(f"{url}: expected an aggTrades CSV, found {fmt.value}", url)
            with contextlib.closing(iter_ticks_from_file(path, name=name, symbol=symbol, strict=True)) as ticks:
                for tick in ticks:
                    if last_id is not None and tick.trade_id > last_id:
                        break
                    if first_id is not None and tick.trade_id < first_id:
                        continue
                    batch.append(tick)
                    if len(batch) >= chunk:
                        yield self._hand_out(batch)
                        batch = []
        except TickFileError as exc:
            raise self._error(f"{url}: {exc}", url) from None
        if batch:
            yield self._hand_out(batch)

    def _hand_out(self, batch: list[Tick]) -> list[Tick]:
        with self._lock:
            self._counts["ticks"] += len(batch)
        return batch

    def _expected_sha256(self, url: str, name: str) -> str:
        """The sha256 hex from ``<url>.CHECKSUM`` (sha256sum format, naming the zip)."""
        checksum_url = f"{url}.CHECKSUM"
        with self._open(checksum_url) as response:
            try:
                body = response.read(_CHECKSUM_MAX_BYTES + 1)
            except (OSError, http.client.HTTPException) as exc:
                raise self._error(f"cannot reach {checksum_url}: {_network_failure(exc, self._timeout_s)}",
                                  checksum_url) from None
        match = _CHECKSUM_LINE.fullmatch(body.decode("utf-8", "replace").strip())
        if len(body) > _CHECKSUM_MAX_BYTES or match is None or match.group(2) != name:
            raise self._error(f"{checksum_url}: expected '<sha256 hex>  {name}', got {_preview(body)}",
                              checksum_url)
        return match.group(1).lower()

    def _download(self, url: str, out: Any) -> str:
        """Stream ``url`` into ``out`` block by block; returns the sha256 hex of what was received."""
        digest = hashlib.sha256()
        size = 0
        started = time.monotonic()
        with self._open(url) as response:
            try:
                while block := response.read(_ARCHIVE_BLOCK_BYTES):
                    digest.update(block)
                    out.write(block)
                    size += len(block)
            except (OSError, http.client.HTTPException) as exc:
                raise self._error(f"cannot reach {url}: download interrupted after {size} bytes "
                                  f"({_network_failure(exc, self._timeout_s)})", url) from None
        with self._lock:
            self._counts["bytes"] += size
        log.info("archive: downloaded %s (%.1f MB in %.1f s)", url, size / 2**20, time.monotonic() - started)
        return digest.hexdigest()

    def _open(self, url: str) -> Any:
        """The urllib response for ``url``; raises ArchiveError for HTTP errors and network failures."""
        request = urllib.request.Request(url, headers=self._headers)
        try:
            return urllib.request.urlopen(request, timeout=self._timeout_s)
        except urllib.error.HTTPError as err:
            with err:
                what = "not published (yet) or no such file" if err.code == 404 else err.reason
                raise self._error(f"{url}: HTTP {err.code} ({what})", url, err.code) from None
        except (OSError, http.client.HTTPException) as exc:
            raise self._error(f"cannot reach {url}: {_network_failure(exc, self._timeout_s)}", url) from None

    def _error(self, message: str, url: str, status: int | None = None) -> ArchiveError:
        """Build (and remember) an ArchiveError."""
        log.warning("archive: %s", message)
        with self._lock:
            self._last_error = message
        return ArchiveError(message, url=url, status=status)


# ==================================================================================================== null clients
class NoRest(BinanceRest):
    """The REST client of a feed that has none (simulated, replay): ``available`` is False and every request raises
    BinanceRestError naming why, so callers hold a client always and never check for None."""

    available: ClassVar[bool] = False

    def __init__(self, reason: str = "no REST endpoint for this feed") -> None:
        self.base_url = ""
        self.reason = reason

    def _get(self, path: str, params: dict[str, Any], *, weight: int) -> Any:
        raise BinanceRestError(self.reason, path=path)

    def get_stats(self) -> RestStats:
        return RestStats(0, 0, 0, None, 0.0, None)


class NoArchive(BinanceArchive):
    """The archive client when archive repair is off: ``available`` is False and a download raises ArchiveError."""

    available: ClassVar[bool] = False

    def __init__(self, reason: str = "archive repair is off") -> None:
        self.base_url = ""
        self.reason = reason

    def _iter_agg_trades(self, symbol: str, day: dt.date, first_id: int | None, last_id: int | None,
                         chunk: int) -> Iterator[list[Tick]]:
        raise ArchiveError(self.reason, url="")

    def get_stats(self) -> ArchiveStats:
        return ArchiveStats(0, 0, 0, None)
