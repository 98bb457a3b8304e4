with

source as (

    select * from {{ source('stripe', 'prices') }}

),

renamed as (

    select
        id as price_id,
        product as product_id,
        lower(currency) as currency,
        type as price_type,
        unit_amount as unit_amount_minor,
        recurring__interval as recurring_interval,
        recurring__interval_count as recurring_interval_count,
        recurring__usage_type as usage_type,
        coalesce(active, true) as is_active,
        to_timestamp(created) as created_at

    from source

)

select * from renamed
