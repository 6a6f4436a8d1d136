"""Fake Binance USD-M server for tests and benchmarks: the real wire protocol on 127.0.0.1 with scripted faults.

    with FakeBinance() as fb:                           # WebSocket + REST on ephemeral 127.0.0.1 ports
        feed = BinanceFuturesFeed(fb.ws_base)           # ws://127.0.0.1:P/market
        rest = BinanceRest(fb.rest_base)                # http://127.0.0.1:Q
        feed.connect(["BTCUSDT", "ETHUSDT"])
        assert fb.wait_subscribed(["BTCUSDT", "ETHUSDT"])
        fb.stream_trades(["BTCUSDT", "ETHUSDT"], count=5000, rate_per_s=2000).wait()
        expected = fb.history("BTCUSDT")                # every trade the exchange made, delivered or not

Exchange. Each symbol (``add_symbol``; BTC/ETH/SOL/BNB/XRP by default) has an aggTrade history with contiguous
aggregate ids ``a``, underlying trade ids ``f..l``, prices on the symbol's tick grid (a seeded random walk) and
quantities on its step grid. ``generate`` adds history without delivering it (trades made while nobody listened);
``stream_trades`` makes new trades at a rate (or as fast as the clients read) and pushes each, as it happens, to the
connections subscribed at that moment. Trades made while a client is disconnected, stalled or silenced stay in
``history`` (REST serves them) but are never delivered to it. ``now_ms()`` is the server clock (``clock_offset_ms``).

WebSocket protocol (websockets library, one asyncio loop in a background thread):
  * routed ``/market/stream?streams=a/b`` (combined ``{"stream","data"}`` frames) and ``/market/ws[/<stream>...]``
    (raw payloads) deliver ``<sym>@aggTrade``; ``/public/...`` delivers ``<sym>@trade`` (t = a, X = MARKET);
    every other stream, the unrouted ``/stream`` and ``/ws`` paths, and unknown symbols are ACKed and stay silent;
  * SUBSCRIBE / UNSUBSCRIBE -> ``{"result":null,"id":N}``; LIST_SUBSCRIPTIONS -> ``{"result":[...],"id":N}``;
    SET_PROPERTY / GET_PROPERTY ``combined``; bad requests -> ``{"error":{"code":2,"msg":"Invalid request: ..."},
    "id":N}``, bad JSON -> code 3, more than ``max_streams_per_connection`` -> code 4 "Too many subscriptions";
    more than ``message_rate_limit`` control messages per second -> the connection is closed (Binance: 10/s);
  * server pings every ``ping_interval_s`` and closes a connection that does not pong within ``ping_timeout_s``;
    ``max_connection_age_s`` closes connections at that age (the 24 h cut, time-compressed).

REST (ThreadingHTTPServer on a second port), with the ``X-MBX-USED-WEIGHT-1M`` header and a per-minute weight
limit (429 + Retry-After when exceeded): ``/fapi/v1/ping``, ``/fapi/v1/time``, ``/fapi/v1/exchangeInfo``
(rateLimits, symbols with status, contractType, PRICE_FILTER/LOT_SIZE filters), ``/fapi/v1/aggTrades`` (fromId |
startTime/endTime (> 1 h apart -> -1127) | most recent; limit <= 1000; only trades inside ``history_window_s``,
48 h by default), ``/fapi/v1/klines`` (built from the history; only intervals that had trades; limit <= 1500).
Bad parameters get Binance error JSON with HTTP 400 (``{"code":-1121,"msg":"Invalid symbol."}`` etc.).
The same port serves the data.binance.vision daily archive (no weight spent): ``/data/futures/um/daily/aggTrades/
<SYM>/<SYM>-aggTrades-YYYY-MM-DD.zip`` (one CSV with the header row and every trade of that UTC day, however old;
built once per symbol-day and rebuilt if the day's history grows) and ``...zip.CHECKSUM`` (the sha256sum line). Today
and future days (by ``now_ms()``), days without trades and unknown symbols are 404, as are other ``/data/`` paths.

Funding and quotes (tests/fake_funding.py renders them): ``generate_funding(symbol, ((8, n), (4, m), (1, k)))`` makes
settlements whose interval changes over time; REST ``/fapi/v1/fundingRate`` (startTime/endTime/limit <= 1000,
``fundingTime`` a few ms late as real stamps are) and ``/fapi/v1/fundingInfo`` (symbols whose interval is not 8 h)
share ``funding_request_limit`` requests per 5 minutes (429 beyond); the archive serves ``/data/futures/um/monthly/
fundingRate/<SYM>/<SYM>-fundingRate-YYYY-MM.zip`` and ``.../monthly/markPriceKlines/<SYM>/1m/<SYM>-1m-YYYY-MM.zip``
(with CHECKSUMs) for months that are over. ``stream_quotes`` pushes ``<sym>@bookTicker`` on ``/public``,
``send_mark_price`` one ``<sym>@markPrice@1s`` update on ``/market``; exchangeInfo carries MIN_NOTIONAL.

Scripted faults (thread-safe, usable mid-stream): ``drop_connections(abrupt=True)`` (TCP close, no close frame) /
``drop_connections(abrupt=False)`` (close frame), ``stall(seconds)`` (socket open, nothing sent), ``silence(symbols)``
(ACKed but silent subscriptions until ``unsilence()``), ``inject_garbage(every)`` (truncated, non-JSON, unknown-event
and bad-field frames in between real ones), ``fail_next_subscribe(...)``, ``reject_connections(n)`` (HTTP 503 at the
handshake), ``send_raw(frame)``, ``stream_trades(rate_per_s=None)`` (a burst as fast as the client reads),
``fail_rest(status=429, count=k, retry_after_s=...)`` (also 418, 5xx, non-JSON bodies, slow responses),
``max_connection_age_s``; ``archive_missing(symbol, day)`` (404 for that zip and its CHECKSUM) and
``corrupt_archive(symbol, day)`` (a valid zip that lacks the day's last trade, so its sha256 no longer matches the
CHECKSUM); ``fail_rest(path=<archive path>)`` scripts an archive file (path-less REST faults hit /fapi only);
``clear_faults()`` cancels whatever is still scripted. ``stats()`` returns the counters
(connections, frames sent, subscriptions, REST and archive requests by path, ...).

``python -m tests.fake_binance --rate 50`` runs it standalone (prints the URLs) for manual runs of the collector.
"""

from __future__ import annotations

import argparse
import asyncio
import bisect
import concurrent.futures
import contextlib
import dataclasses
import datetime as dt
import hashlib
import io
import json
import logging
import math
import random
import re
import struct
import threading
import time
import urllib.parse
import zipfile
from array import array
from collections import deque
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import fake_funding
import websockets
from fake_funding import FakeSettlement
from websockets.asyncio.server import ServerConnection, serve
from websockets.http11 import Request, Response
from websockets.protocol import State

log = logging.getLogger(__name__)

