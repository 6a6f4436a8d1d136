"""File formats: detection, tick parsers (NDJSON, archive CSV with/without header, zip, recorded frames), strict
errors naming the line, upload limits, OHLCV/kline bar uploads, and ReplayFeed over each format."""

from __future__ import annotations

import gzip
import io
import json
import os
import time
import zipfile

import pytest

from core.vocabulary import IdSpace
from data_feed import (
    EventKind,
    FeedState,
    FileFormat,
    OhlcvBar,
    ParseReport,
    ReplayFeed,
    Tick,
    TickFileError,
    detect_tick_format,
    iter_ticks_from_file,
    parse_ohlcv_csv,
    parse_tick_file,
)

T0 = 1_723_161_256_000
AGG_HEADER = "agg_trade_id,price,quantity,first_trade_id,last_trade_id,transact_time,is_buyer_maker"
AGG_ROWS = [
    f"{100 + i},61800.{i}0,0.00{i + 1},{500 + 2 * i},{501 + 2 * i},{T0 + 10 * i},{str(i % 2 == 0).lower()}"
    for i in range(5)
]
TRADE_HEADER = "id,price,qty,quote_qty,time,is_buyer_maker"
TRADE_ROWS = [
    f"{900 + i},2681.6{i},1.00{i},{2681.6 * (1 + i / 1000):.4f},{T0 + i},{'true' if i % 2 else 'false'}"
    for i in range(4)
]
EXPECTED_AGG = [
    Tick(
        "BTCUSDT",
        100 + i,
        T0 + 10 * i,
        float(f"61800.{i}0"),
        float(f"0.00{i + 1}"),
        i % 2 == 0,
        T0 + 10 * i,
        IdSpace.AGG_TRADE,
    )
    for i in range(5)
]


def _csv(*lines: str) -> bytes:
    return ("\n".join(lines) + "\n").encode()


def _zip(name: str, data: bytes) -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as archive:
        archive.writestr(name, data)
    return buffer.getvalue()


def _frame_line(ns: int, payload: dict, stream: str | None = None) -> str:
    body = {"stream": stream, "data": payload} if stream else payload
    return f"{ns} {json.dumps(body, separators=(',', ':'))}"


# ======================================================================================================= detection
@pytest.mark.parametrize(
    "data, fmt",
    [
        (_csv('{"symbol":"BTCUSDT","ts":"2025-11-01T09:50:49.841Z","price":1,"size":1}'), FileFormat.NDJSON),
        (_csv(AGG_HEADER, *AGG_ROWS), FileFormat.AGG_TRADES_CSV),
        (_csv(*AGG_ROWS), FileFormat.AGG_TRADES_CSV),
        (_csv(TRADE_HEADER, *TRADE_ROWS), FileFormat.TRADES_CSV),
        (_csv(*TRADE_ROWS), FileFormat.TRADES_CSV),
        (_csv('1723161255088176367 {"stream":"btcusdt@trade","data":{"e":"trade"}}'), FileFormat.RAW_FRAMES),
        (
            _csv("wss://fstream.binance.com/stream?streams=a <-> 1.0", '1626992741.06: {"stream":"x","data":{}}'),
            FileFormat.RAW_FRAMES,
        ),
        (_csv("ts,open,high,low,close,volume", "2024-01-01T00:00:00Z,1,2,0.5,1.5,10"), FileFormat.OHLCV_CSV),
        (_csv("1704067200000,1,2,0.5,1.5,10"), FileFormat.OHLCV_CSV),
        (_csv("2024-01-01T00:00:00Z,1,2,0.5,1.5,10"), FileFormat.OHLCV_CSV),
        (
            _csv(
                "1704067200000,2283.84,2284.79,2282.97,2283.89,1365.349,1704067259999,3118000.1,1200,700.1,1598000.2,0"
            ),
            FileFormat.KLINE_CSV,
        ),
    ],
)
def test_detect_formats(data, fmt):
    assert detect_tick_format(data) is fmt
    assert detect_tick_format(gzip.compress(data)) is fmt
    assert detect_tick_format(_zip("inner.csv", data)) is fmt


