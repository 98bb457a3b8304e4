with

source as (

    select * from {{ source('zendesk', 'schedule_holidays') }}

),

renamed as (

    select
        id as holiday_id,
        schedule_id,
        name as holiday_name,
        cast(start_date as date) as start_date,
        cast(end_date as date) as end_date

    from source

)

select * from renamed
