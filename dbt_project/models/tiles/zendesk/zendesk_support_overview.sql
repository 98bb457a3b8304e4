with

tickets as (

    select * from {{ ref('fct_zendesk__tickets') }}
    where not is_excluded and created_date <= {{ as_of_date() }}

),

solve_events as (

    select solve_events.*
    from {{ ref('int_zendesk__solve_events_sequenced') }} as solve_events
    inner join tickets on solve_events.ticket_id = tickets.ticket_id

),

orders as (

    select order_date as date_day, count(*) as shopify_orders
    from {{ ref('fct_orders') }}
    where is_valid
    group by 1

),

days as (

    select cast(unnest(generate_series(min(created_date), {{ as_of_date() }}, interval 1 day)) as date) as date_day
    from tickets

),

created as (

    select
        created_date as date_day,
        count(*) as tickets_created,
        count(*) filter (where is_shopify_customer) as tickets_from_customers,
        quantile_cont(first_reply_calendar_minutes, 0.5) as first_reply_median_calendar_minutes,
        quantile_cont(first_reply_calendar_minutes, 0.9) as first_reply_p90_calendar_minutes,
        quantile_cont(first_reply_business_minutes, 0.5) as first_reply_median_business_minutes,
        quantile_cont(first_reply_business_minutes, 0.9) as first_reply_p90_business_minutes

    from tickets
    group by 1

),

resolved as (

    select
        solved_date as date_day,
        quantile_cont(full_resolution_calendar_minutes, 0.5) as full_resolution_median_calendar_minutes,
        quantile_cont(full_resolution_calendar_minutes, 0.9) as full_resolution_p90_calendar_minutes,
        quantile_cont(full_resolution_business_minutes, 0.5) as full_resolution_median_business_minutes,
        quantile_cont(full_resolution_business_minutes, 0.9) as full_resolution_p90_business_minutes,
        avg(case when is_one_touch then 1.0 else 0.0 end) as one_touch_resolution_rate

    from tickets
    where solved_date is not null
    group by 1

),

solves as (

    select
        {{ zendesk_utc_date('occurred_at') }} as date_day,
        count(*) filter (where is_solve) as tickets_solved,
        count(*) filter (where is_reopen) as tickets_reopened

    from solve_events
    group by 1

),

backlog as (

    select days.date_day, count(distinct solve_events.ticket_id) as open_backlog
    from days
    inner join solve_events
        on solve_events.occurred_at < {{ zendesk_day_end('days.date_day') }}
        and (solve_events.next_occurred_at is null or solve_events.next_occurred_at >= {{ zendesk_day_end('days.date_day') }})
        and solve_events.is_unsolved_after
    group by 1

),

final as (

    select
        days.date_day,
        coalesce(created.tickets_created, 0) as tickets_created,
        coalesce(created.tickets_from_customers, 0) as tickets_from_customers,
        coalesce(solves.tickets_solved, 0) as tickets_solved,
        coalesce(solves.tickets_reopened, 0) as tickets_reopened,
        coalesce(backlog.open_backlog, 0) as open_backlog,
        created.first_reply_median_calendar_minutes,
        created.first_reply_p90_calendar_minutes,
        created.first_reply_median_business_minutes,
        created.first_reply_p90_business_minutes,
        resolved.full_resolution_median_calendar_minutes,
        resolved.full_resolution_p90_calendar_minutes,
        resolved.full_resolution_median_business_minutes,
        resolved.full_resolution_p90_business_minutes,
        resolved.one_touch_resolution_rate,
        coalesce(orders.shopify_orders, 0) as shopify_orders,
        case when orders.shopify_orders > 0 then 100 * cast(coalesce(created.tickets_created, 0) as double) / orders.shopify_orders end
            as tickets_per_100_orders

    from days
    left join created on days.date_day = created.date_day
    left join resolved on days.date_day = resolved.date_day
    left join solves on days.date_day = solves.date_day
    left join backlog on days.date_day = backlog.date_day
    left join orders on days.date_day = orders.date_day

)

select * from final
