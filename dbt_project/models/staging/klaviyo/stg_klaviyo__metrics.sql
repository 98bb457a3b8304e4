with

source as (

    select * from {{ source('klaviyo', 'metrics') }}

),

renamed as (

    select
        id as metric_id,
        name as metric_name,
        integration_name,
        integration_category,
        cast(created as timestamptz) as created_at,
        cast(updated as timestamptz) as updated_at

    from source

)

select * from renamed
