"""The Meta source against the simulator: auth, async report runs, throttling, the re-read window, no removed metric."""

from __future__ import annotations

import json
import logging
from datetime import timedelta
from typing import Any

import pytest
import requests

from pipelines.common.config import ConfigurationError
from pipelines.meta import ads, settings
from pipelines.meta.helpers import usage
from pipelines.run import run_provider
from sandbox.meta import SANDBOX_CREDENTIALS, USER_TOKEN
from sandbox.meta.graph import REMOVED_ATTRIBUTION_WINDOWS, REMOVED_IG_METRICS, REMOVED_PAGE_METRICS
from tests.conftest import point_at_sandbox
from tests.helpers import raw_count, raw_query

ACT = SANDBOX_CREDENTIALS["ad_account_id"]
BUSINESS = "ad_id, date, spend, impressions, reach, clicks, inline_link_clicks, purchases, purchase_value, attribution_setting"


def meta_stats(sb: Any) -> dict[str, Any]:
    return sb.state.stats["meta"].as_dict()  # type: ignore[no-any-return]


def script(sb: Any, *outcomes: str) -> None:
    requests.post(f"{sb.url}/meta/_sandbox/async", json={"outcomes": list(outcomes)}, timeout=10).raise_for_status()


def test_graph_version_is_the_sdks_and_no_removed_metric_is_configured() -> None:
    from facebook_business.apiconfig import ads_api_config

    assert settings.GRAPH_VERSION == ads_api_config["API_VERSION"]
    assert not set(settings.PAGE_METRICS + settings.POST_METRICS) & REMOVED_PAGE_METRICS
    assert not set(settings.IG_MEDIA_METRICS + settings.IG_STORY_METRICS + settings.IG_DAILY_TOTALS) & REMOVED_IG_METRICS
    assert not set(settings.ATTRIBUTION_WINDOWS) & REMOVED_ATTRIBUTION_WINDOWS


def test_full_run_loads_everything_with_proof_on_every_call_and_no_removed_metric(sandbox_env) -> None:  # type: ignore[no-untyped-def]
    summary = run_provider("meta")
    world, now = sandbox_env.world.extension("meta"), sandbox_env.world.now
    assert raw_count("meta", "ad_campaigns") == len([c for c in world.campaigns if c.created_time <= now])
    assert raw_count("meta", "ads") == len([a for a in world.ads if a.created_time <= now])
    assert raw_count("meta", "page_posts") == len(world.visible_posts("facebook", sandbox_env.world.now))
    for table in ("ads_insights", "ads_insights_campaign", "ads_insights_age_gender", "ads_insights_country", "page_insights",
                  "ig_insights", "ig_media", "ig_follower_demographics", "ads_reach_age_gender", "ads_reach_country", "token_status"):
        assert raw_count("meta", table) > 0, table
    stats = meta_stats(sandbox_env)
    assert stats["extra"].get("removed_metric_requested", 0) == 0 and stats["extra"].get("removed_window_requested", 0) == 0
    log = list(sandbox_env.state.provider_store("meta")["requests"])
    graph_calls = [r for r in log if r["path"] != "/oauth/access_token"]
    assert len(graph_calls) <= summary.requests
    assert all(r["proof"] for r in graph_calls) and {r["version"] for r in graph_calls} == {settings.GRAPH_VERSION}


def test_failed_and_skipped_report_runs_are_retried(sandbox_env) -> None:  # type: ignore[no-untyped-def]
    script(sandbox_env, "failed", "skipped")
    run_provider("meta", resources=["ads_insights_campaign"])
    stats = meta_stats(sandbox_env)["extra"]
    assert stats["async_failed"] == 1 and stats["async_skipped"] == 1 and stats["async_ok"] >= 1
    world = sandbox_env.world.extension("meta")
    days = raw_query("meta", "select count(distinct date) from raw_meta.ads_insights_campaign")[0][0]
    assert days > 300 and raw_query("meta", "select max(date) from raw_meta.ads_insights_campaign")[0][0] == world.last_complete_day()
    # The table's chunks were in flight together: runs for several date ranges were created before any result was read
    # (one after the other, only the first range and its retries would come before the first read).
    log = list(sandbox_env.state.provider_store("meta")["requests"])
    first_read = min(i for i, r in enumerate(log) if r["method"] == "GET" and r["path"].endswith("/insights"))
    ranges = {r["params"].get("time_range") for r in log[:first_read] if r["method"] == "POST" and r["path"].endswith("/insights")}
    assert len(ranges) >= 2, ranges


