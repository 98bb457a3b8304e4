"""Meta source: the Facebook Page, its Instagram business account and the ad account, into `raw_meta`.

Pages and Instagram are plain Graph REST (dlt `RESTClient`, `paging.next` until Graph leaves it out); the Marketing
API goes through the official SDK (ads.py). One token check (`/debug_token`) and one Page-token lookup
(`/me/accounts`) per run are shared by every resource (auth.py).

Incremental reads, each on its own saved cursor (the last day or post loaded):
- ad insights (`ads_insights*`, daily, per ad / per campaign / per campaign and age+gender / per campaign and
  country): every run re-reads the last `reread_days` days (default 28) before the cursor, because purchases are
  reported on the day of the click or view and keep arriving for weeks; rows are merged on the level's id, the day
  and the breakdown columns, so a re-run changes only what Meta changed. A range of at most `sync_max_days` (an
  incremental run's window) is one synchronous read, a longer one (the first run's backfill) async report runs;
- Page and Instagram daily insights: the last `organic_reread_days` (Meta may take 48 h to settle them);
- posts, media: listed from `post_refresh_days` before the newest one loaded; their lifetime insights are read with
  them (`insights_fetched_at` says how old the values are); stories are read every run while they live (24 h).
Snapshots (replace): Instagram follower demographics, account reach over the last 28 days by age+gender and by
country (a period's reach comes from the API, never a sum of days), the token status.
"""

from __future__ import annotations

import os
import threading
from collections.abc import Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from datetime import UTC, date, datetime, timedelta
from typing import Any

import dlt
from dlt.sources import DltResource

from pipelines.common.config import ConfigurationError, ProviderConfig

from .auth import MetaAccess, resolve_access
from .helpers import MetaClient, get, paginate, rest
from .settings import (
    AD_OBJECT_FIELDS,
    DEFAULTS,
    EXTRACT_WORKERS,
    GRAPH_CALLS_AT_ONCE,
    IG_DAILY_TOTALS,
    IG_DEMOGRAPHIC_BREAKDOWNS,
    IG_MEDIA_FIELDS,
    IG_STORY_FIELDS,
    PAGE_METRICS,
    POST_FIELDS,
    REACH_REPORTS,
    REPORTS,
)

SUPPORTS_INTERVAL_RELOAD = False
"""Meta re-reads its own window every run; a backfill of older days is `ads_backfill_days` on a fresh cursor."""


def option(config: ProviderConfig, name: str) -> Any:
    """A source option, else `META_<NAME>` from the environment, else the default; a bad value fails naming it."""
    default = DEFAULTS[name]
    raw = config.options.get(name, os.environ.get(f"META_{name.upper()}"))
    if raw is None:
        return default
    try:
        return type(default)(raw)
    except (TypeError, ValueError) as exc:
        raise ConfigurationError(f"meta: option {name} (META_{name.upper()}) must be a {type(default).__name__}, got {raw!r}") from exc


def today() -> date:
    pinned = os.environ.get("OPSDATA_AS_OF_DATE", "").strip()
    return date.fromisoformat(pinned[:10]) if pinned else datetime.now(UTC).date()


def _ts(value: str | None) -> datetime | None:
    return datetime.strptime(value, "%Y-%m-%dT%H:%M:%S%z").astimezone(UTC) if value else None


def lifetime_of(node: dict[str, Any]) -> dict[str, Any]:
    """{metric: value} of the `insights` a node was read with (`insights.metric(...)` among its fields)."""
    return {m["name"]: (m.get("values") or [{}])[0].get("value") for m in (node.get("insights") or {}).get("data", [])}


def _day_of(end_time: str) -> date:
    """Graph stamps a daily value with the end of its day: the value belongs to the day before `end_time`."""
    stamp = _ts(end_time)
    assert stamp is not None
    return (stamp - timedelta(seconds=1)).date()


