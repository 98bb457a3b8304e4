"""Stripe webhooks end to end: the receiver verifies and stores durably (valid, forged, replayed, malformed,
duplicated, rotated secrets), and the pipeline drains the inbox into raw_stripe with nothing lost and nothing doubled,
whatever the delivery order and even if it crashes between receiving and loading."""

from __future__ import annotations

import json
import time
from pathlib import Path
from typing import Any

import duckdb
import pytest
from dlt.pipeline.exceptions import PipelineStepFailed
from fastapi.testclient import TestClient

from pipelines.common.storage import raw_db_path
from pipelines.run import run_provider
from pipelines.stripe.webhook import StripeWebhooks
from sandbox.stripe import SANDBOX_CREDENTIALS
from sandbox.stripe.webhooks import deliver_events, event_payload, signature_header
from webhooks.app import create_app
from webhooks.inbox import Inbox

SECRET = SANDBOX_CREDENTIALS["webhook_secret"]
URL = "/webhooks/stripe"


@pytest.fixture
def receiver(tmp_path: Path) -> TestClient:
    app = create_app(tmp_path / "inbox.sqlite", providers={"stripe": StripeWebhooks(secrets=[SECRET])})
    return TestClient(app)


def inbox_of(client: TestClient) -> Inbox:
    return client.app.state.inbox  # type: ignore[attr-defined, no-any-return]


def some_event(sandbox: Any) -> bytes:
    sw = sandbox.world.extension("stripe")
    event = next(e for e in reversed(sw.events) if e.created <= sw.now and e.kind == "subscription")
    return event_payload(sw, event.id)


def post(client: TestClient, body: bytes, header: str | None) -> Any:
    headers = {"Content-Type": "application/json"}
    if header is not None:
        headers["Stripe-Signature"] = header
    return client.post(URL, content=body, headers=headers)


def test_valid_event_is_stored_before_the_2xx_and_redelivery_is_stored_once(
    receiver: TestClient, module_sandbox: Any
) -> None:
    body = some_event(module_sandbox)
    first = post(receiver, body, signature_header(body, SECRET))
    assert first.status_code == 200 and first.json()["duplicate"] is False
    # Answered only after the commit: a fresh connection (another process, after a crash) already sees it.
    assert Inbox(inbox_of(receiver).path).count("stripe") == 1
    again = post(receiver, body, signature_header(body, SECRET))  # Stripe retries, new timestamp and signature
    assert again.status_code == 200 and again.json()["duplicate"] is True
    assert inbox_of(receiver).count("stripe") == 1


def test_rotated_secrets_any_v1_may_match(receiver: TestClient, module_sandbox: Any) -> None:
    body = some_event(module_sandbox)
    assert post(receiver, body, signature_header(body, ["whsec_retired", SECRET])).status_code == 200
    # Our side of a roll: two configured secrets, the delivery signed with the new one.
    both = TestClient(
        create_app(inbox_of(receiver).path, providers={"stripe": StripeWebhooks(secrets=["whsec_old", SECRET])})
    )
    assert post(both, body, signature_header(body, SECRET)).status_code == 200


@pytest.mark.parametrize(
    "case",
    ["forged", "replayed", "no_header", "garbled_header", "tampered_body", "not_json", "not_an_event", "no_object"],
)
def test_forged_replayed_and_malformed_requests_get_400_and_are_not_stored(
    receiver: TestClient, module_sandbox: Any, case: str
) -> None:
    body = some_event(module_sandbox)
    header: str | None = signature_header(body, SECRET)
    if case == "forged":
        header = signature_header(body, "whsec_attacker")
    elif case == "replayed":
        header = signature_header(body, SECRET, timestamp=int(time.time()) - 301)
    elif case == "no_header":
        header = None
    elif case == "garbled_header":
        header = "v1=deadbeef"
    elif case == "tampered_body":
        body = body.replace(b'"status"', b'"Status"', 1)
    elif case in ("not_json", "not_an_event", "no_object"):
        body = {
            "not_json": b"{oops",
            "not_an_event": b'{"id": "cus_1", "object": "customer"}',
            "no_object": b'{"id": "evt_1", "object": "event", "data": {}}',
        }[case]
        header = signature_header(body, SECRET)
    response = post(receiver, body, header)
    assert response.status_code == 400
    assert inbox_of(receiver).count() == 0


