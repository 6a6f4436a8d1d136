"""core/symbols.py: the one splitter of a symbol list and the one quote-asset vocabulary every layer uses."""

from __future__ import annotations

import pytest

import config
from core.symbols import (
    DEFAULT_QUOTE,
    FUTURES_QUOTES,
    QUOTE_ASSETS,
    base_asset,
    parse_symbols,
    quote_asset,
    split_symbol,
)


def test_parse_symbols_splits_upper_cases_drops_blanks_and_duplicates():
    assert parse_symbols(" btcusdt, ETHUSDT ,,solusdt,BTCUSDT ") == ("BTCUSDT", "ETHUSDT", "SOLUSDT")
    assert parse_symbols("ethusdt") == ("ETHUSDT",)


@pytest.mark.parametrize("raw", ["", " , ", "BTCUSDT,x'; DROP TABLE ticks;--", "BTCUSDT,ÉTHUSDT", "B"])
def test_parse_symbols_refuses_empty_and_bad_lists(raw: str):
    with pytest.raises(ValueError):
        parse_symbols(raw)


def test_parse_symbols_names_every_bad_value():
    with pytest.raises(ValueError) as err:
        parse_symbols("BTCUSDT,a-b,c/d")
    assert "'a-b'" in str(err.value) and "'c/d'" in str(err.value)


def test_config_splits_with_the_same_function():
    assert config.parse_symbols is parse_symbols
    assert config.load_settings({"SYMBOLS": "solusdt, btcusdt"}).symbols == parse_symbols("solusdt, btcusdt")


def test_quote_assets_are_listed_longest_first_without_repeats():
    assert list(QUOTE_ASSETS) == sorted(QUOTE_ASSETS, key=len, reverse=True)
    assert len(set(QUOTE_ASSETS)) == len(QUOTE_ASSETS)
    assert set(FUTURES_QUOTES) <= set(QUOTE_ASSETS) and DEFAULT_QUOTE in FUTURES_QUOTES


@pytest.mark.parametrize(
    ("symbol", "base", "quote"),
    [
        ("BTCUSDT", "BTC", "USDT"),
        ("ethusdc", "ETH", "USDC"),
        ("BTCFDUSD", "BTC", "FDUSD"),  # not BTCFD quoted in USD: the longest quote wins
        ("1000PEPEUSDT", "1000PEPE", "USDT"),
        ("ETHBTC", "ETH", "BTC"),
        ("BTCUSD_PERP", "BTC", "USD"),  # a coin-margined or delivery suffix is not part of the quote
        ("BTCUSDT_240628", "BTC", "USDT"),
        ("USDT", "USDT", ""),  # nothing but a quote asset: no base to split off
        ("ABCXYZ", "ABCXYZ", ""),  # no known quote asset
    ],
)
def test_split_symbol_base_and_quote(symbol: str, base: str, quote: str):
    assert split_symbol(symbol) == (base, quote)
    assert base_asset(symbol) == base and quote_asset(symbol) == quote


def test_every_layer_uses_the_one_vocabulary():
    import visualizations as viz
    from config import SETTINGS_DOC

    assert viz.split_symbol is split_symbol
    universe = next(row for row in SETTINGS_DOC if row[0] == "UNIVERSE_QUOTE")
    assert universe[2] == DEFAULT_QUOTE
    for quote in FUTURES_QUOTES:
        assert universe[3](quote.lower()) == quote
    with pytest.raises(ValueError):
        universe[3]("EUR")