def test_a_report_run_that_never_finishes_times_out_clearly(sandbox_env, monkeypatch) -> None:  # type: ignore[no-untyped-def]
    script(sandbox_env, "stuck", "stuck", "stuck")
    monkeypatch.setenv("META_ASYNC_TIMEOUT_SECONDS", "0.2")
    # One run in flight at a time, so the three scripted runs are one chunk's three attempts (several in flight would
    # share them out, and a 0.2 s deadline would also catch healthy runs waiting for their turn in a poll round).
    monkeypatch.setenv("META_ASYNC_CONCURRENT_JOBS", "1")
    with pytest.raises(Exception) as failed:
        run_provider("meta", resources=["ads_insights_campaign"])
    message = str(failed.value)
    assert "did not complete after 3 attempts" in message and "Job Running" in message
    assert raw_count("meta", "ads_insights_campaign") == 0


def test_token_expiring_mid_run_fails_at_once_naming_what_to_renew(sandbox_env) -> None:  # type: ignore[no-untyped-def]
    requests.post(f"{sandbox_env.url}/meta/_sandbox/tokens", json={"expire_after_requests": 6}, timeout=10).raise_for_status()
    with pytest.raises(Exception) as failed:
        run_provider("meta")
    message = str(failed.value)
    assert "the token expired" in message and "META_ACCESS_TOKEN" in message and "system-user token" in message
    stats = meta_stats(sandbox_env)
    # A 190 is never retried: at most one per resource that was running when the token died.
    assert 1 <= stats["extra"].get("error:190", 0) <= 16


def test_an_invalid_token_fails_naming_the_token_check_though_the_page_lookup_is_sent_with_it(sandbox_env) -> None:  # type: ignore[no-untyped-def]
    # /debug_token, /me/accounts and the ad account are sent together; all three are refused, and the token check's
    # verdict is the one reported (with its own wording), whichever answer came back first.
    requests.post(f"{sandbox_env.url}/meta/_sandbox/tokens", json={"invalidate": True}, timeout=10).raise_for_status()
    with pytest.raises(Exception) as failed:
        run_provider("meta")
    message = str(failed.value)
    assert "for /debug_token" in message and "META_ACCESS_TOKEN" in message, message
    assert raw_count("meta", "token_status") == 0


def test_a_wrong_app_secret_fails_on_the_token_check_even_when_it_answers_last(sandbox_env, monkeypatch) -> None:  # type: ignore[no-untyped-def]
    # A wrong app secret fails every call's appsecret_proof with code 100, which alone looks transient (retried);
    # only the token check says it is terminal. The check is held back here, so every other call is answered first:
    # each resource still waits for the check's verdict, and the run asks nothing after the first three calls.
    from pipelines.common.errors import CredentialsRejected

    monkeypatch.setenv("META_APP_SECRET", SANDBOX_CREDENTIALS["app_secret"][:-6] + "WRONG0")
    sandbox_env.state.add_fault("meta", "slow", path_contains="debug_token", seconds=1.5)
    with pytest.raises(CredentialsRejected) as failed:
        run_provider("meta")
    assert "/debug_token; Graph code 190" in str(failed.value), failed.value
    sent = [call["path"] for call in sandbox_env.state.provider_store("meta")["requests"]]
    assert sorted(p.rsplit("/", 1)[-1] for p in sent) == sorted(["debug_token", "accounts", ACT]), sent


def test_a_stalled_marketing_api_call_times_out_on_the_shared_timeout_and_is_retried(sandbox_env, monkeypatch, caplog) -> None:  # type: ignore[no-untyped-def]
    # The SDK sends its own session timeout with every call (it was 60 s): the shared client's must be the one used.
    monkeypatch.setenv("OPSDATA_HTTP_TIMEOUT_SECONDS", "3")
    sandbox_env.state.add_fault("meta", "slow", count=1, path_contains=f"/{ACT}", seconds=8)
    with caplog.at_level(logging.WARNING, logger="opsdata.http"):
        run_provider("meta")
    retried = [r.getMessage() for r in caplog.records if "retrying" in r.getMessage() and "Timeout" in r.getMessage()]
    assert any(f"/{ACT}" in m for m in retried), retried
    assert raw_count("meta", "ad_account") == 1


