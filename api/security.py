"""Protection for a tool on localhost, as ASGI middleware on the API paths: an optional bearer token, and
state-changing requests (and the live socket) refused from a foreign `Origin` so a web page the user visits cannot
change or read the data. CORS is an allow-list (empty by default; never `*`), via Starlette's CORSMiddleware."""
from __future__ import annotations

import hashlib
import hmac
import json
import time
from collections.abc import Awaitable, Callable, MutableMapping
from typing import Any
from urllib.parse import parse_qs, urlencode

from starlette.middleware import Middleware
from starlette.middleware.cors import CORSMiddleware

from config import Settings

Scope = MutableMapping[str, Any]
ASGIApp = Callable[[Scope, Callable, Callable], Awaitable[None]]
API_PREFIXES = ("/api/", "/ws/")
SAFE_METHODS = ("GET", "HEAD", "OPTIONS")
SIGNED_PATHS = ("/api/ticks.csv",)   # GETs a dashboard link may open without the token, when signed (below)
LINK_TTL_S = 900


def _signature(token: str, path: str, query: dict[str, str]) -> str:
    message = path + "?" + urlencode(sorted(query.items()))
    return hmac.new(token.encode(), message.encode(), hashlib.sha256).hexdigest()


def signed_link(settings: Settings, path: str, query: dict[str, str]) -> str:
    """A same-origin link to a read-only API path for the dashboard. With API_TOKEN set it carries an expiry and
    an HMAC of the path and query under the token instead of the token itself: it opens this one export for
    LINK_TTL_S seconds, and the token never appears in a URL, browser history or access log."""
    if not settings.api_token:
        return f"{path}?{urlencode(query)}"
    query = {**query, "exp": str(int(time.time()) + LINK_TTL_S)}
    return f"{path}?{urlencode({**query, 'sig': _signature(settings.api_token, path, query)})}"


def _signed(scope: Scope, token: str) -> bool:
    """A GET of a SIGNED_PATHS link made by signed_link, unexpired and unaltered."""
    if scope["path"] not in SIGNED_PATHS or scope.get("method") != "GET":
        return False
    query = {k: v[-1] for k, v in parse_qs(scope.get("query_string", b"").decode("latin-1")).items()}
    given = query.pop("sig", "")
    try:
        unexpired = int(query.get("exp", "0")) >= time.time()
    except ValueError:
        return False
    return unexpired and hmac.compare_digest(given.encode(), _signature(token, scope["path"], query).encode())


def _headers(scope: Scope) -> dict[str, str]:
    return {k.decode("latin-1").lower(): v.decode("latin-1") for k, v in scope.get("headers", [])}


def refusal(scope: Scope, settings: Settings) -> tuple[int, str] | None:
    """(status, reason) when an API request must be refused, else None."""
    headers = _headers(scope)
    if settings.api_token:
        given = headers.get("authorization", "").removeprefix("Bearer ").strip()
        if not given:
            given = parse_qs(scope.get("query_string", b"").decode("latin-1")).get("token", [""])[0]
        if not hmac.compare_digest(given.encode(), settings.api_token.encode()) and not _signed(scope,
                                                                                                 settings.api_token):
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
        await send({"type": "http.response.start", "status": status,
                    "headers": [(b"content-type", b"application/json"), (b"content-length", str(len(body)).encode())]})
        await send({"type": "http.response.body", "body": body})


def middleware(settings: Settings) -> list[Middleware]:
    """CORS for the allow-listed origins only, then the origin/token guard."""
    return [Middleware(CORSMiddleware, allow_origins=list(settings.api_cors_origins),
                       allow_methods=["GET", "POST", "DELETE"], allow_headers=["Authorization", "Content-Type"]),
            Middleware(OriginGuard, settings=settings)]
