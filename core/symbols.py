"""The one symbol rule (symbols end up in URLs, SQL and file names): 2-20 upper-case letters or digits."""
from __future__ import annotations

import re
from collections.abc import Iterable

SYMBOL_PATTERN = re.compile(r"[A-Z0-9]{2,20}")
UNIVERSE = "ALL"   # SYMBOLS=ALL: every TRADING perpetual of UNIVERSE_QUOTE, listed from exchangeInfo at start
_RULE = "2-20 letters or digits such as BTCUSDT"


def validate_symbol(symbol: object) -> str:
    """Upper-case a symbol and check it against the rule; ValueError names the bad value."""
    if not isinstance(symbol, str):
        raise ValueError(f"invalid symbol {symbol!r}: expected text such as BTCUSDT")
    clean = symbol.strip().upper()
    if not SYMBOL_PATTERN.fullmatch(clean):
        raise ValueError(f"invalid symbol {symbol!r}: expected {_RULE}")
    return clean


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
