with

orders as (

    select * from {{ ref('stg_shopify__orders') }}
    where not is_cancelled and not is_test

),

line_items as (

    select order_id, sum(gross_amount) as gross_amount
    from {{ ref('stg_shopify__order_line_items') }}
    group by order_id

),

refunds as (

    select
        cast(refunded_at as date) as activity_date,
        currency,
        sum(refund_amount) as refunds

    from {{ ref('stg_shopify__refunds') }}
    group by 1, 2

),

customer_firsts as (

    select customer_id, first_order_at from {{ ref('int_shopify__customer_orders_aggregated') }}

),

order_days as (

    select
        cast(orders.created_at as date) as activity_date,
        orders.currency,
        count(*) as orders_count,
        sum(line_items.gross_amount) as gross_sales,
        sum(orders.total_discounts) as discounts,
        sum(orders.total_shipping) as shipping,
        sum(orders.total_tax) as taxes,
        sum(orders.total_price) as total_sales,
        count(distinct case when orders.created_at = customer_firsts.first_order_at then orders.customer_id end)
            as new_customers,
        count(distinct case when orders.created_at > customer_firsts.first_order_at then orders.customer_id end)
            as returning_customers

    from orders
    left join line_items on orders.order_id = line_items.order_id
    left join customer_firsts on orders.customer_id = customer_firsts.customer_id
    group by 1, 2

),

currencies as (

    select distinct currency from orders

),

spine as (

    select cast(day as date) as activity_date, currencies.currency
    from range(
        (select min(cast(created_at as date)) from orders),
        {{ as_of_date() }} + interval 1 day,
        interval 1 day
    ) as days(day)
    cross join currencies

),

final as (

    select
        spine.activity_date as order_date,
        spine.currency,
        cast(coalesce(order_days.orders_count, 0) as integer) as orders_count,
        cast(coalesce(order_days.gross_sales, 0) as decimal(18, 2)) as gross_sales,
        cast(coalesce(order_days.discounts, 0) as decimal(18, 2)) as discounts,
        cast(coalesce(order_days.shipping, 0) as decimal(18, 2)) as shipping,
        cast(coalesce(order_days.taxes, 0) as decimal(18, 2)) as taxes,
        cast(coalesce(order_days.total_sales, 0) as decimal(18, 2)) as total_sales,
        cast(coalesce(refunds.refunds, 0) as decimal(18, 2)) as refunds,
        cast(coalesce(order_days.total_sales, 0) - coalesce(refunds.refunds, 0) as decimal(18, 2)) as net_sales,
        cast(coalesce(order_days.new_customers, 0) as integer) as new_customers,
        cast(coalesce(order_days.returning_customers, 0) as integer) as returning_customers,
        cast(
            case when order_days.orders_count > 0 then order_days.total_sales / order_days.orders_count end
            as decimal(18, 2)
        ) as average_order_value

    from spine
    left join order_days
        on spine.activity_date = order_days.activity_date and spine.currency = order_days.currency
    left join refunds
        on spine.activity_date = refunds.activity_date and spine.currency = refunds.currency

)

select * from final
