with

source as (

    select * from {{ source('klaviyo', 'flows') }}

),

renamed as (

    select
        id as flow_id,
        name as flow_name,
        status as flow_status,
        trigger_type,
        coalesce(archived, false) as is_archived,
        cast(created as timestamptz) as created_at,
        cast(updated as timestamptz) as updated_at

    from source

)

select * from renamed
