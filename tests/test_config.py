"""config.py: defaults, validation messages naming the variable, value and accepted values."""

from pathlib import Path

import pytest

from config import ConfigError, load_settings, parse_symbols, settings_table


def test_defaults_point_at_real_binance_routes():
    s = load_settings({})
    assert s.ws_url == "wss://fstream.binance.com/market"
    assert s.rest_url == "https://fapi.binance.com"
    assert s.data_feed == "binance" and s.stream == "aggTrade"
    assert s.symbols == ("BTCUSDT", "ETHUSDT")
    assert s.db_target == "crypto_ticks.db"
    assert s.flush_interval_ms <= 250


def test_values_are_parsed_and_normalised():
    s = load_settings(
        {
            "SYMBOLS": " btcusdt, ethusdt ,solusdt,btcusdt",
            "DATA_FEED": "SIMULATED",
            "BINANCE_WS_URL": "ws://127.0.0.1:9000/market/",
            "REFRESH_INTERVAL": "2000",
            "DEFAULT_TIMEFRAME": "1MIN",
            "BINANCE_STREAM": "TRADE",
            "REPAIR_GAPS": "off",
        }
    )
    assert s.symbols == ("BTCUSDT", "ETHUSDT", "SOLUSDT")
    assert s.data_feed == "simulated"
    assert s.ws_url == "ws://127.0.0.1:9000/market"
    assert s.refresh_interval_ms == 2000
    assert s.default_timeframe == "1min" and s.stream == "trade" and s.repair_gaps is False


@pytest.mark.parametrize(
    "env, fragment",
    [
        ({"REFRESH_INTERVAL": "fast"}, "REFRESH_INTERVAL='fast': expected an integer"),
        ({"REFRESH_INTERVAL": "10"}, "REFRESH_INTERVAL='10': expected a value from 250"),
        ({"DATA_FEED": "kraken"}, "DATA_FEED='kraken': expected one of binance, simulated, replay"),
        ({"SYMBOLS": "BTC-USDT"}, "SYMBOLS='BTC-USDT': invalid symbol(s) 'BTC-USDT'"),
        ({"BINANCE_WS_URL": "fstream.binance.com"}, "BINANCE_WS_URL='fstream.binance.com': expected a URL"),
        ({"DATA_FEED": "replay"}, "DATA_FEED=replay needs REPLAY_FILE"),
        ({"FEE_BPS": "-1"}, "FEE_BPS='-1'"),
        ({"REPAIR_GAPS": "maybe"}, "REPAIR_GAPS='maybe': expected true/false"),
    ],
)
def test_bad_values_name_variable_value_and_accepted(env, fragment):
    with pytest.raises(ConfigError) as err:
        load_settings(env)
    assert fragment in str(err.value)


def test_every_bad_variable_is_reported_at_once():
    with pytest.raises(ConfigError) as err:
        load_settings({"BATCH_SIZE": "0", "LOG_LEVEL": "loud"})
    assert "BATCH_SIZE" in str(err.value) and "LOG_LEVEL" in str(err.value)


def test_symbol_list_rejects_empty_and_injection():
    with pytest.raises(ValueError):
        parse_symbols(" , ")
    with pytest.raises(ValueError, match="invalid symbol"):
        parse_symbols("BTCUSDT,x'; DROP TABLE ticks;--")


def test_readme_lists_every_variable():
    table = settings_table()
    readme = Path("README.md").read_text(encoding="utf-8")
    for line in table.splitlines()[2:]:
        var = line.split("`")[1]
        assert f"`{var}`" in readme, f"{var} missing from README's settings table"
