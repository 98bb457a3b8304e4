-- One row per returned (refunded) order line: Shopify's "returns", the value of goods coming back, dated by the
-- refund's day (UTC). Value = Shopify's refund-line subtotal (after discounts, before tax). Gift card lines are
-- flagged: Shopify's sales reports leave gift cards out of sales, so out of returns too.
with

refund_lines as (

    select * from {{ ref('stg_shopify__refund_line_items') }}

),

refunds as (

    select * from {{ ref('fct_refunds') }}

),

line_items as (

    select line_item_id, is_gift_card from {{ ref('stg_shopify__order_line_items') }}

),

final as (

    select
        refund_lines.refund_line_key,
        refund_lines.refund_id,
        refunds.order_id,
        refund_lines.line_item_id,
        refunds.currency,
        refunds.refund_date as return_date,
        refunds.is_order_valid,
        refund_lines.quantity,
        coalesce(line_items.is_gift_card, false) as is_gift_card,
        refund_lines.subtotal as returned_value

    from refund_lines
    inner join refunds on refund_lines.refund_id = refunds.refund_id
    left join line_items on refund_lines.line_item_id = line_items.line_item_id

)

select * from final
