-- A ticket's solve / unsolve history, from Zendesk's own requester_wait_time metric events: the metric is
-- fulfilled when the ticket is solved, paused while pending, and activated again when it becomes open, which makes
-- an activation that follows a fulfilment a reopen.
with

events as (

    select * from {{ ref('stg_zendesk__ticket_metric_events') }}
    where metric = 'requester_wait_time' and event_type in ('activate', 'pause', 'fulfill')

),

sequenced as (

    select
        metric_event_id,
        ticket_id,
        event_type,
        occurred_at,
        lead(occurred_at) over (partition by ticket_id order by occurred_at, metric_event_id) as next_occurred_at,
        lag(event_type) over (partition by ticket_id order by occurred_at, metric_event_id) as previous_event_type

    from events

),

final as (

    select
        metric_event_id,
        ticket_id,
        event_type,
        occurred_at,
        next_occurred_at,
        event_type = 'fulfill' as is_solve,
        event_type = 'activate' and coalesce(previous_event_type = 'fulfill', false) as is_reopen,
        event_type <> 'fulfill' as is_unsolved_after

    from sequenced

)

select * from final
