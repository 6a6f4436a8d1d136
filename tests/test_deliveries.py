"""Alert delivery (service.deliveries, service.webhooks) against REAL local HTTP servers on 127.0.0.1 that answer,
fail (500), refuse (400), stall (no answer until the timeout) and answer slowly: each channel's format, a delivered,
a retried-then-delivered and a dead-lettered notice, the bounded queue, an alert rule that fires being delivered, and
secrets that never reach a log line or the stored attempts."""

from __future__ import annotations

import dataclasses
import json
import logging
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest
from app_fixtures import seed_database, sidebar_controls
from served import free_port
from waiting import wait_until

import config
import database
from core.vocabulary import AlertMetric, AlertOp, DeliveryChannel, DeliveryStatus, NoticeKind
from service import deliveries
from service.alerts import check_alerts
from service.webhooks import Notice, delivery_targets, post, shown_url

TOKEN = "123456789:AAHsecretTOKENvalue_abc-XYZ"
HOOK_SECRET = "T0001/B0002/hooksecretXYZ"


@dataclasses.dataclass
class Hooks:
    """A local HTTP server recording every request: (path, JSON body)."""

    url: str
    seen: list[tuple[str, dict]]
    release: threading.Event

    def bodies(self, prefix: str) -> list[dict]:
        return [body for path, body in self.seen if path.startswith(prefix)]


@pytest.fixture
def hooks() -> Iterator[Hooks]:
    seen: list[tuple[str, dict]] = []
    release = threading.Event()
    flaky: dict[str, int] = {}

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
            seen.append((self.path, body))
            route = self.path.split("?")[0]
            if route.startswith("/stall"):
                release.wait(30)  # no answer until the client gives up (or the test ends)
                return
            if route.startswith("/slow"):
                release.wait(0.4)
            status = 200
            if route.startswith("/fail"):
                status = 500
            elif route.startswith("/bad"):
                status = 400
            elif route.startswith("/flaky"):
                flaky[route] = flaky.get(route, 0) + 1
                status = 503 if flaky[route] <= 2 else 200
            answer = f"echo {self.path}".encode()  # a server echoing the secret path: it must be scrubbed
            self.send_response(status)
            self.send_header("Content-Length", str(len(answer)))
            self.end_headers()
            self.wfile.write(answer)

        def log_message(self, *args: object) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    server.daemon_threads = True
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield Hooks(f"http://127.0.0.1:{server.server_address[1]}", seen, release)
    release.set()
    server.shutdown()
    server.server_close()


def settings(db: str, **env: str) -> config.Settings:
    return config.load_settings(
        {"CRYPTO_DB_PATH": db, "ALERT_RETRIES": "2", "ALERT_BACKOFF_S": "0.05", "ALERT_TIMEOUT_S": "2", **env}
    )


def attempts(db: str, channel: DeliveryChannel) -> list[database.DeliveryAttempt]:
    with database.open_reader(db) as conn:
        rows = database.list_delivery_attempts(conn, 1000)
    return sorted((r for r in rows if r.channel is channel), key=lambda r: r.id)


def settled(db: str, channel: DeliveryChannel, rows: int) -> list[database.DeliveryAttempt]:
    """The channel's attempts once `rows` exist and the last one ends the delivery."""
    final = (DeliveryStatus.DELIVERED, DeliveryStatus.DEAD)
    assert wait_until(lambda: len(got := attempts(db, channel)) >= rows and got[-1].status in final, timeout=30)
    return attempts(db, channel)


@pytest.fixture
def worker() -> Iterator[None]:
    yield
    deliveries.stop_deliveries()


def test_each_channel_gets_its_format(hooks, tmp_path, worker):
    db = str(tmp_path / "d.db")
    s = settings(
        db,
        ALERT_WEBHOOK_URL=f"{hooks.url}/hook/generic?key=1",
        ALERT_TELEGRAM_TOKEN=TOKEN,
        ALERT_TELEGRAM_CHAT_ID="-100123",
        TELEGRAM_API_URL=hooks.url,
        ALERT_DISCORD_URL=f"{hooks.url}/discord/1/abc",
        ALERT_SLACK_URL=f"{hooks.url}/slack/{HOOK_SECRET}",
    )
    assert [t.channel for t in delivery_targets(s)] == list(DeliveryChannel)
    assert deliveries.start_deliveries(s) is deliveries.start_deliveries(s)  # one worker per process
    assert deliveries.notify(Notice(NoticeKind.SIGNAL, "ETHUSDT/BTCUSDT", "entry long spread at z −2.1", 1_700_000))
    for channel in DeliveryChannel:
        [row] = settled(db, channel, 1)
        assert row.status is DeliveryStatus.DELIVERED and row.http_status == 200 and row.attempt == 1
        assert row.notice_kind is NoticeKind.SIGNAL and row.message == "entry long spread at z −2.1"
    assert hooks.bodies("/hook/generic") == [
        {"kind": "signal", "subject": "ETHUSDT/BTCUSDT", "text": "entry long spread at z −2.1", "created_at": 1_700_000}
    ]
    line = "[signal] entry long spread at z −2.1"
    assert hooks.bodies(f"/bot{TOKEN}/sendMessage") == [
        {"chat_id": "-100123", "text": line, "disable_web_page_preview": True}
    ]
    assert hooks.bodies("/discord/1/abc") == [{"content": line}]
    assert hooks.bodies("/slack/") == [{"text": line}]