def test_a_token_expiring_within_a_week_warns_and_is_recorded(sandbox_env, monkeypatch, caplog) -> None:  # type: ignore[no-untyped-def]
    requests.post(f"{sandbox_env.url}/meta/_sandbox/tokens", json={"token": USER_TOKEN, "expires_in_days": 5}, timeout=10).raise_for_status()
    monkeypatch.setenv("META_ACCESS_TOKEN", USER_TOKEN)
    with caplog.at_level(logging.WARNING):
        run_provider("meta", resources=["token_status", "page"])
    assert any("the access token expires on" in r.getMessage() and "META_ACCESS_TOKEN" in r.getMessage() for r in caplog.records)
    warning, expires = raw_query("meta", "select warning, expires_at from raw_meta.token_status")[0]
    assert warning and expires is not None
    assert USER_TOKEN not in caplog.text


def test_a_bad_option_fails_before_any_request(sandbox_env, monkeypatch) -> None:  # type: ignore[no-untyped-def]
    monkeypatch.setenv("META_REREAD_DAYS", "abc")
    with pytest.raises(ConfigurationError, match="META_REREAD_DAYS"):
        run_provider("meta")
    assert meta_stats(sandbox_env)["requests"] == 0


def test_reread_window_picks_up_late_conversions_and_a_rerun_changes_nothing(sandbox_env, monkeypatch) -> None:  # type: ignore[no-untyped-def]
    world = sandbox_env.world.extension("meta")
    monkeypatch.setenv("OPSDATA_AS_OF_DATE", sandbox_env.world.now.date().isoformat())  # the pipeline's today is Meta's
    run_provider("meta", resources=["ads_insights"])
    first = raw_query("meta", f"select {BUSINESS} from raw_meta.ads_insights order by ad_id, date")
    run_provider("meta", resources=["ads_insights"])
    assert raw_query("meta", f"select {BUSINESS} from raw_meta.ads_insights order by ad_id, date") == first
    old_last = world.last_complete_day()
    sandbox_env.world.advance(6)
    monkeypatch.setenv("OPSDATA_AS_OF_DATE", sandbox_env.world.now.date().isoformat())
    log = sandbox_env.state.provider_store("meta")["requests"]
    seen = len(log)
    run_provider("meta", resources=["ads_insights"])
    # The incremental window (28 + 6 days) is one synchronous report read from its first day to yesterday (a page per
    # 500 rows), not an async run to create and poll.
    calls = [r for r in list(log)[seen:] if r["path"].endswith("/insights")]
    assert calls and all(r["method"] == "GET" for r in calls)
    ranges = {r["params"].get("time_range") for r in calls}
    assert len(ranges) == 1 and json.loads(ranges.pop())["since"] == (old_last - timedelta(days=settings.DEFAULTS["reread_days"] - 1)).isoformat()
    after = {(r[0], r[1]): r for r in raw_query("meta", f"select {BUSINESS} from raw_meta.ads_insights")}
    before = {(r[0], r[1]): r for r in first}
    window_start = old_last - timedelta(days=settings.DEFAULTS["reread_days"] - 1)
    outside = [k for k in before if k[1] < window_start]
    assert outside and all(after[k] == before[k] for k in outside)
    late = [k for k in before if after[k][7] > before[k][7]]
    assert late, "orders placed after the first run should add purchases to earlier click days"
    now = sandbox_env.world.now
    for ad_id, day in late:
        truth = [t for t in world.conversions([ad_id], day, now) if world.attributed_setting(t)]
        assert after[(ad_id, day)][7] == len(truth)
    assert max(k[1] for k in after) == world.last_complete_day()


