with

refunds as (

    select * from {{ source('shopify', 'orders__refunds') }}

),

orders as (

    select _dlt_id, legacy_id, currency_code from {{ source('shopify', 'orders') }}

),

renamed as (

    select
        cast(refunds.legacy_id as bigint) as refund_id,
        cast(orders.legacy_id as bigint) as order_id,
        cast(refunds.created_at as timestamptz) as refunded_at,
        cast(refunds.amount as decimal(18, 2)) as refund_amount,
        orders.currency_code as currency

    from refunds
    inner join orders on refunds._dlt_parent_id = orders._dlt_id

)

select * from renamed
