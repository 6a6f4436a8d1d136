"""The API guard of issue 24, against the real server (`streamlit run app.py` in its own process) with real clients:
requests, websocket-client and raw sockets (a Host header of our choosing, a chunked body of 300 MB). Each test
failed on the code before the fix:

- DNS rebinding: a Host that is not this server's is refused (421) on every path, the page and its socket included,
  with and without a token, whatever the Origin;
- a signed link cannot be widened: a parameter added, blanked or repeated breaks the signature;
- bodies are counted while they are read (an upload against MAX_UPLOAD_MB, JSON against 64 KB), so a 300 MB body
  leaves the server's memory where it was; JSON nesting is bounded before parsing (a 400, not a 500);
- a zip declaring more than the unpacked limit is refused before a byte is inflated;
- the `/ws/live` broadcaster survives a heartbeat that fails with any exception.
"""

from __future__ import annotations

import contextlib
import dataclasses
import gzip
import http.client
import itertools
import json
import re
import socket
import sqlite3
import struct
import threading
import time
import zipfile
import zlib
from collections.abc import Iterable, Iterator
from pathlib import Path
from urllib.parse import urlsplit

import pytest
import requests
import websocket
from app_fixtures import seed_database
from served import Server, serve_process

import config
import data_feed
import database
from api.security import host_name
from service.links import signed_link, verify_link

pytestmark = pytest.mark.timeout(240)
SPAN_MS = 30 * 60_000
TICKS = 3000  # per symbol, over SPAN_MS
UPLOAD_MB = 20
BODY_MB = 300
GROWTH_MB = 40  # how much a refused body may grow the server's resident memory (it grew by the body's size)
PUBLIC = "analytics.example"  # the API_ALLOWED_HOSTS name of the test server


@dataclasses.dataclass(frozen=True)
class Served:
    server: Server
    db: str
    log: Path
    tmp: Path  # the server's TMPDIR: spilled uploads live here while a handler runs

    @property
    def url(self) -> str:
        return self.server.url

    @property
    def port(self) -> int:
        return int(self.url.rsplit(":", 1)[1])


@pytest.fixture(scope="module")
def seeded(tmp_path_factory) -> tuple[str, int]:
    """A SQLite database holding the test pair; returns (path, time of its last tick)."""
    path = str(tmp_path_factory.mktemp("guard") / "ticks.db")
    end = database.now_ms()
    seed_database(path, TICKS, SPAN_MS, end_ms=end, id_sign=-1)
    return path, end


@pytest.fixture(scope="module")
def app(seeded, tmp_path_factory) -> Iterator[Served]:
    """The server with the default security settings (no token), a 20 MB upload limit and a public name."""
    folder = tmp_path_factory.mktemp("app")
    (folder / "tmp").mkdir()
    env = {
        "DATA_FEED": "simulated",
        "DATABASE_URL": "",
        "CRYPTO_DB_PATH": seeded[0],
        "MAX_UPLOAD_MB": str(UPLOAD_MB),
        "API_ALLOWED_HOSTS": PUBLIC,
        "TMPDIR": str(folder / "tmp"),
    }
    with serve_process(folder / "server.log", env) as server:
        yield Served(server, seeded[0], folder / "server.log", folder / "tmp")


@pytest.fixture(scope="module")
def locked(seeded, tmp_path_factory) -> Iterator[Served]:
    """The server with API_TOKEN set."""
    folder = tmp_path_factory.mktemp("locked")
    env = {"DATA_FEED": "simulated", "DATABASE_URL": "", "CRYPTO_DB_PATH": seeded[0], "API_TOKEN": "s3cret"}
    with serve_process(folder / "server.log", env) as server:
        yield Served(server, seeded[0], folder / "server.log", folder)


