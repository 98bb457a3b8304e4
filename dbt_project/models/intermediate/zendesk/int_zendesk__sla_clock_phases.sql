-- The running / fulfilled phases of each SLA target's clock, so a day's "still active" count can read the state at
-- midnight: a phase starts at an activate or fulfill event and lasts until the next one.
with

events as (

    select * from {{ ref('stg_zendesk__ticket_metric_events') }}
    where event_type in ('activate', 'fulfill')

),

targets as (

    select ticket_id, metric, instance_id from {{ ref('int_zendesk__sla_targets_evaluated') }}

),

final as (

    select
        events.ticket_id,
        events.metric,
        events.instance_id,
        events.occurred_at as phase_started_at,
        lead(events.occurred_at) over (
            partition by events.ticket_id, events.metric, events.instance_id order by events.occurred_at, events.metric_event_id
        ) as phase_ended_at,
        events.event_type = 'fulfill' as is_fulfilled

    from events
    inner join targets
        on events.ticket_id = targets.ticket_id
        and events.metric = targets.metric
        and events.instance_id = targets.instance_id

)

select * from final