@dlt.source(name="meta", max_table_nesting=0)
def source(config: ProviderConfig) -> list[DltResource]:
    opts = {name: option(config, name) for name in DEFAULTS}  # a bad option fails here, before any request
    for name in ("app_id", "app_secret", "access_token", "ad_account_id", "page_id"):
        config.credential(name)
    from . import ads  # the Marketing API SDK, imported when a source is built

    # Read by dlt for this pipeline only (`<pipeline>__EXTRACT__WORKERS`); an operator's own value wins.
    os.environ.setdefault("META__EXTRACT__WORKERS", str(EXTRACT_WORKERS))

    client = MetaClient(config)
    lock = threading.Lock()
    resolved: dict[str, MetaAccess] = {}
    refused: list[Exception] = []

    account_read: list[Future[dict[str, Any]]] = []

    def access() -> MetaAccess:
        """The token check's verdict, which every resource waits for before its first call: with a bad credential
        (a wrong app secret fails every call's appsecret_proof with code 100, which alone would look transient) the
        run fails on the check's terminal error, never on whichever resource's call happened to answer first."""
        with lock:  # one token check and one /me/accounts per run, shared by every resource thread
            if refused:
                raise refused[0]
            if "access" not in resolved:
                # The ad account (its attribution setting and creation day, which every insights read needs) is read
                # meanwhile; its answer is only looked at once the check has passed (account_info).
                with ThreadPoolExecutor(max_workers=1, thread_name_prefix="meta-account") as pool:
                    account_read.append(pool.submit(lambda: ads.account_row(configured_account())))
                    try:
                        resolved["access"] = resolve_access(config, client, datetime.now(UTC), int(opts["token_warn_days"]))
                    except Exception as exc:
                        refused.append(exc)  # the other resources fail on the same verdict, without asking again
                        raise
            return resolved["access"]

    def page_api() -> Any:
        return rest(config, MetaClient(config), access().page_token)

    def get_each(calls: list[tuple[str, dict[str, Any]]]) -> list[Any]:
        """Independent Graph calls of one resource (a day's totals each, a breakdown each), answered in order and
        sent together, each thread on its own session: dlt runs a resource on one worker, where they would wait on
        each other's round trips (a no-change run's longest chain of calls)."""
        with ThreadPoolExecutor(max_workers=max(1, min(len(calls), GRAPH_CALLS_AT_ONCE)), thread_name_prefix="meta-graph") as pool:
            return list(pool.map(lambda call: get(page_api(), *call), calls))

    def since_cursor(state: dict[str, Any], key: str, backfill_days: int, reread: int) -> date:
        last = state.get(key)
        start = today() - timedelta(days=backfill_days)
        return max(start, date.fromisoformat(last) - timedelta(days=reread - 1)) if last else start

    @dlt.resource(name="token_status", primary_key="token", write_disposition="replace",
                  columns={"expires_at": {"data_type": "timestamp", "nullable": True}, "warning": {"data_type": "text", "nullable": True},
                           "data_access_expires_at": {"data_type": "timestamp", "nullable": True}})
    def token_status() -> Iterator[dict[str, Any]]:
        yield access().status.row()

    # --- Facebook Page ----------------------------------------------------------------------------------
    @dlt.resource(name="page", primary_key="id", write_disposition="merge", parallelized=True)
    def page() -> Iterator[dict[str, Any]]:
        node = get(page_api(), f"/{access().page_id}", {"fields": "id,name,link,followers_count"})
        yield {**node, "fetched_at": datetime.now(UTC)}

    @dlt.resource(name="page_insights", primary_key=("page_id", "metric", "date"), write_disposition="merge", parallelized=True)
    def page_insights() -> Iterator[list[dict[str, Any]]]:
        state = dlt.current.resource_state()
        since = since_cursor(state, "last_date", int(opts["organic_backfill_days"]), int(opts["organic_reread_days"]))
        api, page_id = page_api(), access().page_id
        newest = state.get("last_date")
        start = since
        while start <= today():
            stop = min(today() + timedelta(days=1), start + timedelta(days=90))
            body = get(api, f"/{page_id}/insights", {"metric": ",".join(PAGE_METRICS), "period": "day",
                                                      "since": start.isoformat(), "until": stop.isoformat()})
            rows = [{"page_id": page_id, "metric": m["name"], "date": _day_of(v["end_time"]), "value": int(v.get("value") or 0)}
                    for m in body.get("data", []) for v in m.get("values", [])]
            if rows:
                newest = max(newest or "", max(r["date"] for r in rows).isoformat())
                yield rows
            start = stop
        if newest:
            state["last_date"] = newest

    @dlt.resource(name="page_posts", primary_key="id", write_disposition="merge", parallelized=True,
                  columns={"reactions_by_type": {"data_type": "json"}})
    def page_posts() -> Iterator[list[dict[str, Any]]]:
        state = dlt.current.resource_state()
        api, page_id = page_api(), access().page_id
        params: dict[str, Any] = {"fields": POST_FIELDS, "limit": 100}
        if state.get("newest_created"):
            since = datetime.fromisoformat(state["newest_created"]) - timedelta(days=int(opts["post_refresh_days"]))
            params["since"] = int(since.timestamp())
        newest = state.get("newest_created")
        for batch in paginate(api, f"/{page_id}/published_posts", params):
            rows = []
            for p in batch:
                metric = lifetime_of(p)
                created = _ts(p.get("created_time"))
                newest = max(newest or "", created.isoformat()) if created else newest
                rows.append({
                    "id": p["id"], "page_id": page_id, "created_time": created, "message": p.get("message"),
                    "permalink_url": p.get("permalink_url"), "status_type": p.get("status_type"),
                    "reactions": ((p.get("reactions") or {}).get("summary") or {}).get("total_count", 0),
                    "comments": ((p.get("comments") or {}).get("summary") or {}).get("total_count", 0),
                    "shares": (p.get("shares") or {}).get("count", 0),  # Graph leaves `shares` out until someone shares
                    "views": metric.get("post_media_view"), "reach": metric.get("post_total_media_view_unique"),
                    "clicks": metric.get("post_clicks"), "reactions_by_type": metric.get("post_reactions_by_type_total") or {},
                    "insights_fetched_at": datetime.now(UTC),
                })
            yield rows
        if newest:
            state["newest_created"] = newest

    # --- Instagram --------------------------------------------------------------------------------------
    def ig_id() -> str:
        ig = access().ig_user_id
        if not ig:
            raise ConfigurationError(f"meta: Page {access().page_id} has no Instagram business account linked "
                                     "(instagram_business_account is empty); link one in Meta Business Suite")
        return ig

    @dlt.resource(name="ig_account", primary_key="id", write_disposition="merge", parallelized=True)
    def ig_account() -> Iterator[dict[str, Any]]:
        node = get(page_api(), f"/{ig_id()}", {"fields": "id,username,name,followers_count,follows_count,media_count"})
        yield {**node, "page_id": access().page_id, "fetched_at": datetime.now(UTC)}

    @dlt.resource(name="ig_insights", primary_key=("ig_user_id", "metric", "date"), write_disposition="merge", parallelized=True)
    def ig_insights() -> Iterator[list[dict[str, Any]]]:
        state = dlt.current.resource_state()
        since = since_cursor(state, "last_date", int(opts["organic_backfill_days"]), int(opts["organic_reread_days"]))
        api, ig = page_api(), ig_id()
        newest = state.get("last_date")
        start = since
        while start <= today():
            stop = min(today() + timedelta(days=1), start + timedelta(days=30))
            # The daily series says which days the account has data for; the totals come one day per call.
            body = get(api, f"/{ig}/insights", {"metric": "reach", "period": "day", "since": start.isoformat(), "until": stop.isoformat()})
            days = sorted({_day_of(v["end_time"]) for m in body.get("data", []) for v in m.get("values", [])})
            rows = [{"ig_user_id": ig, "metric": "reach", "date": _day_of(v["end_time"]), "value": int(v.get("value") or 0)}
                    for m in body.get("data", []) for v in m.get("values", [])]
            each_day = get_each([(f"/{ig}/insights", {"metric": ",".join(IG_DAILY_TOTALS), "period": "day", "metric_type": "total_value",
                                                      "breakdown": "follow_type", "since": d.isoformat(),
                                                      "until": (d + timedelta(days=1)).isoformat()}) for d in days])
            for d, totals in zip(days, each_day, strict=True):
                for m in totals.get("data", []):
                    total = m.get("total_value") or {}
                    if m["name"] == "follows_and_unfollows":
                        results = ((total.get("breakdowns") or [{}])[0].get("results")) or []
                        by_type = {r["dimension_values"][0]: int(r["value"]) for r in results}
                        rows += [{"ig_user_id": ig, "metric": "follows", "date": d, "value": by_type.get("FOLLOWER", 0)},
                                 {"ig_user_id": ig, "metric": "unfollows", "date": d, "value": by_type.get("NON_FOLLOWER", 0)}]
                    else:
                        rows.append({"ig_user_id": ig, "metric": m["name"], "date": d, "value": int(total.get("value") or 0)})
            if rows:
                newest = max(newest or "", max(d.isoformat() for d in days) if days else "")
                yield rows
            start = stop
        if newest:
            state["last_date"] = newest

    def media_row(m: dict[str, Any], metrics: dict[str, Any]) -> dict[str, Any]:
        return {"id": m["id"], "ig_user_id": ig_id(), "timestamp": _ts(m.get("timestamp")), "media_type": m.get("media_type"),
                "media_product_type": m.get("media_product_type"), "caption": m.get("caption"), "permalink": m.get("permalink"),
                "like_count": m.get("like_count"), "comments_count": m.get("comments_count"),
                **{k: metrics.get(k) for k in ("views", "reach", "likes", "comments", "saved", "shares", "replies", "total_interactions")},
                "insights_fetched_at": datetime.now(UTC)}


    media_columns: Any = {name: {"data_type": "bigint", "nullable": True}
                          for name in ("views", "reach", "likes", "comments", "saved", "shares", "replies", "total_interactions",
                                       "like_count", "comments_count")}
    media_columns["caption"] = {"data_type": "text", "nullable": True}

    @dlt.resource(name="ig_media", primary_key="id", write_disposition="merge", parallelized=True, columns=media_columns)
    def ig_media() -> Iterator[list[dict[str, Any]]]:
        state = dlt.current.resource_state()
        api, ig = page_api(), ig_id()
        params: dict[str, Any] = {"fields": IG_MEDIA_FIELDS, "limit": 100}
        if state.get("newest"):
            params["since"] = int((datetime.fromisoformat(state["newest"]) - timedelta(days=int(opts["post_refresh_days"]))).timestamp())
        newest = state.get("newest")
        for batch in paginate(api, f"/{ig}/media", params):
            rows = [media_row(m, lifetime_of(m)) for m in batch]
            for r in rows:
                if r["timestamp"]:
                    newest = max(newest or "", r["timestamp"].isoformat())
            yield rows
        if newest:
            state["newest"] = newest

    @dlt.resource(name="ig_stories", table_name="ig_media", primary_key="id", write_disposition="merge", parallelized=True,
                  columns=media_columns)
    def ig_stories() -> Iterator[list[dict[str, Any]]]:
        # Stories and their insights disappear 24 h after posting: read them on every run while they live.
        api, ig = page_api(), ig_id()
        for batch in paginate(api, f"/{ig}/stories", {"fields": IG_STORY_FIELDS, "limit": 100}):
            yield [media_row(m, lifetime_of(m)) for m in batch]

    @dlt.resource(name="ig_follower_demographics", primary_key=("ig_user_id", "breakdown", "key"), write_disposition="replace",
                  parallelized=True)
    def ig_follower_demographics() -> Iterator[list[dict[str, Any]]]:
        ig = ig_id()
        taken = datetime.now(UTC)
        bodies = get_each([(f"/{ig}/insights", {"metric": "follower_demographics", "period": "lifetime", "metric_type": "total_value",
                                                "breakdown": breakdown}) for breakdown in IG_DEMOGRAPHIC_BREAKDOWNS])
        for breakdown, body in zip(IG_DEMOGRAPHIC_BREAKDOWNS, bodies, strict=True):
            rows = []
            for m in body.get("data", []):
                for b in (m.get("total_value") or {}).get("breakdowns", []):
                    rows += [{"ig_user_id": ig, "breakdown": breakdown, "key": r["dimension_values"][0], "followers": int(r["value"]),
                              "fetched_at": taken} for r in b.get("results", [])]
            yield rows

    # --- Marketing API ----------------------------------------------------------------------------------
    def configured_account() -> Any:
        return ads.account(ads.marketing_api(config, config.credential("access_token")), config.credential("ad_account_id"))

    def ad_account() -> Any:
        access()  # the token check's verdict first (see access)
        return configured_account()

    def account_info() -> dict[str, Any]:
        access()
        return account_read[0].result()

    @dlt.resource(name="ad_account", primary_key="id", write_disposition="merge")
    def ad_account_resource() -> Iterator[dict[str, Any]]:
        yield account_info()

    def object_resource(edge: str) -> DltResource:
        @dlt.resource(name=f"ad_{edge}" if edge != "ads" else "ads", primary_key="id", write_disposition="merge", parallelized=True)
        def read() -> Iterator[list[dict[str, Any]]]:
            yield list(ads.objects(ad_account(), edge, AD_OBJECT_FIELDS[edge]))

        return read

    def backfill_start(acct: Any, days: int) -> date:
        created = _ts(str(account_info().get("created_time") or "")) if account_info().get("created_time") else None
        start = today() - timedelta(days=days)
        return max(start, created.date()) if created else start

    def insights_resource(name: str, spec: dict[str, Any]) -> DltResource:
        breakdowns: list[str] = spec["breakdowns"]
        key = ("ad_id" if spec["level"] == "ad" else "campaign_id", "date", *breakdowns)

        @dlt.resource(name=name, primary_key=key, write_disposition="merge", parallelized=True,
                      columns={"purchase_roas": {"data_type": "decimal", "nullable": True}})
        def read() -> Iterator[list[dict[str, Any]]]:
            state = dlt.current.resource_state()
            acct = ad_account()
            spec_attr = account_info()["attribution_spec"]
            days = int(opts["breakdown_backfill_days"] if breakdowns else opts["ads_backfill_days"])
            start = backfill_start(acct, days)
            last = state.get("last_date")
            since = max(start, date.fromisoformat(last) - timedelta(days=int(opts["reread_days"]) - 1)) if last else start
            until = today() - timedelta(days=1)
            newest = last
            params_list = [ads.report_params(spec["level"], breakdowns, spec["time_increment"], chunk_since, chunk_until)
                           for chunk_since, chunk_until in ads.chunks(since, until, int(opts["async_chunk_days"]))]

            def run_async() -> Iterator[list[dict[str, Any]]]:
                return ads.run_reports(acct, name, params_list, poll_seconds=float(opts["async_poll_seconds"]),
                                       timeout_seconds=float(opts["async_timeout_seconds"]),
                                       attempts=int(opts["async_attempts"]), concurrent=int(opts["async_concurrent_jobs"]))

            reports: Iterator[list[dict[str, Any]]]
            if since <= until and (until - since).days < int(opts["sync_max_days"]):
                # An incremental run's window: one synchronous read (a page per 500 rows) instead of a run to poll;
                # async runs if Meta finds it too big.
                reports = ads.read_report(acct, name, ads.report_params(spec["level"], breakdowns, spec["time_increment"],
                                                                        since, until), run_async)
            else:
                reports = run_async()
            for raw_rows in reports:
                rows = [ads.insight_row(r, breakdowns, spec_attr) for r in raw_rows]
                if rows:
                    newest = max(newest or "", max(r["date"] for r in rows).isoformat())
                    yield rows
            if newest:
                state["last_date"] = newest

        return read

    def reach_resource(name: str, breakdowns: list[str]) -> DltResource:
        @dlt.resource(name=name, primary_key=("date", "date_stop", *breakdowns), write_disposition="replace", parallelized=True)
        def read() -> Iterator[list[dict[str, Any]]]:
            acct = ad_account()
            spec_attr = account_info()["attribution_spec"]
            params = ads.report_params("account", breakdowns, "all_days", date_preset="last_28d")

            def run_async() -> Iterator[list[dict[str, Any]]]:
                yield ads.run_report(acct, name, params, poll_seconds=float(opts["async_poll_seconds"]),
                                     timeout_seconds=float(opts["async_timeout_seconds"]), attempts=int(opts["async_attempts"]))

            # One row per breakdown value: small enough to read synchronously (async runs if Meta finds it too big).
            reports = ads.read_report(acct, name, params, run_async) if int(opts["sync_max_days"]) >= 28 else run_async()
            for raw in reports:
                yield [ads.insight_row(r, breakdowns, spec_attr) for r in raw]

        return read

    # Longest chains of calls first: dlt starts parallel resources in this order on its few extract workers, and a
    # run's span is its longest chain (an insights report's pages, Instagram's series then its per-day totals).
    return [
        *(insights_resource(n, s) for n, s in REPORTS.items()), *(reach_resource(n, b) for n, b in REACH_REPORTS.items()),
        ig_insights, ig_follower_demographics, page_insights, page_posts, ig_media, ig_stories, page, ig_account,
        object_resource("campaigns"), object_resource("adsets"), object_resource("ads"), ad_account_resource, token_status,
    ]
