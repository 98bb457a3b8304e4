-- One row per campaign and day: additive measures summed over the campaign's ads that day, and the campaign's reach
-- for the day as the API reports it at campaign level (people reached by two ads count once; never a sum of ads).
with

ad_days as (

    select * from {{ ref('stg_meta__ads_insights') }}

),

campaign_days as (

    select * from {{ ref('stg_meta__ads_insights_campaign') }}

),

summed as (

    select
        campaign_id,
        date_start as metric_date,
        max(currency) as currency,
        max(attribution_setting) as attribution_setting,
        count(distinct attribution_setting) as attribution_settings,
        sum(spend) as spend,
        sum(impressions) as impressions,
        sum(clicks) as clicks,
        sum(link_clicks) as link_clicks,
        sum(purchases) as purchases,
        sum(purchase_value) as purchase_value

    from ad_days
    group by campaign_id, date_start

),

final as (

    select
        summed.*,
        campaign_days.campaign_name,
        campaign_days.reach

    from summed
    left join campaign_days
        on summed.campaign_id = campaign_days.campaign_id
        and summed.metric_date = campaign_days.date_start

)

select * from final
