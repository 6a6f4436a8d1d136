"""Where notifications go and in what shape: the delivery targets configured in the settings (a generic JSON
webhook, Telegram, Discord, Slack), each channel's message format in one registry keyed by DeliveryChannel, and one
HTTP POST with a deadline.

Why a module of its own: the delivery worker (service.deliveries) retries and records; what a channel expects and
which strings are secret is decided here, once. Secrets (a webhook URL's path and query, the Telegram token) live
only in `Target.url` and `Target.secrets`, both left out of the record's repr; what may be shown or logged is
`Target.shown`, and every error text passes through `scrub`.
"""

from __future__ import annotations

import http.client
import json
import time
import urllib.parse
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from config import Settings
from core.clock import now_ms
from core.vocabulary import DeliveryChannel, NoticeKind

MAX_ANSWER_BYTES = 64 * 1024  # of a target's answer body, read for the error text and then dropped
ERROR_CHARS = 300  # of a target's answer kept in an attempt's error


@dataclass(frozen=True)
class Notice:
    """A notification to deliver: what kind of event, about what (a rule, a pair), and the message itself."""

    kind: NoticeKind
    subject: str  # e.g. "z-score ETHUSDT vs BTCUSDT crosses above 2" or "ETHUSDT/BTCUSDT"
    text: str
    created_at: int = field(default_factory=now_ms)  # epoch ms

    @property
    def line(self) -> str:
        """The one line a chat message shows."""
        return f"[{self.kind}] {self.text}"


@dataclass(frozen=True)
class Target:
    """One configured destination. `url` and `secrets` hold secrets and are never shown; `shown` is the target as a
    log line or a page may name it."""

    channel: DeliveryChannel
    shown: str
    url: str = field(repr=False)
    chat_id: str = ""
    secrets: tuple[str, ...] = field(default=(), repr=False)


@dataclass(frozen=True)
class Answer:
    """How one POST ended: the HTTP status (None when none came: refused, unreachable, timed out) and an error text
    ('' for a 2xx), already scrubbed of the target's secrets."""

    status: int | None
    error: str
    elapsed_ms: int

    @property
    def delivered(self) -> bool:
        return self.status is not None and 200 <= self.status < 300

    @property
    def retryable(self) -> bool:
        """Worth another attempt: no answer, too many requests, or a server error (a 4xx will not change)."""
        return self.status is None or self.status == 429 or self.status >= 500


@dataclass(frozen=True)
class Channel:
    """How a channel is configured (its target from the settings, or None when off) and what its body is."""

    target: Callable[[Settings], Target | None]
    body: Callable[[Notice, Target], dict[str, Any]]


def shown_url(url: str) -> str:
    """A URL as it may be shown: scheme and host only, the path and query (where webhooks keep their secret)
    replaced by '…'."""
    parts = urllib.parse.urlsplit(url)
    host = parts.hostname or "?"
    netloc = f"{host}:{parts.port}" if parts.port else host
    hidden = "/…" if parts.path.strip("/") or parts.query else ""
    return f"{parts.scheme}://{netloc}{hidden}"


def scrub(text: str, target: Target) -> str:
    """`text` with every secret of the target replaced by '***' (longest first, so a URL goes before its path)."""
    for secret in sorted(target.secrets, key=len, reverse=True):
        if secret:
            text = text.replace(secret, "***")
    return text


def _url_target(channel: DeliveryChannel, url: str) -> Target | None:
    """A webhook-style target whose whole URL is the secret (path and query)."""
    if not url:
        return None
    parts = urllib.parse.urlsplit(url)
    secret_parts = (url, parts.path, parts.query, urllib.parse.unquote(parts.path))
    return Target(channel, shown_url(url), url, secrets=tuple(p for p in secret_parts if p.strip("/")))


def _telegram_target(s: Settings) -> Target | None:
    """Bot API sendMessage at TELEGRAM_API_URL with the bot token in the path."""
    if not s.alert_telegram_token:
        return None
    url = f"{s.telegram_api_url}/bot{s.alert_telegram_token}/sendMessage"
    shown = f"{shown_url(s.telegram_api_url)} chat {s.alert_telegram_chat_id}"
    return Target(DeliveryChannel.TELEGRAM, shown, url, s.alert_telegram_chat_id, (url, s.alert_telegram_token))


