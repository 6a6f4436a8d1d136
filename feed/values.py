"""Field validators shared by every parser: numbers, integers, booleans, epoch-ms timestamps (numeric,
scaled or ISO text) and the checked ``Tick`` constructor; the symbol rule itself lives in ``core.symbols``.

Also the one JSON decoder (``json_loads``: orjson when installed) and the message helpers ``preview`` /
``describe_exc``. One place so the WebSocket decoder, file readers and REST client accept and refuse exactly the
same values.
"""

from __future__ import annotations

import datetime as dt
import json
import math
from collections.abc import Callable
from typing import Any

from core.symbols import SYMBOL_PATTERN, validate_symbol
from core.vocabulary import IdSpace
from feed.records import Tick


def _json_decoder() -> Callable[[bytes | str], Any]:
    """orjson when installed (an optional speed-up); the stdlib parser gives identical results."""
    try:
        import orjson
    except ImportError:
        return json.loads
    return orjson.loads


json_loads: Callable[[bytes | str], Any] = _json_decoder()  # the one JSON decoder of every feed parser

_MIN_MS = 946_684_800_000  # 2000-01-01: anything earlier is not a trade time
_MAX_MS = 4_102_444_800_000  # 2100-01-01
_EPOCH = dt.datetime(1970, 1, 1, tzinfo=dt.UTC)
_MS = dt.timedelta(milliseconds=1)


def _plain(text: str) -> bool:
    """Numeric text as files write it: ASCII, no digit-group underscores (int() and float() take "1_000" and
    Arabic-Indic digits, which no exchange file holds)."""
    return text.isascii() and "_" not in text


def parse_number(value: Any, name: str) -> float:
    """A finite float from a JSON number or numeric text; the error names the field and the value."""
    kind = type(value)
    if kind is float or kind is int:
        number = float(value)
    elif kind is str and _plain(value):
        try:
            number = float(value)
        except ValueError:
            raise ValueError(f"{name} {value!r} is not a number") from None
    else:
        raise ValueError(f"{name} {value!r} is not a number")
    if not math.isfinite(number):
        raise ValueError(f"{name} {value!r} is not a finite number")
    return number


def parse_integer(value: Any, name: str) -> int:
    """An int from a JSON integer or integer text."""
    if type(value) is int:
        return value
    if type(value) is str and _plain(value):
        try:
            return int(value)
        except ValueError:
            pass
    raise ValueError(f"{name} {value!r} is not an integer")


def parse_boolean(value: Any, name: str) -> bool:
    """A bool from JSON true/false, 0/1 or text such as 'True'/'false'."""
    if type(value) is bool:
        return value
    text = str(value).strip().lower()
    if text in ("true", "1", "t", "yes"):
        return True
    if text in ("false", "0", "f", "no"):
        return False
    raise ValueError(f"{name} {value!r} is not true/false")


def parse_epoch_ms(value: Any, name: str = "ts") -> int:
    """Epoch ms from an ISO-8601 string or an epoch number in s, ms, us or ns (told apart by magnitude)."""
    kind = type(value)
    if kind is str:
        text = value.strip()
        if text.isdigit():
            return _scaled_ms(int(text), name, value)
        try:
            return _scaled_ms(float(text), name, value)
        except ValueError:
            return parse_iso_ms(text, name)
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


def parse_iso_ms(text: str, name: str) -> int:
    """Epoch ms from ISO-8601 text (naive times are UTC)."""
    try:
        moment = dt.datetime.fromisoformat(text)
    except ValueError:
        raise ValueError(f"{name} {text!r} is neither an ISO-8601 time nor an epoch number") from None
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=dt.UTC)
    return _check_ms((moment - _EPOCH) // _MS, name, text)


def _check_ms(ms: int, name: str, original: Any) -> int:
    if not _MIN_MS <= ms < _MAX_MS:
        raise ValueError(f"{name} {original!r} is outside 2000-2100")
    return ms


def make_tick(
    symbol: Any,
    trade_id: Any,
    timestamp: Any,
    price: float,
    size: float,
    is_buyer_maker: Any,
    received_at: int,
    space: IdSpace,
) -> Tick:
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
    return Tick(symbol, trade_id, timestamp, price, size, is_buyer_maker, received_at, space)


def preview(raw: bytes | str, limit: int = 120) -> str:
    """Short printable excerpt of a frame for log and error messages."""
    text = raw.decode("utf-8", "replace") if isinstance(raw, (bytes, bytearray, memoryview)) else str(raw)
    return repr(text if len(text) <= limit else text[:limit] + "...")


def describe_exc(exc: BaseException) -> str:
    text = str(exc)
    return f"{type(exc).__name__}: {text}" if text else type(exc).__name__


def id_space(value: object) -> IdSpace:
    """A file's id-space cell (absent or empty: an upload's own numbering), refused by name when unknown."""
    if value is None or value == "":
        return IdSpace.UPLOAD
    try:
        return IdSpace(str(value))
    except ValueError:
        raise ValueError(f"id_space {value!r} is not one of {', '.join(IdSpace)}") from None