def test_detect_rejects_unknown_and_empty_files():
    with pytest.raises(TickFileError, match="unrecognised format"):
        detect_tick_format(b"hello world\nfoo bar\n", name="notes.txt")
    with pytest.raises(TickFileError, match="upload is empty"):
        detect_tick_format(b"\n\n")
    with pytest.raises(TickFileError, match="not a readable zip"):
        detect_tick_format(b"PK\x03\x04garbage")


# =========================================================================================================== NDJSON
NDJSON = _csv(
    '{"symbol":"BTCUSDT","ts":"2025-11-01T09:50:49.841Z","price":109983.4,"size":0.04}',
    '{"symbol":"ethusdt","ts":1761990650184,"price":"3875.68","size":"0.187"}',
    '{"symbol":"BTCUSDT","ts":"2025-11-01T09:50:49.841Z","price":109983.5,"size":0.01}',
    '{"symbol":"BTCUSDT","ts":1761990650.5,"price":109983.6,"size":0.02,"trade_id":77,"is_buyer_maker":true}',
)


def test_ndjson_ticks_get_deterministic_negative_ids():
    ticks = parse_tick_file(NDJSON, "ticks.ndjson")
    ms = 1761990649841
    assert ticks == [
        Tick("BTCUSDT", -(ms * 1000), ms, 109983.4, 0.04, False, ms),
        Tick("ETHUSDT", -(1761990650184 * 1000), 1761990650184, 3875.68, 0.187, False, 1761990650184),
        Tick("BTCUSDT", -(ms * 1000 + 1), ms, 109983.5, 0.01, False, ms),
        Tick("BTCUSDT", 77, 1761990650500, 109983.6, 0.02, True, 1761990650500),
    ]
    assert parse_tick_file(NDJSON, "again.ndjson") == ticks, "replaying twice yields the same ids"


@pytest.mark.parametrize(
    "line, problem",
    [
        ('{"symbol":"BTCUSDT","ts":1761990650184,"price":"abc","size":1}', "price 'abc' is not a number"),
        ('{"symbol":"BTCUSDT","ts":1761990650184,"size":1}', "missing field(s) price"),
        ('{"symbol":"BTC-USDT","ts":1761990650184,"price":1,"size":1}', "invalid symbol 'BTC-USDT'"),
        ('{"symbol":"BTCUSDT","ts":"yesterday","price":1,"size":1}', "ts 'yesterday' is neither"),
        ('{"symbol":"BTCUSDT","ts":1761990650184,"price":-5,"size":1}', "price -5.0 must be positive"),
        ('{"symbol":"BTCUSDT","ts":1761990650184,"price":1,"size":"NaN"}', "size 'NaN' is not a finite number"),
        ('{"symbol":"BTCUSDT","ts":12,"price":1,"size":1}', "ts 12 is outside 2000-2100"),
        ('{"symbol":"BTCUSDT", "ts":', "not valid JSON"),
        ("[1, 2]", "expected a JSON object"),
    ],
)
def test_strict_ndjson_errors_name_the_line_and_the_problem(line, problem):
    good = '{"symbol":"BTCUSDT","ts":1761990650184,"price":1,"size":1}'
    with pytest.raises(TickFileError) as info:
        parse_tick_file(_csv(good, good, line, good), "bad.ndjson")
    assert info.value.line_no == 3
    assert str(info.value) == f"line 3: {info.value.message}" and problem in str(info.value)


