"""Protection for a tool on localhost, as ASGI middleware, outermost first:

- `HostGuard`, on every request of the server (the dashboard page, its `/_stcore/stream` socket, the API): the
  `Host` header must name this server (`localhost`, `127.0.0.1`, `[::1]` or one of API_ALLOWED_HOSTS, any port), else
  a JSON 421 (a WebSocket is closed with 1008) before anything else runs. A page whose own name an attacker points at
  127.0.0.1 (DNS rebinding) is same-origin with itself, so its Origin proves nothing; its Host is its own name.
- CORS, an allow-list (empty by default; never `*`), via Starlette's CORSMiddleware.
- `OriginGuard`, on the API paths: an optional bearer token (or a signed link, service.links), and state-changing
  requests (and the live socket) refused from a foreign `Origin`, so a web page the user visits cannot change or
  stream the data.
"""

from __future__ import annotations

import hmac
import ipaddress
import json
from collections.abc import Awaitable, Callable, MutableMapping
from typing import Any
from urllib.parse import urlsplit

from starlette.middleware import Middleware
from starlette.middleware.cors import CORSMiddleware

from api.errors import error_body
from config import Settings
from service.links import query_pairs, verify_link

Scope = MutableMapping[str, Any]
ASGIApp = Callable[[Scope, Callable, Callable], Awaitable[None]]
API_PREFIXES = ("/api/", "/ws/")
SAFE_METHODS = ("GET", "HEAD", "OPTIONS")
LOOPBACK_HOSTS = frozenset({"localhost", "127.0.0.1", "[::1]"})


def _headers(scope: Scope) -> dict[str, str]:
    return {k.decode("latin-1").lower(): v.decode("latin-1") for k, v in scope.get("headers", [])}


def host_name(header: str) -> str | None:
    """The host a `Host` header names (`name[:port]`): lower-case, without its port or a trailing dot, an IPv6
    address in brackets and compressed; None when the header is not a plain host[:port]."""
    if not header or any(c in header for c in "/?#@\\ \t"):
        return None
    try:
        parts = urlsplit(f"//{header}")
        _ = parts.port  # raises ValueError for a port that is not a number from 0 to 65535
    except ValueError:
        return None
    name = (parts.hostname or "").rstrip(".")
    if not name:
        return None
    if ":" in name:  # urlsplit drops an IPv6 address's brackets
        try:
            return f"[{ipaddress.IPv6Address(name).compressed}]"
        except ValueError:
            return None
    return name


def host_refusal(scope: Scope, allowed: frozenset[str]) -> str | None:
    """Why a request's `Host` header does not name this server, or None when it does (exactly one Host header,
    naming a loopback host or an allowed one)."""
    given = [v.decode("latin-1") for k, v in scope.get("headers", []) if k.lower() == b"host"]
    if len(given) == 1 and host_name(given[0]) in allowed:
        return None
    shown = ", ".join(repr(g[:100]) for g in given) or "(none)"
    return (
        f"Host: {shown} is not a name of this server (localhost, 127.0.0.1, [::1] or a name in API_ALLOWED_HOSTS); "
        "a page that is not this server may not reach it"
    )


def refusal(scope: Scope, settings: Settings) -> tuple[int, str] | None:
    """(status, reason) when an API request must be refused for its token or Origin, else None."""
    headers = _headers(scope)
    query = scope.get("query_string", b"").decode("latin-1")
    if settings.api_token:
        given = headers.get("authorization", "").removeprefix("Bearer ").strip()
        if not given:
            given = next((v for k, v in query_pairs(query) if k == "token"), "")
        if not hmac.compare_digest(given.encode(), settings.api_token.encode()) and not verify_link(
            scope.get("method", ""), scope["path"], query, settings.api_token
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


async def refuse(scope: Scope, send: Callable, status: int, param: str, reason: str) -> None:
    """Answer a refused request in the API's one error shape; a WebSocket is closed with 1008 before it opens."""
    if scope["type"] == "websocket":
        await send({"type": "websocket.close", "code": 1008, "reason": reason[:120]})
        return
    body = json.dumps(error_body(param, reason)).encode()
    await send(
        {
            "type": "http.response.start",
            "status": status,
            "headers": [(b"content-type", b"application/json"), (b"content-length", str(len(body)).encode())],
        }
    )
    await send({"type": "http.response.body", "body": body})


class HostGuard:
    """Refuses every HTTP and WebSocket request whose `Host` is not a name of this server (`host_refusal`) with a
    JSON 421 (Misdirected Request), or a WebSocket close 1008; runs before anything else."""

    def __init__(self, app: ASGIApp, allowed_hosts: tuple[str, ...] = ()) -> None:
        self.app, self.allowed = app, LOOPBACK_HOSTS | frozenset(allowed_hosts)

    async def __call__(self, scope: Scope, receive: Callable, send: Callable) -> None:
        if scope["type"] in ("http", "websocket") and (reason := host_refusal(scope, self.allowed)) is not None:
            await refuse(scope, send, 421, "Host", reason)
            return
        await self.app(scope, receive, send)


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
        await refuse(scope, send, status, "token" if status == 401 else "Origin", reason)


def middleware(settings: Settings | None) -> list[Middleware]:
    """The Host check first (loopback names only while the settings cannot be read), then CORS for the
    allow-listed origins only, then the origin/token guard."""
    if settings is None:
        return [Middleware(HostGuard)]
    return [
        Middleware(HostGuard, allowed_hosts=settings.api_allowed_hosts),
        Middleware(
            CORSMiddleware,
            allow_origins=list(settings.api_cors_origins),
            allow_methods=["GET", "POST", "PUT", "DELETE"],
            allow_headers=["Authorization", "Content-Type"],
        ),
        Middleware(OriginGuard, settings=settings),
    ]
