"""The headless collector (`python collector.py`): options, a periodic status line, clean stop on SIGINT/SIGTERM."""

from __future__ import annotations

import argparse
import contextlib
import logging
import os
import signal
import sys
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Protocol

from collection.imports import ImportRefused, store_import, validate_import
from collection.records import CollectorState, CollectorStats
from collection.service import make_collector, make_feed
from config import ConfigError, Settings, configure_logging, load_settings, parse_symbols
from core.clock import now_ms
from core.vocabulary import FeedKind
from data_feed import TickFileError, UnknownSymbolError
from database import (
    DATABASE_ERRORS,
    apply_retention,
    database_exists,
    describe_target,
    export_ticks_csv,
    open_writer,
)

log = logging.getLogger(__name__)


def status_line(stats: CollectorStats) -> str:
    """One line of counters for the log: rate, duplicates, drops, latency, reconnects, gaps, tick ages."""
    now = now_ms()
    ages = " ".join(f"{s}:{(now - t) / 1000:.1f}s" for s, t in sorted(stats.last_receive_ms.items()))
    feed = stats.feed
    return (
        f"[{stats.feed_kind} {feed.state}] written={stats.written} "
        f"rate={stats.ticks_per_s:.0f}/s dup={stats.duplicates} dropped={stats.dropped} "
        f"queue={stats.queue_depth} quarantined={stats.quarantined} "
        f"p99={stats.commit_latency_ms.get('p99', 0):.0f}ms "
        f"reconnects={feed.reconnects} gaps={stats.gaps_detected}"
        f"(repaired {stats.gaps_repaired}, unrepairable {stats.gaps_unrepairable}) age {ages or '-'}"
        + (f" backfill {', '.join(map(str, stats.backfill.values()))}" if stats.backfill else "")
        + (f" last_error: {stats.last_error}" if stats.last_error else "")
    )


DB_HELP = "SQLite file path or postgresql:// URL (default: DATABASE_URL, else CRYPTO_DB_PATH)"


def build_parser() -> argparse.ArgumentParser:
    """Command-line options of the headless collector."""
    commands = "\n".join(f"  {name:<10} {command.summary}" for name, command in COMMANDS.items())
    p = argparse.ArgumentParser(
        prog="collector.py",
        formatter_class=argparse.RawDescriptionHelpFormatter,
        description="Collect Binance USD-M trades into SQLite or PostgreSQL, headless (24/7 next to the dashboard).\n"
        "Environment variables give the defaults. A command (below) as the first argument runs\n"
        "instead of collecting.",
        epilog=f"commands (`collector.py COMMAND --help` for each one's options):\n{commands}",
    )
    p.add_argument("--symbols", help="comma-separated symbols, e.g. btcusdt,ethusdt (default: SYMBOLS)")
    p.add_argument("--feed", choices=tuple(FeedKind), help="data feed (default: DATA_FEED)")
    p.add_argument(
        "--replay-file",
        nargs="+",
        metavar="FILE",
        help="files or folders to replay with --feed replay, "
        "merged in time order (NDJSON, tick CSV, archive CSV/zip, frames .gz)",
    )
    p.add_argument("--speed", type=float, help="replay/simulation speed multiplier; 0 = as fast as possible")
    p.add_argument("--db", help=DB_HELP)
    p.add_argument("--duration", type=float, help="stop after this many seconds")
    p.add_argument("--record", help="record raw Binance frames to FILE (.gz compresses) for later replay")
    p.add_argument("--backfill-minutes", type=int, help="fetch this many minutes of aggTrades over REST on start")
    p.add_argument("--backfill-kline-hours", type=int, help="fetch this many hours of 1m klines on start")
    p.add_argument("--status-interval", type=float, default=5.0, help="seconds between status lines (default 5)")
    return p


def build_import_parser() -> argparse.ArgumentParser:
    """Options of `python collector.py import`."""
    p = argparse.ArgumentParser(
        prog="collector.py import",
        description="Import tick files (NDJSON, Binance "
        "aggTrades/trades CSV or zip, recorded frames) or OHLCV bar CSVs into the database, "
        "validated exactly as a dashboard upload and stored in bounded batches, so a "
        "collector writing to the same database is never stalled.",
    )
    p.add_argument("files", nargs="+", metavar="FILE")
    p.add_argument("--symbol", default="", help="symbol for CSVs whose name does not say it (or for bars)")
    p.add_argument("--db", help=DB_HELP)
    p.add_argument("--bars", metavar="TIMEFRAME", help="the files hold OHLCV bars of this timeframe (e.g. 1min)")
    return p


