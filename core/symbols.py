"""The one symbol rule (symbols end up in URLs, SQL and file names): 2-20 upper-case letters or digits; the one
splitter of a comma-separated symbol list (`parse_symbols`); and the one quote-asset vocabulary (`QUOTE_ASSETS`,
`split_symbol`, `base_asset`, `quote_asset`)."""

from __future__ import annotations

import re
from collections.abc import Iterable

SYMBOL_PATTERN = re.compile(r"[A-Z0-9]{2,20}")
UNIVERSE = "ALL"  # SYMBOLS=ALL: every TRADING perpetual of UNIVERSE_QUOTE, listed from exchangeInfo at start
_RULE = "2-20 letters or digits such as BTCUSDT"

# Every quote asset a symbol may end with, longest first, so a suffix match takes FDUSD before USD and USDT
# before USD ("BTCFDUSD" is BTC quoted in FDUSD, not BTCFD quoted in USD).
QUOTE_ASSETS = ("FDUSD", "USDT", "USDC", "BUSD", "TUSD", "USD", "BTC", "ETH", "BNB", "EUR", "TRY")
# The quote assets of Binance USD-M perpetuals: the choices of UNIVERSE_QUOTE and of the Scanner's history loads.
FUTURES_QUOTES = ("USDT", "USDC", "BTC")
DEFAULT_QUOTE = "USDT"


def validate_symbol(symbol: object) -> str:
    """Upper-case a symbol and check it against the rule; ValueError names the bad value."""
    if not isinstance(symbol, str):
        raise ValueError(f"invalid symbol {symbol!r}: expected text such as BTCUSDT")
    clean = symbol.strip()
    if not clean.isascii() or not SYMBOL_PATTERN.fullmatch(clean.upper()):  # "ß".upper() is "SS"
        raise ValueError(f"invalid symbol {symbol!r}: expected {_RULE}")
    return clean.upper()


def validate_symbols(symbols: Iterable[object]) -> tuple[str, ...]:
    """Validate and de-duplicate (order kept); the error names every bad symbol, and an empty list is refused."""
    good: list[str] = []
    bad: list[str] = []
    for raw in symbols:
        try:
            symbol = validate_symbol(raw)
        except ValueError:
            bad.append(repr(raw))
            continue
        if symbol not in good:
            good.append(symbol)
    if bad:
        raise ValueError(f"invalid symbol(s) {', '.join(bad)}: expected {_RULE}")
    if not good:
        raise ValueError("expected at least one symbol, e.g. BTCUSDT,ETHUSDT")
    return tuple(good)


def parse_symbols(raw: str) -> tuple[str, ...]:
    """Split a comma-separated list (any case, blanks ignored) and validate it with `validate_symbols`."""
    return validate_symbols(part for part in raw.split(",") if part.strip())


def split_symbol(symbol: str) -> tuple[str, str]:
    """(base, quote) of a symbol: "BTCUSDT" -> ("BTC", "USDT"), any case, a delivery suffix ("_240628") dropped;
    (symbol, "") when it ends with no known quote asset (or is nothing but one)."""
    sym = str(symbol).upper().split("_", 1)[0]
    for quote in QUOTE_ASSETS:
        if sym.endswith(quote) and len(sym) > len(quote):
            return sym[: -len(quote)], quote
    return sym, ""


def base_asset(symbol: str) -> str:
    """The traded asset of a symbol ("ETHUSDT" -> "ETH"), else the symbol itself (upper-case)."""
    return split_symbol(symbol)[0]


def quote_asset(symbol: str) -> str:
    """The quote asset of a symbol ("ETHUSDT" -> "USDT"), "" when it ends with no known one."""
    return split_symbol(symbol)[1]
