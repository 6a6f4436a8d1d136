"""The `/ws/live` heartbeat: one producer reads the latest price per symbol once a second and every connected
client gets the same message, so N clients cost one database read per second, not N."""

from __future__ import annotations

import asyncio
import json
import logging
import time
from typing import Any

import collector
import database
from api.ingest import status
from config import Settings
from service.window import reader

log = logging.getLogger(__name__)
HEARTBEAT_S = 1.0


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
    """Builds one heartbeat a second (in a worker thread) while anyone listens and fans it out."""

    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self.queues: set[asyncio.Queue[str]] = set()
        self.task: asyncio.Task[None] | None = None

    async def run(self) -> None:
        while self.queues:
            try:
                message = json.dumps(await asyncio.to_thread(heartbeat, self.settings))
            except (*database.DatabaseError, OSError) as exc:
                log.warning("heartbeat failed: %s", exc)
                message = json.dumps({"type": "error", "ts": time.time(), "error": str(exc)})
            for queue in list(self.queues):
                if queue.full():
                    queue.get_nowait()  # a slow client skips a beat instead of holding memory
                queue.put_nowait(message)
            await asyncio.sleep(HEARTBEAT_S)
        self.task = None

    def subscribe(self) -> asyncio.Queue[str]:
        queue: asyncio.Queue[str] = asyncio.Queue(maxsize=2)
        self.queues.add(queue)
        if self.task is None:
            self.task = asyncio.create_task(self.run())
        return queue

    def unsubscribe(self, queue: asyncio.Queue[str]) -> None:
        self.queues.discard(queue)