def test_lenient_parsing_skips_and_counts_bad_lines():
    report = ParseReport()
    data = _csv(
        '{"symbol":"BTCUSDT","ts":1761990650184,"price":1,"size":1}',
        "",
        "{oops",
        '{"symbol":"BTCUSDT","ts":1761990650185,"price":2,"size":1}',
    )
    ticks = parse_tick_file(data, "x.ndjson", strict=False, report=report)
    assert [t.price for t in ticks] == [1.0, 2.0]
    assert (report.format, report.lines, report.records, report.errors) == ("ndjson", 3, 2, 1)
    assert report.first_error.startswith("line 3: not valid JSON")


def test_real_gemscap_ndjson(shared_data):
    path = next((shared_data / "gemscap_collector").glob("*.ndjson"))
    ticks = list(iter_ticks_from_file(path, strict=True))
    assert len(ticks) == 993, "992 newline-terminated lines plus a final line without newline"
    assert {t.symbol for t in ticks} == {"BTCUSDT", "ETHUSDT"}
    assert len({(t.symbol, t.trade_id) for t in ticks}) == len(ticks) and all(t.trade_id < 0 for t in ticks)
    assert ticks == list(iter_ticks_from_file(path)), "deterministic ids"


# ====================================================================================================== archive CSV
@pytest.mark.parametrize("lines", [[AGG_HEADER, *AGG_ROWS], AGG_ROWS], ids=["header", "no-header"])
def test_agg_trades_csv_with_and_without_header(lines):
    assert parse_tick_file(_csv(*lines), "BTCUSDT-aggTrades-2024-08-08.csv") == EXPECTED_AGG


@pytest.mark.parametrize("lines", [[TRADE_HEADER, *TRADE_ROWS], TRADE_ROWS], ids=["header", "no-header"])
def test_trades_csv_with_and_without_header(lines):
    ticks = parse_tick_file(_csv(*lines), "whatever.csv", symbol="ethusdt")
    assert [(t.symbol, t.trade_id, t.timestamp, t.price, t.is_buyer_maker) for t in ticks] == [
        ("ETHUSDT", 900 + i, T0 + i, float(f"2681.6{i}"), i % 2 == 1) for i in range(4)
    ]


def test_zipped_archive_takes_the_symbol_from_the_member_name():
    data = _zip("BTCUSDT-aggTrades-2024-08-08.csv", _csv(AGG_HEADER, *AGG_ROWS))
    assert parse_tick_file(data, "download.zip") == EXPECTED_AGG


def test_csv_errors():
    with pytest.raises(TickFileError, match="cannot tell the symbol"):
        parse_tick_file(_csv(*AGG_ROWS), "mystery.csv")
    bad = AGG_ROWS[2].replace("61800.20", "61,800.20")
    with pytest.raises(TickFileError, match="line 4: expected 7 columns like the first line, found 8"):
        parse_tick_file(_csv(AGG_HEADER, AGG_ROWS[0], AGG_ROWS[1], bad), "BTCUSDT-aggTrades-2024-08-08.csv")
    with pytest.raises(TickFileError, match="line 2: is_buyer_maker 'maybe' is not true/false"):
        parse_tick_file(_csv(TRADE_ROWS[0], TRADE_ROWS[1].replace("true", "maybe")), "ETHUSDT-trades-x.csv")


def test_upload_size_limit():
    limit = r"big.ndjson is 3.0 MB; the upload limit is 2 MB \(MAX_UPLOAD_MB\)"
    with pytest.raises(TickFileError, match=limit) as info:
        parse_tick_file(b" " * 3 * 2**20, "big.ndjson", max_bytes=2 * 2**20)
    assert info.value.line_no == 0
    with pytest.raises(TickFileError, match="upload limit is 1 MB"):
        parse_ohlcv_csv(
            b"ts,open,high,low,close,volume\n" + b"1,1,1,1,1,1\n" * 200_000, name="bars.csv", max_bytes=2**20
        )


