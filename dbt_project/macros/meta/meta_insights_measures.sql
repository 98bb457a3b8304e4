{#- The columns every Ads Insights report shares (one per level and breakdown: ad, campaign, age x gender, country),
    typed once: the reports differ only in their key columns. -#}
{% macro meta_insights_measures() -%}
cast("date" as date) as date_start,
        cast(date_stop as date) as date_stop,
        currency,
        attribution_setting,
        cast(spend as decimal(18, 2)) as spend,
        cast(impressions as bigint) as impressions,
        cast(reach as bigint) as reach,
        cast(clicks as bigint) as clicks,
        cast(inline_link_clicks as bigint) as link_clicks,
        cast(purchases as bigint) as purchases,
        cast(purchase_value as decimal(18, 2)) as purchase_value,
        cast(purchases_7d_click as bigint) as purchases_7d_click,
        cast(purchases_1d_view as bigint) as purchases_1d_view,
        cast(purchase_value_7d_click as decimal(18, 2)) as purchase_value_7d_click,
        cast(purchase_value_1d_view as decimal(18, 2)) as purchase_value_1d_view,
        cast(purchase_roas as decimal(18, 6)) as api_purchase_roas
{%- endmacro %}