def test_delivered_retried_and_dead_lettered(hooks, tmp_path, worker):
    db = str(tmp_path / "d.db")
    s = settings(
        db,
        ALERT_SLACK_URL=f"{hooks.url}/ok/slack",
        ALERT_WEBHOOK_URL=f"{hooks.url}/flaky/hook",  # 503, 503, then 200
        ALERT_DISCORD_URL=f"{hooks.url}/fail/discord",  # always 500
    )
    deliveries.start_deliveries(s)
    deliveries.notify(Notice(NoticeKind.ALARM, "ETHUSDT/BTCUSDT", "cointegration break alarm"))
    [ok] = settled(db, DeliveryChannel.SLACK, 1)
    assert ok.status is DeliveryStatus.DELIVERED and ok.error == ""
    retried = settled(db, DeliveryChannel.WEBHOOK, 3)
    assert [(r.attempt, r.status, r.http_status) for r in retried] == [
        (1, DeliveryStatus.FAILED, 503),
        (2, DeliveryStatus.FAILED, 503),
        (3, DeliveryStatus.DELIVERED, 200),
    ]
    assert len({r.delivery_id for r in retried}) == 1 and "HTTP 503" in retried[0].error
    dead = settled(db, DeliveryChannel.DISCORD, 3)  # ALERT_RETRIES=2: three attempts, the last the dead letter
    assert [(r.attempt, r.status) for r in dead] == [
        (1, DeliveryStatus.FAILED),
        (2, DeliveryStatus.FAILED),
        (3, DeliveryStatus.DEAD),
    ]
    assert dead[-1].message == "cointegration break alarm" and dead[-1].http_status == 500
    with database.open_reader(db) as conn:
        [letter] = database.list_delivery_attempts(conn, status=DeliveryStatus.DEAD)
    assert letter == dead[-1]


def test_a_stalled_target_times_out_and_a_slow_one_is_delivered(hooks, tmp_path, worker):
    db = str(tmp_path / "d.db")
    s = settings(
        db,
        ALERT_TIMEOUT_S="3",  # the slow target's 0.4 s stays well inside it on a loaded machine
        ALERT_RETRIES="1",
        ALERT_WEBHOOK_URL=f"{hooks.url}/stall/hook",
        ALERT_SLACK_URL=f"{hooks.url}/slow/slack",  # answers after 0.4 s, within the 3 s timeout
    )
    deliveries.start_deliveries(s)
    deliveries.notify(Notice(NoticeKind.ALERT, "rule", "price BTCUSDT > 1"))
    [slow] = settled(db, DeliveryChannel.SLACK, 1)
    assert slow.status is DeliveryStatus.DELIVERED and slow.elapsed_ms >= 400
    stalled = settled(db, DeliveryChannel.WEBHOOK, 2)
    assert [(r.status, r.http_status, r.error) for r in stalled] == [
        (DeliveryStatus.FAILED, None, "no answer within 3 s"),
        (DeliveryStatus.DEAD, None, "no answer within 3 s"),
    ]
    assert all(r.elapsed_ms >= 3000 for r in stalled)


def test_a_refusal_is_not_retried_and_an_unreachable_target_is(hooks, tmp_path, worker):
    db = str(tmp_path / "d.db")
    closed = free_port()
    s = settings(
        db, ALERT_WEBHOOK_URL=f"{hooks.url}/bad/hook", ALERT_SLACK_URL=f"http://127.0.0.1:{closed}/{HOOK_SECRET}"
    )
    deliveries.start_deliveries(s)
    deliveries.notify(Notice(NoticeKind.ALERT, "rule", "z-score crosses above 2"))
    [refused] = settled(db, DeliveryChannel.WEBHOOK, 1)
    assert (refused.status, refused.http_status, refused.attempt) == (DeliveryStatus.DEAD, 400, 1)
    unreachable = settled(db, DeliveryChannel.SLACK, 3)
    assert [r.status for r in unreachable][-1] is DeliveryStatus.DEAD and unreachable[0].http_status is None
    assert "Connection" in unreachable[0].error


