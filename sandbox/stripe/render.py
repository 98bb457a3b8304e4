"""Render the Stripe world's objects as the API does at the SDK's pinned version (post-Basil shapes).

Every object starts from its key set in `shapes.json` (the keys of the official `fixtures3.json` example of that
resource, values nulled) so unset fields are present and null, as Stripe sends them; then the fields the business
cares about are filled in. `at` is the instant to render: `world.now` for the API, the event time for events.
"""

from __future__ import annotations

import json
from functools import cache
from pathlib import Path
from typing import Any

from .world import (
    API_VERSION,
    BalanceTransaction,
    Charge,
    Coupon,
    Customer,
    Discount,
    Dispute,
    Event,
    Invoice,
    Line,
    PaymentIntent,
    PaymentMethod,
    Payout,
    Price,
    Refund,
    StripeWorld,
    Subscription,
)

SHAPES_FILE = Path(__file__).with_name("shapes.json")


@cache
def shapes() -> dict[str, dict[str, Any]]:
    return json.loads(SHAPES_FILE.read_text())


@cache
def _template(resource: str, object_name: str | None) -> tuple[dict[str, Any], tuple[str, ...], tuple[str, ...]]:
    """The resource's keys in order with their null values, and which keys hold an empty list or dict instead."""
    template = {k: None if type(v) in (list, dict) else v for k, v in shapes()[resource].items()}
    if "object" in template:
        template["object"] = object_name or resource
    if "livemode" in template:
        template["livemode"] = False
    lists = tuple(k for k, v in shapes()[resource].items() if type(v) is list)
    dicts = tuple(k for k, v in shapes()[resource].items() if type(v) is dict)
    return template, lists, dicts


def blank(resource: str, object_name: str | None = None) -> dict[str, Any]:
    # Template values are null, [] or {}: a copy of the nulls plus fresh containers (never shared between objects)
    # is several times cheaper than building the dict key by key, on every object rendered.
    template, lists, dicts = _template(resource, object_name)
    obj = template.copy()
    for key in lists:
        obj[key] = []
    for key in dicts:
        obj[key] = {}
    return obj


def list_object(url: str, data: list[dict[str, Any]], has_more: bool) -> dict[str, Any]:
    return {"object": "list", "data": data, "has_more": has_more, "url": url}


def customer(c: Customer, sw: StripeWorld, at: int) -> dict[str, Any]:
    obj = blank("customer")
    obj.update(
        id=c.id,
        created=c.created,
        email=c.email,
        name=c.name,
        phone=c.phone,
        currency=c.currency,
        balance=0,
        delinquent=False,
        discount=None,
        address={
            "city": c.city,
            "country": c.country,
            "line1": None,
            "line2": None,
            "postal_code": None,
            "state": None,
        },
        invoice_prefix=c.id[-8:].upper(),
        invoice_settings={
            "custom_fields": None,
            "default_payment_method": sw.payment_method_of(c.id),
            "footer": None,
            "rendering_options": None,
        },
        metadata={"shopify_customer_id": str(c.world_customer_id)},
        next_invoice_sequence=1,
        preferred_locales=[],
        shipping=None,
        tax_exempt="none",
    )
    return obj


def product(p: dict[str, Any], sw: StripeWorld, at: int) -> dict[str, Any]:
    obj = blank("product")
    obj.update(
        id=p["id"],
        created=p["created"],
        updated=p["created"],
        name=p["name"],
        active=True,
        type=p["type"],
        images=[],
        marketing_features=[],
        metadata={},
    )
    return obj


def price(p: Price, sw: StripeWorld, at: int) -> dict[str, Any]:
    obj = blank("price")
    recurring = None
    if p.interval:
        recurring = {
            "interval": p.interval,
            "interval_count": p.interval_count,
            "meter": None,
            "usage_type": p.usage_type,
            "trial_period_days": None,
        }
    obj.update(
        id=p.id,
        created=p.created,
        active=True,
        billing_scheme="per_unit",
        currency=p.currency,
        product=p.product,
        recurring=recurring,
        type="recurring" if p.interval else "one_time",
        unit_amount=p.unit_amount,
        unit_amount_decimal=str(p.unit_amount),
        lookup_key=p.key,
        nickname=p.key,
        tax_behavior="exclusive",
        custom_unit_amount=None,
        transform_quantity=None,
        tiers_mode=None,
    )
    return obj


