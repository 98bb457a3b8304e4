"""Shopify's facts for the shared failure-path suite (tests/failures/, see tests/failures/facts.py)."""

from __future__ import annotations

from tests.failures.facts import DriftCase, FailureFacts, UnknownFieldCase

FACTS = FailureFacts(
    # A line item's quantity makes shopify_sales_daily's gross sales (unit price x quantity).
    drift=DriftCase(field="quantity", table="orders__line_items", column="quantity"),
    unknown_field=UnknownFieldCase(table="customers"),
    # Nothing updated since either cursor: one (empty) page of customers and one of orders.
    rerun_requests=lambda server: 2,
)
