"""Stripe API versions the simulator renders, and how shapes differ between them.

Two renderings, the two versions that matter here:
- `CURRENT` = the version the `stripe` SDK in uv.lock pins and sends (post-Basil shapes, from `fixtures3.json`);
- `SPEC` = the version of the vendored OpenAPI spec (2023-08-16), projected onto that spec's schemas.

The version comes from the `Stripe-Version` header, else the account default (`CURRENT`: the sandbox account was
opened recently). Any other published version renders with the shapes of its side of Basil (2025-03-31), the release
that moved the fields we render; a string that is no Stripe version is rejected as Stripe does. Events keep the
version they were created with (`CURRENT`), whatever the request asks.

`KNOWN_DIFFERENCES` is the reviewed list of where `CURRENT` differs from the older spec (the conformance suite
validates `CURRENT` responses against the spec through exactly these patches, and `SPEC` responses against the spec
as it is). `EXPANDABLE_ADDED` are fields that became expandable after the spec.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

from .world import API_VERSION

CURRENT = API_VERSION
SPEC = "2023-08-16"
BASIL = "2025-03-31"
# Published versions (docs.stripe.com/upgrades, the SDKs' release notes). Rendering: `SPEC` shapes before Basil,
# `CURRENT` shapes from Basil on.
PUBLISHED = frozenset(
    {
        "2020-08-27", "2022-08-01", "2022-11-15", "2023-08-16", "2023-10-16", "2024-04-10", "2024-06-20",
        "2024-09-30.acacia", "2024-10-28.acacia", "2024-11-20.acacia", "2024-12-18.acacia", "2025-01-27.acacia",
        "2025-02-24.acacia", "2025-03-31.basil", "2025-04-30.basil", "2025-05-28.basil", "2025-06-30.basil",
        "2025-07-30.basil", "2025-08-27.basil", "2025-09-30.clover", "2025-10-29.clover", "2025-11-17.clover",
        "2025-12-15.clover", "2026-01-28.clover", "2026-02-25.clover", "2026-03-25.dahlia", "2026-04-22.dahlia",
        "2026-05-27.dahlia", "2026-06-24.dahlia", "2026-07-29.dahlia", "2026-08-26.dahlia", "2026-09-30.endive",
        CURRENT,
    }
)


@dataclass(frozen=True)
class Version:
    name: str
    """What the client asked for (echoed in the `Stripe-Version` response header)."""
    shapes: str
    """`CURRENT` or `SPEC`: which rendering."""

    @property
    def legacy(self) -> bool:
        return self.shapes == SPEC


class InvalidVersion(ValueError):
    pass


def resolve(header: str | None) -> Version:
    if not header:
        return Version(CURRENT, CURRENT)
    name = header.strip()
    if name not in PUBLISHED or not re.fullmatch(r"\d{4}-\d{2}-\d{2}(\.[a-z]+)?", name):
        raise InvalidVersion(f"Invalid Stripe API version: {name}")
    return Version(name, SPEC if name[:10] < BASIL else CURRENT)


# Fields Stripe returns only when expanded ("includable"): absent from the default rendering at every version here.
INCLUDABLE: dict[str, frozenset[str]] = {
    "charge": frozenset({"refunds"}),
    "customer": frozenset({"sources", "subscriptions", "tax_ids", "tax", "cash_balance", "invoice_credit_balance"}),
}
# Expandable since the spec was published (docs for the current version).
EXPANDABLE_ADDED: dict[str, frozenset[str]] = {
    "subscription": frozenset({"discounts"}),
    "subscription_item": frozenset({"discounts"}),
    "invoiceitem": frozenset({"parent"}),
}
# Expandable in the spec but gone from the current shapes (Basil removed the field itself).
EXPANDABLE_REMOVED: dict[str, frozenset[str]] = {
    "charge": frozenset({"invoice"}),
    "invoice": frozenset({"charge", "payment_intent", "subscription", "subscription_details", "quote", "discount"}),
    "subscription": frozenset({"discount"}),
    "line_item": frozenset({"invoice_item", "price", "proration_details", "subscription", "subscription_item", "tax_amounts"}),
    "invoiceitem": frozenset({"price", "subscription"}),
    "payment_intent": frozenset({"invoice"}),
}


@dataclass(frozen=True)
class Difference:
    schema: str
    field: str
    change: str
    """added (served at CURRENT, unknown to the spec) | removed (required by the spec, gone at CURRENT)"""
    why: str


_BASIL_PARENT = "Basil (2025-03-31) replaced invoice.subscription/subscription_details/quote with invoice.parent"
_BASIL_PERIOD = "Basil moved current_period_start/end from the subscription to its items"
_BASIL_LINES = "Basil moved line-item price/proration/subscription fields into line_item.parent and pricing"
_BASIL_PAYMENTS = "Basil removed invoice.paid/charge/payment_intent (payments live in InvoicePayment objects)"
_TAXES = "2025-03-31 renamed tax amounts to taxes / total_taxes"
_CREDITS = "pretax credit amounts were added with billing credits (2024-2025)"
_ACCOUNTS = "customer_account (Accounts v2) was added in 2025"

KNOWN_DIFFERENCES: tuple[Difference, ...] = (
    Difference("invoice", "parent", "added", _BASIL_PARENT),
    Difference("invoice", "subscription", "removed", _BASIL_PARENT),
    Difference("invoice", "paid", "removed", _BASIL_PAYMENTS),
    Difference("invoice", "paid_out_of_band", "removed", _BASIL_PAYMENTS),
    Difference("invoice", "total_tax_amounts", "removed", _TAXES),
    Difference("invoice", "total_taxes", "added", _TAXES),
    Difference("invoice", "total_pretax_credit_amounts", "added", _CREDITS),
    Difference("invoice", "amount_overpaid", "added", "overpayments became visible on invoices in 2025"),
    Difference("invoice", "issuer", "added", "invoice issuer (Connect) added 2023-10-16"),
    Difference("invoice", "automatically_finalizes_at", "added", "added 2023-10-16"),
    Difference("invoice", "rendering", "added", "rendering replaced rendering_options in 2024"),
    Difference("invoice", "customer_account", "added", _ACCOUNTS),
    Difference("line_item", "parent", "added", _BASIL_LINES),
    Difference("line_item", "pricing", "added", _BASIL_LINES),
    Difference("line_item", "invoice", "added", "line items name their invoice since 2024"),
    Difference("line_item", "subtotal", "added", _BASIL_LINES),
    Difference("line_item", "taxes", "added", _TAXES),
    Difference("line_item", "pretax_credit_amounts", "added", _CREDITS),
    Difference("line_item", "quantity_decimal", "added", "decimal quantities added 2025"),
    Difference("line_item", "proration", "removed", _BASIL_LINES),
    Difference("line_item", "type", "removed", _BASIL_LINES),
    Difference("subscription", "current_period_start", "removed", _BASIL_PERIOD),
    Difference("subscription", "current_period_end", "removed", _BASIL_PERIOD),
    Difference("subscription", "discounts", "added", "multiple discounts per subscription (2023-10-16)"),
    Difference("subscription", "billing_cycle_anchor_config", "added", "added 2024"),
    Difference("subscription", "billing_mode", "added", "flexible billing mode (2025)"),
    Difference("subscription", "billing_schedules", "added", "billing schedules (2026)"),
    Difference("subscription", "invoice_settings", "added", "added 2024"),
    Difference("subscription", "managed_payments", "added", "managed payments (2026)"),
    Difference("subscription", "customer_account", "added", _ACCOUNTS),
    Difference("subscription_item", "current_period_start", "added", _BASIL_PERIOD),
    Difference("subscription_item", "current_period_end", "added", _BASIL_PERIOD),
    Difference("subscription_item", "discounts", "added", "multiple discounts per item (2023-10-16)"),
    Difference("subscription_item", "plan", "added", "the spec omits the legacy plan mirror items still carry"),
    Difference("discount", "source", "added", "Basil replaced discount.coupon with discount.source"),
    Difference("discount", "coupon", "removed", "Basil replaced discount.coupon with discount.source"),
    Difference("discount", "subscription_item", "added", "item-level discounts (2023-10-16)"),
    Difference("discount", "customer_account", "added", _ACCOUNTS),
    Difference("product", "marketing_features", "added", "marketing features replaced features (2024)"),
    Difference("product", "features", "removed", "marketing features replaced features (2024)"),
    Difference("product", "type", "added", "the fixtures carry product.type, absent from the 2023 schema"),
    Difference("charge", "source", "added", "the fixtures still carry the legacy source field"),
    Difference("balance_transaction", "balance_type", "added", "balance types (2025)"),
    Difference("dispute", "enhanced_eligibility_types", "added", "enhanced evidence eligibility (2024)"),
    Difference("payout", "application_fee", "added", "payout fees (2024)"),
    Difference("payout", "application_fee_amount", "added", "payout fees (2024)"),
    Difference("payout", "payout_method", "added", "payout methods (2025)"),
    Difference("payout", "trace_id", "added", "payout trace ids (2024)"),
    Difference("refund", "customer", "added", "refund.customer (2025)"),
    Difference("refund", "destination_details", "added", "refund destination details (2023-10-16)"),
    Difference("refund", "payment_method", "added", "refund.payment_method (2025)"),
    Difference("refund", "customer_account", "added", _ACCOUNTS),
    Difference("payment_intent", "customer_account", "added", _ACCOUNTS),
    Difference("payment_intent", "excluded_payment_method_types", "added", "added 2025"),
    Difference("payment_intent", "managed_payments", "added", "managed payments (2026)"),
    Difference("payment_intent", "payment_method_configuration_details", "added", "payment method configurations (2023-10-16)"),
    Difference("payment_intent", "source", "added", "the fixtures still carry the legacy source field"),
    Difference("plan", "meter", "added", "billing meters (2024-04-10)"),
    Difference("invoiceitem", "parent", "added", _BASIL_LINES),
    Difference("invoiceitem", "pricing", "added", _BASIL_LINES),
    Difference("invoiceitem", "net_amount", "added", "added 2025"),
    Difference("invoiceitem", "quantity_decimal", "added", "decimal quantities added 2025"),
    Difference("invoiceitem", "customer_account", "added", _ACCOUNTS),
    Difference("payment_method", "allow_redisplay", "added", "allow_redisplay (2024-06-20)"),
    Difference("payment_method", "customer_account", "added", _ACCOUNTS),
)


def spec_overlay(document: dict[str, Any]) -> None:
    """Patch a (converted, closed) copy of the spec with `KNOWN_DIFFERENCES`: what CURRENT responses are checked
    against. Added fields accept any value; removed ones are no longer required."""
    schemas = document["components"]["schemas"]
    for diff in KNOWN_DIFFERENCES:
        schema = schemas[diff.schema]
        if diff.change == "added":
            schema.setdefault("properties", {})[diff.field] = {}
        elif diff.change == "removed":
            schema["required"] = [r for r in schema.get("required", []) if r != diff.field]
            if not schema["required"]:
                del schema["required"]
    # Nested objects the fixtures render with fields newer than the spec (reviewed with the list above).
    for name, fields in NESTED_ADDED.items():
        schemas[name].setdefault("properties", {}).update({f: {} for f in fields})


NESTED_ADDED: dict[str, tuple[str, ...]] = {
    # Sub-objects of the current shapes with fields added after the spec (field: the change that added it).
    "automatic_tax": ("liability", "disabled_reason", "provider"),  # Connect tax liability (2023-10-16), 2024-2025
    "subscription_automatic_tax": ("liability", "disabled_reason"),  # same
    "billing_details": ("tax_id",),  # billing tax ids, 2025
    "dispute_evidence_details": ("enhanced_eligibility",),  # enhanced evidence, 2024
    "dispute_payment_method_details_card": ("case_type",),  # card dispute case types, 2024
    "payment_method_card": ("display_brand", "regulated_status"),  # 2024-2025 card fields
    "recurring": ("meter", "trial_period_days"),  # billing meters (2024-04-10); trial days shown on recurring
}
