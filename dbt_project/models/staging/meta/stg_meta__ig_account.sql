with

source as (

    select * from {{ source('meta', 'ig_account') }}

),

renamed as (

    select
        id as ig_user_id,
        page_id,
        username,
        cast(followers_count as bigint) as followers_count,
        cast(media_count as bigint) as media_count,
        cast(fetched_at as timestamptz) as fetched_at

    from source

)

select * from renamed