# =================================================================================================== recorded frames
def _frames_file() -> bytes:
    agg = {
        "e": "aggTrade",
        "E": T0,
        "a": 7,
        "s": "BTCUSDT",
        "p": "61800.30",
        "q": "0.006",
        "nq": "0.006",
        "f": 1,
        "l": 2,
        "T": T0,
        "m": True,
    }
    placeholder = {"e": "trade", "E": T0, "T": T0, "s": "BTCUSDT", "t": 8, "p": "0", "q": "0", "X": "NA", "m": False}
    return _csv(
        '1723161255000000000 {"lastUpdateId":1,"E":1,"T":1,"bids":[],"asks":[]}',
        _frame_line(1_723_161_255_088_176_367, agg, "btcusdt@aggTrade"),
        _frame_line(
            1_723_161_255_089_000_000,
            {
                "e": "bookTicker",
                "u": 1,
                "E": T0,
                "T": T0,
                "s": "BTCUSDT",
                "b": "61800.2",
                "B": "1.5",
                "a": "61800.3",
                "A": "2",
            },
            "btcusdt@bookTicker",
        ),
        _frame_line(1_723_161_255_090_000_000, placeholder, "btcusdt@trade"),
        _frame_line(1_723_161_255_091_999_999, {**agg, "a": 9, "p": "61800.40"}),
    )


def test_recorded_frames_plain_and_gzip():
    for data in (_frames_file(), gzip.compress(_frames_file())):
        report = ParseReport()
        ticks = parse_tick_file(data, "session.frames.gz", report=report)
        assert ticks == [
            Tick("BTCUSDT", 7, T0, 61800.3, 0.006, True, 1_723_161_255_088, IdSpace.AGG_TRADE),
            Tick("BTCUSDT", 9, T0, 61800.4, 0.006, True, 1_723_161_255_091, IdSpace.AGG_TRADE),
        ]
        assert (report.skipped, report.placeholders, report.errors) == (2, 1, 0)


def test_truncated_frame_is_an_error_naming_the_line():
    data = _frames_file() + b'1723161255095000000 {"stream":"btcusdt@aggTrade","data":{"e":"aggTr\n'
    with pytest.raises(TickFileError, match="line 6: not JSON"):
        parse_tick_file(data, "session.frames")


# ======================================================================================================= bar uploads
def test_ohlcv_csv_with_header_iso_and_epoch_times():
    data = _csv(
        "timestamp,open,high,low,close,volume",
        "2024-01-01T00:00:00Z,10,12,9,11,100",
        "1704067260000,11,11.5,10.5,11,0",
        "1704067320,11,11,11,11,5.5",
    )
    assert parse_ohlcv_csv(data) == [
        OhlcvBar(1704067200000, 10, 12, 9, 11, 100),
        OhlcvBar(1704067260000, 11, 11.5, 10.5, 11, 0),
        OhlcvBar(1704067320000, 11, 11, 11, 11, 5.5),
    ]


def test_ohlcv_header_may_reorder_columns():
    data = _csv("open,high,low,close,volume,ts", "10,12,9,11,100,2024-01-01T00:00:00")
    assert parse_ohlcv_csv(data) == [OhlcvBar(1704067200000, 10, 12, 9, 11, 100)]


@pytest.mark.parametrize(
    "row, problem",
    [
        ("1704067260000,11,10,9,10.5,1", "high 10 is below max(open, close) = 11"),
        ("1704067260000,11,12,11.5,11.2,1", "low 11.5 is above min(open, close) = 11"),
        ("1704067260000,11,12,10,11,-3", "volume -3 is negative"),
        ("1704067260000,11,12,ten,11,3", "low 'ten' is not a number"),
        ("1704067260000,11,12,10", "expected 6 columns ts,open,high,low,close,volume, found 4"),
    ],
)
def test_ohlcv_validation_names_the_line(row, problem):
    data = _csv("ts,open,high,low,close,volume", "1704067200000,10,12,9,11,100", row)
    with pytest.raises(TickFileError) as info:
        parse_ohlcv_csv(data)
    assert str(info.value) == f"line 3: {problem}"
    assert len(parse_ohlcv_csv(data, strict=False)) == 1


