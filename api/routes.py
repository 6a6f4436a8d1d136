"""The API's route table: one row per endpoint (method, path, the framework-free handler of this package, what it
reads from the request and how its result is rendered). A row's handler runs in a worker thread (the event loop keeps
serving the dashboard); every failure, a handler's `ApiError` or anything else, becomes an answer in one place
(`failure`), in the one error shape of api.errors."""

from __future__ import annotations

import collections
import enum
import json
import logging
import os
import re
import shutil
import tempfile
from collections.abc import Awaitable, Callable, Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, BinaryIO

from starlette.concurrency import run_in_threadpool
from starlette.exceptions import HTTPException
from starlette.requests import ClientDisconnect, Request
from starlette.responses import JSONResponse, Response, StreamingResponse
from starlette.routing import BaseRoute, Match, Route, WebSocketRoute
from starlette.types import Message
from starlette.websockets import WebSocket, WebSocketDisconnect

import database
from api import alerts, deliveries, ingest, market, pair, params, research, scanner, uploads, watchlist
from api.errors import ApiError
from api.live import Broadcaster
from config import Settings

log = logging.getLogger(__name__)
HTTP_METHODS = ("GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS")
FORM_OVERHEAD = 2**20  # a multipart body may exceed MAX_UPLOAD_MB by this much (boundaries, fields)
MAX_FORM_FIELDS = 16  # text fields of an upload form (ours have two)
MAX_JSON_BYTES = 64 * 1024  # a JSON body (an alert rule, an ingest request) is a few hundred bytes
MAX_JSON_DEPTH = 32  # how deeply a JSON body may nest arrays and objects (ours: two levels)
_STRINGS = re.compile(rb'"(?:[^"\\]|\\.)*"')  # JSON strings, whose brackets are text
_BRACKETS = re.compile(rb"[][{}]")


class Body(enum.StrEnum):
    """What an endpoint reads from the request besides its path and query."""

    NONE = "none"
    JSON = "json"  # the body as JSON (`Call.body`)
    FORM = "form"  # a multipart form: the `file` field (`Call.file`, `.filename`), text `.fields`


@dataclass(frozen=True)
class Call:
    """A request as a handler sees it, framework-free: path parameters, the query, and what its row reads."""

    path: Mapping[str, str]
    query: Mapping[str, str]
    body: Any = None
    file: Path | None = None  # the uploaded file, spilled to a temporary file while the handler runs
    filename: str = ""
    fields: Mapping[str, str] = field(default_factory=dict)


def as_json(result: Any, _: Call) -> Response:
    """A JSON-ready dict or list."""
    return JSONResponse(result)


def as_csv(result: Iterator[str], _: Call) -> Response:
    """CSV chunks, streamed."""
    return StreamingResponse(result, media_type="text/csv")


def as_ticks_file(result: Iterator[str], call: Call) -> Response:
    """CSV chunks, streamed as a download named after the symbols (the dashboard's "Raw ticks (CSV)" link)."""
    response = as_csv(result, call)
    name = "-".join(params.symbols(call.query.get("symbols", ""))) + "_ticks.csv"  # ticks_csv parsed them
    response.headers["content-disposition"] = f'attachment; filename="{name}"'
    return response


@dataclass(frozen=True)
class Endpoint:
    """A row of the route table: `run(settings, call)` answers `method path`; `render` turns its result into the
    response (JSON unless said otherwise)."""

    method: str
    path: str
    run: Callable[[Settings, Call], Any]
    body: Body = Body.NONE
    render: Callable[[Any, Call], Response] = as_json