DEFAULT_SYMBOLS: dict[str, tuple[float, str, str]] = {  # symbol: (start price, tick size, step size)
    "BTCUSDT": (75_000.0, "0.10", "0.001"),
    "ETHUSDT": (3_000.0, "0.01", "0.001"),
    "SOLUSDT": (150.0, "0.0100", "1"),
    "BNBUSDT": (600.0, "0.010", "0.01"),
    "XRPUSDT": (0.6, "0.0001", "0.1"),
}
KLINE_MS = {
    "1m": 60_000,
    "3m": 180_000,
    "5m": 300_000,
    "15m": 900_000,
    "30m": 1_800_000,
    "1h": 3_600_000,
    "2h": 7_200_000,
    "4h": 14_400_000,
    "6h": 21_600_000,
    "8h": 28_800_000,
    "12h": 43_200_000,
    "1d": 86_400_000,
    "3d": 259_200_000,
    "1w": 604_800_000,
}
GARBAGE_KINDS = ("truncated", "not_json", "unknown_event", "bad_field")
_STREAM_NAME = re.compile(r"[a-z0-9]{2,30}@[A-Za-z0-9_@]+|![A-Za-z0-9_@]+")
_BATCH = 500  # trades per symbol per publishing step
_SLOW_CLIENT_TIMEOUT_S = 5.0  # a client that does not read for this long is cut off (as Binance does)
_DAY_MS = 86_400_000
_ARCHIVE_PREFIX = "/data/"
_ARCHIVE_PATH = re.compile(
    r"/data/futures/um/daily/aggTrades/([A-Z0-9]{2,20})/\1-aggTrades-"
    r"(\d{4}-\d{2}-\d{2})\.zip(\.CHECKSUM)?"
)
_KLINES_PATH = re.compile(
    r"/data/futures/um/daily/klines/([A-Z0-9]{2,20})/1m/\1-1m-"
    r"(\d{4}-\d{2}-\d{2})\.zip(\.CHECKSUM)?"
)
_MONTHLY_PATH = re.compile(
    r"/data/futures/um/monthly/(fundingRate|markPriceKlines)/([A-Z0-9]{2,20})/(?:1m/)?\2-(?:fundingRate|1m)-"
    r"(\d{4})-(\d{2})\.zip(\.CHECKSUM)?"
)
_FUNDING_PATHS = ("/fapi/v1/fundingRate", "/fapi/v1/fundingInfo")  # share one request limit per 5 minutes
_KLINES_HEADER = (
    "open_time,open,high,low,close,volume,close_time,quote_volume,count,taker_buy_volume,"
    "taker_buy_quote_volume,ignore\n"
)
_ARCHIVE_HEADER = "agg_trade_id,price,quantity,first_trade_id,last_trade_id,transact_time,is_buyer_maker\n"
_ARCHIVE_CACHE_MAX = 32  # symbol-days kept built
_NO_SUCH_KEY = (
    b'<?xml version="1.0" encoding="UTF-8"?>\n<Error><Code>NoSuchKey</Code>'
    b"<Message>The specified key does not exist.</Message></Error>"
)
_UNKNOWN_METHOD = (
    "Invalid request: unknown variant `{}`, expected one of `SUBSCRIBE`, `UNSUBSCRIBE`, "
    "`LIST_SUBSCRIPTIONS`, `SET_PROPERTY`, `GET_PROPERTY`"
)


@dataclass(frozen=True, slots=True)
class FakeTrade:
    """One aggregate trade as the fake exchange made it (price/qty as the exact strings sent on the wire)."""

    agg_id: int
    price: str
    qty: str
    first_id: int
    last_id: int
    time_ms: int
    buyer_maker: bool


@dataclass(slots=True)
class FakeStats:
    """Counters of the fake server (a snapshot)."""

    connections_accepted: int = 0
    connections_open: int = 0
    handshakes_rejected: int = 0
    frames_sent: int = 0
    garbage_sent: dict[str, int] = field(default_factory=dict)
    control_messages: int = 0
    subscriptions: int = 0
    subscribe_errors: int = 0
    closed_by_fault: int = 0
    age_cuts: int = 0
    rate_limit_closes: int = 0
    slow_client_cuts: int = 0
    rest_requests: dict[str, int] = field(default_factory=dict)
    rest_faults_served: int = 0


@dataclass(slots=True)
class _RestFault:
    status: int | None
    retry_after_s: float | None
    body: str | None
    content_type: str
    delay_s: float
    path: str | None
    remaining: int


class _ApiError(Exception):
    """A Binance-style REST error: HTTP status plus {"code","msg"}."""

    def __init__(self, code: int, msg: str, status: int = 400) -> None:
        super().__init__(msg)
        self.code, self.msg, self.status = code, msg, status


def _decimals(increment: str) -> int:
    return len(increment.split(".")[1].rstrip("0")) if "." in increment else 0


class _Book:
    """Trade history of one symbol, column-wise (arrays) so long soaks stay small; ids are contiguous."""

    def __init__(
        self, symbol: str, price: float, tick_size: str, step_size: str, status: str, contract_type: str, seed: int
    ) -> None:
        self.symbol = symbol
        self.tick_size, self.step_size = tick_size, step_size
        self.status, self.contract_type = status, contract_type
        self.price_decimals, self.qty_decimals = _decimals(tick_size), _decimals(step_size)
        self._tick, self._step = float(tick_size), float(step_size)
        self._rng = random.Random(f"{seed}:{symbol}")
        self.first_id = self._rng.randrange(10**8, 10**9)
        self.next_trade_id = self.first_id * 3
        self.price = round(price / self._tick) * self._tick
        self.times = array("q")
        self.prices = array("d")
        self.qtys = array("d")
        self.firsts = array("q")
        self.counts = bytearray()
        self.makers = bytearray()

    @property
    def next_id(self) -> int:
        return self.first_id + len(self.times)

    def make(self, n: int, start_ms: int, spacing_ms: float) -> int:
        """Append n trades from start_ms; returns the index of the first one."""
        if self.times and start_ms < self.times[-1]:
            raise ValueError(f"{self.symbol}: trades must be made in time order ({start_ms} < {self.times[-1]})")
        first = len(self.times)
        rng, tick, step = self._rng, self._tick, self._step
        for i in range(n):
            self.price = max(tick, round(self.price * math.exp(rng.gauss(0.0, 5e-5)) / tick) * tick)
            count = rng.randint(1, 3)
            self.times.append(start_ms + int(i * spacing_ms))
            self.prices.append(self.price)
            self.qtys.append(step * rng.randint(1, 2000))
            self.firsts.append(self.next_trade_id)
            self.counts.append(count)
            self.makers.append(rng.random() < 0.5)
            self.next_trade_id += count
        return first

    def trade(self, i: int) -> FakeTrade:
        first = self.firsts[i]
        return FakeTrade(
            self.first_id + i,
            f"{self.prices[i]:.{self.price_decimals}f}",
            f"{self.qtys[i]:.{self.qty_decimals}f}",
            first,
            first + self.counts[i] - 1,
            self.times[i],
            bool(self.makers[i]),
        )

    def payload(self, i: int, stream: str) -> bytes:
        """The aggTrade (or trade, t = a) payload of trade i exactly as Binance formats it."""
        t = self.times[i]
        price = f"{self.prices[i]:.{self.price_decimals}f}"
        qty = f"{self.qtys[i]:.{self.qty_decimals}f}"
        maker = "true" if self.makers[i] else "false"
        if stream == "aggTrade":
            first = self.firsts[i]
            return (
                f'{{"e":"aggTrade","E":{t},"a":{self.first_id + i},"s":"{self.symbol}","p":"{price}",'
                f'"q":"{qty}","nq":"{qty}","f":{first},"l":{first + self.counts[i] - 1},"T":{t},'
                f'"m":{maker}}}'
            ).encode()
        return (
            f'{{"e":"trade","E":{t},"T":{t},"s":"{self.symbol}","t":{self.first_id + i},"p":"{price}",'
            f'"q":"{qty}","X":"MARKET","m":{maker}}}'
        ).encode()


@dataclass(eq=False)
class _Client:
    conn: ServerConnection
    route: str  # "market", "public" or "" (unrouted)
    combined: bool
    streams: set[str]
    opened: float
    paused_until: float = 0.0
    frames: int = 0
    message_times: deque = field(default_factory=deque)
    over_rate: bool = False


class StreamJob:
    """Handle of a running ``stream_trades`` call (the trades are made on the server's loop)."""

    def __init__(self, symbols: list[str], count: int | None, rate_per_s: float | None) -> None:
        self.symbols = symbols
        self.count = count
        self.rate_per_s = rate_per_s
        self.made = 0  # trades made so far, per symbol
        self.error: BaseException | None = None
        self._cancelled = False
        self._done = threading.Event()

    def wait(self, timeout: float = 30.0) -> StreamJob:
        """Block until every trade was made and written (raises on timeout or if the job failed)."""
        if not self._done.wait(timeout):
            raise TimeoutError(f"stream job not finished after {timeout} s ({self.made} trades per symbol made)")
        if self.error is not None:
            raise RuntimeError("stream job failed") from self.error
        return self

    def stop(self) -> None:
        """Stop making trades (an endless job ends this way)."""
        self._cancelled = True

    @property
    def done(self) -> bool:
        return self._done.is_set()


def _ws_frame(payload: bytes) -> bytes:
    """An unmasked server-to-client text frame."""
    size = len(payload)
    if size < 126:
        return bytes((0x81, size)) + payload
    if size < 65536:
        return struct.pack("!BBH", 0x81, 126, size) + payload
    return struct.pack("!BBQ", 0x81, 127, size) + payload