def _raw(sql: str) -> list[tuple[Any, ...]]:
    with duckdb.connect(str(raw_db_path("stripe")), read_only=True) as con:
        return con.sql(sql).fetchall()


def test_out_of_order_duplicated_and_crash_before_load_lose_nothing_and_double_nothing(
    sandbox_env: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("STRIPE_RATE_LIMIT_PER_SECOND", "1000")
    sw = sandbox_env.world.extension("stripe")
    receiver = TestClient(create_app(providers={"stripe": StripeWebhooks(secrets=[SECRET])}))  # default inbox: data dir
    run_provider("stripe")
    start = sw.now
    sandbox_env.world.advance(9)
    window = [e for e in sw.events if start < e.created <= sw.now]
    assert len(window) > 20

    # Stripe delivers out of order, and some twice.
    class Reversed:
        def __init__(self) -> None:
            self.posts: list[tuple[str, bytes, dict[str, str]]] = []

        def post(self, url: str, content: bytes, headers: dict[str, str]) -> Any:
            self.posts.append((url, content, headers))
            return type("R", (), {"status_code": 200})()

    recorder = Reversed()
    deliver_events(sw, URL, SECRET, since=start, client=recorder)
    for url, content, headers in reversed(recorder.posts + recorder.posts[:10]):
        assert receiver.post(url, content=content, headers=headers).status_code == 200
    assert inbox_of(receiver).count("stripe") == len(window)

    # The load crashes after receiving (inbox committed) but before the data is committed: the cursor stays.
    sandbox_env.state.add_fault("stripe", "5xx", count=200, path_contains="/v1/charges")
    with pytest.raises(PipelineStepFailed):
        run_provider("stripe")
    sandbox_env.state.clear_faults()
    assert inbox_of(receiver).count("stripe") == len(window)

    run_provider("stripe")  # the retry
    ids = [r[0] for r in _raw("select id from raw_stripe.events")]
    assert len(ids) == len(set(ids))
    assert {e.id for e in window} <= set(ids)
    # Objects named by the events are at their current state, not at the state of the last-delivered event.
    subs = dict(_raw("select id, status from raw_stripe.subscriptions"))
    for event in window:
        if event.kind == "subscription":
            assert subs[event.object_id] == sw.subscriptions[event.object_id].at(sw.now).status
    via = dict(_raw("select _received_via, count(*) from raw_stripe.events group by 1"))
    assert sum(via.values()) == len(ids)

    # Delivered again later (Stripe retries for days): still once.
    for _url, content, headers in recorder.posts[:5]:
        receiver.post(URL, content=content, headers={**headers, "Stripe-Signature": signature_header(content, SECRET)})
    run_provider("stripe")
    assert _raw("select count(*), count(distinct id) from raw_stripe.events")[0] == (len(ids), len(ids))
    # What was committed is pruned from the inbox on the next run; nothing uncommitted is.
    assert inbox_of(receiver).count("stripe") <= 5


def test_inbox_payloads_keep_the_raw_body(receiver: TestClient, module_sandbox: Any) -> None:
    body = some_event(module_sandbox)
    post(receiver, body, signature_header(body, SECRET))
    row = inbox_of(receiver).after("stripe", 0)[0]
    assert row.payload.encode() == body and json.loads(row.payload)["id"] == row.event_id


def test_airflow_plugin_serves_the_receiver(warehouse: Path, monkeypatch: pytest.MonkeyPatch, module_sandbox: Any) -> None:
    import importlib

    monkeypatch.setenv("STRIPE_WEBHOOK_SECRET", f"whsec_old,{SECRET}")
    plugin = importlib.reload(importlib.import_module("plugins.webhooks_plugin"))
    (entry,) = plugin.WebhooksPlugin.fastapi_apps
    assert entry["url_prefix"] == "/webhooks"
    client = TestClient(entry["app"])
    body = some_event(module_sandbox)
    assert client.post(URL, content=body, headers={"Stripe-Signature": signature_header(body, SECRET)}).status_code == 200
    assert client.post(URL, content=body, headers={"Stripe-Signature": signature_header(body, "whsec_x")}).status_code == 400
    assert Inbox(warehouse / "webhooks" / "inbox.sqlite").count("stripe") == 1
