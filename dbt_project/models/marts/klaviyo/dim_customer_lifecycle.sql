-- One row per Shopify customer with their lifecycle stage as of the as-of date, from Shopify orders
-- (dim_customers: orders not cancelled, not test) and their email engagement (human opens and clicks).
-- Thresholds are dbt vars (dbt_project.yml, `klaviyo_*`). The profile sync computes the same stage in Python
-- (pipelines/klaviyo/sync.py reads the same vars).
with

customers as (

    select * from {{ ref('dim_customers') }}

),

touches as (

    select * from {{ ref('fct_email_touches') }}

),

last_touch as (

    select
        email,
        max(touch_date) as last_engaged_date

    from touches
    where touch_date <= {{ as_of_date() }}
    group by email

),

staged as (

    select
        customers.customer_id,
        customers.email,
        customers.orders_count,
        customers.total_spent,
        customers.last_order_at,
        date_diff('day', cast(customers.last_order_at at time zone 'UTC' as date), {{ as_of_date() }}) as days_since_last_order,
        last_touch.last_engaged_date,
        -- Windows include their first day (DECISIONS.md#windows-and-periods): engaged = a touch on as_of - 30 or later.
        coalesce(last_touch.last_engaged_date >= {{ as_of_date() }} - {{ var('klaviyo_engaged_days_short') }}, false) as is_engaged_30d

    from customers
    left join last_touch on customers.email = last_touch.email

),

final as (

    select
        *,
        case
            when orders_count = 0 then 'prospect'
            when days_since_last_order > {{ var('klaviyo_lapsed_after_days') }} then 'lapsed'
            when days_since_last_order > {{ var('klaviyo_at_risk_after_days') }} then 'at_risk'
            when orders_count = 1 then 'new'
            else 'repeat'
        end as lifecycle_stage

    from staged

)

select * from final
