with

source as (

    select * from {{ source('zendesk', 'ticket_metric_sets') }}

),

renamed as (

    select
        id as metric_set_id,
        ticket_id,
        replies,
        reopens,
        group_stations,
        assignee_stations,
        cast(solved_at as timestamptz) as solved_at,
        cast(assigned_at as timestamptz) as assigned_at,
        cast(initially_assigned_at as timestamptz) as initially_assigned_at,
        cast(latest_comment_added_at as timestamptz) as latest_comment_added_at,
        {{ zendesk_minutes('reply_time_in_minutes', 'calendar') }} as first_reply_calendar_minutes,
        {{ zendesk_minutes('reply_time_in_minutes', 'business') }} as first_reply_business_minutes,
        {{ zendesk_minutes('first_resolution_time_in_minutes', 'calendar') }} as first_resolution_calendar_minutes,
        {{ zendesk_minutes('first_resolution_time_in_minutes', 'business') }} as first_resolution_business_minutes,
        {{ zendesk_minutes('full_resolution_time_in_minutes', 'calendar') }} as full_resolution_calendar_minutes,
        {{ zendesk_minutes('full_resolution_time_in_minutes', 'business') }} as full_resolution_business_minutes,
        {{ zendesk_minutes('agent_wait_time_in_minutes', 'calendar') }} as agent_wait_calendar_minutes,
        {{ zendesk_minutes('requester_wait_time_in_minutes', 'calendar') }} as requester_wait_calendar_minutes,
        {{ zendesk_minutes('on_hold_time_in_minutes', 'calendar') }} as on_hold_calendar_minutes,
        cast(created_at as timestamptz) as created_at,
        cast(updated_at as timestamptz) as updated_at

    from source

)

select * from renamed
