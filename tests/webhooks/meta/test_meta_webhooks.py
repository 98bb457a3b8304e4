"""Meta webhooks through the real receiver: the GET handshake, X-Hub-Signature-256 over the raw bytes, dedupe."""

from __future__ import annotations

import hashlib
import hmac
import json

import pytest
from fastapi.testclient import TestClient

from pipelines.meta.webhook import MetaWebhooks
from webhooks.app import create_app
from webhooks.providers import InvalidDelivery

SECRET, VERIFY = "test-meta-app-secret", "test-verify-token"


@pytest.fixture
def client(tmp_path) -> TestClient:  # type: ignore[no-untyped-def]
    return TestClient(create_app(tmp_path / "inbox.sqlite", providers={"meta": MetaWebhooks(SECRET, VERIFY)}))


def signed(body: bytes, secret: str = SECRET) -> dict[str, str]:
    return {"X-Hub-Signature-256": "sha256=" + hmac.new(secret.encode(), body, hashlib.sha256).hexdigest(), "Content-Type": "application/json"}


def test_subscription_handshake_echoes_the_challenge_only_for_our_token(client) -> None:  # type: ignore[no-untyped-def]
    ok = client.get("/webhooks/meta", params={"hub.mode": "subscribe", "hub.verify_token": VERIFY, "hub.challenge": "1158201444"})
    assert ok.status_code == 200 and ok.text == "1158201444"
    bad = client.get("/webhooks/meta", params={"hub.mode": "subscribe", "hub.verify_token": "guess", "hub.challenge": "1"})
    assert bad.status_code == 403 and "1" not in bad.text


def test_signed_delivery_is_stored_once_and_forgeries_are_rejected(client) -> None:  # type: ignore[no-untyped-def]
    # Meta signs the escaped-unicode form: the receiver must check the bytes as sent, not re-serialised JSON.
    body = json.dumps({"object": "page", "entry": [{"id": "1", "time": 1790000000, "changes": [
        {"field": "feed", "value": {"message": "Caf\u00e9 day"}}]}]}, ensure_ascii=True).encode()
    first = client.post("/webhooks/meta", content=body, headers=signed(body))
    again = client.post("/webhooks/meta", content=body, headers=signed(body))
    assert first.status_code == 200 and first.json()["duplicate"] is False and again.json()["duplicate"] is True
    assert client.app.state.inbox.count("meta") == 1
    assert client.post("/webhooks/meta", content=body, headers=signed(body, "other-secret")).status_code == 400
    assert client.post("/webhooks/meta", content=body + b" ", headers=signed(body)).status_code == 400
    assert client.post("/webhooks/meta", content=body, headers={"Content-Type": "application/json"}).status_code == 400
    assert client.app.state.inbox.count("meta") == 1


def test_malformed_payload_is_rejected() -> None:
    hooks = MetaWebhooks(SECRET, VERIFY)
    with pytest.raises(InvalidDelivery):
        hooks.identify(b'{"object": "page"}')
    assert hooks.identify(b'{"object":"instagram","entry":[{"id":"9","time":5,"changes":[{"field":"comments"}]}]}').event_type == "instagram:comments"


def test_the_simulator_subscribes_and_delivers_signed_changes(sandbox, tmp_path) -> None:  # type: ignore[no-untyped-def]
    """End to end: the simulator's subscription call performs the GET handshake against a live receiver, then signs."""
    import threading

    import requests
    import uvicorn

    from sandbox.meta import APP_TOKEN, SANDBOX_CREDENTIALS, appsecret_proof
    from sandbox.process import free_port

    hooks = MetaWebhooks(SANDBOX_CREDENTIALS["app_secret"], SANDBOX_CREDENTIALS["webhook_verify_token"])
    app = create_app(tmp_path / "inbox.sqlite", providers={"meta": hooks})
    port = free_port()
    server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning"))
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    try:
        while not server.started:
            thread.join(0.01)
        callback = f"http://127.0.0.1:{port}/webhooks/meta"
        sub = requests.post(f"{sandbox.url}/meta/v26.0/{SANDBOX_CREDENTIALS['app_id']}/subscriptions", data={
            "object": "page", "callback_url": callback, "fields": "feed", "verify_token": SANDBOX_CREDENTIALS["webhook_verify_token"],
            "access_token": APP_TOKEN, "appsecret_proof": appsecret_proof(APP_TOKEN)}, timeout=30)
        assert sub.status_code == 200 and sub.json() == {"success": True}
        sent = requests.post(f"{sandbox.url}/meta/_sandbox/webhooks/emit", json={"object": "page", "field": "feed",
                                                                                 "value": {"item": "comment", "verb": "add"}}, timeout=30)
        assert sent.json()["delivered"] == [{"callback_url": callback, "status": 200}]
        assert app.state.inbox.count("meta") == 1
        wrong = requests.post(f"{sandbox.url}/meta/v26.0/{SANDBOX_CREDENTIALS['app_id']}/subscriptions", data={
            "object": "page", "callback_url": callback, "verify_token": "not-ours", "access_token": APP_TOKEN,
            "appsecret_proof": appsecret_proof(APP_TOKEN)}, timeout=30)
        assert wrong.status_code == 400 and wrong.json()["error"]["code"] == 2200
    finally:
        server.should_exit = True
        thread.join(10)
