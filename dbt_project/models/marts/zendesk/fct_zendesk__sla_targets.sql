-- One row per SLA target on a counted ticket (deleted, spam and merged tickets left out), with what the #support
-- breach notice shows: ticket link, priority, requester.
with

targets as (

    select * from {{ ref('int_zendesk__sla_targets_evaluated') }}

),

tickets as (

    select * from {{ ref('int_zendesk__tickets_classified') }}
    where not is_excluded

),

final as (

    select
        targets.ticket_id || ':' || targets.metric || ':' || targets.instance_id as sla_target_id,
        targets.ticket_id,
        targets.metric,
        targets.instance_id,
        targets.sla_metric,
        targets.sla_policy_id,
        targets.sla_policy_title,
        targets.target_minutes,
        targets.is_business_hours,
        targets.applied_at,
        targets.breached_at,
        targets.fulfilled_at,
        targets.sla_status,
        {{ zendesk_utc_date('targets.applied_at') }} as applied_date,
        {{ zendesk_utc_date('targets.breached_at') }} as breached_date,
        case when targets.sla_status = 'achieved' then {{ zendesk_utc_date('targets.fulfilled_at') }} end as achieved_date,
        tickets.priority,
        tickets.status as ticket_status,
        tickets.ticket_url,
        tickets.requester_name,
        tickets.requester_email,
        tickets.assignee_id

    from targets
    inner join tickets on targets.ticket_id = tickets.ticket_id

)

select * from final
