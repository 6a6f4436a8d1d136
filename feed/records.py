"""Feed records: the value types every feed, parser and client hands out (Tick, FeedEvent, SymbolInfo,
bars, stats) and the feed-wide constants (endpoints, upload limits, stream limits, event kinds).

Plain data with no behaviour beyond copying/serialising, so every other feed module can import it.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any

from core.vocabulary import FeedKind, IdSpace

DEFAULT_WS_BASE = "wss://fstream.binance.com/market"
DEFAULT_REST_BASE = "https://fapi.binance.com"
DEFAULT_ARCHIVE_BASE = "https://data.binance.vision"
MAX_UPLOAD_BYTES = 200 * 1024 * 1024  # uploads larger than this are refused with a clear message
MAX_UNPACKED_BYTES = 2 * 1024 * 1024 * 1024  # a compressed upload may not unpack to more than this
MAX_LINE_CHARS = 1024 * 1024  # no tick, bar or recorded frame line is anywhere near this long
MAX_STREAMS_PER_CONNECTION = 1024  # Binance USD-M limit per WebSocket connection
STREAMS_PER_CONNECTION = 200  # what one connection carries: a universe of ~500 symbols is 3
KLINE_INTERVALS = ("1m", "3m", "5m", "15m", "30m", "1h", "2h", "4h", "6h", "8h", "12h", "1d", "3d", "1w", "1M")


class EventKind(StrEnum):
    """What a :class:`FeedEvent` reports."""

    CONNECTED = "connected"
    DISCONNECTED = "disconnected"
    RECONNECTING = "reconnecting"
    STALLED = "stalled"
    SUBSCRIBE_ERROR = "subscribe_error"
    ROTATED = "rotated"
    FINISHED = "finished"
    ERROR = "error"

    @property
    def is_trouble(self) -> bool:
        """Ticks may be missing or not arriving: logged as a warning, kept as the collector's last error."""
        return self in (EventKind.DISCONNECTED, EventKind.STALLED, EventKind.SUBSCRIBE_ERROR, EventKind.ERROR)


EVENT_KINDS: tuple[str, ...] = tuple(EventKind)


class SideStream(StrEnum):
    """Binance streams carrying no trades, each on its own connection: best bid/ask (the /public route) and the
    mark price with the current funding rate (the /market route)."""

    BOOK_TICKER = "bookTicker"
    MARK_PRICE = "markPrice@1s"


class FeedState(StrEnum):
    """A feed's state in its :class:`FeedStats` (``finished``: a finite feed delivered everything)."""

    IDLE = "idle"
    CONNECTING = "connecting"
    CONNECTED = "connected"
    STALLED = "stalled"
    RECONNECTING = "reconnecting"
    FINISHED = "finished"
    STOPPED = "stopped"
    FAILED = "failed"


# ============================================================================================================ records
@dataclass(frozen=True, slots=True)
class Tick:
    """One trade as stored: exchange id and time, price, size, aggressor flag, local receive time (ms) and the
    numbering its id belongs to (ids of unknown origin are an upload's)."""

    symbol: str
    trade_id: int
    timestamp: int
    price: float
    size: float
    is_buyer_maker: bool
    received_at: int
    space: IdSpace = IdSpace.UPLOAD


@dataclass(frozen=True, slots=True)
class FeedEvent:
    """A feed state change for the collector/UI."""

    kind: EventKind
    symbol: str | None
    message: str
    at_ms: int


@dataclass(slots=True)
class FeedStats:
    """Counters and state of one feed; ``get_stats()`` returns a copy, ``to_dict()`` makes it JSON-friendly.

    ``state``: a :class:`FeedState`. ``frames``: frames
    (or replayed lines) seen; ``skipped``: replayed non-trade frames; ``placeholders`` / ``placeholder_ids``: zero-price
    trade rows (their ids are consumed, not gaps); ``last_ids``: highest id per symbol, placeholders included.
    """

    kind: FeedKind
    state: FeedState = FeedState.IDLE
    connected: bool = False
    source: str = ""
    frames: int = 0
    ticks: int = 0
    side_records: int = 0  # quotes and mark-price updates delivered (SideStream feeds, the simulated market)
    parse_errors: int = 0
    unknown_events: int = 0
    skipped: int = 0
    placeholders: int = 0
    duplicates_dropped: int = 0
    quarantined: int = 0  # ticks with an implausible id jump, not delivered (core.trade_ids)
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
            self,
            streams=list(self.streams),
            stalled_streams=list(self.stalled_streams),
            last_ids=dict(self.last_ids),
            last_tick_at=dict(self.last_tick_at),
            placeholder_ids={k: list(v) for k, v in self.placeholder_ids.items()},
        )

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
    quote_asset: str = ""
    min_notional: float = 0.0  # MIN_NOTIONAL filter's `notional` (quote units); 0 when the filter is absent


@dataclass(frozen=True, slots=True)
class FundingRate:
    """One funding settlement of a USD-M perpetual: settlement time (epoch ms), the rate paid (positive: longs pay
    shorts), the mark price it was charged at (None where unknown) and the hours since the previous settlement."""

    symbol: str
    funding_time: int
    rate: float
    mark_price: float | None
    interval_hours: float


@dataclass(frozen=True, slots=True)
class Quote:
    """One best bid/ask update (``<symbol>@bookTicker``): exchange time (ms, ``T`` else ``E``), prices and sizes,
    local receive time and the book's update id."""

    symbol: str
    timestamp: int
    bid: float
    bid_size: float
    ask: float
    ask_size: float
    received_at: int
    update_id: int = 0  # the book's update id ``u`` (increasing per symbol; 0 where a source has none)


@dataclass(frozen=True, slots=True)
class MarkPrice:
    """One ``<symbol>@markPrice@1s`` update: the current (next settlement's) funding rate ``r``, the next funding
    time ``T`` and the mark price ``p`` at event time ``E`` (epoch ms)."""

    symbol: str
    timestamp: int
    mark_price: float
    rate: float
    next_funding_time: int


@dataclass(frozen=True, slots=True)
class QuoteBar:
    """One second of quotes of a symbol: the last bid/ask and sizes in it and the time-weighted half-spread
    ((ask − bid)/2, price units) over the part of the second a quote was known; ``second`` is its start (epoch ms)."""

    symbol: str
    second: int
    bid: float
    ask: float
    bid_size: float
    ask_size: float
    half_spread: float


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
