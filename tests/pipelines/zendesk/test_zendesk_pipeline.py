"""The Zendesk pipeline against the simulator: full load equals the world, re-runs load nothing, incremental runs load
exactly what changed, kill -9 anywhere loses and doubles nothing, the incremental-export limit is honoured with no
429, bad credentials fail at once, OAuth refresh tokens rotate, and no secret or customer email reaches a log."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path
from typing import Any

import duckdb
import pytest
import requests

from pipelines.common.errors import CredentialsRejected
from pipelines.common.storage import raw_db_path
from pipelines.run import run_provider
from pipelines.zendesk import settings
from sandbox.zendesk import SANDBOX_CREDENTIALS as C
from tests.conftest import point_at_sandbox

SCALE = "60"


@pytest.fixture
def zendesk_env(sandbox_env: Any, monkeypatch: pytest.MonkeyPatch) -> Any:
    sandbox_env.state.options["zendesk_rate_scale"] = SCALE
    monkeypatch.setenv("ZENDESK_RATE_LIMIT_SCALE", SCALE)
    return sandbox_env


def raw(sql: str) -> list[tuple[Any, ...]]:
    with duckdb.connect(str(raw_db_path("zendesk")), read_only=True) as con:
        return con.execute(sql).fetchall()


def world_state(server: Any) -> dict[str, set[Any]]:
    """What the exports show now (everything stamped up to one minute before `now`)."""
    zw = server.world.extension("zendesk")
    cut = server.world.now - timedelta(minutes=1)
    return {
        "tickets": {(t.id, t.status_at(cut)) for t in zw.tickets if t.created_at <= cut},
        "ticket_metric_events": {e.id for e in zw.metric_events if e.time <= cut},
        "ticket_comments": {u.id + 1 for t in zw.tickets for u in t.updates if u.at <= cut and u.comment is not None},
        "users": {u.id for u in zw.users if u.created_at <= cut},
    }


def loaded_state() -> dict[str, set[Any]]:
    return {
        "tickets": set(raw("select id, status from raw_zendesk.tickets")),
        "ticket_metric_events": {r[0] for r in raw("select id from raw_zendesk.ticket_metric_events")},
        "ticket_comments": {r[0] for r in raw("select id from raw_zendesk.ticket_comments")},
        "users": {r[0] for r in raw("select id from raw_zendesk.users")},
    }


def no_duplicates() -> None:
    for table in ("tickets", "ticket_metric_events", "ticket_comments", "users", "ticket_metric_sets", "satisfaction_ratings"):
        total, distinct = raw(f"select count(*), count(distinct id) from raw_zendesk.{table}")[0]
        assert total == distinct, table


def incremental_requests(server: Any) -> int:
    return sum(n for op, n in server.state.stats["zendesk"].by_route.items() if op.startswith("incremental_"))


def test_full_load_rerun_and_incremental_equal_the_world(zendesk_env: Any) -> None:
    first = run_provider("zendesk")
    assert loaded_state() == world_state(zendesk_env)
    assert first.rows_extracted["ticket_metric_sets"] > 0 and first.rows_extracted["sla_policy_metrics"] == 24
    no_duplicates()

    before = incremental_requests(zendesk_env)
    again = run_provider("zendesk")
    assert again.rows_extracted.get("tickets", 0) == 0 and again.rows_extracted.get("users", 0) == 0
    assert incremental_requests(zendesk_env) - before == 5  # one page per export: tickets, users, organizations, events, comments

    zw = zendesk_env.world.extension("zendesk")
    old_cut = zendesk_env.world.now - timedelta(minutes=1)
    zendesk_env.world.advance(4)
    cut = zendesk_env.world.now - timedelta(minutes=1)
    changed = {t.id for t in zw.tickets if t.created_at <= cut and t.updated_at(cut) > old_cut}
    third = run_provider("zendesk")
    assert third.rows_extracted["tickets"] == len(changed) > 0
    assert loaded_state() == world_state(zendesk_env)
    no_duplicates()
    # Deleted, spam and merged tickets are loaded as Zendesk shows them (the models exclude them).
    statuses = {r[0] for r in raw("select status from raw_zendesk.tickets")}
    assert "deleted" in statuses
    merged = raw("select count(*) from raw_zendesk.tickets where list_contains(cast(from_json(tags, '[\"VARCHAR\"]') as varchar[]), 'closed_by_merge')")
    assert merged[0][0] > 0


def table_counts() -> dict[str, int]:
    tables = [r[0] for r in raw("select table_name from information_schema.tables where table_schema = 'raw_zendesk' "
                                 "and not starts_with(table_name, '_dlt')")]
    return {t: raw(f"select count(*) from raw_zendesk.{t}")[0][0] for t in tables}


def test_a_no_change_run_loads_nothing_and_what_changed_is_loaded_again(zendesk_env: Any) -> None:
    """The lists read in full, the ratings' look-back and the time-based exports' repeated second are not re-loaded
    when unchanged; a removed SLA policy still disappears and a rating answered later still gets its score."""
    zw = zendesk_env.world.extension("zendesk")
    now = zendesk_env.world.now
    pending = max((r for r in zw.ratings if r.offered_at <= now and r.score), key=lambda r: r.offered_at)
    pending.rated_at = None  # offered, not answered yet (the newest rating: inside the look-back)
    run_provider("zendesk")
    counts = table_counts()
    loads = raw("select count(*) from raw_zendesk._dlt_loads where status = 0")[0][0]
    again = run_provider("zendesk")
    assert again.total_rows == 0, again.rows_extracted
    # Still a completed load (the exports' cursors moved): dbt's source freshness reads the last one for every table.
    assert raw("select count(*) from raw_zendesk._dlt_loads where status = 0")[0][0] == loads + 1
    assert table_counts() == counts  # and nothing was truncated
    assert raw(f"select score from raw_zendesk.satisfaction_ratings where id = {pending.id}") == [("offered",)]
    # Survey responses are listed from the look-back before the newest loaded, not from the start of history.
    newest = max(int(r.responded_at.timestamp()) for r in zw.survey_responses if r.responded_at <= now)
    surveys = [dict(r["query"]) for r in zendesk_env.state.store["zendesk"]["requests"] if r["op"] == "list_survey_responses"]
    assert surveys[-1]["filter[created_at_start]"] == str(1000 * (newest - settings.SURVEYS_LOOKBACK_SECONDS))

    pending.rated_at = now  # answered now, an hour before the next run
    removed = zw.policies.pop()
    zendesk_env.world.advance(1 / 24)
    third = run_provider("zendesk")
    assert third.rows_extracted["sla_policies"] == len(zw.policies)
    assert {r[0] for r in raw("select id from raw_zendesk.sla_policies")} == {p.id for p in zw.policies} and removed.id not in {p.id for p in zw.policies}
    assert raw(f"select score from raw_zendesk.satisfaction_ratings where id = {pending.id}") == [(pending.score,)]
    assert "groups" not in third.rows_extracted and "schedules" not in third.rows_extracted  # unchanged lists: nothing
    assert table_counts()["groups"] == counts["groups"]
    no_duplicates()


def test_incremental_export_limit_is_honoured_without_a_single_429(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Medium world (about 30 export pages) against the limit scaled to 30 per minute: unpaced, the client would send
    them all within seconds and be throttled."""
    from sandbox.server import SandboxServer

    monkeypatch.setenv("OPSDATA_DATA_DIR", str(tmp_path))
    monkeypatch.setenv("ZENDESK_RATE_LIMIT_SCALE", "3")
    limit = 30
    with SandboxServer(scale="medium", latency="zero", options={"zendesk_rate_scale": 3}) as server:
        point_at_sandbox(monkeypatch, server.url)
        summary = run_provider("zendesk", resources=["ticket_metric_events", "tickets", "ticket_comments"])
        stats = server.state.stats["zendesk"]
        assert stats.throttled == 0
        assert incremental_requests(server) > limit  # more than one window allows
        assert summary.rows_extracted["ticket_metric_events"] > 20_000
        # Zendesk's windows are fixed minutes: the simulator's starts at the first request after the last one ended.
        times = sorted(r["at"] for r in server.state.store["zendesk"]["requests"] if r["op"].startswith("incremental_"))
        windows: list[list[float]] = []
        for t in times:
            if not windows or t >= windows[-1][0] + 60:
                windows.append([t])
            else:
                windows[-1].append(t)
        assert len(windows) > 1 and max(len(w) for w in windows) <= limit