class FakeBinance:
    """In-memory Binance USD-M exchange speaking the WebSocket and REST protocols; see the module docstring."""

    def __init__(
        self,
        *,
        symbols: Iterable[str] = tuple(DEFAULT_SYMBOLS),
        seed: int = 1,
        ping_interval_s: float | None = 180.0,
        ping_timeout_s: float | None = 600.0,
        max_connection_age_s: float | None = None,
        history_window_s: float = 48 * 3600,
        rest_weight_limit: int = 2400,
        message_rate_limit: int | None = 10,
        max_streams_per_connection: int = 1024,
    ) -> None:
        self.seed = seed
        self.ping_interval_s = ping_interval_s
        self.ping_timeout_s = ping_timeout_s
        self.max_connection_age_s = max_connection_age_s
        self.history_window_s = history_window_s
        self.rest_weight_limit = rest_weight_limit
        self.message_rate_limit = message_rate_limit
        self.max_streams_per_connection = max_streams_per_connection
        self.clock_offset_ms = 0
        self._lock = threading.Lock()  # books, counters and fault scripts (REST threads too)
        self._books: dict[str, _Book] = {}
        for symbol in symbols:
            price, tick, step = DEFAULT_SYMBOLS.get(symbol, (100.0, "0.01", "0.001"))
            self.add_symbol(symbol, price=price, tick_size=tick, step_size=step)
        self._stats = FakeStats()
        self._rest_faults: deque[_RestFault] = deque()
        self._weight_minute = -1
        self._weight_used = 0
        self._subscribe_failures: deque[tuple[int, str]] = deque()
        self._reject_handshakes: deque[int] = deque()
        self._silent: set[str] | None = set()  # None = every symbol silent
        self._garbage_every = 0
        self._garbage_turn = 0
        self._archive_faults: dict[tuple[str, dt.date], str] = {}  # (symbol, day): "missing" | "corrupt"
        self._archives: dict[tuple[str, dt.date], tuple[tuple[int, int], bytes, str]] = {}  # ((lo, hi), zip, sum)
        self._funding: dict[str, list[FakeSettlement]] = {}
        self.funding_request_limit = 500  # fundingRate + fundingInfo requests per 5 minutes (Binance's limit)
        self._funding_requests: deque[float] = deque()
        self._quotes: dict[str, list[tuple[int, int, str, str, str, str]]] = {}  # (T, u, bid, B, ask, A)
        self._clients: set[_Client] = set()  # loop thread only
        self._jobs: set[asyncio.Task] = set()
        self._background: set[asyncio.Future] = set()
        self._loop: asyncio.AbstractEventLoop | None = None
        self._stopping: asyncio.Event | None = None
        self._thread: threading.Thread | None = None
        self._http: ThreadingHTTPServer | None = None
        self._ready = threading.Event()
        self._startup_error: BaseException | None = None
        self.ws_port = 0
        self.rest_port = 0

    # ------------------------------------------------------------------------------------------------ lifecycle
    def start(self) -> FakeBinance:
        """Start the WebSocket loop thread and the REST server; returns once both listen."""
        self._thread = threading.Thread(target=self._run_loop, name="fake-binance-ws", daemon=True)
        self._thread.start()
        if not self._ready.wait(10) or self._startup_error is not None:
            raise RuntimeError("fake Binance WebSocket server did not start") from self._startup_error
        self._http = ThreadingHTTPServer(("127.0.0.1", 0), _RestHandler)
        self._http.daemon_threads = True
        self._http.fake = self  # type: ignore[attr-defined]
        self.rest_port = self._http.server_address[1]
        threading.Thread(
            target=self._http.serve_forever, kwargs={"poll_interval": 0.05}, name="fake-binance-rest", daemon=True
        ).start()
        return self

    def close(self) -> None:
        """Stop both servers and cut every connection (idempotent)."""
        if self._http is not None:
            self._http.shutdown()
            self._http.server_close()
            self._http = None
        if self._loop is not None and self._stopping is not None and self._thread is not None:
            self._loop.call_soon_threadsafe(self._stopping.set)
            self._thread.join(timeout=5)
            self._thread = None

    def __enter__(self) -> FakeBinance:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.close()

    @property
    def ws_root(self) -> str:
        """``ws://127.0.0.1:PORT`` (the unrouted paths /ws and /stream live here)."""
        return f"ws://127.0.0.1:{self.ws_port}"

    @property
    def ws_base(self) -> str:
        """The routed market-data base, ``ws://127.0.0.1:PORT/market`` (what BINANCE_WS_URL points at)."""
        return f"{self.ws_root}/market"

    @property
    def rest_base(self) -> str:
        """``http://127.0.0.1:PORT`` (what BINANCE_REST_URL points at)."""
        return f"http://127.0.0.1:{self.rest_port}"

    # ------------------------------------------------------------------------------------------------- exchange
    def now_ms(self) -> int:
        """The exchange clock: wall time plus ``clock_offset_ms``."""
        return time.time_ns() // 1_000_000 + self.clock_offset_ms

    def add_symbol(
        self,
        symbol: str,
        *,
        price: float = 100.0,
        tick_size: str = "0.01",
        step_size: str = "0.001",
        status: str = "TRADING",
        contract_type: str = "PERPETUAL",
    ) -> None:
        """List a symbol (status other than TRADING, e.g. SETTLING, lets tests exercise validation)."""
        with self._lock:
            self._books[symbol] = _Book(symbol, price, tick_size, step_size, status, contract_type, self.seed)

    def generate(self, symbol: str, n: int, *, start_ms: int | None = None, spacing_ms: float = 1.0) -> range:
        """Add n trades to the history without delivering them; returns their aggregate ids.

        By default they end now (``start_ms = now - n*spacing``) or continue after the last trade.
        """
        with self._lock:
            book = self._book(symbol)
            if start_ms is None:
                start_ms = book.times[-1] + math.ceil(spacing_ms) if book.times else self.now_ms() - int(n * spacing_ms)
            first = book.make(n, start_ms, spacing_ms)
            return range(book.first_id + first, book.first_id + first + n)

    def history(self, symbol: str) -> list[FakeTrade]:
        """Every trade of the symbol so far, in id order."""
        with self._lock:
            book = self._book(symbol)
            return [book.trade(i) for i in range(len(book.times))]

    def history_ids(self, symbol: str) -> range:
        """The aggregate ids made so far (contiguous)."""
        with self._lock:
            book = self._book(symbol)
            return range(book.first_id, book.next_id)

    def stream_trades(
        self, symbols: Iterable[str], *, count: int | None = 1000, rate_per_s: float | None = None
    ) -> StreamJob:
        """Make ``count`` trades per symbol (None = until ``job.stop()``) at ``rate_per_s`` per symbol
        (None = as fast as the subscribers read) and push each to the connections subscribed at that moment."""
        symbols = list(symbols)
        with self._lock:
            for symbol in symbols:
                self._book(symbol)
        job = StreamJob(symbols, count, rate_per_s)
        self._call(lambda: self._jobs.add(asyncio.ensure_future(self._run_job(job))))
        return job

    def generate_funding(
        self, symbol: str, schedule: Iterable[tuple[int, int]] = ((8, 90),), *, start_ms: int | None = None
    ) -> list[FakeSettlement]:
        """Make funding settlements in (interval hours, count) runs, by default ending at the last whole hour
        before now; returns them (the exchange's full funding history of the symbol)."""
        runs = list(schedule)
        with self._lock:
            book = self._book(symbol)
            if start_ms is None:
                now = self.now_ms()
                start_ms = now - now % fake_funding.HOUR_MS - sum(h * n for h, n in runs) * fake_funding.HOUR_MS
            made = fake_funding.make_settlements(symbol, self.seed, start_ms, runs, book.price, book.price_decimals)
            self._funding[symbol] = sorted(self._funding.get(symbol, []) + made, key=lambda f: f.time_ms)
            return list(self._funding[symbol])

    def funding(self, symbol: str) -> list[FakeSettlement]:
        """Every funding settlement of the symbol so far."""
        with self._lock:
            return list(self._funding.get(symbol, []))

    def stream_quotes(
        self, symbols: Iterable[str], *, count: int | None = 1000, rate_per_s: float | None = None
    ) -> StreamJob:
        """Make ``count`` best bid/ask updates per symbol (around its last trade price, one to three ticks wide) at
        ``rate_per_s`` and push each to the ``/public`` connections subscribed to its ``@bookTicker``."""
        symbols = list(symbols)
        with self._lock:
            for symbol in symbols:
                self._book(symbol)
        job = StreamJob(symbols, count, rate_per_s)
        self._call(lambda: self._jobs.add(asyncio.ensure_future(self._run_job(job, self._make_quotes))))
        return job

    def quotes(self, symbol: str) -> list[tuple[int, int, str, str, str, str]]:
        """Every quote made for the symbol: (time ms, update id, bid, bid qty, ask, ask qty)."""
        with self._lock:
            return list(self._quotes.get(symbol, []))

    def send_mark_price(self, symbol: str, mark: str, rate: str, next_funding_ms: int) -> int:
        """Push one markPriceUpdate to the ``/market`` connections subscribed to ``<symbol>@markPrice@1s``;
        returns how many got it."""
        payload = fake_funding.mark_price_update(symbol, self.now_ms(), mark, rate, next_funding_ms)
        return self._call(lambda: self._push(symbol, "markPrice@1s", "market", [payload]))

    def _book(self, symbol: str) -> _Book:
        book = self._books.get(symbol)
        if book is None:
            raise ValueError(f"fake exchange has no symbol {symbol!r}; add_symbol() it first")
        return book

    # --------------------------------------------------------------------------------------------------- faults
    def drop_connections(self, *, abrupt: bool = True, route: str | None = None) -> int:
        """Close every (or every routed) connection: abrupt = TCP close without a close frame; else close 1001."""

        def drop() -> int:
            victims = [c for c in self._clients if route is None or c.route == route]
            for client in victims:
                if abrupt:
                    client.conn.transport.abort()
                else:
                    self._spawn(client.conn.close(1001, "going away"))
            self._stats.closed_by_fault += len(victims)
            return len(victims)

        return self._call(drop)

    def stall(self, seconds: float) -> int:
        """Keep current connections open but send them nothing for ``seconds`` (trades made meanwhile are lost
        to them, kept in history)."""

        def pause() -> int:
            until = asyncio.get_running_loop().time() + seconds
            for client in self._clients:
                client.paused_until = until
            return len(self._clients)

        return self._call(pause)

    def silence(self, symbols: Iterable[str] | None = None) -> None:
        """ACK subscriptions of these symbols (None = all) but never deliver them, until ``unsilence()``."""
        with self._lock:
            self._silent = None if symbols is None else set(symbols) | (self._silent or set())

    def unsilence(self) -> None:
        """Deliver every subscribed stream again."""
        with self._lock:
            self._silent = set()

    def inject_garbage(self, every: int) -> None:
        """After every ``every``-th real frame to a client, also send a bad one (cycling GARBAGE_KINDS); 0 = off."""
        with self._lock:
            self._garbage_every = every

    def fail_next_subscribe(
        self, count: int = 1, *, code: int = 2, msg: str = "Invalid request: invalid stream"
    ) -> None:
        """Answer the next ``count`` SUBSCRIBE requests with an error reply (nothing gets subscribed)."""
        with self._lock:
            self._subscribe_failures.extend([(code, msg)] * count)

    def reject_connections(self, count: int = 1, *, status: int = 503) -> None:
        """Refuse the next ``count`` WebSocket handshakes with this HTTP status."""
        with self._lock:
            self._reject_handshakes.extend([status] * count)

    def send_raw(self, frame: str | bytes, *, route: str | None = None) -> int:
        """Send one arbitrary text frame to every (or every routed) open connection."""
        data = _ws_frame(frame.encode() if isinstance(frame, str) else frame)

        def send() -> int:
            targets = [c for c in self._clients if (route is None or c.route == route) and c.conn.state is State.OPEN]
            for client in targets:
                client.conn.transport.write(data)
            self._stats.frames_sent += len(targets)
            return len(targets)

        return self._call(send)

    def fail_rest(
        self,
        status: int | None = 429,
        *,
        count: int = 1,
        retry_after_s: float | None = 1,
        body: str | None = None,
        content_type: str = "application/json",
        delay_s: float = 0.0,
        path: str | None = None,
    ) -> None:
        """Script the next ``count`` REST requests (optionally only for ``path``; archive files need their path):
        reply ``status`` with ``body`` (Binance-style JSON by default; Retry-After on 429/418), after ``delay_s``.
        ``status=None`` only delays."""
        with self._lock:
            self._rest_faults.append(_RestFault(status, retry_after_s, body, content_type, delay_s, path, count))

    def archive_missing(self, symbol: str, day: dt.date) -> None:
        """Answer 404 for that daily archive file and its CHECKSUM (a day Binance never published)."""
        with self._lock:
            self._archive_faults[(symbol, day)] = "missing"

    def corrupt_archive(self, symbol: str, day: dt.date) -> None:
        """Serve that daily file without its last trade while the CHECKSUM stays right (a sha256 mismatch)."""
        with self._lock:
            self._archive_faults[(symbol, day)] = "corrupt"

    def clear_faults(self) -> None:
        """Cancel every scripted fault still pending (REST, archive, subscribe errors, rejections, garbage,
        silence)."""
        with self._lock:
            self._rest_faults.clear()
            self._archive_faults.clear()
            self._subscribe_failures.clear()
            self._reject_handshakes.clear()
            self._garbage_every = 0
            self._silent = set()

    # ----------------------------------------------------------------------------------------------- inspection
    def stats(self) -> FakeStats:
        """Snapshot of the counters."""

        def snapshot() -> FakeStats:
            with self._lock:
                return dataclasses.replace(
                    self._stats,
                    connections_open=len(self._clients),
                    garbage_sent=dict(self._stats.garbage_sent),
                    rest_requests=dict(self._stats.rest_requests),
                )

        return self._call(snapshot)

    def subscriptions(self) -> list[tuple[str, list[str]]]:
        """(route, sorted streams) of every open connection."""
        return self._call(lambda: [(c.route, sorted(c.streams)) for c in self._clients])

    def wait_subscribed(self, symbols: Iterable[str], *, timeout: float = 5.0, connections: int = 1) -> bool:
        """Wait until ``connections`` open connections deliver (routed, subscribed, not silenced) every symbol."""
        wanted = list(symbols)

        def ready() -> bool:
            count = sum(all(self._delivers(c, s) for s in wanted) for c in self._clients)
            return count >= connections

        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self._call(ready):
                return True
            time.sleep(0.01)
        return False

    # ------------------------------------------------------------------------------------------ loop internals
    def _call(self, fn: Callable[[], Any]) -> Any:
        """Run fn on the server loop and return its result."""
        if self._loop is None:
            raise RuntimeError("FakeBinance is not started")
        future: concurrent.futures.Future = concurrent.futures.Future()

        def run() -> None:
            try:
                future.set_result(fn())
            except BaseException as exc:
                future.set_exception(exc)

        self._loop.call_soon_threadsafe(run)
        return future.result(timeout=10)

    def _run_loop(self) -> None:
        loop = asyncio.new_event_loop()
        self._loop = loop
        try:
            loop.run_until_complete(self._serve())
        except BaseException as exc:
            self._startup_error = exc
            self._ready.set()
        finally:
            loop.close()

    async def _serve(self) -> None:
        self._stopping = asyncio.Event()
        async with serve(
            self._handler,
            "127.0.0.1",
            0,
            process_request=self._process_request,
            ping_interval=self.ping_interval_s,
            ping_timeout=self.ping_timeout_s,
            compression=None,
            close_timeout=2,
            write_limit=2**20,
            max_size=2**20,
        ) as server:
            self.ws_port = server.sockets[0].getsockname()[1]
            housekeeping = asyncio.ensure_future(self._housekeeping())
            self._ready.set()
            await self._stopping.wait()
            housekeeping.cancel()
            for task in self._jobs:
                task.cancel()
            for client in list(self._clients):
                client.conn.transport.abort()

    def _process_request(self, conn: ServerConnection, request: Request) -> Response | None:
        """Route the handshake (404 for unknown paths, scripted rejections), remember route and URL streams."""
        with self._lock:
            status = self._reject_handshakes.popleft() if self._reject_handshakes else None
        if status is not None:
            self._stats.handshakes_rejected += 1
            return conn.respond(status, "connection rejected by test script\n")
        parsed = _parse_ws_path(request.path)
        if parsed is None:
            return conn.respond(404, f"no such path {request.path}\n")
        if len(parsed[2]) > self.max_streams_per_connection:
            return conn.respond(400, "too many streams\n")
        conn.fake_route = parsed  # type: ignore[attr-defined]
        return None

    async def _handler(self, conn: ServerConnection) -> None:
        route, combined, streams = conn.fake_route  # type: ignore[attr-defined]
        client = _Client(conn, route, combined, set(streams), asyncio.get_running_loop().time())
        self._clients.add(client)
        self._stats.connections_accepted += 1
        self._stats.subscriptions += len(streams)
        try:
            async for message in conn:
                if isinstance(message, str):
                    await self._on_control(client, message)
        except websockets.ConnectionClosed:
            pass
        finally:
            self._clients.discard(client)

    async def _on_control(self, client: _Client, text: str) -> None:
        """Handle one client request per Binance's live-subscription protocol."""
        self._stats.control_messages += 1
        if self._over_message_rate(client):
            return
        try:
            message = json.loads(text)
        except ValueError as exc:
            await self._reply(client, None, error=(3, f"Invalid JSON: {exc}"))
            return
        if type(message) is not dict:
            await self._reply(client, None, error=(3, "Invalid JSON: expected an object"))
            return
        request_id = message.get("id")
        if "method" not in message:
            await self._reply(client, request_id, error=(2, "Invalid request: missing field `method`"))
        elif request_id is not None and (type(request_id) is not int or request_id < 0):
            await self._reply(client, None, error=(2, "Invalid request: request ID must be an unsigned integer"))
        else:
            await self._dispatch(client, message["method"], message.get("params"), request_id)

    async def _dispatch(self, client: _Client, method: Any, params: Any, request_id: int | None) -> None:
        if method in ("SUBSCRIBE", "UNSUBSCRIBE"):
            if (
                type(params) is not list
                or not params
                or not all(type(p) is str and _STREAM_NAME.fullmatch(p) for p in params)
            ):
                await self._reply(client, request_id, error=(2, "Invalid request: invalid stream"))
            elif method == "UNSUBSCRIBE":
                client.streams.difference_update(params)
                await self._reply(client, request_id, result=None)
            else:
                await self._subscribe(client, params, request_id)
        elif method == "LIST_SUBSCRIPTIONS":
            await self._reply(client, request_id, result=sorted(client.streams))
        elif method == "SET_PROPERTY":
            if type(params) is not list or len(params) != 2 or params[0] != "combined":
                await self._reply(client, request_id, error=(0, "Unknown property"))
            elif type(params[1]) is not bool:
                await self._reply(client, request_id, error=(1, "Invalid value type: expected Boolean"))
            else:
                client.combined = params[1]
                await self._reply(client, request_id, result=None)
        elif method == "GET_PROPERTY":
            if params != ["combined"]:
                await self._reply(client, request_id, error=(0, "Unknown property"))
            else:
                await self._reply(client, request_id, result=client.combined)
        else:
            await self._reply(client, request_id, error=(2, _UNKNOWN_METHOD.format(method)))

    async def _subscribe(self, client: _Client, streams: list[str], request_id: int | None) -> None:
        with self._lock:
            failure = self._subscribe_failures.popleft() if self._subscribe_failures else None
        if failure is not None:
            self._stats.subscribe_errors += 1
            await self._reply(client, request_id, error=failure)
        elif len(client.streams | set(streams)) > self.max_streams_per_connection:
            self._stats.subscribe_errors += 1
            await self._reply(client, request_id, error=(4, "Too many subscriptions"))
        else:
            client.streams.update(streams)
            self._stats.subscriptions += len(streams)
            await self._reply(client, request_id, result=None)

    def _over_message_rate(self, client: _Client) -> bool:
        """Binance closes a connection that sends more than 10 messages per second."""
        if client.over_rate:
            return True
        if not self.message_rate_limit:
            return False
        now = time.monotonic()
        times = client.message_times
        times.append(now)
        while times and now - times[0] > 1.0:
            times.popleft()
        if len(times) <= self.message_rate_limit:
            return False
        client.over_rate = True
        self._stats.rate_limit_closes += 1
        self._spawn(client.conn.close(1008, "Too many requests"))
        return True

    async def _reply(
        self, client: _Client, request_id: int | None, *, result: Any = None, error: tuple[int, str] | None = None
    ) -> None:
        reply = (
            {"error": {"code": error[0], "msg": error[1]}, "id": request_id}
            if error is not None
            else {"result": result, "id": request_id}
        )
        with contextlib.suppress(websockets.ConnectionClosed):
            await client.conn.send(json.dumps(reply, separators=(",", ":")))

    def _spawn(self, coro: Any) -> None:
        """Run a coroutine in the background, keeping a reference until it is done (the loop holds tasks weakly)."""
        task = asyncio.ensure_future(coro)
        self._background.add(task)
        task.add_done_callback(self._background.discard)

    async def _housekeeping(self) -> None:
        """Connection-age cuts (the time-compressed 24 h limit)."""
        loop = asyncio.get_running_loop()
        while True:
            await asyncio.sleep(0.02)
            max_age = self.max_connection_age_s
            if not max_age:
                continue
            for client in list(self._clients):
                if loop.time() - client.opened >= max_age and client.conn.state is State.OPEN:
                    self._stats.age_cuts += 1
                    self._spawn(client.conn.close(1000, "connection age limit"))

    # ---------------------------------------------------------------------------------------------- publishing
    async def _run_job(self, job: StreamJob, make: Callable[[list[str], int], None] | None = None) -> None:
        loop = asyncio.get_running_loop()
        started = loop.time()
        try:
            while not job._cancelled and (job.count is None or job.made < job.count):
                n = _BATCH if job.count is None else min(_BATCH, job.count - job.made)
                if job.rate_per_s:
                    due = int((loop.time() - started) * job.rate_per_s) + 1
                    n = min(n, due - job.made)
                    if n <= 0:
                        await asyncio.sleep(min(0.005, 1.0 / job.rate_per_s))
                        continue
                (make or self._make_and_publish)(job.symbols, n)
                job.made += n
                await self._drain()
        except Exception as exc:
            log.exception("stream job failed")
            job.error = exc
        finally:
            job._done.set()

    def _make_and_publish(self, symbols: list[str], n: int) -> None:
        now = self.now_ms()
        for symbol in symbols:
            with self._lock:
                book = self._books[symbol]
                first = book.make(n, max(now, book.times[-1] if book.times else now), 0)
            self._publish(book, first, first + n)

    def _make_quotes(self, symbols: list[str], n: int) -> None:
        """Make n quotes per symbol now and push them (one write per subscribed client)."""
        now = self.now_ms()
        for symbol in symbols:
            with self._lock:
                book = self._books[symbol]
                made = self._quotes.setdefault(symbol, [])
                payloads = []
                for _ in range(n):
                    bid = book.price - book._tick * book._rng.randint(0, 2)
                    ask = bid + book._tick * book._rng.randint(1, 3)
                    quote = (
                        max(now, made[-1][0]) if made else now,
                        made[-1][1] + book._rng.randint(1, 5) if made else book.first_id,
                        f"{bid:.{book.price_decimals}f}",
                        f"{book._step * book._rng.randint(1, 500):.{book.qty_decimals}f}",
                        f"{ask:.{book.price_decimals}f}",
                        f"{book._step * book._rng.randint(1, 500):.{book.qty_decimals}f}",
                    )
                    made.append(quote)
                    payloads.append(fake_funding.book_ticker(symbol, quote[1], quote[0], *quote[2:]))
            self._push(symbol, "bookTicker", "public", payloads)

    def _push(self, symbol: str, stream: str, route: str, payloads: list[bytes]) -> int:
        """Write side-stream payloads (quotes, mark prices) to every open, unpaused client of `route` subscribed to
        ``<symbol>@<stream>`` (loop thread); returns how many clients got them."""
        name = f"{symbol.lower()}@{stream}"
        now = asyncio.get_running_loop().time()
        with self._lock:
            silent = self._silent
        if silent is None or symbol in silent:
            return 0
        targets = [
            c
            for c in self._clients
            if c.route == route and name in c.streams and c.conn.state is State.OPEN and c.paused_until <= now
        ]
        for client in targets:
            if client.combined:
                frames = [_ws_frame(f'{{"stream":"{name}","data":'.encode() + p + b"}") for p in payloads]
            else:
                frames = [_ws_frame(p) for p in payloads]
            client.conn.transport.write(b"".join(frames))
            client.frames += len(frames)
            self._stats.frames_sent += len(frames)
        return len(targets)

    def _publish(self, book: _Book, lo: int, hi: int) -> None:
        """Write trades lo..hi-1 to every client that should get them (one transport write per client)."""
        targets = [c for c in self._clients if self._delivers(c, book.symbol)]
        if not targets:
            return
        cache: dict[tuple[str, bool], list[bytes]] = {}
        with self._lock:
            every = self._garbage_every
        for client in targets:
            stream = "aggTrade" if client.route == "market" else "trade"
            key = (stream, client.combined)
            frames = cache.get(key)
            if frames is None:
                frames = cache[key] = self._frames(book, lo, hi, stream, client.combined)
            if every:
                chunk = self._with_garbage(client, frames, every, book.symbol)
            else:
                chunk = b"".join(frames)
                client.frames += len(frames)
            client.conn.transport.write(chunk)
            self._stats.frames_sent += len(frames)

    @staticmethod
    def _frames(book: _Book, lo: int, hi: int, stream: str, combined: bool) -> list[bytes]:
        if not combined:
            return [_ws_frame(book.payload(i, stream)) for i in range(lo, hi)]
        prefix = f'{{"stream":"{book.symbol.lower()}@{stream}","data":'.encode()
        return [_ws_frame(prefix + book.payload(i, stream) + b"}") for i in range(lo, hi)]

    def _with_garbage(self, client: _Client, frames: list[bytes], every: int, symbol: str) -> bytes:
        parts = []
        for frame in frames:
            parts.append(frame)
            client.frames += 1
            if client.frames % every == 0:
                kind = GARBAGE_KINDS[self._garbage_turn % len(GARBAGE_KINDS)]
                self._garbage_turn += 1
                parts.append(_ws_frame(_garbage(kind, frame, symbol)))
                self._stats.garbage_sent[kind] = self._stats.garbage_sent.get(kind, 0) + 1
                self._stats.frames_sent += 1
        return b"".join(parts)

    def _delivers(self, client: _Client, symbol: str) -> bool:
        """Would a trade of this symbol reach this client right now?"""
        if client.conn.state is not State.OPEN or client.paused_until > asyncio.get_running_loop().time():
            return False
        silent = self._silent
        if silent is None or symbol in silent:
            return False
        if client.route == "market":
            return f"{symbol.lower()}@aggTrade" in client.streams
        return client.route == "public" and f"{symbol.lower()}@trade" in client.streams

    async def _drain(self) -> None:
        """Wait for slow readers (flow control); a client stuck longer than the limit is cut off."""
        for client in list(self._clients):
            try:
                await asyncio.wait_for(client.conn.drain(), _SLOW_CLIENT_TIMEOUT_S)
            except TimeoutError:
                self._stats.slow_client_cuts += 1
                client.conn.transport.abort()
            except (ConnectionError, RuntimeError):
                pass
        await asyncio.sleep(0)

    # ---------------------------------------------------------------------------------------------------- REST
    def _handle_rest(self, handler: BaseHTTPRequestHandler) -> None:
        url = urllib.parse.urlsplit(handler.path)
        params = {k: v[-1] for k, v in urllib.parse.parse_qs(url.query, keep_blank_values=True).items()}
        with self._lock:
            self._stats.rest_requests[url.path] = self._stats.rest_requests.get(url.path, 0) + 1
            fault = self._take_rest_fault(url.path)
        if fault is not None and self._serve_fault(handler, fault):
            return
        if url.path.startswith(_ARCHIVE_PREFIX):
            self._serve_archive(handler, url.path)
            return
        endpoint = _REST_ENDPOINTS.get(url.path)
        weight = endpoint[1](params) if endpoint else 1
        used, retry_after = self._spend_weight(weight)
        if retry_after is None and url.path in _FUNDING_PATHS:
            retry_after = self._spend_funding_request()
        if retry_after is not None:
            _send_json(
                handler,
                429,
                {
                    "code": -1003,
                    "msg": "Too many requests; current limit of IP(127.0.0.1) is "
                    f"{self.rest_weight_limit} requests per minute.",
                },
                {"Retry-After": str(retry_after), "X-MBX-USED-WEIGHT-1M": str(used)},
            )
            return
        try:
            if endpoint is None:
                raise _ApiError(-5000, f"Path {url.path}, Method GET is invalid", status=404)
            body = endpoint[0](self, params)
        except _ApiError as err:
            _send_json(handler, err.status, {"code": err.code, "msg": err.msg}, {"X-MBX-USED-WEIGHT-1M": str(used)})
            return
        _send_json(handler, 200, body, {"X-MBX-USED-WEIGHT-1M": str(used)})

    def _take_rest_fault(self, path: str) -> _RestFault | None:
        archive = path.startswith(_ARCHIVE_PREFIX)
        for fault in self._rest_faults:
            if fault.path == path or (fault.path is None and not archive):
                fault.remaining -= 1
                if fault.remaining <= 0:
                    self._rest_faults.remove(fault)
                self._stats.rest_faults_served += 1
                return fault
        return None

    def _serve_fault(self, handler: BaseHTTPRequestHandler, fault: _RestFault) -> bool:
        """Answer with the scripted fault; False when it only delays the normal answer."""
        if fault.delay_s:
            time.sleep(fault.delay_s)
        if fault.status is None:
            return False
        headers = {}
        if fault.status in (429, 418) and fault.retry_after_s is not None:
            headers["Retry-After"] = f"{fault.retry_after_s:g}"
        body = fault.body
        if body is None:
            msg = (
                f"Way too much request weight used; IP banned until {self.now_ms() + 120_000}."
                if fault.status == 418
                else "Too many requests; please use the websocket for live updates."
            )
            body = json.dumps({"code": -1003, "msg": msg})
        _send_raw(handler, fault.status, body.encode(), fault.content_type, headers)
        return True

    def _spend_weight(self, weight: int) -> tuple[int, int | None]:
        """Account request weight in the current minute; (used, Retry-After seconds if over the limit)."""
        now = self.now_ms()
        with self._lock:
            minute = now // 60_000
            if minute != self._weight_minute:
                self._weight_minute, self._weight_used = minute, 0
            if self._weight_used + weight > self.rest_weight_limit:
                return self._weight_used, max(1, math.ceil(((minute + 1) * 60_000 - now) / 1000))
            self._weight_used += weight
            return self._weight_used, None

    def _spend_funding_request(self) -> int | None:
        """fundingRate and fundingInfo share funding_request_limit requests per 5 minutes: None, or the seconds
        until another is allowed."""
        now = time.monotonic()
        with self._lock:
            calls = self._funding_requests
            while calls and now - calls[0] >= 300.0:
                calls.popleft()
            if len(calls) >= self.funding_request_limit:
                return max(1, math.ceil(calls[0] + 300.0 - now))
            calls.append(now)
            return None

    def _monthly_file(self, kind: str, symbol: str, month: dt.date) -> tuple[bytes, str] | None:
        """(zip bytes, CHECKSUM text) of a monthly fundingRate or markPriceKlines file; None for a month not over
        yet (by now_ms()), without settlements, or marked archive_missing (its first day)."""
        lo, hi = fake_funding.month_span(month)
        with self._lock:
            rows = [f for f in self._funding.get(symbol, []) if lo <= f.time_ms < hi]
            missing = self._archive_faults.get((symbol, month)) == "missing"
        if hi > self.now_ms() or not rows or missing:
            return None
        stamp = f"{month.year:04d}-{month.month:02d}"
        if kind == "fundingRate":
            name, text = f"{symbol}-fundingRate-{stamp}", fake_funding.funding_csv(rows)
        else:
            name, text = f"{symbol}-1m-{stamp}", fake_funding.mark_klines_csv(rows, month)
        data = _zip_text(name, text)
        return data, fake_funding.checksum(data, f"{name}.zip")

    def _serve_archive(self, handler: BaseHTTPRequestHandler, path: str) -> None:
        """A daily aggTrades or 1-minute klines zip, a monthly fundingRate or markPriceKlines zip, or its CHECKSUM;
        404 (S3-style XML) for anything not published."""
        monthly = _MONTHLY_PATH.fullmatch(path)
        if monthly:
            kind, symbol, year, month, want_sum = monthly.groups()
            built = self._monthly_file(kind, symbol, dt.date(int(year), int(month), 1)) if 0 < int(month) < 13 else None
            if built is None:
                _send_raw(handler, 404, _NO_SUCH_KEY, "application/xml", {})
            else:
                body, ctype = (built[1].encode(), "text/plain") if want_sum else (built[0], "application/zip")
                _send_raw(handler, 200, body, ctype, {})
            return
        klines = _KLINES_PATH.fullmatch(path)
        if klines:
            built = self._klines_file(klines.group(1), dt.date.fromisoformat(klines.group(2)))
            if built is None:
                _send_raw(handler, 404, _NO_SUCH_KEY, "application/xml", {})
            else:
                body, ctype = (built[1].encode(), "text/plain") if klines.group(3) else (built[0], "application/zip")
                _send_raw(handler, 200, body, ctype, {})
            return
        match = _ARCHIVE_PATH.fullmatch(path)
        try:
            day = dt.date.fromisoformat(match.group(2)) if match else None
        except ValueError:
            day = None
        built = self._archive_file(match.group(1), day) if match and day else None
        if built is None:
            _send_raw(handler, 404, _NO_SUCH_KEY, "application/xml", {})
        elif match.group(3):
            _send_raw(handler, 200, built[1].encode(), "text/plain", {})
        else:
            _send_raw(handler, 200, built[0], "application/zip", {})

    def _klines_file(self, symbol: str, day: dt.date) -> tuple[bytes, str] | None:
        """(zip bytes, CHECKSUM text) of a symbol-day's 1-minute klines, built from its trades; None for today, the
        future, a missing day (archive_missing) or a day without trades."""
        start = (day - dt.date(1970, 1, 1)).days * _DAY_MS
        now = self.now_ms()
        with self._lock:
            book = self._books.get(symbol)
            if start >= now - now % _DAY_MS or book is None or self._archive_faults.get((symbol, day)) == "missing":
                return None
            lo, hi = bisect.bisect_left(book.times, start), bisect.bisect_left(book.times, start + _DAY_MS)
            if lo == hi:
                return None
            rows = _aggregate_klines(book, lo, hi, 60_000)
        name = f"{symbol}-1m-{day.isoformat()}"
        data = _zip_text(name, _KLINES_HEADER + "".join(",".join(map(str, r)) + "\n" for r in rows))
        return data, f"{hashlib.sha256(data).hexdigest()}  {name}.zip\n"

    def _archive_file(self, symbol: str, day: dt.date) -> tuple[bytes, str] | None:
        """(zip bytes, CHECKSUM text) of a symbol-day as served, or None when it is not published."""
        start = (day - dt.date(1970, 1, 1)).days * _DAY_MS
        now = self.now_ms()
        if start >= now - now % _DAY_MS:
            return None
        name = f"{symbol}-aggTrades-{day.isoformat()}"
        with self._lock:
            book = self._books.get(symbol)
            fault = self._archive_faults.get((symbol, day))
            if book is None or fault == "missing":
                return None
            span = (bisect.bisect_left(book.times, start), bisect.bisect_left(book.times, start + _DAY_MS))
            if span[0] == span[1]:
                return None
            cached = self._archives.get((symbol, day))
            rows = None if cached and cached[0] == span else [book.trade(i) for i in range(*span)]
        if rows is not None:
            data = _archive_zip(name, rows)
            cached = (span, data, f"{hashlib.sha256(data).hexdigest()}  {name}.zip\n")
            with self._lock:
                if len(self._archives) >= _ARCHIVE_CACHE_MAX:
                    self._archives.clear()
                self._archives[(symbol, day)] = cached
        if fault == "corrupt":
            with self._lock:
                rows = [book.trade(i) for i in range(span[0], span[1] - 1)]
            return _archive_zip(name, rows), cached[2]
        return cached[1], cached[2]

    def _rest_time(self, params: dict[str, str]) -> dict:
        return {"serverTime": self.now_ms()}

    def _rest_ping(self, params: dict[str, str]) -> dict:
        return {}

    def _rest_exchange_info(self, params: dict[str, str]) -> dict:
        with self._lock:
            books = list(self._books.values())
        return {
            "timezone": "UTC",
            "serverTime": self.now_ms(),
            "futuresType": "U_MARGINED",
            "rateLimits": [
                {
                    "rateLimitType": "REQUEST_WEIGHT",
                    "interval": "MINUTE",
                    "intervalNum": 1,
                    "limit": self.rest_weight_limit,
                },
                {"rateLimitType": "ORDERS", "interval": "MINUTE", "intervalNum": 1, "limit": 1200},
                {"rateLimitType": "ORDERS", "interval": "SECOND", "intervalNum": 10, "limit": 300},
            ],
            "exchangeFilters": [],
            "assets": [
                {"asset": a, "marginAvailable": True, "autoAssetExchange": "-10000" if a == "USDT" else "0"}
                for a in ("USDT", "BTC", "BNB", "ETH", "USDC")
            ],
            "symbols": [_symbol_entry(book) for book in books],
        }

    def _rest_agg_trades(self, params: dict[str, str]) -> list[dict]:
        book = self._rest_book(params)
        limit = _int_param(params, "limit", 500)
        if not 1 <= limit <= 1000:
            raise _ApiError(-1130, "Data sent for parameter 'limit' is not valid.")
        from_id = _int_param(params, "fromId", None)
        start, end = _int_param(params, "startTime", None), _int_param(params, "endTime", None)
        if start is not None and end is not None and end - start > 3_600_000:
            raise _ApiError(-1127, "More than 1 hours between startTime and endTime.")
        with self._lock:
            oldest = bisect.bisect_left(book.times, self.now_ms() - int(self.history_window_s * 1000))
            if from_id is not None:
                lo = max(from_id - book.first_id, oldest)
                hi = len(book.times) if end is None else bisect.bisect_right(book.times, end)
                indices = range(lo, min(hi, lo + limit))
            elif start is not None:
                lo = max(bisect.bisect_left(book.times, start), oldest)
                hi = len(book.times) if end is None else bisect.bisect_right(book.times, end)
                indices = range(lo, min(hi, lo + limit))
            else:
                hi = len(book.times) if end is None else bisect.bisect_right(book.times, end)
                indices = range(max(oldest, hi - limit), hi)
            trades = [book.trade(i) for i in indices]
        return [
            {
                "a": t.agg_id,
                "p": t.price,
                "q": t.qty,
                "f": t.first_id,
                "l": t.last_id,
                "T": t.time_ms,
                "m": t.buyer_maker,
            }
            for t in trades
        ]

    def _rest_klines(self, params: dict[str, str]) -> list[list]:
        book = self._rest_book(params)
        interval = params.get("interval")
        if interval not in KLINE_MS:
            raise _ApiError(-1120, "Invalid interval.")
        limit = _int_param(params, "limit", 500)
        if not 1 <= limit <= 1500:
            raise _ApiError(-1130, "Data sent for parameter 'limit' is not valid.")
        start, end = _int_param(params, "startTime", None), _int_param(params, "endTime", None)
        with self._lock:
            lo = 0 if start is None else bisect.bisect_left(book.times, start - start % KLINE_MS[interval])
            hi = len(book.times) if end is None else bisect.bisect_right(book.times, end)
            bars = _aggregate_klines(book, lo, hi, KLINE_MS[interval])
        return bars[:limit] if start is not None else bars[-limit:]

    def _rest_funding_rate(self, params: dict[str, str]) -> list[dict]:
        """Settlements at or after startTime (else the latest ones up to endTime), at most `limit` (default 100,
        at most 1000), in time order."""
        book = self._rest_book(params)
        limit = _int_param(params, "limit", 100)
        if not 1 <= limit <= 1000:
            raise _ApiError(-1130, "Data sent for parameter 'limit' is not valid.")
        start, end = _int_param(params, "startTime", None), _int_param(params, "endTime", None)
        with self._lock:
            rows = [f for f in self._funding.get(book.symbol, []) if end is None or f.rest_time_ms <= end]
        chosen = [f for f in rows if f.rest_time_ms >= start][:limit] if start is not None else rows[-limit:]
        return fake_funding.rest_rows(book.symbol, chosen)

    def _rest_funding_info(self, params: dict[str, str]) -> list[dict]:
        """The symbols whose current interval is not the default 8 h."""
        with self._lock:
            latest = {s: f[-1].interval_hours for s, f in self._funding.items() if f}
        return [fake_funding.info_row(s, h) for s, h in sorted(latest.items()) if h != 8]

    def _rest_book(self, params: dict[str, str]) -> _Book:
        symbol = params.get("symbol")
        if not symbol:
            raise _ApiError(-1102, "Mandatory parameter 'symbol' was not sent, was empty/null, or malformed.")
        with self._lock:
            book = self._books.get(symbol)
        if book is None:
            raise _ApiError(-1121, "Invalid symbol.")
        return book