def build_export_parser() -> argparse.ArgumentParser:
    """Options of `python collector.py export`."""
    p = argparse.ArgumentParser(
        prog="collector.py export",
        description="Write stored ticks to a CSV file, streamed "
        "chunk by chunk (any size, bounded memory). The file imports and replays back.",
    )
    p.add_argument("out", metavar="OUT.csv")
    p.add_argument("--symbols", help="comma-separated symbols (default: every stored symbol)")
    p.add_argument("--start", type=int, metavar="MS", help="first exchange time, epoch ms (default: the oldest)")
    p.add_argument("--end", type=int, metavar="MS", help="end of the range (exclusive), epoch ms (default: now)")
    p.add_argument("--db", help=DB_HELP)
    return p


def run_export(argv: Sequence[str]) -> tuple[int, str]:
    """Export ticks; (exit status, error message): 2 for bad options or settings, 1 if reading or writing failed."""
    args = build_export_parser().parse_args(argv)
    try:
        settings = load_settings()
        configure_logging(settings.log_level)
        symbols = parse_symbols(args.symbols) if args.symbols else None
    except (ConfigError, ValueError) as exc:
        return 2, str(exc)
    db_target = args.db or settings.db_target
    if not database_exists(db_target):
        return 2, f"database {describe_target(db_target)} does not exist"
    try:
        count = export_ticks_csv(db_target, args.out, symbols, args.start, args.end)
    except (OSError, *DATABASE_ERRORS) as exc:
        return 1, str(exc)
    log.info("exported %d ticks to %s", count, args.out)
    return 0, ""


def build_migrate_parser() -> argparse.ArgumentParser:
    """Options of `python collector.py migrate`."""
    p = argparse.ArgumentParser(
        prog="collector.py migrate",
        description="Check the database (SQLite: quick_check) and bring its schema "
        "up to date now, with progress lines. A collector, an import or a dashboard write does this by "
        "itself when it opens an older database; upgrading a large SQLite file takes a while (8M ticks: "
        "20 s to a minute or more), during which every other program opening it waits and says so.",
    )
    p.add_argument("--db", help=DB_HELP)
    return p


def run_migrate(argv: Sequence[str]) -> tuple[int, str]:
    """Upgrade the schema once; (exit status, error): 2 for bad options or a missing database, 1 if it failed (the
    database keeps its old schema then)."""
    args = build_migrate_parser().parse_args(argv)
    try:
        settings = load_settings()
        configure_logging(settings.log_level)
    except ConfigError as exc:
        return 2, str(exc)
    db_target = args.db or settings.db_target
    if not database_exists(db_target):
        return 2, f"database {describe_target(db_target)} does not exist"
    try:
        open_writer(db_target, verify=True).close()
    except (OSError, RuntimeError, *DATABASE_ERRORS) as exc:
        return 1, str(exc)
    log.info("database %s: its schema is current", describe_target(db_target))
    return 0, ""


def build_retention_parser() -> argparse.ArgumentParser:
    """Options of `python collector.py retention`."""
    p = argparse.ArgumentParser(
        prog="collector.py retention",
        description="Move raw ticks older than N whole UTC "
        "days to Parquet files (one per symbol-day, zstd) and out of the database, once. A "
        "collector with TICK_RETENTION_DAYS set does this by itself every hour.",
    )
    p.add_argument("--days", type=int, help="whole UTC days of raw ticks to keep (default: TICK_RETENTION_DAYS)")
    p.add_argument("--cold-dir", help="folder of the Parquet files (default: COLD_DIR)")
    p.add_argument("--db", help=DB_HELP)
    return p


def run_retention(argv: Sequence[str]) -> tuple[int, str]:
    """One retention pass; (exit status, error): 2 for bad options, 1 if it failed (nothing dropped then)."""
    args = build_retention_parser().parse_args(argv)
    try:
        settings = load_settings()
        configure_logging(settings.log_level)
    except ConfigError as exc:
        return 2, str(exc)
    days = settings.tick_retention_days if args.days is None else args.days
    if days < 1:
        return 2, "--days (or TICK_RETENTION_DAYS) must be at least 1 (0 keeps every tick)"
    db_target = args.db or settings.db_target
    if not database_exists(db_target):
        return 2, f"database {describe_target(db_target)} does not exist"
    try:
        with contextlib.closing(open_writer(db_target)) as conn:
            report = apply_retention(conn, days, args.cold_dir or settings.cold_dir, now_ms())
    except (OSError, *DATABASE_ERRORS) as exc:
        return 1, str(exc)
    log.info("retention (keep %d days): %s", days, report)
    return 0, ""


