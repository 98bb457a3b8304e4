"""Extraction: the real client against the simulator, counts checked against the world's ground truth. Failure paths
common to every provider are the shared suite's: tests/failures/."""

from __future__ import annotations

import re
from collections import Counter
from typing import Any
from urllib.parse import urlparse

import pytest

from pipelines.klaviyo import settings
from pipelines.run import run_provider
from tests.helpers import raw_count, raw_query
from tests.sandbox.klaviyo import klaviyo_spec


def truth(sandbox: Any) -> dict[str, int]:
    world = sandbox.world
    kw = world.extension("klaviyo")
    events = [e for e in kw.visible_events(world.now) if e.metric in settings.EXTRACTED_METRICS]
    return {
        "events": len(events),
        "profiles": sum(1 for p in kw.profiles if p.created <= world.now),
        "campaigns": sum(1 for c in kw.campaigns if c.created_at <= world.now),
        "flows": len(kw.flows),
        "group_members": sum(1 for g in kw.groups for pid, t in g.members if t <= world.now and kw.profiles_by_id[pid].created <= world.now),
    }


def test_full_extraction_matches_the_world(klaviyo_env: Any) -> None:
    summary = run_provider("klaviyo")
    expected = truth(klaviyo_env)
    for table, n in expected.items():
        assert raw_count("klaviyo", table) == n, table
    assert raw_count("klaviyo", "campaign_messages") == expected["campaigns"]
    assert raw_count("klaviyo", "flow_messages") == sum(len(f.actions) for f in klaviyo_env.world.extension("klaviyo").flows)
    assert raw_count("klaviyo", "groups") == 4
    assert klaviyo_env.state.stats["klaviyo"].by_status.get(429, 0) == 0
    # Placed Order keeps its money and Klaviyo's attribution as JSON properties.
    placed = raw_query("klaviyo", "select count(*), count(event_properties->>'$.\"$attributed_message\"') from raw_klaviyo.events where metric_name = 'Placed Order'")[0]
    kw = klaviyo_env.world.extension("klaviyo")
    assert placed[1] == sum(1 for o in klaviyo_env.world.visible_orders() if o.id in kw.klaviyo_attribution)
    assert summary.requests > 0


def test_incremental_run_reads_only_what_changed(klaviyo_env: Any) -> None:
    first = run_provider("klaviyo")
    before = truth(klaviyo_env)
    klaviyo_env.world.advance(3)
    second = run_provider("klaviyo")
    after = truth(klaviyo_env)
    assert raw_count("klaviyo", "events") == after["events"]
    assert raw_count("klaviyo", "profiles") == after["profiles"]
    new_events = after["events"] - before["events"]
    assert new_events > 0
    # Only the new events are extracted again (merge would hide duplicates, the row count must not).
    assert second.rows_extracted.get("events", 0) == new_events
    assert second.rows_extracted.get("events", 0) < first.rows_extracted["events"] / 5
    # A third run with nothing new extracts no events and no profiles.
    third = run_provider("klaviyo")
    assert third.rows_extracted.get("events", 0) == 0 and third.rows_extracted.get("profiles", 0) == 0