def refused(resp: requests.Response, status: int, param: str) -> dict:
    """Assert an answer in the API's one error shape with this status and param; return its body."""
    assert resp.status_code == status, resp.text[:300]
    assert resp.headers["content-type"].startswith("application/json") and "Traceback" not in resp.text
    body = resp.json()
    assert set(body) == {"status", "error", "msg", "param"} and body["status"] == "error"
    assert body["msg"] == body["error"] != "" and body["param"] == param
    return body


def ws_url(served: Served, path: str) -> str:
    return served.url.replace("http://", "ws://") + path


# ================================================================================================== DNS rebinding
REBOUND = ("rebind.example", "127.0.0.1.rebind.example", "localhost.rebind.example", "[::2]", "evil@127.0.0.1")


@pytest.mark.parametrize("name", REBOUND)
def test_a_rebinding_host_reaches_nothing_without_a_token(app, name):
    """A page on another name re-pointed at 127.0.0.1: its requests carry its own Host and Origin. Every path of the
    server answers 421 before anything runs: the API (reads and writes), the page, its health check, and both
    sockets (/ws/live and the dashboard's own /_stcore/stream, which would let it press Start/Stop)."""
    host = f"{name}:{app.port}"
    evil = {"Host": host, "Origin": f"http://{host}"}
    rule = {"symbol_x": "btcusdt", "symbol_y": "ethusdt", "metric": "zscore", "op": ">", "threshold": 1}
    before = requests.get(f"{app.url}/api/alerts", timeout=30).json()
    for resp in (
        requests.get(f"{app.url}/api/symbols", headers=evil, timeout=30),
        requests.get(f"{app.url}/api/ticks.csv", params={"symbols": "BTCUSDT"}, headers=evil, timeout=30),
        requests.post(f"{app.url}/api/alerts", json=rule, headers=evil, timeout=30),
        requests.post(f"{app.url}/api/ingest/start", json={"symbols": ["btcusdt"]}, headers=evil, timeout=30),
        requests.get(f"{app.url}/", headers=evil, timeout=30),
        requests.get(f"{app.url}/_stcore/health", headers=evil, timeout=30),
        requests.options(f"{app.url}/api/alerts", headers=evil, timeout=30),
    ):
        assert "Host" in refused(resp, 421, "Host")["msg"]
    assert requests.get(f"{app.url}/api/alerts", timeout=30).json() == before
    assert requests.get(f"{app.url}/api/ingest/status", timeout=30).json()["state"] == "stopped"
    for path in ("/ws/live", "/_stcore/stream"):
        with pytest.raises(websocket.WebSocketBadStatusException):
            websocket.create_connection(ws_url(app, path), host=host, origin=evil["Origin"], timeout=15)


def test_a_rebinding_host_is_refused_with_the_right_token_too(locked):
    """With API_TOKEN set the Host is still checked first: a right token (or a valid signed link) from a page on a
    rebound name is refused all the same."""
    host = f"rebind.example:{locked.port}"
    token = {"Authorization": "Bearer s3cret"}
    refused(requests.get(f"{locked.url}/api/symbols", headers={**token, "Host": host}, timeout=30), 421, "Host")
    settings = dataclasses.replace(config.load_settings({}), api_token="s3cret")
    link = signed_link(settings, "/api/ticks.csv", {"symbols": "BTCUSDT"})
    refused(requests.get(locked.url + link, headers={"Host": host}, timeout=30), 421, "Host")
    with pytest.raises(websocket.WebSocketBadStatusException):
        websocket.create_connection(ws_url(locked, "/ws/live?token=s3cret"), host=host, timeout=15)
    ok = requests.get(f"{locked.url}/api/symbols", headers={**token, "Host": f"localhost:{locked.port}"}, timeout=30)
    assert ok.status_code == 200 and "btcusdt" in ok.json()["symbols"]