# One row per channel: where it is configured and the body it expects (Telegram caps a message at 4,096
# characters, Discord at 2,000; Slack's and a generic webhook's text is kept whole).
CHANNELS: dict[DeliveryChannel, Channel] = {
    DeliveryChannel.WEBHOOK: Channel(
        lambda s: _url_target(DeliveryChannel.WEBHOOK, s.alert_webhook_url),
        lambda n, t: {"kind": str(n.kind), "subject": n.subject, "text": n.text, "created_at": n.created_at},
    ),
    DeliveryChannel.TELEGRAM: Channel(
        _telegram_target,
        lambda n, t: {"chat_id": t.chat_id, "text": n.line[:4096], "disable_web_page_preview": True},
    ),
    DeliveryChannel.DISCORD: Channel(
        lambda s: _url_target(DeliveryChannel.DISCORD, s.alert_discord_url),
        lambda n, t: {"content": n.line[:2000]},
    ),
    DeliveryChannel.SLACK: Channel(
        lambda s: _url_target(DeliveryChannel.SLACK, s.alert_slack_url),
        lambda n, t: {"text": n.line},
    ),
}


def delivery_targets(settings: Settings) -> tuple[Target, ...]:
    """Every configured target, in DeliveryChannel order (empty when no channel is set)."""
    found = (CHANNELS[channel].target(settings) for channel in DeliveryChannel)
    return tuple(t for t in found if t is not None)


def message_body(notice: Notice, target: Target) -> dict[str, Any]:
    """The JSON body the target's channel expects for this notice."""
    return CHANNELS[target.channel].body(notice, target)


def post(target: Target, body: dict[str, Any], timeout_s: float) -> Answer:
    """POST `body` as JSON to the target, within `timeout_s` for the whole attempt (connect, send, answer: the
    socket's timeout is cut to what is left before each step). Never raises for a network failure: it is the
    Answer's error, scrubbed of the target's secrets. Direct connection (no proxy)."""
    start = time.monotonic()
    deadline = start + timeout_s
    parts = urllib.parse.urlsplit(target.url)
    kind = http.client.HTTPSConnection if parts.scheme == "https" else http.client.HTTPConnection
    conn = kind(parts.hostname or "", parts.port, timeout=timeout_s)
    payload = json.dumps(body).encode()
    path = (parts.path or "/") + (f"?{parts.query}" if parts.query else "")

    def left() -> float:
        remaining = deadline - time.monotonic()
        if remaining <= 0:
            raise TimeoutError
        return remaining

    def answer(status: int | None, error: str) -> Answer:
        return Answer(status, scrub(error, target), int((time.monotonic() - start) * 1000))

    try:
        conn.connect()
        sock = conn.sock  # kept: the connection lets go of it once an answer that closes it arrives
        assert sock is not None  # connect() opened it
        sock.settimeout(left())
        conn.request("POST", path, payload, {"Content-Type": "application/json", "User-Agent": "binance-analytics"})
        sock.settimeout(left())
        resp = conn.getresponse()
        data = b""
        while len(data) < MAX_ANSWER_BYTES:
            sock.settimeout(left())
            chunk = resp.read1(MAX_ANSWER_BYTES - len(data))
            if not chunk:
                break
            data += chunk
    except TimeoutError:
        return answer(None, f"no answer within {timeout_s:g} s")
    except (OSError, http.client.HTTPException) as exc:
        return answer(None, f"{type(exc).__name__}: {exc}")
    finally:
        conn.close()
    if 200 <= resp.status < 300:
        return answer(resp.status, "")
    text = data.decode("utf-8", "replace").strip().replace("\n", " ")[:ERROR_CHARS]
    return answer(
        resp.status, f"HTTP {resp.status} {resp.reason}: {text}" if text else f"HTTP {resp.status} {resp.reason}"
    )
