"""Every setting of the platform, read from environment variables once and validated.

`load_settings()` builds a frozen `Settings`; a bad value raises `ConfigError` naming the variable, the value and
what is accepted. `SETTINGS_DOC` drives the README's table so documentation and code cannot drift apart.
"""

from __future__ import annotations

import dataclasses
import ipaddress
import logging
import os
import re
import urllib.parse
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from enum import StrEnum
from typing import Any

from core.symbols import DEFAULT_QUOTE, FUTURES_QUOTES, parse_symbols
from core.vocabulary import FeedKind, Liquidity, StreamKind, Timeframe

LOG_LEVELS = ("DEBUG", "INFO", "WARNING", "ERROR", "CRITICAL")
__all__ = [
    "LOG_LEVELS",
    "ConfigError",
    "Settings",
    "configure_logging",
    "load_settings",
    "parse_symbols",
    "settings_table",
]


class ConfigError(ValueError):
    """A setting has a value the platform cannot use."""


@dataclass(frozen=True)
class Settings:
    """Validated, immutable settings shared by the collector, the CLI and the dashboard."""

    db_target: str  # the database target: DATABASE_URL when set, else the CRYPTO_DB_PATH file
    database_url: str
    ws_url: str
    ws_public_url: str
    rest_url: str
    data_feed: FeedKind
    stream: StreamKind
    symbols: tuple[str, ...]
    universe_quote: str
    replay_file: str
    replay_speed: float
    default_timeframe: Timeframe
    lookback_minutes: int
    refresh_interval_ms: int
    batch_size: int
    flush_interval_ms: int
    queue_max: int
    stall_first_s: float
    stall_idle_s: float
    rest_max_weight_per_min: int
    repair_gaps: bool
    archive_url: str
    archive_repair: bool
    backfill_minutes: int
    backfill_kline_hours: int
    record_quotes: bool
    record_funding: bool
    funding_history_days: int
    tick_retention_days: int
    cold_dir: str
    fee_bps: float
    maker_fee_bps: float
    stand_in_spread_bps: float
    liquidity: Liquidity
    slippage_bps: float
    max_upload_mb: int
    api_cors_origins: tuple[str, ...]
    api_token: str
    api_allowed_hosts: tuple[str, ...]
    log_level: str
    alert_webhook_url: str = dataclasses.field(repr=False)  # secrets: never in a repr, a log line or an error message
    alert_telegram_token: str = dataclasses.field(repr=False)
    alert_telegram_chat_id: str
    alert_discord_url: str = dataclasses.field(repr=False)
    alert_slack_url: str = dataclasses.field(repr=False)
    telegram_api_url: str
    alert_retries: int
    alert_timeout_s: float
    alert_backoff_s: float
    alert_queue_max: int


_INTEGER = re.compile(r"[+-]?[0-9]+")
_DECIMAL = re.compile(r"[+-]?([0-9]+\.?[0-9]*|\.[0-9]+)([eE][+-]?[0-9]+)?")


def _text(raw: str) -> str:
    return raw.strip()


def _redact(raw: str | None) -> str | None:
    """The value as it may be shown: a URL's password replaced by ***."""
    return None if raw is None else re.sub(r"(://[^/@:]*:)[^/@]*@", r"\1***@", raw)


def _db_path(raw: str) -> str:
    value = raw.strip()
    if not value or value == ":memory:" or value.startswith("file:"):
        raise ValueError(
            "expected a file path (an in-memory database is lost on exit and cannot be shared "
            "between the collector and the dashboard)"
        )
    return value


