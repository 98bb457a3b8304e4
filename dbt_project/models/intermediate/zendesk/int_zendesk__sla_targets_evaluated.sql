-- One row per SLA target Zendesk measured on a ticket (ticket x metric x instance with an apply_sla event), with
-- the outcome Zendesk recorded: breached (a breach event not withdrawn), achieved (last fulfilled, never breached)
-- or still active. Built from Zendesk's metric events, not re-derived from field history and business hours.
with

events as (

    select * from {{ ref('stg_zendesk__ticket_metric_events') }}
    where not (event_type = 'breach' and is_deleted)

),

applied as (

    select
        ticket_id,
        metric,
        instance_id,
        min(occurred_at) as applied_at,
        arg_max(sla_policy_id, occurred_at) as sla_policy_id,
        arg_max(sla_policy_title, occurred_at) as sla_policy_title,
        arg_max(sla_target_minutes, occurred_at) as target_minutes,
        arg_max(is_sla_business_hours, occurred_at) as is_business_hours

    from events
    where event_type = 'apply_sla'
    group by 1, 2, 3

),

breaches as (

    select ticket_id, metric, instance_id, min(occurred_at) as breached_at
    from events
    where event_type = 'breach'
    group by 1, 2, 3

),

clock as (

    select
        ticket_id,
        metric,
        instance_id,
        arg_max(event_type, occurred_at) as last_clock_event,
        max(occurred_at) as last_clock_event_at

    from events
    where event_type in ('activate', 'fulfill')
    group by 1, 2, 3

),

final as (

    select
        applied.ticket_id,
        applied.metric,
        applied.instance_id,
        case
            when applied.metric = 'reply_time' and applied.instance_id = 1 then 'first_reply_time'
            when applied.metric = 'reply_time' then 'next_reply_time'
            when applied.metric = 'resolution_time' then 'total_resolution_time'
            else applied.metric
        end as sla_metric,
        applied.sla_policy_id,
        applied.sla_policy_title,
        applied.target_minutes,
        applied.is_business_hours,
        applied.applied_at,
        breaches.breached_at,
        case when clock.last_clock_event = 'fulfill' then clock.last_clock_event_at end as fulfilled_at,
        case
            when breaches.breached_at is not null then 'breached'
            when clock.last_clock_event = 'fulfill' then 'achieved'
            else 'active'
        end as sla_status

    from applied
    left join breaches
        on applied.ticket_id = breaches.ticket_id
        and applied.metric = breaches.metric
        and applied.instance_id = breaches.instance_id
    left join clock
        on applied.ticket_id = clock.ticket_id
        and applied.metric = clock.metric
        and applied.instance_id = clock.instance_id

)

select * from final
