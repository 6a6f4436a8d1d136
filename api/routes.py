"""The API's route table: one row per endpoint (method, path, the framework-free handler of this package, what it
reads from the request and how its result is rendered). A row's handler runs in a worker thread (the event loop keeps
serving the dashboard); every failure, a handler's `ApiError` or anything else, becomes an answer in one place
(`failure`), in the one error shape of api.errors."""

from __future__ import annotations

import enum
import json
import logging
from collections.abc import Awaitable, Callable, Iterator, Mapping
from dataclasses import dataclass, field
from typing import Any

from starlette.concurrency import run_in_threadpool
from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import JSONResponse, Response, StreamingResponse
from starlette.routing import BaseRoute, Match, Route, WebSocketRoute
from starlette.websockets import WebSocket, WebSocketDisconnect

import database
from api import alerts, ingest, market, pair, params, scanner, uploads
from api.errors import ApiError
from api.live import Broadcaster
from config import Settings

log = logging.getLogger(__name__)
HTTP_METHODS = ("GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS")
FORM_OVERHEAD = 2**20  # a multipart body may exceed MAX_UPLOAD_MB by this much (boundaries, fields)


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
    file: bytes = b""
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


# Every endpoint of SEED_API.md plus ingest stop/status, gaps, the raw ticks and the market scanner: one row each.
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
    Endpoint("GET", "/api/alerts", lambda s, c: alerts.list_rules(s)),
    Endpoint("POST", "/api/alerts", lambda s, c: alerts.add_rule(s, c.body), Body.JSON),
    Endpoint("DELETE", "/api/alerts/{rule_id}", lambda s, c: alerts.delete_rule(s, c.path["rule_id"])),
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


async def _read(request: Request, body: Body, settings: Settings) -> Call:
    """The request as a Call: its path parameters and query, and the body its row reads (a bad one is a 4xx)."""
    call = Call(dict(request.path_params), dict(request.query_params))
    if body is Body.JSON:
        try:
            return Call(call.path, call.query, body=json.loads(await request.body() or b"null"))
        except ValueError as exc:
            raise ApiError(400, "body", f"the request body is not JSON: {exc}") from None
    if body is Body.FORM:
        limit = settings.max_upload_mb * 2**20
        length = request.headers.get("content-length", "")
        if length.isdigit() and int(length) > limit + FORM_OVERHEAD:
            raise ApiError(
                413,
                "file",
                f"the request body is {int(length) / 2**20:,.1f} MB; the upload limit is "
                f"{settings.max_upload_mb} MB (MAX_UPLOAD_MB)",
            )
        try:
            form = await request.form()
        except (AssertionError, ValueError, HTTPException) as exc:  # (no python-multipart; a malformed body)
            detail = exc.detail if isinstance(exc, HTTPException) else exc
            raise ApiError(400, "file", f"expected a multipart/form-data body: {detail}") from None
        upload = form.get("file")
        if upload is None or isinstance(upload, str):
            raise ApiError(400, "file", "the multipart field 'file' is required")
        fields = {k: v for k, v in form.items() if isinstance(v, str)}
        return Call(call.path, call.query, file=await upload.read(), filename=upload.filename or "", fields=fields)
    return call


def _answer(settings: Settings, row: Endpoint) -> Callable[[Request], Awaitable[Response]]:
    """The Starlette endpoint of a row: read the request, run the handler off the event loop, render the result."""

    async def answer(request: Request) -> Response:
        try:
            call = await _read(request, row.body, settings)
            return row.render(await run_in_threadpool(row.run, settings, call), call)
        except Exception as exc:
            return failure(exc)

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