@pytest.mark.parametrize(
    "name", ["127.0.0.1", "localhost", "LocalHost.", "[::1]", "[0:0::1]", PUBLIC, "Analytics.Example"]
)
def test_the_servers_own_names_are_served(app, name):
    """The loopback names and API_ALLOWED_HOSTS, any port or none, any case: the page, the API and /ws/live."""
    for host in (f"{name}:{app.port}", name, f"{name}:443"):
        assert requests.get(f"{app.url}/api/symbols", headers={"Host": host}, timeout=30).status_code == 200
    assert (
        requests.get(f"{app.url}/", headers={"Host": name}, timeout=30).headers["content-type"].startswith("text/html")
    )
    host = f"{name}:{app.port}"  # a browser's socket from the page: its Origin is the page's, this host
    ws = websocket.create_connection(ws_url(app, "/ws/live"), host=host, origin=f"http://{host}", timeout=15)
    try:
        assert json.loads(ws.recv())["type"] == "heartbeat"
    finally:
        ws.close()


def raw_answer(served: Served, request: bytes) -> tuple[int, bytes]:
    """Send raw request bytes; the answer's status and body."""
    with socket.create_connection(("127.0.0.1", served.port), timeout=30) as sock:
        sock.sendall(request)
        answer = http.client.HTTPResponse(sock)
        answer.begin()
        return answer.status, answer.read()


def test_a_request_without_exactly_one_host_is_refused(app):
    status, body = raw_answer(app, b"GET /api/symbols HTTP/1.0\r\n\r\n")
    assert status == 421 and json.loads(body)["param"] == "Host"
    twice = (
        f"GET /api/symbols HTTP/1.1\r\nHost: 127.0.0.1:{app.port}\r\nHost: rebind.example\r\nConnection: close\r\n\r\n"
    )
    assert raw_answer(app, twice.encode())[0] in (400, 421)
    once = f"GET /api/symbols HTTP/1.1\r\nHost: 127.0.0.1:{app.port}\r\nConnection: close\r\n\r\n"
    assert raw_answer(app, once.encode())[0] == 200


def test_host_names_are_read_as_a_browser_sends_them():
    assert host_name("LOCALHOST.:8501") == "localhost" and host_name("[0:0::1]:80") == "[::1]"
    assert host_name("127.0.0.1") == "127.0.0.1" and host_name("Analytics.Example:443") == "analytics.example"
    for bad in ("", "a b", "evil@127.0.0.1", "127.0.0.1:99999", "127.0.0.1/x", "[::zz]", "127.0.0.1:8501#"):
        assert host_name(bad) is None, bad


def test_the_allowed_hosts_setting_is_validated():
    settings = config.load_settings({"API_ALLOWED_HOSTS": " Analytics.Example., 192.168.1.20, [FD00:0::20] "})
    assert settings.api_allowed_hosts == ("analytics.example", "192.168.1.20", "[fd00::20]")
    assert config.load_settings({}).api_allowed_hosts == ()
    for bad in ("http://analytics.example", "analytics.example:8501", "*.example", "a/b", "fd00::20", "a..b"):
        with pytest.raises(
            config.ConfigError, match=re.escape(f"API_ALLOWED_HOSTS={bad!r}: {bad!r} is not a host name")
        ):
            config.load_settings({"API_ALLOWED_HOSTS": bad})


# =================================================================================================== signed links
def minute(seeded: tuple[str, int]) -> dict[str, str]:
    """A one-minute window in the middle of the seeded ticks, for BTCUSDT."""
    start = seeded[1] - SPAN_MS // 2
    return {"symbols": "BTCUSDT", "start": str(start), "end": str(start + 60_000)}


