"""Building a collector from the settings, and the one collector of a process (the dashboard shares it across
browser tabs and Streamlit reruns). That one runs in a child process of its own (collection.isolated), so the
server's work never starves its exchange socket; `python collector.py` runs a `Collector` in its own process."""

from __future__ import annotations

import atexit
import threading
from collections.abc import Callable, Sequence
from dataclasses import dataclass

from collection.collector import WRITER_THREAD, Collector
from collection.isolated import CollectorProcess, start_collector_process
from collection.pipeline import Retention
from collection.records import CollectorState
from config import ConfigError, Settings
from core.clock import now_ms
from core.vocabulary import FeedKind
from data_feed import (
    BAR_FORMATS,
    BinanceArchive,
    BinanceFuturesFeed,
    BinanceRest,
    DataFeed,
    FrameRecorder,
    ReplayFeed,
    SideStream,
    SimulatedFeed,
    TickFileError,
    detect_tick_format,
)


@dataclass(frozen=True)
class FeedOptions:
    """A caller's choices that override the settings for one feed (the CLI's --replay-file, --speed, --record)."""

    replay_file: str | None = None
    speed: float | None = None
    record: str | None = None


def _binance_feed(settings: Settings, options: FeedOptions) -> DataFeed:
    return BinanceFuturesFeed(
        settings.ws_url,
        stream=settings.stream,
        stall_first_s=settings.stall_first_s,
        stall_idle_s=settings.stall_idle_s,
        recorder=FrameRecorder(options.record) if options.record else None,
    )


def _simulated_feed(settings: Settings, options: FeedOptions) -> DataFeed:
    return SimulatedFeed(speed=options.speed or 1.0, quotes=settings.record_quotes, funding=settings.record_funding)


def _replay_feed(settings: Settings, options: FeedOptions) -> DataFeed:
    path = options.replay_file or settings.replay_file
    if not path:
        raise ConfigError("the replay feed needs a file: set REPLAY_FILE or pass --replay-file")
    feed = ReplayFeed(path, speed=settings.replay_speed if options.speed is None else options.speed)
    for file in feed.paths:  # an unreadable, unrecognised or bar file is refused here, by name
        if detect_tick_format(file) in BAR_FORMATS:
            raise TickFileError(
                0,
                f"{file.name} holds OHLCV bars; a replay needs ticks (import bars with "
                "`python collector.py import FILE --bars TIMEFRAME` or the Upload section)",
            )
    return feed


# The registry of feeds: a new feed is a FeedKind member and one row here (its factory builds it from the settings).
FEEDS: dict[FeedKind, Callable[[Settings, FeedOptions], DataFeed]] = {
    FeedKind.BINANCE: _binance_feed,
    FeedKind.SIMULATED: _simulated_feed,
    FeedKind.REPLAY: _replay_feed,
}


def make_feed(
    settings: Settings,
    kind: str | None = None,
    *,
    replay_file: str | None = None,
    speed: float | None = None,
    record: str | None = None,
) -> DataFeed:
    """Build the feed the settings (or the caller) choose through its factory in FEEDS; a kind without one (a typo,
    or a FeedKind member nobody registered) is a ConfigError naming it and the known feeds."""
    chosen = kind or settings.data_feed
    try:
        factory = FEEDS[FeedKind(chosen)]
    except (ValueError, KeyError):
        raise ConfigError(f"unknown feed {chosen!r}: expected one of {', '.join(FEEDS)}") from None
    return factory(settings, FeedOptions(replay_file, speed, record))


def side_feeds(settings: Settings) -> list[DataFeed]:
    """The live feed's extra connections the settings ask for: bookTicker on the /public route (RECORD_QUOTES) and
    markPrice@1s on the /market route (RECORD_FUNDING), each with the trade feed's stall watchdog."""
    wanted = [(settings.record_quotes, settings.ws_public_url, SideStream.BOOK_TICKER)]
    wanted.append((settings.record_funding, settings.ws_url, SideStream.MARK_PRICE))
    return [
        BinanceFuturesFeed(url, stream=stream, stall_first_s=settings.stall_first_s, stall_idle_s=settings.stall_idle_s)
        for on, url, stream in wanted
        if on
    ]


