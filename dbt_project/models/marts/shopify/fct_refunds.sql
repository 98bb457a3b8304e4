-- One row per Shopify refund (money given back: returned goods, their tax, shipping), dated by its issue day (UTC).
with

refunds as (

    select * from {{ ref('stg_shopify__refunds') }}

),

orders as (

    select order_id, is_valid from {{ ref('fct_orders') }}

),

final as (

    select
        refunds.refund_id,
        refunds.order_id,
        refunds.currency,
        refunds.refunded_at,
        cast(refunds.refunded_at at time zone 'UTC' as date) as refund_date,
        refunds.refund_amount,
        orders.is_valid as is_order_valid

    from refunds
    inner join orders on refunds.order_id = orders.order_id

)

select * from final
