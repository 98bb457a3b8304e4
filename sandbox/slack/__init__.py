"""Slack simulator: incoming webhooks and the Web API methods we call (`chat.postMessage`, `conversations.history`,
`auth.test`), with Slack's own limits and error bodies.

- Incoming webhooks `POST /services/T…/B…/<secret>` answer `200` with the plain-text body `ok`; errors are plain
  text with the documented codes (400 `invalid_payload`/`no_text`/`invalid_blocks`, 403 `invalid_token` for a revoked
  hook or `action_prohibited`, 404 `no_service`/`channel_not_found`, 410 `channel_is_archived`).
- The Web API answers HTTP 200 with `{"ok": false, "error": ...}` (`not_authed`, `invalid_auth`,
  `channel_not_found`, `is_archived`, `no_text`, `msg_too_long`, `invalid_blocks`); only rate limiting uses HTTP 429
  (`ratelimited`), always with `Retry-After` in whole seconds.
- At most one message per second per channel (`min_interval`, which tests may compress), a 429 otherwise.
- Every accepted message is recorded per channel: tests and the demo read them with `messages(state, channel)` or
  `GET /slack/_sandbox/messages?channel=ops`, or through `conversations.history` like any Slack client.
"""

from __future__ import annotations

import json
import math
import threading
import time
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import parse_qs

from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse, PlainTextResponse, Response

from sandbox.common.simulator import Simulator
from sandbox.common.state import SandboxState

TEAM_ID = "T0SANDBOX1"
BOT_ID = "B0OPSDATA1"
BOT_USER_ID = "U0OPSDATA1"


@dataclass
class Channel:
    id: str
    name: str
    archived: bool = False


CHANNELS: tuple[Channel, ...] = (
    Channel("C0SBXALRT1", "alerts"),
    Channel("C0SBXSUPP1", "support"),
    Channel("C0SBXOPS01", "ops"),
    Channel("C0SBXOLD01", "old-reports", archived=True),
)

# One incoming-webhook path per channel, as Slack issues them (the secret part is the credential).
WEBHOOKS: dict[str, str] = {
    "alerts": "/services/T0SANDBOX1/B0HOOKALRT/sandbox-alerts-hook",
    "support": "/services/T0SANDBOX1/B0HOOKSUPP/sandbox-support-hook",
    "ops": "/services/T0SANDBOX1/B0HOOKOPS1/sandbox-ops-hook",
    "old-reports": "/services/T0SANDBOX1/B0HOOKOLD1/sandbox-archived-hook",
}

# Public sandbox-only values, shaped unlike real keys so nobody (and no secret scanner) takes them for one.
SANDBOX_CREDENTIALS: dict[str, str] = {
    "bot_token": "sandbox-slack-bot-token",
    **{f"webhook_{name.replace('-', '_')}": path for name, path in WEBHOOKS.items()},
}

# Documented Block Kit limits (slack_sdk/models/blocks/blocks.py validators and docs.slack.dev).
MAX_BLOCKS = 50
MAX_SECTION_TEXT = 3000
MAX_SECTION_FIELDS = 10
MAX_FIELD_TEXT = 2000
MAX_HEADER_TEXT = 150
MAX_CONTEXT_ELEMENTS = 10
MAX_MARKDOWN_TEXT = 12000
MAX_BLOCK_ID = 255
MAX_MESSAGE_TEXT = 40000
BLOCK_TYPES = {"section", "header", "divider", "context", "actions", "image", "markdown", "rich_text", "input", "file", "video"}


@dataclass
class SlackStore:
    """What the simulator remembers: accepted messages per channel, revoked hooks, the per-channel clock."""

    min_interval: float = 1.0
    messages: dict[str, list[dict[str, Any]]] = field(default_factory=dict)
    rejected: list[dict[str, Any]] = field(default_factory=list)
    revoked_hooks: set[str] = field(default_factory=set)
    last_post: dict[str, float] = field(default_factory=dict)
    last_ts: float = 0.0
    lock: threading.Lock = field(default_factory=threading.Lock)


