"""Signed links: a same-origin URL to a read-only API export that the dashboard can hand to a browser without the
API token. Both sides use it: the dashboard signs (`signed_link`), the API's guard verifies (`verify_link`)."""

from __future__ import annotations

import hashlib
import hmac
import time
from urllib.parse import parse_qs, urlencode

from config import Settings

SIGNED_PATHS = ("/api/ticks.csv",)  # GETs a dashboard link may open without the token, when signed (below)
LINK_TTL_S = 900


def signature(token: str, path: str, query: dict[str, str]) -> str:
    """HMAC-SHA256 of the path and its sorted query under the API token."""
    message = path + "?" + urlencode(sorted(query.items()))
    return hmac.new(token.encode(), message.encode(), hashlib.sha256).hexdigest()


def signed_link(settings: Settings, path: str, query: dict[str, str]) -> str:
    """A same-origin link to a read-only API path for the dashboard. With API_TOKEN set it carries an expiry and
    an HMAC of the path and query under the token instead of the token itself: it opens this one export for
    LINK_TTL_S seconds, and the token never appears in a URL, browser history or access log."""
    if not settings.api_token:
        return f"{path}?{urlencode(query)}"
    query = {**query, "exp": str(int(time.time()) + LINK_TTL_S)}
    return f"{path}?{urlencode({**query, 'sig': signature(settings.api_token, path, query)})}"


def verify_link(method: str, path: str, query_string: str, token: str) -> bool:
    """True for a GET of a SIGNED_PATHS link made by signed_link, unexpired and unaltered."""
    if path not in SIGNED_PATHS or method != "GET":
        return False
    query = {k: v[-1] for k, v in parse_qs(query_string).items()}
    given = query.pop("sig", "")
    try:
        unexpired = int(query.get("exp", "0")) >= time.time()
    except ValueError:
        return False
    return unexpired and hmac.compare_digest(given.encode(), signature(token, path, query).encode())