def test_throttling_from_usage_headers_waits_and_completes(warehouse, monkeypatch) -> None:  # type: ignore[no-untyped-def]
    from sandbox.server import SandboxServer

    # An 8 s window: the run's calls must land inside one window to pass 100 %, even when a busy machine spreads
    # them out (with 2 s, 28 calls over 4.4 s at load 11 never reached it).
    with SandboxServer(scale="small", latency="zero", options={"meta_rate_scale": "0.004", "meta_rate_window_seconds": "8"}) as sb:
        point_at_sandbox(monkeypatch, sb.url)
        monkeypatch.setenv("OPSDATA_FAST_RETRIES", "1")
        usage.reset()
        run_provider("meta", resources=["ads_insights_campaign"])
        assert sb.state.stats["meta"].throttled > 0 and usage.throttled.get(80000, 0) > 0
        assert usage.highest["ads_insights"] >= 100
        assert raw_query("meta", "select max(date) from raw_meta.ads_insights_campaign")[0][0] == sb.world.extension("meta").last_complete_day()


def test_a_synchronous_read_meta_finds_too_big_is_read_with_async_runs(warehouse, monkeypatch, tmp_path) -> None:  # type: ignore[no-untyped-def]
    from sandbox.server import SandboxServer

    # The small world's year of daily ad rows (~2,300 rows of 19 fields) under a budget of 20,000 values: Meta's rule
    # (sandbox.meta.graph.SYNC_INSIGHTS_MAX_CELLS) on a smaller account.
    with SandboxServer(scale="small", latency="zero", options={"meta_sync_max_cells": "20000"}) as sb:
        point_at_sandbox(monkeypatch, sb.url)
        monkeypatch.setenv("OPSDATA_FAST_RETRIES", "1")
        monkeypatch.setenv("OPSDATA_AS_OF_DATE", sb.world.now.date().isoformat())
        run_provider("meta", resources=["ads_insights"])  # the default path: a year's backfill in async runs
        expected = raw_query("meta", f"select {BUSINESS} from raw_meta.ads_insights order by ad_id, date")
        stats = sb.state.stats["meta"]
        runs_before = stats.extra["async_ok"] + stats.extra["async_failed"]
        # The same backfill asked synchronously (a 400-day window takes it all): refused once, read with async runs.
        monkeypatch.setenv("META_SYNC_MAX_DAYS", "400")
        (tmp_path / "second").mkdir()
        monkeypatch.setenv("OPSDATA_DATA_DIR", str(tmp_path / "second"))
        log = sb.state.provider_store("meta")["requests"]
        seen = len(log)
        run_provider("meta", resources=["ads_insights"])
        calls = [r for r in list(log)[seen:] if r["path"] == f"/{ACT}/insights"]
        assert stats.extra["sync_too_much_data"] == 1  # refused once: the same request is not retried
        assert calls[0]["method"] == "GET" and len(calls) > 1 and {r["method"] for r in calls[1:]} == {"POST"}
        asked, *runs = [json.loads(r["params"]["time_range"]) for r in calls]
        assert (min(r["since"] for r in runs), max(r["until"] for r in runs)) == (asked["since"], asked["until"])  # in chunks
        assert stats.extra["async_ok"] + stats.extra["async_failed"] > runs_before
        assert raw_query("meta", f"select {BUSINESS} from raw_meta.ads_insights order by ad_id, date") == expected


def test_any_other_error_on_a_synchronous_read_is_not_an_async_fallback(sandbox_env, monkeypatch) -> None:  # type: ignore[no-untyped-def]
    monkeypatch.setenv("OPSDATA_AS_OF_DATE", sandbox_env.world.now.date().isoformat())
    run_provider("meta", resources=["ads_insights"])
    stats = sandbox_env.state.stats["meta"]
    runs_before = stats.extra["async_ok"] + stats.extra["async_failed"]
    # A plain HTTP 500 on the re-read window's synchronous read: retried as before, and still read synchronously.
    sandbox_env.state.add_fault("meta", "5xx", count=1, path_contains=f"{ACT}/insights", status=500)
    run_provider("meta", resources=["ads_insights"])
    assert stats.by_status[500] == 1 and stats.extra["sync_too_much_data"] == 0
    assert stats.extra["async_ok"] + stats.extra["async_failed"] == runs_before
    # An invalid request is not "too much data" either: it fails as itself, with no async run tried.
    monkeypatch.setattr(ads, "INSIGHTS_FIELDS", [*settings.INSIGHTS_FIELDS, "impressions_total"])
    with pytest.raises(Exception, match="nonexisting field"):
        run_provider("meta", resources=["ads_insights"])
    assert stats.extra["async_ok"] + stats.extra["async_failed"] == runs_before
