"""The Meta simulator is as strict as the Graph API where a client can go wrong (each assertion is Meta's behaviour)."""

from __future__ import annotations

import json
from datetime import timedelta
from typing import Any

import pytest
import requests

import sandbox.meta as meta
from sandbox.meta import SANDBOX_CREDENTIALS, appsecret_proof

TOKEN = SANDBOX_CREDENTIALS["access_token"]
ACT = SANDBOX_CREDENTIALS["ad_account_id"]
PAGE = SANDBOX_CREDENTIALS["page_id"]


def call(sb: Any, path: str, token: str = TOKEN, method: str = "GET", version: str = "v26.0", **params: Any) -> requests.Response:
    params = {"access_token": token, "appsecret_proof": appsecret_proof(token), **params}
    url = f"{sb.url}/meta/{version}/{path.lstrip('/')}" if version else f"{sb.url}/meta/{path.lstrip('/')}"
    return requests.request(method, url, params=params if method == "GET" else None, data=params if method != "GET" else None, timeout=30)


def page_token(sb: Any) -> str:
    return str(call(sb, "/me/accounts").json()["data"][0]["access_token"])


def error(resp: requests.Response) -> dict[str, Any]:
    assert resp.status_code == 400, resp.text
    return resp.json()["error"]  # type: ignore[no-any-return]


def test_appsecret_proof_is_required_and_checked(module_sandbox) -> None:  # type: ignore[no-untyped-def]
    missing = requests.get(f"{module_sandbox.url}/meta/v26.0/me", params={"access_token": TOKEN}, timeout=10)
    assert error(missing)["code"] == 100 and "appsecret_proof" in error(missing)["message"]
    wrong = requests.get(f"{module_sandbox.url}/meta/v26.0/me", params={"access_token": TOKEN, "appsecret_proof": "0" * 64}, timeout=10)
    assert error(wrong)["message"] == "Invalid appsecret_proof provided in the API argument"


def test_unknown_token_and_missing_token(module_sandbox) -> None:  # type: ignore[no-untyped-def]
    assert error(call(module_sandbox, "/me", token="nope"))["code"] == 190
    assert error(requests.get(f"{module_sandbox.url}/meta/v26.0/me", timeout=10))["code"] == 104


def test_expired_version_falls_forward_and_future_version_is_unknown(module_sandbox) -> None:  # type: ignore[no-untyped-def]
    old = call(module_sandbox, "/me", version="v20.0")  # v20.0 ended 2026-09-24, before the world's today
    assert old.status_code == 200 and old.headers["facebook-api-version"] == "v21.0"
    assert call(module_sandbox, "/me").headers["facebook-api-version"] == "v26.0"
    assert error(call(module_sandbox, "/me", version="v27.0"))["code"] == 2500


def test_fields_are_checked_against_the_node_spec(module_sandbox) -> None:  # type: ignore[no-untyped-def]
    err = error(call(module_sandbox, f"/{PAGE}", token=page_token(module_sandbox), fields="id,page_fans_total"))
    assert err["message"] == "(#100) Tried accessing nonexisting field (page_fans_total) on node type (Page)"
    ok = call(module_sandbox, f"/{ACT}/campaigns", fields="id,name,objective").json()
    assert set(ok["data"][0]) == {"id", "name", "objective"}


def test_removed_metrics_get_metas_errors(module_sandbox) -> None:  # type: ignore[no-untyped-def]
    ptoken = page_token(module_sandbox)
    for metric in ("page_fans", "page_impressions", "page_impressions_unique"):
        assert error(call(module_sandbox, f"/{PAGE}/insights", token=ptoken, metric=metric, period="day"))["message"] == \
            "(#100) The value must be a valid insights metric"
    media = call(module_sandbox, f"/{meta_ig(module_sandbox)}/media", token=ptoken, fields="id").json()["data"][0]["id"]
    err = error(call(module_sandbox, f"/{media}/insights", token=ptoken, metric="impressions,reach"))
    assert err["code"] == 100 and "impressions metric is no longer supported" in err["message"]
    user = error(call(module_sandbox, f"/{meta_ig(module_sandbox)}/insights", token=ptoken, metric="views", period="day"))
    assert "metric_type=total_value" in user["message"]


