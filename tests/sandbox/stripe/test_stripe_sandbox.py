"""The Stripe simulator speaks the real API: shapes from Stripe's own fixtures, envelopes and errors from its spec,
pagination and filters as documented, the real 429, and signed webhooks the official SDK accepts."""

from __future__ import annotations

from functools import cache
from typing import Any

import httpx
import jsonschema
import pytest
import stripe
import yaml

import sandbox.stripe as stripe_simulator
from sandbox.common.specs import load_json_spec, read_spec_text
from sandbox.stripe import SANDBOX_CREDENTIALS, BlobCache, Index
from sandbox.stripe.versions import INCLUDABLE
from sandbox.stripe.webhooks import event_payload, signature_header
from tests.helpers import http

KEY = SANDBOX_CREDENTIALS["api_key"]


@pytest.fixture(autouse=True)
def generous_limit(monkeypatch: pytest.MonkeyPatch) -> None:
    # These tests call the SDK without our retrying client; the 429 test sets its own limit as a sandbox option.
    monkeypatch.setenv("SANDBOX_STRIPE_RATE_LIMIT", "1000")


@cache
def fixtures() -> dict[str, Any]:
    return load_json_spec("stripe/fixtures3.json")["resources"]


@cache
def spec() -> dict[str, Any]:
    loader = getattr(yaml, "CSafeLoader", yaml.SafeLoader)
    return yaml.load(read_spec_text("stripe/spec3.2023-09-12.yaml"), Loader=loader)  # type: ignore[no-any-return]


def get(sandbox: Any, path: str, key: str = KEY, **params: Any) -> httpx.Response:
    return http().get(
        f"{sandbox.url}/stripe{path}", params=params, headers={"Authorization": f"Bearer {key}"}, timeout=10
    )


def client(sandbox: Any) -> stripe.StripeClient:
    return stripe.StripeClient(KEY, base_addresses={"api": f"{sandbox.url}/stripe"}, max_network_retries=0)


def _type_name(value: Any) -> str:
    return {bool: "bool", int: "number", float: "number", str: "str", list: "list", dict: "dict"}[type(value)]


def assert_shape(obj: dict[str, Any], resource: str) -> None:
    """Same keys as Stripe's fixture of that resource (less the includable fields Stripe leaves out unless expanded);
    every non-null value has the fixture's JSON type."""
    fixture = {k: v for k, v in fixtures()[resource].items() if k not in INCLUDABLE.get(resource, ())}
    assert set(obj) == set(fixture), f"{resource}: extra {set(obj) - set(fixture)}, missing {set(fixture) - set(obj)}"
    for key, value in obj.items():
        if value is not None and fixture[key] is not None:
            assert _type_name(value) == _type_name(fixture[key]), (
                f"{resource}.{key}: {value!r} vs fixture {fixture[key]!r}"
            )


LISTED = {
    "customers": "customer",
    "products": "product",
    "prices": "price",
    "coupons": "coupon",
    "subscriptions": "subscription",
    "invoices": "invoice",
    "charges": "charge",
    "refunds": "refund",
    "balance_transactions": "balance_transaction",
    "payouts": "payout",
    "disputes": "dispute",
    "events": "event",
}


@pytest.mark.parametrize("path,resource", sorted(LISTED.items()))
def test_objects_match_stripe_fixture_shapes_and_list_envelope_matches_spec(
    module_sandbox: Any, path: str, resource: str
) -> None:
    response = get(module_sandbox, f"/v1/{path}", limit=100, **({"status": "all"} if path == "subscriptions" else {}))
    assert response.status_code == 200
    body = response.json()
    envelope = spec()["paths"][f"/v1/{path}"]["get"]["responses"]["200"]["content"]["application/json"]["schema"]
    assert set(envelope["required"]) <= set(body)
    assert body["object"] == "list" and isinstance(body["has_more"], bool) and body["url"] == f"/v1/{path}"
    assert body["data"], f"{path}: the small world should have some"
    for obj in body["data"]:
        assert_shape(obj, resource)
    if resource == "subscription":
        for item in body["data"][0]["items"]["data"]:
            assert_shape(item, "subscription_item")
            # Basil: billing periods live on the items, not on the subscription.
            assert item["current_period_start"] < item["current_period_end"]
        assert "current_period_start" not in body["data"][0]
    if resource == "invoice":
        invoice = next(i for i in body["data"] if i["parent"])
        assert invoice["parent"]["subscription_details"]["subscription"].startswith("sub_")
        for line in invoice["lines"]["data"]:
            assert_shape(line, "line_item")


