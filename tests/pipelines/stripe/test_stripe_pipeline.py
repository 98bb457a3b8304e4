"""The Stripe pipeline against the simulator: full and incremental loads, the 30-day event horizon, reconciliation,
the simulator's own rate limit against the shared limiter. Expected values come from the sandbox world, not from the
pipeline. Failure paths common to every provider are the shared suite's: tests/failures/."""

from __future__ import annotations

import itertools
import logging
from typing import Any

import duckdb
import pytest
import stripe
import yaml

from pipelines.common.storage import raw_db_path
from pipelines.run import run_provider
from sandbox.common.specs import read_spec_text

TABLES = {
    "customers": "customers",
    "subscriptions": "subscriptions",
    "invoices": "invoices",
    "charges": "charges",
    "refunds": "refunds",
    "balance_transactions": "balance_transactions",
    "payouts": "payouts",
    "disputes": "disputes",
    "prices": "prices",
    "coupons": "coupons",
}


@pytest.fixture(autouse=True)
def fast_limit(monkeypatch: pytest.MonkeyPatch) -> None:
    # Tests run at a high limit (client and simulator read the same setting); the bench runs at the real 25/s.
    monkeypatch.setenv("STRIPE_RATE_LIMIT_PER_SECOND", "1000")


def raw(sql: str) -> list[tuple[Any, ...]]:
    with duckdb.connect(str(raw_db_path("stripe")), read_only=True) as con:
        return con.sql(sql).fetchall()


def visible(sw: Any, attr: str) -> dict[str, Any]:
    objects = getattr(sw, attr)
    return {k: v for k, v in objects.items() if (v["created"] if isinstance(v, dict) else v.created) <= sw.now}


def assert_matches_world(sw: Any) -> None:
    """Every object Stripe shows is loaded once, with its current status."""
    for attr, table in TABLES.items():
        expected = set(visible(sw, attr))
        rows = raw(f"select id from raw_stripe.{table}")
        assert len(rows) == len({r[0] for r in rows}), f"{table}: duplicate ids"
        assert {r[0] for r in rows} == expected, f"{table}: loaded set differs from the world"
    now = sw.now
    subs = dict(
        raw(
            "select id, status || '|' || coalesce(cast(ended_at as varchar), '') || '|' || cancel_at_period_end from raw_stripe.subscriptions"
        )
    )
    for sub in visible(sw, "subscriptions").values():
        v = sub.at(now)
        assert subs[sub.id] == f"{v.status}|{v.ended_at or ''}|{str(v.cancel_at_period_end).lower()}", sub.id
    disputes = dict(raw("select id, status from raw_stripe.disputes"))
    assert disputes == {d.id: d.status_at(now) for d in visible(sw, "disputes").values()}
    payouts = dict(raw("select id, status from raw_stripe.payouts"))
    assert payouts == {p.id: p.status_at(now) for p in visible(sw, "payouts").values()}
    from sandbox.stripe.render import invoice_status

    invoices = dict(raw("select id, status from raw_stripe.invoices"))
    assert invoices == {i.id: invoice_status(i, now) for i in visible(sw, "invoices").values()}


def test_full_load_reads_every_object_with_spec_params_and_pinned_version(sandbox_env: Any) -> None:
    sw = sandbox_env.world.extension("stripe")
    summary = run_provider("stripe")
    assert_matches_world(sw)
    lines = raw("select count(*) from raw_stripe.invoices__lines__data")[0][0]
    assert lines == sum(len(i.lines) for i in visible(sw, "invoices").values())
    events = raw("select count(*) from raw_stripe.events where _received_via = 'api'")[0][0]
    assert events == sum(1 for e in sw.events if sw.now - 30 * 86400 <= e.created <= sw.now)
    stats = sandbox_env.state.stats["stripe"]
    assert summary.requests == stats.requests
    # Every list parameter we sent is one Stripe documents for that endpoint; every request pinned the SDK's version.
    spec = yaml.load(read_spec_text("stripe/spec3.2023-09-12.yaml"), Loader=getattr(yaml, "CSafeLoader", yaml.SafeLoader))
    for key in stats.extra:
        if key.startswith("param:"):
            _, resource, name = key.split(":")
            allowed = {p["name"] for p in spec["paths"][f"/v1/{resource}"]["get"]["parameters"]}
            assert name in allowed, f"{resource}: {name} is not a documented parameter"
    assert stats.extra[f"version:{stripe.api_version}"] == stats.requests


