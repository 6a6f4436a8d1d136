"""Vocabularies shared by several layers, each defined once as a StrEnum (its values are what is stored and typed)."""

from __future__ import annotations

import enum


class FeedKind(enum.StrEnum):
    """Where ticks come from: live Binance, the offline simulated market, or a replayed file."""

    BINANCE = "binance"
    SIMULATED = "simulated"
    REPLAY = "replay"

    @property
    def label(self) -> str:
        """The name a user sees (sidebar, status line)."""
        return {"binance": "Binance live", "simulated": "Simulated", "replay": "Replay file"}[self.value]


class StreamKind(enum.StrEnum):
    """Binance trade stream: aggTrade ids are contiguous (repairable over REST); trade ids are another sequence."""

    AGG_TRADE = "aggTrade"
    TRADE = "trade"


class IdSpace(enum.StrEnum):
    """The numbering a tick's id belongs to: Binance's aggTrade and trade ids are two sequences, an upload's ids
    (or the negative ids given to id-less rows) a third, a simulated market's a fourth. A tick is unique per
    (symbol, id space, id), so one numbering can never shadow, hide or duplicate another."""

    AGG_TRADE = "aggTrade"
    TRADE = "trade"
    UPLOAD = "upload"
    SIMULATED = "simulated"


class GapStatus(enum.StrEnum):
    """What became of a run of missing trade ids (a row of the gaps table)."""

    OPEN = "open"
    REPAIRED = "repaired"
    UNREPAIRABLE = "unrepairable"


class BackfillStatus(enum.StrEnum):
    """A resumable history job's state (a row of the backfill_state table): an interrupted `running` job resumes at
    its saved cursor."""

    RUNNING = "running"
    DONE = "done"


class AlertOp(enum.StrEnum):
    """Conditions an alert rule can test; `label` is what the user reads."""

    GT = ">"
    GE = ">="
    LT = "<"
    LE = "<="
    CROSSES_ABOVE = "crosses_above"
    CROSSES_BELOW = "crosses_below"

    @property
    def label(self) -> str:
        return {">=": "≥", "<=": "≤", "crosses_above": "crosses above", "crosses_below": "crosses below"}.get(
            self.value, self.value
        )

    @property
    def is_crossing(self) -> bool:
        """Fires on the bar the value crosses the threshold (needs the previous value), not while a level holds."""
        return self in (AlertOp.CROSSES_ABOVE, AlertOp.CROSSES_BELOW)


class AlertMetric(enum.StrEnum):
    """What an alert rule watches; `label` is what the user reads."""

    ZSCORE = "zscore"
    SPREAD = "spread"
    PRICE = "price"

    @property
    def label(self) -> str:
        return {"zscore": "z-score of a pair", "spread": "spread of a pair", "price": "price of a symbol"}[self.value]

    @property
    def noun(self) -> str:
        """The metric's name in a rule's sentence ('z-score ETHUSDT vs BTCUSDT crosses above 2')."""
        return {"zscore": "z-score", "spread": "spread", "price": "price"}[self.value]


class BandKind(enum.StrEnum):
    """How a watched pair's entry/exit/stop bands are chosen: fixed z levels (the OU-optimal kind comes later)."""

    FIXED_Z = "fixed_z"


class WatchSource(enum.StrEnum):
    """Where a watched pair was added from."""

    SCANNER = "scanner"
    PAIR = "pair"
    MANUAL = "manual"


class SignalKind(enum.StrEnum):
    """A signal event of a watched pair on a bar: enter long/short the spread, leave it (exit band, stop, maximum
    holding time), or the cointegration-break alarm turning on or off."""

    ENTRY_LONG = "entry_long"
    ENTRY_SHORT = "entry_short"
    EXIT = "exit"
    STOP = "stop"
    MAX_HOLD = "max_hold"
    BREAK = "break"
    BREAK_CLEARED = "break_cleared"

    @property
    def is_entry(self) -> bool:
        return self in (SignalKind.ENTRY_LONG, SignalKind.ENTRY_SHORT)

    @property
    def is_exit(self) -> bool:
        """The signal closes a position (exit band, stop or maximum holding time)."""
        return self in (SignalKind.EXIT, SignalKind.STOP, SignalKind.MAX_HOLD)

    @property
    def is_alarm(self) -> bool:
        return self in (SignalKind.BREAK, SignalKind.BREAK_CLEARED)


class Timeframe(enum.StrEnum):
    """Bar sizes the platform stores and shows (pandas offset aliases), finest first."""

    S1 = "1s"
    S5 = "5s"
    S10 = "10s"
    S30 = "30s"
    M1 = "1min"
    M5 = "5min"
    M15 = "15min"
    H1 = "1h"

    @property
    def seconds(self) -> int:
        """Bar length in seconds."""
        return _TIMEFRAME_SECONDS[self.value]

    @property
    def ms(self) -> int:
        """Bar length in milliseconds."""
        return _TIMEFRAME_SECONDS[self.value] * 1000


_TIMEFRAME_SECONDS = {"1s": 1, "5s": 5, "10s": 10, "30s": 30, "1min": 60, "5min": 300, "15min": 900, "1h": 3600}


class Liquidity(enum.StrEnum):
    """How simulated orders fill (the LIQUIDITY setting, the backtest's cost model): TAKER crosses the spread (buy at
    the ask, sell at the bid) and pays the taker fee; MAKER rests at the touch (buy at the bid, sell at the ask:
    optimistic, every order assumed filled) and pays the maker fee."""

    TAKER = "taker"
    MAKER = "maker"


class NoticeKind(enum.StrEnum):
    """What a delivered notification reports (a column of the delivery_attempts table)."""

    ALERT = "alert"  # an alert rule fired (service.alerts)
    SIGNAL = "signal"  # a watched pair's entry, exit or stop signal
    ALARM = "alarm"  # a watched pair's cointegration-break alarm


class DeliveryChannel(enum.StrEnum):
    """Where a notification is sent, each with its own message format (service.deliveries.FORMATS)."""

    WEBHOOK = "webhook"  # a generic JSON POST
    TELEGRAM = "telegram"  # Bot API sendMessage
    DISCORD = "discord"  # a Discord channel webhook
    SLACK = "slack"  # a Slack incoming webhook

    @property
    def label(self) -> str:
        return {"webhook": "Webhook", "telegram": "Telegram", "discord": "Discord", "slack": "Slack"}[self.value]


class DeliveryStatus(enum.StrEnum):
    """The outcome of one delivery attempt: delivered; failed (another attempt follows); dead (the last attempt
    failed, or the failure cannot be retried: the row is the notification's dead letter)."""

    DELIVERED = "delivered"
    FAILED = "failed"
    DEAD = "dead"
