"""``FrameRecorder``: writes raw WebSocket frames (``<receive_ns> <json>`` lines) so a live session can be replayed."""

from __future__ import annotations

import gzip
import threading
import time
from pathlib import Path
from typing import Any


# ============================================================================================================ recorder
class FrameRecorder:
    """Thread-safe writer of raw frames as ``<receive_ns> <json>`` lines (gzip when the path ends in .gz).

    Appends (a restarted recording continues the file; gzip members concatenate). Lines are buffered and written at
    least once a second; ``close()`` flushes everything.
    """

    _FLUSH_BYTES = 256 * 1024
    _FLUSH_S = 1.0

    def __init__(self, path: str | Path) -> None:
        self.path = Path(path)
        self.frames = 0
        self._lock = threading.Lock()
        self._buffer: list[bytes] = []
        self._buffered = 0
        self._last_flush = time.monotonic()
        # the file stays open for the recorder's whole life (closed by close() / __exit__)
        self._file: Any = (
            gzip.open(self.path, "ab", compresslevel=6)
            if self.path.suffix == ".gz"
            else open(self.path, "ab")
        )

    def write(self, raw: bytes | str, receive_ns: int | None = None) -> None:
        """Record one frame (newlines inside it become spaces, which JSON treats alike)."""
        data = raw.encode("utf-8") if isinstance(raw, str) else bytes(raw)
        if b"\n" in data or b"\r" in data:
            data = data.replace(b"\r", b" ").replace(b"\n", b" ")
        line = b"%d %s\n" % (time.time_ns() if receive_ns is None else receive_ns, data)
        with self._lock:
            if self._file is None:
                return
            self._buffer.append(line)
            self._buffered += len(line)
            self.frames += 1
            if self._buffered >= self._FLUSH_BYTES or time.monotonic() - self._last_flush >= self._FLUSH_S:
                self._write_buffer()

    def flush(self) -> None:
        """Write buffered lines to the file."""
        with self._lock:
            if self._file is not None:
                self._write_buffer()
                self._file.flush()

    def close(self) -> None:
        """Flush and close (idempotent)."""
        with self._lock:
            if self._file is None:
                return
            self._write_buffer()
            self._file.close()
            self._file = None

    def _write_buffer(self) -> None:
        if self._buffer:
            self._file.write(b"".join(self._buffer))
            self._buffer.clear()
            self._buffered = 0
        self._last_flush = time.monotonic()

    def __enter__(self) -> FrameRecorder:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
