"""The Social/Ads section of the digest: reads only the Meta tiles (models/tiles/meta/_meta__tiles.yml).

Ads: spend, purchases and their value under the tiles' attribution setting, ROAS and CPA against the previous
period, Shopify net sales beside it (blended ROAS), the best campaign by ROAS. Social: followers per platform at the
period's end and net follows in it, engagement rate over the period (sum of engagements / sum of daily reach, the
tile's daily definition applied to the period's totals), the top post by engagements. Attention: a token that
expires within a week or is invalid (no alert on a falling ROAS: recent days' purchases are still arriving).
"""

from __future__ import annotations

from decimal import Decimal
from typing import Any

from notifications import blocks as bk
from notifications.alerts import Alert
from notifications.digest import Period, Section
from notifications.tiles import TileReader

TOKEN_WARN_DAYS = 7


def _dec(value: Any) -> Decimal:
    return Decimal(str(value or 0))


def meta_section(reader: TileReader, period: Period) -> Section | None:
    lines: list[str] = []
    attention: list[str] = []
    prev = period.previous
    roi = "ads_campaign_roi"
    if reader.has(roi, "metric_date", "spend", "purchases", "purchase_value", "attribution_setting"):
        rows = reader.query(
            f"select metric_date between ? and ? as current, max(currency) as currency, max(attribution_setting) as setting, "
            f"sum(spend) as spend, sum(purchases) as purchases, sum(purchase_value) as value from {reader.ref(roi)} "
            "where metric_date between ? and ? group by 1",
            [period.start, period.end, prev.start, period.end],
        )
        now = next((r for r in rows if r["current"]), None)
        before = next((r for r in rows if not r["current"]), None)
        if now and _dec(now["spend"]) > 0:
            currency = now["currency"] or "USD"
            spend, value = _dec(now["spend"]), _dec(now["value"])
            roas = value / spend
            prev_roas = _dec(before["value"]) / _dec(before["spend"]) if before and _dec(before["spend"]) > 0 else None
            lines.append(f"*Meta ad spend* {bk.money(spend, currency)}  {bk.change(spend, before['spend'] if before else None)}")
            lines.append(f"Purchases {bk.number(now['purchases'])} · {bk.money(value, currency)} · ROAS {roas:.2f}"
                         f"{'' if prev_roas is None else f' (was {prev_roas:.2f})'} · {str(now['setting']).replace('_', ' ')}")
            if now["purchases"]:
                lines.append(f"Cost per purchase {bk.money(spend / _dec(now['purchases']), currency)}")
            # No "ROAS fell" alert: purchases are reported on the day of the click or view and keep arriving for up to
            # 7 days, so the latest days always look worse than they will be.
            lines.append("_Recent days' purchases are still arriving (7-day click attribution)._")
            best = reader.query(
                f"select campaign_name, sum(purchase_value) / nullif(sum(spend), 0) as roas from {reader.ref(roi)} "
                "where metric_date between ? and ? group by campaign_id, campaign_name having sum(spend) > 0 "
                "order by roas desc nulls last, campaign_name limit 1", [period.start, period.end])
            if best and best[0]["roas"] is not None:
                lines.append(f"Best campaign {bk.escape(str(best[0]['campaign_name']))} (ROAS {_dec(best[0]['roas']):.2f})")
    blended = "ads_blended_daily"
    if reader.has(blended, "metric_date", "ad_spend", "shopify_net_sales"):
        row = reader.query(f"select sum(ad_spend) as spend, sum(shopify_net_sales) as sales, sum(shopify_new_customers) as new "
                           f"from {reader.ref(blended)} where metric_date between ? and ?", [period.start, period.end])[0]
        if _dec(row["spend"]) > 0:
            line = f"Blended: Shopify net sales / Meta spend {(_dec(row['sales']) / _dec(row['spend'])):.2f}"
            if row["new"]:
                line += f" · {bk.money(_dec(row['spend']) / _dec(row['new']), 'USD')} per new customer"
            lines.append(line)
    overview = "social_overview"
    if reader.has(overview, "metric_date", "platform", "followers", "net_follows", "engagements", "reach"):
        rows = reader.query(
            f"select platform, sum(net_follows) as net, sum(engagements) as engagements, sum(reach) as reach, "
            f"max(case when metric_date = ? then followers end) as followers from {reader.ref(overview)} "
            "where metric_date between ? and ? group by platform order by platform", [period.end, period.start, period.end])
        for r in rows:
            rate = f" · engagement {bk.percent(_dec(r['engagements']) / _dec(r['reach']))}" if _dec(r["reach"]) > 0 else ""
            followers = bk.number(r["followers"]) if r["followers"] is not None else "?"
            lines.append(f"{str(r['platform']).capitalize()} followers {followers} ({int(r['net'] or 0):+d}){rate}")
    posts = "social_post_performance"
    if reader.has(posts, "published_date", "platform", "engagements"):
        top = reader.query(f"select platform, post_type, engagements from {reader.ref(posts)} where published_date between ? and ? "
                           "order by engagements desc nulls last, post_id limit 1", [period.start, period.end])
        if top and top[0]["engagements"]:
            lines.append(f"Top post: {top[0]['platform']} {top[0]['post_type']} with {bk.number(top[0]['engagements'])} engagements")
    token = "meta_token_status"
    if reader.has(token, "is_valid", "days_left"):
        for r in reader.query(f"select is_valid, days_left from {reader.ref(token)}"):
            if not r["is_valid"]:
                attention.append("Meta access token is invalid: renew META_ACCESS_TOKEN")
            elif r["days_left"] is not None and r["days_left"] <= TOKEN_WARN_DAYS:
                attention.append(f"Meta access token expires in {r['days_left']} day(s): renew META_ACCESS_TOKEN")
    if not lines and not attention:
        return None
    return Section("Social & ads (Meta)", lines, attention)


def token_alerts() -> list[Alert]:
    """After each extraction: an alert while the token expires within a week (its warning, loaded as token_status)."""
    import duckdb

    from pipelines.common.storage import raw_db_path

    path = raw_db_path("meta")
    if not path.exists():
        return []
    with duckdb.connect(str(path), read_only=True) as conn:
        found = conn.execute("select count(*) from information_schema.tables where table_schema = 'raw_meta' "
                             "and table_name = 'token_status'").fetchone()
        if not found or not found[0]:
            return []
        rows = conn.execute("select warning from raw_meta.token_status where warning is not null").fetchall()
    return [Alert(key="provider:meta:token_expiry", title="meta: access token expires soon", summary=str(w)) for (w,) in rows]
