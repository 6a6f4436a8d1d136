"""The repair thread: fills recorded gaps (REST inside Binance's 48 h aggTrades window, the daily archive before
it), catches up after a reconnect, and between those advances the backfill one REST page at a time. Everything it
fetches goes to the writer through `Pipeline.push`; the writer records the outcome once the ticks are stored."""

from __future__ import annotations

import contextlib
import datetime
import logging
import time
from collections.abc import Iterator

import database
from collection.backfill import backfill_steps
from collection.funding import due_settlement, funding_steps, settlements_since_stored
from collection.pipeline import CATCHUP_DELAY_S, Pipeline
from collection.records import GapJob, GapOutcome, RepairBatch
from collection.rest_history import (
    OLDER_THAN_REST,
    REST_PAGE,
    beyond_rest,
    first_id_since,
    rest_window_start,
    utc_day,
)
from core.clock import now_ms
from core.vocabulary import GapStatus, IdSpace
from data_feed import ArchiveError, BinanceRestError, Tick

log = logging.getLogger(__name__)

ARCHIVE_BACKLOG = 8  # archive batches queued for the writer before the download waits
CATCHUP_MAX_PAGES = 100  # beyond this the live stream's gap detection takes over


def run_repairs(p: Pipeline) -> None:
    """Thread body: gaps first, then due catch-ups, then one backfill step; sleeps when there is nothing to do."""
    try:
        p.locks = database.repair_locks(p.db_target)
    except database.DATABASE_ERRORS as exc:
        log.warning("no repair coordination with other collectors: %s", exc)
    try:
        _repair_loop(p)
    finally:
        if p.locks is not None:
            p.locks.close()


def _repair_loop(p: Pipeline) -> None:
    backfill = backfill_steps(p)
    funding = funding_steps(p)
    while not p.stop.is_set():
        try:
            p.due_retries()
            catchup = None if p.repairs else _due_catchup(p)  # a due catch-up waits for queued repairs, never lost
            settled = None if p.repairs or catchup else due_settlement(p)
            if p.repairs:
                repair_gap(p, p.repairs.popleft())
            elif catchup is not None:
                _catch_up(p, catchup)
            elif settled is not None:
                for _ in settlements_since_stored(p, settled):
                    pass
            elif backfill is not None:
                if next(backfill, StopIteration) is StopIteration:
                    backfill = None
            elif funding is not None:
                if next(funding, StopIteration) is StopIteration:
                    funding = None
            else:
                p.repair_wake.wait(0.2 if p.catchups or p.deferred or p.settled else 0.5)
                p.repair_wake.clear()
        except Exception as exc:
            p.last_error = f"repair failed: {exc}"
            log.exception("repair thread error")


def _due_catchup(p: Pipeline) -> str | None:
    now = time.monotonic()
    for symbol, due in list(p.catchups.items()):
        if due <= now:
            del p.catchups[symbol]
            return symbol
    return None


def _catch_up(p: Pipeline, symbol: str) -> None:
    """Fetch aggTrades after the last stored id, unless live ticks are flowing (gap detection covers that)."""
    track = p.tracks.get(symbol)
    now = now_ms()
    if (
        track is None
        or track.last_id is None
        or now - (track.last_receive or 0) < CATCHUP_DELAY_S * 1000
        or p.unrepairable_reason()
        or beyond_rest(track.last_ts, now)
    ):
        return
    ticks: list[Tick] = []
    from_id = track.last_id + 1
    for _ in range(CATCHUP_MAX_PAGES):
        if p.stop.is_set():
            break
        try:
            page = p.rest.agg_trades(symbol, from_id=from_id, limit=REST_PAGE)
        except BinanceRestError as exc:
            if exc.transient:  # try again shortly; what was fetched so far is stored below
                p.catchups.setdefault(symbol, time.monotonic() + 2 * CATCHUP_DELAY_S)
            p.last_error = f"catch-up of {symbol} failed: {exc}"
            break
        ticks += page
        if len(page) < REST_PAGE:
            break
        from_id = page[-1].trade_id + 1
    if ticks:
        p.push(RepairBatch(ticks, catchup=True))


