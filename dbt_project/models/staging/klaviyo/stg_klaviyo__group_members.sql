with

source as (

    select * from {{ source('klaviyo', 'group_members') }}

),

renamed as (

    select
        group_id,
        group_type,
        profile_id,
        lower(trim(email)) as email,
        cast(joined_group_at as timestamptz) as joined_at

    from source

)

select * from renamed