def plan(p: Price) -> dict[str, Any]:
    """The legacy `plan` mirror of a recurring price, still embedded in subscription items."""
    return {
        "id": p.id,
        "object": "plan",
        "active": True,
        "amount": p.unit_amount,
        "amount_decimal": str(p.unit_amount),
        "billing_scheme": "per_unit",
        "created": p.created,
        "currency": p.currency,
        "interval": p.interval,
        "interval_count": p.interval_count,
        "livemode": False,
        "metadata": {},
        "meter": None,
        "nickname": p.key,
        "product": p.product,
        "tiers_mode": None,
        "transform_usage": None,
        "trial_period_days": None,
        "usage_type": p.usage_type,
    }


def coupon(c: Coupon, sw: StripeWorld, at: int) -> dict[str, Any]:
    obj = blank("coupon")
    obj.update(
        id=c.id,
        created=c.created,
        name=c.name,
        percent_off=c.percent_off,
        amount_off=c.amount_off,
        currency=c.currency,
        duration=c.duration,
        duration_in_months=c.duration_in_months,
        max_redemptions=None,
        redeem_by=None,
        times_redeemed=0,
        valid=True,
        metadata={},
    )
    return obj


def discount(d: Discount) -> dict[str, Any]:
    obj = blank("discount")
    obj.update(
        id=d.id,
        customer=d.customer,
        subscription=d.subscription,
        start=d.start,
        end=d.end,
        source={"coupon": d.coupon, "type": "coupon"},
    )
    return obj


def subscription_item(item: Any, s: Subscription, v: Any, sw: StripeWorld, at: int) -> dict[str, Any]:
    p = sw.prices[item.price]
    it = blank("subscription_item")
    it.update(
        id=item.id,
        created=item.created,
        price=price(p, sw, at),
        plan=plan(p),
        quantity=item.quantity,
        subscription=s.id,
        current_period_start=v.period[0],
        current_period_end=v.period[1],
        discounts=[],
        tax_rates=[],
        metadata={},
        billing_thresholds=None,
    )
    return it


def standalone_subscription_item(s: Subscription, item_id: str, sw: StripeWorld, at: int) -> dict[str, Any]:
    """`/v1/subscription_items/{id}`: the item as its subscription has it now (or last had it, if removed)."""
    v = s.at(at)
    assert v is not None, "rendering a subscription item before its subscription exists"
    versions = [x for x in s.versions if x.at <= at and any(i.id == item_id for i in x.items)]
    holder = v if any(i.id == item_id for i in v.items) else versions[-1]
    item = next(i for i in holder.items if i.id == item_id)
    return subscription_item(item, s, holder, sw, at)


def subscription(s: Subscription, sw: StripeWorld, at: int, expand: frozenset[str] = frozenset()) -> dict[str, Any]:
    v = s.at(at)
    assert v is not None, "rendering a subscription before it exists"
    items = [subscription_item(item, s, v, sw, at) for item in v.items]
    discounts: list[Any] = list(v.discounts)
    if "discounts" in expand:
        discounts = [discount(sw.discounts[d]) for d in v.discounts]
    obj = blank("subscription")
    obj.update(
        id=s.id,
        created=s.created,
        customer=s.customer,
        currency=s.currency,
        status=v.status,
        start_date=s.created,
        billing_cycle_anchor=s.trial_end or s.created,
        billing_cycle_anchor_config=None,
        cancel_at_period_end=v.cancel_at_period_end,
        cancel_at=v.cancel_at,
        canceled_at=v.canceled_at,
        ended_at=v.ended_at,
        cancellation_details={"comment": None, "feedback": None, "reason": v.cancellation_reason},
        collection_method="charge_automatically",
        trial_start=s.trial_start,
        trial_end=s.trial_end,
        discounts=discounts,
        items=list_object(f"/v1/subscription_items?subscription={s.id}", items, False),
        latest_invoice=v.latest_invoice,
        metadata={},
        default_tax_rates=[],
        automatic_tax={"enabled": False, "liability": None, "disabled_reason": None},
        billing_mode={"type": "flexible"},
        pause_collection=None,
        pending_update=None,
        billing_thresholds=None,
        billing_schedules=[],
    )
    return obj


def invoice_status(inv: Invoice, at: int) -> str:
    if inv.voided_at is not None and inv.voided_at <= at:
        return "void"
    if inv.paid_at is not None and inv.paid_at <= at:
        return "paid"
    return "open"


def invoice_item_id(line: Line) -> str:
    return "ii_" + line.id[3:]


