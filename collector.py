"""Background collection: feed → bounded queue → batching writer thread → database, plus gap repair and backfill.

A thin facade over the collection/ package (see its docstring for the file of each job): `Collector` runs one feed
into one database, `start_service()`/`current_collector()` keep the one collector of a process (the dashboard
shares it across browser tabs), and `python collector.py` is the headless CLI.
"""

from __future__ import annotations

import sys

from collection.cli import build_parser, main, status_line
from collection.collector import Collector
from collection.imports import ImportPlan, ImportRefused, store_import, validate_import
from collection.isolated import CollectorProcess
from collection.queue import TickQueue
from collection.records import BackfillProgress, CollectorState, CollectorStats
from collection.rest_history import REST_SAFETY_MS, utc_day
from collection.service import (
    RunningCollector,
    current_collector,
    last_stop_ms,
    make_collector,
    make_feed,
    start_service,
    stop_service,
)
from collection.universe import HistoryReport, load_binance_history, store_simulated_history

__all__ = [
    "REST_SAFETY_MS",
    "BackfillProgress",
    "Collector",
    "CollectorProcess",
    "CollectorState",
    "CollectorStats",
    "HistoryReport",
    "ImportPlan",
    "ImportRefused",
    "RunningCollector",
    "TickQueue",
    "build_parser",
    "current_collector",
    "last_stop_ms",
    "load_binance_history",
    "main",
    "make_collector",
    "make_feed",
    "start_service",
    "status_line",
    "stop_service",
    "store_import",
    "store_simulated_history",
    "utc_day",
    "validate_import",
]

if __name__ == "__main__":
    # The headless process's composition root: the watch monitor (service layer, above this one) evaluates the
    # watched pairs beside the collector, the delivery worker sends their signals and alarms to the configured
    # webhooks. Only this entry block may reach upward (tests/test_layering.py).
    from service.deliveries import HeadlessDeliveries
    from service.monitor import WatchMonitor

    sys.exit(main(companions=(HeadlessDeliveries, WatchMonitor)))