def store(state: SandboxState) -> SlackStore:
    return state.provider_store("slack", SlackStore)


def channel_by(key: str) -> Channel | None:
    """Find a channel by ID, name or `#name`."""
    key = key.lstrip("#")
    return next((c for c in CHANNELS if key in (c.id, c.name)), None)


def messages(state: SandboxState, channel: str) -> list[dict[str, Any]]:
    """Every message accepted in `channel` (ID, name or #name), oldest first."""
    found = channel_by(channel)
    if found is None:
        raise KeyError(f"no sandbox channel {channel!r}")
    return list(store(state).messages.get(found.id, []))


def revoke_webhook(state: SandboxState, channel: str) -> None:
    """Simulate an admin removing the channel's incoming webhook: later posts get 403 `invalid_token`."""
    store(state).revoked_hooks.add(WEBHOOKS[channel.lstrip("#")])


def set_min_interval(state: SandboxState, seconds: float) -> None:
    """Compress Slack's 1 message/s/channel for fast tests (the client is configured with the same interval)."""
    store(state).min_interval = seconds


def _text_object_error(obj: Any, limit: int, plain_only: bool = False) -> str | None:
    if not isinstance(obj, dict) or obj.get("type") not in ("plain_text", "mrkdwn"):
        return "must be a text object"
    if plain_only and obj["type"] != "plain_text":
        return "must be plain_text"
    text = obj.get("text")
    if not isinstance(text, str) or not text:
        return "text must be a non-empty string"
    if len(text) > limit:
        return f"text must be at most {limit} characters"
    return None


def validate_blocks(blocks: Any) -> str | None:
    """Return why `blocks` break Block Kit's rules (Slack answers `invalid_blocks`), or None when they are fine."""
    if not isinstance(blocks, list):
        return "blocks must be an array"
    if len(blocks) > MAX_BLOCKS:
        return f"no more than {MAX_BLOCKS} items allowed [json-pointer:/blocks]"
    for i, block in enumerate(blocks):
        where = f"[json-pointer:/blocks/{i}]"
        if not isinstance(block, dict) or block.get("type") not in BLOCK_TYPES:
            return f"unknown block type {where}"
        if len(str(block.get("block_id", ""))) > MAX_BLOCK_ID:
            return f"block_id must be at most {MAX_BLOCK_ID} characters {where}"
        kind = block["type"]
        problem = None
        if kind == "header":
            problem = _text_object_error(block.get("text"), MAX_HEADER_TEXT, plain_only=True)
        elif kind == "section":
            if "text" not in block and "fields" not in block:
                problem = "section needs text or fields"
            if "text" in block:
                problem = _text_object_error(block["text"], MAX_SECTION_TEXT)
            fields = block.get("fields", [])
            if not problem and len(fields) > MAX_SECTION_FIELDS:
                problem = f"no more than {MAX_SECTION_FIELDS} fields allowed"
            for f in fields if not problem else ():
                problem = problem or _text_object_error(f, MAX_FIELD_TEXT)
        elif kind == "context":
            elements = block.get("elements") or []
            if not elements or len(elements) > MAX_CONTEXT_ELEMENTS:
                problem = f"context needs 1 to {MAX_CONTEXT_ELEMENTS} elements"
            for e in elements if not problem else ():
                if e.get("type") != "image":
                    problem = problem or _text_object_error(e, MAX_SECTION_TEXT)
        elif kind == "markdown":
            text = block.get("text")
            if not isinstance(text, str) or not text or len(text) > MAX_MARKDOWN_TEXT:
                problem = f"markdown text must be 1 to {MAX_MARKDOWN_TEXT} characters"
        if problem:
            return f"{problem} {where}"
    return None


def _next_ts(slack: SlackStore) -> str:
    now = max(time.time(), slack.last_ts + 0.000001)
    slack.last_ts = now
    return f"{now:.6f}"


