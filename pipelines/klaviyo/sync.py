"""Reverse sync: Shopify customers -> Klaviyo profiles, through bulk profile import jobs.

Reads `marts.dim_customers` from the published BI copy (`bi.duckdb`, read-only), builds one profile per
customer (email, phone, names, location, and computed properties: orders count, total spent, lifecycle stage),
and sends only profiles whose content changed since they were last sent: a SHA-256 of each payload is kept in
`raw_klaviyo.profile_sync_log` (merge on email, written by dlt, readable by dbt), with the job id, the status and
the error Klaviyo reported for a bad row. Unchanged profiles are never re-sent, including unchanged bad rows:
they stay reported as errors until the customer record is fixed.

Consent is never touched: the payload carries no `subscriptions` (Klaviyo's bulk import would not change consent
anyway, and `accepts_marketing` is not copied into a property either, so nobody mistakes it for consent).

CLI:  python -m pipelines.klaviyo.sync [--dry-run] [--as-of 2026-11-01]
"""

from __future__ import annotations

import argparse
import hashlib
import json
import logging
import os
import sys
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, date, datetime
from typing import Any

import dlt
import duckdb
import yaml

from pipelines.common.config import ProviderConfig, provider_config
from pipelines.common.storage import REPO_ROOT, ensure_duckdb_file, pipelines_dir, publish_raw, raw_db_path, tiles_path

from .helpers import auth_for, make_client
from .settings import BULK_IMPORT_MAX_BYTES, SYNC_BATCH_SIZE

log = logging.getLogger("opsdata.klaviyo.sync")
LOG_TABLE = "profile_sync_log"
POLL_SECONDS = (0.2, 0.5, 1, 2, 5, 10)
MAX_POLL_SECONDS = 600


@dataclass
class SyncResult:
    considered: int = 0
    unchanged: int = 0
    sent: int = 0
    failed: int = 0
    jobs: list[str] = field(default_factory=list)
    errors: dict[str, str] = field(default_factory=dict)
    """email -> error detail, for rows Klaviyo rejected in this run."""

    def describe(self) -> str:
        return (f"klaviyo sync: {self.considered} customers, {self.unchanged} unchanged, {self.sent} sent, "
                f"{self.failed} rejected, {len(self.jobs)} import jobs")


def _pinned_as_of() -> date | None:
    """`OPSDATA_AS_OF_DATE` when the metrics are pinned (the demo pins them to the sandbox world's today), as dbt does."""
    pinned = os.environ.get("OPSDATA_AS_OF_DATE", "").strip()
    return date.fromisoformat(pinned) if pinned else None


def lifecycle_thresholds() -> dict[str, int]:
    """The lifecycle vars of dbt_project.yml: one definition for the tile and the synced property."""
    variables = yaml.safe_load((REPO_ROOT / "dbt_project" / "dbt_project.yml").read_text())["vars"]
    return {"at_risk": int(variables["klaviyo_at_risk_after_days"]), "lapsed": int(variables["klaviyo_lapsed_after_days"])}


def lifecycle_stage(orders_count: int, last_order_at: datetime | None, as_of: date, thresholds: dict[str, int]) -> str:
    """Same rule as marts.dim_customer_lifecycle (dbt)."""
    if not orders_count or last_order_at is None:
        return "prospect"
    days = (as_of - last_order_at.astimezone(UTC).date()).days
    if days > thresholds["lapsed"]:
        return "lapsed"
    if days > thresholds["at_risk"]:
        return "at_risk"
    return "new" if orders_count == 1 else "repeat"


def _iso(value: Any) -> str | None:
    return value.astimezone(UTC).isoformat() if isinstance(value, datetime) else None


def read_customers(path: Any = None) -> list[dict[str, Any]]:
    source = path or tiles_path()
    con = duckdb.connect(str(source), read_only=True)
    try:
        cursor = con.execute(
            "select customer_id, email, first_name, last_name, phone, city, province, country_code, orders_count, "
            "total_spent, first_order_at, last_order_at from marts.dim_customers order by customer_id"
        )
        names = [d[0] for d in cursor.description]
        return [dict(zip(names, row, strict=False)) for row in cursor.fetchall()]
    finally:
        con.close()