# Every endpoint of SEED_API.md plus ingest stop/status, gaps, the raw ticks, the market scanner, the watchlist, its
# signals and paper positions: one row each.
ENDPOINTS = (
    Endpoint("GET", "/api/symbols", lambda s, c: market.symbols(s)),
    Endpoint("GET", "/api/resampled/{symbol}", lambda s, c: market.resampled(s, c.path["symbol"], c.query)),
    Endpoint(
        "GET", "/api/export/{symbol}", lambda s, c: market.export_csv(s, c.path["symbol"], c.query), render=as_csv
    ),
    Endpoint("GET", "/api/ticks.csv", lambda s, c: market.ticks_csv(s, c.query), render=as_ticks_file),
    Endpoint("GET", "/api/analytics/pair", lambda s, c: pair.pair(s, c.query)),
    Endpoint("GET", "/api/analytics/corr_matrix", lambda s, c: pair.corr_matrix(s, c.query)),
    Endpoint("GET", "/api/analytics/pair_export", lambda s, c: pair.pair_export(s, c.query), render=as_csv),
    Endpoint("GET", "/api/research/bands", lambda s, c: research.bands(s, c.query)),
    Endpoint("GET", "/api/research/walkforward", lambda s, c: research.walk_forward(s, c.query)),
    Endpoint("GET", "/api/research/dsr", lambda s, c: research.deflated_sharpe(s, c.query)),
    Endpoint("GET", "/api/alerts", lambda s, c: alerts.list_rules(s)),
    Endpoint("POST", "/api/alerts", lambda s, c: alerts.add_rule(s, c.body), Body.JSON),
    Endpoint("DELETE", "/api/alerts/{rule_id}", lambda s, c: alerts.delete_rule(s, c.path["rule_id"])),
    Endpoint("GET", "/api/deliveries", lambda s, c: deliveries.deliveries(s, c.query)),
    Endpoint("POST", "/api/upload_ndjson", lambda s, c: uploads.upload_ticks(s, c.file, c.filename), Body.FORM),
    Endpoint(
        "POST",
        "/api/upload_ohlcv",
        lambda s, c: uploads.upload_bars(
            s, c.file, c.filename, c.fields.get("symbol", ""), c.fields.get("timeframe", "1s")
        ),
        Body.FORM,
    ),
    Endpoint("POST", "/api/ingest/start", lambda s, c: ingest.start(s, c.body), Body.JSON),
    Endpoint("POST", "/api/ingest/stop", lambda s, c: ingest.stop()),
    Endpoint("GET", "/api/ingest/status", lambda s, c: ingest.status()),
    Endpoint("GET", "/api/gaps", lambda s, c: ingest.gaps(s, dict(c.query))),
    Endpoint("GET", "/api/scanner", lambda s, c: scanner.latest(s, c.query)),
    Endpoint("POST", "/api/scanner/run", lambda s, c: scanner.run(s, c.query)),
    Endpoint("GET", "/api/watchlist", lambda s, c: watchlist.list_watches(s)),
    Endpoint("POST", "/api/watchlist", lambda s, c: watchlist.add_watch(s, c.body), Body.JSON),
    Endpoint(
        "PUT",
        "/api/watchlist/{watch_id}",
        lambda s, c: watchlist.update_watch(s, c.path["watch_id"], c.body),
        Body.JSON,
    ),
    Endpoint("DELETE", "/api/watchlist/{watch_id}", lambda s, c: watchlist.delete_watch(s, c.path["watch_id"])),
    Endpoint("GET", "/api/signals", lambda s, c: watchlist.list_signals(s, c.query)),
    Endpoint("GET", "/api/positions", lambda s, c: watchlist.list_positions(s, c.query)),
    Endpoint("POST", "/api/positions", lambda s, c: watchlist.open_position(s, c.body), Body.JSON),
    Endpoint(
        "POST", "/api/positions/{position_id}/close", lambda s, c: watchlist.close_position(s, c.path["position_id"])
    ),
)


def failure(exc: BaseException) -> JSONResponse:
    """The one place a failure becomes an answer, always in ApiError's shape: an ApiError as it says, a database
    that cannot be reached or read a 503, anything else (a fault of ours: logged with its traceback, answered
    without one) a 500."""
    if not isinstance(exc, ApiError):
        if isinstance(exc, (*database.DATABASE_ERRORS, OSError)):
            log.warning("API request failed: %s", exc)
            exc = ApiError(503, "database", f"database unavailable: {exc}")
        else:
            log.error("API handler failed", exc_info=exc)
            exc = ApiError(500, "", "internal error (see the server log)")
    return JSONResponse(exc.body(), status_code=exc.status)


def _counted(request: Request, limit: int, too_large: Callable[[str], ApiError]) -> Request:
    """The request with its body counted while it is read: a Content-Length over `limit` is refused before any of
    the body is read, and a body sent without one (chunked) is refused as soon as `limit` bytes have arrived —
    either way `too_large(size)` (a 413), and no more of the body is read."""
    length = request.headers.get("content-length", "")
    if length.isascii() and length.isdigit() and int(length) > limit:
        raise too_large(f"{int(length) / 2**20:,.1f} MB" if int(length) >= 2**20 else f"{int(length):,} bytes")
    receive, total = request.receive, 0

    async def counted() -> Message:
        nonlocal total
        message = await receive()
        total += len(message.get("body", b""))
        if total > limit:
            raise too_large(f"over {limit / 2**20:,.1f} MB" if limit >= 2**20 else f"over {limit:,} bytes")
        return message

    return Request(request.scope, counted)


def json_depth(data: bytes, stop: int) -> int:
    """How deeply JSON text nests arrays and objects (brackets outside strings), counted up to `stop`: a bound
    checked before parsing, so a body of 100,000 "[" never reaches the parser's recursion."""
    depth = deepest = 0
    for bracket in _BRACKETS.finditer(_STRINGS.sub(b"", data)):
        depth += 1 if bracket.group() in b"[{" else -1
        deepest = max(deepest, depth)
        if deepest >= stop:
            break
    return deepest


async def _json(request: Request) -> Any:
    """The body as JSON: at most MAX_JSON_BYTES (413) and MAX_JSON_DEPTH deep (400), read and checked in that
    order before it is parsed."""
    data = await _counted(
        request,
        MAX_JSON_BYTES,
        lambda size: ApiError(
            413, "body", f"the JSON body is {size}; a JSON body may be at most {MAX_JSON_BYTES // 1024} KB"
        ),
    ).body()
    if json_depth(data, MAX_JSON_DEPTH + 1) > MAX_JSON_DEPTH:
        raise ApiError(400, "body", f"the JSON body nests arrays/objects more than {MAX_JSON_DEPTH} levels deep")
    try:
        return json.loads(data or b"null")
    except ValueError as exc:
        raise ApiError(400, "body", f"the request body is not JSON: {exc}") from None