class _Transient(Exception):
    """A repair step failed in a way that may pass (REST 5xx, timeout, connection refused, archive 5xx)."""


def repair_gap(p: Pipeline, job: GapJob) -> None:
    """Fill a gap and close it: the part inside the 48 h REST window over REST aggTrades, anything older from
    the daily archive (when enabled); each batch goes to the writer, which then records the outcome. A transient
    failure defers the whole job (it stays open) instead of declaring the trades lost. Collectors sharing a
    PostgreSQL server repair a symbol one at a time, and one finding its gap already filled by another skips it;
    while that server cannot be reached the job is deferred like any transient failure."""
    try:
        _repair_coordinated(p, job)
    except database.DATABASE_ERRORS as exc:
        p.retry_later(job, f"repair coordination with other collectors failed: {exc}")
        log.warning("%s", p.last_error)


def _repair_coordinated(p: Pipeline, job: GapJob) -> None:
    """Under the symbol's repair lock (collectors sharing a server): skip a gap another collector has closed
    meanwhile (a gap recorded before a restart is every collector's job), close one whose trades another has
    stored, else repair it; the lock is held until this collector's writer has committed the outcome, so the next
    holder sees the repair whole."""
    with _exclusive(p, job.symbol) as held:
        if not held:
            return  # stopped while another collector repaired: the gap stays open
        if p.locks is None:
            _repair_now(p, job)
            return
        if not _still_open(p, job):
            log.info("gap %d in %s: already closed by another collector", job.gap_id, job.symbol)
            return
        if p.locks.stored(job.symbol, IdSpace.AGG_TRADE, job.first, job.last, job.from_ts) >= job.last - job.first + 1:
            filled = RepairBatch([], job.gap_id, GapOutcome(GapStatus.REPAIRED, 0, "filled by another collector"))
            p.push(filled)
            log.info("gap %d in %s: already filled by another collector", job.gap_id, job.symbol)
            closing: RepairBatch | None = filled
        else:
            closing = _repair_now(p, job)
        _wait_committed(p, closing)


def _still_open(p: Pipeline, job: GapJob) -> bool:
    """Whether gap `job` is still open in the database (another collector's repair may have closed it)."""
    reader = database.open_reader(p.db_target)
    try:
        return any(gap.id == job.gap_id for gap in database.open_gaps(reader, [job.symbol]))
    finally:
        reader.close()


def _wait_committed(p: Pipeline, batch: RepairBatch | None) -> None:
    """Wait until the writer has committed `batch` (the last of a repair: its pages went before it), or has
    stopped; nothing to wait for when the repair pushed no outcome (stopped, or deferred)."""
    while batch is not None and not batch.committed.wait(0.05) and not p.finished.is_set():
        pass


@contextlib.contextmanager
def _exclusive(p: Pipeline, symbol: str) -> Iterator[bool]:
    """The symbol's repair lock when collectors share a server (True once held), else nothing to wait for."""
    if p.locks is None:
        yield True
        return
    with p.locks.hold(symbol, p.stop.is_set) as held:
        yield held


def _repair_now(p: Pipeline, job: GapJob) -> RepairBatch | None:
    """Fetch the gap's trades and hand them to the writer, then its outcome; returns the batch carrying the outcome
    (None when there is none: stopped, or deferred by a transient failure)."""
    try:
        outcome = _repair(p, job)
    except _Transient as exc:
        if not p.stop.is_set():
            p.retry_later(job, str(exc))
            log.warning("gap %d in %s: %s; retrying later (try %d)", job.gap_id, job.symbol, exc, job.attempt + 1)
        return None
    if outcome is None:
        return None  # stopped: the gap stays open and is repaired on the next start
    closing = RepairBatch([], job.gap_id, outcome)
    p.push(closing)
    log.info(
        "gap %d in %s: %s (%d of %d trades)",
        job.gap_id,
        job.symbol,
        outcome.status,
        outcome.repaired,
        job.last - job.first + 1,
    )
    return closing


