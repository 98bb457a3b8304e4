-- One row per Shopify order (test orders excluded), with Shopify's sales measures per order and the customer's
-- first-order date. `is_valid` = not cancelled: the orders counted as orders everywhere (DECISIONS.md#shopify).
with

orders as (

    select * from {{ ref('stg_shopify__orders') }}
    where not is_test

),

line_items as (

    select
        order_id,
        sum(case when not is_gift_card then gross_amount else 0 end) as gross_sales,
        sum(case when is_gift_card then gross_amount else 0 end) as gift_card_sales

    from {{ ref('stg_shopify__order_line_items') }}
    group by order_id

),

customer_orders as (

    select * from {{ ref('int_shopify__customer_orders_aggregated') }}

),

final as (

    select
        orders.order_id,
        orders.order_name,
        orders.customer_id,
        orders.email,
        orders.currency,
        orders.created_at,
        cast(orders.created_at at time zone 'UTC' as date) as order_date,
        orders.cancelled_at,
        not orders.is_cancelled as is_valid,
        orders.financial_status,
        orders.fulfillment_status,
        coalesce(line_items.gross_sales, 0) as gross_sales,
        orders.total_discounts as discounts,
        coalesce(line_items.gift_card_sales, 0) as gift_card_sales,
        orders.total_shipping as shipping,
        orders.total_tax as taxes,
        orders.total_price,
        orders.total_refunded,
        orders.net_revenue,
        cast(customer_orders.first_order_at at time zone 'UTC' as date) as customer_first_order_date,
        orders.created_at = customer_orders.first_order_at as is_customer_first_order

    from orders
    left join line_items on orders.order_id = line_items.order_id
    left join customer_orders on orders.customer_id = customer_orders.customer_id

)

select * from final
