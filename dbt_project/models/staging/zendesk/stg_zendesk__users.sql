with

source as (

    select * from {{ source('zendesk', 'users') }}

),

renamed as (

    select
        id as user_id,
        name,
        lower(trim(email)) as email,
        role,
        role in ('agent', 'admin') as is_agent,
        coalesce(suspended, false) as is_suspended,
        coalesce(active, true) as is_active,
        organization_id,
        default_group_id,
        cast(created_at as timestamptz) as created_at,
        cast(updated_at as timestamptz) as updated_at

    from source

)

select * from renamed
