"""The Slack simulator speaks Slack: webhook plain-text answers, Web API envelopes (validated against Slack's own
OpenAPI spec), Block Kit limits, and 1 message per second per channel with a real 429 + Retry-After."""

from __future__ import annotations

import copy
import time
from typing import Any

import httpx
import jsonschema
import pytest

from sandbox import slack
from sandbox.approvals import SANDBOX_CREDENTIALS as APPROVAL_CREDENTIALS
from sandbox.approvals import pending_items
from sandbox.common.specs import load_json_spec

SPEC = load_json_spec("slack/slack_web_openapi_v2.json")
TOKEN = slack.SANDBOX_CREDENTIALS["bot_token"]
# Every call waits up to 60 s: httpx's 5 s default can run out while a busy machine runs other tests.
HTTP = httpx.Client(timeout=60.0)


def spec_validator(path: str, verb: str, status: str) -> jsonschema.Draft4Validator:
    schema = copy.deepcopy(SPEC["paths"][path][verb]["responses"][status]["schema"])
    schema["definitions"] = SPEC["definitions"]
    return jsonschema.Draft4Validator(schema)


def hook(server: Any, channel: str) -> str:
    return f"{server.url}/slack{slack.WEBHOOKS[channel]}"


def api(server: Any, method: str, token: str | None = TOKEN, **payload: Any) -> httpx.Response:
    headers = {"Authorization": f"Bearer {token}"} if token else {}
    return HTTP.post(f"{server.url}/slack/api/{method}", json=payload, headers=headers)


@pytest.fixture
def fast_slack(sandbox):  # type: ignore[no-untyped-def]
    """A sandbox whose per-channel limit does not get in the way of error-path tests."""
    slack.set_min_interval(sandbox.state, 0.0)
    return sandbox


def test_webhook_answers_plain_text_ok_and_records_the_message(fast_slack) -> None:  # type: ignore[no-untyped-def]
    response = HTTP.post(hook(fast_slack, "ops"), json={"text": "hello ops"})
    assert response.status_code == 200
    assert response.text == "ok"
    assert response.headers["content-type"].startswith("text/plain")
    recorded = slack.messages(fast_slack.state, "#ops")
    assert [m["text"] for m in recorded] == ["hello ops"]
    assert recorded[0]["channel"] == "C0SBXOPS01" and recorded[0]["via"] == "webhook"
    assert slack.messages(fast_slack.state, "alerts") == []
    # the read-back endpoint the demo uses
    body = HTTP.get(f"{fast_slack.url}/slack/_sandbox/messages", params={"channel": "ops"}).json()
    assert [m["text"] for m in body["messages"]] == ["hello ops"]


@pytest.mark.parametrize(
    ("setup", "url_channel", "payload", "status", "error"),
    [
        ("revoke", "ops", {"text": "x"}, 403, "invalid_token"),
        (None, "old-reports", {"text": "x"}, 410, "channel_is_archived"),
        (None, "ops", "not json", 400, "invalid_payload"),
        (None, "ops", {"username": "nothing to say"}, 400, "no_text"),
        (None, "ops", {"text": "x", "blocks": [{"type": "divider"}] * 51}, 400, "invalid_blocks"),
        (None, "ops", {"text": "x", "blocks": [{"type": "header", "text": {"type": "plain_text", "text": "h" * 151}}]}, 400, "invalid_blocks"),
        (None, "ops", {"text": "x", "blocks": [{"type": "section", "text": {"type": "mrkdwn", "text": "s" * 3001}}]}, 400, "invalid_blocks"),
    ],
)
def test_webhook_errors_are_slacks_plain_text_errors(fast_slack, setup, url_channel, payload, status, error) -> None:  # type: ignore[no-untyped-def]
    if setup == "revoke":
        slack.revoke_webhook(fast_slack.state, url_channel)
    if isinstance(payload, str):
        response = HTTP.post(hook(fast_slack, url_channel), content=payload, headers={"content-type": "application/json"})
    else:
        response = HTTP.post(hook(fast_slack, url_channel), json=payload)
    assert (response.status_code, response.text) == (status, error)
    assert slack.messages(fast_slack.state, url_channel) == []


def test_unknown_webhook_is_404_no_service(fast_slack) -> None:  # type: ignore[no-untyped-def]
    response = HTTP.post(f"{fast_slack.url}/slack/services/T0SANDBOX1/B0NOPE/unknownsecret", json={"text": "x"})
    assert (response.status_code, response.text) == (404, "no_service")