def test_incremental_load_misses_no_status_change_and_reads_in_proportion(sandbox_env: Any) -> None:
    sw = sandbox_env.world.extension("stripe")
    full = run_provider("stripe")
    before = sw.now
    sandbox_env.world.advance(12)
    incremental = run_provider("stripe")
    assert_matches_world(sw)
    # Requests: one page per list (nothing big was created in 12 days), the events, and one GET per changed object.
    changed = {
        (e.kind, e.object_id)
        for e in sw.events
        if before <= e.created <= sw.now and e.kind not in ("balance_transaction",)
    }
    refetched = sandbox_env.state.stats["stripe"].by_route
    retrieves = sum(n for route, n in refetched.items() if route.endswith("/retrieve"))
    assert retrieves <= len(changed)  # one GET per changed object, never more
    assert incremental.requests - retrieves <= 11 + 4  # one page per list, the events, the cursor check
    assert full.requests > 11
    assert raw("select count(*) from raw_stripe.events")[0][0] == sum(
        1 for e in sw.events if before - 30 * 86400 <= e.created <= sw.now
    )


def test_expired_event_cursor_falls_back_to_full_refresh(sandbox_env: Any, caplog: pytest.LogCaptureFixture) -> None:
    sw = sandbox_env.world.extension("stripe")
    run_provider("stripe")
    sandbox_env.world.advance(35)  # the saved cursor event is now older than Stripe keeps events
    with caplog.at_level(logging.WARNING, logger="opsdata.stripe"):
        run_provider("stripe")
    assert any("older than Stripe's 30-day event retention" in r.getMessage() for r in caplog.records)
    assert_matches_world(sw)


def test_reconcile_repairs_a_status_the_events_never_mentioned(sandbox_env: Any) -> None:
    sw = sandbox_env.world.extension("stripe")
    run_provider("stripe")
    with duckdb.connect(str(raw_db_path("stripe"))) as con:  # a stale row, as a lost event would leave it
        con.execute("update raw_stripe.subscriptions set status = 'active' where status = 'canceled'")
    run_provider("stripe")
    assert raw("select count(*) from raw_stripe.subscriptions where status = 'canceled'")[0][0] == 0
    run_provider("stripe", mode="reconcile")
    assert_matches_world(sw)


