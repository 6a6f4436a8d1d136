"""BinanceArchive against the fake data.binance.vision: verified daily files, id ranges, chunks, failures, cleanup.

The fake serves every trade of a past UTC day from its history, however old; REST serves only the last 48 h, which is
why gaps older than that can be repaired from the archive alone.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import re
import socket

import pytest
from fake_binance import FakeBinance

import feed.archive as data_feed  # _ARCHIVE_BLOCK_BYTES is patched where BinanceArchive reads it
from data_feed import ArchiveError, BinanceArchive, BinanceRest

pytestmark = [pytest.mark.network, pytest.mark.timeout(60)]
DAY_MS = 86_400_000
SYM = "BTCUSDT"


@pytest.fixture
def tmp_dir(tmp_path):
    path = tmp_path / "archive-tmp"
    path.mkdir()
    return path


def past_day(fb: FakeBinance, days_ago: int) -> tuple[dt.date, int]:
    """(UTC date, its start in epoch ms) of the day ``days_ago`` before the server's today."""
    now = fb.now_ms()
    start = now - now % DAY_MS - days_ago * DAY_MS
    return dt.datetime.fromtimestamp(start / 1000, dt.UTC).date(), start


def three_days_back(fb: FakeBinance) -> tuple[dt.date, int]:
    """Trades every 30 s from an hour before the day 3 days ago until well into the next day; returns that day."""
    day, start = past_day(fb, 3)
    fb.generate(SYM, 4000, start_ms=start - 3_600_000, spacing_ms=30_000)
    return day, start


def as_rows(ticks) -> list[tuple]:
    return [(t.symbol, t.trade_id, t.timestamp, t.price, t.size, t.is_buyer_maker, t.received_at) for t in ticks]


def expected_rows(fb: FakeBinance, start: int) -> list[tuple]:
    return [
        (SYM, t.agg_id, t.time_ms, float(t.price), float(t.qty), t.buyer_maker, t.time_ms)
        for t in fb.history(SYM)
        if start <= t.time_ms < start + DAY_MS
    ]


def flatten(chunks) -> list:
    return [tick for chunk in chunks for tick in chunk]


def test_full_day_round_trip_equals_history_of_that_day(fb, tmp_dir):
    day, start = three_days_back(fb)
    archive = BinanceArchive(fb.rest_base, tmp_dir=str(tmp_dir))
    ticks = flatten(archive.iter_agg_trades(SYM, day))
    expected = expected_rows(fb, start)
    assert len(expected) == DAY_MS // 30_000
    assert as_rows(ticks) == expected
    stats = archive.get_stats()
    assert stats.files == 1 and stats.ticks == len(expected) and stats.bytes > 0 and stats.last_error is None


def test_url_follows_the_archive_layout():
    archive = BinanceArchive("https://data.binance.vision/")
    assert archive.url("btcusdt", dt.date(2024, 8, 8)) == (
        "https://data.binance.vision/data/futures/um/daily/aggTrades/BTCUSDT/BTCUSDT-aggTrades-2024-08-08.zip"
    )


def test_id_range_keeps_only_first_to_last_id(fb):
    day, start = three_days_back(fb)
    ids = [row[1] for row in expected_rows(fb, start)]
    archive = BinanceArchive(fb.rest_base)
    middle = flatten(archive.iter_agg_trades(SYM, day, first_id=ids[100], last_id=ids[250]))
    assert [t.trade_id for t in middle] == ids[100:251]
    assert [t.trade_id for t in flatten(archive.iter_agg_trades(SYM, day, first_id=ids[-5]))] == ids[-5:]
    assert [t.trade_id for t in flatten(archive.iter_agg_trades(SYM, day, last_id=ids[4]))] == ids[:5]
    assert flatten(archive.iter_agg_trades(SYM, day, first_id=ids[-1] + 1)) == []


def test_chunks_hold_at_most_chunk_ticks(fb):
    day, start = three_days_back(fb)
    archive = BinanceArchive(fb.rest_base)
    chunks = list(archive.iter_agg_trades(SYM, day, chunk=1000))
    assert [len(c) for c in chunks] == [1000, 1000, 880]
    assert as_rows(flatten(chunks)) == expected_rows(fb, start)
    with pytest.raises(ValueError, match="chunk"):
        archive.iter_agg_trades(SYM, day, chunk=0)  # checked at the call, before any download
    with pytest.raises(ValueError, match="invalid symbol"):
        archive.iter_agg_trades("BTC/USDT", day)