def run_import(argv: Sequence[str]) -> tuple[int, str]:
    """Validate every file first, then store them one by one with progress lines; (exit status, error message):
    2 naming the file, the line and the problem if one is refused (nothing is stored then), 1 if storing failed."""
    args = build_import_parser().parse_args(argv)
    try:
        settings = load_settings()
        configure_logging(settings.log_level)
        kind, timeframe = ("bars", args.bars) if args.bars else ("ticks", "1min")
        plans = [
            validate_import(
                Path(f),
                Path(f).name,
                kind,
                symbol=args.symbol,
                timeframe=timeframe,
                max_bytes=settings.max_upload_mb * 2**20,
            )
            for f in args.files
        ]
    except (ConfigError, ImportRefused) as exc:
        return 2, str(exc)
    db_target = args.db or settings.db_target
    for plan in plans:

        def progress(done: int, total: int, name: str = plan.name) -> None:
            log.info("importing %s: %d of %d records (%.0f%%)", name, done, total, 100 * done / max(1, total))

        try:
            log.info("%s", store_import(db_target, plan, progress))
        except (OSError, *DATABASE_ERRORS, TickFileError) as exc:
            return 1, f"{plan.name}: {exc}"
    return 0, ""


@dataclass(frozen=True)
class Command:
    """A subcommand: `run(argv)` → (exit status, error message), and its line in `collector.py --help`."""

    run: Callable[[Sequence[str]], tuple[int, str]]
    summary: str


# The subcommands (`python collector.py NAME ...`); without one, the collector runs. A new one is one row here.
COMMANDS = {
    "import": Command(run_import, "validate tick files or OHLCV bar CSVs, then store them in bounded batches"),
    "export": Command(run_export, "write stored ticks to a CSV file, streamed (it imports and replays back)"),
    "retention": Command(run_retention, "move raw ticks older than N whole UTC days to Parquet files, once"),
    "migrate": Command(run_migrate, "check the database and upgrade its schema now, with progress lines"),
}


class Companion(Protocol):
    """A job running beside the collector on its database (collector.py's entry block passes the delivery worker
    and the watch monitor): started in order once the collector runs, stopped in reverse order after it has
    flushed, so each sees every stored tick and what the ones after it produce."""

    def start(self) -> object: ...

    def stop(self) -> None: ...


def main(argv: Sequence[str] | None = None, companions: Sequence[Callable[[str], Companion]] = ()) -> int:
    """Run the collector until SIGINT/SIGTERM, --duration, or the end of a replay; flush and exit 0. Start-up
    errors go to the user's terminal (logging may not be configured yet) with exit status 2. Each of `companions`
    is built on the collector's database and runs beside it.
    `main([NAME, ...])` runs a subcommand of COMMANDS instead: `import` files (see build_import_parser), `export`
    stored ticks to CSV (build_export_parser), move old ticks to Parquet once (`retention`), upgrade the schema now
    (`migrate`)."""
    argv = list(sys.argv[1:] if argv is None else argv)
    if argv[:1] and argv[0] in COMMANDS:
        status, error = COMMANDS[argv[0]].run(argv[1:])
        if error:
            print(f"collector.py {argv[0]}: {error}", file=sys.stderr)
        return status
    args = build_parser().parse_args(argv)
    try:
        settings = load_settings()
        overrides = {
            k: v
            for k, v in {
                "backfill_minutes": args.backfill_minutes,
                "backfill_kline_hours": args.backfill_kline_hours,
            }.items()
            if v is not None
        }
        if overrides:
            settings = Settings(**{**asdict(settings), **overrides})
        symbols = parse_symbols(args.symbols) if args.symbols else settings.symbols
        configure_logging(settings.log_level)
        replay = os.pathsep.join(args.replay_file) if args.replay_file else None
        feed = make_feed(settings, args.feed, replay_file=replay, speed=args.speed, record=args.record)
        collector = make_collector(settings, feed, args.db)
    except (ConfigError, ValueError, OSError) as exc:
        print(f"collector.py: {exc}", file=sys.stderr)
        return 2
    stop = threading.Event()
    for sig in (signal.SIGINT, signal.SIGTERM):
        signal.signal(sig, lambda *_: stop.set())
    try:
        collector.start(symbols)
    except (UnknownSymbolError, RuntimeError, OSError, ValueError) as exc:
        collector.stop()
        print(f"collector.py: {str(exc) or type(exc).__name__}", file=sys.stderr)  # never an empty reason
        return 2
    running = [make(collector.db_target) for make in companions]
    for companion in running:
        companion.start()
    deadline = time.monotonic() + args.duration if args.duration else None
    next_status = time.monotonic() + args.status_interval
    while not stop.is_set():
        if collector.wait_finished(0.2) or (deadline and time.monotonic() >= deadline):
            break
        if time.monotonic() >= next_status:
            log.info(status_line(collector.stats()))
            next_status += args.status_interval
    collector.stop()
    for companion in reversed(running):
        companion.stop()
    log.info(status_line(collector.stats()))
    if feed.recorder is not None:
        feed.recorder.close()
    if collector.state is CollectorState.FAILED:
        print(f"collector.py: {collector.last_error}", file=sys.stderr)
        return 1
    return 0
