"""``BinanceFuturesFeed``: the live Binance USD-M WebSocket feed (its supervisor; links live in ``feed.ws_link``).

Own reconnect loop (capped exponential backoff + jitter, <= 300 attempts per 5 minutes), per-stream liveness
watchdog, proactive rotation before Binance's 24 h cut (overlap, switch, de-duplicate by id), <= 1024 streams
per connection.
"""

from __future__ import annotations

import itertools
import json
import logging
import random
import threading
import time
from collections.abc import Sequence

from core.clock import now_ms
from core.symbols import validate_symbols
from core.trade_ids import implausible_jump
from core.vocabulary import FeedKind, StreamKind
from feed.base import DataFeed, join_thread
from feed.frames import ID_KEYS, Frame, FrameKind, decode_frame
from feed.recorder import FrameRecorder
from feed.records import (
    DEFAULT_WS_BASE,
    MAX_STREAMS_PER_CONNECTION,
    STREAMS_PER_CONNECTION,
    EventKind,
    FeedState,
    MarkPrice,
    Quote,
    SideStream,
)
from feed.values import describe_exc, preview
from feed.ws_link import AttemptLimiter, Link, LinkOptions, Role, Slot

log = logging.getLogger("data_feed")  # one logger name for the whole feed layer, as before the split


# ======================================================================================================= Binance feed
_SUBSCRIBE_SPACING_S = 0.25  # <= 4 control messages/s per connection (Binance allows 10 incl. pings/pongs)
_PLACEHOLDER_IDS_KEPT = 1000


