with

customers as (

    select * from {{ ref('dim_customer_lifecycle') }}

),

orders as (

    select * from {{ ref('fct_orders') }}
    where is_valid

),

stages as (

    select * from (
        values
            (1, 'prospect', 'No order yet'),
            (2, 'new', 'One order, the last within the at-risk threshold'),
            (3, 'repeat', 'Two or more orders, the last within the at-risk threshold'),
            (4, 'at_risk', 'Last order older than klaviyo_at_risk_after_days'),
            (5, 'lapsed', 'Last order older than klaviyo_lapsed_after_days')
    ) as t (stage_order, lifecycle_stage, stage_definition)

),

recent_revenue as (

    select
        customer_id,
        sum(net_revenue) as revenue_last_90d

    from orders
    -- The last 90 days include their first day (DECISIONS.md#windows-and-periods), as the at-risk threshold does:
    -- a customer whose last order was 90 days ago is still `new`/`repeat`, and that order is in this revenue.
    where order_date >= {{ as_of_date() }} - 90
        and order_date <= {{ as_of_date() }}
    group by customer_id

),

per_stage as (

    select
        customers.lifecycle_stage,
        count(*) as customers,
        count(*) filter (where customers.is_engaged_30d) as engaged_30d_customers,
        sum(customers.orders_count) as orders,
        sum(customers.total_spent) as lifetime_revenue,
        sum(coalesce(recent_revenue.revenue_last_90d, 0)) as revenue_last_90d

    from customers
    left join recent_revenue on customers.customer_id = recent_revenue.customer_id
    group by customers.lifecycle_stage

),

final as (

    select
        stages.lifecycle_stage,
        stages.stage_order,
        stages.stage_definition,
        cast(coalesce(per_stage.customers, 0) as integer) as customers,
        cast(coalesce(per_stage.customers, 0) / nullif(sum(coalesce(per_stage.customers, 0)) over (), 0) as decimal(9, 4)) as share_of_customers,
        cast(coalesce(per_stage.engaged_30d_customers, 0) as integer) as engaged_30d_customers,
        cast(per_stage.engaged_30d_customers / nullif(per_stage.customers, 0) as decimal(9, 4)) as engaged_30d_share,
        cast(coalesce(per_stage.orders, 0) as integer) as orders,
        cast(coalesce(per_stage.lifetime_revenue, 0) as decimal(18, 2)) as lifetime_revenue,
        cast(coalesce(per_stage.revenue_last_90d, 0) as decimal(18, 2)) as revenue_last_90d

    from stages
    left join per_stage on stages.lifecycle_stage = per_stage.lifecycle_stage

)

select * from final