def _admit(state: SandboxState, slack: SlackStore, channel: Channel) -> float:
    """Enforce the per-channel message rate. Returns 0 when admitted, else seconds until the next slot."""
    now = time.monotonic()
    with slack.lock:
        last = slack.last_post.get(channel.id)
        if last is not None and now - last < slack.min_interval:
            wait = slack.min_interval - (now - last)
            state.stats["slack"].throttled += 1
            slack.rejected.append({"channel": channel.name, "reason": "ratelimited", "at": time.time()})
            return wait
        slack.last_post[channel.id] = now
        return 0.0


def _record(slack: SlackStore, channel: Channel, payload: dict[str, Any], via: str) -> dict[str, Any]:
    with slack.lock:
        message: dict[str, Any] = {
            "type": "message",
            "subtype": "bot_message",
            "ts": _next_ts(slack),
            "text": payload.get("text") or "",
            "bot_id": BOT_ID,
            "team": TEAM_ID,
        }
        if payload.get("blocks"):
            message["blocks"] = payload["blocks"]
        if payload.get("metadata"):
            message["metadata"] = payload["metadata"]
        slack.messages.setdefault(channel.id, []).append({**message, "channel": channel.id, "via": via, "received_at": time.time()})
        return message


def _retry_after(wait: float) -> str:
    return str(max(1, math.ceil(wait)))  # Slack sends whole seconds


async def _payload(request: Request) -> dict[str, Any] | None:
    """Read a JSON or form-encoded body (Slack accepts both; `payload=` form field for webhooks)."""
    raw = await request.body()
    ctype = request.headers.get("content-type", "")
    try:
        if "application/x-www-form-urlencoded" in ctype:
            form = {k: v[0] for k, v in parse_qs(raw.decode()).items()}
            if "payload" in form:
                return json.loads(form["payload"])
            data: dict[str, Any] = dict(form)
            for key in ("blocks", "metadata"):
                if isinstance(data.get(key), str):
                    data[key] = json.loads(data[key])
            return data
        body = json.loads(raw or b"null")
    except (ValueError, UnicodeDecodeError):
        return None
    return body if isinstance(body, dict) else None


