"""Zendesk webhooks end to end: the receiver verifies Zendesk's signature (timestamp + raw body, base64 HMAC-SHA256),
stores each event once before answering, rejects forged, stale and malformed deliveries without storing them, and a
stored ticket event posts that ticket's new SLA breaches at once, which the export then never posts again."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient

from notifications import jobs
from pipelines.run import run_provider
from pipelines.zendesk.alerts import sla_metric
from pipelines.zendesk.webhook import ZendeskWebhooks
from sandbox.zendesk import SANDBOX_CREDENTIALS
from sandbox.zendesk.webhooks import event_payloads, signed_headers
from tests.pipelines.zendesk.support import expected_breach_keys, newest_change, posted_keys, prepare, support_texts
from webhooks.app import create_app
from webhooks.inbox import Inbox

SECRET = SANDBOX_CREDENTIALS["webhook_secret"]
URL = "/webhooks/zendesk"


@pytest.fixture
def receiver(tmp_path: Path) -> TestClient:
    app = create_app(tmp_path / "inbox.sqlite", providers={"zendesk": ZendeskWebhooks(secrets=[SECRET], follow_up=False)})
    return TestClient(app)


def inbox_of(client: TestClient) -> Inbox:
    return client.app.state.inbox  # type: ignore[attr-defined, no-any-return]


def some_events(server: Any, days: float = 20) -> list[bytes]:
    zw = server.world.extension("zendesk")
    return event_payloads(zw, server.world.now - timedelta(days=days), server.world.now)


def test_valid_event_is_stored_before_the_2xx_and_redelivery_is_stored_once(receiver: TestClient, module_sandbox: Any) -> None:
    body = some_events(module_sandbox)[0]
    first = receiver.post(URL, content=body, headers=signed_headers(body, SECRET))
    assert first.status_code == 200 and first.json()["duplicate"] is False
    assert Inbox(inbox_of(receiver).path).count("zendesk") == 1  # committed before the answer
    later = datetime.now(UTC) + timedelta(seconds=5)  # Zendesk retries: a new timestamp and signature
    again = receiver.post(URL, content=body, headers=signed_headers(body, SECRET, at=later))
    assert again.status_code == 200 and again.json()["duplicate"] is True
    assert inbox_of(receiver).count("zendesk") == 1


def test_every_simulated_delivery_is_stored_exactly_once(receiver: TestClient, module_sandbox: Any) -> None:
    bodies = some_events(module_sandbox)
    for body in bodies + bodies[:5]:
        assert receiver.post(URL, content=body, headers=signed_headers(body, SECRET)).status_code == 200
    assert inbox_of(receiver).count("zendesk") == len({json.loads(b)["id"] for b in bodies}) == len(bodies)


def test_rotated_secrets_either_may_match(module_sandbox: Any, tmp_path: Path) -> None:
    body = some_events(module_sandbox)[0]
    both = TestClient(create_app(tmp_path / "inbox.sqlite", providers={"zendesk": ZendeskWebhooks(secrets=["old-secret", SECRET], follow_up=False)}))
    assert both.post(URL, content=body, headers=signed_headers(body, SECRET)).status_code == 200
    assert both.post(URL, content=body, headers=signed_headers(body, "old-secret")).status_code == 200


@pytest.mark.parametrize("case", ["forged", "stale", "future", "no_signature", "no_timestamp", "tampered", "not_json",
                                  "not_an_event", "no_subject"])
def test_forged_stale_and_malformed_requests_get_400_and_are_not_stored(receiver: TestClient, module_sandbox: Any, case: str) -> None:
    body = some_events(module_sandbox)[0]
    headers = signed_headers(body, SECRET)
    if case == "forged":
        headers = signed_headers(body, "attacker-secret")
    elif case == "stale":
        headers = signed_headers(body, SECRET, at=datetime.now(UTC) - timedelta(seconds=301))
    elif case == "future":
        headers = signed_headers(body, SECRET, at=datetime.now(UTC) + timedelta(seconds=301))
    elif case in ("no_signature", "no_timestamp"):
        headers.pop("X-Zendesk-Webhook-Signature" if case == "no_signature" else "X-Zendesk-Webhook-Signature-Timestamp")
    elif case == "tampered":
        body = body.replace(b'"zen:event-type:', b'"zen:event-type:x', 1)
    else:
        body = {"not_json": b"{oops", "not_an_event": b'{"id": "1", "type": "order"}',
                "no_subject": b'{"id": "1", "type": "zen:event-type:ticket.created"}'}[case]
        headers = signed_headers(body, SECRET)
    response = receiver.post(URL, content=body, headers=headers)
    assert response.status_code == 400
    assert inbox_of(receiver).count() == 0


def test_oversized_body_is_refused(receiver: TestClient) -> None:
    body = b'{"pad": "' + b"x" * 1_000_001 + b'"}'
    assert receiver.post(URL, content=body, headers=signed_headers(body, SECRET)).status_code == 413
    assert inbox_of(receiver).count() == 0


def test_a_ticket_event_posts_its_new_breaches_at_once_and_the_export_never_reposts_them(
    sandbox_env: Any, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    lookback = timedelta(hours=24 * 30)
    prepare(sandbox_env, monkeypatch, lookback.total_seconds() / 3600)
    world = sandbox_env.world
    zw = world.extension("zendesk")
    receiver = TestClient(create_app(tmp_path / "inbox.sqlite", providers={"zendesk": ZendeskWebhooks()}))  # secret from the env
    bodies = event_payloads(zw, world.now - timedelta(days=3), world.now)
    for body in bodies:
        assert receiver.post(URL, content=body, headers=signed_headers(body, SECRET)).status_code == 200
    expected: set[str] = set()
    for body in bodies:
        event = json.loads(body)
        ticket = zw.tickets_by_id[int(event["subject"].rsplit(":", 1)[1])]
        at = datetime.fromisoformat(event["time"].replace("Z", "+00:00"))
        if ticket.excluded(world.now):
            continue
        expected |= {f"zendesk:breach:{i.ticket_id}:{sla_metric(i.event_metric, i.instance_id)}:{i.instance_id}:{int(i.breach_at.timestamp())}"
                     for i in ticket.sla_instances if i.breach_at is not None and at - lookback <= i.breach_at <= world.now}
    assert expected  # some ticket worked on in those days has a breach
    assert set(posted_keys()) == expected
    posted_by_webhooks = len(support_texts(sandbox_env))
    assert posted_by_webhooks >= 1

    run_provider("zendesk")
    jobs.report_provider_alerts("zendesk")
    from_export = expected_breach_keys(world, newest_change(world) - lookback)
    keys = posted_keys()
    assert len(keys) == len(set(keys)) and set(keys) == expected | from_export
    assert len(support_texts(sandbox_env)) == posted_by_webhooks + (1 if from_export - expected else 0)
