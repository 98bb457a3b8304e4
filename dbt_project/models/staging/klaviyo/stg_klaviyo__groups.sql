with

source as (

    select * from {{ source('klaviyo', 'groups') }}

),

renamed as (

    select
        id as group_id,
        group_type,
        name as group_name,
        cast(created as timestamptz) as created_at,
        cast(updated as timestamptz) as updated_at

    from source

)

select * from renamed