def _database_url(raw: str) -> str:
    """A PostgreSQL connection URL (libpq form: postgresql://[user[:password]@]host[:port]/dbname[?options]); empty
    means SQLite at CRYPTO_DB_PATH. A password is accepted but never shown (PGPASSWORD or ~/.pgpass keep it out of
    the environment altogether)."""
    value = raw.strip()
    if not value:
        return ""
    if not value.startswith(("postgresql://", "postgres://")):
        raise ValueError("expected a postgresql:// URL, e.g. postgresql://collector@db.internal:5432/ticks")
    try:
        parts = urllib.parse.urlsplit(value)
        port = parts.port
    except ValueError as exc:
        raise ValueError(f"expected a postgresql:// URL with a valid host and port ({exc})") from None
    if not parts.path.strip("/") or (port is not None and not 0 < port < 65536):
        raise ValueError("expected postgresql://host[:port]/dbname naming a database (port 1 to 65535)")
    return value


def _url(schemes: tuple[str, ...]) -> Callable[[str], str]:
    def parse(raw: str) -> str:
        value = raw.strip().rstrip("/")
        expected = f"expected a URL starting with {' or '.join(s + '://' for s in schemes)}"
        if not value.startswith(tuple(f"{s}://" for s in schemes)) or len(value) <= len(schemes[0]) + 3:
            raise ValueError(expected)
        try:
            parts = urllib.parse.urlsplit(value)
            port = parts.port
        except ValueError as exc:
            raise ValueError(f"{expected} and a valid host and port ({exc})") from None
        if parts.username is not None or parts.password is not None:
            raise ValueError("credentials in the URL are not accepted (they would show in logs and the dashboard)")
        if not parts.hostname or (port is not None and not 0 < port < 65536):
            raise ValueError(f"{expected}, a host name and a port from 1 to 65535")
        if parts.query or parts.fragment or value.endswith(("?", "#")):
            raise ValueError("expected a base URL without a query string or fragment")
        return value

    return parse


def _choice(options: type[StrEnum] | tuple[str, ...], fold: Callable[[str], str] = str.lower) -> Callable[[str], Any]:
    """A parser accepting one of `options` in any case; a StrEnum gives its member, a tuple the canonical text."""
    by_key: dict[str, Any] = {fold(str(o)): o for o in options}

    def parse(raw: str) -> Any:
        key = fold(raw.strip())
        if key not in by_key:
            raise ValueError(f"expected one of {', '.join(str(o) for o in options)}")
        return by_key[key]

    return parse


def _number(kind: type[int] | type[float], low: float, high: float) -> Callable[[str], float]:
    def parse(raw: str) -> float:
        text = raw.strip()
        if not (_INTEGER if kind is int else _DECIMAL).fullmatch(text):  # int()/float() take "1_000" and "١٢"
            raise ValueError(f"expected {'an integer' if kind is int else 'a number'} in ASCII digits")
        value = kind(text)
        if not low <= value <= high:
            raise ValueError(f"expected a value from {low:g} to {high:g}")
        return value

    return parse


def _bool(raw: str) -> bool:
    value = raw.strip().lower()
    if value in ("1", "true", "yes", "on"):
        return True
    if value in ("0", "false", "no", "off"):
        return False
    raise ValueError("expected true/false (or 1/0, yes/no, on/off)")


def _origins(raw: str) -> tuple[str, ...]:
    """Comma-separated exact origins (scheme://host[:port]); a wildcard is refused."""
    out = []
    for part in (p.strip().rstrip("/") for p in raw.split(",") if p.strip()):
        if "*" in part or not part.startswith(("http://", "https://")) or "/" in part.split("://", 1)[1]:
            raise ValueError(f"{part!r} is not an origin: expected http(s)://host[:port], never a wildcard")
        out.append(part)
    return tuple(out)


_HOST_LABEL = r"[a-z0-9_]([a-z0-9_-]{0,61}[a-z0-9_])?"
_HOST_NAME = re.compile(rf"(?=.{{1,253}}$){_HOST_LABEL}(\.{_HOST_LABEL})*")


