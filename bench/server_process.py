"""The fake Binance server (tests/fake_binance.py) in a child process, driven over a pipe by the benchmarks.

Running it in its own interpreter gives it its own GIL, as a real exchange would have; both processes still share
this machine's two cores.
"""

from __future__ import annotations

import logging
import multiprocessing as mp
from typing import Any

from fake_binance import FakeBinance


def _serve(conn, options: dict) -> None:
    """Child process: run the server; answer ("stream", ...), ("stream_quotes", ...), ("stop_quotes", timeout),
    ("stop_stream",), ("history", sym) or any FakeBinance method call ("call", name, args, kwargs) until
    ("close",)."""
    logging.basicConfig(level=logging.WARNING)
    job = None
    with FakeBinance(**options) as fb:
        conn.send((fb.ws_base, fb.rest_base))
        while True:
            message = conn.recv()
            command = message[0]
            if command == "close":
                if job is not None:
                    job.stop()
                return
            if command == "stream":
                job = fb.stream_trades(message[1], count=message[2], rate_per_s=message[3])
                reply: Any = True
            elif command == "stream_quotes":
                quote_job = fb.stream_quotes(message[1], count=message[2], rate_per_s=message[3])
                reply = True
            elif command == "stop_quotes":
                quote_job.stop()
                reply = quote_job.wait(message[1]).done
            elif command == "wait_stream":
                reply = job.wait(message[1]).done if job is not None else True
            elif command == "stop_stream":
                if job is not None:
                    job.stop()
                reply = True
            elif command == "history":
                ids = fb.history_ids(message[1])
                reply = (ids.start, ids.stop)
            else:
                _, name, args, kwargs = message
                result = getattr(fb, name)(*args, **kwargs)
                reply = result if isinstance(result, (bool, int, float, str, list, tuple, type(None))) else None
            conn.send(reply)


class ServerProcess:
    """Context manager: `.ws_base`, `.rest_base`, and `.call(...)` / `.send(...)` to drive the child server."""

    def __init__(self, **options: Any) -> None:
        self.options = options

    def __enter__(self) -> ServerProcess:
        self.conn, child = mp.Pipe()
        self.proc = mp.get_context("fork").Process(target=_serve, args=(child, self.options), daemon=True)
        self.proc.start()
        self.ws_base, self.rest_base = self.conn.recv()
        return self

    def send(self, *message: Any) -> Any:
        """Send a raw command tuple and return the child's reply."""
        self.conn.send(message)
        return self.conn.recv()

    def call(self, name: str, *args: Any, **kwargs: Any) -> Any:
        """Call a FakeBinance method in the child (faults, wait_subscribed, ...)."""
        return self.send("call", name, args, kwargs)

    def __exit__(self, *exc: object) -> None:
        self.conn.send(("close",))
        self.proc.join(10)
        if self.proc.is_alive():
            self.proc.kill()
