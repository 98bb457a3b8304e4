-- One row per Klaviyo email event that belongs to a message (received, bounced, opened, clicked, unsubscribed,
-- marked as spam, ...), with the campaign or flow the message belongs to.
with

events as (

    select * from {{ ref('stg_klaviyo__events') }}
    where message_id is not null

),

messages as (

    select * from {{ ref('int_klaviyo__messages_unioned') }}

),

final as (

    select
        events.event_id,
        events.metric_name,
        events.profile_id,
        events.occurred_at,
        cast(events.occurred_at at time zone 'UTC' as date) as event_date,
        events.message_id,
        messages.source_type,
        messages.source_id,
        events.is_machine_open

    from events
    left join messages on events.message_id = messages.message_id

)

select * from final
