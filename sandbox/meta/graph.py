"""What the Meta simulator knows about the Graph API: node specs, errors, versions, field selection, paging.

Field names, edge parameters and enum values come from Meta's own node specs (facebook-business-sdk-codegen
`api_specs/specs/*.json`, vendored under `specs/meta/`), so `fields=`, enum-typed parameters and edge names are
validated the way the real API does without a hand-kept list per endpoint. What the specs do not carry (removed
metrics, version dates, error texts) is written here with its source.
"""

from __future__ import annotations

import base64
import json
import re
from dataclasses import dataclass
from datetime import date
from functools import cache, lru_cache
from typing import Any
from urllib.parse import urlencode

from sandbox.common.specs import load_json_spec

SPEC_DIR = "meta/api_specs/specs"
SPEC_NODES = ("Page", "PagePost", "IGUser", "IGMedia", "User", "AdAccount", "Campaign", "AdSet", "Ad", "AdsInsights", "AdReportRun")

# https://developers.facebook.com/docs/graph-api/changelog (version -> available until; None: no end date yet).
VERSIONS: dict[str, date | None] = {
    "v19.0": date(2026, 5, 21), "v20.0": date(2026, 9, 24), "v21.0": date(2027, 1, 21), "v22.0": date(2027, 5, 20),
    "v23.0": date(2027, 10, 8), "v24.0": date(2028, 2, 18), "v25.0": date(2028, 7, 29), "v26.0": None,
}
VERSION_RE = re.compile(r"^v\d+\.\d+$")

# Metrics Meta removed on every version (notes: provider-apis.md §4): asking for them is an error, not an empty row.
REMOVED_PAGE_METRICS = {
    "page_fans", "page_fans_city", "page_fans_country", "page_fans_locale", "page_fans_gender_age", "page_fan_adds",
    "page_fan_adds_unique", "page_fan_removes", "page_fan_removes_unique", "page_impressions", "page_impressions_unique",
    "page_impressions_paid", "page_impressions_paid_unique", "page_impressions_organic_v2", "page_impressions_organic_unique_v2",
    "page_impressions_viral", "page_posts_impressions", "page_posts_impressions_unique", "page_engaged_users",
    "post_impressions", "post_impressions_unique", "post_impressions_paid", "post_impressions_organic", "post_engaged_users",
}
"""Page Insights: `page_fans*` and the `*impressions*` metrics return an invalid-metric error on all versions since
2025-11-15 (developers.facebook.com/blog/post/2025/08/15/page-insights-api-updates)."""
PAGE_METRICS = {
    "page_media_view", "page_total_media_view_unique", "page_post_engagements", "page_follows",
    "page_daily_follows_unique", "page_daily_unfollows_unique",
}
POST_METRICS = {"post_media_view", "post_total_media_view_unique", "post_reactions_by_type_total", "post_clicks"}
REMOVED_IG_METRICS = {"impressions", "plays", "clips_replays_count", "ig_reels_aggregated_all_plays_count", "video_views"}
"""Instagram: removed for v22.0+ and for all versions from 2025-04-21 (instagram-platform media insights reference)."""
IG_MEDIA_METRICS = {
    "FEED": {"views", "reach", "likes", "comments", "saved", "shares", "total_interactions"},
    "REELS": {"views", "reach", "likes", "comments", "saved", "shares", "total_interactions"},
    "STORY": {"views", "reach", "replies", "shares", "total_interactions"},
}
IG_TOTAL_VALUE_ONLY = {"views", "total_interactions", "follows_and_unfollows", "accounts_engaged", "likes", "comments",
                       "shares", "saves", "replies", "profile_links_taps", "follower_demographics"}
REMOVED_ATTRIBUTION_WINDOWS = {"7d_view", "28d_view"}
"""Ads Insights no longer returns these windows since 2026-01-12 (blog 2025/10/16 metric availability updates)."""
THROTTLE_MESSAGES = {
    4: "(#4) Application request limit reached",
    17: "(#17) User request limit reached",
    32: "(#32) Page request limit reached",
    613: "(#613) Calls to this api have exceeded the rate limit.",
    80000: "(#80000) There have been too many calls from this ad-account. Wait a bit and try again. For more info, please refer to https://developers.facebook.com/docs/graph-api/overview/rate-limiting.",
    80001: "(#80001) There have been too many calls to this Page account. Wait a bit and try again. For more info, please refer to https://developers.facebook.com/docs/graph-api/overview/rate-limiting.",
    80002: "(#80002) There have been too many calls to this Instagram account. Wait a bit and try again. For more info, please refer to https://developers.facebook.com/docs/graph-api/overview/rate-limiting.",
    80004: "(#80004) There have been too many calls to this ad-account. Wait a bit and try again. For more info, please refer to https://developers.facebook.com/docs/graph-api/overview/rate-limiting.",
}