def build_profile(customer: dict[str, Any], as_of: date, thresholds: dict[str, int]) -> dict[str, Any]:
    """The bulk-import profile for one customer (no consent fields, by design)."""
    attributes: dict[str, Any] = {
        "email": customer["email"],
        "external_id": str(customer["customer_id"]),
        "first_name": customer.get("first_name"),
        "last_name": customer.get("last_name"),
        "location": {"city": customer.get("city"), "region": customer.get("province"), "country": customer.get("country_code")},
        "properties": {
            "shopify_customer_id": str(customer["customer_id"]),
            "orders_count": int(customer.get("orders_count") or 0),
            "total_spent": float(customer.get("total_spent") or 0),
            "first_order_at": _iso(customer.get("first_order_at")),
            "last_order_at": _iso(customer.get("last_order_at")),
            "lifecycle_stage": lifecycle_stage(int(customer.get("orders_count") or 0), customer.get("last_order_at"), as_of, thresholds),
        },
    }
    if customer.get("phone"):
        attributes["phone_number"] = customer["phone"]
    return {"type": "profile", "attributes": attributes}


def payload_hash(profile: dict[str, Any]) -> str:
    return hashlib.sha256(json.dumps(profile, sort_keys=True, separators=(",", ":")).encode()).hexdigest()


def previous_hashes() -> dict[str, str]:
    """email -> hash last sent (successfully or not), from raw_klaviyo.profile_sync_log."""
    path = raw_db_path("klaviyo")
    if not path.exists():
        return {}
    con = duckdb.connect(str(path), read_only=True)
    try:
        exists = con.execute(
            "select count(*) from information_schema.tables where table_schema = 'raw_klaviyo' and table_name = ?", [LOG_TABLE]
        ).fetchone()
        if not exists or not exists[0]:
            return {}
        return dict(con.execute(f"select email, payload_hash from raw_klaviyo.{LOG_TABLE}").fetchall())
    finally:
        con.close()


def batches(profiles: list[dict[str, Any]]) -> Iterator[list[dict[str, Any]]]:
    """Chunks within Klaviyo's bulk import limits (count and payload bytes)."""
    batch: list[dict[str, Any]] = []
    size = 0
    for profile in profiles:
        row = len(json.dumps(profile)) + 1
        if batch and (len(batch) >= SYNC_BATCH_SIZE or size + row > BULK_IMPORT_MAX_BYTES * 0.9):
            yield batch
            batch, size = [], 0
        batch.append(profile)
        size += row
    if batch:
        yield batch


class ProfileImporter:
    """Submit a bulk import job, poll it to completion, collect the per-row errors."""

    def __init__(self, config: ProviderConfig, sleep: Callable[[float], None] = time.sleep) -> None:
        self.base = config.base_url
        self.session = make_client(config, auth_for(config)).session
        self.sleep = sleep

    def submit(self, profiles: list[dict[str, Any]]) -> str:
        body = {"data": {"type": "profile-bulk-import-job", "attributes": {"profiles": {"data": profiles}}}}
        response = self.session.post(f"{self.base}/api/profile-bulk-import-jobs", data=json.dumps(body),
                                     headers={"content-type": "application/vnd.api+json"}, timeout=60)
        response.raise_for_status()
        return str(response.json()["data"]["id"])

    def wait(self, job_id: str) -> dict[str, Any]:
        started = time.monotonic()
        for attempt in range(10_000):
            response = self.session.get(f"{self.base}/api/profile-bulk-import-jobs/{job_id}", timeout=30)
            response.raise_for_status()
            job = response.json()["data"]["attributes"]
            if job["status"] in ("complete", "cancelled"):
                return job  # type: ignore[no-any-return]
            if time.monotonic() - started > MAX_POLL_SECONDS:
                break
            self.sleep(POLL_SECONDS[min(attempt, len(POLL_SECONDS) - 1)])
        raise TimeoutError(f"klaviyo: bulk import job {job_id} did not complete within {MAX_POLL_SECONDS}s")

    def errors(self, job_id: str) -> list[dict[str, Any]]:
        url: str | None = f"{self.base}/api/profile-bulk-import-jobs/{job_id}/import-errors?page[size]=100"
        found: list[dict[str, Any]] = []
        while url:
            response = self.session.get(url, timeout=30)
            response.raise_for_status()
            body = response.json()
            found += body.get("data") or []
            url = (body.get("links") or {}).get("next")
        return found


