"""Klaviyo's facts for the shared failure-path suite (tests/failures/, see tests/failures/facts.py)."""

from __future__ import annotations

import math
from typing import TYPE_CHECKING

from pipelines.klaviyo.settings import EXTRACTED_METRICS, PAGE_SIZES
from tests.failures.facts import DriftCase, FailureFacts

if TYPE_CHECKING:
    from sandbox.server import SandboxServer


def rerun_requests(server: SandboxServer) -> int:
    """Nothing changed. Incremental resources cost one (empty) page each: campaigns, flows, profiles, and the events
    of each extracted metric. Snapshots are re-read in full: /api/metrics (once for the table, once for the metric
    ids the event resources filter on), the segment and list pages once (`groups` and `group_members` share them),
    each group's profile count, and each group's member pages (one each in the small world: a group of more pages is
    read as spans, a head and a tail page and chains between, which can cost a partial page more per chain)."""
    world = server.world
    kw = world.extension("klaviyo")
    pages: dict[str, int] = {}
    members = 0
    for group in kw.groups:
        plural = f"/api/{group.kind}s"
        pages[plural] = pages.get(plural, 0) + 1
        visible = sum(1 for pid, joined in group.members if joined <= world.now and kw.profiles_by_id[pid].created <= world.now)
        members += max(1, math.ceil(visible / PAGE_SIZES[f"{plural}/{{id}}/profiles"]))
    group_pages = sum(max(1, math.ceil(n / PAGE_SIZES[plural])) for plural, n in pages.items())
    incremental = 3 + len(EXTRACTED_METRICS)
    return incremental + 2 + group_pages + len(kw.groups) + members


def scale_limits(server: SandboxServer) -> None:
    server.state.provider_store("klaviyo")["rate_scale"] = 20.0


FACTS = FailureFacts(
    # A list's or segment's profile count is klaviyo_segment_health's reference size.
    drift=DriftCase(field="profile_count", table="group_profile_counts", column="profile_count"),
    unknown_field=None,
    unknown_field_dropped=(
        "the source maps each JSON:API attribute by name into its rows (pipelines/klaviyo/source.py), so a field "
        "Klaviyo adds is not extracted until the source maps it"
    ),
    rerun_requests=rerun_requests,
    snapshot_tables=("metrics", "groups", "group_profile_counts", "group_members"),
    # Every tier scaled alike on both sides (client and simulator), so the tests stay fast and the limits agree.
    env={"KLAVIYO_RATE_LIMIT_SCALE": "20"},
    prepare=scale_limits,
)
