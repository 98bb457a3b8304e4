"""The sandbox server's shared request layer (`sandbox.server.ProviderTraffic`): statistics, injected faults, traffic
recording and simulated latency, for every simulator; and what the Stripe simulator's gate adds to each answer."""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import httpx
import pytest
import stripe

from sandbox.server import SandboxServer
from sandbox.stripe import SANDBOX_CREDENTIALS
from sandbox.stripe.versions import CURRENT

HEADERS = {"Authorization": f"Bearer {SANDBOX_CREDENTIALS['api_key']}"}


def client() -> httpx.Client:
    return httpx.Client(timeout=120, headers=HEADERS)  # a busy machine can take longer than httpx's 5 s default


def test_body_faults_rewrite_the_body_and_its_length(sandbox: SandboxServer) -> None:
    with client() as http:
        clean = http.get(f"{sandbox.url}/stripe/v1/customers", params={"limit": 3}).json()
        sandbox.state.add_fault("stripe", "unknown_field", count=1, field="x_new", value=7)
        drifted = http.get(f"{sandbox.url}/stripe/v1/customers", params={"limit": 3})
        sandbox.state.add_fault("stripe", "malformed", count=1)
        cut = http.get(f"{sandbox.url}/stripe/v1/customers", params={"limit": 3})
    assert int(drifted.headers["content-length"]) == len(drifted.content)
    assert [c["x_new"] for c in drifted.json()["data"]] == [7, 7, 7]
    assert [c["id"] for c in drifted.json()["data"]] == [c["id"] for c in clean["data"]]
    assert int(cut.headers["content-length"]) == len(cut.content)
    with pytest.raises(json.JSONDecodeError):
        json.loads(cut.content)
    # The Stripe headers survive a body fault (the fault is applied outside the simulator).
    assert drifted.headers["stripe-version"] == cut.headers["stripe-version"] == CURRENT


def test_status_faults_are_counted_and_answered_before_the_simulator(sandbox: SandboxServer) -> None:
    sandbox.state.add_fault("stripe", "5xx", count=1, status=502)
    sandbox.state.add_fault("stripe", "429", count=1, retry_after=3)
    with httpx.Client(timeout=120) as http:  # no key: the simulator itself would answer 401
        first = http.get(f"{sandbox.url}/stripe/v1/charges")
        second = http.get(f"{sandbox.url}/stripe/v1/charges")
        third = http.get(f"{sandbox.url}/stripe/v1/charges")
    assert (first.status_code, second.status_code, third.status_code) == (502, 429, 401)
    assert second.headers["retry-after"] == "3"
    stats = sandbox.state.stats["stripe"]
    assert stats.requests == 3
    assert dict(stats.by_status) == {502: 1, 429: 1, 401: 1}


def test_recorded_traffic_is_what_the_client_received() -> None:
    with SandboxServer(scale="small", latency="zero", options={"record_traffic": True}) as sb, client() as http:
        sb.state.add_fault("stripe", "unknown_field", count=1, path_contains="/v1/prices")
        got = [
            http.get(f"{sb.url}/stripe/v1/customers", params=[("limit", "2"), ("expand[]", "data.default_source")]),
            http.get(f"{sb.url}/stripe/v1/prices", params={"limit": 1}),
            http.get(f"{sb.url}/stripe/v1/nope"),
        ]
        traffic = sb.state.store["traffic"]
    assert [(r["method"], r["path"], r["query"], r["status"]) for r in traffic] == [
        ("GET", "/v1/customers", [("limit", "2"), ("expand[]", "data.default_source")], got[0].status_code),
        ("GET", "/v1/prices", [("limit", "1")], 200),
        ("GET", "/v1/nope", [], 404),
    ]
    for record, response in zip(traffic, got, strict=True):
        assert record["body"] == response.text
        assert record["headers"]["content-length"] == str(len(response.content))
        assert record["headers"]["request-id"] == response.headers["request-id"]
    assert "x_sandbox_new_field" in traffic[1]["body"]


def test_latency_is_spent_on_every_answer() -> None:
    with SandboxServer(scale="small", latency=(0.3, 0.3)) as sb, client() as http:
        http.get(f"{sb.url}/stripe/v1/account")  # the world is built on the first request: not timed
        started = time.monotonic()
        ok = http.get(f"{sb.url}/stripe/v1/customers", params={"limit": 1})
        sb.state.add_fault("stripe", "5xx", count=1)
        failed = http.get(f"{sb.url}/stripe/v1/customers", params={"limit": 1})
        elapsed = time.monotonic() - started
        health = http.get(f"{sb.url}/_sandbox/health")  # not a provider: no simulated network
    assert (ok.status_code, failed.status_code, health.status_code) == (200, 503, 200)
    assert elapsed >= 0.6


def test_stripe_answers_carry_request_id_and_version(sandbox: SandboxServer) -> None:
    with client() as http:
        ok = http.get(f"{sandbox.url}/stripe/v1/customers", params={"limit": 1}, headers={"Stripe-Version": "2023-08-16"})
        missing = http.get(f"{sandbox.url}/stripe/v1/customers/cus_missing")  # a handler's error
        unknown = http.get(f"{sandbox.url}/stripe/v1/customers", params={"bogus": 1})  # the gate's own error
    assert ok.headers["stripe-version"] == "2023-08-16"
    assert missing.status_code == 404 and missing.headers["stripe-version"] == CURRENT
    assert ok.headers["request-id"] != missing.headers["request-id"]
    assert missing.headers["request-id"].startswith("req_sandbox")
    assert unknown.status_code == 400 and unknown.json()["error"]["code"] == "parameter_unknown"


class _Receiver(BaseHTTPRequestHandler):
    received: list[tuple[dict[str, str], bytes]] = []

    def do_POST(self) -> None:  # noqa: N802 (http.server's name)
        body = self.rfile.read(int(self.headers["Content-Length"]))
        self.received.append((dict(self.headers), body))
        self.send_response(200)
        self.send_header("Content-Length", "0")
        self.end_headers()

    def log_message(self, *args: Any) -> None:
        pass


@pytest.fixture
def receiver() -> Iterator[tuple[str, list[tuple[dict[str, str], bytes]]]]:
    _Receiver.received = []
    server = ThreadingHTTPServer(("127.0.0.1", 0), _Receiver)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}/hook", _Receiver.received
    server.shutdown()
    server.server_close()


def test_stripe_webhook_delivery_is_reachable_without_an_api_key(sandbox: SandboxServer, receiver: Any) -> None:
    url, received = receiver
    sw = sandbox.world.extension("stripe")
    until = sw.now
    since = until - 2 * 86400
    expected = sorted(e.id for e in sw.events if since < e.created <= until)
    assert expected
    response = httpx.post(f"{sandbox.url}/stripe/_sandbox/webhooks", json={"url": url, "since": since, "until": until}, timeout=120)
    assert response.status_code == 200, response.text
    assert response.json() == {"delivered": len(expected)}
    assert sorted(json.loads(body)["id"] for _, body in received) == expected
    headers, body = received[0]
    event = stripe.Webhook.construct_event(body, headers["Stripe-Signature"], SANDBOX_CREDENTIALS["webhook_secret"])
    assert event["id"] in expected
