-- Klaviyo's side of the attribution tile is Placed Order revenue only: it must equal the sum of Placed Order
-- `$value`s, never that plus the Ordered Product events (which repeat the same money line by line).
with tile as (

    select sum(klaviyo_attributed_revenue) as revenue
    from {{ ref('klaviyo_email_attribution') }}

),

placed as (

    select sum(event_value) as revenue
    from {{ ref('stg_klaviyo__events') }}
    where metric_name = 'Placed Order'
        and cast(occurred_at at time zone 'UTC' as date) <= {{ as_of_date() }}

)

select * from tile, placed
where tile.revenue != placed.revenue