def invoiceitem(line: Line, inv: Invoice, sw: StripeWorld) -> dict[str, Any]:
    """A one-off line's invoice item (`/v1/invoiceitems`), already invoiced on `inv`."""
    p = sw.prices[line.price]
    obj = blank("invoiceitem")
    obj.update(
        id=invoice_item_id(line),
        amount=line.amount,
        currency=inv.currency,
        customer=inv.customer,
        date=inv.created,
        description=line.description,
        discountable=True,
        discounts=[d for d, _ in line.discount_amounts],
        invoice=inv.id,
        metadata={},
        net_amount=line.amount - sum(a for _, a in line.discount_amounts),
        parent=None,
        period={"start": line.period[0], "end": line.period[1]},
        pricing={"type": "price_details", "price_details": {"price": p.id, "product": p.product}, "unit_amount_decimal": str(p.unit_amount)},
        proration=False,
        quantity=line.quantity,
        quantity_decimal=str(line.quantity),
        tax_rates=[],
        test_clock=None,
        customer_account=None,
    )
    return obj


def line_item(line: Line, inv: Invoice, sw: StripeWorld) -> dict[str, Any]:
    p = sw.prices[line.price]
    obj = blank("line_item")
    if line.kind == "subscription_item_details":
        parent = {
            "type": "subscription_item_details",
            "invoice_item_details": None,
            "subscription_item_details": {
                "invoice_item": None,
                "proration": line.proration,
                "proration_details": {"credited_items": None},
                "subscription": inv.subscription,
                "subscription_item": line.subscription_item,
            },
        }
    else:
        parent = {
            "type": "invoice_item_details",
            "subscription_item_details": None,
            "invoice_item_details": {
                "invoice_item": invoice_item_id(line),
                "proration": False,
                "proration_details": {"credited_items": None},
                "subscription": None,
            },
        }
    obj.update(
        id=line.id,
        amount=line.amount,
        currency=inv.currency,
        description=line.description,
        discount_amounts=[{"amount": a, "discount": d} for d, a in line.discount_amounts],
        discountable=True,
        discounts=[d for d, _ in line.discount_amounts],
        invoice=inv.id,
        metadata={},
        parent=parent,
        period={"start": line.period[0], "end": line.period[1]},
        pricing={
            "type": "price_details",
            "price_details": {"price": p.id, "product": p.product},
            "unit_amount_decimal": str(p.unit_amount),
        },
        quantity=line.quantity,
        subtotal=line.amount,
        taxes=[],
        pretax_credit_amounts=[],
    )
    return obj


def invoice(inv: Invoice, sw: StripeWorld, at: int, expand: frozenset[str] = frozenset()) -> dict[str, Any]:
    status = invoice_status(inv, at)
    total, subtotal = inv.total, inv.subtotal  # properties that sum the lines: once per rendering
    paid = total if status == "paid" else 0
    attempts = sum(1 for a in inv.failed_attempts if a <= at) + (1 if status == "paid" and total > 0 else 0)
    lines = [line_item(line, inv, sw) for line in inv.lines]
    cus = sw.customers[inv.customer]
    discount_total = sum(a for line in inv.lines for _, a in line.discount_amounts)
    obj = blank("invoice")
    obj.update(
        id=inv.id,
        number=inv.number,
        created=inv.created,
        effective_at=inv.created,
        customer=inv.customer,
        customer_email=cus.email,
        customer_name=cus.name,
        currency=inv.currency,
        account_country="US",
        status=status,
        billing_reason=inv.billing_reason,
        collection_method="charge_automatically",
        amount_due=total,
        amount_paid=paid,
        amount_remaining=0 if status in ("paid", "void") else total,
        amount_overpaid=0,
        amount_shipping=0,
        attempt_count=attempts,
        attempted=attempts > 0,
        auto_advance=status == "open",
        subtotal=subtotal,
        subtotal_excluding_tax=subtotal,
        total=total,
        total_excluding_tax=total,
        total_discount_amounts=[{"amount": a, "discount": d} for line in inv.lines for d, a in line.discount_amounts],
        total_taxes=[],
        total_pretax_credit_amounts=[],
        discounts=[discount(sw.discounts[d]) if "discounts" in expand else d for d in inv.discounts],
        lines=list_object(f"/v1/invoices/{inv.id}/lines", lines[:10], len(lines) > 10),
        parent={
            "type": "subscription_details",
            "quote_details": None,
            "subscription_details": {"metadata": {}, "subscription": inv.subscription},
        }
        if inv.subscription
        else None,
        period_start=inv.period[0],
        period_end=inv.period[1],
        starting_balance=0,
        ending_balance=0,
        status_transitions={
            "finalized_at": inv.created,
            "paid_at": inv.paid_at if status == "paid" else None,
            "voided_at": inv.voided_at if status == "void" else None,
            "marked_uncollectible_at": None,
        },
        metadata={},
        issuer={"type": "self"},
        automatic_tax={"enabled": False, "liability": None, "status": None, "disabled_reason": None, "provider": None},
        customer_tax_exempt="none",
        customer_tax_ids=[],
        default_tax_rates=[],
        payment_settings={"default_mandate": None, "payment_method_options": None, "payment_method_types": None},
        pre_payment_credit_notes_amount=0,
        post_payment_credit_notes_amount=0,
        webhooks_delivered_at=inv.created,
    )
    obj["subscription"] = None  # kept for shape, unset since Basil (see `parent`)
    if discount_total == 0:
        obj["total_discount_amounts"] = []
    return obj


