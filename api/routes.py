"""The API's route table: thin Starlette wrappers that parse the request, run a framework-free handler from this
package in a worker thread (the event loop keeps serving the dashboard) and render JSON, CSV streams or errors."""

from __future__ import annotations

import json
import logging
from collections.abc import Callable, Iterator
from typing import Any

from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import JSONResponse, Response, StreamingResponse
from starlette.routing import BaseRoute, Route, WebSocketRoute
from starlette.websockets import WebSocket, WebSocketDisconnect

import database
from api import alerts, ingest, market, pair, params, scanner, uploads
from api.errors import ApiError
from api.live import Broadcaster
from config import Settings

log = logging.getLogger(__name__)


async def _answer(job: Callable[[], Any]) -> Response:
    """Run a handler off the event loop; ApiError → its 4xx JSON, a database failure → 503 JSON."""
    try:
        result = await run_in_threadpool(job)
    except ApiError as exc:
        return JSONResponse(exc.body(), status_code=exc.status)
    except (*database.DatabaseError, OSError) as exc:
        log.warning("API request failed: %s", exc)
        return JSONResponse(
            {"status": "error", "error": f"database unavailable: {exc}", "param": "database"}, status_code=503
        )
    except Exception:  # a fault of ours: logged with its traceback, answered without one
        log.exception("API handler failed")
        return JSONResponse(
            {"status": "error", "error": "internal error (see the server log)", "param": ""}, status_code=500
        )
    if isinstance(result, Iterator):
        return StreamingResponse(result, media_type="text/csv")
    return JSONResponse(result)


async def _json_body(request: Request) -> Any:
    try:
        return json.loads(await request.body() or b"null")
    except ValueError as exc:
        raise ApiError(400, "body", f"the request body is not JSON: {exc}") from None


async def _form_file(request: Request) -> tuple[bytes, str, dict[str, str]]:
    """The multipart `file` field's bytes and name, and the other text fields."""
    try:
        form = await request.form()
    except (AssertionError, ValueError) as exc:  # starlette asserts python-multipart's presence
        raise ApiError(400, "file", f"expected a multipart/form-data body: {exc}") from None
    upload = form.get("file")
    if upload is None or isinstance(upload, str):
        raise ApiError(400, "file", "the multipart field 'file' is required")
    data = await upload.read()
    fields = {k: v for k, v in form.items() if isinstance(v, str)}
    return data, upload.filename or "", fields


def build_routes(settings: Settings) -> list[BaseRoute]:
    """Every endpoint of SEED_API.md plus ingest stop/status, gaps and the market scanner."""
    s = settings
    live = Broadcaster(settings)

    async def get_symbols(_: Request) -> Response:
        return await _answer(lambda: market.symbols(s))

    async def get_resampled(r: Request) -> Response:
        return await _answer(lambda: market.resampled(s, r.path_params["symbol"], r.query_params))

    async def get_export(r: Request) -> Response:
        return await _answer(lambda: market.export_csv(s, r.path_params["symbol"], r.query_params))

    async def get_ticks(r: Request) -> Response:
        response = await _answer(lambda: market.ticks_csv(s, r.query_params))
        if isinstance(response, StreamingResponse):
            name = "-".join(params.symbols(r.query_params.get("symbols", ""))) + "_ticks.csv"  # ticks_csv parsed them
            response.headers["content-disposition"] = f'attachment; filename="{name}"'
        return response

    async def get_pair(r: Request) -> Response:
        return await _answer(lambda: pair.pair(s, r.query_params))

    async def get_corr(r: Request) -> Response:
        return await _answer(lambda: pair.corr_matrix(s, r.query_params))

    async def get_pair_export(r: Request) -> Response:
        return await _answer(lambda: pair.pair_export(s, r.query_params))

    async def get_alerts(_: Request) -> Response:
        return await _answer(lambda: alerts.list_rules(s))

    async def post_alert(r: Request) -> Response:
        try:
            body = await _json_body(r)
        except ApiError as exc:
            return JSONResponse(exc.body(), status_code=exc.status)
        return await _answer(lambda: alerts.add_rule(s, body))

    async def delete_alert(r: Request) -> Response:
        return await _answer(lambda: alerts.delete_rule(s, r.path_params["rule_id"]))

    async def post_ndjson(r: Request) -> Response:
        try:
            data, name, _ = await _form_file(r)
        except ApiError as exc:
            return JSONResponse(exc.body(), status_code=exc.status)
        return await _answer(lambda: uploads.upload_ticks(s, data, name))

    async def post_ohlcv(r: Request) -> Response:
        try:
            data, name, fields = await _form_file(r)
        except ApiError as exc:
            return JSONResponse(exc.body(), status_code=exc.status)
        return await _answer(
            lambda: uploads.upload_bars(s, data, name, fields.get("symbol", ""), fields.get("timeframe", "1s"))
        )

    async def post_start(r: Request) -> Response:
        try:
            body = await _json_body(r)
        except ApiError as exc:
            return JSONResponse(exc.body(), status_code=exc.status)
        return await _answer(lambda: ingest.start(s, body))

    async def post_stop(_: Request) -> Response:
        return await _answer(ingest.stop)

    async def get_status(_: Request) -> Response:
        return await _answer(ingest.status)

    async def get_gaps(r: Request) -> Response:
        return await _answer(lambda: ingest.gaps(s, dict(r.query_params)))

    async def post_scan(r: Request) -> Response:
        return await _answer(lambda: scanner.run(s, r.query_params))

    async def get_scan(r: Request) -> Response:
        return await _answer(lambda: scanner.latest(s, r.query_params))

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

    return [
        Route("/api/symbols", get_symbols, methods=["GET"]),
        Route("/api/resampled/{symbol}", get_resampled, methods=["GET"]),
        Route("/api/export/{symbol}", get_export, methods=["GET"]),
        Route("/api/ticks.csv", get_ticks, methods=["GET"]),
        Route("/api/analytics/pair", get_pair, methods=["GET"]),
        Route("/api/analytics/corr_matrix", get_corr, methods=["GET"]),
        Route("/api/analytics/pair_export", get_pair_export, methods=["GET"]),
        Route("/api/alerts", get_alerts, methods=["GET"]),
        Route("/api/alerts", post_alert, methods=["POST"]),
        Route("/api/alerts/{rule_id}", delete_alert, methods=["DELETE"]),
        Route("/api/upload_ndjson", post_ndjson, methods=["POST"]),
        Route("/api/upload_ohlcv", post_ohlcv, methods=["POST"]),
        Route("/api/ingest/start", post_start, methods=["POST"]),
        Route("/api/ingest/stop", post_stop, methods=["POST"]),
        Route("/api/ingest/status", get_status, methods=["GET"]),
        Route("/api/gaps", get_gaps, methods=["GET"]),
        Route("/api/scanner", get_scan, methods=["GET"]),
        Route("/api/scanner/run", post_scan, methods=["POST"]),
        WebSocketRoute("/ws/live", ws_live),
    ]
