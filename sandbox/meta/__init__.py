"""Meta simulator: the Graph API (Pages, Instagram business, Marketing API) over the world's social and ad business.

As strict as Graph where a client can go wrong (graph.py holds the spec-driven parts):

- versions in the path (`/v26.0/...`): an expired version falls forward to the oldest available one (the
  `facebook-api-version` response header says which answered); an unversioned call gets the oldest too;
- `access_token` (query or `Authorization: Bearer|OAuth`) and `appsecret_proof` on every call (required: the app has
  "Require App Secret" on); error 190 with subcode 463 for an expired token, 460 for one invalidated; Page
  endpoints need a Page token (from `/me/accounts`); `/debug_token`, the long-lived token exchange
  (`/oauth/access_token?grant_type=fb_exchange_token`);
- `fields=` checked against the node's spec (error 100 "Tried accessing nonexisting field"), edges as fields with
  `.summary()`/`.limit()`, enum-typed parameters checked against Meta's enums, cursor paging with `next` absent on
  the last page (and always present on Page insights, which page by time as Graph's do);
- removed metrics (`page_fans*`, Page/post `*impressions*`, Instagram `impressions`/`plays`/...) get Meta's
  invalid-metric errors; `7d_view`/`28d_view` attribution windows are not returned;
- usage headers (`X-App-Usage`, `X-Business-Use-Case-Usage` with `estimated_time_to_regain_access`,
  `X-Ad-Account-Usage`) over a sliding window, and throttling errors 4 / 80000 / 80001 / 80002 / 80004 past 100 %;
- async insights report runs that take several polls and sometimes fail (`Job Failed`), plus a control endpoint
  that scripts outcomes (failed, skipped, stuck) for tests; a synchronous insights read of more than
  `meta_sync_max_cells` values is refused as too much data (graph.SYNC_INSIGHTS_MAX_CELLS says why);
- webhooks: `POST /{app-id}/subscriptions` verifies the callback with the GET challenge, and
  `POST /_sandbox/webhooks/emit` delivers a change signed with `X-Hub-Signature-256`.

Options (`--option key=value`): `meta_rate_window_seconds` (3600), `meta_rate_scale` (1: multiplies every call
budget), `meta_async_polls` (3), `meta_async_fail_every` (9: every 9th report run fails; 0 never),
`meta_require_appsecret_proof` (true), `meta_sync_max_cells` (100000). The sandbox's days are UTC days (Page
insights `end_time` at 00:00 UTC).
"""

from __future__ import annotations

import gc
import hashlib
import hmac
import json
import math
import secrets
import time
from collections import deque
from collections.abc import Callable
from datetime import UTC, date, datetime, timedelta
from typing import Any

import numpy as np
import orjson
from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse, Response

from sandbox.common.simulator import Simulator
from sandbox.common.state import SandboxState

from . import graph as g
from .world import (
    ATTRIBUTION_SETTING,
    CLICK_WINDOWS,
    PURCHASE_ACTION_TYPES,
    VIEW_WINDOWS,
    MetaWorld,
    Post,
    Touch,
    day_start,
    days_between,
    meta_id,
)

# Public sandbox-only values, shaped unlike real ones so nobody (and no secret scanner) takes them for credentials.
SANDBOX_CREDENTIALS = {
    "app_id": "100000000000042",
    "app_secret": "sandbox-meta-app-secret",
    "access_token": "sandbox-meta-system-user-token",
    "ad_account_id": f"act_{meta_id('ad-account')}",
    "page_id": meta_id("page"),
    "webhook_verify_token": "sandbox-meta-verify-token",
}
USER_TOKEN = "sandbox-meta-long-lived-user-token"
SHORT_LIVED_TOKEN = "sandbox-meta-short-lived-user-token"
APP_TOKEN = f"{SANDBOX_CREDENTIALS['app_id']}|{SANDBOX_CREDENTIALS['app_secret']}"
SCOPES = ["ads_read", "business_management", "pages_show_list", "pages_read_engagement", "read_insights",
          "instagram_basic", "instagram_manage_insights"]
LONG_LIVED_SECONDS = 5_183_944
INSIGHT_TITLES = {
    "page_media_view": "Views", "page_total_media_view_unique": "Viewers", "page_post_engagements": "Post engagements",
    "page_follows": "Followers", "page_daily_follows_unique": "Daily follows", "page_daily_unfollows_unique": "Daily unfollows",
    "post_media_view": "Views", "post_total_media_view_unique": "Viewers", "post_reactions_by_type_total": "Reactions by type",
    "post_clicks": "Post clicks",
}
REACTION_SPLIT = (("like", 0.7), ("love", 0.18), ("wow", 0.07), ("haha", 0.05))


def _ts(t: datetime) -> str:
    return t.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S+0000")


def _money(cents: float) -> str:
    return f"{cents / 100:.2f}"


def _ratio(a: float, b: float, scale: float = 1.0) -> str | None:
    return f"{a / b * scale:.6f}" if b else None


class _JSONResponse(JSONResponse):
    """The same compact UTF-8 JSON as Starlette's `JSONResponse` (every value here is a str, int, bool, list or dict
    with str keys, which both encode alike), encoded by orjson: several times faster on an insights page."""

    def render(self, content: Any) -> bytes:
        return orjson.dumps(content)


def appsecret_proof(token: str, secret: str = SANDBOX_CREDENTIALS["app_secret"]) -> str:
    return hmac.new(secret.encode(), token.encode(), hashlib.sha256).hexdigest()


def reactions_by_type(total: int) -> dict[str, int]:
    out = {k: int(total * share) for k, share in REACTION_SPLIT}
    out["like"] += total - sum(out.values())
    return out


class _Usage:
    """Calls per key in a sliding window, as a percentage of the key's budget."""

    def __init__(self) -> None:
        self.calls: dict[tuple[str, str], deque[float]] = {}

    def hit(self, key: tuple[str, str], budget: float, window: float) -> tuple[float, float]:
        """Count a call; return (percent used including it, seconds until the oldest call leaves the window)."""
        now = time.monotonic()
        q = self.calls.setdefault(key, deque())
        while q and now - q[0] >= window:
            q.popleft()
        q.append(now)
        return len(q) / budget * 100, (window - (now - q[0])) if q else 0.0

    def peek(self, key: tuple[str, str], budget: float, window: float) -> float:
        now = time.monotonic()
        q = self.calls.setdefault(key, deque())
        while q and now - q[0] >= window:
            q.popleft()
        return len(q) / budget * 100