@pytest.mark.parametrize("header", [True, False])
def test_binance_kline_csv(header):
    lines = [
        "1704067200000,2283.84,2284.79,2282.97,2283.89,1365.349,1704067259999,3118000.1,1200,700.1,1598000.2,0",
        "1704067260000,2283.89,2285.00,2283.00,2284.50,900.5,1704067319999,2056000.3,800,450.2,1028000.1,0",
    ]
    if header:
        lines.insert(
            0,
            "open_time,open,high,low,close,volume,close_time,quote_volume,count,taker_buy_volume,"
            "taker_buy_quote_volume,ignore",
        )
    bars = parse_ohlcv_csv(_csv(*lines))
    assert bars[0] == OhlcvBar(1704067200000, 2283.84, 2284.79, 2282.97, 2283.89, 1365.349, 1200)
    assert [b.trades for b in bars] == [1200, 800]


def test_bar_and_tick_parsers_refuse_each_others_files():
    with pytest.raises(TickFileError, match=r"holds ticks .*expected an OHLCV CSV"):
        parse_ohlcv_csv(NDJSON)
    with pytest.raises(TickFileError, match=r"holds OHLCV bars .*not ticks"):
        parse_tick_file(_csv("ts,open,high,low,close,volume", "1704067200000,10,12,9,11,100"), "bars.csv")


# ========================================================================================================== replay
def _replay(path, symbols=(), timeout: float = 10.0, **options) -> tuple[ReplayFeed, list[Tick], list]:
    feed = ReplayFeed(path, **options)
    ticks: list[Tick] = []
    events: list = []
    feed.set_callback(ticks.append)
    feed.set_event_callback(events.append)
    feed.connect(list(symbols))
    deadline = time.monotonic() + timeout
    while not any(e.kind is EventKind.FINISHED for e in events) and time.monotonic() < deadline:
        time.sleep(0.01)
    feed.disconnect()
    return feed, ticks, events


@pytest.mark.timeout(30)
@pytest.mark.parametrize(
    "name, data",
    [
        ("ticks.ndjson", NDJSON),
        ("BTCUSDT-aggTrades-2024-08-08.csv", _csv(AGG_HEADER, *AGG_ROWS)),
        ("BTCUSDT-aggTrades-2024-08-08.zip", _zip("BTCUSDT-aggTrades-2024-08-08.csv", _csv(*AGG_ROWS))),
        ("session.frames.gz", gzip.compress(_frames_file())),
    ],
)
def test_replay_feed_replays_each_format_as_fast_as_possible(tmp_path, name, data):
    path = tmp_path / name
    path.write_bytes(data)
    expected = parse_tick_file(data, name, strict=False)
    feed, ticks, events = _replay(path, speed=0)
    assert [(t.symbol, t.trade_id, t.timestamp, t.price, t.size, t.is_buyer_maker) for t in ticks] == [
        (t.symbol, t.trade_id, t.timestamp, t.price, t.size, t.is_buyer_maker) for t in expected
    ]
    stats = feed.get_stats()
    assert stats.kind == "replay" and stats.state is FeedState.FINISHED and stats.ticks == len(expected)
    assert [e.kind for e in events] == [EventKind.CONNECTED, EventKind.FINISHED]


