with

source as (

    select * from {{ source('meta', 'ig_follower_demographics') }}

),

renamed as (

    select
        ig_user_id,
        breakdown,
        "key" as segment,
        cast(followers as bigint) as followers,
        cast(fetched_at as timestamptz) as fetched_at

    from source

)

select * from renamed