def test_429s_are_retried_under_the_shared_limiter(sandbox_env: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    sw = sandbox_env.world.extension("stripe")
    sandbox_env.state.options["stripe_rate_limit"] = 1  # the simulator enforces 1/s ...
    monkeypatch.setenv("STRIPE_RATE_LIMIT_PER_SECOND", "12")  # ... while the client believes 12/s
    # ... on a clock that moves half a second per request the limiter sees, however far apart they really arrive
    # (on a busy machine they can be more than a second apart, and a wall-clock limiter then refuses none): every
    # second request is refused, so the run's first request after a success is always throttled.
    ticks = itertools.count()
    sandbox_env.state.options["stripe_rate_clock"] = lambda: next(ticks) * 0.5
    sandbox_env.state.add_fault("stripe", "429", count=2, path_contains="/v1/payouts")
    run_provider("stripe", resources=["payouts", "disputes"])
    stats = sandbox_env.state.stats["stripe"]
    assert stats.throttled > 0 and stats.by_status[429] >= 2
    assert {r[0] for r in raw("select id from raw_stripe.payouts")} == set(visible(sw, "payouts"))
    assert {r[0] for r in raw("select id from raw_stripe.disputes")} == set(visible(sw, "disputes"))


def test_invoice_lines_beyond_the_embedded_page_are_fetched(sandbox_env: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    from pipelines.common.config import provider_config
    from pipelines.stripe import helpers, settings

    sw = sandbox_env.world.extension("stripe")
    invoice = next(i for i in visible(sw, "invoices").values() if len(i.lines) >= 2)
    client = helpers.make_client(provider_config("stripe"))
    full = helpers.get(client, f"/v1/invoices/{invoice.id}", {})
    truncated = {**full, "lines": {**full["lines"], "data": full["lines"]["data"][:1], "has_more": True}}
    monkeypatch.setattr(settings, "PAGE_SIZE", 1)  # one line per page: walks the lines endpoint to the end
    helpers.invoice_lines(client, truncated)
    assert [line["id"] for line in truncated["lines"]["data"]] == [line.id for line in invoice.lines]
    assert truncated["lines"]["has_more"] is False


def test_live_keys_get_the_live_limit_unless_configured() -> None:
    from pipelines.common.config import ProviderConfig
    from pipelines.stripe import settings
    from pipelines.stripe.helpers import effective_rate_limit

    def config(key: str) -> ProviderConfig:
        return ProviderConfig("stripe", "https://api.stripe.com", {"api_key": key}, settings.RATE_LIMIT)

    assert effective_rate_limit(config("sk_live_x"), env_override=False).per_second == pytest.approx(
        100 * settings.RATE_LIMIT_HEADROOM
    )
    assert effective_rate_limit(config("rk_test_x"), env_override=False).per_second == pytest.approx(
        25 * settings.RATE_LIMIT_HEADROOM
    )
    assert effective_rate_limit(config("sk_live_x"), env_override=True).per_second == pytest.approx(
        25 * settings.RATE_LIMIT_HEADROOM
    )


class Collect(logging.Handler):
    def __init__(self) -> None:
        super().__init__(logging.DEBUG)
        self.records: list[logging.LogRecord] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.records.append(record)


def test_a_load_is_quiet_and_dlt_logs_at_its_own_level(sandbox_env: Any, capfd: pytest.CaptureFixture[str]) -> None:
    """A clean load logs no warning (it used to log 35: hint dicts shared between columns, and dlt's note on every
    always-null API field), and dlt's records reach the process's logging (Airflow's, in a task) as what they are,
    not through dlt's own stderr handler, whose lines an Airflow task files as errors."""
    run_provider("stripe")
    printed = capfd.readouterr()
    assert "collides with other column" not in printed.out + printed.err
    assert "could not have their types inferred" not in printed.out + printed.err
    collected = Collect()  # on the root logger, where Airflow's task logging (or any host's) listens
    logging.getLogger().addHandler(collected)
    try:
        logging.getLogger("dlt").warning("a real dlt warning")
    finally:
        logging.getLogger().removeHandler(collected)
    assert [(r.name, r.levelname, r.getMessage()) for r in collected.records] == [("dlt", "WARNING", "a real dlt warning")]
    assert not [h for h in logging.getLogger("dlt").handlers if type(h) is logging.StreamHandler]
    customers = dict(raw("select column_name, data_type from information_schema.columns where table_name = 'customers'"))
    assert customers["email"] == "VARCHAR" and customers["currency"] == "VARCHAR"  # both declared hints kept


def test_an_event_field_that_changes_type_fails_the_run_naming_it(sandbox_env: Any) -> None:
    """Event pages are arrow tables of typed columns (source.EVENT_COLUMNS), not rows under dlt's contract: a value
    of another type is drift all the same, named by table and column, on a first load and on an incremental one
    (whose events come back from the run's spool file), and nothing of the run is loaded."""
    from pipelines.common.errors import SchemaDriftError

    expected = ("stripe: schema drift, nothing of this load was written: table events, column api_version: "
                "an object arrived where the column holds text values")
    sandbox_env.state.add_fault("stripe", "type_change", count=100_000, path_contains="/v1/events", field="api_version")
    with pytest.raises(SchemaDriftError) as failure:
        run_provider("stripe")
    assert str(failure.value).startswith(expected), str(failure.value)
    assert "unexpected" not in str(failure.value)  # the drifted value's key is never quoted
    sandbox_env.state.clear_faults("stripe")
    run_provider("stripe")
    events = raw("select count(*) from raw_stripe.events")[0][0]
    sandbox_env.world.advance(3)
    sandbox_env.state.add_fault("stripe", "type_change", count=100_000, path_contains="/v1/events", field="api_version")
    with pytest.raises(SchemaDriftError) as failure:
        run_provider("stripe")
    assert str(failure.value).startswith(expected), str(failure.value)
    assert raw("select count(*) from raw_stripe.events")[0][0] == events
