-- One row per human email engagement (an open that is not a machine open, or a click), with the profile's email
-- and the campaign/flow of the message. Machine opens (Apple Mail privacy protection) are left out: they happen
-- whether or not anyone read the email, so they neither count as engagement nor earn attribution here.
with

events as (

    select * from {{ ref('stg_klaviyo__events') }}

),

profiles as (

    select * from {{ ref('stg_klaviyo__profiles') }}

),

messages as (

    select * from {{ ref('int_klaviyo__messages_unioned') }}

),

touches as (

    select *
    from events
    where metric_name = 'Clicked Email'
        or (metric_name = 'Opened Email' and not is_machine_open)

),

final as (

    select
        touches.event_id,
        touches.profile_id,
        profiles.email,
        touches.occurred_at,
        cast(touches.occurred_at at time zone 'UTC' as date) as touch_date,
        case touches.metric_name when 'Clicked Email' then 'click' else 'open' end as touch_type,
        touches.message_id,
        messages.source_type,
        messages.source_id

    from touches
    left join profiles on touches.profile_id = profiles.profile_id
    left join messages on touches.message_id = messages.message_id

)

select * from final