def _kline_weight(params: dict[str, str]) -> int:
    limit = int(params["limit"]) if params.get("limit", "").isdigit() else 500
    return 1 if limit < 100 else 2 if limit < 500 else 5 if limit <= 1000 else 10


_REST_ENDPOINTS: dict[str, tuple[Callable[[FakeBinance, dict[str, str]], Any], Callable[[dict[str, str]], int]]] = {
    "/fapi/v1/ping": (FakeBinance._rest_ping, lambda p: 1),
    "/fapi/v1/time": (FakeBinance._rest_time, lambda p: 1),
    "/fapi/v1/exchangeInfo": (FakeBinance._rest_exchange_info, lambda p: 1),
    "/fapi/v1/aggTrades": (FakeBinance._rest_agg_trades, lambda p: 20),
    "/fapi/v1/klines": (FakeBinance._rest_klines, _kline_weight),
    "/fapi/v1/fundingRate": (FakeBinance._rest_funding_rate, lambda p: 1),
    "/fapi/v1/fundingInfo": (FakeBinance._rest_funding_info, lambda p: 1),
}


def _int_param(params: dict[str, str], name: str, default: int | None) -> int | None:
    value = params.get(name)
    if value is None:
        return default
    if not re.fullmatch(r"[0-9]{1,20}", value):
        raise _ApiError(-1100, f"Illegal characters found in parameter '{name}'; legal range is '^[0-9]{{1,20}}$'.")
    return int(value)