def charge(c: Charge, sw: StripeWorld, at: int) -> dict[str, Any]:
    refunded = sum(sw.refunds[r].amount for r in c.refunds if sw.refunds[r].created <= at)
    disputed = c.dispute is not None and sw.disputes[c.dispute].created <= at
    succeeded = c.status == "succeeded"
    obj = blank("charge")
    del obj["refunds"]  # includable: only with expand[]=refunds (sandbox.stripe.objects)
    obj.update(
        id=c.id,
        created=c.created,
        amount=c.amount,
        amount_captured=c.amount if succeeded else 0,
        amount_refunded=refunded,
        refunded=succeeded and refunded >= c.amount,
        captured=succeeded,
        paid=succeeded,
        status=c.status,
        currency=c.currency,
        customer=c.customer,
        description="Subscription payment",
        balance_transaction=c.balance_transaction,
        disputed=disputed,
        failure_code=c.failure_code,
        failure_message="Your card was declined." if c.failure_code else None,
        outcome={
            "network_status": "approved_by_network" if succeeded else "declined_by_network",
            "reason": None if succeeded else "generic_decline",
            "risk_level": "normal",
            "seller_message": "Payment complete."
            if succeeded
            else "The bank did not return any further details with this decline.",
            "type": "authorized" if succeeded else "issuer_declined",
        },
        payment_method_details={
            "type": "card",
            "card": {
                "brand": "visa",
                "checks": {"address_line1_check": None, "address_postal_code_check": None, "cvc_check": "pass"},
                "country": "US",
                "exp_month": 12,
                "exp_year": 2030,
                "fingerprint": sw.payment_methods[sw.payment_method_of(c.customer)].fingerprint,
                "funding": "credit",
                "installments": None,
                "last4": "4242",
                "mandate": None,
                "network": "visa",
                "network_token": None,
                "three_d_secure": None,
                "wallet": None,
            },
        },
        billing_details={
            "address": None,
            "email": sw.customers[c.customer].email,
            "name": sw.customers[c.customer].name,
            "phone": None,
            "tax_id": None,
        },
        metadata={"invoice": c.invoice or ""},
        payment_intent=sw.payment_intent_of_charge(c.id),
        payment_method=sw.payment_method_of(c.customer),
        fraud_details={},
        shipping=None,
        source=None,
        transfer_data=None,
    )
    return obj


def refund(r: Refund, sw: StripeWorld, at: int) -> dict[str, Any]:
    obj = blank("refund")
    obj.update(
        id=r.id,
        amount=r.amount,
        balance_transaction=r.balance_transaction,
        charge=r.charge,
        created=r.created,
        currency=r.currency,
        reason=r.reason,
        status="succeeded",
        metadata={},
        customer=sw.charges[r.charge].customer,
        destination_details=None,
    )
    return obj


def balance_transaction(b: BalanceTransaction, sw: StripeWorld, at: int) -> dict[str, Any]:
    obj = blank("balance_transaction")
    obj.update(
        id=b.id,
        amount=b.amount,
        available_on=b.available_on,
        created=b.created,
        currency=b.currency,
        description=b.description,
        fee=b.fee,
        fee_details=[
            {
                "amount": b.fee,
                "application": None,
                "currency": b.currency,
                "description": "Stripe processing fees",
                "type": "stripe_fee",
            }
        ]
        if b.fee
        else [],
        net=b.net,
        reporting_category=b.reporting_category,
        source=b.source,
        status="available" if b.available_on <= at else "pending",
        type=b.type,
        balance_type="payments",
    )
    return obj


