"""Zendesk Support constants: base URL, credentials, documented rate limits and page sizes.

Sources (developer.zendesk.com unless noted):
- base URL `https://{subdomain}.zendesk.com/api/v2` (API reference, Introduction).
- API token auth is HTTP Basic `{email}/token:{api_token}`; OAuth access tokens are `Authorization: Bearer`
  (documentation/api-basics/authentication). Zendesk is retiring API tokens in favour of OAuth with refresh tokens
  (support.zendesk.com/hc/en-us/articles/9182123625370: refresh token grant, access and refresh token expiry).
- account rate limits per plan, requests per minute (api-reference/introduction/rate-limits): Suite Team 200,
  Growth 400, Professional 400, Enterprise 700, Enterprise Plus 2500; the High Volume API add-on raises the account
  limit to 2500 (not additive).
- incremental exports: 10 requests per minute, 30 with the High Volume add-on
  (api-reference/ticketing/ticket-management/incremental_exports/, "Rate limits"); up to 1000 items per page; items
  changed in the minute before the request are excluded (support.zendesk.com/hc/en-us/articles/8143500919322).
- the cursor-based user export has its own limit instead (same page, "Incremental User Export, Cursor Based" >
  Limits): 20 requests per minute, 60 with the High Volume add-on, reported in
  `Zendesk-RateLimit-incremental-exports-cursor: total=20; remaining=19; resets=42`.
- cursor pagination: `page[size]` up to 100 on most endpoints (api-reference/introduction/pagination/); offset
  pagination beyond 10,000 records is a 400 since 2024 (support.zendesk.com/hc/en-us/articles/5591904358938), so
  every list here pages by cursor.
"""

from __future__ import annotations

import os

from pipelines.common.config import ConfigurationError
from pipelines.contract import RateLimit

PRODUCTION_BASE_URL = "https://{subdomain}.zendesk.com"
"""Paths below carry `/api/v2` (and `/oauth` for tokens), so one base serves the API and the token endpoint."""
API = "/api/v2"

PLAN_LIMITS_PER_MINUTE = {"team": 200, "growth": 400, "professional": 400, "enterprise": 700, "enterprise_plus": 2500}
HIGH_VOLUME_PER_MINUTE = 2500
INCREMENTAL_PER_MINUTE = 10
INCREMENTAL_PER_MINUTE_HIGH_VOLUME = 30
USERS_CURSOR_PER_MINUTE = 20
USERS_CURSOR_PER_MINUTE_HIGH_VOLUME = 60
RATE_LIMIT = RateLimit.per_minute(PLAN_LIMITS_PER_MINUTE["enterprise"], burst=10, scope="account, Enterprise plan")
"""The account limit of the default plan (Enterprise); `ZENDESK_PLAN` / `ZENDESK_HIGH_VOLUME` choose another."""
INCREMENTAL_RATE_LIMIT = RateLimit.per_minute(INCREMENTAL_PER_MINUTE, burst=1, scope="incremental exports")
USERS_CURSOR_RATE_LIMIT = RateLimit.per_minute(USERS_CURSOR_PER_MINUTE, burst=1, scope="cursor-based user export")
"""The documented limits, for the registry and the benchmark. The client paces by what each response reports of the
current one-minute window (`helpers.WindowQuota`), not by these rates."""
BREACH_ALERT_LOOKBACK_HOURS = 24.0
"""SLA breaches older than this (before the newest change the export saw) are not posted to #support: a first load
of two years of history must not flood the channel. ZENDESK_BREACH_ALERT_LOOKBACK_HOURS overrides it."""

EXPORT_PER_PAGE = 1000
LIST_PAGE_SIZE = 100
INITIAL_START_TIME = 1_577_836_800
"""2020-01-01T00:00:00Z: where the first export starts unless ZENDESK_START_TIME says otherwise."""
RATINGS_LOOKBACK_SECONDS = 28 * 86400
"""Satisfaction ratings are filtered by creation (when the survey was offered) but change when the customer answers:
each run re-reads the ratings offered in the 28 days before its saved cursor, so a late answer is not missed."""
SURVEYS_LOOKBACK_SECONDS = 28 * 86400
"""Survey responses likewise: each run lists those created (`filter[created_at_start]`) in the 28 days before the newest
one loaded (a response can be answered or changed until it expires), not the whole history."""
OAUTH_SCOPE = "read"
OAUTH_ACCESS_TTL_SECONDS = 2 * 3600
"""Asked for on every refresh (Zendesk: more than 300 s, less than 172,800 s); the refresh token lives 30 days."""

OAUTH_REFRESH_SKEW_SECONDS = 120


def env_bool(name: str) -> bool:
    return os.environ.get(name, "").strip().lower() in ("1", "true", "yes", "on")


def rate_scale() -> float:
    """ZENDESK_RATE_LIMIT_SCALE multiplies both limits (tests run a sandbox whose limits are scaled alike)."""
    raw = os.environ.get("ZENDESK_RATE_LIMIT_SCALE", "").strip()
    try:
        value = float(raw) if raw else 1.0
    except ValueError as exc:
        raise ConfigurationError(f"ZENDESK_RATE_LIMIT_SCALE must be a number, got {raw!r}") from exc
    if value <= 0:
        raise ConfigurationError(f"ZENDESK_RATE_LIMIT_SCALE must be positive, got {raw!r}")
    return value


def account_limit_per_minute() -> float:
    """The account's documented limit: ZENDESK_HIGH_VOLUME=true, else ZENDESK_PLAN (default enterprise)."""
    if env_bool("ZENDESK_HIGH_VOLUME"):
        return HIGH_VOLUME_PER_MINUTE * rate_scale()
    plan = os.environ.get("ZENDESK_PLAN", "enterprise").strip().lower()
    if plan not in PLAN_LIMITS_PER_MINUTE:
        raise ConfigurationError(f"ZENDESK_PLAN must be one of {', '.join(PLAN_LIMITS_PER_MINUTE)}, got {plan!r}")
    return PLAN_LIMITS_PER_MINUTE[plan] * rate_scale()


def incremental_limit_per_minute() -> float:
    base = INCREMENTAL_PER_MINUTE_HIGH_VOLUME if env_bool("ZENDESK_HIGH_VOLUME") else INCREMENTAL_PER_MINUTE
    return base * rate_scale()


def users_cursor_limit_per_minute() -> float:
    base = USERS_CURSOR_PER_MINUTE_HIGH_VOLUME if env_bool("ZENDESK_HIGH_VOLUME") else USERS_CURSOR_PER_MINUTE
    return base * rate_scale()


def initial_start_time() -> int:
    raw = os.environ.get("ZENDESK_START_TIME", "").strip()
    if not raw:
        return INITIAL_START_TIME
    try:
        return int(raw)
    except ValueError as exc:
        raise ConfigurationError(f"ZENDESK_START_TIME must be a Unix time in seconds, got {raw!r}") from exc


