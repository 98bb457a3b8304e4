with

source as (

    select * from {{ source('meta', 'page') }}

),

renamed as (

    select
        id as page_id,
        name as page_name,
        cast(followers_count as bigint) as followers_count,
        cast(fetched_at as timestamptz) as fetched_at

    from source

)

select * from renamed