def test_a_signed_link_cannot_be_widened(locked, seeded):
    """The dashboard's one-minute "Raw ticks (CSV)" link: blanking its window with `&start=&end=`, repeating a
    parameter or adding one no longer verifies (the whole history was served); reordering it still does."""
    settings = dataclasses.replace(config.load_settings({}), api_token="s3cret")
    link = signed_link(settings, "/api/ticks.csv", minute(seeded))
    rows = requests.get(locked.url + link, timeout=30).text.count("\nBTCUSDT,")
    assert 0 < rows < TICKS // 10
    for widened in ("&start=&end=", "&end=", "&start=0", "&end=99999999999999", "&limit=", "&symbols=ETHUSDT"):
        refused(requests.get(locked.url + link + widened, timeout=30), 401, "token")
    path, query = link.split("?")
    reordered = "&".join(reversed(query.split("&")))
    assert requests.get(f"{locked.url}{path}?{reordered}", timeout=30).text.count("\nBTCUSDT,") == rows
    parts = urlsplit(link)
    assert verify_link("GET", parts.path, parts.query, "s3cret")
    assert not verify_link("GET", parts.path, parts.query + "&start=&end=", "s3cret")
    assert not verify_link("GET", parts.path, parts.query + "&sig=" + query.rsplit("sig=", 1)[1], "s3cret")


def test_a_repeated_parameter_is_a_400(app, seeded):
    """Without a signature the handler must not guess which of two values is meant either."""
    window = minute(seeded)
    query = f"symbols=BTCUSDT&start={window['start']}&end={window['end']}&start="
    body = refused(requests.get(f"{app.url}/api/ticks.csv?{query}", timeout=30), 400, "start")
    assert "more than once" in body["msg"]
    refused(requests.get(f"{app.url}/api/resampled/btcusdt?limit=5&limit=6", timeout=30), 400, "limit")


# ==================================================================================================== body limits
def rss_mb(pid: int, field: str = "VmRSS") -> float:
    """A /proc/<pid>/status memory figure in MB."""
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith(field + ":"):
            return int(line.split()[1]) / 1024
    raise AssertionError(f"{field} missing")


@contextlib.contextmanager
def memory_watch(pid: int) -> Iterator[dict[str, float]]:
    """The server's resident memory before, at its peak (sampled every 20 ms, and its high-water mark) and after."""
    seen = {"before": rss_mb(pid), "hwm_before": rss_mb(pid, "VmHWM")}
    seen["peak"] = seen["before"]
    done = threading.Event()

    def sample() -> None:
        while not done.wait(0.02):
            seen["peak"] = max(seen["peak"], rss_mb(pid))

    watcher = threading.Thread(target=sample, daemon=True)
    watcher.start()
    try:
        yield seen
    finally:
        done.set()
        watcher.join()
        time.sleep(0.5)
        seen["after"], seen["hwm_after"] = rss_mb(pid), rss_mb(pid, "VmHWM")


def assert_bounded(seen: dict[str, float]) -> None:
    """Neither the sampled peak nor the kernel's high-water mark moved more than GROWTH_MB above the start."""
    assert seen["peak"] - seen["before"] < GROWTH_MB, seen
    assert seen["hwm_after"] < max(seen["hwm_before"], seen["before"] + GROWTH_MB), seen
    assert seen["after"] - seen["before"] < GROWTH_MB, seen


def chunked(pieces: Iterable[bytes]) -> Iterator[bytes]:
    """HTTP/1.1 chunked framing: the body's length is announced nowhere, so only counting can stop it."""
    for piece in pieces:
        yield b"%x\r\n%s\r\n" % (len(piece), piece)
    yield b"0\r\n\r\n"


def stream_request(served: Served, head: str, body: Iterable[bytes], timeout: float = 120) -> tuple[int, dict, float]:
    """Send `head` and the body from a thread while reading the answer on the same socket (a server that refuses
    a body mid-way answers and closes without reading the rest): (status, JSON answer, seconds)."""
    sock = socket.create_connection(("127.0.0.1", served.port), timeout=timeout)
    began = time.monotonic()

    def send() -> None:
        try:
            sock.sendall(head.encode())
            for piece in body:
                sock.sendall(piece)
        except OSError:
            pass  # the server refused the body and closed the connection

    sender = threading.Thread(target=send, daemon=True)
    sender.start()
    try:
        answer = http.client.HTTPResponse(sock)
        answer.begin()
        status, text = answer.status, answer.read()
    finally:
        with contextlib.suppress(OSError):
            sock.shutdown(socket.SHUT_RDWR)
        sock.close()
        sender.join(30)
    return status, json.loads(text), time.monotonic() - began


