-- One row per email message, campaign or flow, with the campaign/flow it belongs to.
with

campaigns as (

    select * from {{ ref('stg_klaviyo__campaigns') }}

),

campaign_messages as (

    select * from {{ ref('stg_klaviyo__campaign_messages') }}

),

flows as (

    select * from {{ ref('stg_klaviyo__flows') }}

),

flow_messages as (

    select * from {{ ref('stg_klaviyo__flow_messages') }}

),

final as (

    select
        campaign_messages.campaign_message_id as message_id,
        'campaign' as source_type,
        campaigns.campaign_id as source_id,
        campaigns.campaign_name as source_name,
        campaign_messages.subject

    from campaign_messages
    inner join campaigns on campaign_messages.campaign_id = campaigns.campaign_id

    union all

    select
        flow_messages.flow_message_id as message_id,
        'flow' as source_type,
        flows.flow_id as source_id,
        flows.flow_name as source_name,
        flow_messages.subject

    from flow_messages
    inner join flows on flow_messages.flow_id = flows.flow_id

)

select * from final