def payout(p: Payout, sw: StripeWorld, at: int) -> dict[str, Any]:
    status = p.status_at(at)
    failed = status == "failed"
    obj = blank("payout")
    obj.update(
        id=p.id,
        amount=p.amount,
        arrival_date=p.arrival_date,
        automatic=True,
        balance_transaction=p.balance_transaction,
        created=p.created,
        currency=p.currency,
        description="STRIPE PAYOUT",
        destination="ba_" + p.id[3:17],
        failure_balance_transaction=p.failure_balance_transaction if failed else None,
        failure_code=p.failure_code if failed else None,
        failure_message=p.failure_message if failed else None,
        method="standard",
        reconciliation_status="completed" if status in ("paid", "failed") else "in_progress",
        source_type="card",
        status=status,
        type="bank_account",
        metadata={},
        trace_id=None,
    )
    return obj


def dispute(d: Dispute, sw: StripeWorld, at: int) -> dict[str, Any]:
    status = d.status_at(at)
    evidence_submitted = any(s == "under_review" and t <= at for t, s in d.transitions)
    obj = blank("dispute")
    obj.update(
        id=d.id,
        amount=d.amount,
        balance_transactions=[
            balance_transaction(sw.balance_transactions[txn], sw, at) for t, txn in d.balance_transactions if t <= at
        ],
        charge=d.charge,
        created=d.created,
        currency=d.currency,
        evidence={
            "customer_email_address": sw.customers[sw.charges[d.charge].customer].email,
            "uncategorized_text": "Delivered, tracking attached." if evidence_submitted else None,
        },
        evidence_details={
            "due_by": d.due_by,
            "has_evidence": evidence_submitted,
            "past_due": status == "needs_response" and at > d.due_by,
            "submission_count": 1 if evidence_submitted else 0,
            "enhanced_eligibility": {},
        },
        is_charge_refundable=False,
        reason=d.reason,
        status=status,
        metadata={},
        payment_method_details={
            "type": "card",
            "card": {"brand": "visa", "case_type": "chargeback", "network_reason_code": "10.4"},
        },
        enhanced_eligibility_types=[],
    )
    return obj


def payment_intent(pi: PaymentIntent, sw: StripeWorld, at: int) -> dict[str, Any]:
    charges = [sw.charges[c] for c in pi.charges if sw.charges[c].created <= at]
    inv = sw.invoices[pi.invoice]
    latest = charges[-1] if charges else None
    if latest is not None and latest.status == "succeeded":
        status = "succeeded"
    elif inv.voided_at is not None and inv.voided_at <= at:
        status = "canceled"
    else:
        status = "requires_payment_method"
    failed = latest is not None and latest.status == "failed" and status != "succeeded"
    obj = blank("payment_intent")
    obj.update(
        id=pi.id,
        amount=pi.amount,
        amount_capturable=0,
        amount_details={"tip": {}},
        amount_received=pi.amount if status == "succeeded" else 0,
        automatic_payment_methods=None,
        canceled_at=inv.voided_at if status == "canceled" else None,
        cancellation_reason="void_invoice" if status == "canceled" else None,
        capture_method="automatic",
        client_secret=f"{pi.id}_secret_sandbox",
        confirmation_method="automatic",
        created=pi.created,
        currency=pi.currency,
        customer=pi.customer,
        description="Subscription update" if inv.billing_reason == "subscription_update" else "Subscription creation",
        last_payment_error={"code": "card_declined", "decline_code": "generic_decline", "message": "Your card was declined.", "type": "card_error"}
        if failed
        else None,
        latest_charge=latest.id if latest else None,
        metadata={},
        next_action=None,
        payment_method=sw.payment_method_of(pi.customer) if status != "requires_payment_method" else None,
        payment_method_configuration_details=None,
        payment_method_options={"card": {"installments": None, "mandate_options": None, "network": None, "request_three_d_secure": "automatic"}},
        payment_method_types=["card"],
        processing=None,
        status=status,
        shipping=None,
        transfer_data=None,
        managed_payments=None,
    )
    return obj


