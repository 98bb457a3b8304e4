"""Stripe's facts for the shared failure-path suite (tests/failures/, see tests/failures/facts.py)."""

from __future__ import annotations

from typing import TYPE_CHECKING

from pipelines.stripe import settings
from tests.failures.facts import DriftCase, FailureFacts, UnknownFieldCase

if TYPE_CHECKING:
    from sandbox.server import SandboxServer


def rerun_requests(server: SandboxServer) -> int:
    """Nothing changed: one page per list (objects created since each cursor: none), one page of `/v1/events`, and
    the one GET of the cursor's event that checks it is still inside Stripe's 30-day retention."""
    return len(settings.LISTS) + 1 + 1


FACTS = FailureFacts(
    # A charge's amount (minor units) feeds stripe_financial_summary's gross volume.
    drift=DriftCase(field="amount", table="charges", column="amount", path_contains="/v1/charges"),
    unknown_field=UnknownFieldCase(table="customers", path_contains="/v1/customers"),
    rerun_requests=rerun_requests,
    # Client and simulator both read it: the tests run far above the 25/s test-mode limit (the bench runs at it).
    env={"STRIPE_RATE_LIMIT_PER_SECOND": "1000"},
)
