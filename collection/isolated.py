"""The dashboard's collector in a process of its own, so nothing its server does can starve the exchange socket.

A server process holds one GIL for everything it runs — page scripts, API handlers rendering JSON, scans, backtests,
pandas work — and under load a thread there waits seconds for it: the socket reader then misses its reads and its
pongs, and the exchange cuts it ("ping/pong timed out"). `start_collector_process` spawns a child interpreter that
builds the feed and the `Collector` from the settings and runs them (feed, writer, repair and retention threads);
the server keeps a `CollectorProcess`, the handle the dashboard and the API use exactly as they used the
`Collector`: `stats()`, `state`, `last_error`, `running`, `written`, `feed.kind` / `feed.is_connected()`,
`import_ticks()`, `wait_finished()`, `stop()`.

The two talk over one pipe. The child sends a `CollectorStats` snapshot every STATS_EVERY_S (and its last one when
it ends); the server sends `stop` and the slices of an import, each answered once committed. The handle's relay
thread (named like the writer thread, so `current_collector()` finds it the same way) reads the pipe until the child
ends. A child that loses its server (the pipe closes) or gets SIGTERM stops its collector the ordinary way: every
queued tick is flushed first.
"""

from __future__ import annotations

import contextlib
import dataclasses
import itertools
import logging
import multiprocessing
import multiprocessing.connection
import multiprocessing.util  # its exit hook (joining children) is registered before service's (stopping them)
import pickle
import signal
import threading
import time
from collections.abc import Callable, Sequence
from typing import Any

from collection.collector import WRITER_THREAD, Collector
from collection.records import BackfillProgress, CollectorState, CollectorStats, ImportBatch
from config import Settings, configure_logging
from core.processes import start_clean
from core.vocabulary import FeedKind, StreamKind
from data_feed import FeedStats, Tick

log = logging.getLogger(__name__)

STATS_EVERY_S = 0.25  # the child's stats snapshots: what the sidebar and /api/ingest/status show is this fresh
START_TIMEOUT_S = 120.0  # a new interpreter imports the project, then validates symbols over REST
STOP_MARGIN_S = 5.0  # on top of the collector's own stop timeout, for the child to exit
PROCESS_NAME = "collector-process"
Build = Callable[[Settings, str, str | None], Collector]  # (settings, feed kind, replay file) -> a collector


class RemoteFeed:
    """The feed as the server sees it: its kind and stream, and its state from the latest snapshot."""

    def __init__(self, handle: CollectorProcess, kind: FeedKind, stream: StreamKind | None) -> None:
        self._handle = handle
        self.kind = kind
        self.stream = stream

    def get_stats(self) -> FeedStats:
        return self._handle.stats().feed

    def is_connected(self) -> bool:
        return self.get_stats().connected