def meta_ig(sb: Any) -> str:
    return str(call(sb, "/me/accounts", fields="instagram_business_account").json()["data"][0]["instagram_business_account"]["id"])


def test_page_endpoints_need_a_page_token(module_sandbox) -> None:  # type: ignore[no-untyped-def]
    assert "Page Access Token" in error(call(module_sandbox, f"/{PAGE}/published_posts"))["message"]


def test_paging_ends_when_next_is_absent_and_page_insights_always_page_by_time(module_sandbox) -> None:  # type: ignore[no-untyped-def]
    ptoken = page_token(module_sandbox)
    url, params, seen = f"{module_sandbox.url}/meta/v26.0/{PAGE}/published_posts", {
        "access_token": ptoken, "appsecret_proof": appsecret_proof(ptoken), "limit": 25, "fields": "id"}, 0
    pages = 0
    while url:
        body = requests.get(url, params=params, timeout=10).json()
        seen += len(body["data"])
        pages += 1
        url, params = body["paging"].get("next"), {}
        assert "cursors" in body["paging"]
    world = module_sandbox.world.extension("meta")
    assert seen == len(world.visible_posts("facebook", module_sandbox.world.now)) and pages > 1
    insights = call(module_sandbox, f"/{PAGE}/insights", token=ptoken, metric="page_follows", period="day").json()
    assert "next" in insights["paging"] and "previous" in insights["paging"]


def test_insights_enums_and_breakdowns_are_validated(module_sandbox) -> None:  # type: ignore[no-untyped-def]
    err = error(call(module_sandbox, f"/{ACT}/insights", level="team", fields="spend"))
    assert err["message"].startswith("(#100) level must be one of the following values:")
    err = error(call(module_sandbox, f"/{ACT}/insights", breakdowns='["age","bogus"]', fields="spend"))
    assert err["message"].startswith("(#100) breakdowns[1] must be one of")
    err = error(call(module_sandbox, f"/{ACT}/insights", fields='["spend","impressions_total"]'))
    assert "nonexisting field (impressions_total) on node type (AdsInsights)" in err["message"]


def test_unknown_objects_and_edges(module_sandbox) -> None:  # type: ignore[no-untyped-def]
    err = error(call(module_sandbox, "/12345"))
    assert (err["code"], err["error_subcode"]) == (100, 33)
    assert error(call(module_sandbox, f"/{ACT}/no_such_edge"))["code"] == 2500


def test_async_report_run_lifecycle(sandbox) -> None:  # type: ignore[no-untyped-def]
    requests.post(f"{sandbox.url}/meta/_sandbox/async", json={"outcomes": ["failed"]}, timeout=10)
    job = call(sandbox, f"/{ACT}/insights", method="POST", level="campaign", fields='["spend"]', date_preset="last_7d").json()
    statuses = [call(sandbox, f"/{job['report_run_id']}", fields="async_status,async_percent_completion").json()["async_status"] for _ in range(4)]
    assert statuses[0] == "Job Started" and statuses[-1] == "Job Failed"
    assert error(call(sandbox, f"/{job['report_run_id']}/insights"))["code"] == 100
    job = call(sandbox, f"/{ACT}/insights", method="POST", level="campaign", fields='["spend"]', date_preset="last_7d").json()
    for _ in range(3):
        status = call(sandbox, f"/{job['report_run_id']}", fields="async_status").json()["async_status"]
    assert status == "Job Completed"
    rows = call(sandbox, f"/{job['report_run_id']}/insights").json()["data"]
    assert rows and all("spend" in r for r in rows)