def _hosts(raw: str) -> tuple[str, ...]:
    """Comma-separated host names or IP addresses (an IPv6 one in brackets), lower-cased, without scheme, port or
    path: the names the server answers to besides the loopback ones."""
    out = []
    for part in (p.strip() for p in raw.split(",") if p.strip()):
        name = part.lower().rstrip(".")
        bracketed = name.startswith("[") and name.endswith("]")
        try:
            valid = ipaddress.IPv6Address(name[1:-1]).version == 6 if bracketed else bool(_HOST_NAME.fullmatch(name))
        except ValueError:
            valid = False
        if not valid:
            raise ValueError(
                f"{part!r} is not a host name: expected a name or an IP address without scheme, port or path, e.g. "
                "analytics.example.com, 192.168.1.20 or [fd00::20]"
            )
        out.append(f"[{ipaddress.IPv6Address(name[1:-1]).compressed}]" if bracketed else name)
    return tuple(dict.fromkeys(out))


def _webhook(raw: str) -> str:
    """An http(s) URL of a webhook (its path and query may hold a secret, so the value is never shown); empty = off."""
    value = raw.strip()
    if not value:
        return ""
    try:
        parts = urllib.parse.urlsplit(value)
        port = parts.port
    except ValueError:
        raise ValueError("expected an http(s):// URL with a valid host and port") from None
    if parts.scheme not in ("http", "https") or not parts.hostname or (port is not None and not 0 < port < 65536):
        raise ValueError("expected an http(s):// URL with a host name, e.g. https://hooks.slack.com/services/...")
    if parts.fragment or parts.username is not None:
        raise ValueError("expected a URL without a fragment or user name")
    return value


def _telegram_token(raw: str) -> str:
    """A Telegram bot token as @BotFather gives it (digits, a colon, letters, digits, _ and -); empty = off."""
    value = raw.strip()
    if value and not re.fullmatch(r"[0-9]{1,20}:[A-Za-z0-9_-]{10,100}", value):
        raise ValueError("expected a bot token as @BotFather gives it, <digits>:<letters, digits, _ and ->")
    return value


def _chat_id(raw: str) -> str:
    """A Telegram chat: a numeric id (negative for groups) or a public @channelname; empty = off."""
    value = raw.strip()
    if value and not re.fullmatch(r"-?[0-9]{1,20}|@[A-Za-z][A-Za-z0-9_]{4,31}", value):
        raise ValueError("expected a numeric chat id (e.g. -1001234567890) or @channelname")
    return value


# Variables whose values are secrets: a bad one is reported without its value.
SECRET_VARS = frozenset(
    {"API_TOKEN", "ALERT_WEBHOOK_URL", "ALERT_TELEGRAM_TOKEN", "ALERT_DISCORD_URL", "ALERT_SLACK_URL"}
)


