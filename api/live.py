"""The `/ws/live` heartbeat: one producer reads the latest price per symbol once a second and every connected
client gets the same message, so N clients cost one database read per second, not N."""

from __future__ import annotations

import asyncio
import json
import logging
import math
import time
from typing import Any

import collector
import database
from api.ingest import status
from config import Settings
from service.window import reader

log = logging.getLogger(__name__)
HEARTBEAT_S = 1.0
LOG_EVERY_S = 60.0  # at most one log line per this many seconds about failed heartbeats


def heartbeat(settings: Settings) -> dict[str, Any]:
    """`{"type": "heartbeat", "ts", "symbols": {sym: {"price", "time"}}, "collector": {...}}`."""
    with reader(settings.db_target) as conn:
        running = collector.current_collector()
        syms = list(running.stats().symbols) if running is not None else database.stored_symbols(conn)
        prices = database.last_prices(conn, syms)
    return {
        "type": "heartbeat",
        "ts": time.time(),
        "symbols": {s.lower(): {"price": p, "time": t} for s, (t, p) in prices.items()},
        "collector": status(),
    }


class Broadcaster:
    """Builds one heartbeat a second (in a worker thread) while anyone listens and fans it out. A beat that fails,
    whatever the exception (a database error, a row another program wrote, a fault of ours), becomes an error
    message and the loop goes on: one bad beat never silences the socket. Failures are logged at most once per
    LOG_EVERY_S, with the count since."""

    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self.queues: set[asyncio.Queue[str]] = set()
        self.task: asyncio.Task[None] | None = None
        self.failures = 0  # failed beats since the last log line
        self.logged_at = -math.inf

    async def run(self) -> None:
        try:
            while self.queues:
                try:
                    self.fan_out(await self.message())
                except Exception as exc:  # nothing may end the loop: each failure is reported
                    self.report(exc)
                await asyncio.sleep(HEARTBEAT_S)
        finally:
            self.task = None

    async def message(self) -> str:
        """This second's heartbeat, or an error message saying why it could not be built."""
        try:
            return json.dumps(await asyncio.to_thread(heartbeat, self.settings))
        except Exception as exc:  # any failure of one beat is answered, reported and survived
            self.report(exc)
            shown = (
                str(exc)
                if isinstance(exc, (*database.DATABASE_ERRORS, OSError))
                else "internal error (see the server log)"
            )
            return json.dumps({"type": "error", "ts": time.time(), "error": shown})

    def fan_out(self, message: str) -> None:
        for queue in list(self.queues):
            if queue.full():
                queue.get_nowait()  # a slow client skips a beat instead of holding memory
            queue.put_nowait(message)

    def report(self, exc: Exception) -> None:
        """Log a failed beat: the first at once (with its traceback unless the database failed), then at most one
        line per LOG_EVERY_S with the count of failures since."""
        self.failures += 1
        now = time.monotonic()
        if now - self.logged_at < LOG_EVERY_S:
            return
        expected = isinstance(exc, (*database.DATABASE_ERRORS, OSError))
        log.log(
            logging.WARNING if expected else logging.ERROR,
            "heartbeat failed (%d time(s) since the last report): %s",
            self.failures,
            exc,
            exc_info=None if expected else exc,
        )
        self.failures, self.logged_at = 0, now

    def subscribe(self) -> asyncio.Queue[str]:
        queue: asyncio.Queue[str] = asyncio.Queue(maxsize=2)
        self.queues.add(queue)
        if self.task is None or self.task.done():
            self.task = asyncio.create_task(self.run())
        return queue

    def unsubscribe(self, queue: asyncio.Queue[str]) -> None:
        self.queues.discard(queue)