def test_a_synchronous_insights_read_past_the_value_budget_is_refused_as_too_much_data(module_sandbox) -> None:  # type: ignore[no-untyped-def]
    from sandbox.meta.graph import SYNC_INSIGHTS_MAX_CELLS, TOO_MUCH_DATA_MESSAGE
    from sandbox.server import SandboxServer

    def refused(resp: requests.Response) -> bool:
        if resp.status_code == 200:
            return False
        assert resp.status_code == 500, resp.text
        err = resp.json()["error"]  # Meta's body: code 1 and the message, no subcode, no type
        assert (err["code"], err["message"]) == (1, TOO_MUCH_DATA_MESSAGE) and "error_subcode" not in err and "type" not in err
        return True

    month = {"level": "campaign", "time_increment": "1", "date_preset": "last_28d", "limit": "500"}
    rows = call(module_sandbox, f"/{ACT}/insights", fields='["spend","impressions"]', **month).json()
    assert rows["data"] and "next" not in rows["paging"]
    n = len(rows["data"])
    # A budget of exactly n rows x 2 fields: two fields are answered, a third is past it, whatever the page size.
    with SandboxServer(scale="small", latency="zero", options={"meta_sync_max_cells": str(2 * n)}) as sb:
        assert not refused(call(sb, f"/{ACT}/insights", fields='["spend","impressions"]', **month))
        three = '["spend","impressions","clicks"]'
        assert refused(call(sb, f"/{ACT}/insights", fields=three, **month))
        assert refused(call(sb, f"/{ACT}/insights", fields=three, **{**month, "limit": "1"}))
        assert refused(call(sb, f"/{ACT}/insights", fields=three, **month))  # the same answer every time
        job = call(sb, f"/{ACT}/insights", method="POST", fields=three, **month).json()  # async: the documented remedy
        for _ in range(3):
            status = call(sb, f"/{job['report_run_id']}", fields="async_status").json()["async_status"]
        assert status == "Job Completed"
        assert len(call(sb, f"/{job['report_run_id']}/insights", limit="500").json()["data"]) == n
    # At the default budget: a year of daily ad rows by age and gender is too much, the same month is not.
    year = {"level": "ad", "time_increment": "1", "breakdowns": '["age","gender"]',
            "fields": '["spend","clicks","impressions","inline_link_clicks"]'}  # ~31,000 rows x 4 over the year
    assert SYNC_INSIGHTS_MAX_CELLS == 100_000
    assert refused(call(module_sandbox, f"/{ACT}/insights", date_preset="maximum", **year))
    assert not refused(call(module_sandbox, f"/{ACT}/insights", date_preset="last_7d", **year))


def test_usage_headers_and_business_use_case_throttling(tmp_path) -> None:  # type: ignore[no-untyped-def]
    from sandbox.server import SandboxServer

    with SandboxServer(scale="small", latency="zero", options={"meta_rate_scale": "0.001", "meta_rate_window_seconds": "600"}) as sb:
        codes, last = [], None
        for _ in range(6):
            last = call(sb, f"/{ACT}/insights", fields="spend", date_preset="yesterday")
            codes.append(last.status_code)
        assert codes[0] == 200 and 400 in codes
        err = last.json()["error"]
        assert err["code"] == 80000 and err["is_transient"] is True
        usage = json.loads(last.headers["x-business-use-case-usage"])
        entry = next(iter(usage.values()))[0]
        assert entry["type"] == "ads_insights" and entry["call_count"] == 100 and entry["estimated_time_to_regain_access"] >= 1
        assert "x-app-usage" in last.headers and "x-ad-account-usage" in last.headers


