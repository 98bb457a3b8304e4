with

campaign_days as (

    select * from {{ ref('fct_meta__ad_campaign_days') }}

),

final as (

    select
        campaign_id,
        campaign_name,
        metric_date,
        attribution_setting,
        currency,
        spend,
        impressions,
        reach,
        clicks,
        link_clicks,
        purchases,
        purchase_value,
        {{ meta_ratio('purchase_value', 'spend', 4) }} as roas,
        {{ meta_ratio('spend', 'purchases', 2) }} as cpa,
        {{ meta_ratio('clicks', 'impressions', 6) }} as ctr,
        {{ meta_ratio('spend', 'clicks', 4) }} as cpc

    from campaign_days
    where metric_date <= {{ as_of_date() }}

)

select * from final
