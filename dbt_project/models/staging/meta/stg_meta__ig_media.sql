with

source as (

    select * from {{ source('meta', 'ig_media') }}

),

renamed as (

    select
        id as media_id,
        ig_user_id,
        media_type,
        media_product_type,
        media_product_type = 'STORY' as is_story,
        cast("timestamp" as timestamptz) as published_at,
        cast(cast("timestamp" as timestamptz) at time zone 'UTC' as date) as published_date,
        cast(views as bigint) as views,
        cast(reach as bigint) as reach,
        cast(likes as bigint) as likes,
        cast(comments as bigint) as comments,
        cast(saved as bigint) as saves,
        cast(shares as bigint) as shares,
        cast(replies as bigint) as replies,
        cast(total_interactions as bigint) as total_interactions,
        cast(insights_fetched_at as timestamptz) as insights_fetched_at

    from source

)

select * from renamed
