"""WebSocket connection plumbing of ``BinanceFuturesFeed``: one link (``Link``: a websocket-client app on its own
thread, its SUBSCRIBE queue, liveness marks and standby buffer), the active/standby pair per stream group
(``Slot``), the connection-attempt limiter and the socket opener.

Kept apart from the supervisor logic in ``feed.binance_ws`` so each file holds one job. This module sits below
the supervisor and never imports it: a link is given its socket options (``LinkOptions``), the callback that
takes its frames and the event that wakes the supervisor.
"""

from __future__ import annotations

import contextlib
import enum
import socket
import ssl
import threading
import time
import urllib.error
import urllib.parse
import urllib.request
from collections import deque
from collections.abc import Callable, Sequence
from dataclasses import dataclass

import websocket

from feed.frames import Frame
from feed.values import describe_exc

_SUBSCRIBE_CHUNK = 200  # streams per SUBSCRIBE message


class Role(enum.Enum):
    ACTIVE = "active"  # delivers ticks
    STANDBY = "standby"  # replacement (stall recovery or rotation) in overlap: buffers until the switch
    RETIRED = "retired"  # replaced: its late frames are ignored


@dataclass(frozen=True)
class LinkOptions:
    """How every link of a feed opens and keeps its socket."""

    connect_timeout_s: float
    ping_interval_s: float  # 0 = no pings
    skip_utf8_validation: bool


class Link:
    """One WebSocket connection: thread, socket, role and per-symbol liveness (state owned by the supervisor).

    Every frame goes to `on_frame(link, raw)` on the link's thread; `wake` is set when the link opens or ends."""

    def __init__(
        self,
        url: str,
        symbols: Sequence[str],
        url_symbols: int,
        role: Role,
        options: LinkOptions,
        on_frame: Callable[[Link, bytes | str], None],
        wake: threading.Event,
    ) -> None:
        self.options = options
        self.on_frame = on_frame
        self.wake = wake
        self.url = url
        self.symbols = tuple(symbols)
        self.role = role
        self.pending: deque[list[str]] = deque(
            list(symbols[i : i + _SUBSCRIBE_CHUNK]) for i in range(url_symbols, len(symbols), _SUBSCRIBE_CHUNK)
        )
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

    def start(self) -> Link:
        self.thread.start()
        return self

    def _run(self) -> None:
        options = self.options
        try:
            self.raw_sock = _open_socket(self.url, options.connect_timeout_s)
            if self.closing:
                return
            self.app = websocket.WebSocketApp(
                self.url,
                on_open=self._on_open,
                on_message=self._on_message,
                on_error=self._on_error,
                on_close=self._on_close,
                socket=self.raw_sock,
            )
            ping_s = options.ping_interval_s
            self.app.run_forever(
                ping_interval=ping_s,
                ping_timeout=min(10.0, ping_s / 2) if ping_s else None,
                skip_utf8_validation=options.skip_utf8_validation,
            )
        except Exception as exc:  # broad on purpose: any connect failure ends this link; the supervisor retries
            self.error = self.error or describe_exc(exc)
        finally:
            if self.raw_sock is not None:
                with contextlib.suppress(OSError):
                    self.raw_sock.close()
            self.ended = True
            self.wake.set()

    def _on_open(self, _app: websocket.WebSocketApp) -> None:
        now = time.monotonic()
        for symbol in self._url_symbols:
            self.sub_started[symbol] = now
        self.opened_at = now
        self.wake.set()

    def _on_message(self, _app: websocket.WebSocketApp, raw: bytes | str) -> None:
        self.on_frame(self, raw)

    def _on_error(self, _app: websocket.WebSocketApp, exc: Exception) -> None:
        if not self.closing:
            self.error = describe_exc(exc)

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

    def age(self, now: float) -> float:
        """Seconds since the handshake completed (0 before it has)."""
        return 0.0 if self.opened_at is None else now - self.opened_at

    def end_reason(self) -> str:
        return self.stall_note or self.close_info or self.error or "connection closed"


class Slot:
    """A fixed group of streams (<= max per connection) served by one active link at a time."""

    def __init__(self, symbols: Sequence[str]) -> None:
        self.symbols = list(symbols)
        self.active: Link | None = None
        self.standby: Link | None = None
        self.attempt = 0
        self.next_attempt_at = 0.0
        self.replacing: str | None = None  # "stall" or "rotation" while a replacement link is due/opening
        self.replace_attempt = 0
        self.next_replace_at = 0.0
        self.ever_connected = False


class AttemptLimiter:
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