TOO_MUCH_DATA_MESSAGE = "Please reduce the amount of data you're asking for, then retry your request"
SYNC_INSIGHTS_MAX_CELLS = 100_000
"""The most values (rows x requested fields) a synchronous `GET /act_{id}/insights` answers; past it, HTTP 500 with
`{"error": {"code": 1, "message": TOO_MUCH_DATA_MESSAGE}}`, whatever the page size. Meta publishes no number, only
that synchronous insights requests "can return out-of-memory or timeout errors" and that large reads belong in async
jobs (developers.facebook.com/docs/marketing-api/insights/best-practices). The rule follows the public reports of that
error: it depends on the whole report, not the page (`limit=1` is refused too: facebook-python-business-sdk#294); it
grows with rows (level=ad, time_increment=1, long ranges: the same repository's #470, #510) and with fields
(airbytehq/airbyte#49977: "reduce the number of fields"); its body is code 1 and the message, no subcode, HTTP 500
(facebook-php-business-sdk#441, facebook-python-business-sdk#470, airbytehq/airbyte#42562). 100,000 values: the
~4,000 daily ad rows of 23 fields that #510 read in Graph Explorer fit; a year of daily rows of 15 ads does not.
Deterministic, so the same request is refused every time (a client must switch to an async run, not retry)."""


class GraphError(Exception):
    """A Graph API error, rendered as Meta does: HTTP 400 (or 5xx) with `{"error": {...}}`."""

    def __init__(self, message: str, code: int, *, subcode: int | None = None, type_: str | None = "OAuthException",
                 status: int = 400, transient: bool = False, user_title: str | None = None, user_msg: str | None = None,
                 headers: dict[str, str] | None = None) -> None:
        super().__init__(message)
        self.message, self.code, self.subcode, self.type, self.status = message, code, subcode, type_, status
        self.transient, self.user_title, self.user_msg = transient, user_title, user_msg
        self.headers = headers or {}

    def body(self, trace: str) -> dict[str, Any]:
        error: dict[str, Any] = {"message": self.message, "code": self.code}
        if self.type is not None:
            error["type"] = self.type
        if self.subcode is not None:
            error["error_subcode"] = self.subcode
        if self.transient or self.code in THROTTLE_MESSAGES:
            error["is_transient"] = self.transient
        if self.user_title:
            error["error_user_title"] = self.user_title
        if self.user_msg:
            error["error_user_msg"] = self.user_msg
        error["fbtrace_id"] = trace
        return {"error": error}


def invalid_param(message: str, *, user_msg: str | None = None) -> GraphError:
    return GraphError(f"(#100) {message}", 100, user_msg=user_msg)


def not_found(object_id: str) -> GraphError:
    return GraphError(
        f"Unsupported get request. Object with ID '{object_id}' does not exist, cannot be loaded due to missing permissions, "
        "or does not support this operation. Please read the Graph API documentation at https://developers.facebook.com/docs/graph-api",
        100, subcode=33, type_="GraphMethodException")


def unknown_path(path: str) -> GraphError:
    return GraphError(f"Unknown path components: {path}", 2500)


# --- specs ------------------------------------------------------------------------------------------------------
@dataclass(frozen=True)
class NodeSpec:
    name: str
    fields: frozenset[str]
    edges: dict[str, dict[str, str]]
    """GET edge -> {param name: spec type}."""


@cache
def node(name: str) -> NodeSpec:
    spec = load_json_spec(f"{SPEC_DIR}/{name}.json")
    edges: dict[str, dict[str, str]] = {}
    for api in spec["apis"]:
        if api["method"] == "GET":
            edges[api.get("endpoint") or "#get"] = {p["name"]: p["type"] for p in api.get("params", [])}
    return NodeSpec(name, frozenset(f["name"] for f in spec["fields"]), edges)


@lru_cache(maxsize=1)
def enums() -> dict[str, tuple[str, ...]]:
    return {e["name"]: tuple(e["values"]) for e in load_json_spec(f"{SPEC_DIR}/enum_types.json")}


def enum_values(param_type: str) -> tuple[str, ...] | None:
    inner = param_type[5:-1] if param_type.startswith("list<") else param_type
    return enums().get(inner)


# --- request parsing ---------------------------------------------------------------------------------------------
def parse_list(value: str | None) -> list[str]:
    """Graph list parameters come as a JSON array (the SDKs) or comma-separated (everyone else)."""
    if value is None or value == "":
        return []
    text = value.strip()
    if text.startswith("["):
        try:
            parsed = json.loads(text)
        except ValueError as exc:
            raise invalid_param(f"Invalid JSON for a list parameter: {text[:80]}") from exc
        return [str(x) for x in parsed]
    return [part.strip() for part in text.split(",") if part.strip()]