def test_error_bodies_validate_against_spec(module_sandbox: Any) -> None:
    components = spec()["components"]
    schema = {"$ref": "#/components/schemas/error", "components": components}
    cases = [
        (get(module_sandbox, "/v1/customers", key="sk_test_wrong"), 401),
        (http().get(f"{module_sandbox.url}/stripe/v1/customers", timeout=60), 401),
        (get(module_sandbox, "/v1/customers/cus_doesnotexist"), 404),
        (get(module_sandbox, "/v1/customers", limit=101), 400),
        (get(module_sandbox, "/v1/customers", limit=0), 400),
        (get(module_sandbox, "/v1/customers", starting_after="cus_x", ending_before="cus_y"), 400),
        (get(module_sandbox, "/v1/customers", **{"created[since]": 1}), 400),
        (get(module_sandbox, "/v1/customers", **{"expand[]": "data.nothing"}), 400),
    ]
    for response, status in cases:
        assert response.status_code == status, response.text
        jsonschema.validate(response.json(), schema)
        assert response.json()["error"]["type"] == "invalid_request_error"
    assert get(module_sandbox, "/v1/customers/cus_doesnotexist").json()["error"]["code"] == "resource_missing"


def test_sdk_errors_map_to_stripe_exceptions(module_sandbox: Any) -> None:
    bad = stripe.StripeClient(
        "sk_test_wrong", base_addresses={"api": f"{module_sandbox.url}/stripe"}, max_network_retries=0
    )
    with pytest.raises(stripe.AuthenticationError):
        bad.v1.customers.list()
    with pytest.raises(stripe.InvalidRequestError) as exc:
        client(module_sandbox).v1.subscriptions.retrieve("sub_nope")
    assert exc.value.http_status == 404


def test_pagination_walks_everything_newest_first_both_directions(module_sandbox: Any) -> None:
    sw = module_sandbox.world.extension("stripe")
    visible = sorted(((c.created, c.id) for c in sw.charges.values() if c.created <= sw.now), reverse=True)
    seen: list[str] = []
    after = None
    while True:
        page = get(module_sandbox, "/v1/charges", limit=7, **({"starting_after": after} if after else {})).json()
        seen += [c["id"] for c in page["data"]]
        if not page["has_more"]:
            break
        after = page["data"][-1]["id"]
    assert seen == [cid for _, cid in visible]
    # ending_before pages back toward newer objects, still newest first within the page.
    pivot = seen[20]
    back = get(module_sandbox, "/v1/charges", limit=5, ending_before=pivot).json()
    assert [c["id"] for c in back["data"]] == seen[15:20] and back["has_more"] is True
    # The SDK's auto-pager agrees.
    assert [c.id for c in client(module_sandbox).v1.charges.list(params={"limit": 100}).auto_paging_iter()] == seen


def test_blob_cache_keeps_at_most_its_bytes_oldest_dropped_first() -> None:
    cache = BlobCache(max_bytes=10)
    for key in "abcd":
        cache.put(key, b"xxxx")
    assert len(cache) == 2 and cache.size == 8  # a and b dropped, oldest first
    assert cache.get("a") is None and cache.get("d") == b"xxxx"
    cache.put("d", b"yy")  # replacing an item counts its new size only
    assert cache.size == 6 and cache.get("d") == b"yy"


