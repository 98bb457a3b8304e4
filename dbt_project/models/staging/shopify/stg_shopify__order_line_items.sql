with

line_items as (

    select * from {{ source('shopify', 'orders__line_items') }}

),

orders as (

    select _dlt_id, legacy_id, currency_code from {{ source('shopify', 'orders') }}

),

renamed as (

    select
        cast(line_items.legacy_id as bigint) as line_item_id,
        cast(orders.legacy_id as bigint) as order_id,
        line_items.sku,
        line_items.title,
        cast(line_items.quantity as integer) as quantity,
        cast(line_items.current_quantity as integer) as current_quantity,
        cast(line_items.unit_price as decimal(18, 2)) as unit_price,
        cast(line_items.unit_price as decimal(18, 2)) * cast(line_items.quantity as integer) as gross_amount,
        coalesce(line_items.is_gift_card, false) as is_gift_card,
        orders.currency_code as currency

    from line_items
    inner join orders on line_items._dlt_parent_id = orders._dlt_id

)

select * from renamed
