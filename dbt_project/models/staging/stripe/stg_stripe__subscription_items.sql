with

items as (

    select * from {{ source('stripe', 'subscriptions__items__data') }}

),

subscriptions as (

    select _dlt_id, id from {{ source('stripe', 'subscriptions') }}

),

renamed as (

    select
        items.id as subscription_item_id,
        subscriptions.id as subscription_id,
        items.price__id as price_id,
        items.quantity,
        to_timestamp(items.current_period_start) as current_period_start_at,
        to_timestamp(items.current_period_end) as current_period_end_at,
        to_timestamp(items.created) as created_at

    from items
    inner join subscriptions on items._dlt_parent_id = subscriptions._dlt_id

)

select * from renamed