def _repair(p: Pipeline, job: GapJob) -> GapOutcome | None:
    expected, notes, rest_from = job.last - job.first + 1, [], job.first
    now = now_ms()
    window_start = rest_window_start(now)
    if beyond_rest(job.from_ts, now):
        try:
            edge = first_id_since(p.rest, job.symbol, window_start, now, p.stop)
        except BinanceRestError as exc:
            if exc.transient:
                raise _Transient(f"REST error: {exc}") from exc
            edge, notes = job.last + 1, [f"REST error: {exc}"]
        rest_from = job.last + 1 if edge is None else max(job.first, edge)
    fetched, note = _fetch_rest(p, job.symbol, rest_from, job.last)
    notes += [note] if note else []
    rest_fetched = fetched
    if rest_from > job.first:
        old_last = min(job.last, rest_from - 1)
        if not p.archive.available:
            notes.append(f"ids {job.first}..{old_last} {OLDER_THAN_REST}")
        else:
            assert job.from_ts is not None  # rest_from passes `first` only for a gap dated beyond the REST window
            from_archive, archive_notes = _fetch_archive(p, job.symbol, job.first, old_last, job.from_ts, window_start)
            fetched += from_archive
            notes += archive_notes
    if p.stop.is_set():
        return None
    missing = expected - fetched
    if missing and not notes:
        notes.append(f"{missing} of {expected} trades not available over REST")
    if missing and rest_fetched:
        notes.append(f"{rest_fetched} repaired over REST")
    return GapOutcome(GapStatus.UNREPAIRABLE if missing else GapStatus.REPAIRED, fetched, "; ".join(notes))


def _fetch_rest(p: Pipeline, symbol: str, first: int, last: int) -> tuple[int, str]:
    """Queue aggTrades first..last from REST, a page per request; (trades fetched, the error if one stopped it).
    Raises _Transient when the failure may pass."""
    fetched, from_id = 0, first
    while from_id <= last and not p.stop.is_set():
        try:
            page = [t for t in p.rest.agg_trades(symbol, from_id=from_id, limit=REST_PAGE) if t.trade_id <= last]
        except BinanceRestError as exc:
            if exc.transient:
                raise _Transient(f"REST error: {exc}") from exc
            return fetched, f"REST error: {exc}"
        if not page:
            break
        fetched += len(page)
        from_id = page[-1].trade_id + 1
        p.push(RepairBatch(page))
    return fetched, ""


def _fetch_archive(
    p: Pipeline, symbol: str, first: int, last: int, from_ts: int, until_ms: int
) -> tuple[int, list[str]]:
    """Queue aggTrades first..last from the daily archive files of the UTC days from_ts..until_ms (whole files
    are downloaded, so the writer is given time to keep up); (trades fetched, notes)."""
    fetched, errors, next_id = 0, [], first
    day, last_day = utc_day(from_ts), utc_day(until_ms)
    while day <= last_day and next_id <= last and not p.stop.is_set():
        try:
            with contextlib.closing(p.archive.iter_agg_trades(symbol, day, first_id=next_id, last_id=last)) as chunks:
                for chunk in chunks:
                    p.push(RepairBatch(chunk))
                    fetched += len(chunk)
                    next_id = max(next_id, chunk[-1].trade_id + 1)
                    while len(p.side) > ARCHIVE_BACKLOG and not p.stop.is_set():
                        time.sleep(0.05)
                    if p.stop.is_set():
                        break
        except ArchiveError as exc:
            if exc.transient:
                raise _Transient(f"archive {day}: {exc}") from exc
            errors.append(f"archive {day}: {exc}")
        day += datetime.timedelta(days=1)
    notes = errors + ([f"{fetched} of ids {first}..{last} from the daily archive"] if fetched else [])
    if next_id <= last and not errors:
        notes.append(f"ids {next_id}..{last} {OLDER_THAN_REST} and not in the daily archive")
    return fetched, notes