def _archive_zip(name: str, trades: list[FakeTrade]) -> bytes:
    """A Binance daily archive: ``<name>.zip`` holding ``<name>.csv`` with the header row and one row per trade."""
    lines = [_ARCHIVE_HEADER]
    lines += [
        f"{t.agg_id},{t.price},{t.qty},{t.first_id},{t.last_id},{t.time_ms},{str(t.buyer_maker).lower()}\n"
        for t in trades
    ]
    return _zip_text(name, "".join(lines))


def _zip_text(name: str, text: str) -> bytes:
    """``<name>.zip`` holding ``<name>.csv`` with `text`, as data.binance.vision packs its daily files."""
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as archive:
        archive.writestr(
            zipfile.ZipInfo(f"{name}.csv", date_time=(1980, 1, 1, 0, 0, 0)), text, compress_type=zipfile.ZIP_DEFLATED
        )
    return buffer.getvalue()


def _aggregate_klines(book: _Book, lo: int, hi: int, interval_ms: int) -> list[list]:
    """Binance kline rows for trades lo..hi-1 (only intervals that had trades)."""
    bars: list[list] = []
    pd, qd = book.price_decimals, book.qty_decimals
    current = None
    for i in range(lo, hi):
        open_time = book.times[i] - book.times[i] % interval_ms
        price, qty, trades = book.prices[i], book.qtys[i], book.counts[i]
        taker_buy = 0.0 if book.makers[i] else qty
        if current is None or current[0] != open_time:
            current = [open_time, price, price, price, price, 0.0, open_time + interval_ms - 1, 0.0, 0, 0.0, 0.0]
            bars.append(current)
        current[2], current[3], current[4] = max(current[2], price), min(current[3], price), price
        current[5] += qty
        current[7] += qty * price
        current[8] += trades
        current[9] += taker_buy
        current[10] += taker_buy * price
    return [
        [
            b[0],
            f"{b[1]:.{pd}f}",
            f"{b[2]:.{pd}f}",
            f"{b[3]:.{pd}f}",
            f"{b[4]:.{pd}f}",
            f"{b[5]:.{qd}f}",
            b[6],
            f"{b[7]:.8f}",
            b[8],
            f"{b[9]:.{qd}f}",
            f"{b[10]:.8f}",
            "0",
        ]
        for b in bars
    ]


