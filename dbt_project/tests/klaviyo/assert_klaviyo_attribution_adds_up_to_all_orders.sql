-- Each order is counted once: our attributed + unattributed rows add up to every order, no more (an order
-- attributed to both a campaign and a flow would make the sum exceed the order count).
with tile as (

    select sum(attributed_orders) as orders, sum(attributed_revenue) as revenue
    from {{ ref('klaviyo_email_attribution') }}

),

orders as (

    select count(*) as orders, sum(order_revenue) as revenue
    from {{ ref('fct_order_attributions') }}

)

select * from tile, orders
where tile.orders != orders.orders or tile.revenue != orders.revenue
