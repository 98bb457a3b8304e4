with

refund_lines as (

    select * from {{ source('shopify', 'orders__refunds__line_items') }}

),

refunds as (

    select _dlt_id, legacy_id from {{ source('shopify', 'orders__refunds') }}

),

renamed as (

    select
        refund_lines._dlt_id as refund_line_key,
        cast(refunds.legacy_id as bigint) as refund_id,
        cast(regexp_extract(refund_lines.line_item_id, '(\d+)$', 1) as bigint) as line_item_id,
        cast(refund_lines.quantity as integer) as quantity,
        cast(refund_lines.subtotal as decimal(18, 2)) as subtotal

    from refund_lines
    inner join refunds on refund_lines._dlt_parent_id = refunds._dlt_id

)

select * from renamed