def _symbol_entry(book: _Book) -> dict:
    """An exchangeInfo symbol entry with the real document's fields and filters."""
    base = book.symbol[:-4] if book.symbol.endswith("USDT") else book.symbol[:-3]
    return {
        "symbol": book.symbol,
        "pair": book.symbol,
        "contractType": book.contract_type,
        "deliveryDate": 4133404800000,
        "onboardDate": 1569398400000,
        "status": book.status,
        "maintMarginPercent": "2.5000",
        "requiredMarginPercent": "5.0000",
        "baseAsset": base,
        "quoteAsset": "USDT",
        "marginAsset": "USDT",
        "pricePrecision": book.price_decimals,
        "quantityPrecision": book.qty_decimals,
        "baseAssetPrecision": 8,
        "quotePrecision": 8,
        "underlyingType": "COIN",
        "underlyingSubType": [],
        "settlePlan": 0,
        "triggerProtect": "0.0500",
        "liquidationFee": "0.012500",
        "marketTakeBound": "0.05",
        "filters": [
            {
                "minPrice": book.tick_size,
                "maxPrice": "4529764",
                "filterType": "PRICE_FILTER",
                "tickSize": book.tick_size,
            },
            {"stepSize": book.step_size, "filterType": "LOT_SIZE", "maxQty": "1000", "minQty": book.step_size},
            {"stepSize": book.step_size, "filterType": "MARKET_LOT_SIZE", "maxQty": "120", "minQty": book.step_size},
            {"limit": 200, "filterType": "MAX_NUM_ORDERS"},
            {"limit": 10, "filterType": "MAX_NUM_ALGO_ORDERS"},
            {"notional": "100", "filterType": "MIN_NOTIONAL"},
            {
                "multiplierDown": "0.9500",
                "multiplierUp": "1.0500",
                "multiplierDecimal": "4",
                "filterType": "PERCENT_PRICE",
            },
        ],
        "orderTypes": [
            "LIMIT",
            "MARKET",
            "STOP",
            "STOP_MARKET",
            "TAKE_PROFIT",
            "TAKE_PROFIT_MARKET",
            "TRAILING_STOP_MARKET",
        ],
        "timeInForce": ["GTC", "IOC", "FOK", "GTX", "GTD"],
    }


