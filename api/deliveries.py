"""Notification deliveries over HTTP: every attempt to deliver an alert, signal or break alarm, as the Alerts tab
shows them (targets with their secrets redacted), and the state of this server's delivery worker."""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from typing import Any

from api import params
from api.errors import ApiError
from config import Settings
from core.vocabulary import DeliveryStatus
from service.deliveries import delivery_state, recent_attempts

MAX_DELIVERIES = 1000


def deliveries(settings: Settings, q: Mapping[str, str]) -> dict[str, Any]:
    """`GET /api/deliveries`: the latest attempts, newest first (`limit` ≤ 1,000, `status` delivered/failed/dead)."""
    limit = params.integer(q, "limit", 200, 1, MAX_DELIVERIES) or 200
    raw = q.get("status", "")
    try:
        status = DeliveryStatus(raw.lower()) if raw else None
    except ValueError:
        raise ApiError(400, "status", f"status={raw!r}: expected one of {', '.join(DeliveryStatus)}") from None
    return {
        "worker": dataclasses.asdict(delivery_state()),
        "deliveries": [dataclasses.asdict(a) for a in recent_attempts(settings.db_target, limit, status)],
    }
