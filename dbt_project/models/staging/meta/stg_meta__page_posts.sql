with

source as (

    select * from {{ source('meta', 'page_posts') }}

),

renamed as (

    select
        id as post_id,
        page_id,
        status_type,
        cast(created_time as timestamptz) as published_at,
        cast(cast(created_time as timestamptz) at time zone 'UTC' as date) as published_date,
        cast(coalesce(reactions, 0) as bigint) as reactions,
        cast(coalesce(comments, 0) as bigint) as comments,
        cast(coalesce(shares, 0) as bigint) as shares,
        cast(views as bigint) as views,
        cast(reach as bigint) as reach,
        cast(clicks as bigint) as clicks,
        cast(insights_fetched_at as timestamptz) as insights_fetched_at

    from source

)

select * from renamed