def create_app(state: SandboxState) -> FastAPI:
    app = FastAPI(title="Meta Graph API (sandbox)")
    stats = state.stats["meta"]
    store = state.provider_store("meta")
    opts = state.options
    window = float(opts.get("meta_rate_window_seconds", 3600))
    rate_scale = float(opts.get("meta_rate_scale", 1))
    async_polls = int(opts.get("meta_async_polls", 3))
    fail_every = int(opts.get("meta_async_fail_every", 9))
    require_proof = str(opts.get("meta_require_appsecret_proof", "true")).lower() != "false"
    sync_max_cells = int(opts.get("meta_sync_max_cells", g.SYNC_INSIGHTS_MAX_CELLS))
    with state.lock:
        store.setdefault("tokens", {})
        store.setdefault("jobs", {})
        store.setdefault("script", [])
        store.setdefault("subscriptions", {})
        store.setdefault("requests", deque(maxlen=50_000))
        store.setdefault("job_seq", 0)
        store.setdefault("usage", _Usage())

    indexed: list[MetaWorld] = []
    reports: dict[tuple[Any, ...], list[dict[str, Any]]] = {}
    """A synchronous insights report's rows per (request without its paging, world time): its next pages, and the
    same request again (an unchanged re-run), are slices of it instead of the report computed again."""
    insight_rows: dict[tuple[Any, ...], Any] = {}
    """Each computed insights row, per group, bucket, breakdown cell, conversions visible and request shape, and each
    bucket's rows per its conversions visible: the conversions visible by `now` only grow with `now`, so their count
    names the set, and a re-read of a day whose conversions did not change is a lookup."""

    def mw() -> MetaWorld:
        w: MetaWorld = state.world.extension("meta")
        if not indexed or indexed[0] is not w:
            reports.clear()
            insight_rows.clear()
            w.index()  # once per world, on the first Meta request: every later page is lookups
            # The world and its index are millions of long-lived objects: keep the cyclic collector's full passes
            # (seconds each at xlarge, triggered by any request's garbage) off them.
            gc.freeze()
            indexed[:] = [w]
        return w

    def world_epoch(t: datetime) -> int:
        return int(t.timestamp())

    def tokens() -> dict[str, dict[str, Any]]:
        with state.lock:
            known = store["tokens"]
            if not known:
                now = world_epoch(state.world.now)
                known[SANDBOX_CREDENTIALS["access_token"]] = {"type": "SYSTEM_USER", "expires_at": 0, "issued_at": now - 86400 * 30}
                known[USER_TOKEN] = {"type": "USER", "expires_at": now + 55 * 86400, "issued_at": now - 5 * 86400}
                known[SHORT_LIVED_TOKEN] = {"type": "USER", "expires_at": now + 3600, "issued_at": now, "short_lived": True}
            return known  # type: ignore[no-any-return]

    # --- errors and responses --------------------------------------------------------------------------
    def trace() -> str:
        return secrets.token_urlsafe(12)[:16]

    @app.exception_handler(g.GraphError)
    async def graph_error(_request: Request, exc: g.GraphError) -> JSONResponse:
        with state.lock:
            stats.extra[f"error:{exc.code}"] += 1
        return JSONResponse(exc.body(trace()), status_code=exc.status, headers={**exc.headers, "WWW-Authenticate": f'OAuth "Facebook Platform" "invalid_request" "{exc.message[:80]}"'})

    def ok(body: Any, headers: dict[str, str]) -> JSONResponse:
        return _JSONResponse(body, headers=headers)

    # --- version, auth, usage ---------------------------------------------------------------------------
    def resolve_version(version: str | None, path: str) -> str:
        today = state.world.now.date()
        available = [v for v, until in g.VERSIONS.items() if until is None or until >= today]
        oldest, newest = available[0], available[-1]
        if version is None:
            return oldest
        if version in available:
            return version
        major = float(version[1:])
        if major > float(newest[1:]):
            raise g.unknown_path(f"/{version}/{path}")
        return oldest  # expired (or never released but older): Graph answers with the oldest available version

    def token_of(request: Request, params: dict[str, str]) -> str | None:
        if params.get("access_token"):
            return params["access_token"]
        header = request.headers.get("authorization", "")
        for scheme in ("Bearer ", "OAuth "):
            if header.startswith(scheme):
                return header[len(scheme):].strip()
        return None

    def authenticate(request: Request, params: dict[str, str]) -> tuple[str, dict[str, Any]]:
        token = token_of(request, params)
        if not token:
            raise g.GraphError("An access token is required to request this resource.", 104)
        if token == APP_TOKEN:
            return token, {"type": "APP", "expires_at": 0}
        known = tokens()
        with state.lock:
            record = known.get(token)
            if record is None:
                raise g.GraphError("Invalid OAuth access token - Cannot parse access token", 190)
            if record.get("expire_after_requests") is not None:
                record["expire_after_requests"] -= 1
                if record["expire_after_requests"] < 0:
                    record["expires_at"] = world_epoch(state.world.now) - 1
                    record["expire_after_requests"] = None
        if record.get("invalidated"):
            raise g.GraphError("Error validating access token: The session has been invalidated because the user changed "
                               "their password or Facebook has changed the session for security reasons.", 190, subcode=460)
        now = state.world.now
        if record["expires_at"] and record["expires_at"] <= world_epoch(now):
            at = datetime.fromtimestamp(record["expires_at"], UTC)
            raise g.GraphError(f"Error validating access token: Session has expired on {at:%A, %d-%b-%y %H:%M:%S} UTC. "
                               f"The current time is {now:%A, %d-%b-%y %H:%M:%S} UTC.", 190, subcode=463)
        if require_proof:
            proof = params.get("appsecret_proof")
            if not proof:
                raise g.GraphError("API calls from the server require an appsecret_proof argument", 100, type_="GraphMethodException")
            if not hmac.compare_digest(proof, appsecret_proof(token)):
                raise g.GraphError("Invalid appsecret_proof provided in the API argument", 100, type_="GraphMethodException")
        return token, record

    def budget(kind: str) -> float:
        active = len(mw().active_ads(state.world.now.date()))
        base = {"ads_insights": 600 + 400 * active, "ads_management": 300 + 40 * active, "pages": 4800, "instagram": 4800,
                "app": 2000}[kind]
        return max(1.0, base * rate_scale)

    def usage_headers(kind: str, owner: str, record: dict[str, Any]) -> dict[str, str]:
        """Count the call against the app and the business use case; raise Meta's throttling error past 100 %."""
        usage: _Usage = store["usage"]
        with state.lock:
            app_pct, app_reset = usage.hit(("app", "app"), budget("app"), window)
            headers = {"X-App-Usage": json.dumps({"call_count": min(100, int(app_pct)), "total_cputime": min(100, int(app_pct * 0.4)),
                                                  "total_time": min(100, int(app_pct * 0.5))})}
            buc_pct, buc_reset = (0.0, 0.0)
            if kind != "app":
                buc_pct, buc_reset = usage.hit((kind, owner), budget(kind), window)
                regain = math.ceil(buc_reset / 60) if buc_pct > 100 else 0
                headers["X-Business-Use-Case-Usage"] = json.dumps({owner: [{
                    "type": kind, "call_count": min(100, int(buc_pct)), "total_cputime": min(100, int(buc_pct * 0.3)),
                    "total_time": min(100, int(buc_pct * 0.4)), "estimated_time_to_regain_access": regain}]})
                if kind.startswith("ads"):
                    headers["X-Ad-Account-Usage"] = json.dumps({"acc_id_util_pct": min(100.0, round(buc_pct, 2)),
                                                                "reset_time_duration": int(buc_reset), "ads_api_access_tier": "standard_access"})
        if kind != "app" and buc_pct > 100:
            code = {"ads_insights": 80000, "ads_management": 80004, "pages": 80001, "instagram": 80002}[kind]
            with state.lock:
                stats.throttled += 1
            raise g.GraphError(g.THROTTLE_MESSAGES[code], code, subcode=2446079, transient=True, headers=headers)
        if app_pct > 100 and record.get("type") != "SYSTEM_USER":
            with state.lock:
                stats.throttled += 1
            raise g.GraphError(g.THROTTLE_MESSAGES[4], 4, transient=True, headers=headers)
        return headers

    # --- renderers --------------------------------------------------------------------------------------
    def pick(spec_name: str, values: dict[str, Any], requested: list[g.FieldRequest], default: tuple[str, ...]) -> dict[str, Any]:
        """The requested fields that have a value (Graph omits absent ones); `id` always."""
        spec = g.node(spec_name)
        g.check_fields(spec, requested)
        names = [f.name for f in requested] or list(default)
        out: dict[str, Any] = {}
        for name in names:
            value = values.get(name)
            value = value() if callable(value) else value
            if value is not None:
                out[name] = value
        out.setdefault("id", values["id"])
        return out

    def field_mod(requested: list[g.FieldRequest], name: str) -> g.FieldRequest | None:
        return next((f for f in requested if f.name == name), None)

    def post_values(post: Post, requested: list[g.FieldRequest], now: datetime, base: str, version: str) -> dict[str, Any]:
        reactions = post.value("reactions", now)
        comments = post.value("comments", now)
        shares = post.value("shares", now)

        def edge_summary(name: str, total: int, extra: dict[str, Any]) -> dict[str, Any]:
            return {"data": [], "summary": {"total_count": total, **extra}}

        values: dict[str, Any] = {
            "id": post.id, "created_time": _ts(post.created), "updated_time": _ts(post.created), "message": post.caption,
            "permalink_url": f"https://www.facebook.com/{post.id.replace('_', '/posts/')}",
            "status_type": {"photo": "added_photos", "video": "added_video", "link": "shared_story"}[post.kind],
            "is_published": True, "is_hidden": False,
            "shares": {"count": shares} if shares else None,  # Graph omits `shares` until a post has been shared
            "reactions": lambda: edge_summary("reactions", reactions, {"viewer_reaction": "NONE"}),
            "comments": lambda: edge_summary("comments", comments, {"order": "ranked", "can_comment": True}),
        }
        insights = field_mod(requested, "insights")
        if insights is not None:
            metrics = g.parse_list(insights.modifiers.get("metric"))
            values["insights"] = lambda: {"data": post_insights(post, metrics, now, base, version)}
        return values

    def post_insights(post: Post, metrics: list[str], now: datetime, base: str, version: str) -> list[dict[str, Any]]:
        check_page_metrics(metrics, g.POST_METRICS)
        values = {"post_media_view": post.value("views", now), "post_total_media_view_unique": post.value("reach", now),
                  "post_reactions_by_type_total": reactions_by_type(post.value("reactions", now)),
                  "post_clicks": post.value("clicks", now)}
        return [{"name": m, "period": "lifetime", "values": [{"value": values[m]}], "title": f"Lifetime {INSIGHT_TITLES[m]}",
                 "description": f"Lifetime: {INSIGHT_TITLES[m]}", "id": f"{post.id}/insights/{m}/lifetime"} for m in metrics]

    def check_page_metrics(metrics: list[str], allowed: set[str]) -> None:
        if not metrics:
            raise g.GraphError("Invalid query", 3001, subcode=1504028, user_title="No Metric Specified",
                               user_msg="No metric was specified to be fetched. Please specify one or more metrics to be fetched and try again.")
        for m in metrics:
            if m in g.REMOVED_PAGE_METRICS:
                with state.lock:
                    stats.extra["removed_metric_requested"] += 1
            if m not in allowed:
                raise g.invalid_param("The value must be a valid insights metric")

    def check_ig_metrics(metrics: list[str], allowed: set[str], enum_type: str, product: str | None = None) -> None:
        if not metrics:
            raise g.invalid_param("The parameter metric is required")
        spec_values = g.enums()[enum_type]
        for i, m in enumerate(metrics):
            if m in g.REMOVED_IG_METRICS:
                with state.lock:
                    stats.extra["removed_metric_requested"] += 1
                raise g.invalid_param(f"Starting from version v22.0 and above, the {m} metric is no longer supported for the "
                                      "queried media. Please refer to the documentation at https://developers.facebook.com/docs/"
                                      "instagram-platform/reference/instagram-media/insights for a list of supported metrics.")
            if m not in spec_values:
                valid = ", ".join(v for v in spec_values if v not in g.REMOVED_IG_METRICS)
                raise g.invalid_param(f"metric[{i}] must be one of the following values: {valid}")
            if m not in allowed:
                what = "for this media product type" if product else "for this account"
                raise g.invalid_param(f"The Media Insights API does not support the {m} metric {what}.")

    # --- ads insights -----------------------------------------------------------------------------------
    def insights_rows(account: str, level: str, params: dict[str, str], now: datetime) -> list[dict[str, Any]]:
        w = mw()
        fields = g.parse_list(params.get("fields")) or ["impressions", "spend", "date_start", "date_stop"]
        spec = g.node("AdsInsights")
        for f in fields:
            if f not in spec.fields:
                raise g.invalid_param(f"Tried accessing nonexisting field ({f}) on node type (AdsInsights)")
        g.check_enum_params(g.node("AdAccount"), "insights", params)
        level = params.get("level", level)
        breakdowns = g.parse_list(params.get("breakdowns"))
        if sorted(breakdowns) not in ([], ["age"], ["gender"], ["age", "gender"], ["country"]):
            raise g.invalid_param(f"Current combination of data breakdown columns ({', '.join(breakdowns)}) is invalid",
                                  user_msg="The breakdowns requested cannot be combined.")
        windows = g.parse_list(params.get("action_attribution_windows")) or ["7d_click", "1d_view"]
        dropped = [x for x in windows if x in g.REMOVED_ATTRIBUTION_WINDOWS]
        if dropped:
            with state.lock:
                stats.extra["removed_window_requested"] += len(dropped)
        windows = [x for x in windows if x not in g.REMOVED_ATTRIBUTION_WINDOWS]
        unified = str(params.get("use_unified_attribution_setting", "false")).lower() == "true"
        report_time = params.get("action_report_time", "impression")
        last = w.last_complete_day(now)
        if params.get("time_range"):
            tr = g.parse_json("time_range", params["time_range"]) or {}
            try:
                since, until = date.fromisoformat(tr["since"]), date.fromisoformat(tr["until"])
            except (KeyError, TypeError, ValueError) as exc:
                raise g.invalid_param("Param time_range must be a JSON object with since and until dates (YYYY-MM-DD)") from exc
        else:
            preset = params.get("date_preset", "last_30d")
            n = {"yesterday": 1, "last_7d": 7, "last_14d": 14, "last_28d": 28, "last_30d": 30, "last_90d": 90}.get(preset)
            if n is None and preset != "maximum":
                raise g.invalid_param(f"date_preset {preset} is not simulated by the sandbox")
            since, until = (w.first_day, last) if n is None else (last - timedelta(days=n - 1), last)
        if since > until:
            raise g.invalid_param("Param time_range: since must be on or before until")
        if breakdowns and "reach" in fields and since < now.date() - timedelta(days=394):
            raise g.invalid_param("Reach-related metrics with breakdowns are unavailable for time ranges older than 13 months",
                                  user_msg="Shorten the time range to the last 13 months or remove the breakdowns.")
        until = min(until, last)
        increment = params.get("time_increment", "all_days")
        if increment == "all_days":
            buckets = [(since, until)] if since <= until else []
        elif increment.isdigit() and 1 <= int(increment) <= 90:
            step = int(increment)
            buckets = [(d, min(until, d + timedelta(days=step - 1))) for d in days_between(since, until) if (d - since).days % step == 0]
        else:
            raise g.invalid_param("Param time_increment must be all_days, monthly or an integer between 1 and 90")
        groups: list[tuple[dict[str, Any], list[str]]] = []
        if level == "ad":
            groups = [({"ad_id": a.id, "ad_name": a.name, "adset_id": a.adset_id, "adset_name": w.adsets_by_id[a.adset_id].name,
                        "campaign_id": a.campaign_id, "campaign_name": w.campaigns_by_id[a.campaign_id].name}, [a.id]) for a in w.ads]
        elif level == "adset":
            groups = [({"adset_id": s.id, "adset_name": s.name, "campaign_id": s.campaign_id, "campaign_name": w.campaigns_by_id[s.campaign_id].name},
                       [a.id for a in s.ads]) for s in w.adsets]
        elif level == "campaign":
            groups = [({"campaign_id": c.id, "campaign_name": c.name}, [a.id for s in c.adsets for a in s.ads]) for c in w.campaigns]
        else:
            groups = [({}, [a.id for a in w.ads])]
        keys: list[tuple[tuple[str, str], ...]] = [()]
        ordered = sorted(breakdowns, key=["age", "gender", "country"].index)
        for b in ordered:
            keys = [k + ((b, v),) for k in keys for v in w.people.column(b)[1]]
        rows: list[dict[str, Any]] = []
        wanted = {*fields, "date_start", "date_stop"}
        shape = (frozenset(wanted), tuple(windows), unified, account, report_time)
        for ident, ad_ids in groups:
            group = tuple(ident.values())
            for start, stop in buckets:
                days = list(days_between(start, stop))
                # Per person over the bucket, then per breakdown value over its people (a breakdown sums people, never
                # days), in numpy over the deliveries' arrays: a Python loop per person made this report's CPU grow
                # with the audience, while it blocked every provider's requests.
                by_cell: dict[int, list[Touch]] = {}
                if report_time == "conversion":
                    cells, reached, cell_of = w.breakdown_cells(ad_ids, days, ordered)
                    if not cells:
                        continue
                    ad_set, day_set = set(ad_ids), set(days)
                    touches = [t for t in w.touches if t.ad_id in ad_set and t.order_at.date() in day_set and t.order_at <= now]
                    if touches:  # a conversion counts in the cell of its person, if the bucket reached that person
                        persons = np.array([t.person for t in touches], dtype=np.int64)
                        at = np.minimum(np.searchsorted(reached, persons), len(reached) - 1)
                        for t, hit, c in zip(touches, (reached[at] == persons).tolist(), cell_of[at].tolist(), strict=True):
                            if hit:
                                by_cell.setdefault(c, []).append(t)
                else:
                    cells = w.cells(ad_ids, days, ordered)  # indexed once (MetaWorld.index): a lookup per group and bucket
                    if not cells:
                        continue
                    touches = [t for d in days for t in w.conversions(ad_ids, d, now)]
                    whole = (group, start, stop, tuple(ordered), len(touches), shape)  # the bucket's conversions so far
                    if whole in insight_rows:
                        rows.extend(insight_rows[whole])
                        continue
                    for t in touches:  # a touch's person is among its ad's people reached that day: always in the bucket
                        by_cell.setdefault(w.cell_index(t.person, ordered), []).append(t)
                bucket: list[dict[str, Any]] = []
                for i, key in enumerate(keys):
                    agg = cells.get(key)
                    if agg is None:
                        continue
                    mine = touches if not key else by_cell.get(i, [])
                    memo = (group, start, stop, key, len(mine), shape)
                    kept = insight_rows.get(memo)
                    if kept is None:
                        row = insights_row(w, ident, key, agg, mine, windows, unified, account)
                        row.update({"date_start": start.isoformat(), "date_stop": stop.isoformat()})
                        keep = wanted.union(dict(key))
                        kept = insight_rows[memo] = {k: v for k, v in row.items() if k in keep}
                    bucket.append(kept)
                if report_time != "conversion":
                    insight_rows[whole] = bucket
                rows.extend(bucket)
        return rows

    def sync_report(account: str, params: dict[str, str], now: datetime) -> list[dict[str, Any]]:
        """The rows of a synchronous insights read, whichever page of it is asked for."""
        key = (tuple(sorted((k, v) for k, v in params.items() if k not in g.PAGING_PARAMS)), now, state.world.epoch)
        found = reports.get(key)
        if found is not None:
            dropped = [x for x in g.parse_list(params.get("action_attribution_windows")) if x in g.REMOVED_ATTRIBUTION_WINDOWS]
            if dropped:  # counted per request, as when computed
                with state.lock:
                    stats.extra["removed_window_requested"] += len(dropped)
        else:
            if len(reports) >= 64:  # the latest reads only: a run's few reports and their pages
                reports.pop(next(iter(reports)))
            found = reports[key] = insights_rows(account, "account", params, now)
        return found

    def insights_row(w: MetaWorld, ident: dict[str, Any], key: tuple[tuple[str, str], ...], agg: dict[str, Any],
                     touches: list[Touch], windows: list[str], unified: bool, account: str) -> dict[str, Any]:
        impressions, reach_set, spend = agg["impressions"], agg["reach"], agg["spend"]
        clicks, link_clicks = agg["clicks"], agg["links"]

        def counted(t: Touch, window: str | None) -> bool:
            if window is None:
                return w.attributed_setting(t, ATTRIBUTION_SETTING) if unified else any(w.attributed(t, x) for x in windows)
            return w.attributed(t, window)

        def stat(action_type: str, measure: Any) -> dict[str, Any]:
            entry: dict[str, Any] = {"action_type": action_type, "value": str(measure(None))}
            for x in windows:
                if x in CLICK_WINDOWS or x in VIEW_WINDOWS:
                    entry[x] = str(measure(x))
            return entry

        won: dict[str | None, list[Touch]] = {}  # per window, counted once for the three action types that repeat it

        def winners(window: str | None) -> list[Touch]:
            if window not in won:
                won[window] = [t for t in touches if counted(t, window)]
            return won[window]

        def n_purchases(window: str | None) -> int:
            return len(winners(window))

        def value(window: str | None) -> str:
            return _money(sum(t.value_cents for t in winners(window)))

        actions = [{"action_type": "link_click", "value": str(link_clicks)},
                   {"action_type": "landing_page_view", "value": str(int(link_clicks * 0.8))}]
        action_values: list[dict[str, Any]] = []
        roas: list[dict[str, Any]] = []
        if n_purchases(None) or any(n_purchases(x) for x in windows):
            actions += [stat(t, n_purchases) for t in PURCHASE_ACTION_TYPES]
            action_values = [stat(t, value) for t in PURCHASE_ACTION_TYPES]
            roas = [stat("omni_purchase", lambda x: f"{float(value(x)) * 100 / spend:.6f}" if spend else "0")]
        row: dict[str, Any] = {
            **ident, **dict(key), "account_id": account, "account_name": "Northwind Roasters", "account_currency": "USD",
            "impressions": str(impressions), "reach": str(reach_set), "frequency": _ratio(impressions, reach_set),
            "spend": _money(spend), "clicks": str(clicks), "inline_link_clicks": str(link_clicks),
            "ctr": _ratio(clicks, impressions, 100), "cpc": _ratio(spend / 100, clicks), "cpm": _ratio(spend / 100, impressions, 1000),
            "cpp": _ratio(spend / 100, reach_set, 1000), "actions": actions, "attribution_setting": ATTRIBUTION_SETTING,
        }
        if action_values:
            row["action_values"] = action_values
            row["purchase_roas"] = roas
        return row

    # --- async report runs ------------------------------------------------------------------------------
    def new_job(account: str, params: dict[str, str], now: datetime) -> dict[str, Any]:
        rows = insights_rows(account, "account", params, now)  # validated now: a bad request fails at creation, as Graph's
        with state.lock:
            store["job_seq"] += 1
            seq = store["job_seq"]
            outcome = store["script"].pop(0) if store["script"] else ("failed" if fail_every and seq % fail_every == 0 else "ok")
            job_id = meta_id("report-run", seq, time.time_ns(), digits=16)
            job = {"id": job_id, "account_id": account, "rows": rows, "polls": 0, "outcome": outcome, "params": params,
                   "created": now, "date_start": min((r["date_start"] for r in rows), default=None),
                   "date_stop": max((r["date_stop"] for r in rows), default=None)}
            store["jobs"][job_id] = job
            stats.extra[f"async_{outcome}"] += 1
        return job

    def job_status(job: dict[str, Any]) -> tuple[str, int]:
        polls = job["polls"]
        if job["outcome"] == "stuck":
            return ("Job Running", 50) if polls else ("Job Not Started", 0)
        if polls < async_polls:
            return (("Job Not Started", 0), ("Job Started", 10), ("Job Running", 40 + 10 * polls))[min(polls, 2)]
        return {"ok": ("Job Completed", 100), "failed": ("Job Failed", 60), "skipped": ("Job Skipped", 0)}[job["outcome"]]

    # --- the dispatcher ---------------------------------------------------------------------------------
    @app.post("/_sandbox/async")
    async def script_async(request: Request) -> dict[str, Any]:
        """Outcomes for the next report runs, in order: ok | failed | skipped | stuck."""
        body = await request.json()
        with state.lock:
            store["script"][:] = list(body.get("outcomes", []))
        return {"ok": True}

    @app.post("/_sandbox/tokens")
    async def control_tokens(request: Request) -> dict[str, Any]:
        """Change a token: {"token", "expires_in_days" (world time) | "expire_after_requests" | "invalidate"}."""
        body = await request.json()
        known = tokens()
        with state.lock:
            record = known[body.get("token") or SANDBOX_CREDENTIALS["access_token"]]
            if "expires_in_days" in body:
                record["expires_at"] = world_epoch(state.world.now) + int(float(body["expires_in_days"]) * 86400)
            if "expire_after_requests" in body:
                record["expire_after_requests"] = int(body["expire_after_requests"])
            if body.get("invalidate"):
                record["invalidated"] = True
        return {"ok": True}

    @app.post("/_sandbox/webhooks/emit")
    async def emit(request: Request) -> dict[str, Any]:
        """Deliver one change to every subscribed callback, signed as Meta signs: {"object", "field", "value"}."""
        import httpx

        body = await request.json()
        w = mw()
        obj = body.get("object", "page")
        entry_id = w.page_id if obj == "page" else w.ig_user_id
        payload = {"object": obj, "entry": [{"id": entry_id, "time": int(state.world.now.timestamp()),
                                             "changes": [{"field": body.get("field", "feed"), "value": body.get("value", {})}]}]}
        raw = json.dumps(payload, ensure_ascii=True, separators=(",", ":")).encode()  # Meta signs the escaped-unicode form
        signature = "sha256=" + hmac.new(SANDBOX_CREDENTIALS["app_secret"].encode(), raw, hashlib.sha256).hexdigest()
        results = []
        async with httpx.AsyncClient(timeout=10) as client:
            for sub in list(store["subscriptions"].values()):
                if sub["object"] != obj:
                    continue
                resp = await client.post(sub["callback_url"], content=raw, headers={"Content-Type": "application/json",
                                                                                      "X-Hub-Signature-256": signature})
                results.append({"callback_url": sub["callback_url"], "status": resp.status_code})
        return {"delivered": results, "signature": signature}

    @app.api_route("/{first}/{rest:path}", methods=["GET", "POST", "DELETE"])
    async def versioned(first: str, rest: str, request: Request) -> Response:
        if g.VERSION_RE.match(first):
            return await dispatch(request, first, rest)
        return await dispatch(request, None, f"{first}/{rest}".rstrip("/"))

    @app.api_route("/{only}", methods=["GET", "POST", "DELETE"])
    async def unversioned(only: str, request: Request) -> Response:
        return await dispatch(request, None, only)

    async def dispatch(request: Request, version: str | None, path: str) -> Response:
        params = dict(request.query_params)
        if request.method == "POST":
            form = await request.form()
            params.update({k: str(v) for k, v in form.items()})
        served = resolve_version(version, path)
        parts = [p for p in path.split("/") if p]
        if not parts:
            raise g.unknown_path("/")
        with state.lock:
            stats.by_route[f"{request.method} {_route_name(parts)}"] += 1
            store["requests"].append({"method": request.method, "version": version, "served": served, "path": "/" + "/".join(parts),
                                      "params": {k: v for k, v in params.items() if k not in ("access_token", "appsecret_proof", "client_secret", "fb_exchange_token")},
                                      "proof": bool(params.get("appsecret_proof")), "at": time.time()})
        if parts[0] == "oauth" and parts[1:] == ["access_token"]:
            return oauth_token(params, served)
        token, record = authenticate(request, params)
        response = await route(request, parts, params, token, record, served)
        response.headers["facebook-api-version"] = served
        response.headers["x-fb-trace-id"] = trace()
        return response

    def oauth_token(params: dict[str, str], served: str) -> JSONResponse:
        if params.get("client_id") != SANDBOX_CREDENTIALS["app_id"] or params.get("client_secret") != SANDBOX_CREDENTIALS["app_secret"]:
            raise g.GraphError("Error validating client secret.", 1, subcode=None, type_="OAuthException")
        grant = params.get("grant_type")
        if grant == "client_credentials":
            return JSONResponse({"access_token": APP_TOKEN, "token_type": "bearer"})
        if grant != "fb_exchange_token" or not params.get("fb_exchange_token"):
            raise g.invalid_param("Missing or invalid grant_type / fb_exchange_token")
        known = tokens()
        record = known.get(params["fb_exchange_token"])
        now = world_epoch(state.world.now)
        if record is None or record["type"] != "USER" or (record["expires_at"] and record["expires_at"] <= now):
            raise g.GraphError("Error validating access token: The session is invalid or has expired.", 190, subcode=463)
        new = f"sandbox-meta-exchanged-{secrets.token_hex(8)}"
        with state.lock:
            known[new] = {"type": "USER", "expires_at": now + LONG_LIVED_SECONDS, "issued_at": now}
        return JSONResponse({"access_token": new, "token_type": "bearer", "expires_in": LONG_LIVED_SECONDS},
                            headers={"facebook-api-version": served})

    def base_url(request: Request, served: str) -> str:
        return f"{request.url.scheme}://{request.url.netloc}{request.scope.get('root_path', '')}/{served}"

    async def route(request: Request, parts: list[str], params: dict[str, str], token: str, record: dict[str, Any], served: str) -> Response:
        w = mw()
        now = state.world.now
        requested = g.parse_fields(params.get("fields"))
        head, tail = parts[0], parts[1:]
        url = f"{base_url(request, served)}/{'/'.join(parts)}"
        account_id = SANDBOX_CREDENTIALS["ad_account_id"]

        def need_user() -> None:
            if record["type"] not in ("USER", "SYSTEM_USER"):
                raise g.GraphError("(#200) Provide valid app ID" if record["type"] == "APP" else
                                   "(#200) Requires a User or System User access token", 200, type_="OAuthException")

        def need_page() -> None:
            if record["type"] != "PAGE":
                raise g.GraphError("(#190) This method must be called with a Page Access Token", 190)

        def listing(items: list[Any], headers: dict[str, str], max_limit: int = 100, summary: bool = False,
                    render: Callable[[Any], dict[str, Any]] | None = None) -> JSONResponse:
            """One page of `items`; with `render`, only that page's items are rendered (a post's metrics, insights)."""
            chunk, paging = g.page(items, params, url, max_limit=max_limit)
            if render is not None:
                if items and not chunk:
                    render(items[0])  # a bad field modifier fails past the last page too, as when every item was rendered
                chunk = [render(o) for o in chunk]
            body: dict[str, Any] = {"data": chunk, "paging": paging}
            if summary and str(params.get("summary", "")).lower() == "true":
                body["summary"] = {"total_count": len(items)}
            return ok(body, headers)

        # --- platform ---
        if head == "debug_token":
            headers = usage_headers("app", "app", record)
            info = tokens().get(params.get("input_token", ""))
            if info is None:
                return ok({"data": {"is_valid": False, "error": {"code": 190, "message": "Invalid OAuth access token."}}}, headers)
            data = {"app_id": SANDBOX_CREDENTIALS["app_id"], "type": "USER" if info["type"] != "PAGE" else "PAGE",
                    "application": "Northwind ops data", "data_access_expires_at": world_epoch(now) + 90 * 86400,
                    "expires_at": info["expires_at"], "is_valid": not info.get("invalidated") and (info["expires_at"] == 0 or info["expires_at"] > world_epoch(now)),
                    "scopes": SCOPES, "user_id": meta_id("system-user") if info["type"] == "SYSTEM_USER" else meta_id("user")}
            if not info.get("short_lived"):
                data["issued_at"] = info.get("issued_at", world_epoch(now))
            return ok({"data": data}, headers)
        if head == "me":
            need_user()
            headers = usage_headers("app", "app", record)
            if not tail:
                return ok(pick("User", {"id": meta_id("system-user") if record["type"] == "SYSTEM_USER" else meta_id("user"),
                                        "name": "Northwind ops"}, requested, ("id", "name")), headers)
            if tail == ["accounts"]:
                page_token = f"sandbox-meta-page-token-{hashlib.sha256(token.encode()).hexdigest()[:12]}"
                with state.lock:
                    tokens()[page_token] = {"type": "PAGE", "expires_at": 0 if not record.get("short_lived") else record["expires_at"],
                                            "issued_at": world_epoch(now), "page_id": w.page_id}
                page = pick("Page", {"id": w.page_id, "name": w.page_name, "access_token": page_token, "category": "Coffee shop",
                                     "tasks": ["ANALYZE", "ADVERTISE", "MODERATE", "CREATE_CONTENT", "MANAGE"],
                                     "instagram_business_account": {"id": w.ig_user_id}}, requested, ("id", "name", "access_token"))
                return listing([page], headers)
            raise g.unknown_path(f"/me/{'/'.join(tail)}")
        if head == SANDBOX_CREDENTIALS["app_id"]:
            if record["type"] != "APP":
                raise g.GraphError("(#15) This method must be called with an app access_token.", 15)
            if tail == ["subscriptions"] and request.method == "POST":
                return await subscribe(params)
            if tail == ["subscriptions"]:
                return ok({"data": [{"object": s["object"], "callback_url": s["callback_url"], "active": True,
                                     "fields": [{"name": f, "version": served} for f in s["fields"]]} for s in store["subscriptions"].values()]}, {})
            raise g.unknown_path(f"/{head}/{'/'.join(tail)}")

        # --- Facebook Page ---
        if head == w.page_id:
            headers = usage_headers("pages", w.page_id, record)
            if not tail:
                values = {"id": w.page_id, "name": w.page_name, "category": "Coffee shop", "link": "https://www.facebook.com/northwind.roasters",
                          "followers_count": w.followers_at("facebook", now), "instagram_business_account": {"id": w.ig_user_id},
                          "access_token": None}
                return ok(pick("Page", values, requested, ("id", "name")), headers)
            edge = tail[0]
            g.check_enum_params(g.node("Page"), edge, params)
            if edge in ("published_posts", "posts", "feed"):
                need_page()
                g.check_fields(g.node("PagePost"), requested)
                since, until = time_bounds(params)
                posts = sorted((p for p in w.visible_posts("facebook", now) if since <= p.created < until), key=lambda p: p.created, reverse=True)
                base = base_url(request, served)
                return listing(posts, headers, render=lambda p: pick("PagePost", post_values(p, requested, now, base, served), requested,
                                                                     ("created_time", "message", "id")))
            if edge == "insights":
                need_page()
                return page_insights(request, params, tail, headers, served)
            if edge in g.node("Page").edges:
                return listing([], headers)
            raise g.unknown_path(f"/{head}/{edge}")
        if head in w.posts_by_id and w.posts_by_id[head].platform == "facebook":
            post = w.posts_by_id[head]
            if post.created > now:
                raise g.not_found(head)
            headers = usage_headers("pages", w.page_id, record)
            need_page()
            if not tail:
                return ok(pick("PagePost", post_values(post, requested, now, base_url(request, served), served), requested,
                               ("created_time", "message", "id")), headers)
            if tail == ["insights"] or (len(tail) == 2 and tail[0] == "insights"):
                metrics = g.parse_list(params.get("metric")) if len(tail) == 1 else [tail[1]]
                return ok({"data": post_insights(post, metrics, now, base_url(request, served), served)}, headers)
            raise g.unknown_path(f"/{head}/{'/'.join(tail)}")

        # --- Instagram ---
        if head == w.ig_user_id:
            headers = usage_headers("instagram", w.ig_user_id, record)
            if not tail:
                values = {"id": w.ig_user_id, "username": w.ig_username, "name": w.page_name,
                          "followers_count": w.followers_at("instagram", now), "follows_count": 180,
                          "media_count": len(w.visible_posts("instagram", now)), "biography": "Small-batch coffee roasters."}
                return ok(pick("IGUser", values, requested, ("id",)), headers)
            edge = tail[0]
            if edge in ("media", "stories"):
                g.check_fields(g.node("IGMedia"), requested)
                since, until = time_bounds(params)
                if edge == "media":
                    media = [p for p in w.visible_posts("instagram", now) if since <= p.created < until]
                else:
                    media = [p for p in w.visible_posts("instagram", now, stories=True) if p.expires_at() and p.expires_at() > now]  # type: ignore[operator]
                media.sort(key=lambda p: p.created, reverse=True)
                return listing(media, headers, render=lambda p: pick("IGMedia", media_values(p, now, requested), requested, ("id",)))
            if edge == "insights":
                return ig_user_insights(params, headers)
            if edge in g.node("IGUser").edges:
                return listing([], headers)
            raise g.unknown_path(f"/{head}/{edge}")
        if head in w.posts_by_id and w.posts_by_id[head].platform == "instagram":
            item = w.posts_by_id[head]
            gone_at = item.expires_at()
            if item.created > now or (gone_at is not None and gone_at <= now):
                raise g.not_found(head)  # a story is gone 24 h after it was posted, and its insights with it
            headers = usage_headers("instagram", w.ig_user_id, record)
            if not tail:
                return ok(pick("IGMedia", media_values(item, now, requested), requested, ("id",)), headers)
            if tail == ["insights"]:
                return ok({"data": media_insights(item, g.parse_list(params.get("metric")), now)}, headers)
            raise g.unknown_path(f"/{head}/{'/'.join(tail)}")

        # --- Marketing API ---
        if head == account_id:
            need_user()
            kind = "ads_insights" if tail[:1] == ["insights"] else "ads_management"
            headers = usage_headers(kind, w.ad_account_id, record)
            if not tail:
                values = {"id": account_id, "account_id": w.ad_account_id, "name": "Northwind Roasters", "currency": "USD",
                          "timezone_name": "Etc/GMT", "account_status": 1, "business": {"id": w.business_id, "name": "Northwind Roasters"},
                          "attribution_spec": [{"event_type": "CLICK_THROUGH", "window_days": 7}, {"event_type": "VIEW_THROUGH", "window_days": 1}],
                          "created_time": _ts(day_start(w.first_day) - timedelta(days=30))}
                return ok(pick("AdAccount", values, requested, ("id",)), headers)
            edge = tail[0]
            g.check_enum_params(g.node("AdAccount"), edge, params)
            if edge in ("campaigns", "adsets", "ads"):
                spec_name = {"campaigns": "Campaign", "adsets": "AdSet", "ads": "Ad"}[edge]
                g.check_fields(g.node(spec_name), requested)
                objects: list[Any] = w.campaigns if edge == "campaigns" else (w.adsets if edge == "adsets" else w.ads)
                created = [o for o in objects if o.created_time <= now]
                return listing(created, headers, summary=True,
                               render=lambda o: pick(spec_name, ad_object_values(o, now), requested, ("id",)))
            if edge == "insights":
                if request.method == "POST":
                    job = new_job(account_id, params, now)
                    return ok({"report_run_id": job["id"]}, headers)
                rows = sync_report(account_id, params, now)
                fields = g.parse_list(params.get("fields")) or ["impressions", "spend", "date_start", "date_stop"]
                if len(rows) * len(fields) > sync_max_cells:  # the whole report's size, whatever the page's
                    with state.lock:
                        stats.extra["sync_too_much_data"] += 1
                    raise g.GraphError(g.TOO_MUCH_DATA_MESSAGE, 1, type_=None, status=500)
                return listing(rows, headers, max_limit=500)
            if edge in g.node("AdAccount").edges:
                return listing([], headers)
            raise g.unknown_path(f"/{head}/{edge}")
        obj = w.campaigns_by_id.get(head) or w.adsets_by_id.get(head) or w.ads_by_id.get(head)
        if obj is not None:
            need_user()
            headers = usage_headers("ads_management", w.ad_account_id, record)
            spec_name = type(obj).__name__
            if not tail:
                return ok(pick(spec_name, ad_object_values(obj, now), requested, ("id",)), headers)
            raise g.unknown_path(f"/{head}/{'/'.join(tail)}")
        job = store["jobs"].get(head)
        if job is not None:
            need_user()
            headers = usage_headers("ads_insights", w.ad_account_id, record)
            if not tail:
                with state.lock:
                    job["polls"] += 1
                status, pct = job_status(job)
                values = {"id": job["id"], "account_id": w.ad_account_id, "async_status": status, "async_percent_completion": pct,
                          "date_start": job["date_start"], "date_stop": job["date_stop"], "time_ref": int(job["created"].timestamp()),
                          "is_running": status in ("Job Not Started", "Job Started", "Job Running"),
                          "time_completed": int(now.timestamp()) if status == "Job Completed" else None}
                if status == "Job Failed":
                    values.update({"error_code": 2601, "error_message": "Report run failed: the report took too long to process.",
                                   "error_subcode": 1815107})
                return ok(pick("AdReportRun", values, requested, ("id", "async_status", "async_percent_completion")), headers)
            if tail == ["insights"]:
                status, _ = job_status(job)
                if status != "Job Completed":
                    raise g.GraphError(f"(#100) Report run {job['id']} is not completed (status: {status})", 100,
                                       user_msg="Wait until async_status is Job Completed before reading the results.")
                return listing(job["rows"], headers, max_limit=500)
            raise g.unknown_path(f"/{head}/{'/'.join(tail)}")
        raise g.not_found(head)

    def media_insights(item: Post, metrics: list[str], now: datetime) -> list[dict[str, Any]]:
        product = "STORY" if item.is_story else ("REELS" if item.kind == "REELS" else "FEED")
        check_ig_metrics(metrics, g.IG_MEDIA_METRICS[product], "shadowigmediainsights_metric_enum_param", product)
        return [{"name": m, "period": "lifetime", "values": [{"value": item.value(m, now)}], "title": m.replace("_", " ").title(),
                 "description": f"Lifetime {m}", "id": f"{item.id}/insights/{m}/lifetime"} for m in metrics]

    def media_values(p: Post, now: datetime, requested: list[g.FieldRequest] | None = None) -> dict[str, Any]:
        product = "STORY" if p.is_story else ("REELS" if p.kind == "REELS" else "FEED")
        media_type = {"REELS": "VIDEO", "STORY": "IMAGE"}.get(p.kind, p.kind)
        values: dict[str, Any] = {
            "id": p.id, "caption": None if p.is_story else p.caption, "media_type": media_type, "media_product_type": product,
            "timestamp": _ts(p.created), "permalink": f"https://www.instagram.com/p/{p.id[-11:]}/", "username": mw().ig_username,
            "comments_count": None if p.is_story else p.value("comments", now), "like_count": None if p.is_story else p.value("likes", now),
        }
        insights = field_mod(requested or [], "insights")
        if insights is not None:  # `insights.metric(a,b)` as a field: the media's insights in the same call
            metrics = g.parse_list(insights.modifiers.get("metric"))
            values["insights"] = lambda: {"data": media_insights(p, metrics, now)}
        return values

    def ad_object_values(o: Any, now: datetime) -> dict[str, Any]:
        w = mw()
        campaign = w.campaigns_by_id[getattr(o, "campaign_id", o.id)] if hasattr(o, "campaign_id") else o
        status = campaign.status(now)
        values: dict[str, Any] = {"id": o.id, "name": o.name, "account_id": w.ad_account_id, "status": status,
                                  "configured_status": status, "effective_status": status, "created_time": _ts(o.created_time),
                                  "updated_time": _ts(campaign.updated_time(now))}
        if type(o).__name__ == "Campaign":
            values.update({"objective": o.objective, "start_time": _ts(day_start(o.start)), "stop_time": _ts(day_start(o.stop + timedelta(days=1))),
                           "buying_type": "AUCTION", "special_ad_categories": []})
        elif type(o).__name__ == "AdSet":
            values.update({"campaign_id": o.campaign_id, "daily_budget": str(o.daily_budget_cents), "start_time": _ts(day_start(o.start)),
                           "end_time": _ts(day_start(o.stop + timedelta(days=1))), "billing_event": "IMPRESSIONS",
                           "optimization_goal": "OFFSITE_CONVERSIONS", "targeting": {"geo_locations": {"countries": list(o.countries)}},
                           "attribution_spec": [{"event_type": "CLICK_THROUGH", "window_days": 7}, {"event_type": "VIEW_THROUGH", "window_days": 1}]})
        else:
            values.update({"campaign_id": o.campaign_id, "adset_id": o.adset_id})
        return values

    def time_bounds(params: dict[str, str]) -> tuple[datetime, datetime]:
        def parse(name: str, default: datetime) -> datetime:
            raw = params.get(name)
            if not raw:
                return default
            if raw.isdigit():
                return datetime.fromtimestamp(int(raw), UTC)
            try:
                parsed = datetime.fromisoformat(raw.replace("Z", "+00:00"))
            except ValueError as exc:
                raise g.invalid_param(f"Param {name} must be a unix timestamp or a date") from exc
            return parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)

        return parse("since", datetime(2000, 1, 1, tzinfo=UTC)), parse("until", datetime(2100, 1, 1, tzinfo=UTC))

    def page_insights(request: Request, params: dict[str, str], tail: list[str], headers: dict[str, str], served: str) -> JSONResponse:
        w = mw()
        metrics = g.parse_list(params.get("metric")) if len(tail) == 1 else [tail[1]]
        check_page_metrics(metrics, g.PAGE_METRICS)
        period = params.get("period", "day")
        last = w.last_complete_day()
        since_t, until_t = time_bounds(params)
        since = since_t.date() if params.get("since") else last - timedelta(days=1)
        until = until_t.date() if params.get("until") else last + timedelta(days=1)
        if (until - since).days > 90:
            raise g.invalid_param("There cannot be more than 90 days (7776000 s) between since and until")
        days = [d for d in days_between(since, until - timedelta(days=1)) if d <= last] if period == "day" else []
        data = [{"name": m, "period": period, "values": [{"value": w.page_day(d)[m], "end_time": _ts(day_start(d + timedelta(days=1)))} for d in days],
                 "title": f"Daily {INSIGHT_TITLES[m]}", "description": f"Daily: {INSIGHT_TITLES[m]}", "id": f"{w.page_id}/insights/{m}/{period}"}
                for m in metrics]
        span = until - since
        url = f"{base_url(request, served)}/{w.page_id}/insights"
        rest = {k: v for k, v in params.items() if k not in ("since", "until")}

        def shifted(delta: timedelta) -> str:
            s, u = day_start(since + delta), day_start(until + delta)
            return f"{url}?{_query({**rest, 'since': str(int(s.timestamp())), 'until': str(int(u.timestamp()))})}"

        # Page insights page by time: `previous` and `next` are always there, even past today.
        return ok({"data": data, "paging": {"previous": shifted(-span), "next": shifted(span)}}, headers)

    def ig_user_insights(params: dict[str, str], headers: dict[str, str]) -> JSONResponse:
        w = mw()
        now = state.world.now
        metrics = g.parse_list(params.get("metric"))
        allowed = {"reach", "views", "total_interactions", "follows_and_unfollows", "follower_count", "follower_demographics", "accounts_engaged"}
        check_ig_metrics(metrics, allowed, "shadowiguserinsights_metric_enum_param")
        g.check_enum_params(g.node("IGUser"), "insights", params)
        if not params.get("period"):
            raise g.invalid_param("The parameter period is required")
        metric_type = params.get("metric_type", "default")
        needs_total = [m for m in metrics if m in g.IG_TOTAL_VALUE_ONLY]
        if needs_total and metric_type != "total_value":
            raise g.invalid_param(f"The following metrics ({', '.join(needs_total)}) should be specified with parameter metric_type=total_value")
        breakdown = g.parse_list(params.get("breakdown"))
        data: list[dict[str, Any]] = []
        if "follower_demographics" in metrics:
            if params.get("period") != "lifetime" or len(breakdown) != 1 or breakdown[0] not in ("age", "gender", "country", "city"):
                raise g.invalid_param("follower_demographics needs period=lifetime, metric_type=total_value and one breakdown of age, gender, country or city")
            counts = w.ig_follower_demographics(now)[breakdown[0]]
            results = [{"dimension_values": [k], "value": v} for k, v in sorted(counts.items())]
            data.append({"name": "follower_demographics", "period": "lifetime", "title": "Follower demographics",
                         "description": "The demographic characteristics of followers.",
                         "total_value": {"breakdowns": [{"dimension_keys": [breakdown[0]], "results": results}]},
                         "id": f"{w.ig_user_id}/insights/follower_demographics/lifetime"})
            return ok({"data": data}, headers)
        last = w.last_complete_day(now)
        since_t, until_t = time_bounds(params)
        since = since_t.date() if params.get("since") else last
        until = until_t.date() if params.get("until") else last + timedelta(days=1)
        if (until - since).days > 30:
            raise g.invalid_param("The since and until parameters cannot be more than 30 days apart")
        if "follower_count" in metrics and since < now.date() - timedelta(days=30):
            raise g.invalid_param("The follower_count metric is only available for the last 30 days")
        days = [d for d in days_between(since, until - timedelta(days=1)) if d <= last]
        for m in metrics:
            if metric_type == "total_value":
                total = {k: sum(w.ig_day(d)[k] for d in days) for k in ("views", "reach", "total_interactions", "follows", "unfollows")}
                entry: dict[str, Any] = {"name": m, "period": params["period"], "title": m.replace("_", " ").title(), "description": m,
                                         "id": f"{w.ig_user_id}/insights/{m}/{params['period']}"}
                if m == "follows_and_unfollows":
                    value: dict[str, Any] = {"value": total["follows"] - total["unfollows"]}
                    if breakdown == ["follow_type"]:
                        value["breakdowns"] = [{"dimension_keys": ["follow_type"], "results": [
                            {"dimension_values": ["FOLLOWER"], "value": total["follows"]},
                            {"dimension_values": ["NON_FOLLOWER"], "value": total["unfollows"]}]}]
                    entry["total_value"] = value
                else:
                    entry["total_value"] = {"value": total.get(m, 0)}
                data.append(entry)
            else:
                data.append({"name": m, "period": "day", "title": m.replace("_", " ").title(), "description": m,
                             "values": [{"value": w.ig_day(d)[m], "end_time": _ts(day_start(d + timedelta(days=1)))} for d in days],
                             "id": f"{w.ig_user_id}/insights/{m}/day"})
        return ok({"data": data}, headers)

    async def subscribe(params: dict[str, str]) -> JSONResponse:
        import httpx

        callback, verify = params.get("callback_url"), params.get("verify_token")
        obj = params.get("object")
        if not callback or not verify or obj not in ("page", "instagram", "ad_account"):
            raise g.invalid_param("object, callback_url and verify_token are required")
        challenge = str(secrets.randbelow(10**9))
        async with httpx.AsyncClient(timeout=10) as client:
            resp = await client.get(callback, params={"hub.mode": "subscribe", "hub.challenge": challenge, "hub.verify_token": verify})
        if resp.status_code != 200 or resp.text != challenge:
            raise g.GraphError(f"(#2200) callback verification failed: expected the challenge back with 200, got HTTP {resp.status_code}", 2200)
        with state.lock:
            store["subscriptions"][f"{obj}:{callback}"] = {"object": obj, "callback_url": callback, "fields": g.parse_list(params.get("fields"))}
        return JSONResponse({"success": True})

    return app


def _route_name(parts: list[str]) -> str:
    """A route label for stats: ids replaced by {id}."""
    return "/" + "/".join("{id}" if any(c.isdigit() for c in p) and p not in ("v26.0",) else p for p in parts)


def _query(params: dict[str, str]) -> str:
    from urllib.parse import urlencode

    return urlencode(params)


SIMULATOR = Simulator(create_app, credentials=SANDBOX_CREDENTIALS)
