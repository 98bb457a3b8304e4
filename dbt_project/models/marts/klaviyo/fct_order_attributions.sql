-- One row per Shopify order (not cancelled, not test) with its email attribution: the last human open or click
-- of the ordering email address within `klaviyo_attribution_window_hours` before the order (Klaviyo's default
-- model: last touch, 5 days). An order is attributed to exactly one message, hence to a campaign or a flow,
-- never both. Klaviyo's own attribution (from the Placed Order event) sits beside it for comparison.
with

orders as (

    select * from {{ ref('fct_orders') }}
    where is_valid
        and email is not null

),

touches as (

    select * from {{ ref('fct_email_touches') }}
    where email is not null

),

placed_orders as (

    select * from {{ ref('stg_klaviyo__events') }}
    where metric_name = 'Placed Order'

),

messages as (

    select * from {{ ref('int_klaviyo__messages_unioned') }}

),

candidates as (

    select
        orders.order_id,
        touches.event_id as touch_event_id,
        touches.occurred_at as touched_at,
        touches.touch_type,
        touches.message_id,
        touches.source_type,
        touches.source_id,
        row_number() over (
            partition by orders.order_id
            order by touches.occurred_at desc, touches.event_id desc
        ) as touch_rank

    from orders
    inner join touches
        on touches.email = orders.email
        and touches.occurred_at <= orders.created_at
        and touches.occurred_at >= orders.created_at - to_hours({{ var('klaviyo_attribution_window_hours') }})

),

last_touch as (

    select * from candidates
    where touch_rank = 1

),

klaviyo_attribution as (

    select
        placed_orders.order_id,
        placed_orders.attributed_message_id,
        messages.source_type as klaviyo_source_type,
        messages.source_id as klaviyo_source_id

    from placed_orders
    left join messages on placed_orders.attributed_message_id = messages.message_id
    where placed_orders.attributed_message_id is not null

),

final as (

    select
        orders.order_id,
        orders.email,
        orders.created_at as ordered_at,
        orders.order_date,
        orders.currency,
        orders.total_price as order_revenue,
        last_touch.touch_event_id,
        last_touch.touched_at,
        last_touch.touch_type,
        last_touch.message_id as attributed_message_id,
        last_touch.source_type as attributed_source_type,
        last_touch.source_id as attributed_source_id,
        last_touch.order_id is not null as is_attributed,
        case when last_touch.order_id is not null then orders.total_price else 0 end as attributed_revenue,
        klaviyo_attribution.attributed_message_id as klaviyo_attributed_message_id,
        klaviyo_attribution.klaviyo_source_type,
        klaviyo_attribution.klaviyo_source_id

    from orders
    left join last_touch on orders.order_id = last_touch.order_id
    left join klaviyo_attribution on orders.order_id = klaviyo_attribution.order_id

)

select * from final
