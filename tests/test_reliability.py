"""Issue 10 ("never lose a trade, for real"): the faults that still lost data and the inputs that still got through,
each against the real collector, the fake Binance server and real files (nothing mocked)."""
from __future__ import annotations

import os
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

import pytest
from test_faults import SYMS, make_collector, store_history_head

import config
import database as db

ROOT = Path(__file__).resolve().parents[1]
pytestmark = [pytest.mark.timeout(120)]


# ------------------------------------------------------------------------------------------ item 8: migrations
_OPEN_AT = """
import sys, time
import database
start = float(sys.argv[2])
time.sleep(max(0.0, start - time.time()))
database.ensure_database(sys.argv[1])
"""


def test_concurrent_first_opens_of_a_fresh_database_all_succeed(tmp_path):
    """Several processes opening one fresh file at the same instant: each must find the schema migrated once."""
    failures = []
    for trial in range(4):
        path = str(tmp_path / f"fresh{trial}.db")
        start = time.time() + 1.5
        procs = [subprocess.Popen([sys.executable, "-c", _OPEN_AT, path, str(start)], cwd=ROOT,
                                  stderr=subprocess.PIPE, text=True) for _ in range(4)]
        for proc in procs:
            _, err = proc.communicate(timeout=60)
            if proc.returncode:
                failures.append(err.strip().splitlines()[-1])
        conn = sqlite3.connect(path)
        assert conn.execute("PRAGMA user_version").fetchone()[0] == db.SCHEMA_VERSION
        conn.close()
    assert not failures, failures


# --------------------------------------------------------------------------------- item 9: a damaged file
def _damage(path: str) -> None:
    """Overwrite one page in the middle of the file (as a bad disk sector or a torn copy would)."""
    conn = sqlite3.connect(path)
    page = conn.execute("PRAGMA page_size").fetchone()[0]
    pages = conn.execute("PRAGMA page_count").fetchone()[0]
    conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    conn.close()
    with open(path, "r+b") as f:
        f.seek(page * (pages // 2))
        f.write(b"\xa5" * page)


@pytest.mark.network
def test_a_damaged_database_is_refused_at_start_with_a_clear_message(fb, db_path):
    store_history_head(fb, db_path, "BTCUSDT", 20_000)
    _damage(db_path)
    size = os.path.getsize(db_path)
    c = make_collector(fb, db_path)
    with pytest.raises(RuntimeError, match=r"is damaged.*quick_check"):
        c.start(SYMS)
    c.stop()
    assert os.path.getsize(db_path) == size
    assert not os.path.exists(db_path + "-wal") or os.path.getsize(db_path + "-wal") == 0


# ------------------------------------------------------------------------------ item 10: inputs refused
@pytest.mark.parametrize(("var", "value", "message"), [
    ("CRYPTO_DB_PATH", ":memory:", "expected a file path"),
    ("BINANCE_WS_URL", "wss://user:secret@fstream.binance.com/market", "credentials"),
    ("BINANCE_WS_URL", "wss://fstream.binance.com:99999/market", "port"),
    ("BINANCE_WS_URL", "wss://[::1/market", "host"),
    ("BINANCE_REST_URL", "https://fapi.binance.com/?x=1", "query string"),
    ("SYMBOLS", "btcusdtß", "invalid symbol"),
    ("BATCH_SIZE", "1_000", "ASCII digits"),
    ("BATCH_SIZE", "\u0661\u0662\u0663", "ASCII digits"),
    ("FEE_BPS", "\u0663.5", "ASCII digits"),
])
def test_bad_settings_are_refused_naming_the_variable(var, value, message):
    with pytest.raises(config.ConfigError, match=var) as err:
        config.load_settings({var: value})
    assert message in str(err.value)
    assert "secret" not in str(err.value)
