-- One row per Klaviyo email campaign, with its message's subject.
with

campaigns as (

    select * from {{ ref('stg_klaviyo__campaigns') }}

),

messages as (

    select * from {{ ref('int_klaviyo__messages_unioned') }}
    where source_type = 'campaign'

),

final as (

    select
        campaigns.campaign_id,
        campaigns.campaign_name,
        messages.message_id,
        messages.subject,
        campaigns.campaign_status,
        campaigns.channel,
        campaigns.is_archived,
        campaigns.is_sent,
        campaigns.sent_at,
        campaigns.send_date

    from campaigns
    left join messages on campaigns.campaign_id = messages.source_id

)

select * from final
