"""Meta constants: the pinned Graph version, credentials, documented limits, metrics and the options' defaults.

Every metric named here is one Meta still serves: `page_fans*`, Page/post `*impressions*` (removed 2025-11-15) and
Instagram `impressions`/`plays` (removed 2025-04-21) are never requested; tests/pipelines/meta checks the lists
against the simulator, which rejects the removed ones as Meta does.
"""

from __future__ import annotations

from typing import Any

from pipelines.contract import RateLimit

GRAPH_VERSION = "v26.0"
"""The one Graph API version every call uses: the version the official `facebook-business` SDK (26.0.x) pins,
available until two years after its successor ships (https://developers.facebook.com/docs/graph-api/changelog)."""
PRODUCTION_BASE_URL = "https://graph.facebook.com"

RENEW_HINT = (
    "Renew META_ACCESS_TOKEN (or the password of the Airflow Connection 'meta_default'): for servers, a system-user token "
    "from Business Settings > Users > System users (no expiry); otherwise a new long-lived user token via "
    "`python -m pipelines.meta.auth exchange <short-lived token>` (about 60 days). Page tokens are derived from it. "
    "A wrong META_APP_ID or META_APP_SECRET fails the same way (the app token and appsecret_proof are made from them)."
)

RATE_LIMIT = RateLimit(per_second=50, burst=20, scope="client ceiling; Meta meters usage per hour, see the usage headers")
"""A client-side ceiling only: Meta's real limits are the usage percentages it reports in headers (see helpers)."""
EXTRACT_WORKERS = 16
"""dlt's extract threads for the `meta` pipeline (dlt's default: 5): about one per parallel resource, whose calls are
one to a few each, so that a run's calls wait on their own chains and not on another resource's round trip (an
incremental run's span 1.0-1.1 s -> 0.6-0.7 s at large). Usage is metered per call, not per connection."""
GRAPH_CALLS_AT_ONCE = 4
"""Independent calls one resource sends together (Instagram's per-day totals, the follower breakdowns)."""
SLOW_DOWN_AT_PERCENT = 75.0
"""Above this share of any usage header's budget, each call waits a little (more as the share grows)."""
MAX_PACE_SECONDS = 5.0
"""The longest pause before one call when usage is near 100 %."""
THROTTLE_CODES = {4, 17, 32, 341, 613, *range(80000, 80015)}
"""Graph error codes that mean "slow down" (app, user, page, custom and business-use-case limits)."""
TRANSIENT_CODES = {1, 2}
TOKEN_CODES = {102, 190}
"""Invalid, expired or invalidated access token: permanent until someone renews it."""

API_CALLS_PER_HOUR = {"ads_insights": "600 + 400 x active ads (limited access)", "pages": "4800 x engaged users / 24 h",
                      "instagram": "4800 x impressions / 24 h", "app": "200 x daily active users"}
"""Meta's documented budgets (https://developers.facebook.com/docs/graph-api/overview/rate-limiting); the usage headers
report how much of them is spent, which is what the client paces on."""

PAGE_METRICS = ("page_media_view", "page_total_media_view_unique", "page_post_engagements", "page_follows",
                "page_daily_follows_unique", "page_daily_unfollows_unique")
"""Page Insights, period=day: views (replacing impressions), viewers (reach), post engagements, followers (total at the
end of the day, replacing page_fans), follows and unfollows."""
POST_METRICS = ("post_media_view", "post_total_media_view_unique", "post_reactions_by_type_total", "post_clicks")
IG_MEDIA_METRICS = ("views", "reach", "likes", "comments", "saved", "shares", "total_interactions")
IG_STORY_METRICS = ("views", "reach", "replies", "shares", "total_interactions")
POST_FIELDS = ("id,created_time,message,permalink_url,status_type,shares,reactions.summary(total_count).limit(0),"
               f"comments.summary(total_count).limit(0),insights.metric({','.join(POST_METRICS)})")
