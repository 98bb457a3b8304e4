with

campaign_days as (

    select * from {{ ref('int_meta__campaign_days_joined') }}

),

campaigns as (

    select * from {{ ref('stg_meta__ad_campaigns') }}

),

final as (

    select
        campaign_days.campaign_id,
        coalesce(campaigns.campaign_name, campaign_days.campaign_name) as campaign_name,
        campaign_days.metric_date,
        campaign_days.currency,
        campaign_days.attribution_setting,
        campaign_days.spend,
        campaign_days.impressions,
        campaign_days.reach,
        campaign_days.clicks,
        campaign_days.link_clicks,
        campaign_days.purchases,
        campaign_days.purchase_value

    from campaign_days
    left join campaigns
        on campaign_days.campaign_id = campaigns.campaign_id

)

select * from final