def ndjson_blocks(megabytes: int, symbol: str = "xrpusdt", start: int | None = None) -> Iterator[bytes]:
    """Valid NDJSON ticks, about 1 MB per block."""
    start = database.now_ms() - 86_400_000 if start is None else start
    lines_per_block = 2**20 // 64
    for block in range(megabytes):
        first = start + block * lines_per_block
        yield b"".join(
            b'{"symbol":"%s","ts":%d,"price":0.5,"size":1}\n' % (symbol.encode(), first + i)
            for i in range(lines_per_block)
        )


def form_head(served: Served, path: str) -> str:
    return (
        f"POST {path} HTTP/1.1\r\nHost: 127.0.0.1:{served.port}\r\n"
        "Content-Type: multipart/form-data; boundary=XyZ\r\nTransfer-Encoding: chunked\r\n\r\n"
    )


def form_body(blocks: Iterable[bytes], name: str = "t.ndjson") -> Iterator[bytes]:
    yield (
        f'--XyZ\r\nContent-Disposition: form-data; name="file"; filename="{name}"\r\n'
        "Content-Type: application/octet-stream\r\n\r\n"
    ).encode()
    yield from blocks
    yield b"\r\n--XyZ--\r\n"


def spilled(served: Served) -> list[Path]:
    """Uploads the server spilled to its TMPDIR and has not removed."""
    return list(served.tmp.glob("api-upload-*"))


def test_a_300_mb_upload_over_a_20_mb_limit_is_refused_in_bounded_memory(app):
    """Chunked, so no Content-Length announces it: the body is counted while it streams in and refused once past
    the limit; the server's memory does not grow with it (it grew by the whole body and stayed grown)."""
    with memory_watch(app.server.pid) as seen:
        status, body, seconds = stream_request(
            app, form_head(app, "/api/upload_ndjson"), chunked(form_body(ndjson_blocks(BODY_MB)))
        )
    assert status == 413 and body["param"] == "file" and "MAX_UPLOAD_MB" in body["msg"], body
    assert seconds < 30
    assert_bounded(seen)
    assert spilled(app) == []  # nothing of it is left on disk


