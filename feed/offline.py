"""Offline feeds: ``SimulatedMarket`` / ``SimulatedFeed`` (a synthetic market with a cointegrated pair) and
``ReplayFeed`` (tick files, optionally looped), sharing one producer-thread base class.
"""

from __future__ import annotations

import abc
import dataclasses
import heapq
import logging
import math
import operator
import os
import random
import threading
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any, cast

from core.clock import now_ms
from core.symbols import validate_symbols
from core.vocabulary import FeedKind, IdSpace
from feed.base import DataFeed, join_thread
from feed.errors import TickFileError
from feed.file_formats import FileFormat
from feed.files import BAR_FORMATS, detect_tick_format, iter_ticks_from_file
from feed.parquet import verify_parquet
from feed.records import EventKind, FeedState, FundingRate, MarkPrice, ParseReport, Quote, Tick
from feed.values import describe_exc

log = logging.getLogger("data_feed")  # one logger name for the whole feed layer, as before the split


# ==================================================================================================== simulated feed
_SIM_MARKETS: dict[str, tuple[float, float, float]] = {  # symbol: (price level, tick size, step size)
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


FUNDING_EVERY_MS = 8 * 3_600_000  # the simulated market settles funding at 00, 08 and 16 UTC
FUNDING_HISTORY_MS = 7 * 86_400_000  # settlements handed out at connect, so a fresh store has some at once


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

    def __init__(
        self,
        symbols: Sequence[str],
        *,
        seed: int = 7,
        rate_per_symbol: float = 20.0,
        beta: float = 0.04,
        half_life_s: float = 120.0,
        spread_std: float | None = None,
        vol_per_sqrt_s: float = 1e-4,
        start_ms: int | None = None,
    ) -> None:
        if rate_per_symbol <= 0 or half_life_s <= 0:
            raise ValueError("rate_per_symbol and half_life_s must be positive")
        self.symbols = list(validate_symbols(symbols))
        self.start_ms = now_ms() if start_ms is None else start_ms
        self.beta = beta
        self.half_life_s = half_life_s
        self.seed = seed
        self._rng = random.Random(seed)
        self._quote_rng = random.Random(f"{seed}:quotes")
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
        return Tick(symbol, trade_id, ts, price, size, self._rng.random() < 0.5, ts, IdSpace.SIMULATED)

    def quote_at(self, tick: Tick) -> Quote:
        """The best bid/ask a trade met: it printed at the bid (a seller took it) or at the ask, the book one to
        a few ticks wide (drawn from its own generator: the trades are the same with or without quotes)."""
        _, tick_size, step = self._params[tick.symbol]
        width = tick_size * (1 + min(4, int(self._quote_rng.expovariate(1.0))))
        bid = tick.price if tick.is_buyer_maker else _round_to(tick.price - width, tick_size)
        ask = _round_to(bid + width, tick_size)
        sizes = [step * self._quote_rng.randint(1, 2000) for _ in range(2)]
        return Quote(tick.symbol, tick.timestamp, bid, _round_to(sizes[0], step), ask, _round_to(sizes[1], step), 0)

    @staticmethod
    def funding_rate_at(seed: int, symbol: str, settlement_ms: int) -> float:
        """The funding rate of one settlement (about +0.01 %, a deterministic draw per symbol and time)."""
        return round(random.Random(f"{seed}:{symbol}:{settlement_ms}").gauss(1e-4, 5e-5), 8)

    def settlements(self, after_ms: int, until_ms: int) -> list[FundingRate]:
        """Every symbol's settlements in (after_ms, until_ms], at the symbol's price level, every 8 h."""
        first = after_ms - after_ms % FUNDING_EVERY_MS + FUNDING_EVERY_MS
        return [
            FundingRate(s, t, self.funding_rate_at(self.seed, s, t), self._params[s][0], FUNDING_EVERY_MS / 3_600_000)
            for t in range(first, until_ms + 1, FUNDING_EVERY_MS)
            for s in self.symbols
        ]

    def mark_price(self, symbol: str, now_ms: int) -> MarkPrice:
        """The mark price (the fair price now) with the next settlement's rate and time."""
        due = now_ms - now_ms % FUNDING_EVERY_MS + FUNDING_EVERY_MS
        price = _round_to(math.exp(self._log_price[symbol]), self._params[symbol][1])
        if self.pair is not None and symbol == self.pair[1]:
            price = _round_to(self.alpha + self.beta * math.exp(self._log_price[self.pair[0]]), self._params[symbol][1])
        return MarkPrice(symbol, now_ms, price, self.funding_rate_at(self.seed, symbol, due), due)

    def _price(self, symbol: str) -> float:
        """Current fair price: random walk, or alpha + beta*A + OU spread for the pair's second leg."""
        if self.pair is not None and symbol == self.pair[1]:
            leader = self.pair[0]
            self._advance(leader)
            self._advance_spread()
            return max(
                self.alpha + self.beta * math.exp(self._log_price[leader]) + self._spread, self._params[symbol][1]
            )
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
            self._stats.state, self._stats.connected, self._stats.started_at = FeedState.CONNECTED, True, now_ms()
            self._emit(EventKind.CONNECTED, f"{self.kind.lower()} feed started ({self._stats.source})")
            self._thread = threading.Thread(target=self._run, name=f"{self.kind.lower()}-feed", daemon=True)
            self._thread.start()

    def disconnect(self) -> None:
        """Stop the producer thread (it checks the stop flag between ticks and while waiting)."""
        with self._lock:
            thread, self._thread = self._thread, None
        if thread is None:
            return
        self._stop.set()
        join_thread(thread, 1.0)
        with self._lock:
            if self._stats.state != FeedState.FINISHED:
                self._stats.state = FeedState.STOPPED
            self._stats.connected = False

    def is_connected(self) -> bool:
        """True while the producer runs."""
        with self._lock:
            return self._stats.connected

    def _run(self) -> None:
        try:
            self._produce()
        except Exception as exc:  # broad on purpose: reported as an event; the feed stops cleanly
            log.exception("%s feed failed", self.kind)
            with self._lock:
                self._stats.last_error = describe_exc(exc)
                self._stats.state, self._stats.connected = FeedState.FAILED, False
            self._emit(EventKind.ERROR, f"{self.kind.lower()} feed failed: {describe_exc(exc)}")

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
    ``speed > 1`` compresses time for tests. ``received_at`` is the wall-clock delivery time. With ``quotes`` each
    trade comes with the best bid/ask it met; with ``funding`` the last week's settlements (every 8 h) come first,
    then each new one, and a mark-price update per symbol every simulated second (side callback).
    """

    kind = FeedKind.SIMULATED

    def __init__(
        self,
        *,
        seed: int = 7,
        rate_per_symbol: float = 20.0,
        speed: float = 1.0,
        beta: float = 0.04,
        half_life_s: float = 120.0,
        spread_std: float | None = None,
        start_ms: int | None = None,
        quotes: bool = False,
        funding: bool = False,
    ) -> None:
        super().__init__()
        if speed <= 0:
            raise ValueError(f"speed must be positive, got {speed!r}")
        self._options: dict[str, Any] = dict(
            seed=seed,
            rate_per_symbol=rate_per_symbol,
            beta=beta,
            half_life_s=half_life_s,
            spread_std=spread_std,
            start_ms=start_ms,
        )
        self.speed = speed
        self.quotes = quotes
        self.funding = funding
        self.market: SimulatedMarket | None = None

    def _prepare(self, symbols: Sequence[str]) -> None:
        self.market = SimulatedMarket(symbols, **self._options)
        pair = self.market.pair
        self._stats.streams = list(self.market.symbols)
        self._stats.source = (
            f"seed {self._options['seed']}, pair {pair[1]} = {self.market.alpha:g} + "
            f"{self.market.beta:g}*{pair[0]} + OU"
            if pair
            else f"seed {self._options['seed']}"
        )

    def _produce(self) -> None:
        market = cast(SimulatedMarket, self.market)  # set by _prepare, which runs first
        started = time.monotonic()
        funded = market.start_ms - FUNDING_HISTORY_MS  # settlements up to here were handed out
        second = -1
        while True:
            tick = market.next_tick()
            if not self._sleep_until(started + market.elapsed_s / self.speed):
                return
            with self._lock:
                self._stats.frames += 1
                self._stats.last_ids[tick.symbol] = tick.trade_id
                self._deliver(dataclasses.replace(tick, received_at=now_ms()))
                if self.quotes:
                    self._deliver_side(dataclasses.replace(market.quote_at(tick), received_at=now_ms()))
                if self.funding and tick.timestamp // 1000 != second:  # once a simulated second, as @markPrice@1s
                    second = tick.timestamp // 1000
                    for settlement in market.settlements(funded, tick.timestamp):
                        self._deliver_side(settlement)
                    funded = tick.timestamp
                    for symbol in market.symbols:
                        self._deliver_side(market.mark_price(symbol, tick.timestamp))


# ======================================================================================================= replay feed
def replay_paths(spec: str | Path | Sequence[str | Path]) -> list[Path]:
    """The files a replay reads: each path given (a string may list several, separated by os.pathsep as in PATH),
    a folder meaning every non-hidden file in it, by name. Missing paths and empty folders are refused by name."""
    items = [spec] if isinstance(spec, Path) else spec.split(os.pathsep) if isinstance(spec, str) else list(spec)
    files: list[Path] = []
    for item in items:
        path = Path(str(item).strip())
        if path.is_dir():
            found = sorted(p for p in path.iterdir() if p.is_file() and not p.name.startswith("."))
            if not found:
                raise FileNotFoundError(f"replay folder {path} holds no files")
            files.extend(found)
        elif path.is_file():
            files.append(path)
        else:
            raise FileNotFoundError(f"replay file {path} does not exist")
    if not files:
        raise FileNotFoundError("no replay file given")
    return files


class ReplayFeed(_ProducerFeed):
    """Replays tick files (any ``detect_tick_format`` format; several files or folders merge into one session in
    time order, each file being time-ordered) through the shared parsers, labelled REPLAY.

    ``speed`` multiplies the recorded pace (0 = as fast as possible). Symbols are filtered by the constructor's
    ``symbols`` and by ``connect(symbols)`` (an empty list means all). With ``loop=True`` the file repeats with
    times shifted by the file's span and positive ids shifted by each symbol's id span, so every pass yields new
    trades. ``received_at`` is the wall-clock delivery time; a FeedEvent("finished") marks the end. A Parquet file
    is read through once at ``connect``, every page's checksum checked, so a damaged or truncated one is refused
    (TickFileError naming it) before a single tick is delivered.
    """

    kind = FeedKind.REPLAY

    def __init__(
        self,
        path: str | Path | Sequence[str | Path],
        *,
        speed: float = 1.0,
        symbols: Sequence[str] | None = None,
        loop: bool = False,
        symbol: str | None = None,
    ) -> None:
        super().__init__()
        self.paths = replay_paths(path)
        if speed < 0:
            raise ValueError(f"speed must be >= 0 (0 = as fast as possible), got {speed!r}")
        self.speed = speed
        self.loop = loop
        self._symbol = symbol
        self._own_filter = set(validate_symbols(symbols)) if symbols else None
        self._filter: set[str] | None = None

    def _prepare(self, symbols: Sequence[str]) -> None:
        formats = []
        for path in self.paths:
            fmt = detect_tick_format(path)
            if fmt in BAR_FORMATS:
                raise TickFileError(0, f"{path.name} holds OHLCV bars ({fmt.value}); a replay needs ticks")
            if fmt is FileFormat.PARQUET:
                verify_parquet(path, path.name)  # every page's checksum before the first tick is delivered
            formats.append(fmt.value)
        wanted = set(validate_symbols(symbols)) if symbols else None
        if self._own_filter is not None and wanted is not None:
            self._filter = self._own_filter & wanted
        else:
            self._filter = self._own_filter if self._own_filter is not None else wanted
        self._stats.source = f"{self._names()} ({', '.join(sorted(set(formats)))}, speed {self.speed:g})"
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
            self._stats.state, self._stats.connected = FeedState.FINISHED, False
            ticks = self._stats.ticks
        self._emit(EventKind.FINISHED, f"replayed {ticks} ticks from {self._names()} in {passes} pass(es)")

    def _names(self) -> str:
        first = self.paths[0].name
        return first if len(self.paths) == 1 else f"{first} and {len(self.paths) - 1} more file(s)"

    def _replay_pass(self, shift: _LoopShift, pass_no: int, report: ParseReport) -> bool:
        """One pass over the file; False if stopped."""
        started = time.monotonic()
        first_ts: int | None = None
        files = [iter_ticks_from_file(path, symbol=self._symbol, report=report) for path in self.paths]
        for tick in heapq.merge(*files, key=_TIME) if len(files) > 1 else files[0]:
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
                self._deliver(dataclasses.replace(tick, received_at=now_ms()))
        return True


_TIME = operator.attrgetter("timestamp")


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