def test_secrets_never_reach_logs_or_the_attempts(hooks, tmp_path, caplog, worker):
    caplog.set_level(logging.DEBUG)
    db = str(tmp_path / "d.db")
    s = settings(
        db,
        ALERT_TELEGRAM_TOKEN=TOKEN,
        ALERT_TELEGRAM_CHAT_ID="@alertchannel",
        TELEGRAM_API_URL=f"{hooks.url}/fail",  # answers 500 echoing the path, token included
        ALERT_SLACK_URL=f"{hooks.url}/fail/{HOOK_SECRET}",
        ALERT_DISCORD_URL=f"http://127.0.0.1:{free_port()}/api/webhooks/{HOOK_SECRET}",
    )
    assert TOKEN not in repr(s) and HOOK_SECRET not in repr(s) and HOOK_SECRET not in repr(delivery_targets(s))
    deliveries.start_deliveries(s)
    deliveries.notify(Notice(NoticeKind.ALERT, "rule", "spread crosses below 0"))
    rows = [r for c in DeliveryChannel if c is not DeliveryChannel.WEBHOOK for r in settled(db, c, 3)]
    assert any("echo" in r.error and "***" in r.error for r in rows)  # the echoed path was scrubbed
    stored = repr(rows)
    for secret in (TOKEN, HOOK_SECRET, "hooksecretXYZ", TOKEN.split(":")[1]):
        assert secret not in stored and secret not in caplog.text
    assert {r.target for r in rows} == {
        f"{hooks.url}/… chat @alertchannel",
        f"{hooks.url}/…",
        shown_url(s.alert_discord_url),
    }
    with pytest.raises(config.ConfigError) as bad:
        config.load_settings({"ALERT_SLACK_URL": f"ftp://hooks.example/{HOOK_SECRET}"})
    assert HOOK_SECRET not in str(bad.value) and "ALERT_SLACK_URL=<secret>" in str(bad.value)


def test_a_full_queue_is_a_dead_letter_and_stop_keeps_what_waits(hooks, tmp_path):
    db = str(tmp_path / "d.db")
    [target] = delivery_targets(settings(db, ALERT_WEBHOOK_URL=f"{hooks.url}/ok"))
    worker = deliveries.Deliverer(db, (target,), retries=0, timeout_s=1, backoff_s=0, queue_max=1)  # not started
    assert worker.submit(Notice(NoticeKind.ALERT, "a", "first"))
    assert not worker.submit(Notice(NoticeKind.ALERT, "b", "second"))
    assert worker.state().queued == 1
    worker.stop()
    rows = attempts(db, DeliveryChannel.WEBHOOK)
    assert [(r.message, r.status, r.attempt, r.error) for r in rows] == [
        ("second", DeliveryStatus.DEAD, 0, "delivery queue full"),
        ("first", DeliveryStatus.DEAD, 0, "stopped before delivery"),
    ]
    assert hooks.seen == []


def test_no_target_means_no_worker(tmp_path):
    s = settings(str(tmp_path / "d.db"))
    assert delivery_targets(s) == () and deliveries.start_deliveries(s) is None
    assert not deliveries.notify(Notice(NoticeKind.ALERT, "a", "nowhere")) and not deliveries.delivery_state().running


def test_telegram_needs_token_and_chat():
    with pytest.raises(config.ConfigError, match="needs both"):
        config.load_settings({"ALERT_TELEGRAM_CHAT_ID": "-100123"})
    with pytest.raises(config.ConfigError, match="ALERT_TELEGRAM_TOKEN=<secret>: expected a bot token"):
        config.load_settings({"ALERT_TELEGRAM_TOKEN": "not a token", "ALERT_TELEGRAM_CHAT_ID": "1"})


def test_an_alert_rule_that_fires_is_delivered(hooks, tmp_path, worker):
    db = str(tmp_path / "d.db")
    seed_database(db, 3000, 30 * 60_000)
    with database.open_writer(db) as conn:
        database.add_alert_rule(conn, AlertMetric.ZSCORE, "BTCUSDT", "ETHUSDT", AlertOp.GT, -1e9)
    deliveries.start_deliveries(settings(db, ALERT_WEBHOOK_URL=f"{hooks.url}/ok/rules"))
    c = sidebar_controls(db, symbols=("BTCUSDT", "ETHUSDT"))
    [fired] = check_alerts(c)
    [row] = settled(db, DeliveryChannel.WEBHOOK, 1)
    assert row.status is DeliveryStatus.DELIVERED and row.notice_kind is NoticeKind.ALERT and row.message == fired
    [body] = hooks.bodies("/ok/rules")
    assert (
        body["kind"] == "alert" and body["text"] == fired and body["subject"].startswith("z-score ETHUSDT vs BTCUSDT")
    )


def test_post_answers_without_raising(hooks):
    [target] = delivery_targets(settings("x.db", ALERT_WEBHOOK_URL=f"{hooks.url}/ok"))
    answer = post(target, {"text": "hi"}, 2.0)
    assert answer.delivered and answer.status == 200 and not answer.retryable
