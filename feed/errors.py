"""Feed exceptions: the errors the parsers, REST client and archive client raise for callers to catch."""

from __future__ import annotations

from collections.abc import Sequence


# ============================================================================================================= errors
class TickFileError(ValueError):
    """A tick/bar file could not be parsed; ``line_no`` is 1-based (0 = the file as a whole)."""

    def __init__(self, line_no: int, message: str) -> None:
        super().__init__(f"line {line_no}: {message}" if line_no > 0 else message)
        self.line_no = line_no
        self.message = message


class BinanceRestError(RuntimeError):
    """A REST call failed; carries the HTTP status, Binance's error code/msg when given, and the path."""

    def __init__(
        self,
        message: str,
        *,
        status: int | None = None,
        code: int | None = None,
        msg: str | None = None,
        path: str = "",
        body: str = "",
    ) -> None:
        super().__init__(message)
        self.status = status
        self.code = code
        self.msg = msg
        self.path = path
        self.body = body

    @property
    def transient(self) -> bool:
        """A failure that may pass (no answer, 5xx, rate limit): worth retrying later, unlike a rejected request."""
        return self.status is None or self.status >= 500 or self.status in (418, 429)


class ArchiveError(Exception):
    """A daily archive file could not be fetched or verified; ``status`` is the HTTP status when there was one."""

    def __init__(self, message: str, *, url: str, status: int | None = None) -> None:
        super().__init__(message)
        self.url = url
        self.status = status

    @property
    def missing(self) -> bool:
        """True when the archive answered 404: the file is not published (yet) or never will be."""
        return self.status == 404

    @property
    def transient(self) -> bool:
        """No answer or a 5xx: the file may well be there on a later try."""
        return self.status is None or self.status >= 500


class UnknownSymbolError(ValueError):
    """Symbols that are malformed, not listed, or not TRADING on Binance USD-M futures; ``symbols`` lists them."""

    def __init__(self, symbols: Sequence[str], details: Sequence[str]) -> None:
        super().__init__("not tradable on Binance USD-M futures: " + "; ".join(details))
        self.symbols = list(symbols)