def _row_index(error: dict[str, Any]) -> int | None:
    pointer = ((error.get("attributes") or {}).get("source") or {}).get("pointer") or ""
    tail = pointer.rstrip("/").rsplit("/", 1)[-1]
    return int(tail) if tail.isdigit() else None


def write_log(rows: list[dict[str, Any]]) -> None:
    if not rows:
        return
    pipeline = dlt.pipeline(
        pipeline_name="klaviyo_sync",
        destination=dlt.destinations.duckdb(str(ensure_duckdb_file(raw_db_path("klaviyo")))),
        dataset_name="raw_klaviyo",
        pipelines_dir=str(pipelines_dir()),
    ).drop()
    resource = dlt.resource(rows, name=LOG_TABLE, primary_key="email", write_disposition="merge",
                            columns={"payload": {"data_type": "json"}, "error_detail": {"data_type": "text"},
                                     "status": {"data_type": "text"}, "job_id": {"data_type": "text"},
                                     "payload_hash": {"data_type": "text"}, "customer_id": {"data_type": "bigint"},
                                     "synced_at": {"data_type": "timestamp"}})
    pipeline.run(resource)
    publish_raw("klaviyo")  # dbt reads the published copy of raw_klaviyo: make the new log rows visible to it


def run_sync(
    config: ProviderConfig | None = None,
    *,
    dry_run: bool = False,
    as_of: date | None = None,
    customers: list[dict[str, Any]] | None = None,
    out: Callable[[str], None] = print,
    sleep: Callable[[float], None] = time.sleep,
) -> SyncResult:
    """Send changed customers to Klaviyo (or, with `dry_run`, print what would be sent and write nothing)."""
    config = config or provider_config("klaviyo")
    as_of = as_of or _pinned_as_of() or datetime.now(UTC).date()
    thresholds = lifecycle_thresholds()
    rows = customers if customers is not None else read_customers()
    known = previous_hashes()
    result = SyncResult(considered=len(rows))
    pending: list[tuple[dict[str, Any], dict[str, Any], str]] = []
    for customer in rows:
        if not customer.get("email"):
            continue
        profile = build_profile(customer, as_of, thresholds)
        digest = payload_hash(profile)
        if known.get(customer["email"]) == digest:
            result.unchanged += 1
            continue
        pending.append((customer, profile, digest))
    if dry_run:
        for _, profile, _digest in pending:
            out(json.dumps(profile, sort_keys=True))
        out(f"dry run: {len(pending)} profiles would be sent, {result.unchanged} unchanged")
        result.sent = 0
        return result

    importer = ProfileImporter(config, sleep=sleep)
    log_rows: list[dict[str, Any]] = []
    now = datetime.now(UTC)
    for batch in batches([p for _, p, _ in pending]):
        offset = len(log_rows)
        job_id = importer.submit(batch)
        result.jobs.append(job_id)
        importer.wait(job_id)
        rejected: dict[int, str] = {}
        for error in importer.errors(job_id):
            index = _row_index(error)
            if index is not None:
                rejected[index] = (error.get("attributes") or {}).get("detail", "rejected")
        for i, profile in enumerate(batch):
            customer, _, digest = pending[offset + i]
            detail = rejected.get(i)
            log_rows.append({
                "email": customer["email"], "customer_id": customer["customer_id"], "payload_hash": digest,
                "status": "error" if detail else "synced", "error_detail": detail, "job_id": job_id, "synced_at": now,
                "payload": profile,
            })
            if detail:
                result.failed += 1
                result.errors[customer["email"]] = detail
            else:
                result.sent += 1
    write_log(log_rows)
    log.info(result.describe())
    return result


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m pipelines.klaviyo.sync", description=__doc__.split("\n\n")[0])
    parser.add_argument("--dry-run", action="store_true", help="print the profiles that would be sent; send and record nothing")
    parser.add_argument("--as-of", type=date.fromisoformat, default=None,
                        help="date for the lifecycle stage (default: OPSDATA_AS_OF_DATE if set, else today, UTC)")
    args = parser.parse_args(argv)
    result = run_sync(dry_run=args.dry_run, as_of=args.as_of)
    print(result.describe())
    for email, detail in sorted(result.errors.items()):
        print(f"  rejected {email}: {detail}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