def _parse_ws_path(path: str) -> tuple[str, bool, list[str]] | None:
    """(route, combined, streams in the URL) of a handshake path, or None for paths Binance does not serve."""
    url = urllib.parse.urlsplit(path)
    parts = [p for p in url.path.split("/") if p]
    route = ""
    if parts and parts[0] in ("market", "public"):
        route, parts = parts[0], parts[1:]
    if parts == ["stream"]:
        query = urllib.parse.parse_qs(url.query).get("streams", [""])[-1]
        return route, True, [s for s in query.split("/") if s]
    if parts and parts[0] == "ws":
        return route, False, parts[1:]
    return None


def _garbage(kind: str, frame: bytes, symbol: str) -> bytes:
    """A bad frame of the given kind (never a valid trade, so no real trade is lost by skipping it)."""
    header = 2 if frame[1] < 126 else 4
    if kind == "truncated":
        body = frame[header:]
        return body[: len(body) // 2]
    if kind == "not_json":
        return b"<html><body>502 Bad Gateway</body></html>"
    if kind == "unknown_event":
        return (
            f'{{"stream":"{symbol.lower()}@aggTrade","data":{{"e":"mysteryEvent","E":{time.time_ns() // 10**6},'
            f'"s":"{symbol}"}}}}'
        ).encode()
    return (
        f'{{"stream":"{symbol.lower()}@aggTrade","data":{{"e":"aggTrade","E":1,"a":-1,"s":"{symbol}",'
        f'"p":"abc","q":"1","f":1,"l":1,"T":1,"m":false}}}}'
    ).encode()


class _RestHandler(BaseHTTPRequestHandler):
    """HTTP/1.1 handler delegating to FakeBinance._handle_rest."""

    server_version = "FakeBinance/1.0"
    protocol_version = "HTTP/1.1"

    def do_GET(self) -> None:
        self.server.fake._handle_rest(self)  # type: ignore[attr-defined]

    def log_message(self, format: str, *args: Any) -> None:
        log.debug("REST " + format, *args)


def _send_json(handler: BaseHTTPRequestHandler, status: int, body: Any, headers: dict[str, str]) -> None:
    _send_raw(handler, status, json.dumps(body, separators=(",", ":")).encode(), "application/json", headers)


def _send_raw(
    handler: BaseHTTPRequestHandler, status: int, body: bytes, content_type: str, headers: dict[str, str]
) -> None:
    handler.send_response(status)
    handler.send_header("Content-Type", content_type)
    handler.send_header("Content-Length", str(len(body)))
    for name, value in headers.items():
        handler.send_header(name, value)
    handler.end_headers()
    handler.wfile.write(body)


def main() -> None:
    """Run the fake standalone, streaming trades for manual runs of the collector or dashboard."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("--symbols", default="BTCUSDT,ETHUSDT", help="comma-separated symbols to trade")
    parser.add_argument("--rate", type=float, default=50.0, help="trades per second per symbol")
    args = parser.parse_args()
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    symbols = [s.strip().upper() for s in args.symbols.split(",") if s.strip()]
    with FakeBinance(symbols=set(symbols) | set(DEFAULT_SYMBOLS)) as fb:
        log.info("BINANCE_WS_URL=%s BINANCE_REST_URL=%s (Ctrl-C stops)", fb.ws_base, fb.rest_base)
        job = fb.stream_trades(symbols, count=None, rate_per_s=args.rate)
        try:
            while True:
                time.sleep(1)
        except KeyboardInterrupt:
            job.stop()


if __name__ == "__main__":
    main()
