with

source as (

    select * from {{ source('shopify', 'orders') }}

),

renamed as (

    select
        cast(legacy_id as bigint) as order_id,
        id as order_gid,
        _dlt_id as order_row_key,
        name as order_name,
        cast(regexp_extract(customer_id, '(\d+)$', 1) as bigint) as customer_id,
        lower(trim(email)) as email,
        cast(created_at as timestamptz) as created_at,
        cast(processed_at as timestamptz) as processed_at,
        cast(updated_at as timestamptz) as updated_at,
        cast(cancelled_at as timestamptz) as cancelled_at,
        cancel_reason,
        currency_code as currency,
        display_financial_status as financial_status,
        display_fulfillment_status as fulfillment_status,
        cast(subtotal_price as decimal(18, 2)) as subtotal,
        cast(total_discounts as decimal(18, 2)) as total_discounts,
        cast(total_shipping as decimal(18, 2)) as total_shipping,
        cast(total_tax as decimal(18, 2)) as total_tax,
        cast(total_price as decimal(18, 2)) as total_price,
        cast(total_refunded as decimal(18, 2)) as total_refunded,
        cast(total_price as decimal(18, 2)) - cast(total_refunded as decimal(18, 2)) as net_revenue,
        cancelled_at is not null as is_cancelled,
        coalesce(test, false) as is_test

    from source

)

select * from renamed
