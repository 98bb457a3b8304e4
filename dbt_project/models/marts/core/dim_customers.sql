with

customers as (

    select * from {{ ref('stg_shopify__customers') }}

),

order_totals as (

    select * from {{ ref('int_shopify__customer_orders_aggregated') }}

),

final as (

    select
        customers.customer_id,
        customers.email,
        customers.first_name,
        customers.last_name,
        customers.phone,
        customers.city,
        customers.province,
        customers.country_code,
        customers.accepts_marketing,
        customers.created_at,
        customers.updated_at,
        coalesce(order_totals.orders_count, 0) as orders_count,
        coalesce(order_totals.total_spent, 0) as total_spent,
        order_totals.first_order_at,
        order_totals.last_order_at

    from customers
    left join order_totals on customers.customer_id = order_totals.customer_id

)

select * from final
