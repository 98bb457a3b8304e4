with

source as (

    select * from {{ source('zendesk', 'organizations') }}

),

renamed as (

    select
        id as organization_id,
        name as organization_name,
        cast(created_at as timestamptz) as created_at,
        cast(updated_at as timestamptz) as updated_at

    from source

)

select * from renamed
