"""WebSocket frame decoding: ``decode_frame`` classifies one Binance text frame (trade, placeholder,
control reply, other event, malformed) into a ``Frame`` without ever raising.

Shared by the live feed, recorded-frame files and the replay feed, so all read frames the same way.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass
from typing import Any

from core.symbols import validate_symbol
from core.vocabulary import IdSpace
from feed.records import MarkPrice, Quote, Tick
from feed.values import json_loads, make_tick, parse_epoch_ms, parse_integer, parse_number, preview


# ===================================================================================================== frame decoding
class FrameKind(enum.Enum):
    """What a WebSocket text frame turned out to be."""

    TICK = "tick"
    PLACEHOLDER = "placeholder"  # trade row with price 0 (NA / insurance-fund): consumes an id, not a trade
    QUOTE = "quote"  # bookTicker: best bid/ask (Frame.quote)
    MARK = "mark"  # markPriceUpdate: mark price, current funding rate, next funding time (Frame.mark)
    REPLY = "reply"  # {"result": ..., "id": N}
    ERROR_REPLY = "error_reply"  # {"error": {"code", "msg"}, "id": N}
    OTHER = "other"  # valid JSON, none of the above (depth, unknown event types, ...)
    MALFORMED = "malformed"  # not JSON, truncated, or a trade with missing/bad fields


@dataclass(slots=True)
class Frame:
    """Result of ``decode_frame``: the kind plus the tick, placeholder id, reply or problem description."""

    kind: FrameKind
    tick: Tick | None = None
    quote: Quote | None = None
    mark: MarkPrice | None = None
    symbol: str | None = None
    trade_id: int | None = None
    request_id: Any = None
    result: Any = None
    detail: str = ""


ID_KEYS = {IdSpace.AGG_TRADE: "a", IdSpace.TRADE: "t"}  # a trade event's id space (= its type) -> its id field
_SPACES = {str(space): space for space in ID_KEYS}


def decode_frame(raw: bytes | str, received_at: int) -> Frame:
    """Classify one frame (combined or raw payload) and parse aggTrade/trade payloads; never raises."""
    try:
        message = json_loads(raw)
    except ValueError as exc:
        return Frame(FrameKind.MALFORMED, detail=f"not JSON ({exc}): {preview(raw)}")
    if type(message) is not dict:
        return Frame(FrameKind.MALFORMED, detail=f"not a JSON object: {preview(raw)}")
    payload = message.get("data")
    if type(payload) is not dict:
        if "error" in message or ("result" in message and "id" in message):
            return _control_frame(message)
        payload = message
    event = payload.get("e")
    space = _SPACES.get(event) if type(event) is str else None
    try:
        if space is not None:
            return trade_frame(payload["s"], payload, space, received_at)
        if event == "bookTicker":
            return Frame(FrameKind.QUOTE, quote=quote_record(payload, received_at))
        if event == "markPriceUpdate":
            return Frame(FrameKind.MARK, mark=mark_record(payload))
    except (KeyError, TypeError, ValueError) as exc:
        return Frame(FrameKind.MALFORMED, detail=f"bad {event} frame ({describe_field_error(exc)}): {preview(raw)}")
    return Frame(FrameKind.OTHER, detail=str(event) if event is not None else "no event type")


def quote_record(payload: dict, received_at: int) -> Quote:
    """A bookTicker payload (``b``/``B`` best bid and size, ``a``/``A`` best ask and size, transaction time ``T``,
    else event time ``E``, update id ``u``) as a Quote; a crossed or non-positive book is refused."""
    bid, ask = parse_number(payload["b"], "bid"), parse_number(payload["a"], "ask")
    if not 0 < bid <= ask:
        raise ValueError(f"bid {bid} and ask {ask} are not a book (0 < bid <= ask)")
    stamp = payload["T"] if "T" in payload else payload["E"]
    return Quote(
        validate_symbol(payload["s"]),
        parse_epoch_ms(stamp, "T"),
        bid,
        parse_number(payload["B"], "bid size"),
        ask,
        parse_number(payload["A"], "ask size"),
        received_at,
        parse_integer(payload.get("u", 0), "update id"),
    )


def mark_record(payload: dict) -> MarkPrice:
    """A markPriceUpdate payload (``p`` mark price, ``r`` current funding rate, ``T`` next funding time, ``E``
    event time) as a MarkPrice."""
    mark = parse_number(payload["p"], "mark price")
    if not mark > 0:
        raise ValueError(f"mark price {mark} is not positive")
    return MarkPrice(
        validate_symbol(payload["s"]),
        parse_epoch_ms(payload["E"], "E"),
        mark,
        parse_number(payload["r"], "funding rate"),
        parse_integer(payload["T"], "next funding time"),
    )


def trade_frame(symbol: Any, payload: dict, space: IdSpace, received_at: int) -> Frame:
    """Tick or placeholder from an aggTrade/trade payload (also REST aggTrades rows, which carry no 's')."""
    trade_id = payload[ID_KEYS[space]]
    price = parse_number(payload["p"], "price")
    if price == 0.0:
        if type(trade_id) is not int:
            raise ValueError(f"trade id {trade_id!r} is not an integer")
        return Frame(FrameKind.PLACEHOLDER, symbol=validate_symbol(symbol), trade_id=trade_id)
    tick = make_tick(
        symbol, trade_id, payload["T"], price, parse_number(payload["q"], "quantity"), payload["m"], received_at, space
    )
    return Frame(FrameKind.TICK, tick=tick)


def _control_frame(message: dict) -> Frame:
    """Reply to a SUBSCRIBE/UNSUBSCRIBE/LIST_SUBSCRIPTIONS request."""
    error = message.get("error")
    if error is not None:
        detail = f"code {error.get('code')}: {error.get('msg')}" if type(error) is dict else str(error)
        return Frame(FrameKind.ERROR_REPLY, request_id=message.get("id"), detail=detail)
    return Frame(FrameKind.REPLY, request_id=message.get("id"), result=message.get("result"))


def describe_field_error(exc: Exception) -> str:
    if isinstance(exc, KeyError):
        return f"missing field {exc.args[0]!r}"
    return str(exc)