# (env var, Settings field, default, parser, description) - the README's table is generated from this.
SETTINGS_DOC: tuple[tuple[str, str, str, Callable[[str], Any], str], ...] = (
    ("CRYPTO_DB_PATH", "db_target", "crypto_ticks.db", _db_path, "SQLite database file (created on first use)"),
    (
        "DATABASE_URL",
        "database_url",
        "",
        _database_url,
        "PostgreSQL server instead of SQLite, e.g. `postgresql://collector@db.internal:5432/ticks` (schema created on "
        "first use; the password is best kept in PGPASSWORD or ~/.pgpass); when set, it is the database everywhere",
    ),
    (
        "BINANCE_WS_URL",
        "ws_url",
        "wss://fstream.binance.com/market",
        _url(("wss", "ws")),
        "base of the routed market-data WebSocket path; the feed connects to `{BINANCE_WS_URL}/stream?streams=...`",
    ),
    (
        "BINANCE_WS_PUBLIC_URL",
        "ws_public_url",
        "wss://fstream.binance.com/public",
        _url(("wss", "ws")),
        "base of the routed high-frequency WebSocket path that carries `<symbol>@bookTicker` (RECORD_QUOTES: its own "
        "connection)",
    ),
    (
        "BINANCE_REST_URL",
        "rest_url",
        "https://fapi.binance.com",
        _url(("https", "http")),
        "REST base for exchangeInfo, gap repair and backfill (`{BINANCE_REST_URL}/fapi/v1/...`)",
    ),
    ("DATA_FEED", "data_feed", "binance", _choice(FeedKind), "feed: binance, simulated or replay"),
    (
        "BINANCE_STREAM",
        "stream",
        "aggTrade",
        _choice(StreamKind),
        "aggTrade (ids contiguous, repairable over REST) or trade",
    ),
    (
        "SYMBOLS",
        "symbols",
        "BTCUSDT,ETHUSDT",
        parse_symbols,
        "comma-separated USD-M symbols (case-insensitive), or ALL for every TRADING perpetual of UNIVERSE_QUOTE",
    ),
    (
        "UNIVERSE_QUOTE",
        "universe_quote",
        DEFAULT_QUOTE,
        _choice(FUTURES_QUOTES),
        "quote asset of the SYMBOLS=ALL universe and of the Scanner's history loads",
    ),
    (
        "REPLAY_FILE",
        "replay_file",
        "",
        _text,
        "files for DATA_FEED=replay, merged in time order: NDJSON ticks, tick CSV, Binance archive CSV (.csv/.zip) "
        "or recorded frames (.gz); several separated by ':', or a folder",
    ),
    (
        "REPLAY_SPEED",
        "replay_speed",
        "1",
        _number(float, 0, 1_000_000),
        "replay speed multiplier; 0 = as fast as possible",
    ),
    ("DEFAULT_TIMEFRAME", "default_timeframe", "1s", _choice(Timeframe), "bar size shown first"),
    ("LOOKBACK_MINUTES", "lookback_minutes", "60", _number(int, 1, 60 * 24 * 31), "analysis window shown first"),
    ("REFRESH_INTERVAL", "refresh_interval_ms", "1000", _number(int, 250, 600_000), "dashboard refresh (ms)"),
    ("BATCH_SIZE", "batch_size", "2000", _number(int, 1, 100_000), "max ticks per database transaction"),
    ("FLUSH_INTERVAL_MS", "flush_interval_ms", "250", _number(int, 10, 10_000), "writer flushes at least this often"),
    (
        "QUEUE_MAX",
        "queue_max",
        "500000",
        _number(int, 1_000, 50_000_000),
        "ticks buffered between socket and writer; overflow is counted as dropped",
    ),
    (
        "STALL_FIRST_S",
        "stall_first_s",
        "15",
        _number(float, 0.5, 3600),
        "a stream with no first message this long after subscribing is stalled",
    ),
    (
        "STALL_IDLE_S",
        "stall_idle_s",
        "60",
        _number(float, 0.5, 3600),
        "a flowing stream silent this long is stalled (reconnect)",
    ),
    (
        "REST_MAX_WEIGHT_PER_MIN",
        "rest_max_weight_per_min",
        "1200",
        _number(int, 10, 2400),
        "client-side REST weight budget (Binance allows 2400/min)",
    ),
    ("REPAIR_GAPS", "repair_gaps", "true", _bool, "repair trade-id gaps over REST (binance feed, aggTrade)"),
    (
        "BINANCE_ARCHIVE_URL",
        "archive_url",
        "https://data.binance.vision",
        _url(("https", "http")),
        (
            "daily archive used to repair gaps older than the 48 h REST window "
            "(`{BINANCE_ARCHIVE_URL}/data/futures/um/daily/aggTrades/...`)"
        ),
    ),
    (
        "ARCHIVE_REPAIR",
        "archive_repair",
        "true",
        _bool,
        "repair gaps older than 48 h from the daily archive (downloads whole daily files: tens of MB per symbol-day)",
    ),
    (
        "BACKFILL_MINUTES",
        "backfill_minutes",
        "0",
        _number(int, 0, 48 * 60),
        "on start, fetch this many minutes of aggTrades over REST (0 = off)",
    ),
    (
        "BACKFILL_KLINE_HOURS",
        "backfill_kline_hours",
        "0",
        _number(int, 0, 24 * 365),
        "on start, fetch this many hours of 1-minute klines into ohlc_data (0 = off)",
    ),
    (
        "RECORD_QUOTES",
        "record_quotes",
        "false",
        _bool,
        "also record best bid/ask (`<symbol>@bookTicker`, binance feed; quotes around the trades for the simulated "
        "feed) into 1-second quote bars (table quote_bars), the backtest's spread cost",
    ),
    (
        "RECORD_FUNDING",
        "record_funding",
        "false",
        _bool,
        "also record funding: settlements over REST `fundingRate` on start and after each settlement, the live "
        "`<symbol>@markPrice@1s` rate and next settlement (binance feed); settlements every 8 h for the simulated feed",
    ),
    (
        "FUNDING_HISTORY_DAYS",
        "funding_history_days",
        "30",
        _number(int, 0, 3650),
        "with RECORD_FUNDING, fetch this many days of funding settlements on the first start (later starts resume "
        "after the last stored one)",
    ),
    (
        "TICK_RETENTION_DAYS",
        "tick_retention_days",
        "0",
        _number(int, 0, 36_500),
        "keep raw ticks this many whole UTC days (0 = forever); older symbol-days move to Parquet files in COLD_DIR "
        "(bars stay in the database)",
    ),
    (
        "COLD_DIR",
        "cold_dir",
        "cold_ticks",
        _text,
        "folder of the Parquet cold tier: COLD_DIR/SYMBOL/SYMBOL-ticks-YYYY-MM-DD.parquet (zstd, ~5 bytes per trade)",
    ),
    (
        "FEE_BPS",
        "fee_bps",
        "4",
        _number(float, 0, 1000),
        "taker fee per leg per fill, basis points of the fill notional (backtest, sweep, paper fills)",
    ),
    ("MAKER_FEE_BPS", "maker_fee_bps", "2", _number(float, 0, 1000), "maker fee per fill when LIQUIDITY=maker, bps"),
    (
        "STAND_IN_SPREAD_BPS",
        "stand_in_spread_bps",
        "1",
        _number(float, 0, 1000),
        "half-spread charged per fill (bps of the price) where a symbol has no recorded quotes; the screens say when "
        "it was used",
    ),
    (
        "LIQUIDITY",
        "liquidity",
        "taker",
        _choice(Liquidity),
        "backtest fills: taker (cross the spread, taker fee) or maker (fill at the touch, maker fee; optimistic)",
    ),
    ("SLIPPAGE_BPS", "slippage_bps", "0", _number(float, 0, 1000), "extra adverse price move per fill, basis points"),
    ("MAX_UPLOAD_MB", "max_upload_mb", "200", _number(int, 1, 2000), "largest accepted upload"),
    (
        "API_CORS_ORIGINS",
        "api_cors_origins",
        "",
        _origins,
        "comma-separated web origins allowed to call the API from a browser (CORS allow-list; empty = none, never `*`)",
    ),
    (
        "API_TOKEN",
        "api_token",
        "",
        _text,
        "when set, every /api and /ws request needs `Authorization: Bearer <token>` (or `?token=`); set it whenever "
        "the server is bound beyond 127.0.0.1",
    ),
    (
        "API_ALLOWED_HOSTS",
        "api_allowed_hosts",
        "",
        _hosts,
        "comma-separated host names the server answers to besides `localhost`, `127.0.0.1` and `[::1]` (any port): the "
        "name or address a browser uses to reach a deployment; a request with any other `Host` header, to the API or "
        "the dashboard, is refused (421), so a DNS-rebinding page cannot reach the server",
    ),
    ("LOG_LEVEL", "log_level", "INFO", _choice(LOG_LEVELS, str.upper), "logging level"),
    (
        "ALERT_WEBHOOK_URL",
        "alert_webhook_url",
        "",
        _webhook,
        "deliver every alert, signal and break alarm as a JSON POST `{kind, subject, text, created_at}` to this URL "
        "(secret: never logged or shown; empty = off)",
    ),
    (
        "ALERT_TELEGRAM_TOKEN",
        "alert_telegram_token",
        "",
        _telegram_token,
        "Telegram bot token: deliver to ALERT_TELEGRAM_CHAT_ID through the Bot API's sendMessage (secret; empty = off)",
    ),
    (
        "ALERT_TELEGRAM_CHAT_ID",
        "alert_telegram_chat_id",
        "",
        _chat_id,
        "the Telegram chat the bot writes to (numeric id or @channel); set with ALERT_TELEGRAM_TOKEN",
    ),
    (
        "ALERT_DISCORD_URL",
        "alert_discord_url",
        "",
        _webhook,
        'Discord channel webhook URL (`{"content": ...}`; secret; empty = off)',
    ),
    (
        "ALERT_SLACK_URL",
        "alert_slack_url",
        "",
        _webhook,
        'Slack incoming-webhook URL (`{"text": ...}`; secret; empty = off)',
    ),
    (
        "TELEGRAM_API_URL",
        "telegram_api_url",
        "https://api.telegram.org",
        _url(("https", "http")),
        "Telegram Bot API base (`{TELEGRAM_API_URL}/bot<token>/sendMessage`); a local Bot API server or a test's",
    ),
    (
        "ALERT_RETRIES",
        "alert_retries",
        "4",
        _number(int, 0, 20),
        "retries of a failed delivery (connection refused, timeout, HTTP 429 or 5xx) before its dead letter",
    ),
    (
        "ALERT_TIMEOUT_S",
        "alert_timeout_s",
        "10",
        _number(float, 0.1, 120),
        "longest wait for a target's answer per attempt, seconds",
    ),
    (
        "ALERT_BACKOFF_S",
        "alert_backoff_s",
        "2",
        _number(float, 0, 3600),
        "wait before the first retry, seconds; doubled for each further retry",
    ),
    (
        "ALERT_QUEUE_MAX",
        "alert_queue_max",
        "1000",
        _number(int, 1, 1_000_000),
        "notifications waiting for delivery at most; when full, a new one is recorded as a dead letter at once",
    ),
)


