-- Per campaign and flow: orders and revenue attributed by our last-touch model beside Klaviyo's own attribution,
-- plus one 'unattributed' row so each side adds up to all orders.
with

orders as (

    select * from {{ ref('fct_order_attributions') }}

),

placed_orders as (

    select * from {{ ref('fct_placed_order_events') }}
    where event_date <= {{ as_of_date() }}

),

sources as (

    select distinct source_type, source_id, source_name from {{ ref('dim_email_messages') }}

),

ours as (

    select
        coalesce(attributed_source_type, 'unattributed') as source_type,
        coalesce(attributed_source_id, 'unattributed') as source_id,
        count(*) as attributed_orders,
        sum(order_revenue) as attributed_revenue

    from orders
    group by 1, 2

),

klaviyo as (

    -- Placed Order `$value` only: Ordered Product events repeat the same money line by line.
    select
        coalesce(attributed_source_type, 'unattributed') as source_type,
        coalesce(attributed_source_id, 'unattributed') as source_id,
        count(*) as klaviyo_attributed_orders,
        sum(order_value) as klaviyo_attributed_revenue

    from placed_orders
    group by 1, 2

),

final as (

    select
        coalesce(ours.source_type, klaviyo.source_type) as source_type,
        coalesce(ours.source_id, klaviyo.source_id) as source_id,
        coalesce(sources.source_name, 'Not attributed to email') as source_name,
        cast(coalesce(ours.attributed_orders, 0) as integer) as attributed_orders,
        cast(coalesce(ours.attributed_revenue, 0) as decimal(18, 2)) as attributed_revenue,
        cast(coalesce(klaviyo.klaviyo_attributed_orders, 0) as integer) as klaviyo_attributed_orders,
        cast(coalesce(klaviyo.klaviyo_attributed_revenue, 0) as decimal(18, 2)) as klaviyo_attributed_revenue,
        cast({{ var('klaviyo_attribution_window_hours') }} as integer) as attribution_window_hours

    from ours
    full outer join klaviyo on ours.source_type = klaviyo.source_type and ours.source_id = klaviyo.source_id
    left join sources
        on coalesce(ours.source_type, klaviyo.source_type) = sources.source_type
        and coalesce(ours.source_id, klaviyo.source_id) = sources.source_id

)

select * from final
