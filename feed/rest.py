"""``BinanceRest``: urllib client for exchangeInfo / aggTrades / klines / fundingRate / fundingInfo / time with
client-side weight budgets (``_WeightBudget``) and ``Retry-After`` handling of HTTP 429/418; ``NoRest`` for feeds
without REST.
"""

from __future__ import annotations

import contextlib
import http.client
import logging
import socket
import threading
import time
import urllib.error
import urllib.parse
import urllib.request
from collections import deque
from collections.abc import Callable, Sequence
from typing import Any, ClassVar, cast

from core.clock import now_ms
from core.symbols import DEFAULT_QUOTE, validate_symbol
from core.vocabulary import IdSpace
from feed.errors import BinanceRestError, UnknownSymbolError
from feed.frames import FrameKind, describe_field_error, trade_frame
from feed.funding import funding_rows
from feed.records import DEFAULT_REST_BASE, KLINE_INTERVALS, FundingRate, KlineBar, RestStats, SymbolInfo, Tick
from feed.values import describe_exc, json_loads, parse_number, preview

log = logging.getLogger("data_feed")  # one logger name for the whole feed layer, as before the split


# ======================================================================================================== REST client
class _WeightBudget:
    """Client-side request-weight budget over a sliding window (a minute unless told), plus server-imposed blocks
    (Retry-After)."""

    def __init__(
        self, limit: int, clock: Callable[[], float], sleep: Callable[[float], None], window_s: float = 60.0
    ) -> None:
        self._limit = limit
        self._window_s = window_s
        self._clock = clock
        self._sleep = sleep
        self._spent: deque[tuple[float, int]] = deque()
        self._blocked_until = 0.0
        self._server_used: tuple[int, int] | None = None  # (minute, weight) from X-MBX-USED-WEIGHT-1M
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
        while self._spent and now - self._spent[0][0] >= self._window_s:
            self._spent.popleft()
        if now < self._blocked_until:
            return self._blocked_until - now
        if self._spent and sum(w for _, w in self._spent) + weight > self._limit:
            return self._spent[0][0] + self._window_s - now
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

    Keeps a client-side weight budget (``max_weight_per_min``, default half of Binance's 2400) and one for the
    funding endpoints (``max_funding_requests_per_5min``: fundingRate and fundingInfo share 500 per 5 min per IP)
    and sleeps before exceeding them; on HTTP 429/418 honours ``Retry-After`` (bounded by ``max_retries`` and
    ``max_retry_wait_s``), retries timeouts, connection errors and 5xx with backoff, and raises
    ``BinanceRestError`` with a clear message for everything else (Binance ``{"code","msg"}`` bodies, non-JSON
    bodies). Thread-safe.
    """

    available: ClassVar[bool] = True

    def __init__(
        self,
        base_url: str = DEFAULT_REST_BASE,
        *,
        timeout_s: float = 10.0,
        max_weight_per_min: int = 1200,
        max_funding_requests_per_5min: int = 400,
        max_retries: int = 3,
        max_retry_wait_s: float = 120.0,
        retry_backoff_s: float = 1.0,
        headers: dict[str, str] | None = None,
        clock: Callable[[], float] = time.time,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        if not base_url.startswith(("http://", "https://")):
            raise ValueError(f"REST base URL {base_url!r} must start with http:// or https://")
        self.base_url = base_url.rstrip("/")
        self._timeout_s = timeout_s
        self._max_retries = max_retries
        self._max_retry_wait_s = max_retry_wait_s
        self._retry_backoff_s = retry_backoff_s
        self._headers = {
            "User-Agent": "binance-analytics-platform/1.0",
            "Accept": "application/json",
            **(headers or {}),
        }
        self._sleep = sleep
        self._budget = _WeightBudget(max_weight_per_min, clock, sleep)
        self._funding_budget = _WeightBudget(max_funding_requests_per_5min, clock, sleep, window_s=300.0)
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

    def universe(self, quote: str = DEFAULT_QUOTE) -> list[str]:
        """Every TRADING perpetual quoted in `quote` ("" = any), sorted: the market scanner's universe (a symbol
        being delivered, settling or halted is left out)."""
        listed = symbol_infos_from_exchange_info(self.exchange_info()).values()
        return sorted(
            i.symbol
            for i in listed
            if i.status == "TRADING" and i.contract_type == "PERPETUAL" and (not quote or i.quote_asset == quote)
        )

    def agg_trades(
        self,
        symbol: str,
        from_id: int | None = None,
        start_time: int | None = None,
        end_time: int | None = None,
        limit: int = 1000,
    ) -> list[Tick]:
        """``GET /fapi/v1/aggTrades`` (weight 20) as ticks in id order; Binance serves the last 48 h only."""
        symbol = validate_symbol(symbol)
        if not 1 <= limit <= 1000:
            raise ValueError(f"limit must be 1..1000, got {limit}")
        params = _params(symbol=symbol, fromId=from_id, startTime=start_time, endTime=end_time, limit=limit)
        rows = self._get("/fapi/v1/aggTrades", params, weight=20)
        received_at = now_ms()
        ticks = []
        for row in _rows(rows, "/fapi/v1/aggTrades"):
            try:
                frame = trade_frame(symbol, row, IdSpace.AGG_TRADE, received_at)
            except (KeyError, TypeError, ValueError) as exc:
                raise BinanceRestError(
                    f"bad aggTrades row {preview(str(row))}: {describe_field_error(exc)}", path="/fapi/v1/aggTrades"
                ) from None
            if frame.kind is FrameKind.TICK:
                ticks.append(cast(Tick, frame.tick))  # a TICK frame always carries its tick
        return ticks

    def klines(
        self,
        symbol: str,
        interval: str = "1m",
        start_time: int | None = None,
        end_time: int | None = None,
        limit: int = 1500,
    ) -> list[KlineBar]:
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
                bars.append(
                    KlineBar(
                        int(row[0]),
                        float(row[1]),
                        float(row[2]),
                        float(row[3]),
                        float(row[4]),
                        float(row[5]),
                        int(row[6]),
                        float(row[7]),
                        int(row[8]),
                    )
                )
            except (IndexError, TypeError, ValueError) as exc:
                raise BinanceRestError(f"bad kline row {preview(str(row))}: {exc}", path="/fapi/v1/klines") from None
        return bars

    def funding_rates(
        self, symbol: str, start_time: int | None = None, end_time: int | None = None, limit: int = 1000
    ) -> list[FundingRate]:
        """``GET /fapi/v1/fundingRate`` (the funding budget): settlements in time order with their rate and mark
        price; their interval_hours is NaN until ``feed.funding.with_intervals`` derives it from the spacing."""
        symbol = validate_symbol(symbol)
        if not 1 <= limit <= 1000:
            raise ValueError(f"limit must be 1..1000, got {limit}")
        path = "/fapi/v1/fundingRate"
        params = _params(symbol=symbol, startTime=start_time, endTime=end_time, limit=limit)
        payload = self._get(path, params, weight=1, budget=self._funding_budget)
        try:
            return funding_rows(symbol, payload, f"GET {path}")
        except ValueError as exc:
            raise BinanceRestError(str(exc), path=path) from None

    def funding_intervals(self) -> dict[str, float]:
        """``GET /fapi/v1/fundingInfo`` (the funding budget): the current funding interval in hours of each symbol
        whose interval was adjusted (a symbol not listed settles every DEFAULT_INTERVAL_HOURS)."""
        path = "/fapi/v1/fundingInfo"
        out = {}
        for row in _rows(self._get(path, {}, weight=1, budget=self._funding_budget), path):
            try:
                out[validate_symbol(row["symbol"])] = parse_number(row["fundingIntervalHours"], "fundingIntervalHours")
            except (KeyError, TypeError, ValueError) as exc:
                raise BinanceRestError(f"bad fundingInfo row {preview(str(row))}: {exc}", path=path) from None
        return out

    def server_time(self) -> int:
        """``GET /fapi/v1/time`` (weight 1): Binance's clock in epoch ms."""
        reply = self._get("/fapi/v1/time", {}, weight=1)
        if type(reply) is not dict or type(reply.get("serverTime")) is not int:
            raise BinanceRestError(f"bad time response {preview(str(reply))}", path="/fapi/v1/time")
        return reply["serverTime"]

    def get_stats(self) -> RestStats:
        """Request counters, the last used-weight header and the total time spent waiting."""
        with self._lock:
            return RestStats(
                self._counts["requests"],
                self._counts["retries"],
                self._counts["rate_limited"],
                self._used_weight,
                round(self._waited_s, 3),
                self._last_error,
            )

    # ------------------------------------------------------------------------------------------------ transport
    def _get(self, path: str, params: dict[str, Any], *, weight: int, budget: _WeightBudget | None = None) -> Any:
        """GET with budget (and an endpoint's own one), retries and error mapping; returns the decoded JSON body."""
        url = f"{self.base_url}{path}" + (f"?{urllib.parse.urlencode(params)}" if params else "")
        attempt = 0
        while True:
            if budget is not None:
                self._note_wait(budget.acquire(1))
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
            return None, None, b"", network_failure(exc, self._timeout_s)

    def _retry_delay(
        self, path: str, status: int | None, headers: Any, body: bytes, failure: str | None, attempt: int
    ) -> float | None:
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
            delay = self._retry_backoff_s * 2**attempt
            log.warning("%s: %s; retrying in %g s", path, failure or f"HTTP {status}", delay)
            return delay
        return None

    def _decode(self, path: str, status: int | None, body: bytes) -> Any:
        try:
            payload = json_loads(body)
        except ValueError:
            payload = None
            if status is not None and status < 400:
                raise self._error(path, status, body, "response is not JSON") from None
        if status is not None and status >= 400:
            raise self._error(path, status, body, "request rejected", payload)
        return payload

    def _error(self, path: str, status: int | None, body: bytes, what: str, payload: Any = None) -> BinanceRestError:
        """Build (and remember) a BinanceRestError naming the path, status, Binance code/msg or a body excerpt."""
        text = body.decode("utf-8", "replace")
        if payload is None:
            with contextlib.suppress(ValueError):
                payload = json_loads(body)
        code = payload.get("code") if type(payload) is dict else None
        msg = payload.get("msg") if type(payload) is dict else None
        parts = [f"GET {path}", what]
        if status is not None:
            parts.append(f"HTTP {status}")
        if code is not None or msg is not None:
            parts.append(f"Binance error {code}: {msg}")
        elif text:
            parts.append(f"body {preview(text)}")
        error = BinanceRestError(
            ": ".join(parts[:2]) + (f" ({'; '.join(parts[2:])})" if parts[2:] else ""),
            status=status,
            code=code if type(code) is int else None,
            msg=msg,
            path=path,
            body=text,
        )
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


