"""Feed layer facade: Binance USD-M trade feeds, offline feeds, wire/file parsers, REST and archive clients, recorder.

Everything that turns bytes (from Binance or from a file) into ``Tick`` records lives in the ``feed`` package, behind
ONE parsing path shared by the live WebSocket feed, the replay feed, the REST client and the dashboard's uploads.
This module only re-exports its public names, so ``from data_feed import ...`` keeps working. Where each piece lives:

* ``feed.records``: ``Tick``, ``FeedEvent``, ``FeedStats``, ``SymbolInfo``, ``KlineBar``, ``OhlcvBar``,
  ``FundingRate``, ``Quote``, ``MarkPrice``, ``QuoteBar``, ``ParseReport``, ``RestStats``, ``ArchiveStats``, the
  ``EventKind`` and ``FeedState`` StrEnums and the constants (``DEFAULT_*_BASE``, upload and stream limits,
  ``EVENT_KINDS``, ``KLINE_INTERVALS``).
* ``feed.errors``: ``TickFileError``, ``BinanceRestError``, ``ArchiveError``, ``UnknownSymbolError``.
* ``feed.values``: the field validators every parser shares; the symbol rule is ``core.symbols`` (``validate_symbol``,
  ``SYMBOL_PATTERN``, re-exported here).
* ``feed.frames``: ``decode_frame`` classifies one WebSocket text frame (combined ``{"stream","data"}`` or raw
  payload) into a ``Frame`` of ``FrameKind`` trade / placeholder / subscribe reply / error / other / malformed.
  Never raises.
* ``feed.files``: ``iter_ticks_from_file`` / ``parse_tick_file`` read NDJSON ticks, this platform's tick CSV, Binance
  archive CSVs (aggTrades / trades, with or without header, optionally zipped) and recorded frames (plain or gzip);
  ``detect_tick_format`` tells them apart (``FileFormat``); ``iter_bars_from_file`` / ``parse_ohlcv_csv`` read bar
  files. Strict mode raises ``TickFileError``.
* ``feed.recorder``: ``FrameRecorder`` writes raw frames so a live session can be replayed by ``ReplayFeed``.
* ``feed.base``: the ``DataFeed`` interface every feed implements.
* ``feed.binance_ws`` (+ ``feed.ws_link``, its connections): ``BinanceFuturesFeed`` (websocket-client; own reconnect
  loop with capped backoff + jitter, per-stream liveness watchdog, proactive rotation before the 24 h cut,
  <= 1024 streams per connection).
* ``feed.offline``: ``SimulatedMarket`` / ``SimulatedFeed`` (offline market with a cointegrated pair) and
  ``ReplayFeed`` (files).
* ``feed.rest``: ``BinanceRest`` (exchangeInfo / aggTrades / klines with a client-side weight budget and
  ``Retry-After`` handling of HTTP 429/418), ``symbol_infos_from_exchange_info``, ``NoRest``.
* ``feed.archive``: ``BinanceArchive`` (data.binance.vision daily aggTrades, sha256-verified) and ``NoArchive``.

The feed layer imports nothing from the project but ``core`` (docs/CONTRACTS.md). Times are epoch milliseconds unless
named _ns/_s. All feed modules log to the ``data_feed`` logger.
"""

from __future__ import annotations

from core.symbols import SYMBOL_PATTERN, validate_symbol
from feed.archive import BinanceArchive, NoArchive
from feed.base import DataFeed
from feed.binance_ws import BinanceFuturesFeed
from feed.errors import ArchiveError, BinanceRestError, TickFileError, UnknownSymbolError
from feed.files import (
    BAR_FORMATS,
    TICK_FORMATS,
    FileFormat,
    TickSource,
    detect_tick_format,
    iter_bars_from_file,
    iter_ticks_from_file,
    parse_ohlcv_csv,
    parse_tick_file,
)
from feed.frames import Frame, FrameKind, decode_frame
from feed.offline import ReplayFeed, SimulatedFeed, SimulatedMarket
from feed.recorder import FrameRecorder
from feed.records import (
    DEFAULT_ARCHIVE_BASE,
    DEFAULT_REST_BASE,
    DEFAULT_WS_BASE,
    EVENT_KINDS,
    KLINE_INTERVALS,
    MAX_STREAMS_PER_CONNECTION,
    MAX_UNPACKED_BYTES,
    MAX_UPLOAD_BYTES,
    ArchiveStats,
    EventKind,
    FeedEvent,
    FeedState,
    FeedStats,
    FundingRate,
    KlineBar,
    MarkPrice,
    OhlcvBar,
    ParseReport,
    Quote,
    QuoteBar,
    RestStats,
    SideStream,
    SymbolInfo,
    Tick,
)
from feed.rest import BinanceRest, NoRest, symbol_infos_from_exchange_info
from feed.universe_sim import simulate_universe

__all__ = [
    "BAR_FORMATS",
    "DEFAULT_ARCHIVE_BASE",
    "DEFAULT_REST_BASE",
    "DEFAULT_WS_BASE",
    "EVENT_KINDS",
    "KLINE_INTERVALS",
    "MAX_STREAMS_PER_CONNECTION",
    "MAX_UNPACKED_BYTES",
    "MAX_UPLOAD_BYTES",
    "SYMBOL_PATTERN",
    "TICK_FORMATS",
    "ArchiveError",
    "ArchiveStats",
    "BinanceArchive",
    "BinanceFuturesFeed",
    "BinanceRest",
    "BinanceRestError",
    "DataFeed",
    "EventKind",
    "FeedEvent",
    "FeedState",
    "FeedStats",
    "FileFormat",
    "Frame",
    "FrameKind",
    "FrameRecorder",
    "FundingRate",
    "KlineBar",
    "MarkPrice",
    "NoArchive",
    "NoRest",
    "OhlcvBar",
    "ParseReport",
    "Quote",
    "QuoteBar",
    "ReplayFeed",
    "RestStats",
    "SideStream",
    "SimulatedFeed",
    "SimulatedMarket",
    "SymbolInfo",
    "Tick",
    "TickFileError",
    "TickSource",
    "UnknownSymbolError",
    "decode_frame",
    "detect_tick_format",
    "iter_bars_from_file",
    "iter_ticks_from_file",
    "parse_ohlcv_csv",
    "parse_tick_file",
    "simulate_universe",
    "symbol_infos_from_exchange_info",
    "validate_symbol",
]
