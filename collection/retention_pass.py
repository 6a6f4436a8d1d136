"""When and where a collector's retention passes run: in a process of their own, never on the writer thread.

A pass reads a whole expired day and writes it to Parquet (a 5M-trade day takes a minute or more) — on the writer
thread no live batch was written meanwhile, and in the collector's process its Python work held the GIL the socket
reader needs for its reads and pongs. So the collector's `collector-retention` thread starts each pass as a child
process (spawned, lower CPU priority) with its own connection: the export only reads (WAL), the drop deletes the day
in short slices (`storage`), and the writer's live batches go on in between. The first pass runs RETENTION_FIRST_S
after the start, then one every RETENTION_EVERY_S (a UTC day expires once a day, per symbol)."""

from __future__ import annotations

import contextlib
import logging
import multiprocessing
import os
import signal

import database
from collection.pipeline import Pipeline, Retention
from config import configure_logging
from core.clock import now_ms
from core.processes import start_clean

log = logging.getLogger(__name__)

RETENTION_FIRST_S = 5.0  # the first retention pass, once the collector has settled
RETENTION_EVERY_S = 3600.0  # then hourly: a UTC day expires once a day, per symbol
STOP_GRACE_S = 5.0  # at a stop, a running pass gets this long to end before it is cut short
PASS_NICENESS = 10  # the pass yields the CPU to the collector's own process
PASS_PROCESS = "collector-retention-pass"


def run_retention(p: Pipeline) -> None:
    """Thread body (`collector-retention`): a pass in a child process now and then, until the collector stops."""
    retention = p.retention
    if retention is None or p.stop.wait(RETENTION_FIRST_S):
        return
    while True:
        run_pass(p, retention)
        if p.stop.wait(RETENTION_EVERY_S):
            return


def run_pass(p: Pipeline, retention: Retention) -> int | None:
    """One pass in a spawned child process, waited for; its exit code (None: cut short by a stop). A stop gives it
    STOP_GRACE_S, then ends it: each slice it deleted was its own transaction, and a day is dropped only once its
    file is on disk, so what is left of the day waits for the next pass."""
    process = multiprocessing.get_context("spawn").Process(
        target=retention_process,
        args=(p.db_target, retention, logging.getLogger().getEffectiveLevel()),
        name=PASS_PROCESS,
        daemon=True,
    )
    start_clean(process)
    while process.is_alive():
        if p.stop.wait(0.5):
            process.join(STOP_GRACE_S)
            if process.is_alive():
                log.warning("retention pass cut short by the stop; the next pass goes on from where it was")
                process.terminate()
                process.join(5)
            return None
    if process.exitcode:
        log.warning("retention pass ended with exit code %s; the days stay in the database", process.exitcode)
    return process.exitcode


def retention_process(db_target: str, retention: Retention, log_level: int) -> None:
    """Child process body: one pass (`database.apply_retention`) on its own connection. Ctrl-C in a terminal reaches
    the whole process group: only the collector ends a pass."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    with contextlib.suppress(OSError, AttributeError):  # (no nice() on some platforms: the pass just runs)
        os.nice(PASS_NICENESS)
    configure_logging(logging.getLevelName(log_level))
    try:
        with contextlib.closing(database.open_writer(db_target)) as conn:
            report = database.apply_retention(conn, retention.keep_days, retention.cold_dir, now_ms())
    except (OSError, *database.DATABASE_ERRORS) as exc:
        log.warning("retention pass failed, nothing dropped: %s", exc)
        raise SystemExit(1) from None
    if report.files:
        log.info("retention (keep %d days): %s", retention.keep_days, report)