@pytest.mark.timeout(30)
def test_replay_speed_filter_and_loop(tmp_path):
    path = tmp_path / "ticks.ndjson"
    rows = [
        {"symbol": s, "ts": T0 + 100 * i, "price": 10 + i, "size": 1, "trade_id": 5 + i}
        for i in range(11)
        for s in ("BTCUSDT", "ETHUSDT")
    ]
    path.write_text("\n".join(json.dumps(r) for r in rows))
    started = time.monotonic()
    _, ticks, _ = _replay(path, ["ETHUSDT"], speed=4.0)
    elapsed = time.monotonic() - started
    assert {t.symbol for t in ticks} == {"ETHUSDT"} and len(ticks) == 11
    assert 0.2 <= elapsed < 2.0, "1 s of recorded time at speed 4"
    assert ticks[-1].received_at - ticks[0].received_at >= 200

    feed = ReplayFeed(path, speed=0, loop=True, symbols=["BTCUSDT"])
    looped: list[Tick] = []
    feed.set_callback(looped.append)
    feed.connect([])
    deadline = time.monotonic() + 5
    while len(looped) < 33 and time.monotonic() < deadline:
        time.sleep(0.01)
    feed.disconnect()
    ids = [t.trade_id for t in looped[:33]]
    assert ids == list(range(5, 5 + 33)), "each pass continues the ids"
    times = [t.timestamp for t in looped[:33]]
    assert times == sorted(times) and times[11] == T0 + 1001


@pytest.mark.timeout(30)
def test_several_files_and_a_folder_replay_as_one_session_in_time_order(tmp_path):
    """Two symbols' daily archives (and the platform's own tick CSV) replay together, merged by exchange time."""
    folder = tmp_path / "day"
    folder.mkdir()
    (folder / "BTCUSDT-aggTrades-2024-08-08.csv").write_bytes(_csv(AGG_HEADER, *AGG_ROWS))
    eth = [f"{500 + i},2681.{i}0,1.0,{i},{i},{T0 + 10 * i + 5},false" for i in range(5)]
    (folder / "ETHUSDT-aggTrades-2024-08-08.csv").write_bytes(_csv(*eth))
    own = tmp_path / "export.csv"
    own.write_text(
        "symbol,trade_id,timestamp,price,size,is_buyer_maker,received_at,id_space\n"
        f"SOLUSDT,3,{T0 + 1},150.5,2,0,{T0 + 1},trade\n"
    )
    feed, ticks, events = _replay(f"{folder}{os.pathsep}{own}", speed=0)
    assert [t.timestamp for t in ticks] == sorted(t.timestamp for t in ticks) and len(ticks) == 11
    assert {(t.symbol, t.space) for t in ticks} == {
        ("BTCUSDT", IdSpace.AGG_TRADE),
        ("ETHUSDT", IdSpace.AGG_TRADE),
        ("SOLUSDT", IdSpace.TRADE),
    }
    assert "and 2 more file(s)" in feed.get_stats().source and events[-1].kind is EventKind.FINISHED
    empty = tmp_path / "empty"
    empty.mkdir()
    with pytest.raises(FileNotFoundError, match="holds no files"):
        ReplayFeed(empty)


def test_replay_refuses_missing_and_bar_files(tmp_path):
    with pytest.raises(FileNotFoundError):
        ReplayFeed(tmp_path / "nope.ndjson")
    bars = tmp_path / "bars.csv"
    bars.write_text("ts,open,high,low,close,volume\n1704067200000,10,12,9,11,100\n")
    with pytest.raises(TickFileError, match="holds OHLCV bars"):
        ReplayFeed(bars).connect([])


@pytest.mark.timeout(30)
def test_disconnect_from_inside_the_event_callback(tmp_path):
    path = tmp_path / "ticks.ndjson"
    path.write_bytes(NDJSON)
    feed = ReplayFeed(path, speed=0)
    seen: list[str] = []

    def on_event(event) -> None:
        seen.append(event.kind)
        if event.kind is EventKind.FINISHED:
            feed.disconnect()

    feed.set_event_callback(on_event)
    feed.connect([])
    deadline = time.monotonic() + 5
    while EventKind.FINISHED not in seen and time.monotonic() < deadline:
        time.sleep(0.01)
    assert seen == [EventKind.CONNECTED, EventKind.FINISHED] and not feed.is_connected()