def load_settings(env: Mapping[str, str] | None = None) -> Settings:
    """Read and validate every setting; raise ConfigError listing each bad variable with its value."""
    env = os.environ if env is None else env
    values: dict[str, Any] = {}
    problems: list[str] = []
    for var, field, default, parse, _ in SETTINGS_DOC:
        raw = env.get(var)
        try:
            values[field] = parse(default if raw is None or raw.strip() == "" else raw)
        except ValueError as exc:
            shown = "<secret>" if var in SECRET_VARS and raw else repr(_redact(raw))
            problems.append(f"{var}={shown}: {exc}")
    if not problems and values["data_feed"] == "replay" and not values["replay_file"]:
        problems.append("REPLAY_FILE='': DATA_FEED=replay needs REPLAY_FILE set to a file to replay")
    if not problems and bool(values["alert_telegram_token"]) != bool(values["alert_telegram_chat_id"]):
        problems.append(
            "ALERT_TELEGRAM_TOKEN and ALERT_TELEGRAM_CHAT_ID: Telegram delivery needs both (or neither) set"
        )
    if problems:
        raise ConfigError("invalid configuration: " + "; ".join(problems))
    if values["database_url"]:
        values["db_target"] = values["database_url"]
    return Settings(**values)


def configure_logging(level: str) -> None:
    """Set up root logging once, in the format the CLI and the dashboard share."""
    logging.basicConfig(level=level, format="%(asctime)s %(levelname)s %(name)s: %(message)s")


def settings_table() -> str:
    """Markdown table of every environment variable, its default and meaning (for the README)."""
    rows = ["| variable | default | meaning |", "|---|---|---|"]
    rows += [
        f"| `{var}` | {f'`{default}`' if default else '(none)'} | {doc} |" for var, _, default, _, doc in SETTINGS_DOC
    ]
    return "\n".join(rows)