class CollectorProcess:
    """The server's handle on a collector running in a child process (see the module docstring)."""

    def __init__(self, db_target: str) -> None:
        self.db_target = db_target
        self.pid: int | None = None
        self.feed: RemoteFeed
        self._latest: CollectorStats
        self._finished = threading.Event()
        self._ended = threading.Event()
        self._stopping = False
        self._stopped = False
        self._exit_error = ""
        self._send_lock = threading.Lock()
        self._stop_lock = threading.Lock()
        self._imports: dict[int, ImportBatch] = {}
        self._import_ids = itertools.count(1)
        self._process: multiprocessing.process.BaseProcess | None = None
        self._conn: multiprocessing.connection.Connection | None = None
        self._relay: threading.Thread | None = None

    # ------------------------------------------------------------------------------------------------- the view
    @property
    def state(self) -> CollectorState:
        latest = self._latest.state
        if latest is CollectorState.FAILED or self._exit_error:
            return CollectorState.FAILED
        if self._stopped:
            return CollectorState.STOPPED
        return CollectorState.STOPPING if self._stopping else latest

    @property
    def last_error(self) -> str:
        return self._exit_error or self._latest.last_error

    @property
    def running(self) -> bool:
        return self.state in (CollectorState.STARTING, CollectorState.RUNNING)

    @property
    def written(self) -> int:
        return self._latest.written

    @property
    def symbols(self) -> tuple[str, ...]:
        return self._latest.symbols

    @property
    def backfill_progress(self) -> dict[str, BackfillProgress]:
        return dict(self._latest.backfill)

    def stats(self) -> CollectorStats:
        """The child's latest snapshot (at most STATS_EVERY_S old while it runs), with this handle's state."""
        return dataclasses.replace(self._latest, state=self.state, last_error=self.last_error)

    def wait_finished(self, timeout: float | None = None) -> bool:
        """Block until a finite feed (replay) has ended and everything it produced is stored."""
        return self._finished.wait(timeout)

    # ------------------------------------------------------------------------------------------------ lifecycle
    def start(
        self, build: Build, settings: Settings, feed_kind: str, symbols: Sequence[str], replay: str | None
    ) -> None:
        """Spawn the child, where `build(settings, feed_kind, replay)` makes the collector (a module-level function:
        it crosses the pipe by name), and wait until the collector has started; its refusal (an unknown symbol, a
        bad replay file, an unusable database) is raised here as the same kind of error."""
        context = multiprocessing.get_context("spawn")
        conn, child_conn = context.Pipe()
        # Not a daemon: a daemon may not start the retention pass's own process. The server's exit hook
        # (service.stop_service) stops it before multiprocessing joins its children.
        process = context.Process(
            target=run_child,
            args=(child_conn, build, settings, feed_kind, tuple(symbols), replay),
            name=PROCESS_NAME,
            daemon=False,
        )
        start_clean(process)
        child_conn.close()
        self._process, self._conn, self.pid = process, conn, process.pid
        try:
            if not conn.poll(START_TIMEOUT_S):
                raise RuntimeError(f"the collector process did not start within {START_TIMEOUT_S:.0f} s")
            message = conn.recv()
        except (EOFError, OSError, RuntimeError) as exc:
            self._end_process()
            self._close()
            if isinstance(exc, RuntimeError):
                raise
            raise RuntimeError(f"the collector process ended at its start (exit code {process.exitcode})") from None
        if message[0] == "refused":
            self._end_process()
            self._close()
            raise message[1]
        _, kind, stream, self._latest = message
        self.feed = RemoteFeed(self, kind, stream)
        relay = threading.Thread(target=self._relay_messages, name=WRITER_THREAD, daemon=True)
        relay.collector = self  # type: ignore[attr-defined]  # lets service.current_collector() find it
        self._relay = relay
        relay.start()

    def stop(self, timeout: float = 10.0) -> None:
        """Ask the child to stop its collector (everything queued is flushed) and wait for it to exit; a child
        that does not is terminated (SIGTERM: the same stop), then killed. Idempotent."""
        with self._stop_lock:
            if self._stopped:
                return
            self._stopping = True
            with contextlib.suppress(OSError):  # (the child has gone already)
                self._send(("stop",))
            if not self._ended.wait(timeout + STOP_MARGIN_S):
                log.warning("the collector process did not stop within %.0f s; terminating it", timeout)
            self._end_process()
            if self._relay is not None:
                self._relay.join(STOP_MARGIN_S)
            self._close()
            self._stopped = True

    def import_ticks(self, ticks: list[Tick], timeout_s: float = 120.0) -> ImportBatch:
        """Store a bounded slice of an imported file through the child's writer, between its live batches; waits
        until the slice is committed (or the child says why not)."""
        batch = ImportBatch(ticks)
        number = next(self._import_ids)
        self._imports[number] = batch
        try:
            self._send(("import", number, ticks))
            if not batch.done.wait(timeout_s):
                batch.error = batch.error or f"the collector process did not store the slice within {timeout_s:.0f} s"
        except OSError as exc:
            batch.error = f"the collector process is gone ({exc})"
        finally:
            self._imports.pop(number, None)
        return batch

    # -------------------------------------------------------------------------------------------------- plumbing
    def _send(self, message: tuple) -> None:
        if self._conn is None:
            raise OSError("not started")
        with self._send_lock:
            self._conn.send(message)

    def _relay_messages(self) -> None:
        """Relay thread: take the child's snapshots and answers until it ends."""
        assert self._conn is not None  # set by start() before this thread runs
        try:
            while True:
                message = self._conn.recv()
                kind = message[0]
                if kind == "stats":
                    self._latest = message[1]
                    if message[2]:
                        self._finished.set()
                elif kind == "imported":
                    batch = self._imports.get(message[1])
                    if batch is not None:
                        batch.inserted, batch.duplicates, batch.error = message[2], message[3], message[4]
                        batch.done.set()
                elif kind == "ended":
                    self._latest = message[1]
                    break
        except (EOFError, OSError):
            if not self._stopping:
                self._process_died()
        finally:
            for batch in list(self._imports.values()):
                batch.error = batch.error or "the collector process ended"
                batch.done.set()
            self._ended.set()

    def _process_died(self) -> None:
        process = self._process
        if process is not None:
            process.join(1.0)
        code = process.exitcode if process is not None else None
        self._exit_error = f"the collector process ended unexpectedly (exit code {code})"
        log.error("%s", self._exit_error)

    def _end_process(self) -> None:
        """Make sure the child has exited: wait, then SIGTERM (a graceful stop), then SIGKILL."""
        process = self._process
        if process is None:
            return
        process.join(0.5 if process.exitcode is None else 0)
        if process.is_alive():
            process.terminate()
            process.join(STOP_MARGIN_S)
        if process.is_alive():
            process.kill()
            process.join(STOP_MARGIN_S)

    def _close(self) -> None:
        if self._conn is not None:
            self._conn.close()


