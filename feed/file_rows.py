"""Row parsers of the tick and bar file formats: one line in, a Tick or OhlcvBar out (None for a header or a blank),
a ``TickFileError``/``ValueError`` naming the problem otherwise."""

from __future__ import annotations

import csv
import dataclasses
import re
from collections.abc import Callable
from typing import ClassVar, cast

from core.symbols import validate_symbol
from core.vocabulary import IdSpace
from feed.errors import TickFileError
from feed.file_formats import FRAME_LINE, TS_NAMES, FileFormat, is_number, is_timestamp_text
from feed.frames import FrameKind, decode_frame
from feed.records import OhlcvBar, ParseReport, Tick
from feed.values import (
    id_space,
    json_loads,
    make_tick,
    parse_boolean,
    parse_epoch_ms,
    parse_integer,
    parse_number,
)

_ARCHIVE_NAME = re.compile(r"([A-Za-z0-9]{2,20})-(?:aggTrades|trades)-", re.IGNORECASE)


def tick_row_parser(
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
            if not is_number(fields[0]):
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
        match = FRAME_LINE.fullmatch(text)
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


class OhlcvRows:
    """OHLCV rows ``ts,open,high,low,close,volume``; a header row may name and reorder the columns and add ``symbol``,
    ``trades`` and ``filled`` columns (this platform's bar export: a filled bar had no trade, so it is skipped, not
    stored as a flat bar)."""

    _NAMES: ClassVar[dict[str, tuple[str, ...]]] = {
        "ts": TS_NAMES,
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
        if is_number(names[0]) or is_timestamp_text(fields[0]):
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


def kline_row(text: str) -> OhlcvBar | None:
    """Binance kline CSV row (12 columns; a header row is skipped)."""
    fields = [f.strip() for f in text.split(",")]
    if not is_number(fields[0]):
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
