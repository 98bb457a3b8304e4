"""Zendesk's facts for the shared failure-path suite (tests/failures/, see tests/failures/facts.py)."""

from __future__ import annotations

import math
from typing import TYPE_CHECKING

from pipelines.zendesk import settings
from tests.failures.facts import DriftCase, FailureFacts, UnknownFieldCase

if TYPE_CHECKING:
    from sandbox.server import SandboxServer

EXPORTS = ("tickets", "users", "organizations", "ticket_metric_events", "ticket_events")
"""The incremental exports (pipelines/zendesk/source.py): one page each when nothing changed."""


def rerun_requests(server: SandboxServer) -> int:
    """Nothing changed: one page per incremental export; the ratings and the survey responses of their look-back
    windows (both change after they are offered), re-read by page; the SLA policies, groups and schedules lists, plus
    each schedule's holidays."""
    zw = server.world.extension("zendesk")
    now = server.world.now

    def pages(n: int) -> int:
        return max(1, math.ceil(n / settings.LIST_PAGE_SIZE))

    offered = [r.offered_at.timestamp() for r in zw.ratings if r.offered_at <= now]
    since = max(offered) - settings.RATINGS_LOOKBACK_SECONDS  # the look-back runs from the newest rating loaded
    recent_ratings = sum(1 for t in offered if t >= since)
    responded = [s.responded_at.timestamp() for s in zw.survey_responses if s.responded_at <= now]
    surveys_since = max(responded) - settings.SURVEYS_LOOKBACK_SECONDS if responded else 0
    surveys = sum(1 for t in responded if t >= surveys_since)
    schedules = 1  # the world's one business-hours schedule: its list, then its holidays
    return len(EXPORTS) + pages(recent_ratings) + pages(surveys) + 1 + pages(len(zw.groups)) + schedules + schedules


def scale_limits(server: SandboxServer) -> None:
    server.state.options["zendesk_rate_scale"] = 60


FACTS = FailureFacts(
    # A ticket's requester is how support_overview tells customers' tickets from others (joined to users).
    drift=DriftCase(field="requester_id", table="tickets", column="requester_id", path_contains="/incremental/tickets/"),
    unknown_field=UnknownFieldCase(table="tickets", path_contains="/incremental/tickets/"),
    rerun_requests=rerun_requests,
    # Nothing is re-loaded: the lists read in full are replaced only when their content differs from the last load, the
    # ratings' look-back and the survey responses are filtered by `updated_at`, and the time-based exports' repeated
    # last second is dropped when it is what was loaded (pipelines/zendesk/source.py).
    snapshot_tables=(),
    # Both limits scaled alike on client and simulator, so the suite does not wait out 10 exports a minute.
    env={"ZENDESK_RATE_LIMIT_SCALE": "60"},
    prepare=scale_limits,
)
