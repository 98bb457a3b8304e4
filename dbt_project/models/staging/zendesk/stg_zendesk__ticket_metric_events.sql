with

source as (

    select * from {{ source('zendesk', 'ticket_metric_events') }}

),

renamed as (

    select
        id as metric_event_id,
        ticket_id,
        metric,
        instance_id,
        type as event_type,
        cast(time as timestamptz) as occurred_at,
        cast(sla -> 'policy' ->> 'id' as bigint) as sla_policy_id,
        sla -> 'policy' ->> 'title' as sla_policy_title,
        cast(sla ->> 'target' as integer) as sla_target_minutes,
        cast(sla ->> 'business_hours' as boolean) as is_sla_business_hours,
        cast(status ->> 'calendar' as integer) as status_calendar_minutes,
        cast(status ->> 'business' as integer) as status_business_minutes,
        -- A breach Zendesk later withdrew (the SLA was re-applied) is flagged deleted and must not count.
        coalesce(deleted, false) as is_deleted

    from source

)

select * from renamed
