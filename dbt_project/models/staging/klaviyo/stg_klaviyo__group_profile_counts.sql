with

source as (

    select * from {{ source('klaviyo', 'group_profile_counts') }}

),

renamed as (

    select
        id as snapshot_id,
        group_id,
        group_type,
        cast(profile_count as integer) as profile_count,
        cast(taken_at as timestamptz) as taken_at

    from source

)

select * from renamed
