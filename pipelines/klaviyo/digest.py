"""The Klaviyo section of the Slack digest: reads only Klaviyo's published tiles; None when they are not published."""

from __future__ import annotations

from decimal import Decimal

from notifications import blocks as bk
from notifications.digest import Period, Section
from notifications.tiles import TileReader

# Columns as published by dbt_project/models/tiles/klaviyo/_klaviyo__tiles.yml (revenue there is USD).
SPAM_RATE_ALERT = Decimal("0.003")
"""Gmail's and Yahoo's bulk-sender rule: keep spam complaints below 0.3 % of delivered mail."""


def klaviyo_section(reader: TileReader, period: Period) -> Section | None:
    lines: list[str] = []
    attention: list[str] = []
    campaigns = "klaviyo_campaign_performance"
    if reader.has(campaigns, "send_date", "delivered", "unique_opens", "unique_clicks"):
        revenue = "sum(attributed_revenue)" if reader.has(campaigns, "attributed_revenue") else "null"
        spam = "sum(spam_complaints)" if reader.has(campaigns, "spam_complaints") else "0"
        prev = period.previous
        rows = reader.query(
            f"select send_date between ? and ? as current, count(*) as n, sum(delivered) as delivered, "
            f"sum(unique_opens) as opens, sum(unique_clicks) as clicks, {revenue} as revenue, {spam} as spam "
            f"from {reader.ref(campaigns)} where send_date between ? and ? group by 1",
            [period.start, period.end, prev.start, period.end],
        )
        now = next((r for r in rows if r["current"]), None)
        before = next((r for r in rows if not r["current"]), None)
        if now and now["n"]:
            delivered = Decimal(now["delivered"] or 0)
            lines.append(f"*Campaigns sent* {bk.number(now['n'])} · {bk.number(delivered)} delivered")
            if delivered:
                lines.append(f"Open rate {bk.percent(Decimal(now['opens'] or 0) / delivered)} · click rate {bk.percent(Decimal(now['clicks'] or 0) / delivered)}")
                if Decimal(now["spam"] or 0) / delivered >= SPAM_RATE_ALERT:
                    attention.append(f"Klaviyo spam complaints at {bk.percent(Decimal(now['spam']) / delivered, 2)} of delivered email (limit 0.3%)")
            if now["revenue"] is not None:
                versus = f"  {bk.change(now['revenue'], before['revenue'])}" if before and before["n"] else ""
                lines.append(f"Attributed revenue {bk.money(now['revenue'], 'USD')}{versus}")
        elif period.kind == "weekly":
            lines.append("No campaigns sent")
    segments = "klaviyo_segment_health"
    if reader.has(segments, "group_name", "metric_date", "profile_count"):
        growth = "new_members" if reader.has(segments, "new_members") else "null"
        rows = reader.query(
            f"select group_name, profile_count, (select sum({growth}) from {reader.ref(segments)} s2 "
            f"where s2.group_name = s.group_name and s2.metric_date between ? and ?) as joined "
            f"from {reader.ref(segments)} s where metric_date = ? order by profile_count desc, group_name limit 3",
            [period.start, period.end, period.end],
        )
        if rows:
            lines.append("Largest segments: " + ", ".join(
                f"{bk.escape(str(r['group_name']))} {bk.number(r['profile_count'])}" + (f" (+{bk.number(r['joined'])})" if r["joined"] else "")
                for r in rows
            ))
    stages = "klaviyo_lifecycle_stages"
    if reader.has(stages, "lifecycle_stage", "customers"):
        order = "stage_order" if reader.has(stages, "stage_order") else "lifecycle_stage"
        rows = reader.query(f"select lifecycle_stage, customers from {reader.ref(stages)} order by {order}")
        if rows:
            lines.append("Customers by stage: " + " · ".join(
                f"{str(r['lifecycle_stage']).replace('_', ' ')} {bk.number(r['customers'])}" for r in rows
            ))
    if not lines:
        return None
    return Section("Klaviyo", lines, attention)
