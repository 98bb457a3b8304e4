with

tickets as (

    select * from {{ ref('int_zendesk__tickets_classified') }}

),

metric_sets as (

    select * from {{ ref('stg_zendesk__ticket_metric_sets') }}

),

customers as (

    select customer_id, email from {{ ref('dim_customers') }}

),

final as (

    select
        tickets.ticket_id,
        tickets.status,
        tickets.priority,
        tickets.ticket_type,
        tickets.via_channel,
        tickets.ticket_url,
        tickets.requester_id,
        tickets.requester_email,
        tickets.requester_name,
        customers.customer_id,
        customers.customer_id is not null as is_shopify_customer,
        tickets.assignee_id,
        tickets.group_id,
        tickets.organization_id,
        tickets.created_at,
        {{ zendesk_utc_date('tickets.created_at') }} as created_date,
        -- Zendesk's solved_at is the latest solve of a ticket that is solved or closed now.
        case when tickets.status in ('solved', 'closed') then metric_sets.solved_at end as solved_at,
        case when tickets.status in ('solved', 'closed') then {{ zendesk_utc_date('metric_sets.solved_at') }} end as solved_date,
        metric_sets.replies as public_agent_replies,
        metric_sets.reopens,
        metric_sets.first_reply_calendar_minutes,
        metric_sets.first_reply_business_minutes,
        metric_sets.full_resolution_calendar_minutes,
        metric_sets.full_resolution_business_minutes,
        tickets.status in ('solved', 'closed') and metric_sets.replies = 1 as is_one_touch,
        coalesce(metric_sets.reopens, 0) > 0 as is_reopened,
        tickets.is_excluded,
        tickets.exclusion_reason

    from tickets
    left join metric_sets on tickets.ticket_id = metric_sets.ticket_id
    left join customers on tickets.requester_email = customers.email

)

select * from final