def _authorize(server: Any) -> str:
    redirect = requests.get(f"{server.url}/zendesk/oauth/authorizations/new", params={
        "response_type": "code", "client_id": C["client_id"], "redirect_uri": "http://127.0.0.1/cb", "scope": "read"},
        allow_redirects=False, timeout=10)
    code = redirect.headers["location"].split("code=")[1].split("&")[0]
    tokens = requests.post(f"{server.url}/zendesk/oauth/tokens", json={
        "grant_type": "authorization_code", "code": code, "client_id": C["client_id"], "client_secret": C["client_secret"],
        "redirect_uri": "http://127.0.0.1/cb"}, timeout=10)
    return str(tokens.json()["refresh_token"])


def test_oauth_refresh_token_rotates_is_stored_and_a_revoked_grant_fails_clearly(zendesk_env: Any, monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.delenv("ZENDESK_API_TOKEN", raising=False)
    monkeypatch.setenv("ZENDESK_OAUTH_REFRESH_TOKEN", _authorize(zendesk_env))
    monkeypatch.setenv("ZENDESK_TOKEN_STORE", str(tmp_path / "zendesk_oauth.json"))
    run_provider("zendesk")
    run_provider("zendesk")  # the stored access token is still valid: no second refresh
    stats = zendesk_env.state.stats["zendesk"]
    assert stats.extra["oauth_refreshes"] == 1
    assert (tmp_path / "zendesk_oauth.json").stat().st_mode & 0o777 == 0o600
    assert loaded_state() == world_state(zendesk_env)
    for route in zendesk_env.app.routes:
        if getattr(route, "path", "") == "/zendesk":
            route.app.state.revoke_all()
    with pytest.raises(CredentialsRejected, match="HTTP 401"):  # terminal: no retries, raised as itself
        run_provider("zendesk")


def test_a_quota_spent_by_another_client_is_waited_out_not_hit(zendesk_env: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    """Another integration of the account used 9 of the 10 export requests of this minute: the first response says
    `remaining=0`, so the next export request waits for the window's reset instead of earning a 429."""
    zendesk_env.state.options["zendesk_rate_scale"] = 1
    monkeypatch.setenv("ZENDESK_RATE_LIMIT_SCALE", "1")
    from sandbox.zendesk import create_app  # noqa: F401 - the app is mounted; its windows live in the store

    run_provider("zendesk", resources=["organizations"])  # creates the window
    window = zendesk_env.state.store["zendesk"]["windows"]["incremental"]
    while window.hit()[2] > 0:  # the other client spends what is left of this minute's quota but one
        pass
    window._count -= 1
    from urllib.parse import urlsplit

    from pipelines.zendesk import helpers

    helpers.forget_quotas()  # the next run is a new process: it knows nothing of this window
    exports = helpers.quota(urlsplit(zendesk_env.url).netloc, "incremental")
    reset_waits = exports.reset_waits
    run_provider("zendesk", resources=["organizations", "ticket_metric_events"])  # both in the exports' 10 a minute
    assert zendesk_env.state.stats["zendesk"].throttled == 0
    assert exports.reset_waits > reset_waits