def create_app(state: SandboxState) -> FastAPI:
    app = FastAPI(title="Slack (sandbox)")
    slack = store(state)
    stats = state.stats["slack"]
    hooks = {path: name for name, path in WEBHOOKS.items()}

    def plain(status: int, body: str) -> PlainTextResponse:
        if status >= 400:
            slack.rejected.append({"reason": body, "status": status, "at": time.time()})
        return PlainTextResponse(body, status_code=status)

    @app.post("/services/{team}/{bot}/{secret}")
    async def incoming_webhook(team: str, bot: str, secret: str, request: Request) -> Response:
        path = f"/services/{team}/{bot}/{secret}"
        stats.by_route["webhook"] += 1
        if path not in hooks:
            return plain(404, "no_service")
        if path in slack.revoked_hooks:
            return plain(403, "invalid_token")
        channel = channel_by(hooks[path])
        if channel is None:
            return plain(404, "channel_not_found")
        if channel.archived:
            return plain(410, "channel_is_archived")
        payload = await _payload(request)
        if payload is None:
            return plain(400, "invalid_payload")
        if not payload.get("text") and not payload.get("blocks"):
            return plain(400, "no_text")
        if "blocks" in payload and validate_blocks(payload["blocks"]):
            return plain(400, "invalid_blocks")
        if len(payload.get("text") or "") > MAX_MESSAGE_TEXT:
            return plain(400, "msg_too_long")
        wait = _admit(state, slack, channel)
        if wait:
            return PlainTextResponse("rate_limited", status_code=429, headers={"Retry-After": _retry_after(wait)})
        _record(slack, channel, payload, "webhook")
        return PlainTextResponse("ok")

    def api_error(error: str, status: int = 200, **extra: Any) -> JSONResponse:
        slack.rejected.append({"reason": error, "status": status, "at": time.time()})
        return JSONResponse({"ok": False, "error": error, **extra}, status_code=status)

    def authenticate(request: Request, payload: dict[str, Any]) -> JSONResponse | None:
        header = request.headers.get("authorization", "")
        token = header[7:] if header.lower().startswith("bearer ") else payload.get("token") or request.query_params.get("token")
        if not token:
            return api_error("not_authed")
        if token != SANDBOX_CREDENTIALS["bot_token"]:
            return api_error("invalid_auth")
        return None

    @app.post("/api/auth.test")
    async def auth_test(request: Request) -> Response:
        payload = await _payload(request) or {}
        return authenticate(request, payload) or JSONResponse(
            {"ok": True, "url": "https://northwind-roasters.slack.com/", "team": "Northwind Roasters",
             "user": "opsdata", "team_id": TEAM_ID, "user_id": BOT_USER_ID, "bot_id": BOT_ID}
        )

    @app.post("/api/chat.postMessage")
    async def chat_post_message(request: Request) -> Response:
        stats.by_route["chat.postMessage"] += 1
        payload = await _payload(request)
        if payload is None:
            return api_error("invalid_json")
        denied = authenticate(request, payload)
        if denied:
            return denied
        channel = channel_by(str(payload.get("channel") or ""))
        if channel is None:
            return api_error("channel_not_found")
        if channel.archived:
            return api_error("is_archived")
        if not payload.get("text") and not payload.get("blocks"):
            return api_error("no_text")
        if len(payload.get("text") or "") > MAX_MESSAGE_TEXT:
            return api_error("msg_too_long")
        if "blocks" in payload:
            problem = validate_blocks(payload["blocks"])
            if problem:
                return api_error("invalid_blocks", errors=[problem])
        wait = _admit(state, slack, channel)
        if wait:
            return JSONResponse({"ok": False, "error": "ratelimited"}, status_code=429, headers={"Retry-After": _retry_after(wait)})
        message = _record(slack, channel, payload, "api")
        message.pop("metadata", None)
        return JSONResponse({"ok": True, "channel": channel.id, "ts": message["ts"], "message": message})

    @app.api_route("/api/conversations.history", methods=["GET", "POST"])
    async def conversations_history(request: Request) -> Response:
        payload = dict(request.query_params)
        if request.method == "POST":
            payload.update(await _payload(request) or {})
        denied = authenticate(request, payload)
        if denied:
            return denied
        channel = channel_by(str(payload.get("channel") or ""))
        if channel is None:
            return api_error("channel_not_found")
        try:
            limit = max(1, min(int(payload.get("limit") or 100), 999))
        except (TypeError, ValueError):
            return api_error("invalid_limit")
        include_metadata = str(payload.get("include_all_metadata", "")).lower() in ("1", "true")
        history = list(reversed(slack.messages.get(channel.id, [])))  # newest first, as Slack returns them
        keep = {"type", "subtype", "ts", "text", "bot_id", "team", "blocks"} | ({"metadata"} if include_metadata else set())
        page = [{k: v for k, v in m.items() if k in keep} for m in history[:limit]]
        return JSONResponse({"ok": True, "messages": page, "has_more": len(history) > limit, "pin_count": 0,
                             "channel_actions_ts": None, "channel_actions_count": 0})

    @app.api_route("/api/{method}", methods=["GET", "POST"])
    async def unknown_method(method: str) -> Response:
        return api_error("unknown_method", status=404)

    @app.get("/_sandbox/messages")
    def read_messages(channel: str) -> Response:
        found = channel_by(channel)
        if found is None:
            return JSONResponse({"error": f"no sandbox channel {channel!r}"}, status_code=404)
        return JSONResponse({"channel": found.id, "name": found.name, "messages": messages(state, found.id)})

    @app.post("/_sandbox/revoke")
    def revoke(channel: str) -> dict[str, bool]:
        revoke_webhook(state, channel)
        return {"ok": True}

    return app


SIMULATOR = Simulator(
    create_app,
    credentials={"bot_token": SANDBOX_CREDENTIALS["bot_token"], "api_url": "{base_url}/api/"},
    extra_env={f"SLACK_WEBHOOK_URL_{name.upper().replace('-', '_')}": "{base_url}" + path for name, path in WEBHOOKS.items()},
)
