with

campaigns as (

    select * from {{ ref('dim_email_campaigns') }}
    where is_sent and send_date <= {{ as_of_date() }}

),

events as (

    select * from {{ ref('fct_email_events') }}
    where source_type = 'campaign'

),

orders as (

    select * from {{ ref('fct_order_attributions') }}
    where attributed_source_type = 'campaign'

),

campaign_events as (

    select
        events.source_id as campaign_id,
        count(distinct case when events.metric_name in ('Received Email', 'Bounced Email') then events.profile_id end) as recipients,
        count(distinct case when events.metric_name = 'Received Email' then events.profile_id end) as delivered,
        count(distinct case when events.metric_name = 'Bounced Email' then events.profile_id end) as bounces,
        count(distinct case when events.metric_name = 'Opened Email' and not events.is_machine_open then events.profile_id end) as unique_opens,
        count(distinct case when events.metric_name = 'Opened Email' then events.profile_id end) as unique_opens_incl_machine,
        count(distinct case when events.metric_name = 'Clicked Email' then events.profile_id end) as unique_clicks,
        count(distinct case when events.metric_name = 'Unsubscribed from Email Marketing' then events.profile_id end) as unsubscribes,
        count(distinct case when events.metric_name = 'Marked Email as Spam' then events.profile_id end) as spam_complaints

    from events
    group by events.source_id

),

campaign_orders as (

    select
        attributed_source_id as campaign_id,
        count(*) as attributed_orders,
        sum(attributed_revenue) as attributed_revenue

    from orders
    group by attributed_source_id

),

final as (

    select
        campaigns.campaign_id,
        campaigns.campaign_name,
        campaigns.subject,
        campaigns.send_date,
        cast(coalesce(campaign_events.recipients, 0) as integer) as recipients,
        cast(coalesce(campaign_events.delivered, 0) as integer) as delivered,
        cast(coalesce(campaign_events.bounces, 0) as integer) as bounces,
        cast(coalesce(campaign_events.unique_opens, 0) as integer) as unique_opens,
        cast(coalesce(campaign_events.unique_opens_incl_machine, 0) as integer) as unique_opens_incl_machine,
        cast(coalesce(campaign_events.unique_clicks, 0) as integer) as unique_clicks,
        cast(campaign_events.unique_opens / nullif(campaign_events.delivered, 0) as decimal(9, 4)) as open_rate,
        cast(campaign_events.unique_clicks / nullif(campaign_events.delivered, 0) as decimal(9, 4)) as click_rate,
        cast(campaign_events.unique_clicks / nullif(campaign_events.unique_opens, 0) as decimal(9, 4)) as click_to_open_rate,
        cast(coalesce(campaign_events.unsubscribes, 0) as integer) as unsubscribes,
        cast(coalesce(campaign_events.spam_complaints, 0) as integer) as spam_complaints,
        cast(coalesce(campaign_orders.attributed_orders, 0) as integer) as attributed_orders,
        cast(coalesce(campaign_orders.attributed_revenue, 0) as decimal(18, 2)) as attributed_revenue

    from campaigns
    left join campaign_events on campaigns.campaign_id = campaign_events.campaign_id
    left join campaign_orders on campaigns.campaign_id = campaign_orders.campaign_id

)

select * from final