def test_expired_token_is_190_463_and_debug_token_says_when(sandbox) -> None:  # type: ignore[no-untyped-def]
    requests.post(f"{sandbox.url}/meta/_sandbox/tokens", json={"token": meta.USER_TOKEN, "expires_in_days": 3}, timeout=10)
    info = call(sandbox, "/debug_token", token=meta.APP_TOKEN, input_token=meta.USER_TOKEN).json()["data"]
    assert info["is_valid"] and info["expires_at"] == int(sandbox.world.now.timestamp()) + 3 * 86400
    sandbox.world.advance(4)
    err = error(call(sandbox, "/me", token=meta.USER_TOKEN))
    assert (err["code"], err["error_subcode"]) == (190, 463)


def test_long_lived_token_exchange(module_sandbox) -> None:  # type: ignore[no-untyped-def]
    body = requests.get(f"{module_sandbox.url}/meta/v26.0/oauth/access_token", params={
        "grant_type": "fb_exchange_token", "client_id": SANDBOX_CREDENTIALS["app_id"], "client_secret": SANDBOX_CREDENTIALS["app_secret"],
        "fb_exchange_token": meta.SHORT_LIVED_TOKEN}, timeout=10).json()
    assert body["token_type"] == "bearer" and 59 * 86400 < body["expires_in"] < 61 * 86400
    assert call(module_sandbox, "/me", token=body["access_token"]).status_code == 200


def test_removed_attribution_windows_are_not_returned(module_sandbox) -> None:  # type: ignore[no-untyped-def]
    rows = call(module_sandbox, f"/{ACT}/insights", level="account", fields='["actions"]', date_preset="last_90d",
                action_attribution_windows='["7d_click","7d_view","28d_view"]').json()["data"]
    keys = {k for r in rows for a in r["actions"] for k in a}
    assert "7d_click" in keys and not keys & {"7d_view", "28d_view"}


@pytest.mark.parametrize("bad", ["8d_view", "bogus"])
def test_invalid_attribution_window_is_an_enum_error(module_sandbox, bad: str) -> None:  # type: ignore[no-untyped-def]
    err = error(call(module_sandbox, f"/{ACT}/insights", fields="spend", action_attribution_windows=json.dumps([bad])))
    assert "action_attribution_windows[0] must be one of" in err["message"]


def test_kept_insights_reports_answer_as_a_fresh_simulator_does_after_late_conversions(sandbox) -> None:  # type: ignore[no-untyped-def]
    """A synchronous report is computed once per world time and its rows once per visible conversions: its pages, the
    same read again, and the read after the world moved on (late conversions) are what a simulator that never
    answered before gives, byte for byte."""
    from sandbox.server import SandboxServer

    window = {"level": "campaign", "time_increment": "1", "breakdowns": '["age","gender"]', "limit": "50",
              "fields": '["campaign_id","date_start","spend","impressions","actions","action_values"]',
              "action_attribution_windows": '["7d_click","1d_view"]', "use_unified_attribution_setting": "true"}

    def pages(sb: Any, **params: Any) -> list[bytes]:
        out, after = [], None
        while True:
            resp = call(sb, f"/{ACT}/insights", **params, **({"after": after} if after else {}))
            assert resp.status_code == 200, resp.text
            out.append(resp.content.replace(sb.url.encode(), b"{server}"))  # `next` names the server's own port
            body = resp.json()
            if "next" not in body["paging"]:
                return out
            after = body["paging"]["cursors"]["after"]

    today = sandbox.world.now.date()
    since_until = json.dumps({"since": str(today - timedelta(days=28)), "until": str(today - timedelta(days=1))})
    first = pages(sandbox, time_range=since_until, **window)
    assert len(first) > 1 and pages(sandbox, time_range=since_until, **window) == first
    sandbox.world.advance(2)
    later = pages(sandbox, time_range=since_until, **window)  # the same days, read two days on
    with SandboxServer(scale="small", latency="zero") as fresh:
        fresh.world.advance(2)
        assert pages(fresh, time_range=since_until, **window) == later
    assert later != first  # conversions arrived late for some of those days: the kept rows were not served stale
