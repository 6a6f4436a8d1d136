"""Delivering notifications (alerts, signals, break alarms) to the configured webhooks, with retries and dead letters.

One worker thread per process (`start_deliveries`, by app.py's lifespan or a headless monitor) takes notices from
a bounded queue (`notify`, never blocking the caller) and POSTs each to every target (service.webhooks). A failed
attempt that may succeed later (no answer, timeout, HTTP 429 or 5xx) is retried after ALERT_BACKOFF_S, doubled at
each retry, up to ALERT_RETRIES times; retries wait in a schedule, so a target that is down never holds up the
others. Each attempt is a row of delivery_attempts; the last failed one (retries spent, or a 4xx that will not
change) has status dead: the notification's dead letter, message included.

Memory is bounded: at most ALERT_QUEUE_MAX notices wait in the queue and at most ALERT_QUEUE_MAX × targets attempts
in the schedule (the worker stops taking from the queue while the schedule is full). A notice that finds the queue
full is not kept: it is recorded as a dead letter at once ("queue full") and `notify` returns False. At stop, what
is still waiting is recorded as dead letters too ("stopped before delivery"): nothing is lost unseen.
"""

from __future__ import annotations

import dataclasses
import heapq
import itertools
import logging
import queue
import threading
import time
import uuid
from dataclasses import dataclass

import database
from config import Settings, load_settings
from core.clock import now_ms
from core.vocabulary import DeliveryStatus
from service.webhooks import Answer, Notice, Target, delivery_targets, message_body, post
from service.window import reader, writer

log = logging.getLogger(__name__)
IDLE_WAIT_S = 0.5  # how often an idle worker checks whether it should stop


@dataclass(frozen=True)
class Job:
    """One pending attempt: which delivery (a notice to a target), and its number."""

    delivery_id: str
    notice: Notice
    target: Target
    attempt: int  # 1 for the first; 0 for a notice recorded without an attempt (queue full, stopped)


@dataclass(frozen=True)
class DeliveryState:
    """What the delivery worker of this process is doing, for the Alerts tab and the API."""

    running: bool
    targets: tuple[str, ...]  # each target as it may be shown (secrets redacted)
    queued: int  # notices waiting to be taken
    scheduled: int  # attempts waiting for their time (first attempts and retries)


