"""The delivery_attempts table: every attempt to deliver a notification (an alert, a signal, a break alarm) to a
webhook, Telegram, Discord or Slack, and its outcome; a notification's last failed attempt (status dead) is its dead
letter, kept with its message so nothing that was not delivered is lost unseen."""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass

from core.vocabulary import DeliveryChannel, DeliveryStatus, NoticeKind
from storage.sql import Connection, inserted_id


@dataclass(frozen=True)
class DeliveryAttempt:
    """One attempt to send one notification to one target. `target` is the target as it may be shown (secrets
    redacted); `error` says why an attempt failed ('' when delivered)."""

    id: int
    delivery_id: str  # the notification-to-target delivery this attempt belongs to (one per notice and target)
    notice_kind: NoticeKind
    channel: DeliveryChannel
    target: str
    message: str
    attempt: int  # 1 for the first; 0 for a notice recorded without an attempt (queue full, process stopped)
    status: DeliveryStatus
    http_status: int | None  # the target's answer, None when there was none (refused, timed out)
    error: str
    elapsed_ms: int
    attempted_at: int  # epoch ms

    def __post_init__(self) -> None:  # a row's text, checked and typed
        object.__setattr__(self, "notice_kind", NoticeKind(self.notice_kind))
        object.__setattr__(self, "channel", DeliveryChannel(self.channel))
        object.__setattr__(self, "status", DeliveryStatus(self.status))


_COLUMNS = ", ".join(f.name for f in dataclasses.fields(DeliveryAttempt))


def record_delivery_attempt(conn: Connection, attempt: DeliveryAttempt) -> int:
    """Store an attempt (its `id` is ignored: the database assigns one) and return the new id."""
    values = dataclasses.astuple(attempt)[1:]
    return inserted_id(
        conn.execute(
            f"INSERT INTO delivery_attempts({_COLUMNS.removeprefix('id, ')}) "
            f"VALUES ({','.join('?' * len(values))}) RETURNING id",
            values,
        )
    )


def list_delivery_attempts(
    conn: Connection, limit: int = 200, status: DeliveryStatus | None = None
) -> list[DeliveryAttempt]:
    """The latest attempts, newest first; only those of one status when given (DEAD: the dead letters)."""
    where, args = ("WHERE status=? ", (str(status),)) if status is not None else ("", ())
    rows = conn.execute(
        f"SELECT {_COLUMNS} FROM delivery_attempts {where}ORDER BY id DESC LIMIT ?", (*args, int(limit))
    ).fetchall()
    return [DeliveryAttempt(*row) for row in rows]
