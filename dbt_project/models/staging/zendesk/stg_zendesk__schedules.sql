with

source as (

    select * from {{ source('zendesk', 'schedules') }}

),

renamed as (

    select
        id as schedule_id,
        name as schedule_name,
        time_zone,
        intervals,
        cast(created_at as timestamptz) as created_at

    from source

)

select * from renamed
