with

source as (

    select * from {{ source('zendesk', 'groups') }}

),

renamed as (

    select
        id as group_id,
        name as group_name,
        coalesce(deleted, false) as is_deleted,
        cast(created_at as timestamptz) as created_at

    from source

)

select * from renamed