def test_an_upload_under_the_limit_is_stored_from_a_spilled_file(app):
    """A 5 MB NDJSON upload (chunked) is validated and stored from a temporary file removed afterwards."""
    status, body, _ = stream_request(
        app, form_head(app, "/api/upload_ndjson"), chunked(form_body(ndjson_blocks(5, "dogeusdt")))
    )
    assert status == 200 and body == {"status": "ok", "loaded": 5 * (2**20 // 64)}, body
    assert "dogeusdt" in requests.get(f"{app.url}/api/symbols", timeout=30).json()["symbols"]
    assert spilled(app) == []


def test_a_300_mb_json_body_is_refused_in_bounded_memory(app):
    """JSON bodies are small (an alert rule, an ingest request): over 64 KB is a 413 while reading, announced
    (Content-Length, at once) or not (chunked). A 200 MB one took the server to 1.2 GB before."""
    with memory_watch(app.server.pid) as seen:
        pad = (b"a" * 2**20 for _ in range(BODY_MB))
        status, body, _ = stream_request(
            app,
            f"POST /api/alerts HTTP/1.1\r\nHost: 127.0.0.1:{app.port}\r\nContent-Type: application/json\r\n"
            "Transfer-Encoding: chunked\r\n\r\n",
            chunked(itertools.chain([b'{"symbol_x": "btcusdt", "pad": "'], pad, [b'"}'])),
        )
    assert status == 413 and body["param"] == "body" and "64 KB" in body["msg"], body
    assert_bounded(seen)
    announced = requests.post(
        f"{app.url}/api/alerts", data=b" " * (65 * 1024), headers={"Content-Type": "application/json"}, timeout=30
    )
    refused(announced, 413, "body")


@pytest.mark.parametrize("depth", [20_000, 200_000])
def test_deeply_nested_json_is_a_4xx_naming_the_body(app, depth):
    """20,000 nested arrays fit in 64 KB: refused by the depth bound before parsing (it was a 500, the parser's
    RecursionError); 200,000 are over the size limit."""
    resp = requests.post(
        f"{app.url}/api/alerts",
        data=b"[" * depth + b"]" * depth,
        headers={"Content-Type": "application/json"},
        timeout=30,
    )
    body = refused(resp, 400 if depth * 2 <= 64 * 1024 else 413, "body")
    assert ("levels deep" if resp.status_code == 400 else "64 KB") in body["msg"]
    assert "API handler failed" not in app.log.read_text()


def test_json_within_the_bounds_is_judged_on_its_fields(app):
    """Brackets inside strings are text, not nesting; 32 levels pass the bound and meet the handler's checks."""
    rule = {"symbol_x": "[[[[[[[[[[" * 10, "symbol_y": "ethusdt", "metric": "zscore", "op": ">", "threshold": 1}
    refused(requests.post(f"{app.url}/api/alerts", json=rule, timeout=30), 400, "symbol_x")
    nested = json.dumps(json.loads("[" * 32 + "]" * 32))
    assert "object" in refused(requests.post(f"{app.url}/api/alerts", data=nested, timeout=30), 400, "body")["msg"]
    deeper = "[" * 33 + "]" * 33
    assert "levels deep" in refused(requests.post(f"{app.url}/api/alerts", data=deeper, timeout=30), 400, "body")["msg"]


# ======================================================================================================= archives
def repeated_zip(path: Path, name: str, block: bytes, count: int) -> Path:
    """A zip64 archive of one deflated member: `block` repeated `count` times. Each block is compressed once and
    its bytes repeated (a full flush resets the compressor), so gigabytes of valid data pack in seconds."""
    packer = zlib.compressobj(9, zlib.DEFLATED, -15)
    piece = packer.compress(block) + packer.flush(zlib.Z_FULL_FLUSH)
    tail = packer.flush()
    crc = 0
    for _ in range(count):
        crc = zlib.crc32(block, crc)
    size, packed, fname = len(block) * count, len(piece) * count + len(tail), name.encode()
    extra = struct.pack("<HHQQ", 1, 16, size, packed)  # zip64: the sizes, too large for the 32-bit fields
    with open(path, "wb") as f:
        f.write(struct.pack("<IHHHHHIIIHH", 0x04034B50, 45, 0, 8, 0, 0x21, crc, 2**32 - 1, 2**32 - 1, len(fname), 20))
        f.write(fname + extra)
        for _ in range(count):
            f.write(piece)
        f.write(tail)
        directory_at = f.tell()
        directory = struct.pack(
            "<IHHHHHHIIIHHHHHII",
            0x02014B50,
            45,
            45,
            0,
            8,
            0,
            0x21,
            crc,
            2**32 - 1,
            2**32 - 1,
            len(fname),
            20,
            0,
            0,
            0,
            0,
            0,
        )
        f.write(directory + fname + extra)
        end64_at = f.tell()
        f.write(struct.pack("<IQHHIIQQQQ", 0x06064B50, 44, 45, 45, 0, 0, 1, 1, 46 + len(fname) + 20, directory_at))
        f.write(struct.pack("<IIQI", 0x07064B50, 0, end64_at, 1))
        f.write(struct.pack("<IHHHHIIH", 0x06054B50, 0, 0, 1, 1, 46 + len(fname) + 20, directory_at, 0))
    return path


def tick_block() -> bytes:
    """1 MB of valid NDJSON: one trade (with its id) over and over, as a bomb would pack it."""
    line = b'{"symbol":"btcusdt","ts":1700000000000,"price":1.5,"size":1,"trade_id":1}\n'
    return line * (2**20 // len(line))


@pytest.mark.parametrize("gib", [2.06, 4.0])
def test_a_zip_declaring_more_than_the_unpacked_limit_is_refused_at_once(app, tmp_path, gib):
    """A 7 MB (14 MB) zip of 2.06 GiB (4 GiB) of valid NDJSON: refused from its central directory, before
    inflating (it was read for minutes: no answer within 120 s)."""
    block = tick_block()
    archive = repeated_zip(tmp_path / "big.zip", "big.ndjson", block, int(gib * 2**30) // len(block) + 1)
    with zipfile.ZipFile(archive) as opened:  # a well-formed archive: the standard library reads it
        assert opened.infolist()[0].file_size > 2 * 2**30
    began = time.monotonic()
    with open(archive, "rb") as f:
        resp = requests.post(f"{app.url}/api/upload_ndjson", files={"file": ("big.zip", f)}, timeout=60)
    assert "declares" in refused(resp, 400, "file")["msg"]
    assert time.monotonic() - began < 5
    began = time.monotonic()
    with pytest.raises(data_feed.TickFileError, match=r"declares \d\.\d\d GiB unpacked"):
        next(data_feed.iter_ticks_from_file(archive))
    assert time.monotonic() - began < 1


def test_a_gzip_trailer_declaring_more_than_the_limit_is_refused_at_once(tmp_path):
    """A gzip's trailer holds its unpacked size (modulo 4 GiB, so never more than the truth): over the limit is
    refused before inflating; within it, the count while inflating still bounds what is read."""
    line = b'{"symbol":"btcusdt","ts":1700000000000,"price":1.5,"size":1}\n'
    packed = gzip.compress(line * 10)
    lying = tmp_path / "big.ndjson.gz"
    lying.write_bytes(packed[:-4] + struct.pack("<I", 3 * 2**30))
    with pytest.raises(data_feed.TickFileError, match=r"gzip trailer declares 3\.00 GiB"):
        next(data_feed.iter_ticks_from_file(lying))
    honest = tmp_path / "ok.ndjson.gz"
    honest.write_bytes(packed)
    assert len(list(data_feed.iter_ticks_from_file(honest))) == 10
    assert len(list(data_feed.iter_ticks_from_file(packed, name="ok.ndjson.gz"))) == 10


# ====================================================================================================== /ws/live
def test_the_live_socket_survives_a_heartbeat_that_fails(app):
    """A row another program wrote with a BLOB price (SQLite's CHECK (price > 0) lets it through) makes building the
    heartbeat fail with a TypeError, not a database error. Clients get an error message each second and the log
    one line; once the row is gone, later clients get heartbeats (they got nothing until a restart)."""
    with contextlib.closing(sqlite3.connect(app.db)) as conn, conn:
        conn.execute(
            "INSERT INTO ticks(symbol, id_space, trade_id, timestamp, price, size, is_buyer_maker, received_at) "
            "VALUES ('BTCUSDT', 2, -999999999, ?, X'01', 1, 0, ?)",
            (database.now_ms() + 3_600_000, database.now_ms()),
        )
    try:
        first = websocket.create_connection(ws_url(app, "/ws/live"), timeout=10)
        try:
            beats = [json.loads(first.recv()) for _ in range(3)]
        finally:
            first.close()
        assert [b["type"] for b in beats] == ["error"] * 3 and "internal error" in beats[0]["error"]
    finally:
        with contextlib.closing(sqlite3.connect(app.db)) as conn, conn:
            conn.execute("DELETE FROM ticks WHERE trade_id = -999999999")
    later = websocket.create_connection(ws_url(app, "/ws/live"), timeout=10)
    try:
        beat = json.loads(later.recv())
        if beat["type"] == "error":  # the beat built while the row was still there
            beat = json.loads(later.recv())
    finally:
        later.close()
    assert beat["type"] == "heartbeat" and beat["symbols"]["btcusdt"]["price"] > 0
    log = app.log.read_text()
    assert log.count("heartbeat failed") == 1 and "TypeError" in log
