"""Shopify source: customers and orders (with line items and refunds) from the Admin GraphQL API.

Both resources are incremental on `updatedAt` (search `updated_at:>='<cursor>'`, sorted by UPDATED_AT ascending)
and merged on `id` into `raw_shopify`. Refunds and fulfilment changes bump an order's `updatedAt`, so a re-read of
changed orders replaces their nested line items and refunds too (dlt merge replaces child rows of merged parents).

Interval reload (Airflow backfills, see `dags/dagkit/extract.py`): with options `interval_start` / `interval_end`
both resources read exactly the records updated in `[start, end)` (`updated_at:>='start' AND updated_at:<'end'`).
The incremental gets an `end_value`, which makes dlt treat it as stateless: the saved cursor does not move, so the
next scheduled run continues where it would have.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import dlt
from dlt.sources import DltResource

from pipelines.common.config import ProviderConfig
from pipelines.common.interval import reload_interval

from . import settings
from .helpers import ShopifyClient, ShopifyResponseError, gid_to_int, money

CUSTOMERS_QUERY = """
query Customers($first: Int!, $after: String, $query: String) {
  customers(first: $first, after: $after, sortKey: UPDATED_AT, query: $query) {
    nodes {
      id firstName lastName phone state tags verifiedEmail taxExempt locale note createdAt updatedAt numberOfOrders
      defaultEmailAddress { emailAddress marketingState }
      amountSpent { amount currencyCode }
      defaultAddress { city province provinceCode country countryCodeV2 zip }
    }
    pageInfo { hasNextPage endCursor }
  }
}
"""

ORDERS_QUERY = """
query Orders($first: Int!, $after: String, $query: String, $lineItems: Int!, $refunds: Int!, $refundLines: Int!) {
  orders(first: $first, after: $after, sortKey: UPDATED_AT, query: $query) {
    nodes {
      id name email createdAt processedAt updatedAt cancelledAt cancelReason closedAt currencyCode test sourceName tags
      displayFinancialStatus displayFulfillmentStatus
      customer { id }
      subtotalPriceSet { shopMoney { amount currencyCode } }
      totalDiscountsSet { shopMoney { amount currencyCode } }
      totalShippingPriceSet { shopMoney { amount currencyCode } }
      totalTaxSet { shopMoney { amount currencyCode } }
      totalPriceSet { shopMoney { amount currencyCode } }
      totalRefundedSet { shopMoney { amount currencyCode } }
      currentTotalPriceSet { shopMoney { amount currencyCode } }
      lineItems(first: $lineItems) {
        nodes { id title sku quantity currentQuantity isGiftCard originalUnitPriceSet { shopMoney { amount currencyCode } } }
        pageInfo { hasNextPage endCursor }
      }
      refunds(first: $refunds) {
        id createdAt note
        totalRefundedSet { shopMoney { amount currencyCode } }
        refundLineItems(first: $refundLines) { nodes { quantity lineItem { id } subtotalSet { shopMoney { amount currencyCode } } } }
      }
    }
    pageInfo { hasNextPage endCursor }
  }
}
"""

MORE_LINE_ITEMS_QUERY = """
query MoreLineItems($id: ID!, $first: Int!, $after: String) {
  order(id: $id) {
    lineItems(first: $first, after: $after) {
      nodes { id title sku quantity currentQuantity isGiftCard originalUnitPriceSet { shopMoney { amount currencyCode } } }
      pageInfo { hasNextPage endCursor }
    }
  }
}
"""


# Often-null columns are declared so the raw tables have them from the first load on.
CUSTOMER_COLUMNS: dict[str, Any] = {
    "note": {"data_type": "text"}, "phone": {"data_type": "text"}, "email": {"data_type": "text"},
    "first_name": {"data_type": "text"}, "last_name": {"data_type": "text"},
}
ORDER_COLUMNS: dict[str, Any] = {
    "cancelled_at": {"data_type": "timestamp"}, "closed_at": {"data_type": "timestamp"},
    "cancel_reason": {"data_type": "text"}, "email": {"data_type": "text"}, "customer_id": {"data_type": "text"},
}


# A backfill run honours `interval_start` / `interval_end` (the DAG contract in dags/dagkit/extract.py).


def _since(cursor: Any, until: Any = None) -> str:
    query = f"updated_at:>='{cursor}'"
    return f"{query} AND updated_at:<'{until}'" if until else query


def _cursor(options: dict[str, Any]) -> dlt.sources.incremental[str]:
    """The `updatedAt` cursor: saved and advanced normally, or pinned to a reload interval (stateless)."""
    interval = reload_interval("shopify", options)
    if interval is None:
        return dlt.sources.incremental("updatedAt", initial_value=settings.INITIAL_UPDATED_AT, row_order="asc")
    # As Shopify's `updatedAt` values: `2026-10-01T00:00:00Z`, which compare correctly as text.
    start, end = (moment.strftime("%Y-%m-%dT%H:%M:%SZ") for moment in (interval.start, interval.end))
    return dlt.sources.incremental("updatedAt", initial_value=start, end_value=end, row_order="asc")


def _customer_row(node: dict[str, Any]) -> dict[str, Any]:
    email = node.pop("defaultEmailAddress", None) or {}
    spent = node.pop("amountSpent", None) or {}
    return {
        **node,
        "legacy_id": gid_to_int(node["id"]),
        "email": email.get("emailAddress"),
        "email_marketing_state": email.get("marketingState"),
        "amount_spent": spent.get("amount"),
        "amount_spent_currency": spent.get("currencyCode"),
    }


def _line_item_row(li: dict[str, Any]) -> dict[str, Any]:
    price = li.pop("originalUnitPriceSet", None)
    return {**li, "legacy_id": gid_to_int(li["id"]), "unit_price": money(price)}


def _order_row(client: ShopifyClient, node: dict[str, Any]) -> dict[str, Any]:
    line_items = node.pop("lineItems")
    items = [_line_item_row(li) for li in line_items["nodes"]]
    page = line_items["pageInfo"]
    while page.get("hasNextPage"):  # rare: more line items than fit in the page's cost budget
        data = client.execute(MORE_LINE_ITEMS_QUERY, {"id": node["id"], "first": 100, "after": page["endCursor"]})
        more = (data.get("order") or {}).get("lineItems")
        if not more:
            raise ShopifyResponseError(f"order {node['id']} vanished while paging its line items")
        items += [_line_item_row(li) for li in more["nodes"]]
        page = more["pageInfo"]
    refunds = []
    for refund in node.pop("refunds") or []:
        lines = refund.pop("refundLineItems")["nodes"]
        refunds.append(
            {
                **refund,
                "legacy_id": gid_to_int(refund["id"]),
                "amount": money(refund.pop("totalRefundedSet")),
                # subtotal: the returned line's value after discounts, before tax (Shopify's "returns").
                "line_items": [{"line_item_id": ln["lineItem"]["id"], "quantity": ln["quantity"], "subtotal": money(ln.get("subtotalSet"))}
                               for ln in lines],
            }
        )
    customer = node.pop("customer") or {}
    row = {key: value for key, value in node.items() if not key.endswith("Set")}
    row.update(
        legacy_id=gid_to_int(node["id"]),
        customer_id=customer.get("id"),
        subtotal_price=money(node.get("subtotalPriceSet")),
        total_discounts=money(node.get("totalDiscountsSet")),
        total_shipping=money(node.get("totalShippingPriceSet")),
        total_tax=money(node.get("totalTaxSet")),
        total_price=money(node.get("totalPriceSet")),
        total_refunded=money(node.get("totalRefundedSet")),
        current_total_price=money(node.get("currentTotalPriceSet")),
        line_items=items,
        refunds=refunds,
    )
    return row


@dlt.source(name="shopify")  # nesting depth: one for all sources, pipelines/common/raw_schema.py
def source(config: ProviderConfig) -> list[DltResource]:
    client = ShopifyClient(config)
    _cursor(config.options)  # validate a reload interval before any request

    @dlt.resource(name="customers", primary_key="id", write_disposition="merge", columns=CUSTOMER_COLUMNS)
    def customers(updated_at: dlt.sources.incremental[str] = _cursor(config.options)) -> Iterator[list[dict[str, Any]]]:  # noqa: B008 - dlt idiom
        variables = {
            "first": settings.CUSTOMERS_PAGE_SIZE,
            "query": _since(updated_at.start_value, updated_at.end_value),
        }
        for nodes in client.paginate(CUSTOMERS_QUERY, "customers", variables):
            yield [_customer_row(n) for n in nodes]

    @dlt.resource(name="orders", primary_key="id", write_disposition="merge", columns=ORDER_COLUMNS)
    def orders(updated_at: dlt.sources.incremental[str] = _cursor(config.options)) -> Iterator[list[dict[str, Any]]]:  # noqa: B008 - dlt idiom
        variables = {
            "first": settings.ORDERS_PAGE_SIZE,
            "query": _since(updated_at.start_value, updated_at.end_value),
            "lineItems": settings.LINE_ITEMS_PAGE_SIZE,
            "refunds": settings.REFUNDS_PER_ORDER,
            "refundLines": settings.REFUND_LINE_ITEMS_PAGE_SIZE,
        }
        for nodes in client.paginate(ORDERS_QUERY, "orders", variables):
            yield [_order_row(client, n) for n in nodes]

    return [customers, orders]