def parse_json(name: str, value: str | None) -> Any:
    if value is None:
        return None
    try:
        return json.loads(value)
    except ValueError as exc:
        raise invalid_param(f"Param {name} must be a JSON object") from exc


def check_enum_params(spec: NodeSpec, edge: str, params: dict[str, str]) -> None:
    """Every enum-typed parameter of the edge must hold values from Meta's enum (spec `enum_types.json`)."""
    for name, ptype in spec.edges.get(edge, {}).items():
        if name not in params:
            continue
        allowed = enum_values(ptype)
        if allowed is None:
            continue
        values = parse_list(params[name]) if ptype.startswith("list<") else [params[name]]
        for i, v in enumerate(values):
            if v not in allowed:
                where = f"{name}[{i}]" if ptype.startswith("list<") else name
                raise invalid_param(f"{where} must be one of the following values: {', '.join(allowed)}")


@dataclass
class FieldRequest:
    name: str
    modifiers: dict[str, str]
    subfields: list[FieldRequest]


def parse_fields(text: str | None) -> list[FieldRequest]:
    """`id,name,reactions.summary(total_count).limit(0),insights.metric(a,b){values}` -> field requests."""
    if not text:
        return []
    if text.lstrip().startswith("["):  # the SDKs send lists as JSON arrays
        return [FieldRequest(name, {}, []) for name in parse_list(text)]
    out: list[FieldRequest] = []
    for part in _split(text):
        m = re.match(r"^([A-Za-z0-9_]+)((?:\.[a-z_]+\([^)]*\))*)(\{.*\})?$", part.strip(), re.S)
        if not m:
            raise invalid_param(f"Syntax error \"Expected end of string instead of \"{part[:20]}\".\" at character 0: {text[:80]}")
        modifiers = dict(re.findall(r"\.([a-z_]+)\(([^)]*)\)", m.group(2) or ""))
        sub = parse_fields(m.group(3)[1:-1]) if m.group(3) else []
        out.append(FieldRequest(m.group(1), modifiers, sub))
    return out


def _split(text: str) -> list[str]:
    parts, depth, cur = [], 0, ""
    for ch in text:
        if ch in "({":
            depth += 1
        elif ch in ")}":
            depth -= 1
        if ch == "," and depth == 0:
            parts.append(cur)
            cur = ""
            continue
        cur += ch
    if cur.strip():
        parts.append(cur)
    return parts


def check_fields(spec: NodeSpec, requested: list[FieldRequest]) -> None:
    for f in requested:
        if f.name not in spec.fields and f.name not in spec.edges:
            raise invalid_param(f"Tried accessing nonexisting field ({f.name}) on node type ({spec.name})")


# --- paging ------------------------------------------------------------------------------------------------------
PAGING_PARAMS = frozenset({"after", "before", "limit", "access_token", "appsecret_proof"})
"""Parameters that pick a page of a list (or authenticate it), never which items the list holds."""


def cursor(offset: int) -> str:
    return base64.urlsafe_b64encode(f"offset:{offset}".encode()).decode().rstrip("=")


def offset_of(value: str) -> int:
    try:
        padded = value + "=" * (-len(value) % 4)
        return int(base64.urlsafe_b64decode(padded.encode()).decode().split(":", 1)[1])
    except Exception as exc:
        raise invalid_param("Invalid cursor") from exc


def page(items: list[Any], params: dict[str, str], url: str, default_limit: int = 25, max_limit: int = 100) -> tuple[list[Any], dict[str, Any]]:
    """One page of `items` and its `paging` block: cursors always, `next` only when more items follow."""
    try:
        limit = int(params.get("limit", default_limit))
    except ValueError as exc:
        raise invalid_param("Param limit must be an integer") from exc
    if limit < 0:
        raise invalid_param("Param limit must be a non-negative integer")
    limit = min(limit or default_limit, max_limit)
    start = offset_of(params["after"]) if params.get("after") else 0
    if params.get("before"):
        start = max(0, offset_of(params["before"]) - limit)
    chunk = items[start: start + limit]
    paging: dict[str, Any] = {"cursors": {"before": cursor(start), "after": cursor(start + len(chunk))}}
    base_params = {k: v for k, v in params.items() if k not in ("after", "before")}
    if start + limit < len(items):
        paging["next"] = f"{url}?{urlencode({**base_params, 'limit': limit, 'after': cursor(start + len(chunk))})}"
    if start > 0:
        paging["previous"] = f"{url}?{urlencode({**base_params, 'limit': limit, 'before': cursor(start)})}"
    return chunk, paging