def test_block_limits_at_the_edge_are_accepted(fast_slack) -> None:  # type: ignore[no-untyped-def]
    blocks = [{"type": "header", "text": {"type": "plain_text", "text": "h" * 150}}]
    blocks += [{"type": "section", "text": {"type": "mrkdwn", "text": "s" * 3000}}] * 49
    assert HTTP.post(hook(fast_slack, "ops"), json={"text": "edge", "blocks": blocks}).text == "ok"


def test_post_message_success_matches_slacks_spec(fast_slack) -> None:  # type: ignore[no-untyped-def]
    response = api(fast_slack, "chat.postMessage", channel="#ops", text="hi", blocks=[{"type": "divider"}])
    assert response.status_code == 200
    body = response.json()
    spec_validator("/chat.postMessage", "post", "200").validate(body)
    assert body["channel"] == "C0SBXOPS01"
    history = HTTP.get(f"{fast_slack.url}/slack/api/conversations.history", params={"channel": "C0SBXOPS01"},
                        headers={"Authorization": f"Bearer {TOKEN}"}).json()
    spec_validator("/conversations.history", "get", "200").validate(history)
    assert [m["ts"] for m in history["messages"]] == [body["ts"]]


@pytest.mark.parametrize(
    ("token", "payload", "error"),
    [
        (None, {"channel": "#ops", "text": "x"}, "not_authed"),
        ("xoxb-wrong", {"channel": "#ops", "text": "x"}, "invalid_auth"),
        (TOKEN, {"channel": "#nope", "text": "x"}, "channel_not_found"),
        (TOKEN, {"channel": "#old-reports", "text": "x"}, "is_archived"),
        (TOKEN, {"channel": "#ops"}, "no_text"),
        (TOKEN, {"channel": "#ops", "text": "x" * 40001}, "msg_too_long"),
    ],
)
def test_web_api_errors_match_slacks_spec(fast_slack, token, payload, error) -> None:  # type: ignore[no-untyped-def]
    response = api(fast_slack, "chat.postMessage", token=token, **payload)
    assert response.status_code == 200  # the Web API reports errors in the body
    body = response.json()
    spec_validator("/chat.postMessage", "post", "default").validate(body)
    assert body == {"ok": False, "error": error}


def test_invalid_blocks_envelope(fast_slack) -> None:  # type: ignore[no-untyped-def]
    body = api(fast_slack, "chat.postMessage", channel="#ops", text="x", blocks=[{"type": "divider"}] * 51).json()
    assert body["ok"] is False and body["error"] == "invalid_blocks"
    assert "no more than 50 items" in body["errors"][0]


def test_one_message_per_second_per_channel_with_retry_after(sandbox) -> None:  # type: ignore[no-untyped-def]
    assert HTTP.post(hook(sandbox, "ops"), json={"text": "first"}).text == "ok"
    too_soon = HTTP.post(hook(sandbox, "ops"), json={"text": "second"})
    assert too_soon.status_code == 429
    assert too_soon.headers["Retry-After"] == "1"  # whole seconds, as Slack sends them
    assert HTTP.post(hook(sandbox, "alerts"), json={"text": "other channel"}).text == "ok"  # limit is per channel
    api_too_soon = api(sandbox, "chat.postMessage", channel="#ops", text="third")
    assert api_too_soon.status_code == 429
    assert api_too_soon.json() == {"ok": False, "error": "ratelimited"}
    assert int(api_too_soon.headers["Retry-After"]) >= 1
    time.sleep(int(too_soon.headers["Retry-After"]))  # Slack's own pace, not a wait for another process
    assert HTTP.post(hook(sandbox, "ops"), json={"text": "later"}).text == "ok"
    assert [m["text"] for m in slack.messages(sandbox.state, "ops")] == ["first", "later"]
    assert sandbox.state.stats["slack"].throttled == 2


def test_approval_queue_serves_the_contract_over_the_world(sandbox) -> None:  # type: ignore[no-untyped-def]
    sandbox.world.advance(10)
    url = f"{sandbox.url}/approvals/v1/approvals"
    assert HTTP.get(url).status_code == 401
    headers = {"Authorization": f"Bearer {APPROVAL_CREDENTIALS['api_token']}"}
    seen: list[dict[str, Any]] = []
    cursor = None
    while True:
        body = HTTP.get(url, params={"limit": 1, **({"cursor": cursor} if cursor else {})}, headers=headers).json()
        seen += body["data"]
        cursor = body["next_cursor"]
        if not cursor:
            break
    truth = pending_items(sandbox.state)
    assert len(truth) >= 2
    assert [i["id"] for i in seen] == [i.id for i in truth]
    assert set(seen[0]) == {"id", "kind", "title", "requested_at", "requested_by", "link"}
    now = sandbox.world.now
    for item in truth:  # pending means requested already and not resolved yet, as of the world's now
        assert item.requested_at <= now and (item.resolved_at is None or item.resolved_at > now)
