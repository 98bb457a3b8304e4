with

source as (

    select * from {{ source('zendesk', 'sla_policies') }}

),

renamed as (

    select
        id as sla_policy_id,
        title as sla_policy_title,
        description as sla_policy_description,
        position,
        cast(created_at as timestamptz) as created_at,
        cast(updated_at as timestamptz) as updated_at

    from source

)

select * from renamed
