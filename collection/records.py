"""Typed records the collector's threads pass to each other and report: side batches, gap jobs, progress, stats."""

from __future__ import annotations

import threading
from dataclasses import asdict, dataclass, field
from enum import StrEnum

from core.contracts import ContractRules
from core.vocabulary import BackfillStatus, FeedKind, GapStatus
from data_feed import FeedStats, FundingRate, Tick


class CollectorState(StrEnum):
    """Life cycle of a collector; `draining` means a finite feed ended and its last ticks are being stored."""

    IDLE = "idle"
    STARTING = "starting"
    RUNNING = "running"
    DRAINING = "draining"
    STOPPING = "stopping"
    STOPPED = "stopped"
    FAILED = "failed"


class BackfillKind(StrEnum):
    """The two resumable backfill jobs: 1-minute exchange klines and aggTrades."""

    KLINES = "klines"
    AGG_TRADES = "aggTrades"


@dataclass(frozen=True)
class GapOutcome:
    """How a repair ended: the gap's new status, trades recovered, and the notes shown in Data Management."""

    status: GapStatus
    repaired: int
    note: str


@dataclass(eq=False)
class RepairBatch:
    """Ticks fetched for a gap, a catch-up or a backfill; an `outcome` closes gap `gap_id` once they are stored.
    The writer sets `committed` once the batch (and its outcome) is committed."""

    ticks: list[Tick]
    gap_id: int | None = None
    outcome: GapOutcome | None = None
    catchup: bool = False
    committed: threading.Event = field(default_factory=threading.Event)


@dataclass
class BarBatch:
    """Exchange bars (1-minute klines) to store in ohlc_data: (open_time, o, h, l, c, volume, trades, quote)."""

    symbol: str
    timeframe: str
    rows: list[tuple]


@dataclass
class BackfillState:
    """Progress of a resumable backfill job, persisted through the writer; `done_ms` is the exchange time reached."""

    symbol: str
    kind: BackfillKind
    start_ms: int
    end_ms: int
    cursor: int | None
    status: BackfillStatus
    done_ms: int


@dataclass(eq=False)
class ImportBatch:
    """A bounded slice of an imported file, stored by the writer between live batches; `done` is set once it is
    committed (or failed: then `error` says why)."""

    ticks: list[Tick]
    inserted: dict[str, int] = field(default_factory=dict)
    duplicates: int = 0
    error: str = ""
    done: threading.Event = field(default_factory=threading.Event)


@dataclass
class FundingBatch:
    """Funding settlements to store (REST pages, the simulated market's settlements)."""

    rates: list[FundingRate]


@dataclass
class RulesBatch:
    """Contract rules read from exchangeInfo when the collector validated its symbols."""

    rules: list[ContractRules]


SideItem = RepairBatch | BarBatch | BackfillState | ImportBatch | FundingBatch | RulesBatch


@dataclass(frozen=True)
class IdGap:
    """Trade ids first..last missing between two stored trades of one symbol (their timestamps around it)."""

    symbol: str
    first: int
    last: int
    from_ts: int | None
    to_ts: int


@dataclass(frozen=True)
class GapJob:
    """A recorded gap queued for repair."""

    gap_id: int
    symbol: str
    first: int
    last: int
    from_ts: int | None
    attempt: int = 0  # failed tries so far (transient REST/archive errors)


@dataclass(frozen=True)
class BackfillProgress:
    """How far one backfill job has got: the committed share of its time span, or why it stopped."""

    symbol: str
    kind: BackfillKind
    fraction: float = 0.0
    error: str = ""

    @property
    def label(self) -> str:
        return f"{self.symbol} {self.kind}"

    def __str__(self) -> str:
        return f"{self.label} failed: {self.error}" if self.error else f"{self.label} {self.fraction:.0%}"


@dataclass
class CollectorStats:
    """A snapshot of the collector's counters for the status line and the dashboard."""

    state: CollectorState
    feed_kind: FeedKind
    symbols: tuple[str, ...]
    received: int
    written: int
    duplicates: int
    dropped: int
    rejected: int
    quarantined: int  # implausible trade ids, not stored (writer and feed together)
    queue_depth: int
    ticks_per_s: float
    batches: int
    commit_latency_ms: dict[str, float]
    last_tick_ms: dict[str, int]
    last_receive_ms: dict[str, int]
    gaps_detected: int
    gaps_repaired: int
    gaps_unrepairable: int
    repaired_ticks: int
    quotes: int  # best bid/ask updates received (RECORD_QUOTES)
    quote_bars: int  # 1-second quote bars written
    quote_gaps: int  # spans without quotes recorded (disconnects, stalls)
    settlements: int  # funding settlements written (RECORD_FUNDING)
    backfill: dict[str, BackfillProgress]
    symbol_rules: dict[str, dict]
    last_error: str
    feed: FeedStats
    started_at: int

    def to_dict(self) -> dict:
        return asdict(self)