class Deliverer:
    """The delivery worker: a bounded queue of notices, a schedule of attempts, one thread."""

    def __init__(
        self,
        db_target: str,
        targets: tuple[Target, ...],
        *,
        retries: int,
        timeout_s: float,
        backoff_s: float,
        queue_max: int,
    ) -> None:
        self.db_target, self.targets = db_target, targets
        self.retries, self.timeout_s, self.backoff_s = retries, timeout_s, backoff_s
        self._queue: queue.Queue[Notice] = queue.Queue(maxsize=queue_max)
        self._schedule: list[tuple[float, int, Job]] = []
        self._cap = queue_max * max(len(targets), 1)
        self._order = itertools.count()
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="alert-deliveries", daemon=True)

    def start(self) -> Deliverer:
        self._thread.start()
        log.info("delivering notifications to %s", ", ".join(t.shown for t in self.targets) or "no target")
        return self

    def submit(self, notice: Notice) -> bool:
        """Queue a notice for every target; False (and a dead letter per target) when the queue is full."""
        try:
            self._queue.put_nowait(notice)
            return True
        except queue.Full:
            log.warning(
                "delivery queue full (%d waiting): %s recorded as a dead letter", self._queue.qsize(), notice.kind
            )
            for job in self._jobs(notice, 0):
                self._record(job, Answer(None, "delivery queue full", 0), dead=True)
            return False

    def state(self) -> DeliveryState:
        return DeliveryState(
            self._thread.is_alive(), tuple(t.shown for t in self.targets), self._queue.qsize(), len(self._schedule)
        )

    def stop(self, timeout_s: float = 10.0) -> None:
        """Stop the worker (after its current attempt) and record what still waits as dead letters."""
        self._stop.set()
        if self._thread.is_alive():
            self._thread.join(timeout_s)
        left = [job for _, _, job in self._schedule]
        while not self._queue.empty():
            notice = self._queue.get_nowait()
            left += self._jobs(notice, 0)
        for job in left:
            self._record(job, Answer(None, "stopped before delivery", 0), dead=True)
        self._schedule.clear()

    def _run(self) -> None:
        while not self._stop.is_set():
            wait = max(0.0, self._schedule[0][0] - time.monotonic()) if self._schedule else IDLE_WAIT_S
            if len(self._schedule) < self._cap:
                try:
                    for job in self._jobs(self._queue.get(timeout=min(wait, IDLE_WAIT_S)), 1):
                        self._push(time.monotonic(), job)
                except queue.Empty:
                    pass
            else:
                self._stop.wait(min(wait, IDLE_WAIT_S))
            while self._schedule and self._schedule[0][0] <= time.monotonic() and not self._stop.is_set():
                self._attempt(heapq.heappop(self._schedule)[2])

    def _jobs(self, notice: Notice, attempt: int) -> list[Job]:
        """The notice's delivery to each target, at this attempt (0: recorded without an attempt)."""
        delivery = uuid.uuid4().hex[:12]
        return [Job(f"{delivery}-{t.channel}", notice, t, attempt) for t in self.targets]

    def _push(self, due: float, job: Job) -> None:
        heapq.heappush(self._schedule, (due, next(self._order), job))

    def _attempt(self, job: Job) -> None:
        """One attempt: POST, record, and schedule the retry or leave the dead letter."""
        try:
            answer = post(job.target, message_body(job.notice, job.target), self.timeout_s)
            retry = not answer.delivered and answer.retryable and job.attempt <= self.retries
        except Exception as exc:  # a fault of ours must not end the worker, nor be retried; its text names no secret
            log.error("delivery to %s failed unexpectedly: %s", job.target.shown, type(exc).__name__)
            answer, retry = Answer(None, f"internal error ({type(exc).__name__})", 0), False
        self._record(job, answer, dead=not answer.delivered and not retry)
        if retry:
            delay = self.backoff_s * 2 ** (job.attempt - 1)
            self._push(time.monotonic() + delay, Job(job.delivery_id, job.notice, job.target, job.attempt + 1))
            log.info(
                "delivery to %s failed (%s); retry %d in %.1f s", job.target.shown, answer.error, job.attempt, delay
            )
        elif not answer.delivered:
            log.warning("delivery to %s dead after %d attempts: %s", job.target.shown, job.attempt, answer.error)

    def _record(self, job: Job, answer: Answer, *, dead: bool) -> None:
        """Store one attempt (a database that cannot be written is logged, never fatal to the worker)."""
        status = (
            DeliveryStatus.DELIVERED if answer.delivered else DeliveryStatus.DEAD if dead else DeliveryStatus.FAILED
        )
        row = database.DeliveryAttempt(
            0,
            job.delivery_id,
            job.notice.kind,
            job.target.channel,
            job.target.shown,
            job.notice.text,
            job.attempt,
            status,
            answer.status,
            answer.error,
            answer.elapsed_ms,
            now_ms(),
        )
        try:
            with writer(self.db_target) as conn:
                database.record_delivery_attempt(conn, row)
        except (*database.DATABASE_ERRORS, OSError) as exc:
            log.warning("could not record a delivery attempt to %s: %s", job.target.shown, database.error_line(exc))


_LOCK = threading.Lock()
_RUNNING: Deliverer | None = None


def start_deliveries(settings: Settings) -> Deliverer | None:
    """Start this process's delivery worker for the configured targets (once; later calls return it), or None when
    no target is configured."""
    global _RUNNING
    with _LOCK:
        if _RUNNING is None:
            targets = delivery_targets(settings)
            if not targets:
                return None
            _RUNNING = Deliverer(
                settings.db_target,
                targets,
                retries=settings.alert_retries,
                timeout_s=settings.alert_timeout_s,
                backoff_s=settings.alert_backoff_s,
                queue_max=settings.alert_queue_max,
            ).start()
        return _RUNNING


class HeadlessDeliveries:
    """The delivery worker as a companion of the headless collector (collector.py's entry block): the configured
    targets, recording attempts in the collector's database; started before the watch monitor, stopped after its
    last pass, so its signals are delivered too."""

    def __init__(self, db_target: str) -> None:
        self.db_target = db_target

    def start(self) -> Deliverer | None:
        return start_deliveries(dataclasses.replace(load_settings(), db_target=self.db_target))

    def stop(self) -> None:
        stop_deliveries()


def stop_deliveries() -> None:
    """Stop this process's delivery worker, recording what still waits as dead letters."""
    global _RUNNING
    with _LOCK:
        running, _RUNNING = _RUNNING, None
    if running is not None:
        running.stop()


def notify(notice: Notice) -> bool:
    """Hand a notice to this process's delivery worker; False when none runs (no target) or its queue is full."""
    running = _RUNNING
    return running.submit(notice) if running is not None else False


def delivery_state() -> DeliveryState:
    """The worker's state (not running, no target, when none was started)."""
    running = _RUNNING
    return running.state() if running is not None else DeliveryState(False, (), 0, 0)


def recent_attempts(
    db_target: str, limit: int = 200, status: DeliveryStatus | None = None
) -> list[database.DeliveryAttempt]:
    """The latest delivery attempts, newest first (only dead letters with status DEAD): what the Alerts tab and
    GET /api/deliveries show. Targets are stored as they may be shown (secrets redacted)."""
    with reader(db_target) as conn:
        return database.list_delivery_attempts(conn, limit, status)
