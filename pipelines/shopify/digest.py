"""The Shopify section of the Slack digest: reads only Shopify's published tiles; None when they are not published."""

from __future__ import annotations

from datetime import date
from decimal import Decimal
from typing import Any

from notifications import blocks as bk
from notifications.digest import Period, Section, drop_line, sum_by_currency
from notifications.tiles import TileReader

REFUND_SHARE_ALERT = Decimal("0.10")


def shopify_section(reader: TileReader, period: Period) -> Section | None:
    table = "shopify_sales_daily"
    if not reader.has(table, "order_date", "currency", "orders_count", "net_sales"):
        return None
    cols = ["orders_count", "net_sales", "order_value", "orders_total", "refunds", "new_customers", "returning_customers"]
    cols = [c for c in cols if reader.has(table, c)]
    lines: list[str] = []
    attention: list[str] = []
    for currency, row in sum_by_currency(reader, table, "order_date", cols, period).items():
        def fmt(v: Any, c: str = currency) -> str:
            return bk.money(v, c)

        suffix = f" ({currency})" if currency != "USD" else ""
        # Shopify's net sales (gross sales - discounts - returns; no shipping, taxes or gift cards), as its reports say.
        lines.append(f"*Net sales{suffix}* {fmt(row['net_sales'])}  {bk.change(row['net_sales'], row['prev_net_sales'])}"
                     " _(Shopify's: gross − discounts − returns)_")
        orders, prev_orders = row["orders_count"] or 0, row["prev_orders_count"] or 0
        lines.append(f"Orders {bk.number(orders)}  {bk.change(orders, prev_orders)}")
        if "order_value" in row and orders:  # Shopify's AOV: (gross sales - discounts) / orders
            aov = Decimal(str(row["order_value"] or 0)) / orders
            prev_aov = Decimal(str(row["prev_order_value"] or 0)) / prev_orders if prev_orders else None
            lines.append(f"Average order {fmt(aov)}  {bk.change(aov, prev_aov)}")
        if "new_customers" in row:
            lines.append(f"Customers: {bk.number(row['new_customers'])} new, {bk.number(row.get('returning_customers'))} returning")
        if "refunds" in row and row["refunds"]:
            lines.append(f"Refunds {fmt(row['refunds'])}  {bk.change(row['refunds'], row['prev_refunds'])}")
        for problem in (
            drop_line(f"Shopify net sales{suffix}", row["net_sales"], row["prev_net_sales"], period, fmt),
            drop_line(f"Shopify orders{suffix}", orders, prev_orders, period, bk.number, min_base=Decimal(10)),
        ):
            if problem:
                attention.append(problem)
        total = Decimal(str(row.get("orders_total") or 0))
        refunds = Decimal(str(row.get("refunds") or 0))
        if total > 0 and refunds / total >= REFUND_SHARE_ALERT:
            attention.append(f"Shopify refunds{suffix} were {refunds / total * 100:.0f}% of sales ({fmt(refunds)})")
    if not lines:
        return None
    return Section("Shopify", lines, attention)


def last_active_day(reader: TileReader) -> date | None:
    """The last day with Shopify orders in the tiles (the digest never reports on a day past the data)."""
    if not reader.has("shopify_sales_daily", "order_date", "orders_count"):
        return None
    day: date | None = reader.query(f"select max(order_date) as d from {reader.ref('shopify_sales_daily')} where orders_count > 0")[0]["d"]
    return day