def test_client_requests_follow_the_spec(klaviyo_env: Any) -> None:
    run_provider("klaviyo")
    requests = list(klaviyo_env.state.provider_store("klaviyo")["requests"])
    assert requests
    templates = {re.compile("^" + re.sub(r"\{[a-z_]+\}", "[^/]+", p) + "/?$"): p for p in klaviyo_spec.spec()["paths"]}
    seen = Counter()
    for req in requests:
        path = urlparse(req["path"]).path.removeprefix("/klaviyo")
        spec_path = next(p for rx, p in templates.items() if rx.match(path))
        seen[spec_path] += 1
        op = klaviyo_spec.operation(req["method"], spec_path)
        assert req["headers"].get("revision") == klaviyo_spec.spec()["info"]["version"]
        for p in op.get("parameters", []):
            if p.get("required") and p["in"] == "query":
                assert p["name"] in req["query"], (spec_path, p["name"])
        size = req["query"].get("page[size]")
        if size is not None:
            bounds = klaviyo_spec.query_param(req["method"], spec_path, "page[size]")["schema"]
            assert int(size) == bounds["maximum"], spec_path  # we always ask for the largest page
        if "filter" in req["query"]:
            allowed = klaviyo_spec.allowed_filters(req["method"], spec_path)
            for operator, field in re.findall(r"([a-z-]+)\(([a-z_.]+),", req["query"]["filter"]):
                if operator == "and":
                    continue
                assert field in allowed and operator in allowed[field], (spec_path, operator, field)
            assert "'20" not in req["query"]["filter"] and '"20' not in req["query"]["filter"]  # datetimes unquoted
    assert {"/api/events", "/api/profiles", "/api/campaigns", "/api/flows", "/api/segments/{id}", "/api/lists/{id}/profiles"} <= set(seen)


def test_settings_match_the_spec() -> None:
    for (method, path), tier in settings.ENDPOINT_TIERS.items():
        spec_path = path.replace("/api/profile-bulk-import-jobs/{id}", "/api/profile-bulk-import-jobs/{job_id}") if path == "/api/profile-bulk-import-jobs/{id}" else path
        burst, steady = klaviyo_spec.rate_limit(method, spec_path)
        assert (settings.TIERS[tier].burst, settings.TIERS[tier].steady) == (burst, steady), path
    for path, size in settings.PAGE_SIZES.items():
        assert klaviyo_spec.query_param("get", path, "page[size]")["schema"]["maximum"] == size, path
    description = klaviyo_spec.operation("get", "/api/segments/{id}")["description"]
    assert "profile_count" in description and "Burst: `1/s`" in description and "Steady: `15/m`" in description
    assert settings.REVISION == klaviyo_spec.spec()["info"]["version"]
    scopes: set[str] = set()
    for method, path in settings.ENDPOINT_TIERS:
        spec_path = "/api/profile-bulk-import-jobs/{job_id}" if path == "/api/profile-bulk-import-jobs/{id}" else path
        scopes.update(klaviyo_spec.operation(method, spec_path)["x-klaviyo-scopes"])
    assert scopes <= set(settings.OAUTH_SCOPES.split())


def test_real_limits_are_respected_without_429(sandbox_env: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    """At Klaviyo's real limits (scale 1 on both sides) a full run never gets throttled: the tiers hold."""
    monkeypatch.setenv("KLAVIYO_RATE_LIMIT_SCALE", "1")
    run_provider("klaviyo", resources=["groups", "flows", "flow_actions", "flow_messages"])
    stats = sandbox_env.state.stats["klaviyo"]
    assert stats.by_status.get(429, 0) == 0
    assert stats.by_route["profile_count"] == 4  # the XS-limited calls all went through, paced


def test_profile_stamped_exactly_at_the_cursor_is_not_skipped(klaviyo_env: Any) -> None:
    """`/api/profiles` filters `updated` only with greater-than: a profile changed in the same second as the saved
    cursor, after the run that saved it, must still arrive on the next run."""
    run_provider("klaviyo", resources=["profiles"])
    (cursor,) = raw_query("klaviyo", "select max(updated) from raw_klaviyo.profiles")[0]
    (email, before) = raw_query("klaviyo", "select email, updated from raw_klaviyo.profiles where updated < ? order by updated limit 1", [cursor])[0]
    klaviyo_env.state.provider_store("klaviyo")["imported"][email] = {"updated": cursor}  # changed at the cursor's second
    summary = run_provider("klaviyo", resources=["profiles"])
    assert summary.rows_extracted.get("profiles") == 1
    assert raw_query("klaviyo", "select updated from raw_klaviyo.profiles where email = ?", [email])[0][0] == cursor != before