def network_failure(exc: BaseException, timeout_s: float) -> str:
    """Describe a urllib/socket failure (timeout or connection problem) for an error message."""
    reason = exc.reason if isinstance(exc, urllib.error.URLError) else exc
    if isinstance(reason, (TimeoutError, socket.timeout)):
        return f"timed out after {timeout_s:g} s"
    if isinstance(exc, urllib.error.URLError):
        return f"connection failed: {reason}"
    return f"connection failed: {describe_exc(exc)}"


def _params(**values: Any) -> dict[str, Any]:
    return {key: value for key, value in values.items() if value is not None}


def _rows(payload: Any, path: str) -> list:
    if type(payload) is not list:
        raise BinanceRestError(f"GET {path}: expected a JSON list, got {preview(str(payload))}", path=path)
    return payload


def _retry_after_s(headers: Any) -> float:
    """Seconds from a Retry-After header (default 60 s when missing or unreadable)."""
    value: Any = headers.get("Retry-After") if headers is not None else None
    try:
        return max(0.0, float(value))
    except (TypeError, ValueError):
        return 60.0


def symbol_infos_from_exchange_info(info: dict[str, Any]) -> dict[str, SymbolInfo]:
    """SymbolInfo per symbol from an exchangeInfo document (PRICE_FILTER tickSize, LOT_SIZE stepSize,
    MIN_NOTIONAL notional)."""
    result = {}
    for entry in info.get("symbols", []):
        filters = {f.get("filterType"): f for f in entry.get("filters", []) if type(f) is dict}
        try:
            result[entry["symbol"]] = SymbolInfo(
                symbol=entry["symbol"],
                status=entry.get("status", "UNKNOWN"),
                tick_size=float(filters.get("PRICE_FILTER", {}).get("tickSize", "nan")),
                step_size=float(filters.get("LOT_SIZE", {}).get("stepSize", "nan")),
                contract_type=entry.get("contractType", ""),
                quote_asset=str(entry.get("quoteAsset", "")),
                min_notional=float(filters.get("MIN_NOTIONAL", {}).get("notional", 0.0)),
            )
        except (KeyError, TypeError, ValueError):
            log.warning("exchangeInfo entry without usable symbol/filters skipped: %s", preview(str(entry)))
    return result


# ==================================================================================================== null clients
class NoRest(BinanceRest):
    """The REST client of a feed that has none (simulated, replay): ``available`` is False and every request raises
    BinanceRestError naming why, so callers hold a client always and never check for None."""

    available: ClassVar[bool] = False

    def __init__(self, reason: str = "no REST endpoint for this feed") -> None:
        self.base_url = ""
        self.reason = reason

    def _get(self, path: str, params: dict[str, Any], *, weight: int, budget: _WeightBudget | None = None) -> Any:
        raise BinanceRestError(self.reason, path=path)

    def get_stats(self) -> RestStats:
        return RestStats(0, 0, 0, None, 0.0, None)