def _spill(source: BinaryIO) -> Path:
    """An uploaded file (spooled by the form parser) copied to a file of its own, 1 MB at a time: the importer
    validates and stores from a path, so the upload is never held in memory."""
    fd, name = tempfile.mkstemp(prefix="api-upload-")
    try:
        with os.fdopen(fd, "wb") as out:
            source.seek(0)
            shutil.copyfileobj(source, out, 2**20)
    except BaseException:
        Path(name).unlink(missing_ok=True)
        raise
    return Path(name)


async def _form(request: Request, settings: Settings, call: Call) -> Call:
    """A multipart form: its `file` field spilled to a temporary file (`Call.file`, removed once the handler has
    run), its text fields; the body counted against MAX_UPLOAD_MB while it streams in (413)."""
    limit = settings.max_upload_mb * 2**20

    def too_large(size: str) -> ApiError:
        return ApiError(
            413, "file", f"the request body is {size}; the upload limit is {settings.max_upload_mb} MB (MAX_UPLOAD_MB)"
        )

    counted = _counted(request, limit + FORM_OVERHEAD, too_large)
    try:
        form = await counted.form(max_files=1, max_fields=MAX_FORM_FIELDS)
    except (AssertionError, ValueError, HTTPException) as exc:  # (no python-multipart; a malformed body)
        detail = exc.detail if isinstance(exc, HTTPException) else exc
        raise ApiError(400, "file", f"expected a multipart/form-data body: {detail}") from None
    try:
        upload = form.get("file")
        if upload is None or isinstance(upload, str):
            raise ApiError(400, "file", "the multipart field 'file' is required")
        fields = {k: v for k, v in form.items() if isinstance(v, str)}
        try:
            path = await run_in_threadpool(_spill, upload.file)
        except OSError as exc:  # a full or unwritable temporary folder: not the database's fault, nor the client's
            raise ApiError(503, "file", f"the upload could not be kept in a temporary file: {exc}") from None
    finally:
        await form.close()
    return Call(call.path, call.query, file=path, filename=upload.filename or "", fields=fields)


async def _read(request: Request, body: Body, settings: Settings) -> Call:
    """The request as a Call: its path parameters and query (each parameter once: a repeated one is a 400), and the
    body its row reads (a bad one is a 4xx)."""
    counts = collections.Counter(name for name, _ in request.query_params.multi_items())
    if repeated := sorted(name for name, count in counts.items() if count > 1):
        raise ApiError(400, repeated[0], f"{repeated[0]} is given more than once; give each parameter once")
    call = Call(dict(request.path_params), dict(request.query_params))
    try:
        if body is Body.JSON:
            return Call(call.path, call.query, body=await _json(request))
        if body is Body.FORM:
            return await _form(request, settings, call)
    except ClientDisconnect:
        raise ApiError(400, "body", "the client closed the connection before sending the whole body") from None
    return call


def _answer(settings: Settings, row: Endpoint) -> Callable[[Request], Awaitable[Response]]:
    """The Starlette endpoint of a row: read the request, run the handler off the event loop, render the result."""

    async def answer(request: Request) -> Response:
        call: Call | None = None
        try:
            call = await _read(request, row.body, settings)
            return row.render(await run_in_threadpool(row.run, settings, call), call)
        except Exception as exc:
            return failure(exc)
        finally:
            if call is not None and call.file is not None:
                call.file.unlink(missing_ok=True)

    return answer


def _unknown(routes: list[Route]) -> Callable[[Request], Awaitable[Response]]:
    """Every other /api/ request: a 405 naming the allowed methods when the path is an endpoint's, else a 404."""

    async def unknown(request: Request) -> Response:
        allowed = sorted(
            {m for route in routes if route.matches(request.scope)[0] is Match.PARTIAL for m in route.methods or ()}
        )
        if not allowed:
            return failure(ApiError(404, "path", f"path {request.url.path}: no such API endpoint"))
        response = failure(
            ApiError(
                405,
                "method",
                f"method {request.method} is not allowed on {request.url.path} (allowed: {', '.join(allowed)})",
            )
        )
        response.headers["allow"] = ", ".join(allowed)
        return response

    return unknown


def build_routes(settings: Settings) -> list[BaseRoute]:
    """The table's routes, the live socket, and the answer to any other /api/ path."""
    live = Broadcaster(settings)

    async def ws_live(ws: WebSocket) -> None:
        await ws.accept()
        queue = live.subscribe()
        try:
            while True:
                await ws.send_text(await queue.get())
        except (WebSocketDisconnect, RuntimeError):
            pass
        finally:
            live.unsubscribe(queue)

    routes = [Route(row.path, _answer(settings, row), methods=[row.method]) for row in ENDPOINTS]
    return [
        *routes,
        WebSocketRoute("/ws/live", ws_live),
        Route("/api/{path:path}", _unknown(routes), methods=HTTP_METHODS),
    ]