class BinanceFuturesFeed(DataFeed):
    """Live Binance USD-M trades over WebSocket (websocket-client), built to run 24/7 without silent holes.

    * Connects to ``{ws_base_url}/stream?streams=<sym>@<stream>/...`` (the routed ``/market`` path serves
      aggTrade since 2026-04-23; the unrouted paths acknowledge and stay silent). Up to ``url_streams_max`` streams
      go in the URL, the rest of a connection's streams (<= ``max_streams_per_connection``) are SUBSCRIBEd at
      <= 4 messages/s; more symbols use more connections.
    * Own reconnect loop: capped exponential backoff with jitter, reset once a connection has delivered data (a
      server that cuts often is answered within ``backoff_initial_s`` every time); at most ``max_connect_attempts``
      per ``connect_window_s`` (Binance: 300 per 5 min).
    * Liveness per stream: no message within ``stall_first_s`` of subscribing, or none for ``stall_idle_s`` on a
      stream that was flowing -> log, stats state "stalled" with the stream names, FeedEvent("stalled"), reconnect.
    * Make-before-break replacement, used both for stalls (after the backoff delay) and for the rotation before
      the 24 h server cut (after ``rotate_after_s``): a standby connection subscribes the same streams and buffers;
      after ``rotation_overlap_s`` it takes over, the old one is closed, and the buffer is merged through the
      per-symbol id de-duplication (FeedEvent("rotated") / "connected"). So one silent or illiquid stream never
      punches holes into the streams that still flow. Only a connection that actually ends is replaced after it
      is gone (FeedEvent("disconnected"), "reconnecting"). Ticks with an id <= the last id seen for the symbol
      are dropped and counted (``duplicates_dropped``); gap detection and repair are the collector's job.
    * Trade streams: zero-price placeholder rows are not ticks; their ids are counted in stats
      (``placeholders``, ``placeholder_ids``, ``last_ids``) so they are not mistaken for gaps.
    * The tick callback runs on a socket thread (or the supervisor thread while a rotation buffer is merged),
      in id order per symbol, under the feed lock: keep it cheap. ``disconnect()`` returns within about 1 s.
    """

    kind = FeedKind.BINANCE

    def __init__(
        self,
        ws_base_url: str = DEFAULT_WS_BASE,
        stream: str = StreamKind.AGG_TRADE,
        *,
        stall_first_s: float = 10.0,
        stall_idle_s: float = 60.0,
        rotate_after_s: float = 23 * 3600,
        rotation_overlap_s: float = 5.0,
        backoff_initial_s: float = 1.0,
        backoff_max_s: float = 30.0,
        ping_interval_s: float = 20,
        recorder: FrameRecorder | None = None,
        max_streams_per_connection: int = STREAMS_PER_CONNECTION,
        url_streams_max: int = 200,
        connect_timeout_s: float = 10.0,
        skip_utf8_validation: bool = True,
        max_connect_attempts: int = 300,
        connect_window_s: float = 300.0,
    ) -> None:
        super().__init__()
        if stream not in ID_KEYS and stream not in tuple(SideStream):
            raise ValueError(
                f"stream {stream!r} is not supported: use 'aggTrade' (default) or 'trade', or a side stream "
                f"({', '.join(SideStream)})"
            )
        if not ws_base_url.startswith(("ws://", "wss://")):
            raise ValueError(f"WebSocket base URL {ws_base_url!r} must start with ws:// or wss://")
        if not 1 <= max_streams_per_connection <= MAX_STREAMS_PER_CONNECTION or url_streams_max < 1:
            raise ValueError(
                f"max_streams_per_connection must be 1..{MAX_STREAMS_PER_CONNECTION} and url_streams_max >= 1"
            )
        for name, value in (
            ("stall_first_s", stall_first_s),
            ("stall_idle_s", stall_idle_s),
            ("rotate_after_s", rotate_after_s),
            ("backoff_initial_s", backoff_initial_s),
            ("backoff_max_s", backoff_max_s),
            ("connect_timeout_s", connect_timeout_s),
        ):
            if not value > 0:
                raise ValueError(f"{name} must be positive, got {value!r}")
        self.ws_base_url = ws_base_url.rstrip("/")
        self.stream: StreamKind | None = StreamKind(stream) if stream in ID_KEYS else None
        self.wire_stream = str(stream)  # the trade stream, or the side stream a quote/mark-price feed carries
        self.recorder = recorder
        self._stall_first_s = stall_first_s
        self._stall_idle_s = stall_idle_s
        self._rotate_after_s = rotate_after_s
        self._overlap_s = max(0.0, rotation_overlap_s)
        self._backoff_initial_s = backoff_initial_s
        self._backoff_max_s = backoff_max_s
        self._max_streams = max_streams_per_connection
        self._url_streams_max = url_streams_max
        self._link_options = LinkOptions(connect_timeout_s, max(0.0, float(ping_interval_s)), skip_utf8_validation)
        self._limiter = AttemptLimiter(max_connect_attempts, connect_window_s)
        self._tick_s = max(0.02, min(0.1, stall_first_s / 5))
        self._rng = random.Random()
        self._stop = threading.Event()
        self._last_ts: dict[str, int] = {}  # exchange time of the last delivered id per symbol
        self._last_side: dict[str, int] = {}  # update id (quotes) or event time (mark prices) last delivered
        self._wake = threading.Event()
        self._supervisor: threading.Thread | None = None
        self._slots: list[Slot] = []
        self._links: set[Link] = set()
        self._requests: dict[int, tuple[Link, list[str]]] = {}
        self._request_ids = itertools.count(1)
        self._stalled: set[str] = set()

    def stream_name(self, symbol: str) -> str:
        """Wire name of a symbol's stream, e.g. ``btcusdt@aggTrade`` or ``btcusdt@bookTicker``."""
        return f"{symbol.lower()}@{self.wire_stream}"

    # ------------------------------------------------------------------------------------------------ public API
    def connect(self, symbols: Sequence[str]) -> None:
        """Validate symbols and start the supervisor, which opens and maintains the connections."""
        clean = validate_symbols(symbols)
        with self._lock:
            if self._supervisor is not None:
                raise RuntimeError("feed is already connected; call disconnect() first")
            self._stop.clear()
            self._slots = [Slot(clean[i : i + self._max_streams]) for i in range(0, len(clean), self._max_streams)]
            self._stalled.clear()
            stats = self._stats
            stats.state, stats.source = FeedState.CONNECTING, self.ws_base_url
            stats.streams = [self.stream_name(s) for s in clean]
            stats.started_at = now_ms()
            self._supervisor = threading.Thread(target=self._supervise, name="binance-feed-supervisor", daemon=True)
            self._supervisor.start()

    def disconnect(self) -> None:
        """Stop the supervisor and every connection (close frame + socket shutdown); returns within ~1 s."""
        with self._lock:
            supervisor, self._supervisor = self._supervisor, None
        if supervisor is None:
            return
        deadline = time.monotonic() + 1.0
        self._stop.set()
        self._wake.set()
        join_thread(supervisor, 0.5)
        links = list(self._links)
        for link in links:
            link.close()
        for link in links:
            join_thread(link.thread, deadline - time.monotonic())
        with self._lock:
            self._links.clear()
            self._slots = []
            stats = self._stats
            stats.state, stats.connected, stats.connections, stats.stalled_streams = FeedState.STOPPED, False, 0, []
        log.info("%s feed stopped", self.kind)

    def is_connected(self) -> bool:
        """True while at least one connection is open."""
        with self._lock:
            return self._stats.connected

    # ------------------------------------------------------------------------------------------- socket threads
    def _on_frame(self, link: Link, raw: bytes | str) -> None:
        """Hot path, once per frame on a socket thread: record, decode, liveness, de-dup, deliver."""
        receive_ns = time.time_ns()
        recorder = self.recorder
        if recorder is not None:
            recorder.write(raw, receive_ns)
        frame = decode_frame(raw, receive_ns // 1_000_000)
        kind = frame.kind
        with self._lock:
            self._stats.frames += 1
            if kind is FrameKind.TICK or kind is FrameKind.PLACEHOLDER:
                symbol = frame.tick.symbol if frame.tick is not None else frame.symbol
                assert symbol is not None  # decode_frame sets the tick (TICK) or the symbol (PLACEHOLDER)
                link.last_seen[symbol] = time.monotonic()
                if link.role is Role.ACTIVE:
                    self._apply(frame)
                elif link.role is Role.STANDBY:
                    link.buffer.append(frame)
            elif kind is FrameKind.QUOTE or kind is FrameKind.MARK:
                record = frame.quote or frame.mark
                assert record is not None  # decode_frame sets the quote (QUOTE) or the mark (MARK)
                link.last_seen[record.symbol] = time.monotonic()
                if link.role is Role.ACTIVE:
                    self._apply_side(record)
                elif link.role is Role.STANDBY:
                    link.buffer.append(frame)
            else:
                self._on_other_frame(link, frame, raw)

    def _apply(self, frame: Frame) -> None:
        """De-duplicate by per-symbol id and deliver a tick, or account a placeholder (lock held)."""
        stats = self._stats
        side = frame.quote or frame.mark
        if side is not None:  # a standby link's buffered quote or mark price, merged at a switch
            self._apply_side(side)
            return
        tick = frame.tick
        if tick is not None:  # a TICK frame
            last = stats.last_ids.get(tick.symbol)
            if last is not None and tick.trade_id <= last:
                stats.duplicates_dropped += 1
                return
            if last is not None and implausible_jump(
                last, self._last_ts.get(tick.symbol), tick.trade_id, tick.timestamp
            ):
                stats.quarantined += 1  # trusting it would drop every later real trade as a "duplicate"
                stats.last_error = (
                    f"{tick.symbol}: implausible trade id {tick.trade_id} after {last} quarantined (not stored)"
                )
                self._ratelog(logging.WARNING, f"quarantine-{tick.symbol}", "%s", stats.last_error)
                return
            stats.last_ids[tick.symbol] = tick.trade_id
            self._last_ts[tick.symbol] = tick.timestamp
            self._deliver(tick)
            return
        symbol, trade_id = frame.symbol, frame.trade_id
        assert symbol is not None and trade_id is not None  # a PLACEHOLDER frame carries both
        stats.placeholders += 1
        if trade_id > stats.last_ids.get(symbol, trade_id - 1):
            stats.last_ids[symbol] = trade_id
        kept = stats.placeholder_ids.setdefault(symbol, [])
        kept.append(trade_id)
        if len(kept) > 2 * _PLACEHOLDER_IDS_KEPT:
            del kept[:-_PLACEHOLDER_IDS_KEPT]

    def _apply_side(self, record: Quote | MarkPrice) -> None:
        """Deliver a quote or mark-price update once: one the overlap of two links sent twice (an update id, or a
        mark price's event time, not beyond the last delivered) is dropped and counted (lock held)."""
        order = record.update_id if isinstance(record, Quote) else record.timestamp
        last = self._last_side.get(record.symbol)
        if last is not None and order <= last and order:
            self._stats.duplicates_dropped += 1
            return
        self._last_side[record.symbol] = order
        self._deliver_side(record)

    def _on_other_frame(self, link: Link, frame: Frame, raw: bytes | str) -> None:
        """Replies, subscribe errors, unknown events and malformed frames: count and log (lock held)."""
        stats = self._stats
        if frame.kind is FrameKind.REPLY:
            if type(frame.request_id) is int:
                self._requests.pop(frame.request_id, None)
            log.debug("reply to request %s: %r", frame.request_id, frame.result)
        elif frame.kind is FrameKind.ERROR_REPLY:
            request_id = frame.request_id
            _, streams = self._requests.pop(request_id, (None, [])) if type(request_id) is int else (None, [])
            stats.subscribe_errors += 1
            stats.last_error = f"subscribe request {frame.request_id} rejected: {frame.detail}"
            symbols = [s.split("@", 1)[0].upper() for s in streams]
            link.failed.update(symbols)
            targets: list[str | None] = [*symbols] or [None]
            for symbol in targets:
                self._emit(
                    EventKind.SUBSCRIBE_ERROR, f"{stats.last_error} ({', '.join(streams) or 'unknown streams'})", symbol
                )
        elif frame.kind is FrameKind.OTHER:
            stats.unknown_events += 1
            self._ratelog(logging.WARNING, "unknown", "unexpected event type %s: %s", frame.detail, preview(raw))
        else:
            stats.parse_errors += 1
            stats.last_error = f"malformed frame: {frame.detail}"
            self._ratelog(logging.WARNING, "malformed", "skipped malformed frame: %s", frame.detail)

    # ------------------------------------------------------------------------------------------------ supervisor
    def _supervise(self) -> None:
        """Own loop: (re)connect with backoff, subscribe, watch liveness, rotate; wakes on link events."""
        while not self._stop.is_set():
            now = time.monotonic()
            for slot in self._slots:
                try:
                    self._service(slot, now)
                except Exception:  # broad on purpose: the supervisor must survive anything and keep trying
                    self._ratelog(logging.ERROR, "supervisor", "feed supervisor error", exc_info=True)
            self._refresh_state()
            self._wake.wait(self._tick_s)
            self._wake.clear()

    def _service(self, slot: Slot, now: float) -> None:
        self._reap_standby(slot, now)
        if slot.active is not None and slot.active.ended:
            self._on_active_ended(slot, now)
        if slot.active is None and now >= slot.next_attempt_at:
            slot.active = self._start_link(slot, Role.ACTIVE, now)
        active = slot.active
        if active is None or not active.is_open:
            return
        self._announce(slot, active)
        self._send_pending(active, now)
        if slot.replacing is None:
            if self._check_liveness(active, now):
                self._plan_replacement(slot, active, "stall", now)
            elif active.age(now) >= self._rotate_after_s:
                self._plan_replacement(slot, active, "rotation", now)
        if slot.replacing is not None and slot.standby is None and now >= slot.next_replace_at:
            slot.standby = self._start_link(slot, Role.STANDBY, now)
        standby = slot.standby
        if standby is not None and standby.is_open:
            self._send_pending(standby, now)
            if standby.age(now) >= self._overlap_s and not standby.pending:
                self._switch(slot)

    def _plan_replacement(self, slot: Slot, active: Link, reason: str, now: float) -> None:
        """Schedule a make-before-break replacement of the active link (stall recovery or 24 h rotation)."""
        slot.replacing = reason
        if reason == "rotation":
            slot.next_replace_at = now
            return
        if active.last_seen:
            slot.attempt = 0
        delay = self._backoff(slot.attempt)
        slot.attempt += 1
        slot.next_replace_at = now + delay
        self._emit(
            EventKind.RECONNECTING,
            f"opening a fresh connection in {delay:.2f} s; the current one stays "
            "until it is up (no gap for streams that still flow)",
        )

    def _reap_standby(self, slot: Slot, now: float) -> None:
        standby = slot.standby
        if standby is None or not standby.ended:
            return
        slot.standby = None
        self._links.discard(standby)
        delay = self._backoff(slot.replace_attempt)
        slot.replace_attempt += 1
        slot.next_replace_at = now + delay
        self._emit(
            EventKind.ERROR, f"replacement connection failed ({standby.end_reason()}); retrying in {delay:.1f} s"
        )

    def _on_active_ended(self, slot: Slot, now: float) -> None:
        old = slot.active
        assert old is not None  # called only for the slot's active link
        self._links.discard(old)
        standby = slot.standby
        if standby is not None and standby.is_open:
            self._switch(slot)
            return
        slot.active = None
        slot.replacing = None
        if standby is not None:
            standby.close()
            slot.standby = None
        if old.last_seen:  # it delivered data: the server accepts us, so come back at once
            slot.attempt = 0
        delay = self._backoff(slot.attempt)
        slot.attempt += 1
        slot.next_attempt_at = now + delay
        with self._lock:
            self._stats.reconnects += 1
            self._stats.last_error = old.end_reason()
        if old.opened_at is not None:
            self._emit(EventKind.DISCONNECTED, old.end_reason())
        else:
            self._emit(EventKind.ERROR, f"cannot connect to {old.url}: {old.end_reason()}")
        self._emit(EventKind.RECONNECTING, f"reconnecting in {delay:.2f} s (attempt {slot.attempt})")

    def _start_link(self, slot: Slot, role: Role, now: float) -> Link | None:
        """Open a connection for the slot's streams unless the attempt limiter says wait."""
        wait = self._limiter.wait_s(now)
        if wait > 0:
            if role is Role.ACTIVE:
                slot.next_attempt_at = now + wait
            else:
                slot.next_replace_at = now + wait
            self._ratelog(logging.WARNING, "limiter", "connection attempt limit reached; waiting %.0f s", wait)
            return None
        self._limiter.record(now)
        in_url = min(len(slot.symbols), self._url_streams_max)
        url = f"{self.ws_base_url}/stream?streams=" + "/".join(self.stream_name(s) for s in slot.symbols[:in_url])
        link = Link(url, slot.symbols, in_url, role, self._link_options, self._on_frame, self._wake)
        self._links.add(link)
        return link.start()

    def _announce(self, slot: Slot, link: Link) -> None:
        if link.announced:
            return
        link.announced = True
        again = slot.ever_connected
        slot.ever_connected = True
        self._emit(
            EventKind.CONNECTED, f"{'re' if again else ''}connected to {self.ws_base_url} ({len(link.symbols)} streams)"
        )

    def _send_pending(self, link: Link, now: float) -> None:
        """SUBSCRIBE the streams that did not fit in the URL, one message per spacing interval."""
        if not link.pending or now < link.next_sub_at:
            return
        symbols = link.pending.popleft()
        streams = [self.stream_name(s) for s in symbols]
        request_id = next(self._request_ids)
        with self._lock:
            for stale in [rid for rid, (owner, _) in self._requests.items() if owner.ended]:
                del self._requests[stale]
            self._requests[request_id] = (link, streams)
        try:
            link.send(json.dumps({"method": "SUBSCRIBE", "params": streams, "id": request_id}))
        except Exception as exc:  # broad on purpose: a failed send means a dead connection: recycle it
            link.error = f"SUBSCRIBE failed: {describe_exc(exc)}"
            link.close()
            return
        for symbol in symbols:
            link.sub_started[symbol] = now
        link.next_sub_at = now + _SUBSCRIBE_SPACING_S

    def _check_liveness(self, link: Link, now: float) -> bool:
        """Report stalled streams of the active link once (log, stats, events); True if any stalled."""
        first_late: list[str] = []
        idle: list[str] = []
        for symbol in link.symbols:
            started = link.sub_started.get(symbol)
            if started is None or symbol in link.failed:
                continue
            seen = link.last_seen.get(symbol)
            if seen is None:
                if now - started > self._stall_first_s:
                    first_late.append(symbol)
            elif now - seen > self._stall_idle_s:
                idle.append(symbol)
            else:
                self._stalled.discard(self.stream_name(symbol))
        if not first_late and not idle:
            return False
        notes = []
        if first_late:
            notes.append(f"no first message within {self._stall_first_s:g} s of subscribing")
        if idle:
            notes.append(f"silent for more than {self._stall_idle_s:g} s")
        names = [self.stream_name(s) for s in first_late + idle]
        link.stall_note = f"stalled: {', '.join(names)} ({'; '.join(notes)})"
        with self._lock:
            self._stalled.update(names)
            self._stats.stalls += 1
            self._stats.last_error = link.stall_note
        for symbol, name in zip(first_late + idle, names):
            self._emit(EventKind.STALLED, f"{name}: {'; '.join(notes)}; reconnecting", symbol)
        return True

    def _switch(self, slot: Slot) -> None:
        """Make the standby link active: merge its buffer through the de-duplication, retire the old link."""
        old, new, reason = slot.active, slot.standby, slot.replacing or "rotation"
        assert new is not None  # a switch needs an open standby link
        with self._lock:
            before = self._stats.duplicates_dropped
            if old is not None:
                old.role = Role.RETIRED
            new.role = Role.ACTIVE
            for frame in new.buffer:
                self._apply(frame)
            merged = len(new.buffer)
            new.buffer.clear()
            overlap = self._stats.duplicates_dropped - before
            if reason == "rotation":
                self._stats.rotations += 1
            else:
                self._stats.reconnects += 1
        slot.active, slot.standby, slot.replacing = new, None, None
        new.announced = True
        slot.replace_attempt = 0
        if old is not None:
            self._links.discard(old)
            old.close()
        detail = f"{merged} buffered frames merged, {overlap} overlapping ticks de-duplicated"
        if reason == "rotation":
            self._emit(EventKind.ROTATED, f"switched to a fresh connection before the 24 h cut; {detail}")
        else:
            self._emit(
                EventKind.CONNECTED, f"reconnected to {self.ws_base_url} after a stall (make-before-break); {detail}"
            )

    def _backoff(self, attempt: int) -> float:
        """Capped exponential backoff with equal jitter."""
        base = min(self._backoff_max_s, self._backoff_initial_s * 2 ** min(attempt, 30))
        return base * (0.5 + 0.5 * self._rng.random())

    def _refresh_state(self) -> None:
        with self._lock:
            stats = self._stats
            if self._stop.is_set():
                return
            open_links = [link for link in self._links if link.is_open]
            stats.connections = len(open_links)
            stats.connected = any(s.active is not None and s.active.is_open for s in self._slots)
            stats.stalled_streams = sorted(self._stalled)
            if self._stalled:
                stats.state = FeedState.STALLED
            elif self._slots and all(s.active is not None and s.active.is_open for s in self._slots):
                stats.state = FeedState.CONNECTED
            elif any(s.ever_connected for s in self._slots):
                stats.state = FeedState.RECONNECTING
            else:
                stats.state = FeedState.CONNECTING
