-- Discounts attached to subscriptions (expanded by the pipeline, kept as JSON in `subscriptions.discounts`).
with

subscriptions as (

    select id, discounts from {{ source('stripe', 'subscriptions') }}

),

unnested as (

    select
        id as subscription_id,
        unnest(from_json(discounts, '[{"id": "VARCHAR", "start": "BIGINT", "end": "BIGINT", "source": {"coupon": "VARCHAR"}}]')) as discount

    from subscriptions
    where discounts is not null

),

renamed as (

    select
        discount.id as discount_id,
        subscription_id,
        discount.source.coupon as coupon_id,
        to_timestamp(discount.start) as start_at,
        to_timestamp(discount."end") as end_at

    from unnested

)

select * from renamed