def start_collector_process(
    build: Build, settings: Settings, feed_kind: str, symbols: Sequence[str], replay_file: str | None = None
) -> CollectorProcess:
    """The collector `build` makes of these settings and feed, running on these symbols in a child process once
    this returns."""
    handle = CollectorProcess(settings.db_target)
    handle.start(build, settings, feed_kind, symbols, replay_file)
    return handle


# ---------------------------------------------------------------------------------------------------- the child
def run_child(
    conn: multiprocessing.connection.Connection,
    build: Build,
    settings: Settings,
    feed_kind: str,
    symbols: tuple[str, ...],
    replay_file: str | None,
) -> None:
    """Child process body: build and start the collector, then send snapshots and serve commands until told to
    stop, SIGTERM, the server gone (the pipe closed) or the writer failed; then stop it (flushing the queue)."""
    configure_logging(settings.log_level)
    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # a terminal's Ctrl-C reaches the server, which stops us
    send_lock = threading.Lock()

    def send(message: tuple) -> None:
        with send_lock:
            conn.send(message)

    try:
        collector = build(settings, feed_kind, replay_file)
    except Exception as exc:  # broad on purpose: whatever refuses the start is the server's to show
        send(("refused", _portable(exc)))
        return
    try:
        collector.start(symbols)
    except Exception as exc:  # the same, once the collector's threads are stopped again
        collector.stop()
        send(("refused", _portable(exc)))
        return
    send(("started", collector.feed.kind, collector.feed.stream, collector.stats()))

    def store(number: int, ticks: list[Tick]) -> None:
        batch = collector.import_ticks(ticks)
        send(("imported", number, batch.inserted, batch.duplicates, batch.error))

    next_snapshot = time.monotonic()
    try:
        while not stop.is_set() and collector.state is not CollectorState.FAILED:
            if conn.poll(max(0.0, next_snapshot - time.monotonic())):
                message = conn.recv()
                if message[0] == "stop":
                    break
                if message[0] == "import":
                    threading.Thread(target=store, args=message[1:], name="collector-import", daemon=True).start()
                continue
            send(("stats", collector.stats(), collector.wait_finished(0)))
            next_snapshot = time.monotonic() + STATS_EVERY_S
    except (EOFError, OSError):
        log.warning("the server of this collector process has gone; stopping the collector")
    finally:
        collector.stop()
    with contextlib.suppress(OSError):  # (a server that has gone reads nothing more)
        send(("ended", collector.stats()))


def _portable(exc: BaseException) -> BaseException:
    """The exception itself if it survives the pipe, else one of its standard kinds with its message (so the
    server answers it the same way: ValueError and OSError are the user's to fix, RuntimeError ours)."""
    try:
        pickle.loads(pickle.dumps(exc))
    except Exception:  # broad on purpose: any exception that cannot be rebuilt is replaced, never lost
        kind: Any = next((k for k in (ValueError, OSError) if isinstance(exc, k)), RuntimeError)
        return kind(str(exc))
    return exc
