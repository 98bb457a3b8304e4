with

orders as (

    select * from {{ ref('stg_shopify__orders') }}
    where not is_cancelled and not is_test

),

aggregated as (

    select
        customer_id,
        count(*) as orders_count,
        sum(net_revenue) as total_spent,
        min(created_at) as first_order_at,
        max(created_at) as last_order_at

    from orders
    where customer_id is not null
    group by customer_id

)

select * from aggregated