@pytest.mark.parametrize("case", ["scripted", "today", "empty_day", "unknown_symbol"])
def test_unpublished_files_raise_missing(fb, tmp_dir, case):
    day, _ = three_days_back(fb)
    symbol = SYM
    if case == "scripted":
        fb.archive_missing(SYM, day)
    elif case == "today":
        fb.generate(SYM, 10, start_ms=fb.now_ms() - 10_000, spacing_ms=1000)  # today's file is not out yet
        day, _ = past_day(fb, 0)
    elif case == "empty_day":
        day, _ = past_day(fb, 10)
    else:
        symbol = "NOPEUSDT"
    archive = BinanceArchive(fb.rest_base, tmp_dir=str(tmp_dir))
    with pytest.raises(ArchiveError) as err:
        next(archive.iter_agg_trades(symbol, day))
    assert err.value.missing and err.value.status == 404
    assert archive.url(symbol, day) in str(err.value) and "HTTP 404" in str(err.value)
    assert archive.get_stats().last_error == str(err.value)
    assert list(tmp_dir.iterdir()) == []


def test_missing_fault_is_cleared(fb):
    day, start = three_days_back(fb)
    fb.archive_missing(SYM, day)
    fb.clear_faults()
    assert as_rows(flatten(BinanceArchive(fb.rest_base).iter_agg_trades(SYM, day))) == expected_rows(fb, start)


def test_checksum_mismatch_is_refused_before_any_tick(fb, tmp_dir):
    day, _ = three_days_back(fb)
    fb.corrupt_archive(SYM, day)
    archive = BinanceArchive(fb.rest_base, tmp_dir=str(tmp_dir))
    url = archive.url(SYM, day)
    chunks = archive.iter_agg_trades(SYM, day)
    with pytest.raises(ArchiveError) as err:
        next(chunks)
    assert re.fullmatch(
        re.escape(url) + r": sha256 [0-9a-f]{64} does not match \.CHECKSUM [0-9a-f]{64}", str(err.value)
    )
    assert not err.value.missing and err.value.status is None
    stats = archive.get_stats()
    assert (stats.files, stats.ticks, stats.last_error) == (0, 0, str(err.value))
    assert list(tmp_dir.iterdir()) == []


@pytest.mark.parametrize(
    "body", ["", "not a checksum", "abc123  BTCUSDT-aggTrades-{day}.zip", "{sha}  ETHUSDT-aggTrades-{day}.zip"]
)
def test_malformed_checksum_is_refused(fb, body):
    day, _ = three_days_back(fb)
    archive = BinanceArchive(fb.rest_base)
    url = archive.url(SYM, day)
    path = url.split(fb.rest_base, 1)[1] + ".CHECKSUM"
    fb.fail_rest(200, body=body.format(day=day.isoformat(), sha="a" * 64), content_type="text/plain", path=path)
    with pytest.raises(ArchiveError, match=re.escape(f"{url}.CHECKSUM: expected '<sha256 hex>  ")):
        next(archive.iter_agg_trades(SYM, day))


def test_http_errors_name_the_url_and_status(fb):
    day, _ = three_days_back(fb)
    archive = BinanceArchive(fb.rest_base)
    url = archive.url(SYM, day)
    fb.fail_rest(503, path=url.split(fb.rest_base, 1)[1])
    with pytest.raises(ArchiveError) as err:
        next(archive.iter_agg_trades(SYM, day))
    assert err.value.status == 503 and not err.value.missing
    assert str(err.value).startswith(f"{url}: HTTP 503")


def test_unreachable_server_gives_a_clear_error(tmp_dir):
    with socket.socket() as probe:  # a port nobody listens on
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    archive = BinanceArchive(f"http://127.0.0.1:{port}", timeout_s=5, tmp_dir=str(tmp_dir))
    day = dt.date(2024, 8, 8)
    with pytest.raises(ArchiveError) as err:
        next(archive.iter_agg_trades(SYM, day))
    assert str(err.value).startswith(f"cannot reach {archive.url(SYM, day)}.CHECKSUM: connection failed")
    assert err.value.status is None and not err.value.missing
    assert list(tmp_dir.iterdir()) == []


