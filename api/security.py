"""Protection for a tool on localhost, as ASGI middleware on the API paths: an optional bearer token, and
state-changing requests (and the live socket) refused from a foreign `Origin` so a web page the user visits cannot
change or read the data. CORS is an allow-list (empty by default; never `*`), via Starlette's CORSMiddleware."""

from __future__ import annotations

import hmac
import json
from collections.abc import Awaitable, Callable, MutableMapping
from typing import Any
from urllib.parse import parse_qs

from starlette.middleware import Middleware
from starlette.middleware.cors import CORSMiddleware

from config import Settings
from service.links import verify_link

Scope = MutableMapping[str, Any]
ASGIApp = Callable[[Scope, Callable, Callable], Awaitable[None]]
API_PREFIXES = ("/api/", "/ws/")
SAFE_METHODS = ("GET", "HEAD", "OPTIONS")


def _headers(scope: Scope) -> dict[str, str]:
    return {k.decode("latin-1").lower(): v.decode("latin-1") for k, v in scope.get("headers", [])}


def refusal(scope: Scope, settings: Settings) -> tuple[int, str] | None:
    """(status, reason) when an API request must be refused, else None."""
    headers = _headers(scope)
    if settings.api_token:
        given = headers.get("authorization", "").removeprefix("Bearer ").strip()
        if not given:
            given = parse_qs(scope.get("query_string", b"").decode("latin-1")).get("token", [""])[0]
        if not hmac.compare_digest(given.encode(), settings.api_token.encode()) and not verify_link(
            scope.get("method", ""), scope["path"], scope.get("query_string", b"").decode("latin-1"), settings.api_token
        ):
            return 401, "token: missing or wrong API token (Authorization: Bearer <API_TOKEN>)"
    origin = headers.get("origin")
    changing = scope["type"] == "websocket" or scope.get("method", "GET") not in SAFE_METHODS
    if origin and changing:
        host = headers.get("host", "")
        own = {f"http://{host}", f"https://{host}"}
        if origin not in own and origin not in settings.api_cors_origins:
            return 403, f"Origin: {origin} may not change or stream data (add it to API_CORS_ORIGINS)"
    return None


class OriginGuard:
    """Refuses API requests that fail `refusal` with a JSON 401/403 (a WebSocket is closed with 1008)."""

    def __init__(self, app: ASGIApp, settings: Settings) -> None:
        self.app, self.settings = app, settings

    async def __call__(self, scope: Scope, receive: Callable, send: Callable) -> None:
        if scope["type"] not in ("http", "websocket") or not scope["path"].startswith(API_PREFIXES):
            await self.app(scope, receive, send)
            return
        refused = refusal(scope, self.settings)
        if refused is None:
            await self.app(scope, receive, send)
            return
        status, reason = refused
        if scope["type"] == "websocket":
            await send({"type": "websocket.close", "code": 1008, "reason": reason[:120]})
            return
        param = "token" if status == 401 else "Origin"
        body = json.dumps({"status": "error", "error": reason, "msg": reason, "param": param}).encode()
        await send(
            {
                "type": "http.response.start",
                "status": status,
                "headers": [(b"content-type", b"application/json"), (b"content-length", str(len(body)).encode())],
            }
        )
        await send({"type": "http.response.body", "body": body})


def middleware(settings: Settings) -> list[Middleware]:
    """CORS for the allow-listed origins only, then the origin/token guard."""
    return [
        Middleware(
            CORSMiddleware,
            allow_origins=list(settings.api_cors_origins),
            allow_methods=["GET", "POST", "DELETE"],
            allow_headers=["Authorization", "Content-Type"],
        ),
        Middleware(OriginGuard, settings=settings),
    ]