def payment_method(pm: PaymentMethod, sw: StripeWorld, at: int) -> dict[str, Any]:
    cus = sw.customers[pm.customer]
    obj = blank("payment_method")
    obj.update(
        id=pm.id,
        allow_redisplay="unspecified",
        billing_details={
            "address": {"city": cus.city, "country": cus.country, "line1": None, "line2": None, "postal_code": None, "state": None},
            "email": cus.email,
            "name": cus.name,
            "phone": None,
            "tax_id": None,
        },
        card={
            "brand": "visa",
            "checks": {"address_line1_check": None, "address_postal_code_check": None, "cvc_check": "pass"},
            "country": "US",
            "display_brand": "visa",
            "exp_month": 12,
            "exp_year": 2030,
            "fingerprint": pm.fingerprint,
            "funding": "credit",
            "generated_from": None,
            "last4": "4242",
            "networks": {"available": ["visa"], "preferred": None},
            "three_d_secure_usage": {"supported": True},
            "wallet": None,
            "regulated_status": "unregulated",
        },
        created=pm.created,
        customer=pm.customer,
        metadata={},
        type="card",
    )
    return obj


def balance(sw: StripeWorld, at: int) -> dict[str, Any]:
    """Available = net of everything available by now; pending = net of what is not yet (payouts included)."""
    available: dict[str, int] = {}
    pending: dict[str, int] = {}
    for b in sw.balance_transactions.values():
        if b.created > at:
            continue
        bucket = available if b.available_on <= at else pending
        bucket[b.currency] = bucket.get(b.currency, 0) + b.net
    currencies = sorted(set(available) | set(pending))
    obj = blank("balance")
    obj.update(
        available=[{"amount": available.get(c, 0), "currency": c, "source_types": {"card": available.get(c, 0)}} for c in currencies],
        pending=[{"amount": pending.get(c, 0), "currency": c, "source_types": {"card": pending.get(c, 0)}} for c in currencies],
        connect_reserved=[{"amount": 0, "currency": c} for c in currencies],
    )
    return obj


def _no_requirements() -> dict[str, Any]:
    return {"alternatives": [], "current_deadline": None, "currently_due": [], "disabled_reason": None, "errors": [],
            "eventually_due": [], "past_due": [], "pending_verification": []}


def account(sw: StripeWorld) -> dict[str, Any]:
    obj = blank("account")
    obj.update(
        id="acct_1NwrSandbox0000",
        created=sw.account_created,
        country="US",
        default_currency="usd",
        email="finance@northwind-roasters.example",
        business_type="company",
        business_profile={"name": "Northwind Roasters", "url": "https://northwind-roasters.example"},
        capabilities={"card_payments": "active", "transfers": "active"},
        controller={"type": "account"},
        external_accounts=list_object("/v1/accounts/acct_1NwrSandbox0000/external_accounts", [], False),
        requirements=_no_requirements(),
        future_requirements=_no_requirements(),
        tos_acceptance={"date": sw.account_created, "ip": None, "user_agent": None},
        charges_enabled=True,
        payouts_enabled=True,
        details_submitted=True,
        type="standard",
        metadata={},
    )
    return obj


RENDERERS: dict[str, Any] = {
    "customer": (customer, "customers"),
    "product": (product, "products"),
    "price": (price, "prices"),
    "coupon": (coupon, "coupons"),
    "subscription": (subscription, "subscriptions"),
    "invoice": (invoice, "invoices"),
    "charge": (charge, "charges"),
    "refund": (refund, "refunds"),
    "balance_transaction": (balance_transaction, "balance_transactions"),
    "payout": (payout, "payouts"),
    "dispute": (dispute, "disputes"),
}


def render(kind: str, object_id: str, sw: StripeWorld, at: int, expand: frozenset[str] = frozenset()) -> dict[str, Any]:
    fn, attr = RENDERERS[kind]
    source = getattr(sw, attr)[object_id]
    if kind in ("subscription", "invoice"):
        return fn(source, sw, at, expand)  # type: ignore[no-any-return]
    return fn(source, sw, at)  # type: ignore[no-any-return]


def event(e: Event, sw: StripeWorld) -> dict[str, Any]:
    data: dict[str, Any] = {"object": render(e.kind, e.object_id, sw, e.created)}
    if e.previous_attributes:
        data["previous_attributes"] = e.previous_attributes
    obj = blank("event")
    obj.update(
        id=e.id,
        api_version=API_VERSION,
        created=e.created,
        data=data,
        type=e.type,
        pending_webhooks=1,
        request={"id": None, "idempotency_key": None},
    )
    return obj
