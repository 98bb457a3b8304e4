-- One row per Klaviyo "Placed Order" event, with Klaviyo's own attribution (the message, hence campaign or flow, that
-- Klaviyo credits). `order_value` is the event's `$value` (the order total); Ordered Product events are not here.
with

placed_orders as (

    select * from {{ ref('stg_klaviyo__events') }}
    where metric_name = 'Placed Order'

),

messages as (

    select * from {{ ref('int_klaviyo__messages_unioned') }}

),

final as (

    select
        placed_orders.event_id,
        placed_orders.order_id,
        placed_orders.profile_id,
        placed_orders.occurred_at,
        cast(placed_orders.occurred_at at time zone 'UTC' as date) as event_date,
        placed_orders.event_value as order_value,
        placed_orders.attributed_message_id,
        messages.source_type as attributed_source_type,
        messages.source_id as attributed_source_id

    from placed_orders
    left join messages on placed_orders.attributed_message_id = messages.message_id

)

select * from final