def make_collector(settings: Settings, feed: DataFeed, db_target: str | None = None) -> Collector:
    """A collector wired with the settings' batching, REST and archive repair, backfill, quote and funding
    choices."""
    live = feed.kind is FeedKind.BINANCE
    rest = BinanceRest(settings.rest_url, max_weight_per_min=settings.rest_max_weight_per_min) if live else None
    archive = BinanceArchive(settings.archive_url) if live and settings.archive_repair else None
    return Collector(
        db_target or settings.db_target,
        feed,
        batch_size=settings.batch_size,
        flush_interval_ms=settings.flush_interval_ms,
        queue_max=settings.queue_max,
        rest=rest,
        repair_gaps=settings.repair_gaps,
        backfill_minutes=settings.backfill_minutes,
        backfill_kline_hours=settings.backfill_kline_hours,
        archive=archive,
        universe_quote=settings.universe_quote,
        retention=Retention(settings.tick_retention_days, settings.cold_dir) if settings.tick_retention_days else None,
        record_quotes=settings.record_quotes,
        record_funding=settings.record_funding,
        funding_days=settings.funding_history_days,
        side_feeds=side_feeds(settings) if live else (),
    )


def build_collector(settings: Settings, feed_kind: str, replay_file: str | None) -> Collector:
    """The dashboard's collector, as its own process builds it (start_service)."""
    return make_collector(settings, make_feed(settings, feed_kind, replay_file=replay_file))


RunningCollector = Collector | CollectorProcess  # a collector of this process, or the handle on one in its own

_SERVICE_LOCK = threading.Lock()
_latest: list[RunningCollector] = []  # the last one started here, so a failed one stays visible and stoppable
_stopped_at: list[int] = [0]  # when a collector of this process last stopped (epoch ms)


def current_collector() -> RunningCollector | None:
    """The process's running collector, found through its live writer thread, or the relay thread of the one in
    its own process (survives module reloads); else one whose writer failed, so every browser session sees the
    error and Stop still reaches its feed."""
    for thread in threading.enumerate():
        found = getattr(thread, "collector", None)
        if thread.name == WRITER_THREAD and found is not None and found.state is not CollectorState.STOPPED:
            return found
    if _latest and _latest[0].state is CollectorState.FAILED:
        return _latest[0]
    return None


def last_stop_ms() -> int:
    """When a collector of this process last stopped (0: never); ticks received later were written by another."""
    return _stopped_at[0]


def start_service(
    settings: Settings, feed_kind: str, symbols: Sequence[str], *, replay_file: str | None = None
) -> CollectorProcess:
    """Start the process-wide collector in a child process (stopping a previous one first); shared by every
    browser session. Returns once it runs; what refuses its start (an unknown symbol, a bad replay file, an unusable
    database) is raised here."""
    with _SERVICE_LOCK:
        previous = current_collector()
        if previous is not None:
            previous.stop()
            _stopped_at[0] = now_ms()
        collector = start_collector_process(build_collector, settings, feed_kind, symbols, replay_file)
        _latest[:] = [collector]
        return collector


def stop_service() -> None:
    """Stop the process-wide collector, flushing everything queued (also run once at interpreter exit)."""
    with _SERVICE_LOCK:
        running = current_collector()
        if running is not None:
            running.stop()
            _stopped_at[0] = now_ms()
        if not (_latest and _latest[0].state is CollectorState.FAILED):
            _latest.clear()  # a stopped collector is not kept alive; a failed one stays visible


# One exit hook for the process (not one per Start, which kept every stopped Collector alive). Exit hooks run last
# registered first: multiprocessing's, which joins the collector's process, was registered before (isolated imports
# multiprocessing.util), so this one has stopped that process by then.
atexit.register(stop_service)