def test_temp_file_lives_only_while_iterating(fb, tmp_dir):
    day, _ = three_days_back(fb)
    archive = BinanceArchive(fb.rest_base, tmp_dir=str(tmp_dir))
    chunks = archive.iter_agg_trades(SYM, day, chunk=100)
    assert list(tmp_dir.iterdir()) == []  # nothing is downloaded before the first next()
    next(chunks)
    assert len(list(tmp_dir.iterdir())) == 1
    list(chunks)
    assert list(tmp_dir.iterdir()) == []  # exhausted
    chunks = archive.iter_agg_trades(SYM, day, chunk=100)
    next(chunks)
    chunks.close()
    assert list(tmp_dir.iterdir()) == []  # closed early


def test_archive_serves_what_rest_no_longer_does(fb):
    day, start = three_days_back(fb)
    fb.generate(SYM, 100, start_ms=fb.now_ms() - 100_000, spacing_ms=1000)  # recent: REST still has these
    old_id = expected_rows(fb, start)[0][1]
    rest = BinanceRest(fb.rest_base)
    served = [t.trade_id for t in rest.agg_trades(SYM, from_id=old_id, limit=1000)]
    assert served and old_id not in served and min(served) > old_id  # beyond the 48 h REST window
    ticks = flatten(BinanceArchive(fb.rest_base).iter_agg_trades(SYM, day, first_id=old_id, last_id=old_id))
    assert [t.trade_id for t in ticks] == [old_id]


def test_archive_requests_are_counted_and_spend_no_weight(fb):
    day, _ = three_days_back(fb)
    archive = BinanceArchive(fb.rest_base)
    flatten(archive.iter_agg_trades(SYM, day))
    path = archive.url(SYM, day).split(fb.rest_base, 1)[1]
    requests = fb.stats().rest_requests
    assert requests[path] == 1 and requests[path + ".CHECKSUM"] == 1
    rest = BinanceRest(fb.rest_base)
    rest.server_time()
    assert rest.get_stats().used_weight_1m == 1  # only the time call spent weight this minute


def test_a_day_that_grows_is_served_again_in_full(fb):
    day, start = past_day(fb, 3)
    fb.generate(SYM, 100, start_ms=start, spacing_ms=1000)
    archive = BinanceArchive(fb.rest_base)
    assert len(flatten(archive.iter_agg_trades(SYM, day))) == 100
    fb.generate(SYM, 50, spacing_ms=1000)  # continues the same day
    assert as_rows(flatten(archive.iter_agg_trades(SYM, day))) == expected_rows(fb, start)
    assert archive.get_stats().files == 2


def test_download_is_hashed_block_by_block(fb, monkeypatch):
    day, start = three_days_back(fb)
    monkeypatch.setattr(data_feed, "_ARCHIVE_BLOCK_BYTES", 1000)  # many blocks for one small file
    archive = BinanceArchive(fb.rest_base)
    assert as_rows(flatten(archive.iter_agg_trades(SYM, day))) == expected_rows(fb, start)
    assert archive.get_stats().bytes > 10 * 1000


def test_verified_but_unreadable_file_names_url_and_line(fb, tmp_dir):
    day, _ = three_days_back(fb)
    archive = BinanceArchive(fb.rest_base, tmp_dir=str(tmp_dir))
    url = archive.url(SYM, day)
    path = url.split(fb.rest_base, 1)[1]
    body = (
        "agg_trade_id,price,quantity,first_trade_id,last_trade_id,transact_time,is_buyer_maker\n"
        "1,100.5,0.1,1,1,1723075200000,true\n2,abc,0.1,2,2,1723075200001,false\n"
    )
    fb.fail_rest(200, body=body, content_type="application/zip", path=path)
    digest = hashlib.sha256(body.encode()).hexdigest()
    fb.fail_rest(200, body=f"{digest}  {url.rsplit('/', 1)[1]}\n", content_type="text/plain", path=path + ".CHECKSUM")
    with pytest.raises(ArchiveError, match=re.escape(f"{url}: line 3: ") + ".*price"):
        list(archive.iter_agg_trades(SYM, day))
    assert list(tmp_dir.iterdir()) == []