"""Posts with their reaction/comment counts and lifetime insights in one call per page (edges as fields)."""
IG_MEDIA_BASE_FIELDS = "id,caption,media_type,media_product_type,timestamp,permalink,like_count,comments_count"
IG_MEDIA_FIELDS = f"{IG_MEDIA_BASE_FIELDS},insights.metric({','.join(IG_MEDIA_METRICS)})"
IG_STORY_FIELDS = f"{IG_MEDIA_BASE_FIELDS},insights.metric({','.join(IG_STORY_METRICS)})"
IG_DAILY_TOTALS = ("views", "total_interactions", "follows_and_unfollows")
"""Instagram account metrics that only come as `metric_type=total_value` (one call per day)."""
IG_DAILY_SERIES = ("reach",)
IG_DEMOGRAPHIC_BREAKDOWNS = ("age", "gender", "city", "country")

AD_OBJECT_FIELDS = {
    "campaigns": ["id", "name", "objective", "status", "effective_status", "created_time", "updated_time", "start_time", "stop_time"],
    "adsets": ["id", "name", "campaign_id", "status", "effective_status", "daily_budget", "created_time", "updated_time", "start_time", "end_time"],
    "ads": ["id", "name", "campaign_id", "adset_id", "status", "effective_status", "created_time", "updated_time"],
}
INSIGHTS_FIELDS = ["account_id", "campaign_id", "campaign_name", "adset_id", "ad_id", "ad_name", "date_start", "date_stop",
                   "spend", "impressions", "reach", "frequency", "clicks", "inline_link_clicks", "actions", "action_values",
                   "purchase_roas", "attribution_setting", "account_currency"]
ATTRIBUTION_WINDOWS = ["7d_click", "1d_view"]
"""Meta's default attribution setting (7-day click or 1-day view). `7d_view`/`28d_view` are gone since 2026-01-12."""
PURCHASE_ACTION_TYPE = "omni_purchase"
"""Meta reports each purchase under several action types with the same value (`omni_purchase`, `purchase`,
`offsite_conversion.fb_pixel_purchase`); exactly one is counted, the omni-channel one `purchase_roas` uses."""

REPORTS: dict[str, dict[str, Any]] = {
    "ads_insights": {"level": "ad", "time_increment": "1", "breakdowns": []},
    "ads_insights_campaign": {"level": "campaign", "time_increment": "1", "breakdowns": []},
    "ads_insights_age_gender": {"level": "campaign", "time_increment": "1", "breakdowns": ["age", "gender"]},
    "ads_insights_country": {"level": "campaign", "time_increment": "1", "breakdowns": ["country"]},
}
"""Daily insights tables, each merged on its level's id, the day and its breakdown columns."""
REACH_REPORTS: dict[str, list[str]] = {"ads_reach_age_gender": ["age", "gender"], "ads_reach_country": ["country"]}
"""Account reach over the last 28 complete days by breakdown: a period's reach comes from the API, never a sum."""

DEFAULTS: dict[str, Any] = {
    "reread_days": 28,
    "organic_reread_days": 3,
    "post_refresh_days": 28,
    "ads_backfill_days": 365,
    "breakdown_backfill_days": 390,
    "organic_backfill_days": 90,
    "async_chunk_days": 90,
    "sync_max_days": 45,
    "async_poll_seconds": 5.0,
    "async_timeout_seconds": 900.0,
    "async_attempts": 3,
    "async_concurrent_jobs": 5,
    "token_warn_days": 7,
}
"""Options (source options or META_<NAME> environment variables): `reread_days` re-reads the last N days of ad insights
every run (conversions arrive late; 28 = the longest click window), `organic_reread_days` the Page/Instagram daily
insights (Meta may take 48 h), `post_refresh_days` re-reads insights of posts younger than that. Breakdowns with reach
only go back 13 months (2025-06-10 change), hence the shorter breakdown backfill. `async_concurrent_jobs`: report runs of
one table in flight at once (its `async_chunk_days` chunks; 5 = a year's backfill in one round). `sync_max_days`: a
range up to that long (the 28-day re-read window plus up to 17 days of missed runs, the 28-day reach) is read with one
synchronous request per page of rows, not an async run (its create and polls); 0 = always async. Meta documents no
per-account cap on concurrent insights runs; each run still costs its create and polls, counted in the usage headers
the client paces on."""
