"""Klaviyo constants: base URL, revision, documented per-endpoint rate tiers and page sizes.

Every figure here is read from Klaviyo's OpenAPI spec for revision 2026-07-15 (`x-klaviyo-ratelimit`,
`page[size]` bounds); tests/pipelines/klaviyo/test_settings.py checks them against the spec so they cannot drift.
"""

from __future__ import annotations

from dataclasses import dataclass

from pipelines.contract import RateLimit

PRODUCTION_BASE_URL = "https://a.klaviyo.com"
"""API and OAuth token traffic both go to a.klaviyo.com (token calls via www.klaviyo.com are blocked since 2025-03)."""
AUTHORIZE_URL = "https://www.klaviyo.com/oauth/authorize"
"""The browser consent page is the only OAuth step on www.klaviyo.com."""
REVISION = "2026-07-15"
"""The pinned API revision (sent as the `revision` header on every request)."""

RATE_LIMIT = RateLimit(per_second=10, burst=10, scope="per endpoint, tier M")
"""The seed's planning figure (tier M). Real limits are per endpoint: see `TIERS` / `ENDPOINT_TIERS`."""

OAUTH_SCOPES = (
    "accounts:read campaigns:read events:read flows:read lists:read lists:write metrics:read "
    "profiles:read profiles:write segments:read"
)
"""Union of the `x-klaviyo-scopes` of every operation this integration calls."""


@dataclass(frozen=True)
class Tier:
    """A Klaviyo rate-limit tier: `burst` requests per second and `steady` per minute, both fixed windows."""

    name: str
    burst: int
    steady: int


TIERS = {
    "XS": Tier("XS", 1, 15),
    "S": Tier("S", 3, 60),
    "M": Tier("M", 10, 150),
    "L": Tier("L", 75, 750),
    "XL": Tier("XL", 350, 3500),
}

# (method, path template) -> tier, as stated per operation in the spec. The segment/list `profile_count`
# additional field has its own, stricter limit (1/s, 15/m), see `tier_for`.
ENDPOINT_TIERS: dict[tuple[str, str], str] = {
    ("GET", "/api/campaigns"): "M",
    ("GET", "/api/campaigns/{id}/campaign-messages"): "M",
    ("GET", "/api/events"): "XL",
    ("GET", "/api/flows"): "S",
    ("GET", "/api/flows/{id}/flow-actions"): "S",
    ("GET", "/api/flow-actions/{id}/flow-messages"): "S",
    ("GET", "/api/metrics"): "M",
    ("GET", "/api/profiles"): "L",
    ("GET", "/api/lists"): "L",
    ("GET", "/api/lists/{id}"): "L",
    ("GET", "/api/lists/{id}/profiles"): "L",
    ("GET", "/api/segments"): "L",
    ("GET", "/api/segments/{id}"): "L",
    ("GET", "/api/segments/{id}/profiles"): "L",
    ("POST", "/api/profile-bulk-import-jobs"): "M",
    ("GET", "/api/profile-bulk-import-jobs/{id}"): "M",
    ("GET", "/api/profile-bulk-import-jobs/{id}/import-errors"): "M",
}
PROFILE_COUNT_TIER = "XS"
"""`additional-fields[segment|list]=profile_count` is limited to 1/s and 15/m (spec, get_segment description)."""

PAGE_SIZES = {
    "/api/events": 1000,
    "/api/profiles": 100,
    "/api/campaigns": 100,
    "/api/flows": 50,
    "/api/flows/{id}/flow-actions": 50,
    "/api/flow-actions/{id}/flow-messages": 50,
    "/api/lists": 10,
    "/api/segments": 10,
    "/api/lists/{id}/profiles": 100,
    "/api/segments/{id}/profiles": 100,
    "/api/profile-bulk-import-jobs/{id}/import-errors": 100,
}
"""Maximum `page[size]` per endpoint (spec). /api/metrics takes no page size."""
EVENT_PAGES_PER_WINDOW = 4
"""Pages a datetime span of one metric's events is cut to (source.read_span), by a rough estimate: enough spans to
fill the extract workers, few enough that each one's partial last page costs little."""
EVENT_MAX_SPLIT = 8
"""At most this many sub-spans per split; a sub-span that still holds more than a page splits again."""
KEYED_PAGES_PER_CHAIN = 20
"""Pages per parallel cursor chain of profiles or a group's members (source.keyed_span), by the densities its head
and tail pages show: short enough that the L tier's chains end together (at about six pages a second a chain of 20
takes a few seconds), long enough that the partial last page of each chain (a request for less than a page) is rare."""
KEYED_MAX_SPLIT = 8
"""At most this many chains for one span: the large world's profiles and four groups make some 20 L-tier chains."""
CHAIN_PAGES_PER_ITEM = 5
"""Pages of a cursor chain read per extract-pool item (source.page_chain), the rest handed on as the next item: a
chain's memory is bounded by these pages (500 profiles)."""
EXTRACT_PARALLEL_ITEMS = 128
"""dlt's limit on items in its extract pool at once (default 20): some 20 L-tier chains at the large world, the event
spans (most of them waiting for `EVENT_READERS`) and the small resources. When the pool is full, dlt's main thread
blocks until an item ends, and with event spans filling it the L tier's chains could not be handed on."""
EXTRACT_WORKERS = EXTRACT_PARALLEL_ITEMS
"""dlt's extract threads for this source (dlt's default is 5): one per item the pool admits, so that an L-tier chain
never queues behind event spans for a thread. Each waits on its round trip or the event gate most of the time."""
EVENT_READERS = 12
"""Event items (source.read_span, event chains) reading at once: enough to keep within the L tier's time (the XL tier
is 350/s; the events' cost is their CPU), few enough to leave the GIL to the L tier's chains and dlt's main thread.
It was 6 while a page cost some 15 ms of the GIL to parse (orjson into dicts); typed (`helpers.EventPage`) it costs
2-3 ms, and at 6 the events were paced by the readers' round trips: about 40 pages a second, 15 s at the large world."""

EMAIL_METRICS = (
    "Received Email",
    "Opened Email",
    "Clicked Email",
    "Bounced Email",
    "Unsubscribed from Email Marketing",
    "Marked Email as Spam",
)
ORDER_METRICS = ("Placed Order", "Ordered Product")
EXTRACTED_METRICS = EMAIL_METRICS + ORDER_METRICS
"""Events are read per metric (`equals(metric_id,...)`): an account has many more metrics we don't need."""

INITIAL_CURSOR = "2020-01-01T00:00:00+00:00"
BULK_IMPORT_MAX_PROFILES = 10_000
BULK_IMPORT_MAX_BYTES = 5 * 1024 * 1024
"""Klaviyo: up to 10,000 profiles and 5 MB per bulk import request."""
SYNC_BATCH_SIZE = 1_000
"""Well under both limits; smaller jobs complete (and report errors) sooner."""


def tier_limits() -> list[RateLimit]:
    """Each tier's documented limits as contract rate limits (burst per second; steady per minute)."""
    return [RateLimit(float(t.burst), t.burst, f"per endpoint, tier {t.name} burst") for t in TIERS.values()] + [
        RateLimit.per_minute(t.steady, 1, f"per endpoint, tier {t.name} steady") for t in TIERS.values()
    ]