def test_pages_are_the_same_when_the_encoded_cache_keeps_nothing(
    sandbox: Any, module_sandbox: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Memory follows the pages served, not the world: a full cache drops items, and a page rendered again reads the
    # same as one served from the cache (both fixtures hold the same small world).
    monkeypatch.setattr(stripe_simulator, "ENCODED_CACHE_BYTES", 0)
    uncached = [get(sandbox, "/v1/invoices", limit=100).json() for _ in range(2)]
    cached = [get(module_sandbox, "/v1/invoices", limit=100).json() for _ in range(2)]
    assert uncached[0] == uncached[1] == cached[0] == cached[1] and cached[0]["data"]


def test_index_pages_equal_slicing_the_filtered_list(module_sandbox: Any) -> None:
    """The unfiltered page index slices only the page out of the `created` range: the same pages as filtering every
    key by the range and the cursor, then taking the page next to the cursor (newest first)."""
    sw = module_sandbox.world.extension("stripe")
    index = Index(sw)
    keys = index.keys["invoice"]
    created = sorted({c for c, _ in keys})
    cuts = [created[0] - 1, created[len(created) // 3], created[len(created) // 2], created[-1], created[-1] + 1]
    cursors = [None, keys[0][1], keys[len(keys) // 2][1], keys[-1][1]]

    def expected(lo: int, hi: int, limit: int, after: str | None, before: str | None) -> tuple[list[str], bool]:
        found = [k for k in keys if lo <= k[0] <= hi]
        if after is not None:
            found = [k for k in found if k < (index.created["invoice"][after], after)]
        if before is not None:
            found = [k for k in found if k > (index.created["invoice"][before], before)]
        chunk = found[:limit] if before is not None else found[-limit:]
        return [oid for _, oid in reversed(chunk)], len(found) > limit

    checked = 0
    for lo in cuts:
        for hi in cuts:
            for limit in (1, 7, 100):
                for cursor in cursors:
                    for after, before in ((cursor, None), (None, cursor)):
                        assert index.page("invoice", lo, hi, limit, after, before) == expected(lo, hi, limit, after, before)
                        checked += 1
    assert checked == len(cuts) ** 2 * 3 * len(cursors) * 2


def test_created_filters_and_subscription_status_filter(module_sandbox: Any) -> None:
    sw = module_sandbox.world.extension("stripe")
    invoices = [i for i in sw.invoices.values() if i.created <= sw.now]
    mid = sorted(i.created for i in invoices)[len(invoices) // 2]
    api = client(module_sandbox).v1.invoices
    gte = list(api.list(params={"limit": 100, "created": {"gte": mid}}).auto_paging_iter())
    lt = list(api.list(params={"limit": 100, "created": {"lt": mid}}).auto_paging_iter())
    assert all(i.created >= mid for i in gte) and all(i.created < mid for i in lt)
    assert len(gte) + len(lt) == len(invoices) and len({i.id for i in gte + lt}) == len(invoices)
    everything = [
        s
        for s in client(module_sandbox).v1.subscriptions.list(params={"status": "all", "limit": 100}).auto_paging_iter()
    ]
    default = [s for s in client(module_sandbox).v1.subscriptions.list(params={"limit": 100}).auto_paging_iter()]
    assert {s.status for s in default} <= {"active", "trialing", "past_due"}
    assert len(everything) == len([s for s in sw.subscriptions.values() if s.created <= sw.now])
    assert any(s.status == "canceled" for s in everything)


def test_events_go_back_only_30_days(sandbox: Any) -> None:
    sw = sandbox.world.extension("stripe")
    events = list(client(sandbox).v1.events.list(params={"limit": 100}).auto_paging_iter())
    assert events and min(e.created for e in events) >= sw.now - 30 * 86400
    assert len(events) == sum(1 for e in sw.events if sw.now - 30 * 86400 <= e.created <= sw.now)
    oldest = min(events, key=lambda e: e.created)
    sandbox.world.advance(31)
    with pytest.raises(stripe.InvalidRequestError):
        client(sandbox).v1.events.retrieve(oldest.id)


def test_rate_limit_answers_stripes_429(sandbox: Any) -> None:
    # One request in the bucket, refilled every 100 s: the second is over the limit however slowly they arrive.
    sandbox.state.options["stripe_rate_limit"] = 0.01
    statuses = [get(sandbox, "/v1/coupons").status_code for _ in range(10)]
    assert 429 in statuses and statuses[0] == 200
    body = next(r for r in (get(sandbox, "/v1/coupons") for _ in range(5)) if r.status_code == 429).json()
    assert body["error"]["code"] == "rate_limit" and body["error"]["type"] == "invalid_request_error"
    assert sandbox.state.stats["stripe"].throttled >= 1


def test_webhook_signatures_verify_with_the_sdk(module_sandbox: Any) -> None:
    sw = module_sandbox.world.extension("stripe")
    event = next(e for e in reversed(sw.events) if e.created <= sw.now)
    body = event_payload(sw, event.id)
    header = signature_header(body, ["whsec_old", SANDBOX_CREDENTIALS["webhook_secret"]])
    parsed = stripe.Webhook.construct_event(body.decode(), header, SANDBOX_CREDENTIALS["webhook_secret"])
    assert parsed.id == event.id
    with pytest.raises(stripe.SignatureVerificationError):
        stripe.Webhook.construct_event(
            body.decode(), signature_header(body, "whsec_forged"), SANDBOX_CREDENTIALS["webhook_secret"]
        )
