-- Meta spend beside the shop's own numbers for the same day: what Meta claims (attributed purchase value) and what
-- Shopify booked (net sales, new customers), in the shop's currency.
with

campaign_days as (

    select * from {{ ref('fct_meta__ad_campaign_days') }}

),

shop_days as (

    select * from {{ ref('shopify_sales_daily') }}

),

ad_days as (

    select
        metric_date,
        currency,
        max(attribution_setting) as attribution_setting,
        sum(spend) as ad_spend,
        sum(purchases) as attributed_purchases,
        sum(purchase_value) as attributed_purchase_value

    from campaign_days
    group by metric_date, currency

),

final as (

    select
        ad_days.metric_date,
        ad_days.currency,
        ad_days.attribution_setting,
        ad_days.ad_spend,
        ad_days.attributed_purchases,
        ad_days.attributed_purchase_value,
        {{ meta_ratio('ad_days.attributed_purchase_value', 'ad_days.ad_spend', 4) }} as meta_roas,
        cast(coalesce(shop_days.net_sales, 0) as decimal(18, 2)) as shopify_net_sales,
        cast(coalesce(shop_days.new_customers, 0) as bigint) as shopify_new_customers,
        {{ meta_ratio('coalesce(shop_days.net_sales, 0)', 'ad_days.ad_spend', 4) }} as blended_roas,
        {{ meta_ratio('ad_days.ad_spend', 'shop_days.new_customers', 2) }} as cost_per_new_customer

    from ad_days
    left join shop_days
        on ad_days.metric_date = shop_days.order_date
        and upper(ad_days.currency) = upper(shop_days.currency)
    where ad_days.metric_date <= {{ as_of_date() }}

)

select * from final
