"""``BinanceArchive``: the data.binance.vision archive (sha256-verified, streamed through a temporary file): daily
aggTrades for trade-id gaps older than the REST window, daily 1-minute klines for the scanner's history, monthly
funding settlements joined with the monthly mark-price klines; ``NoArchive`` when repair is off.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import hashlib
import http.client
import logging
import os
import re
import tempfile
import threading
import time
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Generator, Iterator
from typing import Any, ClassVar

from core.symbols import validate_symbol
from feed.errors import ArchiveError, TickFileError
from feed.files import FileFormat, detect_tick_format, iter_ticks_from_file, parse_ohlcv_csv
from feed.funding import join_marks, parse_funding_archive
from feed.records import DEFAULT_ARCHIVE_BASE, MAX_UPLOAD_BYTES, ArchiveStats, FundingRate, OhlcvBar, Tick
from feed.rest import network_failure
from feed.values import preview

log = logging.getLogger("data_feed")  # one logger name for the whole feed layer, as before the split


# ===================================================================================================== archive client
_ARCHIVE_BLOCK_BYTES = 1 << 20  # download block: the file goes to disk, never whole into memory
_CHECKSUM_MAX_BYTES = 4096  # a .CHECKSUM is one sha256sum line
_CHECKSUM_LINE = re.compile(r"([0-9a-fA-F]{64}) [ *](\S+)")


class BinanceArchive:
    """Client of Binance's public daily archive (data.binance.vision) for USD-M aggTrades; urllib, thread-safe.

    It repairs trade-id gaps older than the 48 h REST window. Each daily file (tens of MB) is streamed to a temporary
    file while its sha256 is computed, checked against the sibling ``.CHECKSUM`` and then parsed by
    ``iter_ticks_from_file``; an unverifiable file is never used. Failures raise ``ArchiveError``.
    """

    available: ClassVar[bool] = True

    def __init__(
        self, base_url: str = DEFAULT_ARCHIVE_BASE, *, timeout_s: float = 60.0, tmp_dir: str | None = None
    ) -> None:
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

    def klines_url(self, symbol: str, day: dt.date) -> str:
        """Address of the daily 1-minute klines zip of a symbol (checksum: the same URL plus ``.CHECKSUM``)."""
        symbol = validate_symbol(symbol)
        return f"{self.base_url}/data/futures/um/daily/klines/{symbol}/1m/{symbol}-1m-{day.isoformat()}.zip"

    def monthly_url(self, kind: str, symbol: str, month: dt.date) -> str:
        """Address of a monthly file: ``fundingRate`` (``SYMBOL-fundingRate-YYYY-MM.zip``) or ``markPriceKlines``
        (1-minute, ``1m/SYMBOL-1m-YYYY-MM.zip``); checksums are the same URL plus ``.CHECKSUM``."""
        symbol = validate_symbol(symbol)
        base = f"{self.base_url}/data/futures/um/monthly/{kind}/{symbol}"
        stamp = f"{month.year:04d}-{month.month:02d}"
        if kind == "fundingRate":
            return f"{base}/{symbol}-fundingRate-{stamp}.zip"
        if kind == "markPriceKlines":
            return f"{base}/1m/{symbol}-1m-{stamp}.zip"
        raise ValueError(f"no monthly archive of kind {kind!r} (fundingRate or markPriceKlines)")

    def funding_month(self, symbol: str, month: dt.date) -> list[FundingRate]:
        """The funding settlements of one calendar month (the archive has no daily funding files) with their
        interval and, joined from the month's 1-minute markPriceKlines at the settlement minute, their mark price;
        both files sha256-verified. A mark file Binance has not published leaves the mark prices None."""
        url = self.monthly_url("fundingRate", symbol, month)
        name = url.rsplit("/", 1)[-1]
        with self._verified(url, name) as path, open(path, "rb") as fh:
            data = fh.read()
        try:
            rows = parse_funding_archive(symbol, data, name)
        except ValueError as exc:
            raise self._error(f"{url}: {exc}", url) from None
        marks: dict[int, float] = {}
        mark_url = self.monthly_url("markPriceKlines", symbol, month)
        mark_name = mark_url.rsplit("/", 1)[-1]
        try:
            with self._verified(mark_url, mark_name) as path, open(path, "rb") as fh:
                bars = parse_ohlcv_csv(fh.read(), strict=True, name=mark_name, max_bytes=MAX_UPLOAD_BYTES)
            marks = {bar.ts: bar.open for bar in bars}
        except ArchiveError as exc:
            if not exc.missing:
                raise
        except TickFileError as exc:
            raise self._error(f"{mark_url}: {exc}", mark_url) from None
        with self._lock:
            self._counts["files"] += 1 + bool(marks)
        return join_marks(symbol, rows, marks)

    def klines_1m(self, symbol: str, day: dt.date) -> list[OhlcvBar]:
        """The 1-minute klines of one UTC day (≤ 1,440 bars, ~100 KB), sha256-verified like the aggTrades files."""
        url = self.klines_url(symbol, day)
        name = url.rsplit("/", 1)[-1]
        with self._verified(url, name) as path, open(path, "rb") as fh:
            data = fh.read()
        try:
            bars = parse_ohlcv_csv(data, strict=True, name=name)
        except TickFileError as exc:
            raise self._error(f"{url}: {exc}", url) from None
        with self._lock:
            self._counts["files"] += 1
        return bars

    def iter_agg_trades(
        self, symbol: str, day: dt.date, *, first_id: int | None = None, last_id: int | None = None, chunk: int = 20_000
    ) -> Generator[list[Tick], None, None]:
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
            return ArchiveStats(self._counts["files"], self._counts["bytes"], self._counts["ticks"], self._last_error)

    # ------------------------------------------------------------------------------------------------ internals
    def _iter_agg_trades(
        self, symbol: str, day: dt.date, first_id: int | None, last_id: int | None, chunk: int
    ) -> Generator[list[Tick], None, None]:
        """Fetch the checksum, download and verify the zip into a temporary file, yield its ticks, delete it."""
        url = self.url(symbol, day)
        name = url.rsplit("/", 1)[-1]
        with self._verified(url, name) as tmp_path:
            with self._lock:
                self._counts["files"] += 1
            yield from self._read(url, tmp_path, name, symbol, first_id, last_id, chunk)

    @contextlib.contextmanager
    def _verified(self, url: str, name: str) -> Iterator[str]:
        """Download ``url`` into a temporary file, check it against ``<url>.CHECKSUM`` and yield its path; the file
        is deleted when the block ends (an unverifiable file is never handed out)."""
        want = self._expected_sha256(url, name)
        fd, tmp_path = tempfile.mkstemp(prefix=f"{name}.", suffix=".part", dir=self._tmp_dir)
        try:
            with os.fdopen(fd, "wb") as out:
                got = self._download(url, out)
            if got != want:
                raise self._error(f"{url}: sha256 {got} does not match .CHECKSUM {want}", url)
            yield tmp_path
        finally:
            with contextlib.suppress(OSError):
                os.unlink(tmp_path)

    def _read(
        self, url: str, path: str, name: str, symbol: str, first_id: int | None, last_id: int | None, chunk: int
    ) -> Iterator[list[Tick]]:
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
                raise self._error(
                    f"cannot reach {checksum_url}: {network_failure(exc, self._timeout_s)}", checksum_url
                ) from None
        match = _CHECKSUM_LINE.fullmatch(body.decode("utf-8", "replace").strip())
        if len(body) > _CHECKSUM_MAX_BYTES or match is None or match.group(2) != name:
            raise self._error(f"{checksum_url}: expected '<sha256 hex>  {name}', got {preview(body)}", checksum_url)
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
                raise self._error(
                    f"cannot reach {url}: download interrupted after {size} bytes "
                    f"({network_failure(exc, self._timeout_s)})",
                    url,
                ) from None
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
            raise self._error(f"cannot reach {url}: {network_failure(exc, self._timeout_s)}", url) from None

    def _error(self, message: str, url: str, status: int | None = None) -> ArchiveError:
        """Build (and remember) an ArchiveError."""
        log.warning("archive: %s", message)
        with self._lock:
            self._last_error = message
        return ArchiveError(message, url=url, status=status)


class NoArchive(BinanceArchive):
    """The archive client when archive repair is off: ``available`` is False and a download raises ArchiveError."""

    available: ClassVar[bool] = False

    def __init__(self, reason: str = "archive repair is off") -> None:
        self.base_url = ""
        self.reason = reason

    def _iter_agg_trades(
        self, symbol: str, day: dt.date, first_id: int | None, last_id: int | None, chunk: int
    ) -> Generator[list[Tick], None, None]:
        raise ArchiveError(self.reason, url="")

    def get_stats(self) -> ArchiveStats:
        return ArchiveStats(0, 0, 0, None)
